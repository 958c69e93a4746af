package schema

// ValidateJSON checks that b is exactly one JSON value, such as the
// to_isv result a guest hands back for the host to send as it is.
//
// It is strict RFC 8259: UTF-8 without a byte order mark, no trailing data,
// no NaN or Infinity, no leading zeros, no control characters in strings;
// it also refuses unpaired surrogate escapes (\ud800), which no UTF-8 text
// can represent. Arrays and objects may nest at most maxDepth deep (zero
// or negative: [DefaultMaxDepth]). Errors are a [*ValidationError] or, for
// the depth, a [*LimitError]. The length of b is the caller's to bound.
func ValidateJSON(b []byte, maxDepth int) error {
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	s := scanner{b: b, maxDepth: maxDepth, at: root}
	if err := s.start(); err != nil {
		return err
	}
	if err := s.skip(); err != nil {
		return err
	}
	return s.end()
}
