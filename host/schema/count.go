package schema

import (
	"math"
	"strconv"
	"strings"
	"unicode"
)

// The count of a DocumentList follows the framework's lax integer rules
// (pydantic's int in lax mode), so that every count it accepted is still
// accepted:
//
//   - a JSON integer of any size;
//   - a JSON number with a fraction or exponent whose value is finite,
//     whole and strictly between -2^63 and 2^63 (3.0, 1e3, -0.0);
//   - true (1) and false (0);
//   - a string holding, after trimming Unicode white space, an optional
//     sign, ASCII digits with single underscores between them, and an
//     optional fraction of zeros ("3", " 3 ", "+3", "1_000", "3.00"); at
//     most 4300 significant digits, the sign '-' included.
//
// The value is informational (it is never compared with the number of
// documents), so integers outside the int64 range are clamped to
// math.MinInt64 or math.MaxInt64 rather than refused.

// countFromNumber converts a JSON number literal.
func countFromNumber(lit []byte, isFloat bool) (int64, string) {
	if !isFloat {
		v, err := strconv.ParseInt(string(lit), 10, 64)
		if err != nil { // out of range: the literal is a valid integer
			if lit[0] == '-' {
				return math.MinInt64, ""
			}
			return math.MaxInt64, ""
		}
		return v, ""
	}
	f, _ := strconv.ParseFloat(string(lit), 64)
	switch {
	case math.IsInf(f, 0):
		return 0, "must be a finite number"
	case f != math.Trunc(f):
		return 0, "must be an integer, not a number with a fraction"
	case f >= 1<<63 || f <= -(1<<63):
		return 0, "is out of range"
	}
	return int64(f), ""
}

// countFromString converts a string as pydantic's lax int does.
func countFromString(s string) (int64, bool) {
	s = strings.TrimFunc(s, unicode.IsSpace)
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	s, frac, dot := strings.Cut(s, ".")
	if dot && (frac == "" || strings.Trim(frac, "0") != "") {
		return 0, false
	}
	var v uint64
	big := false
	sig := 0 // significant digits
	under := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' {
			if under {
				return 0, false
			}
			under = true
			continue
		}
		if !isDigit(c) {
			return 0, false
		}
		under = false
		if sig == 0 && c == '0' {
			continue
		}
		sig++
		if v > (math.MaxUint64-9)/10 {
			big = true
		} else if !big {
			v = v*10 + uint64(c-'0')
		}
	}
	if under { // empty, or a trailing underscore
		return 0, false
	}
	if neg {
		sig++
	}
	if sig > maxIntPartChars {
		return 0, false
	}
	switch {
	case neg && (big || v > 1<<63):
		return math.MinInt64, true
	case neg:
		return -int64(v), true // v == 1<<63 wraps to MinInt64
	case big || v > math.MaxInt64:
		return math.MaxInt64, true
	}
	return int64(v), true
}
