package bench

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	extism "github.com/extism/go-sdk"
	"github.com/tetratelabs/wazero"

	"github.com/osohost/osohost/host/plugin"
)

// extismPlugin instantiates one of the Extism-built plugins of
// testdata/extism with extism/go-sdk, the way its own benchmarks do.
func extismPlugin(b *testing.B, file string) *extism.Plugin {
	return extismPluginTimeout(b, file, 0)
}

// extismPluginTimeout is extismPlugin with the manifest's Timeout, in
// milliseconds: go-sdk then runs every call under a deadline, as osohost
// always does.
func extismPluginTimeout(b *testing.B, file string, timeoutMS uint64) *extism.Plugin {
	b.Helper()
	ctx := context.Background()
	wasm, err := os.ReadFile(filepath.Join("testdata", "extism", file))
	if err != nil {
		b.Fatal(err)
	}
	cache := wazero.NewCompilationCache()
	b.Cleanup(func() { cache.Close(ctx) })
	cp, err := extism.NewCompiledPlugin(ctx, extism.Manifest{Wasm: []extism.Wasm{extism.WasmData{Data: wasm}}, Timeout: timeoutMS},
		extism.PluginConfig{EnableWasi: true, RuntimeConfig: wazero.NewRuntimeConfig().WithCompilationCache(cache)}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cp.Close(ctx) })
	p, err := cp.Instance(ctx, extism.PluginInstanceConfig{ModuleConfig: wazero.NewModuleConfig()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close(ctx) })
	return p
}

// extismCall is one call of BenchmarkExtism and BenchmarkExtismPool.
type extismCall struct {
	name, file, fn string
	in, want       []byte
}

func extismCalls() []extismCall {
	kib := oneKiB()
	return []extismCall{
		{"noop", "noop.wasm", "run_test", nil, nil},
		{"echo1KiB", "replace.wasm", "run_test", kib, kib},
		{"countVowels", "count_vowels.wasm", "count_vowels", []byte("Hello World"), []byte(`{"count":3,"total":3,"vowels":"aeiouAEIOU"}`)},
	}
}

// BenchmarkExtism calls Extism-built plugins through extism/go-sdk v1.7.1:
// call=noop is run_test of noop.wasm (TinyGo, empty input, does nothing);
// call=echo1KiB is run_test of replace.wasm (TinyGo, go-pdk) on the same
// 1 KiB as BenchmarkRoundTrip1KiB, which it reads and hands back unchanged
// (it replaces "test", which the input does not contain);
// call=countVowels is count_vowels of count_vowels.wasm (Rust PDK) on
// "Hello World". cpu-ns/op is the process's CPU time per call, as in
// BenchmarkRoundTrip1KiB.
func BenchmarkExtism(b *testing.B) {
	for _, c := range extismCalls() {
		b.Run("call="+c.name, func(b *testing.B) {
			p := extismPlugin(b, c.file)
			rc, out, err := p.Call(c.fn, c.in)
			if err != nil || rc != 0 || !bytes.Equal(out, c.want) {
				b.Fatalf("%s: rc %d, output %q, %v", c.fn, rc, out, err)
			}
			if len(c.in) > 0 {
				b.SetBytes(int64(len(c.in)))
			}
			b.ReportAllocs()
			cpu0, n := cpuTime(), 0
			for b.Loop() {
				if _, _, err := p.Call(c.fn, c.in); err != nil {
					b.Fatal(err)
				}
				n++
			}
			reportCPU(b, cpu0, n)
		})
	}
}

// BenchmarkExtismTimeout is BenchmarkExtism/call=echo1KiB with go-sdk's
// own call deadline (Manifest.Timeout, one minute): what a deadline costs
// on this path whoever sets it.
func BenchmarkExtismTimeout(b *testing.B) {
	kib := oneKiB()
	p := extismPluginTimeout(b, "replace.wasm", 60_000)
	if rc, out, err := p.Call("run_test", kib); err != nil || rc != 0 || !bytes.Equal(out, kib) {
		b.Fatalf("run_test: rc %d, %d bytes, %v", rc, len(out), err)
	}
	b.SetBytes(int64(len(kib)))
	b.ReportAllocs()
	cpu0, n := cpuTime(), 0
	for b.Loop() {
		if _, _, err := p.Call("run_test", kib); err != nil {
			b.Fatal(err)
		}
		n++
	}
	reportCPU(b, cpu0, n)
}

// BenchmarkExtismPool makes the calls of BenchmarkExtism through osohost's
// Extism compatibility path (plugin.Pool.CallAny on a module compiled by
// plugin.Engine.CompileAny): go-sdk's call, plus the pool, the call's deadline, the
// input allocation check and the output bound. Its ratio to
// BenchmarkExtism is the price of serving an Extism plugin in osohost;
// its ratio to BenchmarkRoundTrip1KiB/guest=raw, that of the Extism ABI.
func BenchmarkExtismPool(b *testing.B) {
	for _, c := range extismCalls() {
		b.Run("call="+c.name, func(b *testing.B) {
			ctx := context.Background()
			wasm, err := os.ReadFile(filepath.Join("testdata", "extism", c.file))
			if err != nil {
				b.Fatal(err)
			}
			mod, err := newEngine(b, plugin.DeadlineInterrupt).CompileAny(ctx, wasm)
			if err != nil {
				b.Fatal(err)
			}
			p, err := plugin.NewPool(ctx, mod, plugin.PoolOptions{Size: 1})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { p.Close(ctx) })
			res, err := p.CallAny(ctx, c.fn, c.in)
			if err != nil || !bytes.Equal(res.Data, c.want) {
				b.Fatalf("%s: output %q, %v", c.fn, res.Data, err)
			}
			if len(c.in) > 0 {
				b.SetBytes(int64(len(c.in)))
			}
			b.ReportAllocs()
			cpu0, n := cpuTime(), 0
			for b.Loop() {
				if _, err := p.CallAny(ctx, c.fn, c.in); err != nil {
					b.Fatal(err)
				}
				n++
			}
			reportCPU(b, cpu0, n)
		})
	}
}
