package grep11

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/osohost/osohost/host/signing"
	pb "github.com/osohost/osohost/host/signing/grep11/grep11pb"
)

// maxMessage bounds the server's status message kept in an [RPCError].
const maxMessage = 200

// RPCError is a GREP11 call that failed after all its attempts. It matches
// signing.ErrUnavailable (errors.Is) when the failure was transient, so
// that retrying later may help. It carries no key material or signed data:
// Message is the status text of the server or of the gRPC transport.
type RPCError struct {
	Method   string     // the GREP11 method, e.g. "SignSingle"
	Code     codes.Code // the gRPC status code of the last attempt
	Message  string     // its status message, truncated
	CKR      uint64     // the PKCS#11 return value the server reported, or 0
	Retry    bool       // the server marked the failure retryable
	Attempts int        // how many attempts were made
}

func (e *RPCError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "grep11: %s: %s", e.Method, e.Code)
	if e.CKR != 0 {
		fmt.Fprintf(&b, " (CKR 0x%X)", e.CKR)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (after %d attempts)", e.Attempts)
	}
	return b.String()
}

// Is reports whether target is signing.ErrUnavailable and the failure was
// transient.
func (e *RPCError) Is(target error) bool {
	return target == signing.ErrUnavailable && e.transient()
}

// transient reports whether another attempt may succeed.
func (e *RPCError) transient() bool {
	switch e.Code {
	case codes.Unavailable, codes.ResourceExhausted, codes.DeadlineExceeded:
		return true
	}
	return e.Retry
}

// newRPCError describes err, returned by an attempt of method.
func newRPCError(method string, err error, attempts int) *RPCError {
	st := status.Convert(err)
	e := &RPCError{Method: method, Code: st.Code(), Message: truncate(st.Message(), maxMessage), Attempts: attempts}
	for _, d := range st.Details() {
		if ge, ok := d.(*pb.Grep11Error); ok {
			e.CKR, e.Retry = ge.GetCode(), ge.GetRetry()
			if e.Message == "" {
				e.Message = truncate(ge.GetDetail(), maxMessage)
			}
		}
	}
	return e
}

// truncate shortens s to at most n bytes at a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// ErrClosed is returned by every call on a closed [Signer].
var ErrClosed = errors.New("grep11: signer closed")
