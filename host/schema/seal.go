package schema

import "unsafe"

// seal returns the bytes of b as a string without copying them, as
// strings.Builder does with its buffer. It saves a second copy of every
// decoded string: decoded documents are copied from the input exactly once.
//
// The caller must have allocated the array behind b itself, must not let
// it escape as a slice, and must never write b's bytes again. The decoders
// seal their output buffer when they are done with it, or seal a range
// they have finished and afterwards only append beyond it.
func seal(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}
