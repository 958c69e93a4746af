package signing

import "context"

// CallerInfo says on whose behalf a signature is made. The HTTP layer puts it
// in the request context with [WithCallerInfo]; [Audited] copies it into
// every audit record. No field is secret: they are hashes, certificate
// fingerprints and trace ids.
type CallerInfo struct {
	PluginSHA256 string // hex SHA-256 of the plugin module that asked
	Caller       string // the client's fingerprint ("SHA256:…") or other principal
	TraceID      string // the request's trace id
}

type callerInfoKey struct{}

// WithCallerInfo returns a copy of ctx carrying ci.
func WithCallerInfo(ctx context.Context, ci CallerInfo) context.Context {
	return context.WithValue(ctx, callerInfoKey{}, ci)
}

// CallerInfoFrom returns the [CallerInfo] ctx carries, and whether it carries
// one. Without one, the zero CallerInfo is returned.
func CallerInfoFrom(ctx context.Context) (CallerInfo, bool) {
	ci, ok := ctx.Value(callerInfoKey{}).(CallerInfo)
	return ci, ok
}
