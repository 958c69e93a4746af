package interrupt_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/osohost/osohost/host/plugin/interrupt"
)

// wazeroDir returns the source directory of the wazero module this package
// is built against (it ships thousands of .wasm files: the spec test suites
// of every proposal it implements, its fuzz regressions, and binaries built
// by Go, TinyGo, Zig and Rust with DWARF), or skips the test when the go
// command cannot tell.
func wazeroDir(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs thousands of modules")
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/tetratelabs/wazero").Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		t.Skipf("wazero module source not found: %v", err)
	}
	return dir
}

// TestInstrument_WazeroCorpus: whenever wazero compiles one of the .wasm
// files shipped with it, Instrument must accept the file and wazero must
// compile the result; whatever the file, Instrument must not panic.
func TestInstrument_WazeroCorpus(t *testing.T) {
	t.Parallel()
	dir := wazeroDir(t)
	var files []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".wasm") {
			files = append(files, p)
		}
		return nil
	})
	if len(files) == 0 {
		t.Skip("no .wasm file in the wazero module")
	}
	ctx := t.Context()
	rt := newRuntime(ctx, allFeatures)
	defer rt.Close(ctx)
	var compiled, rejected int
	for _, f := range files {
		in, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, f)
		out, ierr := interrupt.Instrument(in)
		if compileErr(ctx, rt, in) != nil {
			rejected++
			continue
		}
		compiled++
		if ierr != nil {
			t.Errorf("%s: wazero compiles it but Instrument failed: %v", rel, ierr)
		} else if err := compileErr(ctx, rt, out); err != nil {
			t.Errorf("%s: instrumented module does not compile: %v", rel, err)
		}
	}
	t.Logf("%d modules compiled and instrumented, %d rejected by wazero", compiled, rejected)
}

// TestInstrument_SpecDifferential runs every script of wazero's copy of the
// WebAssembly spec test suites twice, once with the original modules and
// once with instrumented ones (the flag left at 0), and requires the same
// outcome for every command: the same results bit for bit (references
// compared by nullness), the same traps, the same link and compile failures.
func TestInstrument_SpecDifferential(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(wazeroDir(t), "internal", "integration_test", "spectest")
	scripts, _ := filepath.Glob(filepath.Join(dir, "*", "testdata", "*.json"))
	if len(scripts) == 0 {
		t.Skip("no spec test script in the wazero module")
	}
	spectest, err := os.ReadFile(filepath.Join(dir, "testdata", "spectest.wasm"))
	if err != nil {
		t.Skip(err)
	}
	commands := 0
	for _, script := range scripts {
		rel, _ := filepath.Rel(dir, script)
		t.Run(rel, func(t *testing.T) {
			want := runScript(t, script, spectest, false)
			got := runScript(t, script, spectest, true)
			if len(want) != len(got) {
				t.Fatalf("%d outcomes, instrumented %d", len(want), len(got))
			}
			for i := range want {
				if want[i] != got[i] && !knownDifference[rel+want[i]] {
					t.Errorf("original:     %s\ninstrumented: %s", want[i], got[i])
				}
			}
			commands += len(want)
		})
	}
	t.Logf("%d scripts, %d commands compared", len(scripts), commands)
}

// knownDifference lists outcomes that differ for a reason outside this
// package. wazero v1.12 (validateConstExpression) types `ref.null func` in a
// table initialiser as a reference to function 0's type whenever a function
// 0 exists; these two modules have no function, so the original is rejected
// ("type mismatch") while the instrumented one, whose function 0 is the slow
// path, is accepted. It only concerns the experimental typed function
// references proposal.
var knownDifference = map[string]bool{
	filepath.Join("typed-function-references", "testdata", "table.json") + "line 57 assert_invalid : invalid=true": true,
	filepath.Join("typed-function-references", "testdata", "table.json") + "line 61 assert_invalid : invalid=true": true,
}

type specScript struct {
	Commands []struct {
		Type     string `json:"type"`
		Line     int    `json:"line"`
		Name     string `json:"name"`
		Filename string `json:"filename"`
		As       string `json:"as"`
		Action   struct {
			Type   string      `json:"type"`
			Module string      `json:"module"`
			Field  string      `json:"field"`
			Args   []specValue `json:"args"`
		} `json:"action"`
	} `json:"commands"`
}

type specValue struct {
	Type     string `json:"type"`
	LaneType string `json:"lane_type"`
	Value    any    `json:"value"`
}

// runScript runs one spec script and returns one outcome line per command.
func runScript(t *testing.T, script string, spectest []byte, instrument bool) []string {
	raw, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	var s specScript
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	rt := newRuntime(ctx, allFeatures)
	defer rt.Close(ctx)
	load := func(wasm []byte) ([]byte, error) {
		if !instrument {
			return wasm, nil
		}
		return interrupt.Instrument(wasm)
	}
	instantiate := func(file, name string) (api.Module, error) {
		wasm, err := os.ReadFile(filepath.Join(filepath.Dir(script), file))
		if err != nil {
			t.Fatal(err)
		}
		if wasm, err = load(wasm); err != nil {
			return nil, err
		}
		return rt.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithName(name))
	}
	if wasm, err := load(spectest); err != nil {
		t.Fatal(err)
	} else if _, err := rt.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithName("spectest")); err != nil {
		t.Fatal(err)
	}
	var out []string
	named := map[string]api.Module{}
	var last api.Module
	cmds := s.Commands
	for i := 0; i < len(cmds); i++ {
		c := cmds[i]
		res := ""
		switch c.Type {
		case "module":
			if !strings.HasSuffix(c.Filename, ".wasm") {
				continue
			}
			reg := ""
			if i+1 < len(cmds) && cmds[i+1].Type == "register" {
				reg = cmds[i+1].As
				i++
			}
			m, err := instantiate(c.Filename, reg)
			res = outcome(nil, err)
			if err == nil {
				last = m
				if c.Name != "" {
					named[c.Name] = m
				}
			}
		case "assert_uninstantiable", "assert_unlinkable":
			if !strings.HasSuffix(c.Filename, ".wasm") {
				continue
			}
			_, err := instantiate(c.Filename, "")
			res = outcome(nil, err)
		case "assert_invalid", "assert_malformed":
			if !strings.HasSuffix(c.Filename, ".wasm") {
				continue
			}
			wasm, err := os.ReadFile(filepath.Join(filepath.Dir(script), c.Filename))
			if err != nil {
				t.Fatal(err)
			}
			if wasm, err = load(wasm); err == nil {
				err = compileErr(ctx, rt, wasm)
			}
			res = fmt.Sprintf("invalid=%t", err != nil)
		case "assert_return", "action", "assert_trap", "assert_exhaustion", "assert_exception":
			m := last
			if c.Action.Module != "" {
				m = named[c.Action.Module]
			}
			if m == nil {
				res = "no module"
				break
			}
			switch c.Action.Type {
			case "invoke":
				fn := m.ExportedFunction(c.Action.Field)
				if fn == nil {
					res = "no function"
					break
				}
				args, ok := specArgs(c.Action.Args)
				if !ok {
					continue
				}
				results, err := fn.Call(ctx, args...)
				res = outcome(refsAsNullness(results, fn.Definition().ResultTypes()), err)
			case "get":
				g := m.ExportedGlobal(c.Action.Field)
				if g == nil {
					res = "no global"
					break
				}
				res = outcome(refsAsNullness([]uint64{g.Get()}, []api.ValueType{g.Type()}), nil)
			default:
				continue
			}
		default:
			continue
		}
		out = append(out, fmt.Sprintf("line %d %s %s: %s", c.Line, c.Type, c.Action.Field, res))
	}
	return out
}

// outcome describes a result list or the first line of an error.
func outcome(results []uint64, err error) string {
	if err != nil {
		msg, _, _ := strings.Cut(err.Error(), "\n")
		// An instrumented module that the original fails to link keeps the
		// same reason, but module names in messages may differ.
		return "error: " + msg
	}
	return fmt.Sprint(results)
}

// refsAsNullness replaces reference results, whose values are addresses
// that differ from one runtime to another, by 0 (null) or 1.
func refsAsNullness(results []uint64, types []api.ValueType) []uint64 {
	p := 0
	for _, t := range types {
		switch t {
		case api.ValueTypeI32, api.ValueTypeI64, api.ValueTypeF32, api.ValueTypeF64:
			p++
		case 0x7b: // v128 takes two results
			p += 2
		default:
			if p < len(results) && results[p] != 0 {
				results[p] = 1
			}
			p++
		}
	}
	return results
}

// specArgs encodes the arguments of an invoke as wazero expects them; ok is
// false for a value it cannot represent.
func specArgs(vals []specValue) (args []uint64, ok bool) {
	for _, v := range vals {
		switch v.Type {
		case "i32", "i64", "f32", "f64":
			s, _ := v.Value.(string)
			n, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return nil, false
			}
			args = append(args, n)
		case "externref":
			if v.Value == "null" {
				args = append(args, 0)
				break
			}
			s, _ := v.Value.(string)
			n, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return nil, false
			}
			args = append(args, n+1) // wazero's externref 0 is null
		case "funcref", "exnref":
			if v.Value != "null" {
				return nil, false
			}
			args = append(args, 0)
		case "v128":
			lanes, _ := v.Value.([]any)
			var b [16]byte
			size := map[string]int{"i8": 1, "i16": 2, "i32": 4, "f32": 4, "i64": 8, "f64": 8}[v.LaneType]
			if size == 0 || len(lanes)*size != 16 {
				return nil, false
			}
			for i, l := range lanes {
				s, _ := l.(string)
				n, err := strconv.ParseUint(s, 10, 64)
				if err != nil {
					return nil, false
				}
				var w [8]byte
				binary.LittleEndian.PutUint64(w[:], n)
				copy(b[i*size:], w[:size])
			}
			args = append(args, binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:]))
		default:
			return nil, false
		}
	}
	return args, true
}

// compileErr compiles wasm and reports why it failed. A panic inside wazero
// counts as a failure: wazero v1.12 panics on some invalid modules when the
// experimental typed function references feature is on (for example a
// ref.func whose index is declared by an element segment but out of range).
func compileErr(ctx context.Context, rt wazero.Runtime, wasm []byte) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("wazero panicked: %v", p)
		}
	}()
	m, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		return err
	}
	return m.Close(ctx)
}
