package reload_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/host/plugin"
	"github.com/osohost/osohost/host/reload"
)

// clients calls status and to_isv on m from n goroutines until stopped,
// checking that every answer comes from one of the allowed versions.
type clients struct {
	m       *reload.Manager
	allowed map[string]bool
	epoch   atomic.Int64 // set by the test after each reload
	// progress receives the epoch of a call that started in that epoch
	// and got want(epoch)'s answer.
	progress chan int64
	want     func(epoch int64) string

	stop   chan struct{}
	wg     sync.WaitGroup
	calls  atomic.Int64
	mu     sync.Mutex
	errs   []error
	counts map[string]int
}

func startClients(m *reload.Manager, n int, allowed []string, want func(int64) string) *clients {
	c := &clients{
		m: m, allowed: map[string]bool{}, want: want,
		progress: make(chan int64, 1), stop: make(chan struct{}), counts: map[string]int{},
	}
	for _, v := range allowed {
		c.allowed[v] = true
	}
	for i := range n {
		c.wg.Go(func() {
			export := abi.ExportStatus
			if i%2 == 1 {
				export = abi.ExportToISV
			}
			for {
				select {
				case <-c.stop:
					return
				default:
				}
				e := c.epoch.Load()
				v, err := versionOf(context.Background(), m, export)
				c.calls.Add(1)
				c.mu.Lock()
				switch {
				case err != nil:
					c.errs = append(c.errs, fmt.Errorf("%s: %w", export, err))
				case !c.allowed[v]:
					c.errs = append(c.errs, fmt.Errorf("%s: answer from version %q", export, v))
				default:
					c.counts[v]++
				}
				c.mu.Unlock()
				if err == nil && c.want != nil && v == c.want(e) {
					select {
					case c.progress <- e:
					default:
					}
				}
				// Pace the clients: calls keep overlapping every swap, but
				// do not take all of both cores from the reloads.
				time.Sleep(time.Millisecond)
			}
		})
	}
	return c
}

// awaitEpoch waits until a call that started in epoch e was answered by
// the version e wants: the clients ran on the new version.
func (c *clients) awaitEpoch(t *testing.T, e int64) {
	t.Helper()
	timeout := time.After(time.Minute)
	for {
		select {
		case got := <-c.progress:
			if got == e {
				return
			}
		case <-timeout:
			t.Fatalf("no call answered by the version of epoch %d within a minute", e)
		}
	}
}

// finish stops the clients and fails the test for every failed call.
func (c *clients) finish(t *testing.T) map[string]int {
	t.Helper()
	close(c.stop)
	c.wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, err := range c.errs {
		if i == 10 {
			t.Errorf("… and %d more", len(c.errs)-10)
			break
		}
		t.Error(err)
	}
	if len(c.errs) > 0 {
		t.Fatalf("%d of %d calls failed", len(c.errs), c.calls.Load())
	}
	return c.counts
}

// TestReload_UnderLoad swaps two valid versions 100 times while 8 clients
// call status and to_isv: no call fails, every answer comes from one of
// the two versions, and after each reload the clients are answered by the
// new version before the next reload starts.
func TestReload_UnderLoad(t *testing.T) {
	const reloads = 100
	v1, v2 := guest(t, "v1"), guest(t, "v2")
	onReload, evs := events()
	m, path := newManager(t, "v1", reload.Options{
		// One instance: the 8 clients also queue for it, and each reload
		// makes one Go runtime (slow under -race).
		Pool:     plugin.PoolOptions{Size: 1, CallTimeout: 30 * time.Second},
		OnReload: onReload,
	})
	if ev := nextEvent(t, evs); !ev.OK || ev.Trigger != reload.TriggerStart || ev.Generation != 1 || ev.SHA256 != digest(v1) {
		t.Fatalf("start event = %+v", ev)
	}
	want := func(e int64) string {
		if e%2 == 1 {
			return "v2"
		}
		return "v1"
	}
	c := startClients(m, 8, []string{"v1", "v2"}, want)
	c.awaitEpoch(t, 0)
	var total time.Duration
	for i := int64(1); i <= reloads; i++ {
		b := v1
		if want(i) == "v2" {
			b = v2
		}
		install(t, path, b)
		if err := m.Reload(t.Context(), reload.TriggerAdmin); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		ev := nextEvent(t, evs)
		if !ev.OK || ev.Generation != uint64(i+1) || ev.SHA256 != digest(b) || ev.Trigger != reload.TriggerAdmin {
			t.Fatalf("reload %d: event %+v", i, ev)
		}
		total += ev.Duration
		cur := m.Current()
		if cur.Generation != uint64(i+1) || cur.SHA256 != digest(b) || cur.Size != len(b) {
			t.Fatalf("reload %d: current = %+v", i, cur)
		}
		c.epoch.Store(i)
		c.awaitEpoch(t, i)
	}
	counts := c.finish(t)
	t.Logf("%d calls (%v) across %d reloads; mean reload %v", c.calls.Load(), counts, reloads, total/reloads)
}

// TestReload_Invalid tries reloads that must fail, under load: the old
// version keeps serving, no call fails, and every failure is reported.
func TestReload_Invalid(t *testing.T) {
	v1 := guest(t, "v1")
	tests := []struct {
		name  string
		bytes []byte // nil: remove the file
		check func(error) bool
	}{
		{"garbage", []byte("this is not a WebAssembly module at all"), func(err error) bool {
			var me *plugin.ModuleError
			return err != nil && !errors.As(err, &me)
		}},
		{"missing export", guest(t, "noisv"), func(err error) bool {
			var me *plugin.ModuleError
			return errors.As(err, &me)
		}},
		{"status fails", guest(t, "badstatus"), func(err error) bool {
			var ge *plugin.GuestError
			return errors.As(err, &ge) && ge.Code == 500
		}},
		{"file missing", nil, func(err error) bool { return errors.Is(err, fs.ErrNotExist) }},
	}
	onReload, evs := events()
	m, path := newManager(t, "v1", reload.Options{Pool: plugin.PoolOptions{Size: 2}, OnReload: onReload})
	nextEvent(t, evs)
	c := startClients(m, 8, []string{"v1"}, func(int64) string { return "v1" })
	c.awaitEpoch(t, 0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.bytes == nil {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
			} else {
				install(t, path, tt.bytes)
			}
			err := m.Reload(t.Context(), reload.TriggerSignal)
			if !tt.check(err) {
				t.Fatalf("reload: %v (%T)", err, err)
			}
			ev := nextEvent(t, evs)
			if ev.OK || !errors.Is(ev.Err, err) || ev.Trigger != reload.TriggerSignal || ev.Generation != 1 {
				t.Fatalf("event = %+v", ev)
			}
			if tt.bytes != nil && ev.SHA256 != digest(tt.bytes) {
				t.Fatalf("event digest %s, want the refused module's", ev.SHA256)
			}
			if cur := m.Current(); cur.Generation != 1 || cur.SHA256 != digest(v1) {
				t.Fatalf("current = %+v", cur)
			}
			// The clients keep being answered by v1.
			c.epoch.Add(1)
			c.awaitEpoch(t, c.epoch.Load())
		})
	}
	counts := c.finish(t)
	t.Logf("%d calls (%v)", c.calls.Load(), counts)

	// A good module after the failures loads.
	install(t, path, guest(t, "v2"))
	if err := m.Reload(t.Context(), reload.TriggerAdmin); err != nil {
		t.Fatal(err)
	}
	if v, err := versionOf(t.Context(), m, abi.ExportStatus); err != nil || v != "v2" {
		t.Fatalf("after a good reload: %q, %v", v, err)
	}
}

// TestNew_Invalid: the first load's failure is New's error.
func TestNew_Invalid(t *testing.T) {
	eng := newEngine(t)
	dir := t.TempDir()
	tests := []struct {
		name  string
		bytes []byte
	}{
		{"garbage", []byte("garbage")},
		{"missing export", guest(t, "noisv")},
		{"status fails", guest(t, "badstatus")},
	}
	before := runtime.NumGoroutine()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := dir + "/" + tt.name + ".wasm"
			install(t, path, tt.bytes)
			onReload, evs := events()
			m, err := reload.New(t.Context(), reload.Options{Path: path, Engine: eng, Watch: true, OnReload: onReload})
			if err == nil {
				m.Close(t.Context())
				t.Fatal("New succeeded")
			}
			if ev := nextEvent(t, evs); ev.OK || ev.Trigger != reload.TriggerStart || ev.SHA256 != digest(tt.bytes) {
				t.Fatalf("event = %+v", ev)
			}
		})
	}
	if _, err := reload.New(t.Context(), reload.Options{Path: dir + "/absent/plugin.wasm", Engine: eng, Watch: true}); err == nil {
		t.Fatal("New watching a missing directory succeeded")
	}
	waitGoroutines(t, before)
}

// TestReload_InFlight: a call running when its version is replaced
// finishes on that version; a replaced version whose call outlives the
// drain timeout has that call stopped.
func TestReload_InFlight(t *testing.T) {
	tests := []struct {
		name        string
		callTimeout time.Duration
		drain       time.Duration
		want        error
	}{
		{"the call ends by itself", 300 * time.Millisecond, time.Hour, plugin.ErrCallTimeout},
		{"the drain timeout stops it", time.Hour, 50 * time.Millisecond, plugin.ErrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			running := make(chan struct{}, 1)
			var mu sync.Mutex
			var served []string // CallContext's digests, in call order
			m, path := newManager(t, "v1", reload.Options{
				Pool:         plugin.PoolOptions{Size: 1, CallTimeout: tt.callTimeout, Logger: signalLogger(running)},
				DrainTimeout: tt.drain,
				CallContext: func(ctx context.Context, sha string) context.Context {
					mu.Lock()
					served = append(served, sha)
					mu.Unlock()
					return ctx
				},
			})
			v1 := m.Current().SHA256
			loop := make(chan error, 1)
			go func() {
				_, err := m.Call(context.Background(), abi.ExportToISV, loopDocs())
				loop <- err
			}()
			select {
			case <-running:
			case err := <-loop:
				t.Fatalf("looping call returned early: %v", err)
			}
			install(t, path, guest(t, "v2"))
			if err := m.Reload(t.Context(), reload.TriggerAdmin); err != nil {
				t.Fatal(err)
			}
			if g := m.Current().Generation; g != 2 {
				t.Fatalf("generation %d", g)
			}
			// The new version serves while the old one still runs the call.
			if _, err := m.Call(t.Context(), abi.ExportStatus, nil); err != nil {
				t.Fatalf("call on the new version: %v", err)
			}
			// Each call was attributed to the version that served it.
			mu.Lock()
			got := slices.Clone(served)
			mu.Unlock()
			if v2 := m.Current().SHA256; len(got) != 2 || got[0] != v1 || got[1] != v2 || v1 == v2 {
				t.Fatalf("CallContext saw %q, want [%s %s]", got, v1, v2)
			}
			select {
			case err := <-loop:
				if !errors.Is(err, tt.want) {
					t.Fatalf("call in flight: %v, want %v", err, tt.want)
				}
			case <-time.After(time.Minute):
				t.Fatal("call in flight did not end")
			}
		})
	}
}

// TestReload_Close: after Close, calls and reloads fail with ErrClosed and
// no goroutine is left, including those of the watcher and of versions
// replaced while calls ran.
func TestReload_Close(t *testing.T) {
	eng := newEngine(t)
	v1, v2 := guest(t, "v1"), guest(t, "v2")
	before := runtime.NumGoroutine()
	path := t.TempDir() + "/plugin.wasm"
	install(t, path, v1)
	m, err := reload.New(t.Context(), reload.Options{Path: path, Engine: eng, Watch: true, Pool: plugin.PoolOptions{Size: 2, MaxCalls: 3}})
	if err != nil {
		t.Fatal(err)
	}
	c := startClients(m, 4, []string{"v1", "v2"}, func(e int64) string { return []string{"v1", "v2"}[e%2] })
	for i := int64(1); i <= 4; i++ {
		install(t, path, [][]byte{v1, v2}[i%2])
		if err := m.Reload(t.Context(), reload.TriggerAdmin); err != nil {
			t.Fatal(err)
		}
		c.epoch.Store(i)
		c.awaitEpoch(t, i)
	}
	c.finish(t)
	if err := m.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Call(t.Context(), abi.ExportStatus, nil); !errors.Is(err, plugin.ErrClosed) {
		t.Fatalf("call after close: %v", err)
	}
	if err := m.Reload(t.Context(), reload.TriggerAdmin); !errors.Is(err, plugin.ErrClosed) {
		t.Fatalf("reload after close: %v", err)
	}
	if cur := m.Current(); cur.Generation != 0 {
		t.Fatalf("current after close = %+v", cur)
	}
	if err := m.Close(t.Context()); err != nil {
		t.Fatalf("second close: %v", err)
	}
	waitGoroutines(t, before)
}

// TestReload_Context: Reload returns when its context ends; the reload
// goes on and is reported.
func TestReload_Context(t *testing.T) {
	gate := make(chan struct{})
	var gated atomic.Bool
	onReload, evs := events()
	m, _ := newManager(t, "v1", reload.Options{
		OnReload: onReload,
		Check: func(ctx context.Context, p *plugin.Pool) error {
			if gated.Load() {
				<-gate
			}
			return reload.CheckStatus(ctx, p)
		},
	})
	nextEvent(t, evs)
	gated.Store(true)
	ctx, cancel := context.WithCancelCause(t.Context())
	stop := errors.New("client gone")
	cancel(stop)
	if err := m.Reload(ctx, reload.TriggerAdmin); !errors.Is(err, stop) {
		t.Fatalf("reload: %v", err)
	}
	close(gate)
	if ev := nextEvent(t, evs); !ev.OK || ev.Generation != 2 {
		t.Fatalf("event = %+v", ev)
	}
}
