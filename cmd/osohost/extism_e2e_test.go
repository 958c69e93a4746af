package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/osohost/osohost/host/pki/pkitest"
	"github.com/osohost/osohost/host/plugin/plugintest"
)

// TestE2E_Extism serves an Extism-ABI module with the real binary over
// mTLS: the status and documents routes answer through the Extism path,
// the request body reaches the module as validated DocumentList JSON,
// invalid bodies are refused before it, and a hot reload swaps the plugin
// from the Extism ABI to the native one and back.
func TestE2E_Extism(t *testing.T) {
	pk := pkitest.New(t)
	dir := t.TempDir()
	plugin := filepath.Join(dir, "plugin.wasm")
	shaExt := install(t, filepath.Join("..", "..", "host", "plugin", "testdata", "extism.wasm"), plugin)
	srv := start(t, append(baseEnv(t, pk, "backend"), "RELOAD__DEBOUNCE=50ms"), plugin)
	c := client(pk, &pk.Client)
	base := "https://" + srv.addr + "/api/backend/v1alpha1"

	r := do(t, c, "GET", base+"/status", "")
	if r.status != 200 || !strings.Contains(string(r.body), `"abi":"extism"`) || !strings.Contains(string(r.body), shaExt) {
		t.Fatalf("status: %d %s", r.status, r.body)
	}
	r = do(t, c, "POST", base+"/documents", `{"documents":[{"id":"1","content":"c","metadata":{"k":[1,2]}},{"id":"2","content":"d"}],"count":2}`)
	// An object metadata arrives as its JSON text, written as the
	// framework writes it (Python's json.dumps).
	want := `{"documents":[{"id":"1","content":"c","metadata":"{\"k\": [1, 2]}"},{"id":"2","content":"d","metadata":""}],"count":2}`
	if r.status != 200 || string(r.body) != want {
		t.Fatalf("to_isv: %d %s\nwant %s", r.status, r.body, want)
	}
	r = do(t, c, "GET", base+"/documents", "")
	if r.status != 200 || !strings.Contains(string(r.body), `"count":1`) {
		t.Fatalf("to_oso: %d %s", r.status, r.body)
	}
	if r := do(t, c, "POST", base+"/documents", `{"documents":[{"id":1}],"count":1}`); r.status != 400 {
		t.Fatalf("invalid body: %d %s", r.status, r.body)
	}
	if !strings.Contains(srv.out.String(), `"abi":"extism"`) {
		t.Error(`the "plugin loaded" event does not name the Extism ABI`)
	}

	shaQueue := install(t, plugintest.Path(t, "queue"), plugin)
	await(t, "the reload to the native module", func() bool { _, sha := pluginSHA(t, c, base); return sha == shaQueue })
	if r := do(t, c, "POST", base+"/documents", sample(t, "valid-DocumentList-0.json")); r.status != 200 || !strings.Contains(string(r.body), `"accepted"`) {
		t.Fatalf("native to_isv after reload: %d %s", r.status, r.body)
	}
	install(t, filepath.Join("..", "..", "host", "plugin", "testdata", "extism.wasm"), plugin)
	await(t, "the reload back to the Extism module", func() bool { _, sha := pluginSHA(t, c, base); return sha == shaExt })
	if r := do(t, c, "GET", base+"/status", ""); r.status != 200 || !strings.Contains(string(r.body), `"abi":"extism"`) {
		t.Fatalf("status after reload: %d %s", r.status, r.body)
	}
}
