package schema

import (
	"bytes"
	"math"
	"strconv"
)

// This file normalises a metadata object to the text Python's json.dumps
// writes with its default arguments, so that a plugin hashing or signing
// metadata sees the bytes the framework osohost replaces gave it:
//
//   - separators ", " and ": ", no other whitespace;
//   - ensure_ascii: '"' and '\\' escaped, \b \f \n \r \t in short form, every
//     other byte outside 0x20..0x7e as \u00XX and every non-ASCII character
//     as \uXXXX in lowercase hex, astral characters as a surrogate pair;
//   - member order as first seen; a repeated name keeps its first position
//     and takes its last value (a Python dict);
//   - integers as written (any size), except that -0 is 0;
//   - numbers with a fraction or exponent as Python's float repr.

const hexDigits = "0123456789abcdef"

// appendPyRune appends r as ensure_ascii writes it.
func appendPyRune(dst []byte, r rune) []byte {
	switch r {
	case '"':
		return append(dst, '\\', '"')
	case '\\':
		return append(dst, '\\', '\\')
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	if 0x20 <= r && r < 0x7f {
		return append(dst, byte(r))
	}
	if r >= 0x10000 {
		r -= 0x10000
		dst = appendU4(dst, 0xd800+r>>10)
		return appendU4(dst, 0xdc00+r&0x3ff)
	}
	return appendU4(dst, r)
}

func appendU4(dst []byte, r rune) []byte {
	return append(dst, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}

// appendPyFloat appends f as Python's repr(float) writes it: the shortest
// digits that round-trip; positional notation with at least one digit after
// the point when the decimal exponent is in [-4, 16), scientific notation
// otherwise, with a signed exponent of at least two digits (1e+16, 1e-05).
// Infinities are written as json.dumps writes them.
func appendPyFloat(dst []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	case f != f:
		return append(dst, "NaN"...)
	case f == 0:
		if math.Signbit(f) {
			return append(dst, "-0.0"...)
		}
		return append(dst, "0.0"...)
	}
	var buf [32]byte
	e := strconv.AppendFloat(buf[:0], f, 'e', -1, 64) // [-]d[.ddd]e±dd
	if e[0] == '-' {
		dst = append(dst, '-')
		e = e[1:]
	}
	x := bytes.IndexByte(e, 'e')
	mant := e[:x]
	exp, _ := strconv.Atoi(string(e[x+1:]))
	var digits [20]byte
	nd := copy(digits[:], mant[:1])
	if len(mant) > 2 {
		nd += copy(digits[nd:], mant[2:])
	}
	d := digits[:nd]
	if exp < -4 || exp >= 16 {
		dst = append(dst, d[0])
		if len(d) > 1 {
			dst = append(dst, '.')
			dst = append(dst, d[1:]...)
		}
		dst = append(dst, 'e')
		if exp < 0 {
			dst = append(dst, '-')
			exp = -exp
		} else {
			dst = append(dst, '+')
		}
		if exp < 10 {
			dst = append(dst, '0')
		}
		return strconv.AppendInt(dst, int64(exp), 10)
	}
	point := exp + 1 // digits before the decimal point
	switch {
	case point <= 0:
		dst = append(dst, '0', '.')
		for range -point {
			dst = append(dst, '0')
		}
		return append(dst, d...)
	case point >= len(d):
		dst = append(dst, d...)
		for range point - len(d) {
			dst = append(dst, '0')
		}
		return append(dst, '.', '0')
	default:
		dst = append(dst, d[:point]...)
		dst = append(dst, '.')
		return append(dst, d[point:]...)
	}
}

// member is one member of an object being normalised. Offsets are in the
// output buffer.
type member struct {
	k0, k1 int // the name, quotes included; the value starts at k1+2
	v1     int // end of the value
	first  int // index in its object of the first member with this name
	last   int // for a first occurrence: index of the latest one
}

// indexFrom is the member count from which duplicate names are found with
// a map rather than by comparing with every earlier name.
const indexFrom = 16

// pyValue appends the value at s.i as json.dumps writes it.
func (s *scanner) pyValue(dst []byte) ([]byte, error) {
	switch c := s.peek(); c {
	case '{':
		return s.pyObject(dst)
	case '[':
		return s.pyArray(dst)
	case '"':
		return s.str(dst, strPy)
	case 't':
		return append(dst, "true"...), s.literal("true")
	case 'f':
		return append(dst, "false"...), s.literal("false")
	case 'n':
		return append(dst, "null"...), s.literal("null")
	default:
		if c != '-' && !isDigit(c) {
			if s.i >= len(s.b) {
				return dst, s.syntax("unexpected end of input")
			}
			return dst, s.syntax("expected a value")
		}
		lit, isFloat, err := s.number()
		if err != nil {
			return dst, err
		}
		if isFloat {
			// Out of range: ±Inf, written as json.dumps writes it; below
			// the smallest denormal: 0, as Python's float() gives.
			f, _ := strconv.ParseFloat(string(lit), 64)
			return appendPyFloat(dst, f), nil
		}
		if len(lit) == 2 && lit[0] == '-' && lit[1] == '0' {
			return append(dst, '0'), nil
		}
		return append(dst, lit...), nil
	}
}

func (s *scanner) pyArray(dst []byte) ([]byte, error) {
	if err := s.enter(); err != nil {
		return dst, err
	}
	dst = append(dst, '[')
	if s.empty(']') {
		return append(dst, ']'), nil
	}
	for n := 0; ; n++ {
		if n > 0 {
			dst = append(dst, ',', ' ')
		}
		var err error
		if dst, err = s.pyValue(dst); err != nil {
			return dst, err
		}
		more, err := s.next(']')
		if err != nil {
			return dst, err
		}
		if !more {
			return append(dst, ']'), nil
		}
	}
}

// pyObject appends the object at s.i as json.dumps writes the dict Python
// builds from it.
func (s *scanner) pyObject(dst []byte) ([]byte, error) {
	if err := s.enter(); err != nil {
		return dst, err
	}
	start := len(dst)
	dst = append(dst, '{')
	if s.empty('}') {
		return append(dst, '}'), nil
	}
	base := len(s.members)
	defer func() { s.members = s.members[:base] }()
	var index map[string]int
	dup := false
	for n := 0; ; n++ {
		if s.peek() != '"' {
			if s.i >= len(s.b) {
				return dst, s.syntax("unexpected end of input")
			}
			return dst, s.syntax("expected a member name")
		}
		if n > 0 {
			dst = append(dst, ',', ' ')
		}
		k0 := len(dst)
		var err error
		if dst, err = s.str(dst, strPy); err != nil {
			return dst, err
		}
		k1 := len(dst)
		if err := s.colon(); err != nil {
			return dst, err
		}
		dst = append(dst, ':', ' ')
		if dst, err = s.pyValue(dst); err != nil {
			return dst, err
		}
		m := member{k0: k0, k1: k1, v1: len(dst), first: n, last: n}

		// Equal names have equal escaped text, so compare the output.
		name := dst[k0:k1]
		ms := s.members[base:]
		if index == nil && n >= indexFrom {
			index = make(map[string]int, 2*n)
			for x := range ms {
				if ms[x].first == x {
					index[string(dst[ms[x].k0:ms[x].k1])] = x
				}
			}
		}
		j := -1
		if index != nil {
			if x, ok := index[string(name)]; ok {
				j = x
			} else {
				index[string(name)] = n
			}
		} else {
			for x := range ms {
				if ms[x].first == x && bytes.Equal(dst[ms[x].k0:ms[x].k1], name) {
					j = x
					break
				}
			}
		}
		if j >= 0 {
			m.first = j
			s.members[base+j].last = n
			dup = true
		}
		s.members = append(s.members, m)

		more, err := s.next('}')
		if err != nil {
			return dst, err
		}
		if !more {
			break
		}
	}
	dst = append(dst, '}')
	if dup {
		dst = s.rebuild(dst, start, s.members[base:])
	}
	return dst, nil
}

// rebuild rewrites the object text dst[start:] keeping one member per name:
// in the position of its first occurrence, with the value of its last.
// The result is never longer than the text it replaces.
func (s *scanner) rebuild(dst []byte, start int, ms []member) []byte {
	s.tmp = append(s.tmp[:0], dst[start:]...)
	t := s.tmp
	dst = append(dst[:start], '{')
	w := 0
	for x := range ms {
		if ms[x].first != x {
			continue
		}
		if w > 0 {
			dst = append(dst, ',', ' ')
		}
		w++
		dst = append(dst, t[ms[x].k0-start:ms[x].k1-start]...)
		dst = append(dst, ':', ' ')
		l := ms[ms[x].last]
		dst = append(dst, t[l.k1+2-start:l.v1-start]...)
	}
	return append(dst, '}')
}
