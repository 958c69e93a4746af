package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/osohost/osohost/host/auth"
	"github.com/osohost/osohost/host/auth/routetoken"
	"github.com/osohost/osohost/host/plugin"
	"github.com/osohost/osohost/host/schema"
	"github.com/osohost/osohost/host/state"
)

// Error is an error with an HTTP meaning. Description is safe to send to the
// client; Err is only logged.
type Error struct {
	Status      int
	Description string
	Err         error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("api: %d: %v", e.Status, e.Err)
	}
	return fmt.Sprintf("api: %d", e.Status)
}

func (e *Error) Unwrap() error { return e.Err }

// Descriptions of the errors the host generates. The 401, 403, 404 and 405
// texts are the framework's (Werkzeug's) verbatim, so clients that match on
// them keep working.
const (
	descBadRequest     = "The browser (or proxy) sent a request that this server could not understand."
	descBadCertificate = "The SSL certificate error"
	descUnauthorized   = "The server could not verify that you are authorized to access the URL requested. You either supplied the wrong credentials (e.g. a bad password), or your browser doesn't understand how to supply the credentials required."
	descForbidden      = "You don't have the permission to access the requested resource. It is either read-protected or not readable by the server."
	descNotFound       = "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again."
	descMethod         = "The method is not allowed for the requested URL."
	descTooLarge       = "The data value transmitted exceeds the capacity limit."
	descInternal       = "The server encountered an internal error and was unable to complete your request. Either the server is overloaded or there is an error in the application."
	descBadGateway     = "The plugin returned an invalid response."
	descUnavailable    = "The server is temporarily unable to service your request due to maintenance downtime or capacity problems. Please try again later."
	descTimeout        = "The plugin did not answer in time."
)

// toError maps any error of the request path to an *Error. This is the one
// place that decides HTTP statuses.
func toError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var verr *schema.ValidationError
	var slimit *schema.LimitError
	var guest *plugin.GuestError
	var trap *plugin.TrapError
	var outErr *plugin.OutputError
	var limit *plugin.LimitError
	var maxBytes *http.MaxBytesError
	var route *routetoken.Error
	var stateLimit *state.LimitError
	switch {
	case errors.As(err, &route):
		return &Error{Status: route.Status(), Description: route.Description(), Err: err}
	case errors.Is(err, auth.ErrNoCredentials):
		return &Error{Status: http.StatusUnauthorized, Description: descUnauthorized, Err: err}
	case errors.Is(err, auth.ErrBadCertificate):
		return &Error{Status: http.StatusBadRequest, Description: descBadCertificate, Err: err}
	case errors.Is(err, auth.ErrNotAllowlisted):
		return &Error{Status: http.StatusForbidden, Description: descForbidden, Err: err}
	case errors.As(err, &maxBytes), errors.As(err, &limit):
		return &Error{Status: http.StatusRequestEntityTooLarge, Description: descTooLarge, Err: err}
	case errors.As(err, &slimit):
		if slimit.Field == "" {
			return &Error{Status: http.StatusRequestEntityTooLarge, Description: descTooLarge, Err: err}
		}
		return &Error{Status: http.StatusBadRequest, Description: "Invalid request body: " + strings.TrimPrefix(slimit.Error(), "schema: "), Err: err}
	case errors.As(err, &verr):
		return &Error{Status: http.StatusBadRequest, Description: "Invalid request body: " + strings.TrimPrefix(verr.Error(), "schema: "), Err: err}
	case errors.As(err, &guest):
		d := guest.Message
		if d == "" {
			d = descInternal
		}
		return &Error{Status: guest.Code, Description: d, Err: err}
	case errors.Is(err, plugin.ErrCallTimeout), errors.Is(err, context.DeadlineExceeded):
		return &Error{Status: http.StatusGatewayTimeout, Description: descTimeout, Err: err}
	case errors.Is(err, plugin.ErrBusy), errors.Is(err, plugin.ErrClosed), errors.Is(err, auth.ErrUnavailable),
		errors.Is(err, state.ErrConflict), errors.Is(err, state.ErrBusy), errors.Is(err, state.ErrClosed), errors.As(err, &stateLimit):
		return &Error{Status: http.StatusServiceUnavailable, Description: descUnavailable, Err: err}
	case errors.As(err, &outErr):
		return &Error{Status: http.StatusBadGateway, Description: descBadGateway, Err: err}
	case errors.As(err, &trap):
		return &Error{Status: http.StatusInternalServerError, Description: descInternal, Err: err}
	}
	return &Error{Status: http.StatusInternalServerError, Description: descInternal, Err: err}
}

// writeError renders err in the framework's error shape,
// {"code": 403, "name": "Forbidden", "description": "…"}, and logs it: 5xx
// at error level, the rest at debug.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := toError(err)
	level := slog.LevelDebug
	if e.Status >= 500 {
		level = slog.LevelError
	}
	h.log.Log(r.Context(), level, "request failed", "status", e.Status, "trace_id", traceID(r.Context()), "path", r.URL.Path, "err", e.Err)
	var route *routetoken.Error
	switch {
	case e.Status == http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
	case e.Status == http.StatusTooManyRequests && errors.As(err, &route):
		w.Header().Set("Retry-After", strconv.FormatInt(max(1, int64((route.RetryAfter+time.Second-1)/time.Second)), 10))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	_, _ = w.Write(errorBody(e.Status, e.Description))
}

// errorBody writes the body as Python's json.dumps does by default
// (separators ", " and ": ", non-ASCII escaped), the framework's bytes.
func errorBody(status int, description string) []byte {
	b := make([]byte, 0, 96+len(description))
	b = append(b, `{"code": `...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, `, "name": `...)
	b = appendASCIIString(b, http.StatusText(status))
	b = append(b, `, "description": `...)
	b = appendASCIIString(b, description)
	return append(b, '}')
}

// appendASCIIString appends s as a JSON string with every non-ASCII
// character escaped (\uXXXX, surrogate pairs above the BMP).
func appendASCIIString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	u := func(b []byte, r rune) []byte {
		return append(b, '\\', 'u', hex[r>>12&15], hex[r>>8&15], hex[r>>4&15], hex[r&15])
	}
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r == '\n':
			b = append(b, '\\', 'n')
		case r == '\r':
			b = append(b, '\\', 'r')
		case r == '\t':
			b = append(b, '\\', 't')
		case r == '\b':
			b = append(b, '\\', 'b')
		case r == '\f':
			b = append(b, '\\', 'f')
		case r < 0x20:
			b = u(b, r)
		case r < utf8.RuneSelf:
			b = append(b, byte(r))
		case r > 0xffff:
			r -= 0x10000
			b = u(b, 0xd800+(r>>10))
			b = u(b, 0xdc00+(r&0x3ff))
		default:
			b = u(b, r)
		}
	}
	return append(b, '"')
}
