package config

import (
	"encoding/json"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/osohost/osohost/host/logging"
)

func TestParseDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Duration
	}{
		// ISO 8601, as the framework's NGINX__TIMEOUT.
		{"PT60S", 60 * time.Second},
		{"PT1M30S", 90 * time.Second},
		{"P1D", 24 * time.Hour},
		{"P1DT12H", 36 * time.Hour},
		{"P1W", 7 * 24 * time.Hour},
		{"P1Y", 365 * 24 * time.Hour},
		{"P1M", 30 * 24 * time.Hour},
		{"PT1M", time.Minute},
		{"PT0.5S", 500 * time.Millisecond},
		{"PT1,5S", 1500 * time.Millisecond},
		{"PT0.000000001S", time.Nanosecond},
		{"PT0.0000000019S", time.Nanosecond},
		{"pt60s", 60 * time.Second},
		{"-PT5S", -5 * time.Second},
		// [D day(s), ]HH:MM[:SS[.f]]
		{"00:01:00", time.Minute},
		{"01:00", time.Hour},
		{"1:00:00", time.Hour},
		{"00:00:01.5", 1500 * time.Millisecond},
		{"1 day, 01:00:00", 25 * time.Hour},
		{"2 days, 0:00:00", 48 * time.Hour},
		{"1d", 24 * time.Hour},
		{"3 days", 72 * time.Hour},
		// osohost's additions.
		{"60", time.Minute},
		{"1.5", 1500 * time.Millisecond},
		{"60s", time.Minute},
		{"1m30s", 90 * time.Second},
		{"500ms", 500 * time.Millisecond},
		{"0", 0},
		{"-5s", -5 * time.Second},
		{"P366D", maxDuration},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseDuration(tt.in)
			if err != nil || got != tt.want {
				t.Errorf("parseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseDuration_Errors(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", "must be a duration"},
		{" 60s", "must be a duration"},
		{"60s ", "must be a duration"},
		{"P", "at least one component"},
		{"PT", "at least one component"},
		{"P1DT", "at least one component"},
		{"1.5.3", "must be a duration"},
		{"60x", "must be a duration"},
		{"--5s", "must be a duration"},
		{"-", "must be a duration"},
		{"25:61", "must be a duration"},
		{"P367D", "out of range"},
		{"PT99999999999999999999S", "out of range"},
		{"9000h", "out of range"},
		{"1e3", "must be a duration"},
		{strings.Repeat("1", 65), "65-byte"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := parseDuration(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("parseDuration(%q) error = %v; want it to contain %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestPositiveDuration_Types(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   any
		want time.Duration
	}{
		{"time.Duration", 3 * time.Second, 3 * time.Second},
		{"int seconds", 30, 30 * time.Second},
		{"float seconds", 2.5, 2500 * time.Millisecond},
		{"json.Number", json.Number("45"), 45 * time.Second},
		{"string", "PT1M", time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := positiveDuration(tt.in)
			if err != nil || got != tt.want {
				t.Errorf("positiveDuration(%v) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
	for _, bad := range []any{0, "-PT1S", true, []any{}, time.Duration(0)} {
		if _, err := positiveDuration(bad); err == nil {
			t.Errorf("positiveDuration(%#v) succeeded; want an error", bad)
		}
	}
}

func TestParseLevel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want slog.Level
	}{
		{"critical", logging.LevelCritical},
		{"CRITICAL", logging.LevelCritical},
		{"fatal", logging.LevelCritical},
		{"error", slog.LevelError},
		{"Error", slog.LevelError},
		{"warn", slog.LevelWarn},
		{"WARNING", slog.LevelWarn},
		{"info", slog.LevelInfo},
		{"debug", slog.LevelDebug},
		{"notset", slog.LevelDebug},
		{"NOTSET", slog.LevelDebug},
		{"0", slog.LevelDebug},
		{"-5", slog.LevelDebug},
		{"-99999999999999999999999", slog.LevelDebug},
		{"10", slog.LevelDebug},
		{"15", -2},
		{"19", slog.LevelInfo},
		{"20", slog.LevelInfo},
		{"21", 1},
		{"30", slog.LevelWarn},
		{"40", slog.LevelError},
		{"50", logging.LevelCritical},
		{"99", 32},
		{"99999999999999999999999", 399992},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseLevel(tt.in)
			if err != nil || got != tt.want {
				t.Errorf("parseLevel(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

// TestPythonLevel_Threshold checks the promise of parseLevel for numbers:
// a record of Python level L passes the threshold n exactly when its slog
// level passes the mapped threshold, for every standard L.
func TestPythonLevel_Threshold(t *testing.T) {
	t.Parallel()
	std := map[int64]slog.Level{10: slog.LevelDebug, 20: slog.LevelInfo, 30: slog.LevelWarn, 40: slog.LevelError, 50: logging.LevelCritical}
	for n := int64(-100); n <= 100; n++ {
		th := pythonLevel(n)
		for l, sl := range std {
			if (l >= n) != (sl >= th) {
				t.Errorf("threshold %d → %v: Python level %d passes %v, slog %v passes %v", n, th, l, l >= n, sl, sl >= th)
			}
		}
	}
}

func TestParseLevel_Errors(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "+5", " info", "info ", "info\n", "trace", "5.0", "0x10", "warn,error", "İNFO"} {
		if got, err := parseLevel(in); err == nil {
			t.Errorf("parseLevel(%q) = %v; want an error", in, got)
		}
	}
}

func TestParseBool(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"1", "true", "TRUE", "True", "yes", "YES", "on", "On", "t", "T", "y", "Y"} {
		if got, err := parseBool(in); err != nil || !got {
			t.Errorf("parseBool(%q) = %v, %v; want true", in, got, err)
		}
	}
	for _, in := range []string{"0", "false", "FALSE", "no", "No", "off", "OFF", "f", "F", "n", "N"} {
		if got, err := parseBool(in); err != nil || got {
			t.Errorf("parseBool(%q) = %v, %v; want false", in, got, err)
		}
	}
}

func TestParseBool_Errors(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "2", "-1", " true", "true ", "yess", "enabled", "nil", "null"} {
		if _, err := parseBool(in); err == nil {
			t.Errorf("parseBool(%q) succeeded; want an error", in)
		}
	}
}

func TestAsInt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   any
		want int64
		ok   bool
	}{
		{"42", 42, true},
		{"-7", -7, true},
		{"007", 7, true},
		{"+5", 0, false},
		{" 5", 0, false},
		{"1_000", 0, false},
		{"1e3", 0, false},
		{"99999999999999999999", 0, false},
		{json.Number("12"), 12, true},
		{json.Number("1.5"), 0, false},
		{12, 12, true},
		{int64(12), 12, true},
		{uint64(12), 12, true},
		{12.0, 12, true},
		{12.5, 0, false},
		{true, 0, false},
	}
	for _, tt := range tests {
		got, err := asInt(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("asInt(%#v) = %v, %v; want %v (ok %v)", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestListen(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{":4000", "0.0.0.0:4000", "[::]:4000", "localhost:0", "example.org:65535"} {
		if _, err := asListen(ok); err != nil {
			t.Errorf("asListen(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"4000", ":https", ":65536", "", ":", "host:-1"} {
		if _, err := asListen(bad); err == nil {
			t.Errorf("asListen(%q) succeeded; want an error", bad)
		}
	}
	for _, ok := range []string{"127.0.0.1:8080", "127.1.2.3:1", "[::1]:8080", "localhost:8080"} {
		if _, err := asLoopbackListen(ok); err != nil {
			t.Errorf("asLoopbackListen(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{":8080", "0.0.0.0:8080", "[::]:8080", "10.0.0.1:8080", "example.org:8080"} {
		if _, err := asLoopbackListen(bad); err == nil {
			t.Errorf("asLoopbackListen(%q) succeeded; want an error", bad)
		}
	}
}

func TestParseEndpoint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want  string
		defaulted bool
	}{
		{"localhost", "localhost:443", true},
		{"grep11:9876", "grep11:9876", false},
		{"10.0.0.1", "10.0.0.1:443", true},
		{"[::1]:9876", "[::1]:9876", false},
		{"::1", "[::1]:443", true},
		{"[::1]", "[::1]:443", true},
		{"dns:///grep11:9876", "dns:///grep11:9876", false},
		{"dns:///grep11", "dns:///grep11:443", true},
		{"dns://8.8.8.8/grep11:9876", "dns://8.8.8.8/grep11:9876", false},
		{"unix:/run/grep11.sock", "unix:/run/grep11.sock", false},
		{"unix:///run/grep11.sock", "unix:///run/grep11.sock", false},
	}
	for _, tt := range tests {
		got, defaulted, err := parseEndpoint(tt.in)
		if err != nil || got != tt.want || defaulted != tt.defaulted {
			t.Errorf("parseEndpoint(%q) = %q, %v, %v; want %q, %v", tt.in, got, defaulted, err, tt.want, tt.defaulted)
		}
	}
	for _, bad := range []string{"", "unix:", "http://grep11:9876", "dns:grep11", "grep11:0", "grep11:port", "grep 11:1", ":9876", "a:b:c", "dns:///"} {
		if got, _, err := parseEndpoint(bad); err == nil {
			t.Errorf("parseEndpoint(%q) = %q; want an error", bad, got)
		}
	}
	s := SigningServer{Endpoint: "dns:///grep11.example:9876"}
	if got := s.ServerName(); got != "grep11.example" {
		t.Errorf("ServerName() = %q; want grep11.example", got)
	}
}

func TestDecodePEMBase64(t *testing.T) {
	t.Parallel()
	const pemText = "-----BEGIN X-----\nAAAA\n-----END X-----\n" // 39 bytes: encodes with padding
	padded := "LS0tLS1CRUdJTiBYLS0tLS0KQUFBQQotLS0tLUVORCBYLS0tLS0K"
	for name, in := range map[string]string{
		"padded":      padded,
		"unpadded":    strings.TrimRight(padded, "="),
		"line breaks": padded[:20] + "\n" + padded[20:40] + "\r\n" + padded[40:] + "\n",
	} {
		got, err := decodePEMBase64(in)
		if err != nil || got != pemText {
			t.Errorf("%s: decodePEMBase64 = %q, %v", name, got, err)
		}
	}
	for name, in := range map[string]string{
		"empty":         "",
		"PEM itself":    pemText,
		"url-safe":      "LS0tLS1-RUdJTiBY",
		"spaces":        "LS0t LS1C",
		"bad padding":   "LS0=LS0=",
		"trailing bits": "LS1",
	} {
		if _, err := decodePEMBase64(in); err == nil {
			t.Errorf("%s: decodePEMBase64(%q) succeeded; want an error", name, in)
		}
	}
}

func TestTokenLess(t *testing.T) {
	t.Parallel()
	got := []string{"b", "10", "a", "2", "02", "0", "x1", "9"}
	want := []string{"0", "02", "2", "9", "10", "a", "b", "x1"}
	sort.Slice(got, func(i, j int) bool { return tokenLess(got[i], got[j]) })
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("sorted tokens = %v; want %v", got, want)
	}
}
