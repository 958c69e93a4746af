package config

import (
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/osohost/osohost/host/logging"
)

// FuzzParseDuration checks that every accepted duration is within bounds
// and reads back the same from its Go form, and that the ISO and clock
// forms of whole seconds agree with it.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"PT60S", "PT1M30S", "P1D", "01:00", "1 day, 01:00:00", "1d", "60", "1.5", "60s", "-PT5S", "P1Y2M3W4DT5H6M7.89S", "00:00:01.000000001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDuration(s)
		if err != nil {
			return
		}
		if d > maxDuration || d < -maxDuration {
			t.Fatalf("parseDuration(%q) = %v, beyond ±%v", s, d, maxDuration)
		}
		again, err := parseDuration(d.String())
		if err != nil || again != d {
			t.Fatalf("parseDuration(%q) = %v, but its Go form %q reads as %v, %v", s, d, d.String(), again, err)
		}
		if d >= 0 && d%1e9 == 0 {
			secs := int64(d / 1e9)
			iso, err := parseDuration("PT" + itoa(secs) + "S")
			if err != nil || iso != d {
				t.Fatalf("PT%dS = %v, %v; want %v", secs, iso, err, d)
			}
		}
	})
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// FuzzParseLevel checks that accepted levels lie between Debug and the
// highest mapped level, that case does not matter, and that numbers keep
// the framework's threshold semantics for Python's standard levels.
func FuzzParseLevel(f *testing.F) {
	for _, s := range []string{"info", "WARNING", "critical", "notset", "0", "-5", "15", "25", "50", "99", "+5", " info"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := parseLevel(s)
		if err != nil {
			if _, upperErr := parseLevel(strings.ToUpper(s)); upperErr == nil && asciiLower(s) == asciiLower(strings.ToUpper(s)) {
				t.Fatalf("%q is refused but its upper case is accepted", s)
			}
			return
		}
		if l < slog.LevelDebug || l > pythonLevel(pyMax) {
			t.Fatalf("parseLevel(%q) = %v, out of range", s, l)
		}
		if u, err := parseLevel(asciiUpper(s)); err != nil || u != l {
			t.Fatalf("parseLevel(%q) = %v but upper case gives %v, %v", s, l, u, err)
		}
		if n, err := parseInt(s); err == nil {
			std := map[int64]slog.Level{10: slog.LevelDebug, 20: slog.LevelInfo, 30: slog.LevelWarn, 40: slog.LevelError, 50: logging.LevelCritical}
			for pl, sl := range std {
				if (pl >= n) != (sl >= l) {
					t.Fatalf("threshold %d → %v disagrees for Python level %d", n, l, pl)
				}
			}
		}
	})
}

func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - ('a' - 'A')
		}
	}
	return string(b)
}

// FuzzParseAllowlists checks that an accepted ALLOWLIST reads back the same
// from its normalised JSON, and that messages stay bounded.
func FuzzParseAllowlists(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"component": []}`,
		`{"component": ["SHA256:yo6+LcGmR/o+YYhX9PqbaWG+IoNCMXSLGeYLnvzkqMM", "SHA256:3/BAlzJd5ioS4ZlUyyXRBxD4dsMNG0pEKfboCiMOVAA="]}`,
		`{"a": ["SHA256:x"], "a": []}`, `[1]`, `null`, `{"c":"x"}`, `{} x`, "{\n\"c\": [\n]\n}\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := parseAllowlists(s)
		for _, e := range append(r.errs, r.warns...) {
			if len(e) > 400 {
				t.Fatalf("message of %d bytes: %.100q…", len(e), e)
			}
		}
		if len(r.errs) > maxEntryProblems+1 {
			t.Fatalf("%d messages; want at most %d", len(r.errs), maxEntryProblems+1)
		}
		if len(r.errs) > 0 {
			return
		}
		norm := make(map[string][]string, len(r.lists))
		for name, a := range r.lists {
			norm[name] = a.Strings()
		}
		b, err := json.Marshal(norm)
		if err != nil {
			t.Fatal(err)
		}
		again := parseAllowlists(string(b))
		if len(again.errs) > 0 || len(again.lists) != len(r.lists) {
			t.Fatalf("normalised %s does not read back: %v", b, again.errs)
		}
		for name, a := range r.lists {
			if strings.Join(again.lists[name].Strings(), ",") != strings.Join(a.Strings(), ",") {
				t.Fatalf("allowlist %q changed on the round trip", name)
			}
		}
	})
}

// FuzzLoad sets one variable to an arbitrary value next to secrets (a
// server key and a signing-server client key, both malformed so that they
// are reported) and checks that Load neither panics nor repeats a secret,
// and that its error is always an *Error.
func FuzzLoad(f *testing.F) {
	for _, kv := range [][2]string{
		{"NGINX__TIMEOUT", "PT60S"}, {"APP", `{"name":"x"}`}, {"AUTH__PARSERS", `[{"type":"mtls","allowlist":{}}]`},
		{"PLUGIN__ADDONS__0__GREP11_ENDPOINT", "dns:///h"}, {"CERTS__APP_CRT", "-----BEGIN CERTIFICATE-----\n"},
		{"LOGGING__LEVEL", "-3"}, {"AUTH__PARSERS__0__ALLOWLIST", `{"component":[]}`},
	} {
		f.Add(kv[0], kv[1])
	}
	const secret = "Zm9vYmFyc2VjcmV0a2V5bWF0ZXJpYWw"
	var certs []string
	for _, c := range [][2]string{{"CERTS__CA", "ca.crt"}, {"CERTS__APP_CRT", "app.crt"}} {
		b, err := os.ReadFile(filepath.Join("testdata", "certs", c[1]))
		if err != nil {
			f.Fatal(err)
		}
		certs = append(certs, c[0]+"="+string(b))
	}
	f.Fuzz(func(t *testing.T, name, value string) {
		if strings.Contains(name, "=") || strings.Contains(value, secret) || strings.Contains(name, secret) {
			return
		}
		env := []string{
			certs[0], certs[1],
			"PLUGIN__MODE=backend",
			"CERTS__APP_KEY=-----BEGIN PRIVATE KEY-----\n" + secret + "\n-----END PRIVATE KEY-----\n",
			"PLUGIN__ADDONS__0__TYPE=signing_server",
			"PLUGIN__ADDONS__0__CLIENT_KEY=" + secret,
			name + "=" + value,
		}
		cfg, warns, err := Load(env, "", nil)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Fatalf("Load error %T %v; want a non-empty *Error", err, err)
			}
		} else if cfg == nil {
			t.Fatal("Load returned neither a config nor an error")
		}
		text := strings.Join(warns, "\n")
		if err != nil {
			text += err.Error()
		}
		if strings.Contains(text, secret) {
			t.Fatalf("a message repeats the secret:\n%s", text)
		}
	})
}
