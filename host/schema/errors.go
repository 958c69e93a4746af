package schema

import (
	"errors"
	"strconv"
)

// Sentinel errors. Every error this package returns matches one of them with
// [errors.Is], so callers that only branch need not inspect the details.
var (
	// ErrInvalid matches every [*ValidationError]: the input is not valid
	// JSON or does not satisfy the V1_3 schema.
	ErrInvalid = errors.New("schema: invalid input")
	// ErrTooLarge matches every [*LimitError]: the input exceeds one of the
	// bounds in [Limits].
	ErrTooLarge = errors.New("schema: input exceeds a limit")
)

// ValidationError reports input that is not valid JSON or does not satisfy
// the V1_3 schema. Its message is safe to send to a client: it names the
// field and the rule, and may give a byte offset, but never repeats any part
// of the input (values, unknown member names, metadata keys).
//
// Use [errors.As] to reach it; [errors.Is] matches it against [ErrInvalid],
// and, when the compact encoding was malformed, against abi.ErrMalformed.
type ValidationError struct {
	// Field is the path of the offending value, such as "count",
	// "documents[3].id" or "errors[0].message"; "" means the input as a
	// whole (or a member whose name is not part of the schema).
	Field string
	// Reason says which rule failed, for example "is required" or
	// "invalid JSON at byte 17: unexpected end of input".
	Reason string

	err error // optional cause, for errors.Is; never part of the message
}

// Error returns "schema: <field>: <reason>", or "schema: <reason>" when
// Field is empty.
func (e *ValidationError) Error() string {
	if e.Field == "" {
		return "schema: " + e.Reason
	}
	return "schema: " + e.Field + ": " + e.Reason
}

// Is reports whether target is [ErrInvalid].
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// Unwrap returns the cause recorded with the error, if any (abi.ErrMalformed
// for a malformed compact encoding).
func (e *ValidationError) Unwrap() error { return e.err }

// LimitError reports input that exceeds one of the bounds in [Limits]. Its
// message is safe to send to a client. [errors.Is] matches it against
// [ErrTooLarge].
//
// An HTTP layer typically answers 413 when Field is "" (the whole body) and
// 400 otherwise.
type LimitError struct {
	// Field is the path of the value that exceeded its bound, as in
	// [ValidationError]; "" means the input as a whole.
	Field string
	// Limit is the bound that was exceeded, in Unit.
	Limit int
	// Unit names what Limit counts: "bytes", "documents", "errors" or
	// "levels of nesting".
	Unit string
}

// Error returns "schema: <field>: exceeds the limit of <Limit> <Unit>".
func (e *LimitError) Error() string {
	f := e.Field
	if f == "" {
		f = "input"
	}
	return "schema: " + f + ": exceeds the limit of " + strconv.Itoa(e.Limit) + " " + e.Unit
}

// Is reports whether target is [ErrTooLarge].
func (e *LimitError) Is(target error) bool { return target == ErrTooLarge }

// path names the value being decoded, for error messages. It is built into
// a string only when an error is reported.
type path struct {
	top string // "documents", "count", "errors", ... or "" for the root
	idx int    // index in the top-level array, or -1
	sub string // member of that array item, or ""
}

func (p path) String() string {
	if p.top == "" || p.idx < 0 {
		return p.top
	}
	s := p.top + "[" + strconv.Itoa(p.idx) + "]"
	if p.sub != "" {
		s += "." + p.sub
	}
	return s
}

func invalid(p path, reason string) error {
	return &ValidationError{Field: p.String(), Reason: reason}
}
