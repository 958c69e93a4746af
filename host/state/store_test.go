package state_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/host/state"
)

// open opens a store on path and closes it when the test ends.
func open(t testing.TB, path string, opts state.Options) *state.Store {
	t.Helper()
	s, err := state.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func namespace(t testing.TB, s *state.Store, name string, lim state.Limits) *state.Namespace {
	t.Helper()
	ns, err := s.Namespace(context.Background(), name, lim)
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

func newNS(t testing.TB, lim state.Limits) (*state.Store, *state.Namespace, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state", state.FileName)
	s := open(t, path, state.Options{})
	return s, namespace(t, s, "plugin", lim), path
}

func mustPut(t testing.TB, ctx context.Context, txn *state.Txn, k, v string) {
	t.Helper()
	if err := txn.Put(ctx, k, []byte(v)); err != nil {
		t.Fatalf("Put(%q): %v", k, err)
	}
}

func mustCommit(t testing.TB, ctx context.Context, txn *state.Txn) {
	t.Helper()
	if err := txn.Commit(ctx); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

// get reads k in a fresh transaction: "" with ok false when absent.
func get(t testing.TB, ns *state.Namespace, k string) (string, bool) {
	t.Helper()
	txn := ns.Begin()
	defer txn.Rollback()
	v, ok, err := txn.Get(t.Context(), k)
	if err != nil {
		t.Fatalf("Get(%q): %v", k, err)
	}
	return string(v), ok
}

// keys lists the keys with prefix after after.
func keys(t testing.TB, ctx context.Context, txn *state.Txn, prefix, after string) []string {
	t.Helper()
	var out []string
	if err := txn.Keys(ctx, prefix, after, func(k string) bool { out = append(out, k); return true }); err != nil {
		t.Fatalf("Keys: %v", err)
	}
	return out
}

// put commits one key in its own transaction.
func put(t testing.TB, ns *state.Namespace, k, v string) {
	t.Helper()
	txn := ns.Begin()
	mustPut(t, t.Context(), txn, k, v)
	mustCommit(t, t.Context(), txn)
}

func TestTxn_CommitRollback(t *testing.T) {
	ctx := t.Context()
	s, ns, path := newNS(t, state.Limits{})

	txn := ns.Begin()
	mustPut(t, ctx, txn, "a", "1")
	mustPut(t, ctx, txn, "b", "2")
	if v, ok, err := txn.Get(ctx, "a"); err != nil || !ok || string(v) != "1" {
		t.Fatalf("own write: %q %v %v", v, ok, err)
	}
	if _, ok := get(t, ns, "a"); ok {
		t.Fatal("an uncommitted write is visible to another transaction")
	}
	txn.Rollback()
	txn.Rollback() // twice: no effect
	if err := txn.Commit(ctx); !errors.Is(err, state.ErrDone) {
		t.Fatalf("Commit after Rollback: %v", err)
	}
	if err := txn.Put(ctx, "c", nil); !errors.Is(err, state.ErrDone) {
		t.Fatalf("Put after Rollback: %v", err)
	}
	if _, ok := get(t, ns, "a"); ok {
		t.Fatal("rolled-back write is visible")
	}
	if u := ns.Usage(); u != (state.Usage{}) {
		t.Fatalf("usage after rollback: %+v", u)
	}

	txn = ns.Begin()
	mustPut(t, ctx, txn, "a", "1")
	mustPut(t, ctx, txn, "b", "2")
	mustPut(t, ctx, txn, "e", "")
	mustCommit(t, ctx, txn)
	txn.Rollback() // after Commit: no effect
	if v, ok := get(t, ns, "a"); !ok || v != "1" {
		t.Fatalf("committed a = %q %v", v, ok)
	}
	if v, ok := get(t, ns, "e"); !ok || v != "" {
		t.Fatalf("empty value = %q %v", v, ok)
	}
	if u := ns.Usage(); u != (state.Usage{Keys: 3, Bytes: 5}) {
		t.Fatalf("usage %+v", u)
	}

	// Durable: the file holds it after a close and a reopen.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, path, state.Options{})
	ns2 := namespace(t, s2, "plugin", state.Limits{})
	if v, ok := get(t, ns2, "b"); !ok || v != "2" {
		t.Fatalf("after reopen b = %q %v", v, ok)
	}
	if u := ns2.Usage(); u != (state.Usage{Keys: 3, Bytes: 5}) {
		t.Fatalf("usage after reopen %+v", u)
	}
	// Namespaces are separate.
	other := namespace(t, s2, "other", state.Limits{})
	if _, ok := get(t, other, "a"); ok {
		t.Fatal("a key leaked into another namespace")
	}
}

func TestTxn_Operations(t *testing.T) {
	ctx := t.Context()
	_, ns, _ := newNS(t, state.Limits{})
	for _, k := range []string{"q/1", "q/2", "q/3", "r/1", "q"} {
		put(t, ns, k, "v"+k)
	}
	txn := ns.Begin()
	defer txn.Rollback()
	if existed, err := txn.Delete(ctx, "q/2"); err != nil || !existed {
		t.Fatalf("Delete existing: %v %v", existed, err)
	}
	if existed, err := txn.Delete(ctx, "q/2"); err != nil || existed {
		t.Fatalf("Delete twice: %v %v", existed, err)
	}
	if existed, err := txn.Delete(ctx, "nope"); err != nil || existed {
		t.Fatalf("Delete absent: %v %v", existed, err)
	}
	mustPut(t, ctx, txn, "q/0", "new")
	mustPut(t, ctx, txn, "q/4", "new")
	mustPut(t, ctx, txn, "q/1", "changed")
	if _, ok, _ := txn.Get(ctx, "q/2"); ok {
		t.Fatal("deleted key still read")
	}
	tests := []struct {
		prefix, after string
		want          []string
	}{
		{"q/", "", []string{"q/0", "q/1", "q/3", "q/4"}},
		{"q/", "q/1", []string{"q/3", "q/4"}},
		{"q/", "q/2", []string{"q/3", "q/4"}},
		{"q/", "q/4", nil},
		{"", "", []string{"q", "q/0", "q/1", "q/3", "q/4", "r/1"}},
		{"", "q/3", []string{"q/4", "r/1"}},
		{"q/", "a", []string{"q/0", "q/1", "q/3", "q/4"}},
		{"q/", "z", nil},
		{"s", "", nil},
	}
	for _, tt := range tests {
		if got := keys(t, ctx, txn, tt.prefix, tt.after); !slices.Equal(got, tt.want) {
			t.Errorf("Keys(%q, %q) = %q, want %q", tt.prefix, tt.after, got, tt.want)
		}
	}
	// fn stops the listing.
	var got []string
	txn.Keys(ctx, "", "", func(k string) bool { got = append(got, k); return len(got) < 2 })
	if !slices.Equal(got, []string{"q", "q/0"}) {
		t.Errorf("stopped listing = %q", got)
	}
	// Delete of an own write, then a put again.
	mustPut(t, ctx, txn, "x", "1")
	if existed, _ := txn.Delete(ctx, "x"); !existed {
		t.Fatal("own write not deleted")
	}
	mustPut(t, ctx, txn, "x", "22")
	mustCommit(t, ctx, txn)
	after := ns.Begin()
	defer after.Rollback()
	if got := keys(t, ctx, after, "", ""); !slices.Equal(got, []string{"q", "q/0", "q/1", "q/3", "q/4", "r/1", "x"}) {
		t.Fatalf("committed keys %q", got)
	}
	want := state.Usage{Keys: 7}
	for _, k := range []string{"q", "q/0", "q/1", "q/3", "q/4", "r/1", "x"} {
		v, _, _ := after.Get(ctx, k)
		want.Bytes += int64(len(k) + len(v))
	}
	if u := ns.Usage(); u != want {
		t.Fatalf("usage %+v, want %+v", u, want)
	}
}

func TestTxn_Errors(t *testing.T) {
	ctx := t.Context()
	lim := state.Limits{MaxKeys: 5, MaxBytes: 200, MaxKeyBytes: 8, MaxValueBytes: 16, MaxTxnWrites: 3, MaxTxnBytes: 40, MaxTxnReads: 4}
	tests := []struct {
		name     string
		run      func(*state.Txn) error
		tooLarge bool   // a *LimitError with TooLarge
		limited  string // a *LimitError of this What
		err      error  // else this sentinel
	}{
		{"empty key", func(x *state.Txn) error { return x.Put(ctx, "", nil) }, false, "", state.ErrEmptyKey},
		{"empty key get", func(x *state.Txn) error { _, _, err := x.Get(ctx, ""); return err }, false, "", state.ErrEmptyKey},
		{"key too large", func(x *state.Txn) error { return x.Put(ctx, "123456789", nil) }, true, "", nil},
		{"key too large get", func(x *state.Txn) error { _, _, err := x.Get(ctx, "123456789"); return err }, true, "", nil},
		{"key too large delete", func(x *state.Txn) error { _, err := x.Delete(ctx, "123456789"); return err }, true, "", nil},
		{"prefix too large", func(x *state.Txn) error { return x.Keys(ctx, "123456789", "", func(string) bool { return true }) }, true, "", nil},
		{"value too large", func(x *state.Txn) error { return x.Put(ctx, "k", make([]byte, 17)) }, true, "", nil},
		{"writes per transaction", func(x *state.Txn) error {
			for i := range 4 {
				if err := x.Put(ctx, fmt.Sprint("k", i), nil); err != nil {
					return err
				}
			}
			return nil
		}, false, "writes per transaction", nil},
		{"bytes per transaction", func(x *state.Txn) error {
			for i := range 3 {
				if err := x.Put(ctx, fmt.Sprint("k", i), make([]byte, 15)); err != nil {
					return err
				}
			}
			return nil
		}, false, "bytes per transaction", nil},
		{"reads per transaction", func(x *state.Txn) error {
			for i := range 5 {
				if _, _, err := x.Get(ctx, fmt.Sprint("r", i)); err != nil {
					return err
				}
			}
			return nil
		}, false, "reads per transaction", nil},
		{"namespace keys", func(x *state.Txn) error {
			for _, k := range []string{"k4", "k5"} { // 4 committed
				if err := x.Put(ctx, k, nil); err != nil {
					return err
				}
			}
			return nil
		}, false, "keys", nil},
		{"namespace bytes", func(x *state.Txn) error { return x.Put(ctx, "k9", make([]byte, 16)) }, false, "", nil}, // 66+18 > 80 (below)
		{"cancelled context", func(x *state.Txn) error {
			c, cancel := context.WithCancel(ctx)
			cancel()
			return x.Put(c, "k", nil)
		}, false, "", context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ns, _ := newNS(t, lim)
			for i := range 4 {
				put(t, ns, fmt.Sprint("k", i), strings.Repeat("x", 14+i%2))
			} // 4 keys, 2×16 + 2×17 = 66 bytes
			if tt.name == "namespace bytes" {
				l := lim
				l.MaxBytes = 80
				ns = namespace(t, s, "plugin", l)
			}
			before := ns.Usage()
			x := ns.Begin()
			defer x.Rollback()
			err := tt.run(x)
			var le *state.LimitError
			switch {
			case tt.tooLarge:
				if !errors.As(err, &le) || !le.TooLarge {
					t.Fatalf("err = %v, want a TooLarge *LimitError", err)
				}
			case tt.limited != "":
				if !errors.As(err, &le) || le.TooLarge || le.What != tt.limited {
					t.Fatalf("err = %v, want a %q *LimitError", err, tt.limited)
				}
			case tt.err != nil:
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
			default:
				if !errors.As(err, &le) || le.TooLarge {
					t.Fatalf("err = %v, want a quota *LimitError", err)
				}
			}
			x.Rollback()
			if u := ns.Usage(); u != before {
				t.Fatalf("usage changed to %+v", u)
			}
		})
	}
}

// TestTxn_QuotaShrink: a namespace over its quota (after the quota was
// lowered) may still shrink.
func TestTxn_QuotaShrink(t *testing.T) {
	ctx := t.Context()
	s, ns, _ := newNS(t, state.Limits{})
	for i := range 5 {
		put(t, ns, fmt.Sprint(i), "v")
	}
	ns = namespace(t, s, "plugin", state.Limits{MaxKeys: 2})
	x := ns.Begin()
	if _, err := x.Delete(ctx, "0"); err != nil {
		t.Fatal(err)
	}
	mustPut(t, ctx, x, "1", "replaced")
	mustCommit(t, ctx, x)
	x = ns.Begin()
	defer x.Rollback()
	var le *state.LimitError
	if err := x.Put(ctx, "new", nil); !errors.As(err, &le) || le.What != "keys" {
		t.Fatalf("growing an over-quota namespace: %v", err)
	}
}

func TestTxn_ReadOnly(t *testing.T) {
	ctx := t.Context()
	_, ns, _ := newNS(t, state.Limits{})
	put(t, ns, "k", "1")
	ro := ns.BeginReadOnly()
	if err := ro.Put(ctx, "k", nil); !errors.Is(err, state.ErrReadOnly) {
		t.Fatalf("Put: %v", err)
	}
	if _, err := ro.Delete(ctx, "k"); !errors.Is(err, state.ErrReadOnly) {
		t.Fatalf("Delete: %v", err)
	}
	if v, ok, err := ro.Get(ctx, "k"); err != nil || !ok || string(v) != "1" {
		t.Fatalf("Get: %q %v %v", v, ok, err)
	}
	mustCommit(t, ctx, ro)

	// A read-only transaction whose reads went stale fails to commit.
	ro = ns.BeginReadOnly()
	ro.Get(ctx, "k")
	put(t, ns, "k", "2")
	if err := ro.Commit(ctx); !errors.Is(err, state.ErrConflict) {
		t.Fatalf("stale read-only Commit: %v", err)
	}
}

func TestTxn_Conflicts(t *testing.T) {
	ctx := t.Context()
	t.Run("read then changed", func(t *testing.T) {
		_, ns, _ := newNS(t, state.Limits{})
		put(t, ns, "n", "1")
		a := ns.Begin()
		v, _, _ := a.Get(ctx, "n")
		put(t, ns, "n", "other")
		mustPut(t, ctx, a, "n", string(v)+"+1")
		if err := a.Commit(ctx); !errors.Is(err, state.ErrConflict) {
			t.Fatalf("Commit: %v", err)
		}
		if v, _ := get(t, ns, "n"); v != "other" {
			t.Fatalf("n = %q", v)
		}
	})
	t.Run("absent then created", func(t *testing.T) {
		_, ns, _ := newNS(t, state.Limits{})
		a := ns.Begin()
		if _, ok, _ := a.Get(ctx, "n"); ok {
			t.Fatal("exists")
		}
		put(t, ns, "n", "x")
		mustPut(t, ctx, a, "m", "y")
		if err := a.Commit(ctx); !errors.Is(err, state.ErrConflict) {
			t.Fatalf("Commit: %v", err)
		}
		if _, ok := get(t, ns, "m"); ok {
			t.Fatal("a conflicting transaction wrote")
		}
	})
	t.Run("deleted twice", func(t *testing.T) {
		_, ns, _ := newNS(t, state.Limits{})
		put(t, ns, "d", "x")
		a, b := ns.Begin(), ns.Begin()
		if ok, _ := a.Delete(ctx, "d"); !ok {
			t.Fatal("a: absent")
		}
		if ok, _ := b.Delete(ctx, "d"); !ok {
			t.Fatal("b: absent")
		}
		mustCommit(t, ctx, a)
		if err := b.Commit(ctx); !errors.Is(err, state.ErrConflict) {
			t.Fatalf("second delete: %v", err)
		}
	})
	t.Run("blind writes: last commit wins", func(t *testing.T) {
		_, ns, _ := newNS(t, state.Limits{})
		a, b := ns.Begin(), ns.Begin()
		mustPut(t, ctx, a, "w", "a")
		mustPut(t, ctx, b, "w", "b")
		mustCommit(t, ctx, b)
		mustCommit(t, ctx, a)
		if v, _ := get(t, ns, "w"); v != "a" {
			t.Fatalf("w = %q", v)
		}
	})
	t.Run("read twice, two answers", func(t *testing.T) {
		_, ns, _ := newNS(t, state.Limits{})
		a := ns.Begin()
		a.Get(ctx, "k")
		put(t, ns, "k", "x")
		if v, ok, _ := a.Get(ctx, "k"); !ok || string(v) != "x" {
			t.Fatalf("second read %q %v", v, ok)
		}
		mustPut(t, ctx, a, "z", "")
		if err := a.Commit(ctx); !errors.Is(err, state.ErrConflict) {
			t.Fatalf("Commit: %v", err)
		}
	})
}

// call is the context of one export call: cancelled when the call ends,
// as the plugin runtime does.
func call(t testing.TB) (context.Context, context.CancelFunc) {
	return context.WithCancel(t.Context())
}

// TestTxn_Pending: the next call reads what the previous call wrote
// before it committed, and commits after it.
func TestTxn_Pending(t *testing.T) {
	ctx := t.Context()
	t.Run("chain commits in order", func(t *testing.T) {
		_, ns, _ := newNS(t, state.Limits{})
		put(t, ns, "n", "0")
		var txns []*state.Txn
		for i := 1; i <= 5; i++ {
			c, end := call(t)
			x := ns.Begin()
			v, _, err := x.Get(c, "n")
			if err != nil || string(v) != fmt.Sprint(i-1) {
				t.Fatalf("call %d read n = %q, %v", i, v, err)
			}
			mustPut(t, c, x, "n", fmt.Sprint(i))
			mustPut(t, c, x, fmt.Sprint("item/", i), "x")
			end() // the call returned; its commit comes later
			if err := x.Put(c, "late", nil); !errors.Is(err, state.ErrDone) && !errors.Is(err, context.Canceled) {
				t.Fatalf("write after the call ended: %v", err)
			}
			txns = append(txns, x)
		}
		// Commit in reverse order, concurrently: each waits for the one it
		// read from.
		var wg sync.WaitGroup
		errs := make([]error, len(txns))
		for i := len(txns) - 1; i >= 0; i-- {
			wg.Go(func() { errs[i] = txns[i].Commit(ctx) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("commit %d: %v", i+1, err)
			}
		}
		if v, _ := get(t, ns, "n"); v != "5" {
			t.Fatalf("n = %q, want 5", v)
		}
		x := ns.Begin()
		defer x.Rollback()
		if got := keys(t, ctx, x, "item/", ""); len(got) != 5 {
			t.Fatalf("items %q", got)
		}
	})
	t.Run("rolled back source", func(t *testing.T) {
		_, ns, _ := newNS(t, state.Limits{})
		c, end := call(t)
		a := ns.Begin()
		mustPut(t, c, a, "k", "from a")
		end()
		b := ns.Begin()
		if v, ok, _ := b.Get(ctx, "k"); !ok || string(v) != "from a" {
			t.Fatalf("pending write not read: %q %v", v, ok)
		}
		mustPut(t, ctx, b, "j", "")
		a.Rollback()
		if err := b.Commit(ctx); !errors.Is(err, state.ErrConflict) {
			t.Fatalf("Commit after the source rolled back: %v", err)
		}
		if _, ok := get(t, ns, "j"); ok {
			t.Fatal("dependent transaction committed")
		}
	})
	t.Run("listing sees pending keys", func(t *testing.T) {
		_, ns, _ := newNS(t, state.Limits{})
		put(t, ns, "q/1", "")
		put(t, ns, "q/2", "")
		c, end := call(t)
		a := ns.Begin()
		mustPut(t, c, a, "q/3", "")
		if _, err := a.Delete(c, "q/1"); err != nil {
			t.Fatal(err)
		}
		// Not visible while a's call runs.
		b := ns.Begin()
		if got := keys(t, ctx, b, "q/", ""); !slices.Equal(got, []string{"q/1", "q/2"}) {
			t.Fatalf("during the call: %q", got)
		}
		b.Rollback()
		end()
		b = ns.Begin()
		if got := keys(t, ctx, b, "q/", ""); !slices.Equal(got, []string{"q/2", "q/3"}) {
			t.Fatalf("after the call: %q", got)
		}
		mustPut(t, ctx, b, "seen", "")
		mustCommit(t, ctx, a)
		mustCommit(t, ctx, b)
	})
	t.Run("read again after the source committed", func(t *testing.T) {
		_, ns, _ := newNS(t, state.Limits{})
		put(t, ns, "gone", "x")
		c, end := call(t)
		a := ns.Begin()
		mustPut(t, c, a, "k", "v")
		if _, err := a.Delete(c, "gone"); err != nil {
			t.Fatal(err)
		}
		end()
		b := ns.Begin()
		b.Get(ctx, "k")
		b.Get(ctx, "gone")
		mustCommit(t, ctx, a)
		if v, ok, _ := b.Get(ctx, "k"); !ok || string(v) != "v" {
			t.Fatalf("k = %q %v", v, ok)
		}
		if _, ok, _ := b.Get(ctx, "gone"); ok {
			t.Fatal("gone is back")
		}
		mustPut(t, ctx, b, "j", "")
		mustCommit(t, ctx, b) // the same writes were read twice: no conflict
	})
	t.Run("read-only waits for its source", func(t *testing.T) {
		_, ns, _ := newNS(t, state.Limits{})
		c, end := call(t)
		a := ns.Begin()
		mustPut(t, c, a, "k", "v")
		end()
		ro := ns.BeginReadOnly()
		if _, ok, _ := ro.Get(ctx, "k"); !ok {
			t.Fatal("pending write not read")
		}
		done := make(chan error, 1)
		go func() { done <- ro.Commit(ctx) }()
		mustCommit(t, ctx, a)
		if err := <-done; err != nil {
			t.Fatalf("read-only Commit: %v", err)
		}
	})
}

// gate wraps the real bbolt backend and holds Apply until released, so
// that tests can queue commits behind a batch being written.
type gate struct {
	*state.Bolt
	entered chan struct{}
	release chan struct{}
	mu      sync.Mutex
	sets    []int // change sets per Apply
}

func (g *gate) Apply(ctx context.Context, sets []*state.ChangeSet) error {
	g.mu.Lock()
	g.sets = append(g.sets, len(sets))
	g.mu.Unlock()
	g.entered <- struct{}{}
	<-g.release
	return g.Bolt.Apply(ctx, sets)
}

func newGated(t testing.TB) (*state.Store, *gate, *state.Namespace) {
	t.Helper()
	b, err := state.OpenBolt(filepath.Join(t.TempDir(), state.FileName), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{Bolt: b, entered: make(chan struct{}, 16), release: make(chan struct{})}
	s := state.New(g, state.Options{})
	t.Cleanup(func() {
		close(g.release)
		s.Close()
	})
	return s, g, namespace(t, s, "plugin", state.Limits{MaxKeys: 4})
}

// waitQueued waits until n commits are queued behind the running batch.
func waitQueued(t testing.TB, s *state.Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().Queued < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d commits queued, want %d", s.Stats().Queued, n)
		}
		runtime.Gosched()
	}
}

// TestStore_GroupCommit: commits queued while a batch is written go to the
// disk together, and one failing its checks does not fail the others.
func TestStore_GroupCommit(t *testing.T) {
	ctx := t.Context()
	s, g, ns := newGated(t)
	put := func(k string) *state.Txn {
		x := ns.Begin()
		mustPut(t, ctx, x, k, "v")
		return x
	}
	first := put("first")
	res := make(chan error, 8)
	go func() { res <- first.Commit(ctx) }()
	<-g.entered // the first batch is being written

	// Two transactions that each fit the quota of 4 keys alone, but not
	// together; a conflicting pair; an independent one.
	over1, over2 := put("a1"), put("a2")
	mustPut(t, ctx, over1, "b1", "v")
	mustPut(t, ctx, over2, "b2", "v")
	c1, c2 := ns.Begin(), ns.Begin()
	for _, c := range []*state.Txn{c1, c2} {
		c.Get(ctx, "shared")
		mustPut(t, ctx, c, "shared", "x")
	}
	queued := []*state.Txn{over1, over2, c1, c2}
	results := make([]error, len(queued))
	var wg sync.WaitGroup
	for i, x := range queued {
		wg.Go(func() { results[i] = x.Commit(ctx) })
		waitQueued(t, s, i+1) // keep the order
	}
	g.release <- struct{}{} // first batch
	if err := <-res; err != nil {
		t.Fatal(err)
	}
	<-g.entered
	g.release <- struct{}{} // second batch: all four
	wg.Wait()
	if g.sets[1] != 4 {
		t.Fatalf("second batch had %d change sets, want 4", g.sets[1])
	}
	var le *state.LimitError
	if results[0] != nil || !errors.As(results[1], &le) || le.What != "keys" {
		t.Fatalf("quota pair: %v, %v", results[0], results[1])
	}
	if results[2] != nil || !errors.Is(results[3], state.ErrConflict) {
		t.Fatalf("conflicting pair: %v, %v", results[2], results[3])
	}
	if st := s.Stats(); st.Batches != 2 || st.Commits != 3 || st.Conflicts != 1 || st.Limited != 1 {
		t.Fatalf("stats %+v", st)
	}
	if _, ok := get(t, ns, "a2"); ok {
		t.Fatal("a refused change set was applied")
	}
	if u := ns.Usage(); u.Keys != 4 {
		t.Fatalf("usage %+v", u)
	}
}

// TestStore_GroupCommit_Dependent: a transaction that read a pending one
// commits in the same batch, after it.
func TestStore_GroupCommit_Dependent(t *testing.T) {
	ctx := t.Context()
	s, g, ns := newGated(t)
	blocker := ns.Begin()
	mustPut(t, ctx, blocker, "blocker", "")
	go blocker.Commit(ctx)
	<-g.entered

	c, end := call(t)
	a := ns.Begin()
	mustPut(t, c, a, "n", "1")
	end()
	b := ns.Begin()
	if v, _, _ := b.Get(ctx, "n"); string(v) != "1" {
		t.Fatalf("b read %q", v)
	}
	mustPut(t, ctx, b, "n", "2")
	errs := make(chan error, 2)
	go func() { errs <- b.Commit(ctx) }() // waits for a to queue
	go func() { errs <- a.Commit(ctx) }()
	waitQueued(t, s, 2)
	g.release <- struct{}{}
	<-g.entered
	g.release <- struct{}{}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if g.sets[1] != 2 {
		t.Fatalf("second batch had %d change sets", g.sets[1])
	}
	if v, _ := get(t, ns, "n"); v != "2" {
		t.Fatalf("n = %q", v)
	}
}

// TestTxn_Commit_Cancelled: a commit whose context ends while it waits in
// the queue is withdrawn and applies nothing.
func TestTxn_Commit_Cancelled(t *testing.T) {
	s, g, ns := newGated(t)
	ctx := t.Context()
	blocker := ns.Begin()
	mustPut(t, ctx, blocker, "blocker", "")
	go blocker.Commit(ctx)
	<-g.entered
	x := ns.Begin()
	mustPut(t, ctx, x, "k", "v")
	c, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- x.Commit(c) }()
	waitQueued(t, s, 1)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Commit: %v", err)
	}
	g.release <- struct{}{}
	if _, ok := get(t, ns, "k"); ok {
		t.Fatal("a withdrawn commit was applied")
	}
}

// TestStore_Concurrent hammers one namespace from many goroutines: unique
// keys and read-modify-write counters, with retries on conflict.
func TestStore_Concurrent(t *testing.T) {
	ctx := t.Context()
	s, ns, path := newNS(t, state.Limits{})
	const workers, each = 16, 40
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				for attempt := 0; ; attempt++ {
					x := ns.Begin()
					c, _, _ := x.Get(ctx, "counter")
					n := 0
					fmt.Sscan(string(c), &n)
					mustPut(t, ctx, x, "counter", fmt.Sprint(n+1))
					mustPut(t, ctx, x, fmt.Sprintf("w%02d/%03d", w, i), "x")
					err := x.Commit(ctx)
					if err == nil {
						break
					}
					if !errors.Is(err, state.ErrConflict) || attempt > 1000 {
						t.Errorf("commit: %v", err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if v, _ := get(t, ns, "counter"); v != fmt.Sprint(workers*each) {
		t.Fatalf("counter = %s, want %d", v, workers*each)
	}
	st := s.Stats()
	t.Logf("%d commits in %d batches, %d conflicts", st.Commits, st.Batches, st.Conflicts)
	if st.Commits != workers*each || st.Batches > st.Commits {
		t.Fatalf("stats %+v", st)
	}
	s.Close()
	s2 := open(t, path, state.Options{}) // the full check passes
	ns2 := namespace(t, s2, "plugin", state.Limits{})
	if u := ns2.Usage(); u.Keys != workers*each+1 {
		t.Fatalf("usage %+v", u)
	}
}

func TestStore_Closed(t *testing.T) {
	ctx := t.Context()
	s, ns, _ := newNS(t, state.Limits{})
	x := ns.Begin()
	mustPut(t, ctx, x, "k", "v")
	s.Close()
	if err := x.Commit(ctx); !errors.Is(err, state.ErrClosed) {
		t.Fatalf("Commit: %v", err)
	}
	if _, err := s.Namespace(ctx, "other", state.Limits{}); !errors.Is(err, state.ErrClosed) {
		t.Fatalf("Namespace: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestStore_Namespace_Errors(t *testing.T) {
	s, _, _ := newNS(t, state.Limits{})
	for _, name := range []string{"", "a\nb", strings.Repeat("x", 256), "\xff"} {
		if _, err := s.Namespace(t.Context(), name, state.Limits{}); err == nil {
			t.Errorf("Namespace(%q) succeeded", name)
		}
	}
}

func TestTxnFrom(t *testing.T) {
	_, ns, _ := newNS(t, state.Limits{})
	x := ns.Begin()
	defer x.Rollback()
	//lint:ignore SA1012 a nil context on purpose
	if state.TxnFrom(t.Context()) != nil || state.TxnFrom(nil) != nil {
		t.Fatal("a transaction from nowhere")
	}
	if state.TxnFrom(state.WithTxn(t.Context(), x)) != x {
		t.Fatal("transaction lost")
	}
}

// writeFile commits a few hundred keys and closes the store.
func writeFile(t testing.TB, path string) {
	t.Helper()
	s, err := state.Open(path, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ns := namespace(t, s, "plugin", state.Limits{})
	x := ns.Begin()
	for i := range 500 {
		mustPut(t, t.Context(), x, fmt.Sprintf("key-%04d", i), strings.Repeat("v", 500))
	}
	mustCommit(t, t.Context(), x)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpen_Errors(t *testing.T) {
	tests := []struct {
		name string
		make func(t *testing.T, path string)
		want error
	}{
		{"garbage", func(t *testing.T, path string) {
			b := bytes.Repeat([]byte("not a database "), 2000)
			os.WriteFile(path, b, 0o600)
		}, state.ErrCorrupt},
		{"garbage, short", func(t *testing.T, path string) {
			os.WriteFile(path, []byte("hello"), 0o600)
		}, state.ErrCorrupt},
		{"truncated", func(t *testing.T, path string) {
			writeFile(t, path)
			fi, _ := os.Stat(path)
			if err := os.Truncate(path, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
		}, state.ErrCorrupt},
		{"truncated to its header", func(t *testing.T, path string) {
			writeFile(t, path)
			if err := os.Truncate(path, 2*int64(os.Getpagesize())); err != nil {
				t.Fatal(err)
			}
		}, state.ErrCorrupt},
		{"last used page cut", func(t *testing.T, path string) {
			writeFile(t, path)
			db, err := bbolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			var size int64
			db.View(func(tx *bbolt.Tx) error { size = tx.Size(); return nil })
			db.Close()
			if err := os.Truncate(path, size-int64(os.Getpagesize())); err != nil {
				t.Fatal(err)
			}
		}, state.ErrCorrupt},
		{"page overwritten", func(t *testing.T, path string) {
			writeFile(t, path)
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			fi, _ := f.Stat()
			// Zero every page but the two meta pages: the tree is gone.
			f.WriteAt(make([]byte, fi.Size()-2*int64(os.Getpagesize())), 2*int64(os.Getpagesize()))
		}, state.ErrCorrupt},
		{"usage record tampered", func(t *testing.T, path string) {
			writeFile(t, path)
			db, err := bbolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			db.Update(func(tx *bbolt.Tx) error {
				return tx.Bucket([]byte("usage")).Put([]byte("plugin"), make([]byte, 24))
			})
		}, state.ErrCorrupt},
		{"foreign bbolt file", func(t *testing.T, path string) {
			db, err := bbolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			db.Update(func(tx *bbolt.Tx) error {
				_, err := tx.CreateBucket([]byte("somebody-else"))
				return err
			})
		}, state.ErrForeign},
		{"newer format", func(t *testing.T, path string) {
			writeFile(t, path)
			db, err := bbolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			db.Update(func(tx *bbolt.Tx) error {
				return tx.Bucket([]byte("osohost-state")).Put([]byte("format"), []byte("osohost-state/2"))
			})
		}, state.ErrForeign},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), state.FileName)
			tt.make(t, path)
			s, err := state.Open(path, state.Options{})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Open: %v, want %v naming the file", err, tt.want)
			}
			t.Log(err)
		})
	}
}

func TestOpen_Locked(t *testing.T) {
	path := filepath.Join(t.TempDir(), state.FileName)
	open(t, path, state.Options{})
	_, err := state.Open(path, state.Options{LockTimeout: 50 * time.Millisecond})
	if !errors.Is(err, state.ErrLocked) {
		t.Fatalf("second Open: %v", err)
	}
}

func TestLimits_CappedAtABI(t *testing.T) {
	_, ns, _ := newNS(t, state.Limits{MaxKeyBytes: 1 << 20, MaxValueBytes: 1 << 30})
	if l := ns.Limits(); l.MaxKeyBytes != abi.MaxKVKeyBytes || l.MaxValueBytes != abi.MaxKVValueBytes {
		t.Fatalf("limits %+v", l)
	}
}
