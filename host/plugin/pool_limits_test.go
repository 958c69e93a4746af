package plugin_test

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/host/plugin"
	"github.com/osohost/osohost/host/plugin/plugintest"
)

// signalHandler is a slog handler that reports each record whose message
// is msg on a channel: the test guest's "log" document writes "testguest
// info", so a call on ["log", "loop"] signals once it is running.
type signalHandler struct {
	msg string
	ch  chan struct{}
}

func (h signalHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h signalHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h signalHandler) WithGroup(string) slog.Handler            { return h }
func (h signalHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		select {
		case h.ch <- struct{}{}:
		default:
		}
	}
	return nil
}

// runningSignal returns a logger for PoolOptions.Logger and the channel
// it signals when a call on loopDocs is running in the guest.
func runningSignal() (*slog.Logger, <-chan struct{}) {
	ch := make(chan struct{}, 1)
	return slog.New(signalHandler{msg: "testguest info", ch: ch}), ch
}

// loopDocs makes the test guest log, then loop until its call is stopped.
var loopDocs = docs("log", "loop")

// startLoop starts a looping call on p and waits until it runs in the
// guest. The call's error arrives on the returned channel.
func startLoop(t *testing.T, p *plugin.Pool, running <-chan struct{}) <-chan error {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		_, err := p.Call(context.Background(), abi.ExportToISV, loopDocs)
		errc <- err
	}()
	select {
	case <-running:
	case err := <-errc:
		t.Fatalf("looping call returned early: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("looping call did not start")
	}
	return errc
}

func wait[T any](t *testing.T, what string, c <-chan T) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(time.Minute):
		t.Fatalf("%s: no answer within a minute", what)
		panic("unreachable")
	}
}

func statusCode(t *testing.T, p *plugin.Pool) int {
	t.Helper()
	res, err := p.Call(t.Context(), abi.ExportStatus, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := abi.DecodeStatus(res.Data)
	if err != nil {
		t.Fatal(err)
	}
	return int(st.Code)
}

// TestPool_MaxCalls: an instance is replaced by a fresh one after MaxCalls
// calls, which the guest's in-memory state shows.
func TestPool_MaxCalls(t *testing.T) {
	p := newPool(t, "testguest", plugin.EngineOptions{}, plugin.PoolOptions{Size: 1, MaxCalls: 3})
	for round := range 3 {
		if _, err := p.Call(t.Context(), abi.ExportToISV, docs("status:299")); err != nil {
			t.Fatal(err)
		}
		if got := statusCode(t, p); got != 299 {
			t.Fatalf("round %d: status after status:299 = %d", round, got)
		}
		if got := statusCode(t, p); got != 299 {
			t.Fatalf("round %d: second status = %d", round, got)
		}
		// Third call done: the next call runs on a fresh instance.
		if got := statusCode(t, p); got != 200 {
			t.Fatalf("round %d: status on the recycled instance = %d, want 200", round, got)
		}
		// That was call 1 of the fresh instance; use up 2 and 3.
		statusCode(t, p)
		statusCode(t, p)
	}
	st := p.Stats()
	if st.Recycled != 6 || st.Replaced != 0 || st.Calls != 18 {
		t.Fatalf("stats = %+v, want 6 recycled of 18 calls", st)
	}
}

// TestPool_AcquireWait: with every instance busy, a call waits until its
// context ends (AcquireTimeout 0) or until the acquire timeout passes,
// whichever comes first.
func TestPool_AcquireWait(t *testing.T) {
	tests := []struct {
		name    string
		acquire time.Duration
		ctxWait time.Duration
		want    error
	}{
		{"no acquire timeout: the context decides", 0, 50 * time.Millisecond, context.DeadlineExceeded},
		{"context shorter than acquire timeout", time.Hour, 50 * time.Millisecond, context.DeadlineExceeded},
		{"acquire timeout shorter than context", 50 * time.Millisecond, time.Hour, plugin.ErrBusy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log, running := runningSignal()
			var refused atomic.Value
			p := newPool(t, "testguest", plugin.EngineOptions{},
				plugin.PoolOptions{Size: 1, CallTimeout: time.Hour, AcquireTimeout: tt.acquire, Logger: log,
					OnCall: func(export string, d time.Duration, err error) {
						if export == abi.ExportStatus && d == 0 {
							refused.Store(err)
						}
					}})
			loop := startLoop(t, p, running)
			ctx, cancel := context.WithTimeout(t.Context(), tt.ctxWait)
			defer cancel()
			_, err := p.Call(ctx, abi.ExportStatus, nil)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if got, want := p.Stats().Busy, int64(0); errors.Is(tt.want, plugin.ErrBusy) != (got != want) {
				t.Fatalf("busy counter = %d", got)
			}
			if err, _ := refused.Load().(error); !errors.Is(err, tt.want) {
				t.Fatalf("hook saw %v, want %v", err, tt.want)
			}
			// Stop the looping call: Close with an ended context stops it.
			done, stop := context.WithCancel(t.Context())
			stop()
			if err := p.Close(done); !errors.Is(err, context.Canceled) {
				t.Fatalf("close: %v", err)
			}
			if err := wait(t, "looping call", loop); !errors.Is(err, plugin.ErrClosed) {
				t.Fatalf("looping call: %v, want ErrClosed", err)
			}
			wait(t, "pool done", p.Done())
		})
	}
}

type callRecord struct {
	export string
	d      time.Duration
	err    error
}

// TestPool_OnCall: the hook sees every call, with the guest's time for
// those that ran and zero for one refused before.
func TestPool_OnCall(t *testing.T) {
	var mu sync.Mutex
	var got []callRecord
	p := newPool(t, "testguest", plugin.EngineOptions{}, plugin.PoolOptions{
		Size: 1,
		OnCall: func(export string, d time.Duration, err error) {
			mu.Lock()
			got = append(got, callRecord{export, d, err})
			mu.Unlock()
		},
	})
	ctx := t.Context()
	if _, err := p.Call(ctx, abi.ExportStatus, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Call(ctx, abi.ExportToISV, docs("trap")); err == nil {
		t.Fatal("trap did not fail")
	}
	if _, err := p.Call(ctx, abi.ExportToOSO, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Call(ctx, "nope", nil); !errors.Is(err, plugin.ErrUnknownExport) {
		t.Fatalf("unknown export: %v", err)
	}
	p.Close(ctx)
	if _, err := p.Call(ctx, abi.ExportStatus, nil); !errors.Is(err, plugin.ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	var trap *plugin.TrapError
	want := []struct {
		export string
		ran    bool
		err    func(error) bool
	}{
		{abi.ExportStatus, true, func(err error) bool { return err == nil }},
		{abi.ExportToISV, true, func(err error) bool { return errors.As(err, &trap) }},
		{abi.ExportToOSO, true, func(err error) bool { return err == nil }},
		{"nope", false, func(err error) bool { return errors.Is(err, plugin.ErrUnknownExport) }},
		{abi.ExportStatus, false, func(err error) bool { return errors.Is(err, plugin.ErrClosed) }},
	}
	if len(got) != len(want) {
		t.Fatalf("hook saw %d calls, want %d: %+v", len(got), len(want), got)
	}
	for i, r := range got {
		if r.export != want[i].export || (r.d > 0) != want[i].ran || !want[i].err(r.err) {
			t.Fatalf("call %d: %+v", i, r)
		}
	}
}

// TestPool_Close_InFlight: Close lets a running call end by itself, while
// calls that have not reached an instance fail at once with ErrClosed.
func TestPool_Close_InFlight(t *testing.T) {
	log, running := runningSignal()
	p := newPool(t, "testguest", plugin.EngineOptions{},
		plugin.PoolOptions{Size: 1, CallTimeout: 500 * time.Millisecond, Logger: log})
	loop := startLoop(t, p, running)

	waiter := make(chan error, 1)
	go func() {
		_, err := p.Call(context.Background(), abi.ExportStatus, nil)
		waiter <- err
	}()
	closed := make(chan error, 1)
	go func() { closed <- p.Close(context.Background()) }()

	// The waiter fails fast, without waiting for the running call.
	if err := wait(t, "waiting call", waiter); !errors.Is(err, plugin.ErrClosed) {
		t.Fatalf("waiting call: %v, want ErrClosed", err)
	}
	// The running call was not cut by Close: it ended at its own deadline.
	if err := wait(t, "running call", loop); !errors.Is(err, plugin.ErrCallTimeout) {
		t.Fatalf("running call: %v, want its own deadline", err)
	}
	if err := wait(t, "close", closed); err != nil {
		t.Fatalf("close: %v", err)
	}
	wait(t, "pool done", p.Done())
	if _, err := p.Call(t.Context(), abi.ExportStatus, nil); !errors.Is(err, plugin.ErrClosed) {
		t.Fatalf("call after close: %v", err)
	}
	if err := p.Close(t.Context()); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

// TestPool_Close_Deadline: when Close's context ends, running calls are
// stopped with ErrClosed, in both deadline modes.
func TestPool_Close_Deadline(t *testing.T) {
	for _, mode := range []plugin.DeadlineMode{plugin.DeadlineInterrupt, plugin.DeadlineContext} {
		t.Run(mode.String(), func(t *testing.T) {
			log, running := runningSignal()
			p := newPool(t, "testguest", plugin.EngineOptions{Deadline: mode},
				plugin.PoolOptions{Size: 2, CallTimeout: time.Hour, Logger: log})
			loop := startLoop(t, p, running)
			ctx, cancel := context.WithCancelCause(t.Context())
			closed := make(chan error, 1)
			go func() { closed <- p.Close(ctx) }()
			stop := errors.New("drain time is over")
			cancel(stop)
			if err := wait(t, "close", closed); !errors.Is(err, stop) {
				t.Fatalf("close: %v, want its context's cause", err)
			}
			if err := wait(t, "running call", loop); !errors.Is(err, plugin.ErrClosed) {
				t.Fatalf("running call: %v, want ErrClosed", err)
			}
			wait(t, "pool done", p.Done())
		})
	}
}

// TestPool_Close_NoLeak closes a pool while many callers keep it busy and
// every call recycles its instance, so that replacements are being made
// in the background when Close runs. Every call either succeeds or fails
// with ErrClosed; afterwards no instance and no goroutine is left.
func TestPool_Close_NoLeak(t *testing.T) {
	ctx := context.Background()
	eng, err := plugin.NewEngine(ctx, plugin.EngineOptions{CacheDir: cacheDir})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	mod, err := eng.Compile(ctx, plugintest.Read(t, "testguest"))
	if err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	for round := range 3 {
		p, err := plugin.NewPool(ctx, mod, plugin.PoolOptions{Size: 3, MaxCalls: 1 + round})
		if err != nil {
			t.Fatal(err)
		}
		const workers = 8
		var ok atomic.Int64
		enough := make(chan struct{})
		var once sync.Once
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for range workers {
			wg.Go(func() {
				for {
					_, err := p.Call(ctx, abi.ExportToISV, docs("echo"))
					if errors.Is(err, plugin.ErrClosed) {
						return
					}
					if err != nil {
						errs <- err
						return
					}
					if ok.Add(1) == 40 {
						once.Do(func() { close(enough) })
					}
				}
			})
		}
		wait(t, "40 calls", enough)
		if err := p.Close(ctx); err != nil {
			t.Fatalf("close: %v", err)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("call: %v", err)
		}
		wait(t, "pool done", p.Done())
		if st := p.Stats(); st.Recycled == 0 || st.Idle != 0 {
			t.Fatalf("stats = %+v", st)
		}
	}
	if err := mod.Close(ctx); err != nil {
		t.Fatal(err)
	}
	waitGoroutines(t, before)
}

// waitGoroutines waits, for a bounded time, until no more than n
// goroutines run; goroutines that just ended may take a moment to be
// counted out.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
