package routetoken

import (
	"errors"
	"net/http"
	"time"

	"github.com/osohost/osohost/host/auth"
)

// Kinds of failure, the Kind of every [*Error] this package returns. Test
// them with errors.Is; each maps to one HTTP status ([Error.Status]).
var (
	// ErrMissing means the request carries no route token where the
	// carrier would hold one (and no secure-access header). HTTP 401. It
	// is also auth.ErrNoCredentials, so a chain of authenticators can try
	// another method.
	ErrMissing error = &kindError{msg: "routetoken: no route token", kind: auth.ErrNoCredentials}
	// ErrMalformed means the token does not have the shape of a token:
	// wrong number of parts, a bad character, an expiry with leading
	// zeros, more than 13 base-36 digits or beyond uint64, a port outside
	// 1..65535, a token longer than [MaxTokenLength]. HTTP 400.
	ErrMalformed = errors.New("routetoken: malformed route token")
	// ErrExpired means an authentic token whose expiry has passed
	// (now > expires). HTTP 401.
	ErrExpired = errors.New("routetoken: route token expired")
	// ErrUnknownKey means the token names a key id that is not in the
	// key ring. HTTP 401.
	ErrUnknownKey = errors.New("routetoken: unknown key id")
	// ErrBadSignature means the signature or MAC does not match. HTTP 401.
	ErrBadSignature = errors.New("routetoken: bad signature")
	// ErrMismatch means a well-formed token for something else: another
	// component id or port, another method or path, or a mode the
	// verifier does not accept. HTTP 401.
	ErrMismatch = errors.New("routetoken: route token not valid for this request")
	// ErrAccessDenied means the secure-access header is present but does
	// not hold the configured value. HTTP 401, with no fallback to a
	// route token.
	ErrAccessDenied = errors.New("routetoken: secure-access header mismatch")
	// ErrThrottled means the client made too many failed attempts in the
	// current window; nothing was verified. HTTP 429, with
	// [Error.RetryAfter].
	ErrThrottled = errors.New("routetoken: too many failed attempts")
)

// kindError is a sentinel that is also a more general sentinel.
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

// Error is a failed check. It never holds the token, a secret or a MAC:
// its text is safe for logs, and [Error.Description] is safe for clients.
type Error struct {
	// Kind is one of the ErrX sentinels of this package.
	Kind error
	// Detail says what exactly was wrong, for logs (such as "expiry has
	// leading zeros"); it may be empty. It never quotes the token.
	Detail string
	// RetryAfter is how long a throttled client must wait (Kind
	// ErrThrottled only), at least one second.
	RetryAfter time.Duration
}

// Error returns the kind's text and the detail.
func (e *Error) Error() string {
	if e.Detail == "" {
		return e.Kind.Error()
	}
	return e.Kind.Error() + ": " + e.Detail
}

// Unwrap returns Kind, so errors.Is(err, ErrExpired) works.
func (e *Error) Unwrap() error { return e.Kind }

// Status returns the HTTP status of the failure: 400 for ErrMalformed, 429
// for ErrThrottled, 401 for the rest.
func (e *Error) Status() int {
	switch e.Kind {
	case ErrMalformed:
		return http.StatusBadRequest
	case ErrThrottled:
		return http.StatusTooManyRequests
	}
	return http.StatusUnauthorized
}

// Description returns a short text for the client. It says no more than
// the status does, except that an expired token is named as such; which
// keys exist and which part of a token failed are never revealed.
func (e *Error) Description() string {
	switch e.Kind {
	case ErrMissing:
		return "A route token is required."
	case ErrMalformed:
		return "The route token is malformed."
	case ErrExpired:
		return "The route token has expired."
	case ErrAccessDenied:
		return "The secure-access token is not valid."
	case ErrThrottled:
		return "Too many failed attempts; try again later."
	}
	return "The route token is not valid for this request."
}

// counts reports whether the failure counts against the client's
// allowance: everything that could be a guess. A missing token or an
// authentic but expired one is not.
func (e *Error) counts() bool {
	return e.Kind != ErrMissing && e.Kind != ErrExpired && e.Kind != ErrThrottled
}

func fail(kind error, detail string) *Error { return &Error{Kind: kind, Detail: detail} }
