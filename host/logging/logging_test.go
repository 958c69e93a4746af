package logging_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"regexp"
	"testing"

	"github.com/osohost/osohost/host/logging"
)

// TestNew_Shape checks the keys operators' pipelines parse: event, logger,
// level, timestamp (RFC 3339 UTC, microseconds), app.name.
func TestNew_Shape(t *testing.T) {
	var buf bytes.Buffer
	log := logging.New(&buf, slog.LevelDebug, "frontend-1").With("logger", "osohost.api")
	log.Warn("request failed", "status", 503)
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("%q: %v", buf.String(), err)
	}
	if line["event"] != "request failed" || line["level"] != "warning" || line["logger"] != "osohost.api" || line["status"] != float64(503) {
		t.Fatalf("line = %v", line)
	}
	if app, _ := line["app"].(map[string]any); app["name"] != "frontend-1" {
		t.Fatalf("app = %v", line["app"])
	}
	ts, _ := line["timestamp"].(string)
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`).MatchString(ts) {
		t.Fatalf("timestamp %q", ts)
	}
	for _, k := range []string{"msg", "time"} {
		if _, ok := line[k]; ok {
			t.Fatalf("slog key %q leaked: %v", k, line)
		}
	}
}

func TestLevelName(t *testing.T) {
	tests := map[slog.Level]string{
		slog.LevelDebug - 4:       "debug",
		slog.LevelDebug:           "debug",
		slog.LevelInfo:            "info",
		slog.LevelWarn:            "warning",
		slog.LevelError:           "error",
		logging.LevelCritical:     "critical",
		logging.LevelCritical + 4: "critical",
	}
	for l, want := range tests {
		if got := logging.LevelName(l); got != want {
			t.Errorf("LevelName(%v) = %q, want %q", l, got, want)
		}
	}
}

func TestNew_LevelFilter(t *testing.T) {
	var buf bytes.Buffer
	log := logging.New(&buf, slog.LevelWarn, "x")
	log.Info("hidden")
	log.Error("shown")
	if bytes.Contains(buf.Bytes(), []byte("hidden")) || !bytes.Contains(buf.Bytes(), []byte("shown")) {
		t.Fatalf("output %q", buf.String())
	}
}
