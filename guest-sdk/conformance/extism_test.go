package conformance

import (
	"context"
	"os"
	"strings"
	"testing"

	extism "github.com/extism/go-sdk"
)

// TestExtismAS runs examples/extism-as, a plugin built with Extism's
// AssemblyScript PDK, under extism/go-sdk: each export answers as its
// README says, invalid input fails with an Extism error, and the plugin
// keeps serving after it.
func TestExtismAS(t *testing.T) {
	wasm := module(t, "extism-as", "examples-extism-as")
	ctx := context.Background()
	p, err := extism.NewPlugin(ctx, extism.Manifest{Wasm: []extism.Wasm{extism.WasmData{Data: wasm}}},
		extism.PluginConfig{EnableWasi: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(ctx) })
	sample, err := os.ReadFile("testdata/valid-DocumentList-0.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, fn, in, want string
	}{
		{"status", "status", "", `{"status_code":200,"status":"OK","errors":[],"pdk":"extism-as"}`},
		{"to_oso", "to_oso", "", `{"documents":[],"count":0}`},
		{"to_isv sample", "to_isv", string(sample), `{"received":2}`},
		{"to_isv empty", "to_isv", `{"documents":[],"count":0}`, `{"received":0}`},
		{"to_isv nested and escaped", "to_isv", `{"count":3,"documents":[{"id":"a]\"","content":"x,y","metadata":{"k":[1,2]}},{"id":"b","content":"c"},{"id":"é","content":"{"}]}`, `{"received":3}`},
		{"status again", "status", "", `{"status_code":200,"status":"OK","errors":[],"pdk":"extism-as"}`},
	}
	for _, tc := range tests {
		rc, out, err := p.Call(tc.fn, []byte(tc.in))
		if err != nil || rc != 0 || string(out) != tc.want {
			t.Errorf("%s: rc %d, output %q, %v; want %s", tc.name, rc, out, err, tc.want)
		}
	}
	for _, in := range []string{``, `[]`, `{"documents":{}}`, `{"documents":[1,,2]}`, `{"documents":["x"`, strings.Repeat("[", 100)} {
		rc, _, err := p.Call("to_isv", []byte(in))
		if err == nil || rc != 1 || !strings.Contains(err.Error(), "not a DocumentList") {
			t.Errorf("to_isv %q: rc %d, %v; want the plugin's error", in, rc, err)
		}
	}
	if rc, out, err := p.Call("to_isv", sample); err != nil || rc != 0 || string(out) != `{"received":2}` {
		t.Errorf("to_isv after the errors: rc %d, output %q, %v", rc, out, err)
	}
}
