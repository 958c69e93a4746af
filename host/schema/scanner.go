package schema

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// maxIntPartChars mirrors the framework's JSON parser, which refuses a
// number whose integer part, sign included, is longer than 4300 characters.
const maxIntPartChars = 4300

// plain marks the bytes a JSON string may hold as they are and that every
// string mode copies unchanged: printable ASCII except '"' and '\\'. DEL
// (0x7f) is valid but not plain, because Python's ensure_ascii escapes it.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// String modes of [scanner.str].
const (
	strSkip = iota // validate only
	strRaw         // append the decoded UTF-8
	strPy          // append the text Python's json.dumps writes, quotes included
)

// scanner is a strict RFC 8259 JSON scanner over one input. It rejects
// invalid UTF-8, unpaired surrogate escapes, and nesting deeper than
// maxDepth. It never reports input bytes in its errors, only offsets.
type scanner struct {
	b        []byte
	i        int
	depth    int
	maxDepth int
	at       path // the value being decoded, named in errors
	pyInts   bool // refuse integer parts longer than maxIntPartChars

	keybuf  []byte   // decoded keys and strings that do not outlive a call
	members []member // open objects during metadata normalisation
	tmp     []byte   // scratch for rebuilding objects with duplicate keys
}

func (s *scanner) syntax(reason string) error {
	return &ValidationError{
		Field:  s.at.String(),
		Reason: "invalid JSON at byte " + strconv.Itoa(s.i) + ": " + reason,
	}
}

// start checks the beginning of the input: a UTF-8 byte order mark is not
// JSON (RFC 8259 §8.1) and the framework refuses it too.
func (s *scanner) start() error {
	b := s.b
	if len(b) >= 3 && b[0] == 0xef && b[1] == 0xbb && b[2] == 0xbf {
		return s.syntax("byte order mark")
	}
	s.ws()
	return nil
}

// end checks that only whitespace follows the value.
func (s *scanner) end() error {
	s.ws()
	if s.i != len(s.b) {
		return s.syntax("unexpected data after the value")
	}
	return nil
}

func (s *scanner) ws() {
	b, i := s.b, s.i
	if i < len(b) && b[i] > ' ' {
		return
	}
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
			continue
		}
		break
	}
	s.i = i
}

// peek returns the current byte, or 0 at the end of the input.
func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// enter opens an array or object (at s.i) and checks the depth.
func (s *scanner) enter() error {
	s.depth++
	if s.depth > s.maxDepth {
		return &LimitError{Field: s.at.String(), Limit: s.maxDepth, Unit: "levels of nesting"}
	}
	s.i++
	s.ws()
	return nil
}

// colon consumes the ':' after a key and the whitespace around it.
func (s *scanner) colon() error {
	if s.i < len(s.b) && s.b[s.i] == ':' {
		s.i++
		s.ws()
		return nil
	}
	s.ws()
	if s.peek() != ':' {
		return s.syntax("expected ':' after a member name")
	}
	s.i++
	s.ws()
	return nil
}

// next consumes what follows a member or element: ',' (more is true) or
// the closing byte (more is false).
func (s *scanner) next(closing byte) (more bool, err error) {
	s.ws()
	switch s.peek() {
	case ',':
		s.i++
		s.ws()
		return true, nil
	case closing:
		s.i++
		s.depth--
		return false, nil
	case 0:
		if s.i >= len(s.b) {
			return false, s.syntax("unexpected end of input")
		}
	}
	if closing == '}' {
		return false, s.syntax("expected ',' or '}'")
	}
	return false, s.syntax("expected ',' or ']'")
}

// empty reports whether the array or object just entered is empty, and
// consumes its closing byte if so.
func (s *scanner) empty(closing byte) bool {
	if s.peek() == closing {
		s.i++
		s.depth--
		return true
	}
	return false
}

// key scans a member name and returns it decoded. The slice is valid until
// the next call of key or str on keybuf.
func (s *scanner) key() ([]byte, error) {
	if s.peek() != '"' {
		if s.i >= len(s.b) {
			return nil, s.syntax("unexpected end of input")
		}
		return nil, s.syntax("expected a member name")
	}
	b := s.b
	i := s.i + 1
	start := i
	for i < len(b) && plain[b[i]] {
		i++
	}
	if i < len(b) && b[i] == '"' {
		s.i = i + 1
		return b[start:i], nil
	}
	var err error
	s.keybuf, err = s.str(s.keybuf[:0], strRaw)
	return s.keybuf, err
}

// str scans the string at s.i (a '"') and appends it to dst as mode says.
func (s *scanner) str(dst []byte, mode int) ([]byte, error) {
	b := s.b
	i := s.i + 1
	if mode == strPy {
		dst = append(dst, '"')
	}
	start := i
	for {
		i = skipPlain(b, i)
		if i >= len(b) {
			s.i = i
			return dst, s.syntax("unexpected end of input in a string")
		}
		switch c := b[i]; {
		case c == '"':
			if mode != strSkip {
				dst = append(dst, b[start:i]...)
				if mode == strPy {
					dst = append(dst, '"')
				}
			}
			s.i = i + 1
			return dst, nil
		case c == '\\':
			if mode != strSkip {
				dst = append(dst, b[start:i]...)
			}
			var err error
			if i, dst, err = s.escape(dst, i, mode); err != nil {
				return dst, err
			}
			start = i
		case c < 0x20:
			s.i = i
			return dst, s.syntax("control character in a string")
		case c < utf8.RuneSelf: // DEL
			if mode == strPy {
				dst = append(dst, b[start:i]...)
				dst = append(dst, `\u007f`...)
				start = i + 1
			}
			i++
		default:
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n <= 1 {
				s.i = i
				return dst, s.syntax("invalid UTF-8")
			}
			if mode == strPy {
				dst = append(dst, b[start:i]...)
				dst = appendPyRune(dst, r)
				start = i + n
			}
			i += n
		}
	}
}

// escape decodes the escape sequence at b[i] (a '\\') and returns the index
// after it.
func (s *scanner) escape(dst []byte, i int, mode int) (int, []byte, error) {
	b := s.b
	if i+1 >= len(b) {
		s.i = len(b)
		return i, dst, s.syntax("unexpected end of input in a string")
	}
	var r rune
	switch c := b[i+1]; c {
	case '"', '\\', '/':
		r = rune(c)
	case 'b':
		r = '\b'
	case 'f':
		r = '\f'
	case 'n':
		r = '\n'
	case 'r':
		r = '\r'
	case 't':
		r = '\t'
	case 'u':
		r1, ok := hex4(b, i+2)
		if !ok {
			s.i = i
			return i, dst, s.syntax("invalid \\u escape")
		}
		r = r1
		if utf16.IsSurrogate(r1) {
			r = utf8.RuneError
			if r1 < 0xdc00 && i+12 <= len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
				if r2, ok := hex4(b, i+8); ok {
					r = utf16.DecodeRune(r1, r2)
				}
			}
			if r == utf8.RuneError {
				s.i = i
				return i, dst, s.syntax("unpaired surrogate in a \\u escape")
			}
			i += 6
		}
		i += 4
	default:
		s.i = i
		return i, dst, s.syntax("invalid escape")
	}
	i += 2
	switch mode {
	case strRaw:
		dst = utf8.AppendRune(dst, r)
	case strPy:
		dst = appendPyRune(dst, r)
	}
	return i, dst, nil
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// number scans the number at s.i and returns its text, and whether it has
// a fraction or an exponent.
func (s *scanner) number() (lit []byte, isFloat bool, err error) {
	b := s.b
	i := s.i
	start := i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		s.i = i
		return nil, false, s.syntax("unexpected end of input in a number")
	case b[i] == '0':
		i++
		if i < len(b) && isDigit(b[i]) {
			s.i = i
			return nil, false, s.syntax("leading zero in a number")
		}
	case isDigit(b[i]):
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	default:
		s.i = i
		return nil, false, s.syntax("invalid number")
	}
	if s.pyInts && i-start > maxIntPartChars {
		return nil, false, invalid(s.at, "number out of range: integer part longer than 4300 digits")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			s.i = i
			return nil, false, s.syntax("invalid number")
		}
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
		isFloat = true
	}
	if i < len(b) && b[i]|0x20 == 'e' {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			s.i = i
			return nil, false, s.syntax("invalid number")
		}
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
		isFloat = true
	}
	s.i = i
	return b[start:i], isFloat, nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// literal consumes word (true, false or null).
func (s *scanner) literal(word string) error {
	if len(s.b)-s.i >= len(word) && string(s.b[s.i:s.i+len(word)]) == word {
		s.i += len(word)
		return nil
	}
	return s.syntax("invalid literal")
}

// skip validates the value at s.i and moves past it.
func (s *scanner) skip() error {
	switch c := s.peek(); c {
	case '{':
		if err := s.enter(); err != nil {
			return err
		}
		if s.empty('}') {
			return nil
		}
		for {
			if s.peek() != '"' {
				return s.syntax("expected a member name")
			}
			if _, err := s.str(nil, strSkip); err != nil {
				return err
			}
			if err := s.colon(); err != nil {
				return err
			}
			if err := s.skip(); err != nil {
				return err
			}
			if more, err := s.next('}'); !more {
				return err
			}
		}
	case '[':
		if err := s.enter(); err != nil {
			return err
		}
		if s.empty(']') {
			return nil
		}
		for {
			if err := s.skip(); err != nil {
				return err
			}
			if more, err := s.next(']'); !more {
				return err
			}
		}
	case '"':
		_, err := s.str(nil, strSkip)
		return err
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	default:
		if c == '-' || isDigit(c) {
			_, _, err := s.number()
			return err
		}
		if s.i >= len(s.b) {
			return s.syntax("unexpected end of input")
		}
		return s.syntax("expected a value")
	}
}
