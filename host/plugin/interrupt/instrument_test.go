package interrupt_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/osohost/osohost/host/plugin/interrupt"
)

type call struct {
	fn   string
	args []uint64
	want []uint64
}

// TestInstrument_Fixtures runs the fixtures original and instrumented and
// requires the same, known results from both.
func TestInstrument_Fixtures(t *testing.T) {
	f64 := math.Float64bits
	tests := []struct {
		name     string
		features api.CoreFeatures
		calls    []call
	}{
		{"loops", api.CoreFeaturesV2, []call{
			{"count", []uint64{0}, []uint64{0}},
			{"count", []uint64{1_000_000}, []uint64{1_000_000}},
			{"sum", []uint64{0}, []uint64{0}},
			{"sum", []uint64{100_000}, []uint64{4_999_950_000}},
		}},
		{"nested", api.CoreFeaturesV2, []call{
			{"grid", []uint64{300}, []uint64{44850 * 44850}},
			{"countdown", []uint64{0}, []uint64{1}},
			{"countdown", []uint64{1000}, []uint64{1000}},
			{"machine", []uint64{0}, []uint64{0}},
			{"machine", []uint64{1001}, []uint64{machine(1001)}},
		}},
		{"recursion", api.CoreFeaturesV2, []call{
			{"fib", []uint64{20}, []uint64{6765}},
			{"even", []uint64{10001}, []uint64{0}},
			{"even", []uint64{10000}, []uint64{1}},
			{"indirect", []uint64{0, 15}, []uint64{610}},
			{"indirect", []uint64{1, 7}, []uint64{0}},
		}},
		{"tailcall", api.CoreFeaturesV2 | experimental.CoreFeaturesTailCall, []call{
			{"sum", []uint64{1_000_000, 0}, []uint64{500_000_500_000}},
		}},
		{"simd", api.CoreFeaturesV2, []call{
			{"dot", []uint64{0}, []uint64{10}},
			{"dot", []uint64{1000}, nil}, // nil: whatever the original returns
			{"fsum", []uint64{1000}, []uint64{f64(500_000)}},
		}},
		{"bulk", api.CoreFeaturesV2, []call{
			{"copy", []uint64{300}, nil},
			{"tables", []uint64{21}, nil},
			{"convert", []uint64{uint64(math.Float32bits(-3.9)), 1}, []uint64{uint64(math.MaxUint32 - 2)}},
			{"convert", []uint64{uint64(math.Float32bits(300.5)), 0}, []uint64{44}},
		}},
		{"atomics", api.CoreFeaturesV2 | experimental.CoreFeaturesThreads, []call{
			{"add", []uint64{1000}, []uint64{499_500 + 1}},
		}},
		{"cguest", api.CoreFeaturesV2, []call{
			{"sum", []uint64{100_000}, []uint64{4_999_950_000}},
			{"fib", []uint64{20}, []uint64{6765}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := fixture(t, tt.name)
			want := runCalls(t, in, tt.features, tt.calls)
			got := runCalls(t, mustInstrument(t, in), tt.features, tt.calls)
			for i, c := range tt.calls {
				if c.want != nil && !slices.Equal(want[i], c.want) {
					t.Errorf("original %s%v = %v, want %v", c.fn, c.args, want[i], c.want)
				}
				if !slices.Equal(got[i], want[i]) {
					t.Errorf("instrumented %s%v = %v, original %v", c.fn, c.args, got[i], want[i])
				}
			}
		})
	}
}

// machine is nested.wat's machine in Go.
func machine(steps int) uint64 {
	var state, acc uint32
	for ; steps > 0; steps-- {
		switch state {
		case 0:
			acc, state = acc+1, 2
		case 1:
			acc, state = acc*3, 3
		case 2:
			acc, state = acc^0x55, 1
		default:
			acc, state = acc<<5|acc>>27, 0
		}
	}
	return uint64(acc)
}

// runCalls instantiates wasm (with env.wasm as "env" beside it) in a fresh
// runtime, checks the flag when there is one, and returns each call's results.
func runCalls(t *testing.T, wasm []byte, features api.CoreFeatures, calls []call) [][]uint64 {
	t.Helper()
	ctx := context.Background()
	g := newGuest(t, features)
	m := g.instantiate(t, wasm, "")
	if gl := m.ExportedGlobal(interrupt.GlobalExport); gl != nil {
		if _, ok := gl.(api.MutableGlobal); !ok || gl.Type() != api.ValueTypeI32 || gl.Get() != 0 {
			t.Fatalf("flag: %v (%T), want a mutable i32 equal to 0", gl, gl)
		}
	}
	var out [][]uint64
	for _, c := range calls {
		res, err := m.ExportedFunction(c.fn).Call(ctx, c.args...)
		if err != nil {
			t.Fatalf("%s%v: %v", c.fn, c.args, err)
		}
		out = append(out, res)
	}
	return out
}

// TestInstrument_Imports checks a module importing globals: the flag must
// come after the two imported and two defined globals, and every global,
// imported or not, must keep working.
func TestInstrument_Imports(t *testing.T) {
	ctx := context.Background()
	for _, instrumented := range []bool{false, true} {
		g := newGuest(t, api.CoreFeaturesV2)
		env, imp := fixture(t, "env"), fixture(t, "imports")
		if instrumented {
			env, imp = mustInstrument(t, env), mustInstrument(t, imp)
		}
		envMod := g.instantiate(t, env, "env")
		m := g.instantiate(t, imp, "imports")
		for _, c := range []call{
			{"answer", nil, []uint64{42}},
			{"bump", []uint64{1000}, []uint64{1000}},
			{"bump", []uint64{1500}, []uint64{1500}},
			{"scaled", []uint64{3}, []uint64{120}},
		} {
			got, err := m.ExportedFunction(c.fn).Call(ctx, c.args...)
			if err != nil || !slices.Equal(got, c.want) {
				t.Errorf("instrumented=%t: %s%v = %v, %v; want %v", instrumented, c.fn, c.args, got, err, c.want)
			}
		}
		if v := envMod.ExportedGlobal("counter").Get(); v != 1500 {
			t.Errorf("instrumented=%t: env.counter = %d, want 1500", instrumented, v)
		}
		if v, _ := m.Memory().ReadUint32Le(16); v != 1500 {
			t.Errorf("instrumented=%t: memory[16] = %d, want 1500", instrumented, v)
		}
	}
	// The flag's index: global.get 4 at the start of the first body.
	out := mustInstrument(t, fixture(t, "imports"))
	if want := []byte{0x23, 4, 0x04, 0x40, 0x00, 0x0b}; !bytes.Contains(out, want) {
		t.Errorf("no check reading global 4 in the output")
	}
}

// TestInstrument_Bare checks a module with neither global nor export section:
// both are created where the section order wants them, and the start
// function (instrumented too) still runs.
func TestInstrument_Bare(t *testing.T) {
	out := mustInstrument(t, fixture(t, "bare"))
	var ids []byte
	for _, s := range sections(t, out) {
		ids = append(ids, s.id)
	}
	// type, function, memory, global (added), export (added), start, code
	if want := []byte{1, 3, 5, 6, 7, 8, 10}; !bytes.Equal(ids, want) {
		t.Fatalf("section ids %v, want %v", ids, want)
	}
	g := newGuest(t, api.CoreFeaturesV2)
	m, err := g.rt.Instantiate(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := m.Memory().ReadUint32Le(0); v != 7 {
		t.Errorf("start function stored %d, want 7", v)
	}
	// The smallest module: a header.
	out = mustInstrument(t, []byte("\x00asm\x01\x00\x00\x00"))
	if _, err := g.rt.CompileModule(context.Background(), out); err != nil {
		t.Fatal(err)
	}
}

// TestInstrument_Code checks the exact bytes of an instrumented body (the
// check after the locals and after each loop's block type, and nowhere
// else) and of the slow-path function.
func TestInstrument_Code(t *testing.T) {
	// Globals: 0 the flag, 1 the ticks. Functions: 0 the body, 1 the slow path.
	check := []byte{
		0x23, 1, 0x41, 1, 0x6b, 0x24, 1, // ticks -= 1
		0x23, 1, 0x41, 0, 0x48, 0x04, 0x40, 0x10, 1, 0x0b, // if ticks < 0 { call slow }
	}
	slow := []byte{
		0,                      // no locals
		0x41, 0, 0x40, 0, 0x1a, // drop(memory.grow(0))
		0x23, 0, 0x04, 0x40, 0x00, 0x0b, // if flag { unreachable }
		0x41, 0x80, 0xc0, 0x00, 0x24, 1, // ticks = 8192
		0x0b,
	}
	body := []byte{
		1, 1, 0x7f, // one i32 local
		0x02, 0x40, // block
		0x03, 0x7f, // loop (result i32)
		0x41, 0x03, // i32.const 3 (0x03 is also the loop opcode)
		0x0b, // end
		0x1a, // drop
		0x0b, // end
		0x0b, // end
	}
	want := slices.Concat(body[:3], check, body[3:7], check, body[7:])
	in := module(
		section(1, 1, 0x60, 0, 0), // type: () -> ()
		section(3, 1, 0),          // function: type 0
		section(10, slices.Concat([]byte{1, byte(len(body))}, body)...),
	)
	out := mustInstrument(t, in)
	secs := sections(t, out)
	var ids []byte
	for _, s := range secs {
		ids = append(ids, s.id)
	}
	// type, function, memory (added: the slow path needs one), global, export, code
	if wantIDs := []byte{1, 3, 5, 6, 7, 10}; !bytes.Equal(ids, wantIDs) {
		t.Fatalf("section ids %v, want %v", ids, wantIDs)
	}
	wantCode := slices.Concat([]byte{2, byte(len(want))}, want, []byte{byte(len(slow))}, slow)
	if got := secs[5].body; !bytes.Equal(got, wantCode) {
		t.Errorf("code section\n got % x\nwant % x", got, wantCode)
	}
	if got, want := secs[0].body, []byte{2, 0x60, 0, 0, 0x60, 0, 0}; !bytes.Equal(got, want) {
		t.Errorf("type section % x, want % x", got, want)
	}
	if _, err := newRuntime(context.Background(), api.CoreFeaturesV2).CompileModule(context.Background(), out); err != nil {
		t.Fatal(err)
	}
}

// TestInstrument_Sections checks that every section but global, export and
// code is kept byte for byte, that custom sections locating code by offset
// are dropped, and that the name section stays.
func TestInstrument_Sections(t *testing.T) {
	in := fixture(t, "cguest") // clang emits .debug_* and name sections
	out := mustInstrument(t, in)
	var kept, dropped [][]byte
	for _, s := range sections(t, in) {
		switch {
		case s.id == 0 && bytes.HasPrefix(s.body[1:], []byte(".debug_")):
			dropped = append(dropped, s.raw)
		case !extended(s.id):
			kept = append(kept, s.raw)
		}
	}
	if len(dropped) == 0 {
		t.Fatal("fixture has no .debug_ section")
	}
	var got [][]byte
	hasName := false
	for _, s := range sections(t, out) {
		if !extended(s.id) {
			got = append(got, s.raw)
		}
		hasName = hasName || s.id == 0 && bytes.HasPrefix(s.body[1:], []byte("name"))
	}
	if !slices.EqualFunc(got, kept, bytes.Equal) {
		t.Errorf("kept sections differ")
	}
	if !hasName {
		t.Errorf("name section dropped")
	}
}

// extended reports whether Instrument adds to sections with this id (the
// fixture of TestInstrument_Sections has a memory).
func extended(id byte) bool {
	return id == 1 || id == 3 || id == 6 || id == 7 || id == 10
}

// TestInstrument_Twice: instrumenting an instrumented module is rejected.
func TestInstrument_Twice(t *testing.T) {
	out := mustInstrument(t, fixture(t, "loops"))
	if _, err := interrupt.Instrument(out); err != interrupt.ErrAlreadyInstrumented {
		t.Fatalf("got %v, want ErrAlreadyInstrumented", err)
	}
}

// TestInstrument_Interrupt stops guests that never return by themselves.
func TestInstrument_Interrupt(t *testing.T) {
	tests := []struct {
		name, fixture, export string
		features              api.CoreFeatures
	}{
		{"loop", "loops", "spin", api.CoreFeaturesV2},
		{"nested loop", "loops", "spin_nested", api.CoreFeaturesV2},
		{"tail calls without a loop", "tailcall", "spin_tail", api.CoreFeaturesV2 | experimental.CoreFeaturesTailCall},
		{"C", "cguest", "spin", api.CoreFeaturesV2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := newGuest(t, tt.features)
			m := g.instantiate(t, mustInstrument(t, fixture(t, tt.fixture)), "")
			interruptSpin(t, g, m, tt.export)
		})
	}
}

// TestInstrument_GCWhileSpinning runs garbage collections while a guest
// spins. Compiled code cannot be preempted, so the collector's
// stop-the-world phase waits for the guest to leave it: with a check that
// only read the flag, it would wait forever, and with it every goroutine of
// the process, including the one meant to set the flag and the test
// binary's own timeout. The test therefore runs in a child process that the
// parent kills if it hangs.
func TestInstrument_GCWhileSpinning(t *testing.T) {
	if os.Getenv(gcChildEnv) == "1" {
		gcWhileSpinning(t)
		return
	}
	ctx, cancel := context.WithTimeout(t.Context(), stopBound)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestInstrument_GCWhileSpinning$", "-test.count=1")
	cmd.Env = append(os.Environ(), gcChildEnv+"=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v (a kill means the process hung)\n%s", err, out)
	}
}

const gcChildEnv = "OSOHOST_INTERRUPT_GC_CHILD"

func gcWhileSpinning(t *testing.T) {
	g := newGuest(t, api.CoreFeaturesV2)
	m := g.instantiate(t, mustInstrument(t, fixture(t, "loops")), "")
	done := make(chan error, 1)
	go func() {
		_, err := m.ExportedFunction("spin").Call(context.Background())
		done <- err
	}()
	<-g.started
	for range 3 {
		runtime.GC()
	}
	m.ExportedGlobal(interrupt.GlobalExport).(api.MutableGlobal).Set(1)
	if err := <-done; err == nil {
		t.Fatal("spin returned without error")
	}
}

// TestInstrument_GoGuest instruments a Go wasip1 reactor, checks that it
// computes what the original computes, and stops its endless loop.
func TestInstrument_GoGuest(t *testing.T) {
	ctx := context.Background()
	in := goGuestWasm(t)
	out := mustInstrument(t, in)
	calls := []call{
		{"sum", []uint64{100_000}, []uint64{4_999_950_000}},
		{"fib", []uint64{20}, []uint64{6765}},
		{"work", []uint64{100}, nil},
	}
	var results [2][][]uint64
	for i, wasm := range [][]byte{in, out} {
		g := newGuest(t, api.CoreFeaturesV2)
		m := g.instantiate(t, wasm, "")
		for _, c := range calls {
			res, err := m.ExportedFunction(c.fn).Call(ctx, c.args...)
			if err != nil {
				t.Fatalf("%s: %v", c.fn, err)
			}
			if c.want != nil && !slices.Equal(res, c.want) {
				t.Errorf("%s%v = %v, want %v", c.fn, c.args, res, c.want)
			}
			results[i] = append(results[i], res)
		}
	}
	if !slices.EqualFunc(results[0], results[1], slices.Equal) {
		t.Errorf("instrumented results %v, original %v", results[1], results[0])
	}
	g := newGuest(t, api.CoreFeaturesV2)
	interruptSpin(t, g, g.instantiate(t, out, ""), "spin")
}

// TestInstrument_CGuest rebuilds testdata/cguest.c with clang for
// wasm32-wasi when it can and checks the fresh build the way the committed
// one is checked.
func TestInstrument_CGuest(t *testing.T) {
	clang, err := exec.LookPath("clang")
	if err != nil {
		t.Skip("no clang")
	}
	out := filepath.Join(t.TempDir(), "cguest.wasm")
	cmd := exec.Command(clang, "--target=wasm32-wasi", "-O2", "-mexec-model=reactor", "-o", out, filepath.Join("testdata", "cguest.c"))
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("clang cannot build for wasm32-wasi: %s", msg)
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got := runCalls(t, mustInstrument(t, wasm), api.CoreFeaturesV2, []call{{"sum", []uint64{1000}, nil}, {"fib", []uint64{25}, nil}})
	if want := [][]uint64{{499_500}, {75025}}; !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("got %v, want %v", got, want)
	}
	g := newGuest(t, api.CoreFeaturesV2)
	interruptSpin(t, g, g.instantiate(t, mustInstrument(t, wasm), ""), "spin")
}

// rawSection is one section of a binary: its id, its content and all its bytes.
type rawSection struct {
	id   byte
	body []byte
	raw  []byte
}

// sections splits a well-formed binary into sections.
func sections(t *testing.T, wasm []byte) []rawSection {
	t.Helper()
	var out []rawSection
	for p := 8; p < len(wasm); {
		start := p
		id := wasm[p]
		size, n := binary.Uvarint(wasm[p+1:])
		if n <= 0 || p+1+n+int(size) > len(wasm) {
			t.Fatalf("bad section at %#x", p)
		}
		p += 1 + n
		out = append(out, rawSection{id, wasm[p : p+int(size)], wasm[start : p+int(size)]})
		p += int(size)
	}
	return out
}

// module builds a binary from sections.
func module(sections ...[]byte) []byte {
	return slices.Concat(append([][]byte{[]byte("\x00asm\x01\x00\x00\x00")}, sections...)...)
}

// section builds a section from its id and content.
func section(id byte, content ...byte) []byte {
	return slices.Concat([]byte{id}, binary.AppendUvarint(nil, uint64(len(content))), content)
}
