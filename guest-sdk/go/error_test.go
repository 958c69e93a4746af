//go:build !wasip1

package oso

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/osohost/osohost/abi"
)

func TestCutUTF8(t *testing.T) {
	tests := []struct {
		name string
		s    string
		n    int
		want string
	}{
		{"shorter", "abc", 5, "abc"},
		{"exact", "abc", 3, "abc"},
		{"ASCII", "abcdef", 4, "abcd"},
		{"before a 2-byte rune", "abé", 3, "ab"},
		{"after a 2-byte rune", "abéc", 4, "abé"},
		{"inside a 4-byte rune", "a😀", 4, "a"},
		{"zero", "abc", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cutUTF8(tt.s, tt.n); got != tt.want {
				t.Errorf("cutUTF8(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
			}
		})
	}
}

func withSink(t *testing.T) *hostSink {
	t.Helper()
	s := &hostSink{}
	sink = s
	t.Cleanup(func() { sink = nil })
	return s
}

func TestFail(t *testing.T) {
	long := strings.Repeat("é", abi.MaxErrorMessageBytes) // 2 bytes per rune
	tests := []struct {
		name     string
		err      error
		wantCode int32 // 0: no error reported, logged instead
		wantMsg  string
	}{
		{"Error value", Error{Code: 503, Message: "queue full"}, 503, "queue full"},
		{"Error pointer", &Error{Code: 409, Message: "conflict"}, 409, "conflict"},
		{"Errorf", Errorf(400, "bad document %q", "x"), 400, `bad document "x"`},
		{"wrapped", fmt.Errorf("store: %w", Error{Code: 507, Message: "full"}), 507, "full"},
		{"out of range passes through", Error{Code: 999, Message: "m"}, 999, "m"},
		{"long message cut", Error{Code: 400, Message: long}, 400, long[:abi.MaxErrorMessageBytes]},
		{"other error", errors.New("disk /secret failed"), 0, ""},
		{"nil *Error", (*Error)(nil), 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := withSink(t)
			if got := fail("ToISV", tt.err); got == abi.ResultOK {
				t.Errorf("fail() = ResultOK")
			}
			if s.code != tt.wantCode || s.msg != tt.wantMsg {
				t.Errorf("reported (%d, %q), want (%d, %q)", s.code, s.msg, tt.wantCode, tt.wantMsg)
			}
			if tt.wantCode == 0 && len(s.logs) != 1 {
				t.Errorf("logs = %q, want one line", s.logs)
			}
		})
	}
}

func TestError_Error(t *testing.T) {
	if got := (Error{Code: 503, Message: "full"}).Error(); got != "oso: 503 full" {
		t.Errorf("Error() = %q", got)
	}
}
