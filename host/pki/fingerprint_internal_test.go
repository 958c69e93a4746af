package pki

import (
	"bytes"
	"encoding/hex"
	"math/big"
	"testing"
)

func TestAppendMPInt(t *testing.T) {
	tests := []struct {
		name string
		n    *big.Int
		want string // hex
	}{
		{"zero", big.NewInt(0), "00000000"},
		{"one", big.NewInt(1), "0000000101"},
		{"high bit clear", big.NewInt(0x7f), "000000017f"},
		{"high bit set", big.NewInt(0x80), "000000020080"},
		{"rsa exponent", big.NewInt(65537), "00000003010001"},
		{"two bytes high bit", big.NewInt(0x8000), "00000003008000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := hex.EncodeToString(appendMPInt(nil, tt.n))
			if got != tt.want {
				t.Errorf("appendMPInt(%v) = %s, want %s", tt.n, got, tt.want)
			}
		})
	}
}

func TestAppendString(t *testing.T) {
	got := appendString([]byte{0xff}, []byte("ssh-rsa"))
	want := append([]byte{0xff, 0, 0, 0, 7}, "ssh-rsa"...)
	if !bytes.Equal(got, want) {
		t.Errorf("appendString = %x, want %x", got, want)
	}
}
