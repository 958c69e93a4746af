package auth

import (
	"errors"
	"log/slog"
	"net/http"
	"unicode/utf8"

	"github.com/osohost/osohost/host/pki"
)

// Errors returned by every [Authenticator], possibly wrapped with detail for
// logs; test them with errors.Is. The texts are for logs, not for clients.
var (
	// ErrNoCredentials means the request carries no credential the
	// authenticator understands, such as no client certificate. HTTP 401.
	ErrNoCredentials = errors.New("auth: no credentials")
	// ErrBadCertificate means a client certificate was presented but does
	// not verify against the trusted CAs (unknown issuer, expired, wrong
	// usage, chain too long). HTTP 400, as the framework answers.
	ErrBadCertificate = errors.New("auth: bad client certificate")
	// ErrForbidden means the client is authenticated but not permitted.
	// HTTP 403.
	ErrForbidden = errors.New("auth: forbidden")
	// ErrNotAllowlisted means a verified client is not in the allowlist
	// the route requires, the allowlist does not exist, or the client key
	// has no OpenSSH fingerprint. It is a kind of [ErrForbidden]:
	// errors.Is(ErrNotAllowlisted, ErrForbidden) is true.
	ErrNotAllowlisted error = &kindError{msg: "auth: not allowlisted", kind: ErrForbidden}
	// ErrUnavailable means the credentials could not be checked because a
	// service the authenticator depends on (an OIDC issuer) cannot be
	// reached: the host's failure, not the client's. HTTP 503.
	ErrUnavailable = errors.New("auth: unavailable")
)

// kindError is a sentinel that is also a more general sentinel.
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

// Authenticator authenticates requests by one method.
//
// Authenticate returns the principal behind r if it is allowed by the
// allowlist named allowlist (names match exactly, case included). Errors
// wrap [ErrNoCredentials], [ErrBadCertificate] or [ErrForbidden]. An
// implementation takes identity only from the connection or from
// credentials it verifies itself, never from headers a proxy might set, and
// is safe for concurrent use.
type Authenticator interface {
	Authenticate(r *http.Request, allowlist string) (Principal, error)
}

// Principal is the authenticated client of a request. The zero value means
// no one.
type Principal struct {
	// Method is the authenticator that produced it, such as "mtls".
	Method string
	// Fingerprint is the pki.Fingerprint of the client certificate's key;
	// zero for methods without a certificate.
	Fingerprint [32]byte
	// Subject is the client's distinguished name (for mTLS, in RFC 2253
	// form such as "CN=allowed"), informational only: allowlists match
	// fingerprints, never subjects.
	Subject string
}

// maxLoggedSubject bounds the subject a log line carries.
const maxLoggedSubject = 256

// LogValue logs the method, the formatted fingerprint (when set) and the
// subject, cut to 256 bytes.
func (p Principal) LogValue() slog.Value {
	attrs := make([]slog.Attr, 0, 3)
	attrs = append(attrs, slog.String("method", p.Method))
	if p.Fingerprint != ([32]byte{}) {
		attrs = append(attrs, slog.String("fingerprint", pki.FormatFingerprint(p.Fingerprint)))
	}
	attrs = append(attrs, slog.String("subject", truncate(p.Subject, maxLoggedSubject)))
	return slog.GroupValue(attrs...)
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
