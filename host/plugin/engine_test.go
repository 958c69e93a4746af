package plugin_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/host/plugin"
	"github.com/osohost/osohost/host/plugin/plugintest"
)

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestInspect(t *testing.T) {
	for _, name := range []string{"queue", "testguest", "status-c"} {
		t.Run(name, func(t *testing.T) {
			info, err := plugin.Inspect(t.Context(), plugintest.Read(t, name))
			if err != nil {
				t.Fatal(err)
			}
			if info.ABI != "oso-v1" || !info.Reactor {
				t.Fatalf("info = %+v", info)
			}
			if p := info.Problems(); len(p) != 0 {
				t.Fatalf("problems: %q", p)
			}
			for _, imp := range info.Imports {
				if imp.Module != abi.ImportModule && imp.Module != abi.WASIModule {
					t.Errorf("unexpected import %s.%s", imp.Module, imp.Name)
				}
			}
		})
	}
}

func TestEngine_Compile_Errors(t *testing.T) {
	tests := []struct {
		name string
		file string
		want []string // substrings of the error
	}{
		{"not an OSO plugin", "testdata/empty.wasm", []string{`missing export "oso_abi_v1"`, `missing export "to_oso"`, `missing export "memory"`}},
		{"wrong signature", "testdata/badsig.wasm", []string{`export "to_isv" has signature (i32)->i32, want (i32,i32)->i32`, `missing export "status"`}},
		{"unknown imports", "testdata/badimport.wasm", []string{`import oso.sign_everything(i32)->i32 is not provided`, `module "env" is not provided`}},
		{"command module", "testdata/command.wasm", []string{"build it as a reactor"}},
	}
	ctx := context.Background()
	eng, err := plugin.NewEngine(ctx, plugin.EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := eng.Compile(ctx, readFile(t, tt.file))
			var me *plugin.ModuleError
			if !errors.As(err, &me) {
				t.Fatalf("err = %v, want *ModuleError", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	t.Run("not wasm", func(t *testing.T) {
		if _, err := eng.Compile(ctx, []byte("#!/bin/sh\necho hi\n")); err == nil || !strings.Contains(err.Error(), "not a valid WebAssembly module") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("too large", func(t *testing.T) {
		small, err := plugin.NewEngine(ctx, plugin.EngineOptions{MaxModuleBytes: 16})
		if err != nil {
			t.Fatal(err)
		}
		defer small.Close(ctx)
		if _, err := small.Compile(ctx, readFile(t, "testdata/minimal.wasm")); err == nil || !strings.Contains(err.Error(), "the limit is 16") {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestMinimalGuest runs a hand-written module: the ABI needs no SDK.
func TestMinimalGuest(t *testing.T) {
	ctx := context.Background()
	eng, err := plugin.NewEngine(ctx, plugin.EngineOptions{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	mod, err := eng.Compile(ctx, readFile(t, "testdata/minimal.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := plugin.NewPool(ctx, mod, plugin.PoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	if p.Size() != 1 || p.Stateless() {
		t.Fatalf("size %d stateless %v", p.Size(), p.Stateless())
	}
	res, err := p.Call(ctx, abi.ExportStatus, nil)
	if err != nil || res.Kind != abi.OutputJSON || !strings.Contains(string(res.Data), `"status":"OK"`) {
		t.Fatalf("status: %v %q", err, res.Data)
	}
	res, err = p.Call(ctx, abi.ExportToISV, docs("a"))
	if err != nil || res.Kind != 0 || res.Data != nil {
		t.Fatalf("to_isv: %v %+v", err, res)
	}
	// An input the guest cannot allocate for is a trap-class failure.
	big := make([]byte, 70000)
	if _, err := p.Call(ctx, abi.ExportToISV, big); err == nil {
		t.Fatal("oversized input accepted by a 60 KiB guest")
	}
}

// TestInstrumentedCache checks the cache of instrumented modules: a first
// compile writes the sealed module, a second (a new engine on the same
// directory, as at the next start) serves from it, and a damaged entry is
// ignored and rewritten rather than compiled.
func TestInstrumentedCache(t *testing.T) {
	dir := t.TempDir()
	wasm := readFile(t, "testdata/minimal.wasm")
	compile := func() {
		t.Helper()
		ctx := t.Context()
		eng, err := plugin.NewEngine(ctx, plugin.EngineOptions{CacheDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer eng.Close(ctx)
		m, err := eng.Compile(ctx, wasm)
		if err != nil {
			t.Fatal(err)
		}
		p, err := plugin.NewPool(ctx, m, plugin.PoolOptions{Size: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close(ctx)
		if res, err := p.Call(ctx, abi.ExportStatus, nil); err != nil || !strings.Contains(string(res.Data), `"status_code":200`) {
			t.Fatalf("status: %s, %v", res.Data, err)
		}
	}
	compile()
	entries, err := filepath.Glob(filepath.Join(dir, "osohost-instrumented", "*.wasm"))
	if err != nil || len(entries) != 1 {
		t.Fatalf("cache entries %q, %v; want one", entries, err)
	}
	first := readFile(t, entries[0])
	compile()
	if !bytes.Equal(readFile(t, entries[0]), first) {
		t.Fatal("a warm compile rewrote the cache entry")
	}
	// Damage the entry: one flipped byte of the module, its seal unchanged.
	bad := bytes.Clone(first)
	bad[len(bad)-1] ^= 0xff
	if err := os.WriteFile(entries[0], bad, 0o600); err != nil {
		t.Fatal(err)
	}
	compile()
	if !bytes.Equal(readFile(t, entries[0]), first) {
		t.Fatal("a damaged cache entry was not rewritten")
	}
}
