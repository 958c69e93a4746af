package bench

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/host/plugin"
)

// BenchmarkRoundTrip1KiB is one native-ABI call through the pool: acquire
// an instance, hand it 1 KiB (one document), take 1 KiB back, release.
// guest=sdk is a Go SDK plugin that rebuilds the list; guest=raw hands its
// input buffer straight back. ctx=background calls with a context that is
// never done; ctx=request with one that has a deadline and can be
// cancelled, as an HTTP request's context has. Besides ns/op, cpu-ns/op is
// the process's CPU time per call (user + system, from getrusage), which
// time spent waiting for a core on a busy machine does not inflate.
func BenchmarkRoundTrip1KiB(b *testing.B) {
	in := oneKiB()
	for _, g := range []struct{ name, guest string }{{"sdk", "echoguest"}, {"raw", "rawguest"}} {
		for _, c := range []string{"background", "request"} {
			b.Run("guest="+g.name+"/ctx="+c, func(b *testing.B) {
				p := newPool(b, g.guest, plugin.DeadlineInterrupt)
				ctx := context.Background()
				if c == "request" {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, time.Hour)
					defer cancel()
				}
				res, err := p.Call(ctx, abi.ExportToISV, in)
				if err != nil || res.Kind != abi.OutputDocumentList || !bytes.Equal(res.Data, in) {
					b.Fatalf("echo of 1 KiB: kind %d, %d bytes, %v", res.Kind, len(res.Data), err)
				}
				b.SetBytes(int64(len(in)))
				b.ReportAllocs()
				cpu0, n := cpuTime(), 0
				for b.Loop() {
					if _, err := p.Call(ctx, abi.ExportToISV, in); err != nil {
						b.Fatal(err)
					}
					n++
				}
				reportCPU(b, cpu0, n)
			})
		}
	}
}

// bareModule instantiates a guest with wazero alone: the engine's runtime
// configuration, no instrumentation, no pool, and host functions that do
// no more than oso.output must (copy the output) and answer OK.
type bareModule struct {
	mod api.Module
	out []byte
}

func newBareModule(b *testing.B, guest string) *bareModule {
	b.Helper()
	ctx := context.Background()
	m := &bareModule{}
	rt := newBareRuntime(b, true, func(data []byte) { m.out = append(m.out[:0], data...) })
	cm, err := rt.CompileModule(ctx, readGuest(b, guest))
	if err != nil {
		b.Fatal(err)
	}
	if m.mod, err = rt.InstantiateModule(ctx, cm, bareModuleConfig()); err != nil {
		b.Fatal(err)
	}
	return m
}

func bareModuleConfig() wazero.ModuleConfig {
	return wazero.NewModuleConfig().WithName("").WithStartFunctions(abi.ExportInitialize).
		WithSysNanotime().WithSysWalltime()
}

// newBareRuntime returns a wazero runtime configured as plugin.NewEngine
// configures its own (compiler, memory limit, capacity from the limit when
// capacityFromMax is set, the package's compilation cache), with WASI and
// an "oso" module whose output function hands the output bytes to output
// (a view, valid during the call) and whose other functions answer OK.
func newBareRuntime(b *testing.B, capacityFromMax bool, output func([]byte)) wazero.Runtime {
	b.Helper()
	ctx := context.Background()
	cache, err := wazero.NewCompilationCacheWithDir(cacheDir())
	if err != nil {
		b.Fatal(err)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().
		WithMemoryLimitPages(plugin.DefaultMemoryLimitPages).
		WithMemoryCapacityFromMax(capacityFromMax).
		WithCompilationCache(cache))
	b.Cleanup(func() { rt.Close(ctx) })
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		b.Fatal(err)
	}
	out := func(_ context.Context, mod api.Module, stack []uint64) {
		data, ok := mod.Memory().Read(api.DecodeU32(stack[1]), api.DecodeU32(stack[2]))
		if !ok {
			stack[0] = api.EncodeI32(int32(abi.StatusBadPointer))
			return
		}
		output(data)
		stack[0] = api.EncodeI32(int32(abi.StatusOK))
	}
	ok := func(_ context.Context, _ api.Module, stack []uint64) { stack[0] = api.EncodeI32(int32(abi.StatusOK)) }
	i32 := api.ValueTypeI32
	three, one := []api.ValueType{i32, i32, i32}, []api.ValueType{i32}
	_, err = rt.NewHostModuleBuilder(abi.ImportModule).
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(out), three, one).Export(abi.ImportOutput).
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(ok), three, one).Export(abi.ImportError).
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(ok), three, one).Export(abi.ImportLog).
		Instantiate(ctx)
	if err != nil {
		b.Fatal(err)
	}
	return rt
}

// BenchmarkBareCall calls the same guests with wazero alone. call=marker is
// api.Function.CallWithStack on oso_abi_v1, no data: the floor of any
// export call. call=echo1KiB does what a 1 KiB round trip does at the
// boundary (oso_alloc, one write into guest memory, to_isv, one copy out
// in oso.output) without pool, deadline or result copy.
func BenchmarkBareCall(b *testing.B) {
	in := oneKiB()
	for _, g := range []struct{ name, guest string }{{"sdk", "echoguest"}, {"raw", "rawguest"}} {
		b.Run("guest="+g.name+"/call=marker", func(b *testing.B) {
			m := newBareModule(b, g.guest)
			fn := m.mod.ExportedFunction(abi.ExportMarker)
			ctx := context.Background()
			stack := make([]uint64, 1)
			b.ReportAllocs()
			for b.Loop() {
				if err := fn.CallWithStack(ctx, stack); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("guest="+g.name+"/call=echo1KiB", func(b *testing.B) {
			m := newBareModule(b, g.guest)
			alloc := m.mod.ExportedFunction(abi.ExportAlloc)
			toISV := m.mod.ExportedFunction(abi.ExportToISV)
			mem := m.mod.Memory()
			ctx := context.Background()
			stack := make([]uint64, 2)
			call := func() {
				stack[0] = api.EncodeI32(int32(len(in)))
				if err := alloc.CallWithStack(ctx, stack); err != nil {
					b.Fatal(err)
				}
				ptr := api.DecodeU32(stack[0])
				if ptr == 0 || !mem.Write(ptr, in) {
					b.Fatal("oso_alloc returned an unusable buffer")
				}
				stack[0], stack[1] = api.EncodeU32(ptr), api.EncodeU32(uint32(len(in)))
				if err := toISV.CallWithStack(ctx, stack); err != nil {
					b.Fatal(err)
				}
				if stack[0] != abi.ResultOK {
					b.Fatalf("to_isv returned %d", api.DecodeI32(stack[0]))
				}
			}
			call()
			if !bytes.Equal(m.out, in) {
				b.Fatalf("echo of 1 KiB answered %d bytes", len(m.out))
			}
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				call()
			}
		})
	}
}
