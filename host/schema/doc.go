// Package schema validates the V1_3 data that crosses the host in both
// directions, and converts it between JSON and the compact encoding of the
// abi package.
//
// # Where it sits on the request path
//
// For POST /api/{mode}/v1alpha1/documents, the HTTP layer reads the body
// (bounded) and calls [DecodeDocumentList], which parses and validates the
// DocumentList in one pass over the bytes and normalises each metadata
// object to the text the framework's Python code produced. [AppendCompact]
// then encodes the documents for the guest's to_isv export. What to_isv
// hands back is checked with [ValidateJSON] when it is JSON text, or read
// with [DecodeCompactDocumentList] and written with [AppendDocumentListJSON]
// when it is a compact DocumentList.
//
// For GET .../documents, the guest's to_oso result is validated the same
// way ([DecodeCompactDocumentList], or [DecodeDocumentList] for JSON text)
// and written with [AppendDocumentListJSON]. For GET .../status, the
// ComponentStatus comes back through [StatusFromCompact] or
// [DecodeStatusJSON], is written with [AppendStatusJSON], and
// [Status.HTTPStatus] gives the response status. A guest therefore never
// sends malformed data to the OSO.
//
// # Errors
//
// Every error is a [*ValidationError] (matching [ErrInvalid]) or a
// [*LimitError] (matching [ErrTooLarge]); both name the offending field and
// never repeat input content, so their messages may be sent to clients.
// The HTTP layer maps them to 400, or to 413 for a body over its bound
// (LimitError.Field ""), and to 502 when the data came from the guest.
//
// # Compatibility
//
// Acceptance follows the framework osohost replaces (pydantic models parsed
// with pydantic's JSON parser): lax integer counts, null and absent
// metadata, dropped unknown members, last value wins for repeated names,
// and its 4300-character bound on the integer part of numbers. It is
// stricter where the framework accepted what is not JSON: NaN, Infinity
// and -Infinity literals are refused. A number too large for a float64
// inside a metadata object becomes Infinity in the normalised text, as
// Python writes it.
//
// All functions are safe for concurrent use; none keeps state between
// calls.
package schema
