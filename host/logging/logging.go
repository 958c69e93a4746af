// Package logging builds the process logger: JSON lines with the keys
// operators' pipelines already parse (event, logger, level, timestamp,
// app.name). Only cmd/osohost creates one; every other package receives a
// *slog.Logger from its caller.
package logging

import (
	"io"
	"log/slog"
	"time"
)

// LevelCritical is the level of "critical" lines, above slog.LevelError.
const LevelCritical = slog.LevelError + 4

// New returns a logger writing one JSON object per line to w:
//
//	{"timestamp":"2026-11-23T01:02:03.456789Z","level":"info","event":"…","app":{"name":"…"},"logger":"…",…}
//
// timestamp is RFC 3339 UTC with microseconds; level is one of debug, info,
// warning, error, critical. Each component derives its own logger with
// With("logger", name), once; never add "logger" per record.
func New(w io.Writer, level slog.Leveler, appName string) *slog.Logger {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level:       level,
		ReplaceAttr: replace,
	})
	return slog.New(h).With(slog.Group("app", slog.String("name", appName)))
}

func replace(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.TimeKey:
		if t, ok := a.Value.Any().(time.Time); ok {
			return slog.String("timestamp", t.UTC().Format("2006-01-02T15:04:05.000000Z"))
		}
	case slog.LevelKey:
		l, _ := a.Value.Any().(slog.Level)
		return slog.String("level", LevelName(l))
	case slog.MessageKey:
		return slog.Attr{Key: "event", Value: a.Value}
	}
	return a
}

// LevelName returns the framework's name of a level.
func LevelName(l slog.Level) string {
	switch {
	case l >= LevelCritical:
		return "critical"
	case l >= slog.LevelError:
		return "error"
	case l >= slog.LevelWarn:
		return "warning"
	case l >= slog.LevelInfo:
		return "info"
	}
	return "debug"
}
