package state_test

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/osohost/osohost/host/state"
)

// fuzzKeys are the keys the fuzzed operations use: few, so that they
// collide, with prefixes of each other.
var fuzzKeys = []string{"a", "ab", "b", "b/1", "b/2", "c", "\x00", "\xff"}

// FuzzTxn runs a random sequence of operations in three transactions — a
// committed base, a pending one whose call ended, and a reader on top —
// and checks every answer, and the final state, against a map.
func FuzzTxn(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5}, []byte{0x10, 0x21, 0x32}, []byte{0x40, 0x51, 0x62, 0x73, 0x84, 0x95, 0xa6, 0xb7})
	f.Add([]byte{0x00, 0x08, 0x10}, []byte{0x09, 0x1a, 0x03}, []byte{0x03, 0x0b, 0x13, 0x1b, 0x23, 0x2b})
	f.Add([]byte{}, []byte{0x33, 0x44}, []byte{0x07, 0x0f, 0x17, 0x1f, 0x27, 0x2f, 0x37})
	s, err := state.Open(filepath.Join(f.TempDir(), state.FileName), state.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	var seq atomic.Int64
	f.Fuzz(func(t *testing.T, base, pending, reader []byte) {
		if len(base)+len(pending)+len(reader) > 300 {
			return
		}
		ctx := context.Background()
		ns := namespace(t, s, fmt.Sprint("fuzz-", seq.Add(1)), state.Limits{})
		committed := map[string]string{}

		// apply runs ops on x and mirrors them on view (what x sees).
		apply := func(x *state.Txn, c context.Context, ops []byte, view map[string]string) {
			for i, b := range ops {
				k := fuzzKeys[int(b>>3)%len(fuzzKeys)]
				switch b & 7 {
				case 0, 1, 2: // put
					v := strings.Repeat(string(rune('a'+i%26)), int(b&3))
					if err := x.Put(c, k, []byte(v)); err != nil {
						t.Fatalf("Put(%q): %v", k, err)
					}
					view[k] = v
				case 3, 4: // delete
					existed, err := x.Delete(c, k)
					_, want := view[k]
					if err != nil || existed != want {
						t.Fatalf("Delete(%q) = %v, %v; want %v", k, existed, err, want)
					}
					delete(view, k)
				case 5: // get
					v, ok, err := x.Get(c, k)
					want, wantOK := view[k]
					if err != nil || ok != wantOK || string(v) != want {
						t.Fatalf("Get(%q) = %q %v %v; want %q %v", k, v, ok, err, want, wantOK)
					}
				default: // list
					prefix := k[:len(k)/2]
					after := ""
					if b&1 == 1 {
						after = k
					}
					var got []string
					if err := x.Keys(c, prefix, after, func(k string) bool { got = append(got, k); return true }); err != nil {
						t.Fatal(err)
					}
					var want []string
					for _, vk := range slices.Sorted(maps.Keys(view)) {
						if strings.HasPrefix(vk, prefix) && vk > after {
							want = append(want, vk)
						}
					}
					if !slices.Equal(got, want) {
						t.Fatalf("Keys(%q, %q) = %q, want %q", prefix, after, got, want)
					}
				}
			}
		}

		x0 := ns.Begin()
		apply(x0, ctx, base, committed)
		if err := x0.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		afterA := maps.Clone(committed)
		callA, end := context.WithCancel(ctx)
		a := ns.Begin()
		apply(a, callA, pending, afterA)
		end()
		view := maps.Clone(afterA)
		b := ns.Begin()
		apply(b, ctx, reader, view)
		if err := a.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if err := b.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		// The committed state is the reader's view.
		final := ns.BeginReadOnly()
		defer final.Rollback()
		var got []string
		final.Keys(ctx, "", "", func(k string) bool { got = append(got, k); return true })
		if want := slices.Sorted(maps.Keys(view)); !slices.Equal(got, want) {
			t.Fatalf("committed keys %q, want %q", got, want)
		}
		var u state.Usage
		for k, v := range view {
			got, ok, _ := final.Get(ctx, k)
			if !ok || string(got) != v {
				t.Fatalf("committed %q = %q %v, want %q", k, got, ok, v)
			}
			u.Keys++
			u.Bytes += int64(len(k) + len(v))
		}
		if ns.Usage() != u {
			t.Fatalf("usage %+v, want %+v", ns.Usage(), u)
		}
	})
}
