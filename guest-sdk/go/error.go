package oso

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/osohost/osohost/abi"
)

// Error is an error with an HTTP meaning. Returned (or wrapped) from a
// [Plugin] method, it makes the request fail with status Code (400..599; the
// host uses 500 for other codes) and Message as the error description the
// client sees. Message must therefore carry no internal detail; it is cut
// to [abi.MaxErrorMessageBytes] bytes.
//
// Both Error and *Error satisfy error and are recognised, also when wrapped.
type Error struct {
	Code    int
	Message string
}

// Error returns the code and message.
func (e Error) Error() string {
	return "oso: " + strconv.Itoa(e.Code) + " " + e.Message
}

// Errorf returns an [Error] with status code and a message formatted as by
// fmt.Sprintf. The message is sent to the client.
func Errorf(code int, format string, args ...any) error {
	return Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// asError finds an [Error] in err's chain.
func asError(err error) (Error, bool) {
	var e Error
	if errors.As(err, &e) {
		return e, true
	}
	var pe *Error
	if errors.As(err, &pe) && pe != nil {
		return *pe, true
	}
	return Error{}, false
}

// cutUTF8 returns the longest prefix of s of at most n bytes that does not
// split a UTF-8 sequence.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && i > n-utf8.UTFMax && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// fail reports err for the current export call and returns the export's
// failure result. An [Error] goes to the host's error channel; any other
// error is logged, and the host answers a generic 500.
func fail(method string, err error) int32 {
	if e, ok := asError(err); ok {
		hostError(int32(e.Code), cutUTF8(e.Message, abi.MaxErrorMessageBytes))
		return 1
	}
	if pe, ok := err.(*Error); ok && pe == nil { // a typed nil: err.Error() would panic
		Log.Error("oso: " + method + " returned a nil *oso.Error")
		return 1
	}
	Log.Error("oso: " + method + " failed: " + err.Error())
	return 1
}
