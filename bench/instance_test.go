package bench

import (
	"context"
	"testing"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/host/plugin"
	"github.com/osohost/osohost/host/plugin/interrupt"
)

// BenchmarkInstance measures what it costs to get a guest ready, with the
// default deadline mode (DeadlineInterrupt).
//
// op=newpool is plugin.NewPool of one instance from a module compiled
// beforehand (instantiate, "_initialize", the marker, "init" and the
// stateless query) followed by Pool.Close. op=instantiate is the same
// with wazero alone (instantiate with "_initialize", then close), with the
// engine's memory configuration (memory=max: WithMemoryCapacityFromMax, so
// each instance allocates the whole 128 MiB limit up front) and without it
// (memory=min: the module's initial memory, grown on demand). op=compile is plugin.NewEngine,
// Engine.Compile and Engine.Close: cache=off compiles from scratch,
// cache=warm finds the machine code in the compilation cache
// (EngineOptions.CacheDir), for the echo guest and for examples/signer
// (with the signing host functions); op=refill is a call on a pool that
// replaces its instance after every call, against op=call on one that
// keeps it (examples/signer, one document). The parts of a compile are measured alone:
// op=engine (NewEngine and Close only), op=inspect (plugin.Inspect, which
// decodes and validates the module) and op=instrument
// (interrupt.Instrument).
func BenchmarkInstance(b *testing.B) {
	ctx := context.Background()
	for _, guest := range []string{"echoguest", "status-c"} {
		b.Run("op=newpool/guest="+guest, func(b *testing.B) {
			mod, err := newEngine(b, plugin.DeadlineInterrupt).Compile(ctx, readGuest(b, guest))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				p, err := plugin.NewPool(ctx, mod, plugin.PoolOptions{Size: 1})
				if err != nil {
					b.Fatal(err)
				}
				p.Close(ctx)
			}
		})
	}
	for _, guest := range []string{"echoguest", "status-c"} {
		for _, capacity := range []string{"max", "min"} {
			b.Run("op=instantiate/memory="+capacity+"/guest="+guest, func(b *testing.B) {
				rt := newBareRuntime(b, capacity == "max", func([]byte) {})
				cm, err := rt.CompileModule(ctx, readGuest(b, guest))
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					mod, err := rt.InstantiateModule(ctx, cm, bareModuleConfig())
					if err != nil {
						b.Fatal(err)
					}
					mod.Close(ctx)
				}
			})
		}
	}
	compile := func(b *testing.B, wasm []byte, opts plugin.EngineOptions) {
		eng, err := plugin.NewEngine(ctx, opts)
		if err != nil {
			b.Fatal(err)
		}
		defer eng.Close(ctx)
		if _, err := eng.Compile(ctx, wasm); err != nil {
			b.Fatal(err)
		}
	}
	for _, guest := range []string{"echoguest", "signer"} {
		for _, cache := range []string{"off", "warm"} {
			b.Run("op=compile/cache="+cache+"/guest="+guest, func(b *testing.B) {
				wasm := readGuest(b, guest)
				opts := plugin.EngineOptions{Deadline: plugin.DeadlineInterrupt}
				if guest == "signer" {
					opts.HostFunctions = signingHostFunctions(newSoftSigner(b, 0))
				}
				if cache == "warm" {
					opts.CacheDir = b.TempDir()
					compile(b, wasm, opts)
				}
				b.ReportAllocs()
				for b.Loop() {
					compile(b, wasm, opts)
				}
			})
		}
	}
	// op=refill: a pool of one instance recycled after every call
	// (PoolOptions.MaxCalls = 1), so that each call waits for the
	// replacement the pool instantiates in the background after the
	// previous one; against op=call, the same calls on an instance that is
	// kept.
	for _, op := range []string{"call", "refill"} {
		b.Run("op="+op+"/guest=signer", func(b *testing.B) {
			s := newSoftSigner(b, 0)
			eng, err := plugin.NewEngine(ctx, plugin.EngineOptions{CacheDir: cacheDir(), Deadline: plugin.DeadlineInterrupt,
				HostFunctions: signingHostFunctions(s)})
			if err != nil {
				b.Fatal(err)
			}
			defer eng.Close(ctx)
			mod, err := eng.Compile(ctx, readGuest(b, "signer"))
			if err != nil {
				b.Fatal(err)
			}
			opts := plugin.PoolOptions{Size: 1}
			if op == "refill" {
				opts.MaxCalls = 1
			}
			p, err := plugin.NewPool(ctx, mod, opts)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close(ctx)
			in := signerInput(1)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Call(ctx, abi.ExportToISV, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("op=engine", func(b *testing.B) {
		opts := plugin.EngineOptions{Deadline: plugin.DeadlineInterrupt, CacheDir: b.TempDir()}
		b.ReportAllocs()
		for b.Loop() {
			eng, err := plugin.NewEngine(ctx, opts)
			if err != nil {
				b.Fatal(err)
			}
			eng.Close(ctx)
		}
	})
	b.Run("op=inspect/guest=echoguest", func(b *testing.B) {
		wasm := readGuest(b, "echoguest")
		b.ReportAllocs()
		for b.Loop() {
			if _, err := plugin.Inspect(ctx, wasm); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("op=instrument/guest=echoguest", func(b *testing.B) {
		wasm := readGuest(b, "echoguest")
		b.SetBytes(int64(len(wasm)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := interrupt.Instrument(wasm); err != nil {
				b.Fatal(err)
			}
		}
	})
}
