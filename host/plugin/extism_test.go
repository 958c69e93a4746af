package plugin_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/host/plugin"
	"github.com/osohost/osohost/host/schema"
	"github.com/osohost/osohost/internal/syncbuf"
)

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer = syncbuf.Buffer

// echoSign is a "sign" host function whose Extism form answers the
// request it got, wrapped, and records the context it ran under.
func echoSign(seen chan<- context.Context) plugin.HostFunction {
	i32 := api.ValueTypeI32
	return plugin.HostFunction{
		Name: abi.ImportSign, Params: []api.ValueType{i32, i32, i32, i32, i32, i32}, Results: []api.ValueType{i32},
		Fn: api.GoModuleFunc(func(_ context.Context, _ api.Module, stack []uint64) {
			stack[0] = api.EncodeI32(int32(abi.StatusUnavailable))
		}),
		Extism: func(ctx context.Context, req []byte) []byte {
			select {
			case seen <- ctx:
			default:
			}
			return append(append([]byte(`{"echo":`), req...), '}')
		},
		ExtismMaxRequest: 64,
	}
}

type ctxKey struct{}

func extismPool(t *testing.T, opts plugin.PoolOptions, eo plugin.EngineOptions) *plugin.Pool {
	t.Helper()
	wasm, err := os.ReadFile("testdata/extism.wasm")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	eng, err := plugin.NewEngine(ctx, eo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(ctx) })
	mod, err := eng.Compile(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	if mod.Info().ABI != plugin.ABIExtism {
		t.Fatalf("ABI %q, want %q", mod.Info().ABI, plugin.ABIExtism)
	}
	p, err := plugin.NewPool(ctx, mod, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(ctx) })
	return p
}

// TestExtismCalls runs the three component exports of an Extism-ABI module
// and checks what crosses the boundary: JSON output, the compact to_isv
// input handed over as DocumentList JSON, the host function's Extism form
// with the call's context, and guest logs.
func TestExtismCalls(t *testing.T) {
	seen := make(chan context.Context, 1)
	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	p := extismPool(t, plugin.PoolOptions{Size: 2}, plugin.EngineOptions{CacheDir: t.TempDir(), Logger: log, HostFunctions: []plugin.HostFunction{echoSign(seen)}})
	ctx := context.WithValue(context.Background(), ctxKey{}, "request-7")

	res, err := p.Call(ctx, abi.ExportStatus, nil)
	if err != nil || res.Kind != abi.OutputJSON || string(res.Data) != `{"status_code":200,"status":"OK","errors":[],"abi":"extism"}` {
		t.Fatalf("status: %v %d %s", err, res.Kind, res.Data)
	}
	res, err = p.Call(ctx, abi.ExportToOSO, nil)
	if err != nil || res.Kind != abi.OutputJSON || !strings.HasPrefix(string(res.Data), `{"documents":[{"id":"a"`) {
		t.Fatalf("to_oso: %v %d %s", err, res.Kind, res.Data)
	}
	docs := []schema.Document{{ID: "d1", Content: "c\"1", Metadata: "m"}, {ID: "é", Content: "", Metadata: ""}}
	res, err = p.Call(ctx, abi.ExportToISV, schema.AppendCompact(nil, docs))
	want := string(schema.AppendDocumentListJSON(nil, docs))
	if err != nil || string(res.Data) != want {
		t.Fatalf("to_isv got %s, %v; want %s", res.Data, err, want)
	}

	res, err = p.CallAny(ctx, "sign", []byte(`{"key_id":"k"}`))
	if err != nil || string(res.Data) != `{"echo":{"key_id":"k"}}` {
		t.Fatalf("sign: %s, %v", res.Data, err)
	}
	select {
	case hctx := <-seen:
		if hctx.Value(ctxKey{}) != "request-7" {
			t.Error("the host function did not run under the request's context")
		}
		if _, ok := hctx.Deadline(); !ok {
			t.Error("the host function's context has no deadline")
		}
	default:
		t.Error("the host function was not called")
	}
	res, err = p.CallAny(ctx, "sign", bytes.Repeat([]byte("x"), 65))
	if err != nil || !strings.Contains(string(res.Data), `"name":"too_large"`) {
		t.Errorf("oversize request: %s, %v; want a too_large error object", res.Data, err)
	}
	res, err = p.CallAny(ctx, "sign_bad", nil)
	if err != nil || !strings.Contains(string(res.Data), `"name":"bad_pointer"`) {
		t.Errorf("bad offset: %s, %v; want a bad_pointer error object", res.Data, err)
	}

	if _, err := p.CallAny(ctx, "log", nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "hello from an extism guest") {
		t.Errorf("guest log line missing from %q", logs.String())
	}
	if _, err := p.CallAny(ctx, "no_such_export", nil); !errors.Is(err, plugin.ErrUnknownExport) {
		t.Errorf("unknown export: %v", err)
	}
	if _, err := p.Call(ctx, abi.ExportHandleHTTP, nil); !errors.Is(err, plugin.ErrUnknownExport) {
		t.Errorf("handle_http on an Extism module: %v", err)
	}
}

// TestExtismFaults checks that the Extism path has the native path's
// fault behaviour: guest errors keep the instance, traps, timeouts and
// refused memory discard it, output over the limit is refused, and the
// pool keeps serving after each.
func TestExtismFaults(t *testing.T) {
	p := extismPool(t, plugin.PoolOptions{Size: 1, CallTimeout: 300 * time.Millisecond, MaxOutputBytes: 8 << 10},
		plugin.EngineOptions{MemoryLimitPages: 256, HostFunctions: []plugin.HostFunction{echoSign(make(chan context.Context, 1))}})
	ctx := context.Background()
	calls := func() int32 {
		t.Helper()
		_, err := p.CallAny(ctx, "calls", nil)
		var g *plugin.GuestError
		if !errors.As(err, &g) {
			t.Fatalf("calls: %v", err)
		}
		n := strings.TrimPrefix(g.Message, "exit code ")
		var v int32
		for _, c := range n {
			v = v*10 + int32(c-'0')
		}
		return v
	}
	if n := calls(); n != 1 {
		t.Fatalf("first call count %d", n)
	}

	_, err := p.CallAny(ctx, "fail", nil)
	var g *plugin.GuestError
	if !errors.As(err, &g) || g.Code != 503 || g.Message != "backend busy, retry later" {
		t.Errorf("fail: %v (%+v); want guest error 503 with the message", err, g)
	}
	_, err = p.CallAny(ctx, "fail_text", nil)
	if !errors.As(err, &g) || g.Code != 500 || g.Message != "" {
		t.Errorf("fail_text: %v (%+v); want guest error 500 without the message, which is only logged", err, g)
	}
	_, err = p.CallAny(ctx, "fail_plain", nil)
	if !errors.As(err, &g) || g.Code != 500 {
		t.Errorf("fail_plain: %v; want guest error 500", err)
	}
	if n := calls(); n != 2 {
		t.Errorf("a guest error discarded the instance (count %d, want 2)", n)
	}

	var trap *plugin.TrapError
	if _, err := p.CallAny(ctx, "trap", nil); !errors.As(err, &trap) {
		t.Errorf("trap: %v", err)
	}
	if _, err := p.CallAny(ctx, "grow", nil); !errors.As(err, &trap) {
		t.Errorf("grow past the memory cap: %v; want a trap", err)
	}
	start := time.Now()
	if _, err := p.CallAny(ctx, "loop", nil); !errors.Is(err, plugin.ErrCallTimeout) {
		t.Errorf("loop: %v; want ErrCallTimeout", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("loop stopped after %v", d)
	}
	var oe *plugin.OutputError
	if _, err := p.CallAny(ctx, "big", []byte("xxx")); !errors.As(err, &oe) {
		t.Errorf("big output: %v; want an OutputError", err)
	}
	res, err := p.Call(ctx, abi.ExportStatus, nil)
	if err != nil || !strings.Contains(string(res.Data), `"status_code":200`) {
		t.Fatalf("status after faults: %v %s", err, res.Data)
	}
	st := p.Stats()
	if st.Traps != 2 || st.Timeouts != 1 || st.Replaced != 3 {
		t.Errorf("stats %+v: want 2 traps, 1 timeout, 3 instances replaced", st)
	}
}

// TestExtismRefused checks what Compile says about Extism modules it
// cannot serve.
func TestExtismRefused(t *testing.T) {
	wasm, err := os.ReadFile("testdata/extism.wasm")
	if err != nil {
		t.Fatal(err)
	}
	info, err := plugin.Inspect(context.Background(), wasm)
	if err != nil {
		t.Fatal(err)
	}
	if info.ABI != plugin.ABIExtism || len(info.Problems()) != 0 {
		t.Fatalf("inspect: ABI %q, problems %q", info.ABI, info.Problems())
	}
	ctx := context.Background()
	eng, err := plugin.NewEngine(ctx, plugin.EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	// Without the Extism form of sign, the module's oso_sign import is
	// named as not enabled.
	if _, err := eng.Compile(ctx, wasm); err == nil || !strings.Contains(err.Error(), "extism:host/user.oso_sign: this host function is not enabled here") {
		t.Errorf("compile without oso_sign: %v", err)
	}
}

// TestExtismDeadlineAny checks the deadline of the tools' path
// (CompileAny, which keeps go-sdk's close-on-context-done mode); the
// serving path's, the interrupt flag, is checked by TestExtismFaults.
func TestExtismDeadlineAny(t *testing.T) {
	ctx := context.Background()
	eng, err := plugin.NewEngine(ctx, plugin.EngineOptions{HostFunctions: []plugin.HostFunction{echoSign(make(chan context.Context, 1))}})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	wasm, err := os.ReadFile("testdata/extism.wasm")
	if err != nil {
		t.Fatal(err)
	}
	mod, err := eng.CompileAny(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	p, err := plugin.NewPool(ctx, mod, plugin.PoolOptions{Size: 1, CallTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	if _, err := p.CallAny(ctx, "loop", nil); !errors.Is(err, plugin.ErrCallTimeout) {
		t.Errorf("loop on the tools' path: %v; want ErrCallTimeout", err)
	}
	if res, err := p.CallAny(ctx, "status", nil); err != nil || !strings.Contains(string(res.Data), `"status_code":200`) {
		t.Errorf("status after the timeout: %s, %v", res.Data, err)
	}

}
