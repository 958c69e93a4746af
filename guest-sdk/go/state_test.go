//go:build !wasip1

package oso

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/osohost/osohost/abi"
)

// withKV gives a test an empty native state and fresh buffers.
func withKV(t *testing.T) {
	t.Helper()
	reset := func() {
		nativeKV.mu.Lock()
		nativeKV.m, nativeKV.keys, nativeKV.fault = nil, nil, 0
		nativeKV.mu.Unlock()
		kvs = kvState{}
	}
	reset()
	t.Cleanup(reset)
}

func list(t *testing.T, prefix string) []string {
	t.Helper()
	var out []string
	if err := KVList(prefix, func(k string) bool { out = append(out, k); return true }); err != nil {
		t.Fatalf("KVList(%q): %v", prefix, err)
	}
	return out
}

func TestKV(t *testing.T) {
	withKV(t)
	if v, ok, err := KVGet("a"); v != nil || ok || err != nil {
		t.Fatalf("KVGet absent = %q, %v, %v", v, ok, err)
	}
	big := bytes.Repeat([]byte("x"), 10000) // larger than the first buffer
	for k, v := range map[string][]byte{"a": []byte("1"), "b/2": big, "b/1": nil, "c": []byte("3")} {
		if err := KVPut(k, v); err != nil {
			t.Fatalf("KVPut(%q): %v", k, err)
		}
	}
	if v, ok, err := KVGet("b/2"); !ok || err != nil || !bytes.Equal(v, big) {
		t.Fatalf("KVGet big: %d bytes, %v, %v", len(v), ok, err)
	}
	v, ok, err := KVGet("a")
	if !ok || err != nil || string(v) != "1" {
		t.Fatalf("KVGet a = %q, %v, %v", v, ok, err)
	}
	v[0] = 'z' // the caller owns it
	if again, _, _ := KVGet("a"); string(again) != "1" {
		t.Fatal("KVGet returned a shared buffer")
	}
	if v, ok, err := KVGet("b/1"); !ok || err != nil || len(v) != 0 {
		t.Fatalf("KVGet empty value = %q, %v, %v", v, ok, err)
	}
	if got := list(t, "b/"); !slices.Equal(got, []string{"b/1", "b/2"}) {
		t.Fatalf("KVList(b/) = %q", got)
	}
	if got := list(t, ""); !slices.Equal(got, []string{"a", "b/1", "b/2", "c"}) {
		t.Fatalf("KVList() = %q", got)
	}
	if existed, err := KVDelete("a"); !existed || err != nil {
		t.Fatalf("KVDelete(a) = %v, %v", existed, err)
	}
	if existed, err := KVDelete("a"); existed || err != nil {
		t.Fatalf("KVDelete(a) again = %v, %v", existed, err)
	}
	// fn stops the listing.
	n := 0
	KVList("", func(string) bool { n++; return false })
	if n != 1 {
		t.Fatalf("fn called %d times after returning false", n)
	}
}

// TestKVList_Pages: many keys cross several pages, and fn may delete the
// key it is given.
func TestKVList_Pages(t *testing.T) {
	withKV(t)
	var want []string
	for i := range 2000 {
		k := fmt.Sprintf("doc/%06d/%s", i, strings.Repeat("k", 40))
		want = append(want, k)
		if err := KVPut(k, nil); err != nil {
			t.Fatal(err)
		}
	}
	KVPut("other", nil)
	var got []string
	err := KVList("doc/", func(k string) bool {
		got = append(got, k)
		if _, err := KVDelete(k); err != nil {
			t.Fatal(err)
		}
		return true
	})
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("KVList: %d keys, %v", len(got), err)
	}
	if rest := list(t, ""); !slices.Equal(rest, []string{"other"}) {
		t.Fatalf("left %q", rest)
	}
	// The largest key fits the first buffer: a page always holds one.
	long := strings.Repeat("y", abi.MaxKVKeyBytes)
	KVPut(long, nil)
	if got := list(t, "y"); !slices.Equal(got, []string{long}) {
		t.Fatalf("long key: %d keys", len(got))
	}
}

func TestKV_Errors(t *testing.T) {
	tests := []struct {
		name   string
		fault  int32
		call   func() error
		target error
	}{
		{"empty key", 0, func() error { return KVPut("", nil) }, ErrBadArgument},
		{"key too large", 0, func() error { return KVPut(strings.Repeat("k", abi.MaxKVKeyBytes+1), nil) }, ErrTooLarge},
		{"value too large", 0, func() error { return KVPut("k", make([]byte, abi.MaxKVValueBytes+1)) }, ErrTooLarge},
		{"get key too large", 0, func() error { _, _, err := KVGet(strings.Repeat("k", abi.MaxKVKeyBytes+1)); return err }, ErrTooLarge},
		{"quota", int32(abi.StatusLimited), func() error { return KVPut("k", nil) }, ErrLimited},
		{"no state", int32(abi.StatusNotAllowed), func() error { _, _, err := KVGet("k"); return err }, ErrNotAllowed},
		{"storage", int32(abi.StatusUnavailable), func() error { _, err := KVDelete("k"); return err }, ErrUnavailable},
		{"list", int32(abi.StatusUnavailable), func() error { return KVList("", func(string) bool { return true }) }, ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			withKV(t)
			nativeKV.fault = tt.fault
			err := tt.call()
			if !errors.Is(err, tt.target) {
				t.Fatalf("err = %v, want %v", err, tt.target)
			}
			var he *HostError
			if !errors.As(err, &he) || he.Status >= 0 || !strings.HasPrefix(he.Func, "kv_") {
				t.Fatalf("err = %#v is not a *HostError of a kv function", err)
			}
			if errors.Is(err, ErrLimited) != (tt.target == ErrLimited) {
				t.Fatalf("err = %v matches ErrLimited wrongly", err)
			}
			if !strings.Contains(err.Error(), he.Func) {
				t.Fatalf("message %q does not name %s", err, he.Func)
			}
		})
	}
}

// TestKVGet_HostAnswer: a host answering nonsense is an error, not a
// panic or a huge allocation.
func TestKVGet_HostAnswer(t *testing.T) {
	withKV(t)
	nativeKV.fault = abi.MaxKVValueBytes + 1
	if _, _, err := KVGet("k"); !errors.Is(err, errHostAnswer) {
		t.Fatalf("KVGet = %v", err)
	}
	nativeKV.fault = 8 // a KeyList claiming more than it holds
	if err := KVList("", func(string) bool { return true }); !errors.Is(err, errHostAnswer) {
		t.Fatalf("KVList = %v", err)
	}
}
