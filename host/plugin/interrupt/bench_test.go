package interrupt_test

import (
	"context"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/osohost/osohost/host/plugin/interrupt"
)

// mechanisms are the ways a call can be run: with no way to stop the guest,
// instrumented (a timer per call, as the pool arms one, that would set the
// flag), and with wazero's WithCloseOnContextDone (a context deadline per
// call).
var mechanisms = []struct {
	name       string
	instrument bool
	closeOnCtx bool
}{
	{"plain", false, false},
	{"instrumented", true, false},
	{"closeOnContextDone", false, true},
}

// benchCall runs fn(args) once per iteration under each mechanism.
func benchCall(b *testing.B, wasm []byte, fn string, args ...uint64) {
	for _, m := range mechanisms {
		b.Run(m.name, func(b *testing.B) {
			config := wazero.NewRuntimeConfigCompiler().WithCloseOnContextDone(m.closeOnCtx)
			g := newGuestWithConfig(b, config)
			w := wasm
			if m.instrument {
				w = mustInstrument(b, wasm)
			}
			mod := g.instantiate(b, w, "")
			f := mod.ExportedFunction(fn)
			var flag api.MutableGlobal
			if m.instrument {
				flag = mod.ExportedGlobal(interrupt.GlobalExport).(api.MutableGlobal)
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				var err error
				switch {
				case m.instrument:
					t := time.AfterFunc(time.Minute, func() { flag.Set(1) })
					_, err = f.Call(ctx, args...)
					t.Stop()
				case m.closeOnCtx:
					cctx, cancel := context.WithTimeout(ctx, time.Minute)
					_, err = f.Call(cctx, args...)
					cancel()
				default:
					_, err = f.Call(ctx, args...)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCount: a tight counting loop of 1,000,000 iterations, the worst
// case for a per-iteration check.
func BenchmarkCount(b *testing.B) {
	benchCall(b, fixture(b, "loops"), "count", 1_000_000)
}

// BenchmarkFib: recursive calls, the worst case for a per-entry check.
func BenchmarkFib(b *testing.B) {
	benchCall(b, fixture(b, "recursion"), "fib", 25)
}

// BenchmarkGoGuest: a Go wasip1 export doing real work (JSON encoding and
// decoding of 100 documents, and SHA-256).
func BenchmarkGoGuest(b *testing.B) {
	benchCall(b, goGuestWasm(b), "work", 100)
}

// BenchmarkInstrument measures Instrument itself on the Go guest (3 MiB).
func BenchmarkInstrument(b *testing.B) {
	wasm := goGuestWasm(b)
	b.SetBytes(int64(len(wasm)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := interrupt.Instrument(wasm); err != nil {
			b.Fatal(err)
		}
	}
}
