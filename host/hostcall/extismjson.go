package hostcall

import (
	"bytes"
	"encoding/base64"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/osohost/osohost/abi"
)

// strictBase64 decodes the binary members of Extism requests: standard
// base64 with padding, and zero padding bits. Read-only.
var strictBase64 = base64.StdEncoding.Strict()

// jsonField is one member of a request object, and where its value goes.
// Exactly one of str, b64, num and each is set.
type jsonField struct {
	name     string
	optional bool

	str  *string              // a string (valid UTF-8 by construction)
	b64  *[]byte              // a string of standard base64 with padding
	num  *uint64              // an integer ≥ 0, without fraction or exponent; saturates
	each func(r *jsonRequest) // an array: called at each element, which it must consume
}

// jsonRequest decodes one Extism request strictly: one JSON object of the
// members named by its fields, nothing else. Unknown, duplicate, missing
// or mistyped members, invalid JSON, invalid UTF-8 (raw or as a lone
// surrogate escape) and anything after the object are faults, answered
// abi.StatusBadArgument. The first fault is kept; every method does
// nothing once one happened.
//
// Decoded strings are copies, and binary members share one buffer
// allocated for the request: nothing decoded refers to the request's
// bytes.
type jsonRequest struct {
	b     []byte
	i     int
	arena []byte // decoded binary members
	st    abi.Status
	msg   string
}

// decodeRequest decodes req as an object of fields. It returns
// abi.StatusOK, or abi.StatusBadArgument and a message naming the fault
// (never a value of the request).
func decodeRequest(req []byte, fields ...jsonField) (abi.Status, string) {
	r := &jsonRequest{b: req}
	r.ws()
	r.object(fields)
	r.ws()
	if r.st == abi.StatusOK && r.i != len(r.b) {
		r.fail("data after the request object")
	}
	return r.st, r.msg
}

func (r *jsonRequest) failed() bool { return r.st != abi.StatusOK }

func (r *jsonRequest) fail(msg string) {
	if r.st == abi.StatusOK {
		r.st, r.msg = abi.StatusBadArgument, "request: "+msg
	}
}

// ws skips JSON whitespace.
func (r *jsonRequest) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// eat consumes c if it is next.
func (r *jsonRequest) eat(c byte) bool {
	if r.i < len(r.b) && r.b[r.i] == c {
		r.i++
		return true
	}
	return false
}

func (r *jsonRequest) next(c byte) bool { return r.i < len(r.b) && r.b[r.i] == c }

// object decodes an object whose members are fields (at most 64).
func (r *jsonRequest) object(fields []jsonField) {
	if r.failed() {
		return
	}
	if !r.eat('{') {
		r.fail("expected a JSON object")
		return
	}
	var seen uint64
	r.ws()
	if !r.eat('}') {
		for {
			if !r.next('"') {
				r.fail("expected a member name")
				return
			}
			name := r.string()
			if r.failed() {
				return
			}
			k := -1
			for j := range fields {
				if string(name) == fields[j].name {
					k = j
					break
				}
			}
			if k < 0 {
				r.fail("unknown member " + quoteName(name))
				return
			}
			if seen&(1<<k) != 0 {
				r.fail("duplicate member " + strconv.Quote(fields[k].name))
				return
			}
			seen |= 1 << k
			r.ws()
			if !r.eat(':') {
				r.fail("expected ':' after a member name")
				return
			}
			r.ws()
			r.value(&fields[k])
			if r.failed() {
				return
			}
			r.ws()
			if r.eat(',') {
				r.ws()
				continue
			}
			if r.eat('}') {
				break
			}
			r.fail("expected ',' or '}' in an object")
			return
		}
	}
	for k := range fields {
		if !fields[k].optional && seen&(1<<k) == 0 {
			r.fail("missing member " + strconv.Quote(fields[k].name))
			return
		}
	}
}

// quoteName quotes an unknown member's name for a message, cut to 64
// bytes.
func quoteName(name []byte) string {
	if len(name) > 64 {
		return strconv.Quote(string(name[:64]) + "…")
	}
	return strconv.Quote(string(name))
}

// value decodes the value of member f.
func (r *jsonRequest) value(f *jsonField) {
	switch {
	case f.str != nil:
		if !r.next('"') {
			r.fail("member " + strconv.Quote(f.name) + " must be a string")
			return
		}
		*f.str = string(r.string())
	case f.b64 != nil:
		if !r.next('"') {
			r.fail("member " + strconv.Quote(f.name) + " must be a base64 string")
			return
		}
		s := r.string()
		if r.failed() {
			return
		}
		*f.b64 = r.base64(f.name, s)
	case f.num != nil:
		if r.i >= len(r.b) || r.b[r.i] != '-' && (r.b[r.i] < '0' || r.b[r.i] > '9') {
			r.fail("member " + strconv.Quote(f.name) + " must be a non-negative integer")
			return
		}
		v, ok := r.number()
		if r.failed() {
			return
		}
		if !ok {
			r.fail("member " + strconv.Quote(f.name) + " must be a non-negative integer")
			return
		}
		*f.num = v
	case f.each != nil:
		if !r.eat('[') {
			r.fail("member " + strconv.Quote(f.name) + " must be an array")
			return
		}
		r.ws()
		if r.eat(']') {
			return
		}
		for {
			f.each(r)
			if r.failed() {
				return
			}
			r.ws()
			if r.eat(',') {
				r.ws()
				continue
			}
			if r.eat(']') {
				return
			}
			r.fail("expected ',' or ']' in an array")
			return
		}
	}
}

// string decodes the string at r.i (which is '"'). It returns a view of
// the request when the string has no escape, else a new slice; either
// way valid UTF-8.
func (r *jsonRequest) string() []byte {
	r.i++ // '"'
	start := r.i
	ascii := true
	for j := start; j < len(r.b); j++ {
		switch c := r.b[j]; {
		case c == '"':
			r.i = j + 1
			s := r.b[start:j]
			if !ascii && !utf8.Valid(s) {
				r.fail("string is not valid UTF-8")
				return nil
			}
			return s
		case c == '\\':
			return r.escaped(start, j)
		case c < 0x20:
			r.fail("control character in a string")
			return nil
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	r.fail("unterminated string")
	return nil
}

// escaped decodes the rest of a string that has an escape at j, having
// started at start.
func (r *jsonRequest) escaped(start, j int) []byte {
	// The decoded string is no longer than its text: find where that ends
	// (an escape is a backslash and at least one more byte).
	end := j
	for end < len(r.b) && r.b[end] != '"' {
		if r.b[end] == '\\' {
			end++
		}
		end++
	}
	out := make([]byte, 0, min(end, len(r.b))-start)
	out = append(out, r.b[start:j]...)
	for j < len(r.b) {
		c := r.b[j]
		switch {
		case c == '"':
			r.i = j + 1
			if !utf8.Valid(out) {
				r.fail("string is not valid UTF-8")
				return nil
			}
			return out
		case c < 0x20:
			r.fail("control character in a string")
			return nil
		case c != '\\':
			out = append(out, c)
			j++
			continue
		}
		if j+1 >= len(r.b) {
			break
		}
		e := r.b[j+1]
		j += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			c1, ok := hex4(r.b, j)
			if !ok {
				r.fail("invalid \\u escape in a string")
				return nil
			}
			j += 4
			ru := rune(c1)
			if utf16.IsSurrogate(ru) {
				// Only a high surrogate followed by a low one is a
				// character; anything else has no UTF-8 form.
				c2, ok := rune(0), false
				if j+1 < len(r.b) && r.b[j] == '\\' && r.b[j+1] == 'u' {
					var v uint16
					v, ok = hex4(r.b, j+2)
					c2 = rune(v)
				}
				ru = utf16.DecodeRune(ru, c2)
				if !ok || ru == utf8.RuneError {
					r.fail("string is not valid Unicode (lone surrogate)")
					return nil
				}
				j += 6
			}
			out = utf8.AppendRune(out, ru)
		default:
			r.fail("invalid escape in a string")
			return nil
		}
	}
	r.fail("unterminated string")
	return nil
}

// hex4 decodes the four hex digits at b[i:].
func hex4(b []byte, i int) (uint16, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var v uint16
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
		v = v<<4 | uint16(c)
	}
	return v, true
}

// base64 decodes s, a member's string, into the request's buffer.
func (r *jsonRequest) base64(name string, s []byte) []byte {
	// The standard decoder skips line breaks; a strict request has none.
	if bytes.ContainsAny(s, "\r\n") {
		r.fail("member " + strconv.Quote(name) + " is not standard base64 with padding")
		return nil
	}
	n := strictBase64.DecodedLen(len(s))
	if cap(r.arena)-len(r.arena) < n {
		// Decoded bytes are at most 3/4 of the request: one buffer holds
		// every member, unless a string was escaped needlessly. Members
		// decoded before keep the old buffer.
		r.arena = make([]byte, 0, max(n, len(r.b)/4*3+3))
	}
	start := len(r.arena)
	m, err := strictBase64.Decode(r.arena[start:start+n], s)
	if err != nil {
		r.fail("member " + strconv.Quote(name) + " is not standard base64 with padding")
		return nil
	}
	r.arena = r.arena[:start+m]
	return r.arena[start : start+m : start+m]
}

// number decodes a JSON number. ok reports whether it is an integer ≥ 0
// written without fraction or exponent; its value saturates at the
// largest uint64.
func (r *jsonRequest) number() (v uint64, ok bool) {
	neg := r.eat('-')
	digits := func() int {
		n := 0
		for r.i < len(r.b) && '0' <= r.b[r.i] && r.b[r.i] <= '9' {
			r.i++
			n++
		}
		return n
	}
	start := r.i
	switch {
	case r.eat('0'):
	case r.i < len(r.b) && '1' <= r.b[r.i] && r.b[r.i] <= '9':
		digits()
	default:
		r.fail("expected a number")
		return 0, false
	}
	for _, c := range r.b[start:r.i] {
		d := uint64(c - '0')
		if v > (^uint64(0)-d)/10 {
			v = ^uint64(0)
			continue
		}
		v = v*10 + d
	}
	integer := true
	if r.eat('.') {
		integer = false
		if digits() == 0 {
			r.fail("expected a digit after '.' in a number")
			return 0, false
		}
	}
	if r.eat('e') || r.eat('E') {
		integer = false
		if !r.eat('+') {
			r.eat('-')
		}
		if digits() == 0 {
			r.fail("expected a digit in a number's exponent")
			return 0, false
		}
	}
	return v, integer && !neg
}

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes
// U+FFFD; control characters, '"' and '\' are escaped.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		ru, size := utf8.DecodeRuneInString(s[i:])
		if ru == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// appendJSONBase64 appends p as a JSON string of standard base64.
func appendJSONBase64(b, p []byte) []byte {
	b = append(b, '"')
	b = base64.StdEncoding.AppendEncode(b, p)
	return append(b, '"')
}
