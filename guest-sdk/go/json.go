package oso

import (
	"strconv"
	"unicode/utf8"
)

// AppendJSONString appends s as a JSON string literal. Invalid UTF-8 becomes
// U+FFFD, so the result is always valid JSON.
func AppendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// JSONObject appends one JSON object to a byte slice, member by member,
// without reflection:
//
//	o := oso.NewJSONObject(buf[:0])
//	o.Int("accepted", 3)
//	o.String("queue", "main")
//	text := o.End() // {"accepted":3,"queue":"main"}
//
// Keys are written as given (escaped); duplicates are not detected.
type JSONObject struct {
	b []byte
	n int
}

// NewJSONObject starts an object appended to b.
func NewJSONObject(b []byte) JSONObject {
	return JSONObject{b: append(b, '{')}
}

func (o *JSONObject) key(k string) {
	if o.n > 0 {
		o.b = append(o.b, ',')
	}
	o.n++
	o.b = AppendJSONString(o.b, k)
	o.b = append(o.b, ':')
}

// String adds a string member.
func (o *JSONObject) String(key, v string) {
	o.key(key)
	o.b = AppendJSONString(o.b, v)
}

// Int adds an integer member.
func (o *JSONObject) Int(key string, v int64) {
	o.key(key)
	o.b = strconv.AppendInt(o.b, v, 10)
}

// Bool adds a boolean member.
func (o *JSONObject) Bool(key string, v bool) {
	o.key(key)
	o.b = strconv.AppendBool(o.b, v)
}

// Raw adds a member whose value is the JSON text v, unchecked.
func (o *JSONObject) Raw(key string, v []byte) {
	o.key(key)
	o.b = append(o.b, v...)
}

// End closes the object and returns the slice with it appended.
func (o *JSONObject) End() []byte {
	return append(o.b, '}')
}
