package interrupt_test

// The fixtures in testdata are committed compiled; the tests never need wabt.
// After editing a .wat file, regenerate its .wasm with wabt's wat2wasm:
//
//go:generate sh -c "cd testdata && for f in loops nested recursion bare env imports simd bulk endless; do wat2wasm $DOLLAR{f}.wat -o $DOLLAR{f}.wasm; done"
//go:generate wat2wasm --enable-tail-call testdata/tailcall.wat -o testdata/tailcall.wasm
//go:generate wat2wasm --enable-threads testdata/atomics.wat -o testdata/atomics.wasm

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/osohost/osohost/host/plugin/interrupt"
)

// allFeatures enables everything wazero v1.12 can compile.
const allFeatures = api.CoreFeaturesV2 | experimental.CoreFeaturesThreads | experimental.CoreFeaturesTailCall |
	experimental.CoreFeaturesExtendedConst | experimental.CoreFeaturesExceptionHandling |
	experimental.CoreFeaturesTypedFunctionReferences

// stopBound only keeps a broken build from hanging the test run; it is not
// a timing assertion. A working flag stops a guest within microseconds.
const stopBound = time.Minute

// newRuntime returns a runtime on the compiler engine, without
// WithCloseOnContextDone: the interrupt flag is what stops guests.
func newRuntime(ctx context.Context, features api.CoreFeatures) wazero.Runtime {
	return wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCoreFeatures(features))
}

// fixture reads testdata/name.wasm.
func fixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".wasm"))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// mustInstrument instruments wasm or fails the test.
func mustInstrument(tb testing.TB, wasm []byte) []byte {
	tb.Helper()
	out, err := interrupt.Instrument(wasm)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// guest is a runtime with the host module "test" (whose started function
// closes Started the first time a guest calls it) and WASI.
type guest struct {
	rt      wazero.Runtime
	started chan struct{}
}

func newGuest(tb testing.TB, features api.CoreFeatures) *guest {
	tb.Helper()
	return newGuestWithConfig(tb, wazero.NewRuntimeConfigCompiler().WithCoreFeatures(features))
}

func newGuestWithConfig(tb testing.TB, config wazero.RuntimeConfig) *guest {
	tb.Helper()
	ctx := context.Background()
	g := &guest{rt: wazero.NewRuntimeWithConfig(ctx, config), started: make(chan struct{})}
	tb.Cleanup(func() { _ = g.rt.Close(ctx) })
	var once sync.Once
	_, err := g.rt.NewHostModuleBuilder("test").
		NewFunctionBuilder().WithFunc(func() { once.Do(func() { close(g.started) }) }).Export("started").
		Instantiate(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	wasi_snapshot_preview1.MustInstantiate(ctx, g.rt)
	return g
}

// instantiate instantiates wasm under name and calls _initialize when the
// module exports it (Go and C reactors).
func (g *guest) instantiate(tb testing.TB, wasm []byte, name string) api.Module {
	tb.Helper()
	ctx := context.Background()
	m, err := g.rt.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithName(name).WithStartFunctions())
	if err != nil {
		tb.Fatal(err)
	}
	if init := m.ExportedFunction("_initialize"); init != nil {
		if _, err := init.Call(ctx); err != nil {
			tb.Fatal(err)
		}
	}
	return m
}

// interruptSpin calls export on m (which must call test.started and then
// never return), sets the flag once the guest has started, and checks that
// the call ends with the trap the flag causes.
func interruptSpin(t *testing.T, g *guest, m api.Module, export string) {
	t.Helper()
	flag, ok := m.ExportedGlobal(interrupt.GlobalExport).(api.MutableGlobal)
	if !ok {
		t.Fatalf("%s is not exported as a mutable global", interrupt.GlobalExport)
	}
	done := make(chan error, 1)
	go func() {
		_, err := m.ExportedFunction(export).Call(context.Background())
		done <- err
	}()
	select {
	case <-g.started:
	case err := <-done:
		t.Fatalf("%s returned before it started: %v", export, err)
	case <-time.After(stopBound):
		t.Fatalf("%s did not start", export)
	}
	flag.Set(1) // only this goroutine touches the flag: no lock needed here
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "unreachable") {
			t.Fatalf("%s: got %v, want the unreachable trap", export, err)
		}
	case <-time.After(stopBound):
		t.Fatalf("%s still running %v after the flag was set", export, stopBound)
	}
}

// goGuest builds testdata/goguest once per test binary.
var goGuest = sync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp("", "goguest")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "goguest.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, "./testdata/goguest")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, errors.New(string(msg))
	}
	return os.ReadFile(out)
})

// goGuestWasm returns the Go guest or skips when no Go toolchain can build it.
func goGuestWasm(tb testing.TB) []byte {
	tb.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		tb.Skip("no go command to build the wasip1 guest")
	}
	b, err := goGuest()
	if err != nil {
		tb.Fatalf("build the Go guest: %v", err)
	}
	return b
}
