package audit_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/osohost/osohost/host/signing/audit"
)

// heldLog opens a log whose first fsync waits until release is closed, so
// that a test can queue work behind a commit in progress. Appending one
// record in the background (hold) starts that commit.
func heldLog(t *testing.T, opts audit.Options) (l *audit.Log, hold func(), release func()) {
	t.Helper()
	gate := make(chan struct{})
	var once sync.Once
	var first sync.Once
	opts = audit.WithSyncHook(opts, func(f *os.File) error {
		first.Do(func() { <-gate })
		return f.Sync()
	})
	l = openLog(t, t.TempDir(), opts)
	var wg sync.WaitGroup
	t.Cleanup(func() {
		once.Do(func() { close(gate) })
		wg.Wait()
	})
	hold = func() {
		wg.Go(func() {
			if _, err := l.Append(context.Background(), rec(0)); err != nil {
				t.Error(err)
			}
		})
		waitFor(t, func() bool { return l.Stats().Pending == 1 && l.Stats().Syncs == 0 && writerBusy(l) })
	}
	release = func() { once.Do(func() { close(gate) }) }
	return l, hold, release
}

// writerBusy reports whether the writer took the queued record (it is in
// the commit held by the sync hook): the file then holds its line.
func writerBusy(l *audit.Log) bool {
	b, err := os.ReadFile(l.Path())
	return err == nil && bytes.Count(b, []byte{'\n'}) == 1
}

func TestLog_Enqueue(t *testing.T) {
	l, hold, release := heldLog(t, audit.Options{})
	hold()
	for i := 1; i <= 5; i++ {
		if err := l.Enqueue(rec(i), rec(i)); err != nil {
			t.Fatalf("Enqueue: %v", err)
		}
	}
	if st := l.Stats(); st.Pending != 11 || st.Records != 0 {
		t.Fatalf("Stats = %+v while the first commit is held, want 11 pending", st)
	}
	release()
	waitFor(t, func() bool { return l.Stats().Records == 11 })
	// Enqueued records joined one group commit: the held one, then one more.
	if st := l.Stats(); st.Syncs != 2 || st.Pending != 0 || st.Lost != 0 {
		t.Errorf("Stats = %+v, want 2 fsyncs, nothing pending or lost", st)
	}
	l.Close()
	if n := verifyFile(t, l.Path()); n != 11 {
		t.Errorf("Verify = %d records, want 11", n)
	}
}

// TestLog_Enqueue_CloseWaits: Close commits what Enqueue queued.
func TestLog_Enqueue_CloseWaits(t *testing.T) {
	l, hold, release := heldLog(t, audit.Options{})
	hold()
	for i := range 3 {
		if err := l.Enqueue(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	release()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if n := verifyFile(t, l.Path()); n != 4 {
		t.Errorf("after Close the log holds %d records, want 4", n)
	}
	if err := l.Enqueue(rec(9)); !errors.Is(err, audit.ErrClosed) {
		t.Errorf("Enqueue after Close = %v, want ErrClosed", err)
	}
}

func TestLog_Enqueue_Errors(t *testing.T) {
	t.Run("bound", func(t *testing.T) {
		l, hold, release := heldLog(t, audit.Options{})
		hold()
		chunk := make([]audit.Record, audit.MaxAppendRecords)
		for i := range chunk {
			chunk[i] = rec(i)
		}
		for range audit.MaxEnqueuedRecords / audit.MaxAppendRecords {
			if err := l.Enqueue(chunk...); err != nil {
				t.Fatalf("Enqueue within the bound: %v", err)
			}
		}
		if err := l.Enqueue(rec(1)); !errors.Is(err, audit.ErrBusy) {
			t.Fatalf("Enqueue over the bound = %v, want ErrBusy", err)
		}
		// Appends that wait are not bounded by it.
		done := make(chan error, 1)
		go func() { _, err := l.Append(context.Background(), rec(2)); done <- err }()
		waitFor(t, func() bool { return l.Stats().Pending == 1+audit.MaxEnqueuedRecords+1 })
		release()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool { return l.Stats().Pending == 0 })
		if err := l.Enqueue(rec(3)); err != nil {
			t.Fatalf("Enqueue once the queue drained: %v", err)
		}
	})
	t.Run("bad records", func(t *testing.T) {
		l := openLog(t, t.TempDir(), audit.Options{})
		long := rec(1)
		long.KeyID = strings.Repeat("k", audit.MaxFieldBytes+1)
		if err := l.Enqueue(rec(0), long); !errors.Is(err, audit.ErrBadRecord) {
			t.Errorf("Enqueue of a long field = %v", err)
		}
		if err := l.Enqueue(make([]audit.Record, audit.MaxAppendRecords+1)...); !errors.Is(err, audit.ErrBadRecord) {
			t.Errorf("Enqueue of too many = %v", err)
		}
		if err := l.Enqueue(); err != nil {
			t.Errorf("Enqueue of nothing = %v", err)
		}
		if st := l.Stats(); st.Pending != 0 || st.Records != 0 {
			t.Errorf("Stats = %+v after refused enqueues", st)
		}
	})
	t.Run("failed log", func(t *testing.T) {
		injected := errors.New("injected fsync failure")
		var logBuf bytes.Buffer
		var mu sync.Mutex
		gate := make(chan struct{})
		opts := audit.WithSyncHook(audit.Options{Logger: slog.New(slog.NewJSONHandler(lockedWriter{&mu, &logBuf}, nil))}, func(*os.File) error {
			<-gate
			return injected
		})
		l := openLog(t, t.TempDir(), opts)
		done := make(chan error, 1)
		go func() { _, err := l.Append(context.Background(), rec(0)); done <- err }()
		waitFor(t, func() bool { return l.Stats().Pending == 1 })
		// Queued behind the failing commit: lost with the next one.
		waitFor(t, func() bool { return writerBusy(l) })
		if err := l.Enqueue(rec(1), rec(2)); err != nil {
			t.Fatal(err)
		}
		close(gate)
		if err := <-done; !errors.Is(err, injected) {
			t.Fatalf("Append = %v, want the fsync failure", err)
		}
		waitFor(t, func() bool { return l.Stats().Pending == 0 })
		if st := l.Stats(); st.Lost != 2 || st.Records != 0 {
			t.Errorf("Stats = %+v, want 2 lost", st)
		}
		// The writer logs the loss after it has updated the counters.
		waitFor(t, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return strings.Contains(logBuf.String(), `"msg":"audit records lost"`)
		})
		mu.Lock()
		logged := logBuf.String()
		mu.Unlock()
		if !strings.Contains(logged, `"records":2`) || strings.Count(logged, "\n") != 1 {
			t.Errorf("log = %s, want one error naming 2 lost records", logged)
		}
		if err := l.Enqueue(rec(3)); !errors.Is(err, injected) {
			t.Errorf("Enqueue on a failed log = %v, want the sticky failure", err)
		}
	})
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// TestLog_Append_Unconfirmed: a context that ends while Append waits
// yields ErrUnconfirmed, and the record still becomes durable.
func TestLog_Append_Unconfirmed(t *testing.T) {
	l, hold, release := heldLog(t, audit.Options{})
	hold()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { _, err := l.Append(ctx, rec(1)); done <- err }()
	waitFor(t, func() bool { return l.Stats().Pending == 2 })
	cancel()
	err := <-done
	if !errors.Is(err, audit.ErrUnconfirmed) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Append = %v, want ErrUnconfirmed and context.Canceled", err)
	}
	release()
	waitFor(t, func() bool { return l.Stats().Records == 2 })
	// An ended context before queueing: plain ctx error, nothing queued.
	if _, err := l.Append(ctx, rec(2)); errors.Is(err, audit.ErrUnconfirmed) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Append with an ended context = %v", err)
	}
	if st := l.Stats(); st.Pending != 0 || st.Records != 2 {
		t.Errorf("Stats = %+v", st)
	}
}
