package schema

import (
	"encoding/binary"
	"math/bits"
)

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// skipPlain returns the index of the first byte at or after i that is not
// [plain], or len(b). It tests eight bytes at a time: a lane's high bit is
// set when its byte is below 0x20, '"', '\\', or 0x7f and above. Borrows
// and carries start only in a lane that is itself not plain and move
// upwards, so a block without such a byte reports none, and the lowest
// lane reported is the first such byte.
func skipPlain(b []byte, i int) int {
	for i+8 <= len(b) {
		x := binary.LittleEndian.Uint64(b[i:])
		m := ((x - 0x20*ones) | ((x ^ '"'*ones) - ones) | ((x ^ '\\'*ones) - ones) | (x + ones) | x) & highs
		if m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	for i < len(b) && plain[b[i]] {
		i++
	}
	return i
}

// skipSafe is skipPlain for output strings: it stops at the bytes
// [appendJSONString] must look at (below 0x20, '"', '\\', 0x80 and above).
func skipSafe(s string, i int) int {
	for i+8 <= len(s) {
		w := s[i : i+8] // one bounds check; the compiler merges the loads
		x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
			uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
		m := ((x - 0x20*ones) | ((x ^ '"'*ones) - ones) | ((x ^ '\\'*ones) - ones) | x) & highs
		if m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	for i < len(s) && safe[s[i]] {
		i++
	}
	return i
}

// safe marks the bytes an output JSON string holds unchanged without a
// closer look.
var safe = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()
