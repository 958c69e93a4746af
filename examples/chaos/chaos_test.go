package main_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/host/api"
	"github.com/osohost/osohost/host/plugin"
	"github.com/osohost/osohost/host/plugin/plugintest"
)

// Limits of the pools under test: small, so that misbehaviour hits them
// fast. The call deadline is short for a server but long for the work the
// calls do, which on a loaded machine under -race can take seconds: a
// deadline only ever ends the endless loops, it is never what a test
// measures.
const (
	memoryPages    = 512 // 32 MiB per instance
	memoryBytes    = memoryPages * abi.PageSize
	maxOutputBytes = 1 << 20
	callTimeout    = 15 * time.Second
)

// newPool compiles the chaos plugin on a fresh engine and starts a pool of
// size instances. The caller closes both; see closePool.
func newPool(t *testing.T, size int) (*plugin.Engine, *plugin.Pool) {
	t.Helper()
	ctx := t.Context()
	wasm := plugintest.Read(t, "chaos")
	eng, err := plugin.NewEngine(ctx, plugin.EngineOptions{CacheDir: t.TempDir(), MemoryLimitPages: memoryPages})
	if err != nil {
		t.Fatal(err)
	}
	mod, err := eng.Compile(ctx, wasm)
	if err != nil {
		eng.Close(ctx)
		t.Fatal(err)
	}
	p, err := plugin.NewPool(ctx, mod, plugin.PoolOptions{
		Size:           size,
		CallTimeout:    callTimeout,
		AcquireTimeout: 5 * time.Minute, // normal calls wait for the looping ones
		MaxOutputBytes: maxOutputBytes,
	})
	if err != nil {
		eng.Close(ctx)
		t.Fatal(err)
	}
	return eng, p
}

func closePool(t *testing.T, eng *plugin.Engine, p *plugin.Pool) {
	t.Helper()
	ctx := context.Background() // t.Context is done during cleanup
	if err := p.Close(ctx); err != nil {
		t.Errorf("pool close: %v", err)
	}
	if err := eng.Close(ctx); err != nil {
		t.Errorf("engine close: %v", err)
	}
}

// input turns a request body, as the README's examples post it, into the
// compact input of to_isv, as the HTTP layer does.
func input(t testing.TB, body string) []byte {
	t.Helper()
	in, err := api.EncodeInput([]byte(body), api.Limits(), nil)
	if err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	return in
}

// call is one to_isv call of the load and the outcome it must have.
type call struct {
	name string
	body string
	// deadline, when set, is a deadline on the caller's context, as the
	// HTTP layer sets one for each request.
	deadline time.Duration
	// check judges the pool's answer after it went through the HTTP
	// layer's output validation, as a request would.
	check func(res plugin.Result, err error) error
}

func errorAs[T error](err error) bool {
	var e T
	return errors.As(err, &e)
}

// answer validates a result as the HTTP layer does before answering.
func answer(res plugin.Result, err error) (int, []byte, error) {
	if err != nil {
		return 0, nil, err
	}
	return api.EncodeOutput(abi.ExportToISV, res, api.Limits())
}

func wantOK(res plugin.Result, err error) error {
	code, body, err := answer(res, err)
	if err != nil || code != 200 || !bytes.HasPrefix(body, []byte(`{"documents":[`)) {
		return fmt.Errorf("answered %d %.80s, %v; want 200 with the documents", code, body, err)
	}
	return nil
}

func wantTrap(res plugin.Result, err error) error {
	if !errorAs[*plugin.TrapError](err) {
		return fmt.Errorf("err = %v (%T), want a *plugin.TrapError", err, err)
	}
	return nil
}

func wantTimeout(res plugin.Result, err error) error {
	if !errors.Is(err, plugin.ErrCallTimeout) {
		return fmt.Errorf("err = %v (%T), want plugin.ErrCallTimeout", err, err)
	}
	return nil
}

// wantDeadline accepts what a call with a deadline on its context gets when
// the deadline passes: ErrCallTimeout when the guest was running, the
// context's error when the call was still waiting for an instance. The
// HTTP layer answers 504 for both.
func wantDeadline(res plugin.Result, err error) error {
	if !errors.Is(err, plugin.ErrCallTimeout) && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("err = %v (%T), want plugin.ErrCallTimeout or context.DeadlineExceeded", err, err)
	}
	return nil
}

func wantOutputError(res plugin.Result, err error) error {
	_, _, err = answer(res, err)
	if !errorAs[*plugin.OutputError](err) && !errorAs[*plugin.LimitError](err) {
		return fmt.Errorf("err = %v (%T), want a *plugin.OutputError or *plugin.LimitError", err, err)
	}
	return nil
}

func wantGuestError(code int) func(plugin.Result, error) error {
	return func(_ plugin.Result, err error) error {
		var e *plugin.GuestError
		if !errors.As(err, &e) || e.Code != code || !strings.Contains(e.Message, "chaos") {
			return fmt.Errorf("err = %v (%T), want a *plugin.GuestError with code %d", err, err, code)
		}
		return nil
	}
}

func doc(id, content, metadata string) string {
	return fmt.Sprintf(`{"id": %q, "content": %q, "metadata": %q}`, id, content, metadata)
}

func body(docs ...string) string {
	return fmt.Sprintf(`{"documents": [%s], "count": %d}`, strings.Join(docs, ", "), len(docs))
}

// load returns the calls of the concurrent test: every action, alone and
// mixed with normal documents, and many normal calls.
func load() []call {
	normal := []call{
		{"ok", body(doc("1", "ok", "")), 0, wantOK},
		{"plain documents", body(doc("1", "hello", `{"k": 1}`), doc("2", "world", "")), 0, wantOK},
		{"slow", body(doc("1", "slow", "5")), 0, wantOK},
	}
	chaos := []call{
		{"trap", body(doc("1", "trap", "")), 0, wantTrap},
		{"trap after ok", body(doc("1", "ok", ""), doc("2", "trap", "")), 0, wantTrap},
		{"grow", body(doc("1", "grow", "")), 0, wantTrap},
		{"huge", body(doc("1", "huge", strconv.Itoa(2*maxOutputBytes))), 0, wantOutputError},
		{"badjson", body(doc("1", "badjson", "")), 0, wantOutputError},
		{"error", body(doc("1", "error", "")), 0, wantGuestError(418)},
		{"error with a code", body(doc("1", "hello", ""), doc("error", "x", `{"code": 503}`)), 0, wantGuestError(503)},
		{"id names the action", body(doc("trap", "not an action", "")), 0, wantTrap},
	}
	var calls []call
	for range 2 {
		calls = append(calls, chaos...)
		for range 3 {
			calls = append(calls, normal...)
		}
	}
	// An endless loop holds its instance until the call deadline, or
	// the caller's deadline when that is earlier.
	calls = append(calls, call{"loop", body(doc("1", "loop", "")), 0, wantTimeout})
	for range 3 {
		calls = append(calls, call{"loop, request deadline", body(doc("1", "loop", "")), 300 * time.Millisecond, wantDeadline})
	}
	calls = append(calls, call{"loop after slow", body(doc("1", "slow", "1"), doc("2", "loop", "")), 300 * time.Millisecond, wantDeadline})
	return calls
}

// TestChaos_Isolation runs misbehaving and normal calls concurrently on a
// small pool: each misbehaviour ends its own call with the right error, every
// normal call succeeds, the pool serves afterwards, and closing the pool
// returns the goroutines it started.
func TestChaos_Isolation(t *testing.T) {
	plugintest.Path(t, "chaos") // build it before counting goroutines
	baseline := runtime.NumGoroutine()
	eng, p := newPool(t, 3)
	closed := false
	defer func() {
		if !closed {
			closePool(t, eng, p)
		}
	}()

	calls := load()
	inputs := make([][]byte, len(calls))
	for i, c := range calls {
		inputs[i] = input(t, c.body)
	}
	work := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for range 6 {
		wg.Go(func() {
			for i := range work {
				c := calls[i]
				ctx, cancel := t.Context(), context.CancelFunc(func() {})
				if c.deadline > 0 {
					ctx, cancel = context.WithTimeout(ctx, c.deadline)
				}
				res, err := p.Call(ctx, abi.ExportToISV, inputs[i])
				cancel()
				if e := c.check(res, err); e != nil {
					mu.Lock()
					failures = append(failures, c.name+": "+e.Error())
					mu.Unlock()
				}
			}
		})
	}
	// Health checks keep passing while the plugin is abused.
	wg.Go(func() {
		for range 20 {
			for _, export := range []string{abi.ExportStatus, abi.ExportToOSO} {
				if _, err := p.Call(t.Context(), export, nil); err != nil {
					mu.Lock()
					failures = append(failures, export+": "+err.Error())
					mu.Unlock()
				}
			}
		}
	})
	for i := range calls {
		work <- i
	}
	close(work)
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}

	// The pool serves afterwards, on instances that replaced the failed
	// ones, and each caller gets its own answer.
	var after sync.WaitGroup
	for i := range 3 {
		in := input(t, body(doc(strconv.Itoa(i), "ok", "")))
		after.Go(func() {
			res, err := p.Call(t.Context(), abi.ExportToISV, in)
			if e := wantOK(res, err); e != nil {
				t.Errorf("call %d after the load: %v", i, e)
			}
			if !bytes.Equal(res.Data, in) {
				t.Errorf("call %d after the load: answer for another call", i)
			}
		})
	}
	after.Wait()
	res, err := p.Call(t.Context(), abi.ExportStatus, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := abi.DecodeStatus(res.Data); err != nil || st.Code != 200 {
		t.Fatalf("status after the load = %+v, %v", st, err)
	}

	closePool(t, eng, p)
	closed = true
	n := waitGoroutines(baseline)
	if n > baseline {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Fatalf("%d goroutines after closing the pool, %d before:\n%s", n, baseline, buf)
	}
}

// waitGoroutines waits, for a bounded time, until at most want goroutines
// run, and returns how many run. Goroutines end asynchronously and there is
// no event to wait for, so it polls.
func waitGoroutines(want int) int {
	n := runtime.NumGoroutine()
	for i := 0; i < 1000 && n > want; i++ {
		time.Sleep(10 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	return n
}

// TestChaos_GrowReleasesMemory makes many instances exhaust their memory
// cap. Each trapped instance is discarded; its memory must be released, so
// the process grows by far less than the sum of what the instances held.
func TestChaos_GrowReleasesMemory(t *testing.T) {
	const size, grows = 2, 16
	eng, p := newPool(t, size)
	defer closePool(t, eng, p)
	in := input(t, body(doc("1", "grow", "")))
	// grow makes n grow calls on each instance at once.
	grow := func(n int) {
		var wg sync.WaitGroup
		for range size {
			wg.Go(func() {
				for range n {
					if err := wantTrap(p.Call(t.Context(), abi.ExportToISV, in)); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
	}
	// Warm up: the first traps size the heap, wazero's pools and, under
	// the race detector, its shadow memory.
	grow(2)
	before := rss(t)
	grow(grows / size)
	// Replacements are made in the background: wait for a working
	// instance before measuring.
	if _, err := p.Call(t.Context(), abi.ExportStatus, nil); err != nil {
		t.Fatal(err)
	}
	after := rss(t)
	leak := int64(grows * memoryBytes)
	bound := int64((size+2)*memoryBytes + 64<<20)
	t.Logf("VmRSS %d MiB before, %d MiB after %d grow calls (a leak would add %d MiB; bound %d MiB)",
		before>>20, after>>20, grows, leak>>20, bound>>20)
	if after-before > bound {
		t.Fatalf("VmRSS grew by %d MiB over %d grow calls; bound %d MiB", (after-before)>>20, grows, bound>>20)
	}
}

// rss returns the process's resident set size after a garbage collection
// that returns freed memory to the system.
func rss(t *testing.T) int64 {
	t.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS line %q: %v", s.Text(), err)
			}
			return kb << 10
		}
	}
	t.Skip("no VmRSS in /proc/self/status")
	return 0
}
