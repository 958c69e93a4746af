package interrupt_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/osohost/osohost/host/plugin/interrupt"
)

// FuzzInstrument checks, on any input, that Instrument does not panic and
// that:
//   - whenever Instrument succeeds and wazero (compiler, every feature it
//     has) compiles the input, wazero compiles the output too;
//   - whenever Instrument succeeds, instrumenting its output again is
//     rejected with ErrAlreadyInstrumented (the package's choice: rejected,
//     not idempotent);
//   - every error wraps ErrMalformed or is ErrAlreadyInstrumented.
//
// Inputs Instrument rejects are not handed to wazero: v1.12 allocates by
// declared counts before checking them against the bytes that follow, so a
// 50-byte module can make it allocate tens of gigabytes and kill the
// process (which is why the plugin runtime instruments before compiling).
// The converse property, that Instrument accepts whatever wazero compiles,
// is checked on thousands of valid modules by TestInstrument_WazeroCorpus.
//
// The seeds are the fixtures in testdata.
func FuzzInstrument(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*.wasm"))
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(funcModule(0, 0x03, 0x40, 0x0c, 0, 0x0b, 0x0b))
	ctx := context.Background()
	rt := newRuntime(ctx, allFeatures)
	f.Cleanup(func() { _ = rt.Close(ctx) })
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := interrupt.Instrument(in)
		if err != nil {
			if out != nil {
				t.Fatalf("output returned with error %v", err)
			}
			if !errors.Is(err, interrupt.ErrMalformed) && !errors.Is(err, interrupt.ErrAlreadyInstrumented) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if compileErr(ctx, rt, in) == nil {
			if err := compileErr(ctx, rt, out); err != nil {
				t.Fatalf("wazero compiles the input but not the output: %v", err)
			}
		}
		if again, err := interrupt.Instrument(out); again != nil || err != interrupt.ErrAlreadyInstrumented {
			t.Fatalf("instrumenting twice: %d bytes, %v; want ErrAlreadyInstrumented", len(again), err)
		}
	})
}
