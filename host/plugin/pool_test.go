package plugin_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/host/plugin"
	"github.com/osohost/osohost/host/plugin/plugintest"
)

// cacheDir is a compilation cache shared by the package's tests, so each
// guest is compiled once per deadline mode and memory limit.
var cacheDir string

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "osohost-plugin-cache-")
	if err != nil {
		panic(err)
	}
	cacheDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

func newPool(t testing.TB, guest string, eo plugin.EngineOptions, po plugin.PoolOptions) *plugin.Pool {
	t.Helper()
	ctx := context.Background()
	if eo.CacheDir == "" {
		eo.CacheDir = cacheDir
	}
	eng, err := plugin.NewEngine(ctx, eo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(ctx) })
	mod, err := eng.Compile(ctx, plugintest.Read(t, guest))
	if err != nil {
		t.Fatal(err)
	}
	p, err := plugin.NewPool(ctx, mod, po)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(ctx) })
	return p
}

// docs encodes documents with the given ids in the compact encoding.
func docs(ids ...string) []byte {
	b := abi.AppendDocumentListHeader(nil, len(ids))
	for _, id := range ids {
		b = abi.AppendDocument(b, id, "content of "+id, "")
	}
	return b
}

func TestPool_Call(t *testing.T) {
	p := newPool(t, "testguest", plugin.EngineOptions{}, plugin.PoolOptions{})
	ctx := t.Context()

	res, err := p.Call(ctx, abi.ExportStatus, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != abi.OutputStatus {
		t.Fatalf("status kind = %d", res.Kind)
	}
	st, err := abi.DecodeStatus(res.Data)
	if err != nil || st.Code != 200 || string(st.Status) != "OK" {
		t.Fatalf("status = %+v, %v", st, err)
	}

	res, err = p.Call(ctx, abi.ExportToOSO, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := abi.NewDocumentReader(res.Data)
	if err != nil || r.Len() != 1 {
		t.Fatalf("to_oso: %v, %d documents", err, r.Len())
	}
	d, _ := r.Next()
	if string(d.ID) != "t1" || string(d.Content) != "hello" {
		t.Fatalf("to_oso document = %q %q", d.ID, d.Content)
	}

	in := docs("echo", "second")
	res, err = p.Call(ctx, abi.ExportToISV, in)
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != abi.OutputDocumentList || string(res.Data) != string(in) {
		t.Fatalf("echo: kind %d, got %q want %q", res.Kind, res.Data, in)
	}
}

func TestPool_Call_Errors(t *testing.T) {
	tests := []struct {
		name  string
		id    string
		check func(error) bool
	}{
		{"trap", "trap", func(err error) bool { var e *plugin.TrapError; return errors.As(err, &e) }},
		{"endless loop", "loop", func(err error) bool { return errors.Is(err, plugin.ErrCallTimeout) }},
		{"huge output", "huge", func(err error) bool { var e *plugin.OutputError; return errors.As(err, &e) }},
		{"guest error", "error:418", func(err error) bool {
			var e *plugin.GuestError
			return errors.As(err, &e) && e.Code == 418 && e.Message == "custom failure"
		}},
		{"guest error with a non-error code", "error:200", func(err error) bool {
			var e *plugin.GuestError
			return errors.As(err, &e) && e.Code == 500
		}},
	}
	for _, mode := range []plugin.DeadlineMode{plugin.DeadlineInterrupt, plugin.DeadlineContext} {
		t.Run(mode.String(), func(t *testing.T) {
			// The call deadline is generous: the huge output must be built
			// in time on a loaded machine under -race. The loop gets a
			// shorter deadline from its context, which wins.
			p := newPool(t, "testguest",
				plugin.EngineOptions{Deadline: mode},
				plugin.PoolOptions{Size: 1, CallTimeout: 2 * time.Minute})
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					ctx := t.Context()
					if tt.id == "loop" {
						c, cancel := context.WithTimeout(ctx, 2*time.Second)
						defer cancel()
						ctx = c
					}
					_, err := p.Call(ctx, abi.ExportToISV, docs(tt.id))
					if !tt.check(err) {
						t.Fatalf("err = %v (%T)", err, err)
					}
					// The pool keeps serving: the failed instance was
					// replaced (or kept, for guest errors).
					res, err := p.Call(t.Context(), abi.ExportToISV, docs("echo"))
					if err != nil || res.Kind != abi.OutputDocumentList {
						t.Fatalf("call after %s: %v", tt.name, err)
					}
				})
			}
			st := p.Stats()
			if st.Traps < 1 || st.Timeouts < 1 {
				t.Fatalf("stats = %+v", st)
			}
		})
	}
}

// TestPool_Call_MemoryLimit: a guest that allocates without bound hits the
// memory cap and traps; the pool replaces the instance.
func TestPool_Call_MemoryLimit(t *testing.T) {
	p := newPool(t, "testguest", plugin.EngineOptions{MemoryLimitPages: 256}, plugin.PoolOptions{Size: 1, CallTimeout: time.Minute})
	_, err := p.Call(t.Context(), abi.ExportToISV, docs("grow"))
	var trap *plugin.TrapError
	if !errors.As(err, &trap) {
		t.Fatalf("err = %v, want a trap", err)
	}
	if _, err := p.Call(t.Context(), abi.ExportStatus, nil); err != nil {
		t.Fatalf("status after the trap: %v", err)
	}
}

func TestPool_Call_CanceledContext(t *testing.T) {
	p := newPool(t, "testguest", plugin.EngineOptions{}, plugin.PoolOptions{Size: 1, CallTimeout: time.Minute})
	ctx, cancel := context.WithCancelCause(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := p.Call(ctx, abi.ExportToISV, docs("loop"))
		errc <- err
	}()
	// Cancel once the guest is running: the call cannot finish by itself.
	time.AfterFunc(100*time.Millisecond, func() { cancel(errors.New("client went away")) })
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "client went away") {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("cancelled call did not stop")
	}
	if _, err := p.Call(t.Context(), abi.ExportStatus, nil); err != nil {
		t.Fatalf("status after cancel: %v", err)
	}
}

func TestPool_Call_RequestDeadline(t *testing.T) {
	// A shorter deadline on the caller's context wins over CallTimeout.
	p := newPool(t, "testguest", plugin.EngineOptions{}, plugin.PoolOptions{Size: 1, CallTimeout: time.Hour})
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err := p.Call(ctx, abi.ExportToISV, docs("loop"))
	if !errors.Is(err, plugin.ErrCallTimeout) {
		t.Fatalf("err = %v", err)
	}
}

func TestPool_Busy(t *testing.T) {
	p := newPool(t, "testguest", plugin.EngineOptions{},
		plugin.PoolOptions{Size: 1, CallTimeout: 2 * time.Second, AcquireTimeout: 50 * time.Millisecond})
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		close(started)
		_, err := p.Call(context.Background(), abi.ExportToISV, docs("loop"))
		done <- err
	}()
	<-started
	// Wait until the looping call holds the only instance.
	for p.Stats().Idle != 0 {
		time.Sleep(time.Millisecond)
	}
	if _, err := p.Call(t.Context(), abi.ExportStatus, nil); !errors.Is(err, plugin.ErrBusy) {
		t.Fatalf("err = %v, want ErrBusy", err)
	}
	if err := <-done; !errors.Is(err, plugin.ErrCallTimeout) {
		t.Fatalf("looping call: %v", err)
	}
}

// TestPool_Hammer runs many concurrent calls, some of which trap, and
// checks every call gets its own answer.
func TestPool_Hammer(t *testing.T) {
	p := newPool(t, "testguest", plugin.EngineOptions{}, plugin.PoolOptions{Size: 3, CallTimeout: 10 * time.Second})
	const workers, calls = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers*calls)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				id := fmt.Sprintf("echo-%d-%d", w, i)
				if i%10 == 3 {
					if _, err := p.Call(context.Background(), abi.ExportToISV, docs("trap")); err == nil {
						errs <- errors.New("trap did not fail")
					}
					continue
				}
				in := docs("echo", id)
				res, err := p.Call(context.Background(), abi.ExportToISV, in)
				if err != nil {
					errs <- fmt.Errorf("%s: %w", id, err)
					continue
				}
				if string(res.Data) != string(in) {
					errs <- fmt.Errorf("%s: answer for another call", id)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestPool_Close(t *testing.T) {
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
	p, err := plugin.NewPool(ctx, mod, plugin.PoolOptions{Size: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Call(ctx, abi.ExportStatus, nil); !errors.Is(err, plugin.ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}
