package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/osohost/osohost/host/pki/pkitest"
	"github.com/osohost/osohost/host/plugin/plugintest"
)

// install copies the module src to dst the way operators replace files:
// written beside it, then renamed over it.
func install(t *testing.T, src, dst string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	tmp := dst + ".new"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// pluginSHA returns the plugin digest /status reports.
func pluginSHA(t *testing.T, c *http.Client, base string) (int, string) {
	t.Helper()
	r := do(t, c, "GET", base+"/status", "")
	var st struct {
		Plugin struct {
			SHA256 string `json:"sha256"`
		} `json:"plugin"`
	}
	if r.status == 200 {
		if err := json.Unmarshal(r.body, &st); err != nil {
			t.Fatalf("status %s: %v", r.body, err)
		}
	}
	return r.status, st.Plugin.SHA256
}

// await polls cond until it holds, for at most a minute.
func await(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestE2E_ReloadAndAdmin(t *testing.T) {
	pk := pkitest.New(t)
	dir := t.TempDir()
	plugin := filepath.Join(dir, "plugin.wasm")
	shaQueue := install(t, plugintest.Path(t, "queue"), plugin)
	env := append(baseEnv(t, pk, "frontend"), "RELOAD__DEBOUNCE=50ms")
	srv := start(t, env, plugin)
	if srv.admin == "" {
		t.Fatal("no admin listener address in the listening event")
	}
	c := client(pk, &pk.Client)
	base := "https://" + srv.addr + "/api/frontend/v1alpha1"
	adminURL := "http://" + srv.admin
	plain := &http.Client{Timeout: 30 * time.Second}

	if code, sha := pluginSHA(t, c, base); code != 200 || sha != shaQueue {
		t.Fatalf("status: %d sha %q, want 200 %s", code, sha, shaQueue)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if r := do(t, plain, "GET", adminURL+p, ""); r.status != 200 {
			t.Fatalf("%s: %d %s", p, r.status, r.body)
		}
	}

	// Requests keep succeeding while the file is replaced, reloaded by
	// SIGHUP and by the admin endpoint, and a broken module is refused.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	served := 0
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r := do(t, c, "GET", base+"/status", "")
				mu.Lock()
				served++
				if r.status != 200 {
					failures = append(failures, string(r.body))
				}
				mu.Unlock()
			}
		}()
	}

	shaChaos := install(t, plugintest.Path(t, "chaos"), plugin)
	await(t, "the file reload", func() bool { _, sha := pluginSHA(t, c, base); return sha == shaChaos })

	install(t, plugintest.Path(t, "queue"), plugin+".next")
	if err := os.Rename(plugin+".next", plugin); err != nil {
		t.Fatal(err)
	}
	if err := srv.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	await(t, "the reload after SIGHUP", func() bool { _, sha := pluginSHA(t, c, base); return sha == shaQueue })

	for i := range 6 {
		want := shaChaos
		if i%2 == 1 {
			want = shaQueue
		}
		src := map[string]string{shaChaos: "chaos", shaQueue: "queue"}[want]
		b, _ := os.ReadFile(plugintest.Path(t, src))
		if err := os.WriteFile(plugin+".tmp", b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(plugin+".tmp", plugin); err != nil {
			t.Fatal(err)
		}
		r := do(t, plain, "POST", adminURL+"/reload", "")
		if r.status != 200 {
			t.Fatalf("POST /reload: %d %s", r.status, r.body)
		}
		var info struct{ SHA256 string }
		if err := json.Unmarshal(r.body, &info); err != nil {
			t.Fatalf("reload answer %s: %v", r.body, err)
		}
		// The watcher may have loaded the file first; either way it serves.
		await(t, "the admin reload", func() bool { _, sha := pluginSHA(t, c, base); return sha == want })
	}

	if err := os.WriteFile(plugin+".tmp", []byte("\x00asm garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(plugin+".tmp", plugin); err != nil {
		t.Fatal(err)
	}
	if r := do(t, plain, "POST", adminURL+"/reload", ""); r.status == 200 {
		t.Fatalf("a reload of garbage succeeded: %s", r.body)
	}
	if _, sha := pluginSHA(t, c, base); sha != shaQueue {
		t.Fatalf("after a failed reload the plugin is %q, want the old %s", sha, shaQueue)
	}

	close(stop)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d of %d requests failed during reloads; first: %s", len(failures), served, failures[0])
	}
	t.Logf("%d requests during reloads, none failed", served)

	m := do(t, plain, "GET", adminURL+"/metrics", "")
	for _, want := range []string{
		`osohost_plugin_reloads_total{result="error"`,
		`osohost_plugin_reloads_total{result="ok",trigger="signal"} 1`,
		`osohost_http_requests_total{code="200",method="GET",route="status"}`,
		`osohost_plugin_info{sha256="` + shaQueue + `"} 1`,
	} {
		if !strings.Contains(string(m.body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
