package plugin

import (
	"context"
	"os"
	"testing"

	"github.com/tetratelabs/wazero/api"

	"github.com/osohost/osohost/abi"
)

// TestHostOutput_BadPointer calls oso.output with a (ptr, len) pair outside
// linear memory from a hand-written guest: the host answers a status, the
// guest keeps running, and the refusal sticks to the call.
func TestHostOutput_BadPointer(t *testing.T) {
	ctx := context.Background()
	wasm, err := os.ReadFile("testdata/minimal.wasm")
	if err != nil {
		t.Fatal(err)
	}
	eng, err := NewEngine(ctx, EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	mod, err := eng.Compile(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPool(ctx, mod, PoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	inst := <-p.idle
	defer func() { p.idle <- inst }()
	probe := inst.mod.ExportedFunction("probe")

	// Outside an export call, output is not allowed.
	if err := inst.invoke(ctx, probe, p.opts.CallTimeout); err != nil {
		t.Fatal(err)
	}
	if got := abi.Status(api.DecodeI32(inst.stack[0])); got != abi.StatusNotAllowed {
		t.Fatalf("outside a call: status %d, want %d", got, abi.StatusNotAllowed)
	}
	// During a call, the bad pointer is reported and remembered.
	inst.state.active = true
	if err := inst.invoke(ctx, probe, p.opts.CallTimeout); err != nil {
		t.Fatal(err)
	}
	inst.state.active = false
	if got := abi.Status(api.DecodeI32(inst.stack[0])); got != abi.StatusBadPointer {
		t.Fatalf("status %d, want %d", got, abi.StatusBadPointer)
	}
	if inst.state.refused == "" {
		t.Fatal("refused output not recorded")
	}
	if inst.poisoned {
		t.Fatal("a refused host call must not poison the instance")
	}
}

func TestCutUTF8(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"hello", 10, "hello"},
		{"hello", 3, "hel"},
		{"héllo", 2, "h"},
		{"héllo", 3, "hé"},
		{"a😀", 4, "a"},
		{"a😀", 5, "a😀"},
	}
	for _, tt := range tests {
		if got := string(cutUTF8([]byte(tt.in), tt.n)); got != tt.want {
			t.Errorf("cutUTF8(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestCleanText(t *testing.T) {
	if got := cleanText([]byte("a\x00b\nc\td\xff")); got != "a b c\td\uFFFD" {
		t.Fatalf("cleanText = %q", got)
	}
}
