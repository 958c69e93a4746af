package hostcall

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/osohost/osohost/host/signing"
)

// limitedLog is the log of a group of host functions: lines carry the
// request's caller and trace id when the context has them, and are rate
// limited, since a guest decides how often they are written.
type limitedLog struct {
	log    *slog.Logger
	prefix []any // attributes every line starts with

	mu      sync.Mutex
	limit   rateLimiter
	dropped int // lines dropped since the last one written
}

func newLimitedLog(log *slog.Logger, prefix ...any) limitedLog {
	return limitedLog{log: log, prefix: prefix, limit: rateLimiter{rate: 10, burst: 50}}
}

// logf writes one line, with the request's caller and trace id when ctx
// carries them ([signing.CallerInfoFrom]), unless the log rate is exceeded;
// lines dropped meanwhile are counted in the next line written.
func (l *limitedLog) logf(ctx context.Context, level slog.Level, msg string, args ...any) {
	if !l.log.Enabled(ctx, level) {
		return
	}
	l.mu.Lock()
	ok := l.limit.allow(time.Now())
	dropped := l.dropped
	if ok {
		l.dropped = 0
	} else {
		l.dropped++
	}
	l.mu.Unlock()
	if !ok {
		return
	}
	if len(l.prefix) > 0 {
		args = append(append([]any(nil), l.prefix...), args...)
	}
	if dropped > 0 {
		args = append(args, "dropped_lines", dropped)
	}
	if ci, ok := signing.CallerInfoFrom(ctx); ok {
		args = append(args, "trace_id", ci.TraceID, "caller", ci.Caller, "plugin_sha256", ci.PluginSHA256)
	}
	l.log.Log(ctx, level, msg, args...)
}
