package schema

import "unsafe"

// seal returns the bytes of b as a string without copying them, as
// strings.Builder does with its buffer. It saves a second copy of every
// decoded string; decoded documents are thus copied from the input exactly
// once.
//
// The caller must have allocated the array behind b itself, must not let
// it escape as a slice, and must never write b's bytes again. The decoders
// keep to this by only ever appending to their output buffer: a string
// sealed earlier lies below the buffer's length, and when append moves the
// buffer, the old array stays as it was, kept alive by the strings. The one
// rewrite (an object with repeated names, in pyObject) touches only the
// object being normalised, which is sealed after it is complete.
func seal(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}
