package schema

import (
	"math"
	"testing"
)

// Expected texts are what CPython 3.11 prints for json.dumps(v).
func TestAppendPyFloat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		f    float64
		want string
	}{
		{0.0, "0.0"},
		{math.Copysign(0, -1), "-0.0"},
		{1.0, "1.0"},
		{-1.0, "-1.0"},
		{0.1, "0.1"},
		{0.5, "0.5"},
		{1.5, "1.5"},
		{100.0, "100.0"},
		{1e15, "1000000000000000.0"},
		{1e16, "1e+16"},
		{1.5e16, "1.5e+16"},
		{9007199254740993.0, "9007199254740992.0"},
		{123456789012345.67, "123456789012345.67"},
		{1234567890123456.7, "1234567890123456.8"},
		{12345678901234567.0, "1.2345678901234568e+16"},
		{0.0001, "0.0001"},
		{0.00012345, "0.00012345"},
		{0.00001, "1e-05"},
		{1.2345e-05, "1.2345e-05"},
		{1e-07, "1e-07"},
		{5e-324, "5e-324"},
		{2.2250738585072014e-308, "2.2250738585072014e-308"},
		{1.7976931348623157e308, "1.7976931348623157e+308"},
		{1e22, "1e+22"},
		{1e100, "1e+100"},
		{1e+300, "1e+300"},
		{3.141592653589793, "3.141592653589793"},
		{2.718281828459045, "2.718281828459045"},
		{-2.5e-10, "-2.5e-10"},
		{0.30000000000000004, "0.30000000000000004"},
		{1.0 / 3, "0.3333333333333333"},
		{2.0 / 3, "0.6666666666666666"},
		{math.Inf(1), "Infinity"},
		{math.Inf(-1), "-Infinity"},
	}
	for _, tt := range tests {
		if got := string(appendPyFloat(nil, tt.f)); got != tt.want {
			t.Errorf("appendPyFloat(%v) = %q, want %q", tt.f, got, tt.want)
		}
	}
}

func TestCountFromString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"-0", 0, true},
		{"+0", 0, true},
		{"00", 0, true},
		{"0_0", 0, true},
		{"42", 42, true},
		{" 42\t", 42, true},
		{"\u00854\u20282\u3000", 0, false}, // inner white space
		{"\u0085 42 \u3000", 42, true},
		{"-42.000", -42, true},
		{"9223372036854775807", math.MaxInt64, true},
		{"9223372036854775808", math.MaxInt64, true},
		{"-9223372036854775808", math.MinInt64, true},
		{"-9223372036854775809", math.MinInt64, true},
		{"18446744073709551616", math.MaxInt64, true},
		{"", 0, false},
		{"+", 0, false},
		{"-", 0, false},
		{"_", 0, false},
		{"1_", 0, false},
		{"+_1", 0, false},
		{"1__2", 0, false},
		{"1.", 0, false},
		{"1.5", 0, false},
		{"1.0_0", 0, false},
		{"1e3", 0, false},
		{"--1", 0, false},
		{"0x1", 0, false},
	}
	for _, tt := range tests {
		got, ok := countFromString(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("countFromString(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestSkipPlain(t *testing.T) {
	t.Parallel()
	// Every position of every byte value, in a run long enough for the
	// eight-byte path.
	for c := range 256 {
		for pos := range 24 {
			b := []byte("abcdefghijklmnopqrstuvwx")
			b[pos] = byte(c)
			want := len(b)
			if !plain[c] {
				want = pos
			}
			if got := skipPlain(b, 0); got != want {
				t.Fatalf("byte %#x at %d: skipPlain = %d, want %d", c, pos, got, want)
			}
			wantSafe := len(b)
			if !safe[c] {
				wantSafe = pos
			}
			if got := skipSafe(string(b), 0); got != wantSafe {
				t.Fatalf("byte %#x at %d: skipSafe = %d, want %d", c, pos, got, wantSafe)
			}
		}
	}
	// A second byte after the first stop, whatever it is, never moves it
	// (borrows and carries run upwards only).
	for c1 := range 256 {
		for c2 := range 256 {
			for pos1 := range 8 {
				for pos2 := pos1 + 1; pos2 < 16; pos2++ {
					b := []byte("abcdefghijklmnop")
					b[pos1], b[pos2] = byte(c1), byte(c2)
					want := pos1
					if plain[c1] {
						want = pos2
						if plain[c2] {
							want = len(b)
						}
					}
					if got := skipPlain(b, 0); got != want {
						t.Fatalf("bytes %#x at %d, %#x at %d: skipPlain = %d, want %d", c1, pos1, c2, pos2, got, want)
					}
					want = pos1
					if safe[c1] {
						want = pos2
						if safe[c2] {
							want = len(b)
						}
					}
					if got := skipSafe(string(b), 0); got != want {
						t.Fatalf("bytes %#x at %d, %#x at %d: skipSafe = %d, want %d", c1, pos1, c2, pos2, got, want)
					}
				}
			}
		}
	}
}
