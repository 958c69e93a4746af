package oso

import "github.com/osohost/osohost/abi"

// Status is the V1_3 ComponentStatus a plugin reports.
type Status struct {
	// Code is the status_code, also the HTTP status of the response; the
	// host answers 500 when it is outside 100..599.
	Code int
	// Status is a short text, "OK" when healthy.
	Status string
	// Errors lists problems, at most [abi.MaxStatusErrors].
	Errors []StatusError
	// Extra is nil or the text of a JSON object whose members the host
	// writes after status_code, status and errors, for example
	// {"queued":3}; see [JSONObject]. Its members must not be named
	// status_code, status or errors.
	Extra []byte
}

// StatusError is one V1_3 Error item of a [Status]: a code and a message,
// both strings.
type StatusError = abi.StatusError

// OK returns the healthy status: code 200, status "OK".
func OK() Status {
	return Status{Code: 200, Status: "OK"}
}

// AppendCompact appends s in the compact ComponentStatus encoding
// ([abi.AppendStatus]).
func (s *Status) AppendCompact(b []byte) []byte {
	return abi.AppendStatus(b, s.Code, s.Status, s.Errors, view(s.Extra))
}
