package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/osohost/osohost/host/pki"
	"github.com/osohost/osohost/host/pki/pkitest"
	"github.com/osohost/osohost/host/plugin/plugintest"
	"github.com/osohost/osohost/internal/syncbuf"
	"github.com/osohost/osohost/internal/testbin"
)

// binPath is the osohost binary built once by TestMain.
var binPath string

func TestMain(m *testing.M) {
	var err error
	if binPath, err = testbin.Build("cmd/osohost"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// server is an `osohost run` child process.
type server struct {
	addr  string
	admin string      // the admin listener's address, when it runs
	out   *syncBuffer // everything the child printed
	cmd   *exec.Cmd
	done  chan struct{} // closed when the process exited
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer = syncbuf.Buffer

// baseEnv is the environment a deployment would set, for the test PKI.
func baseEnv(t *testing.T, pk *pkitest.PKI, mode string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"APP__NAME=e2e",
		"APP__ROOT=" + t.TempDir(),
		"PLUGIN__MODE=" + mode,
		"CERTS__CA=" + pk.CAPEM,
		"CERTS__APP_CRT=" + pk.Server.CertPEM,
		"CERTS__APP_KEY=" + pk.Server.KeyPEM,
		"AUTH__PARSERS__0__TYPE=oso.framework.auth.mtls",
		fmt.Sprintf(`AUTH__PARSERS__0__ALLOWLIST={"component": [%q, %q]}`,
			pki.FormatFingerprint(pk.Client.Fingerprint), pki.FormatFingerprint(pk.RSACAStyleLeaf.Fingerprint)),
		"LOGGING__LEVEL=debug",
		"ADMIN__LISTEN=127.0.0.1:0",
		"SERVER__HTTP3=false",
	}
}

// start runs `osohost run --listen 127.0.0.1:0 wasm` and waits for its
// ready line (the "listening" log event) on stdout.
func start(t *testing.T, env []string, wasm string, args ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	all := append([]string{"run", "--listen", "127.0.0.1:0"}, args...)
	all = append(all, wasm)
	cmd := exec.CommandContext(ctx, binPath, all...)
	cmd.Env = env
	out := &syncBuffer{}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	ready := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			out.Write([]byte(line + "\n"))
			var ev struct {
				Event, Addr, Admin string
			}
			if json.Unmarshal([]byte(line), &ev) == nil && ev.Event == "listening" {
				select {
				case ready <- [2]string{ev.Addr, ev.Admin}:
				default:
				}
			}
		}
	}()
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cancel()
		<-exited
		if t.Failed() {
			t.Logf("server output:\n%s", out.String())
		}
	})
	select {
	case addrs := <-ready:
		return &server{addr: addrs[0], admin: addrs[1], out: out, cmd: cmd, done: exited}
	case <-exited:
		t.Fatalf("osohost exited before it was ready:\n%s", out.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("osohost not ready after 60s:\n%s", out.String())
	}
	return nil
}

func client(pk *pkitest.PKI, id *pkitest.Identity) *http.Client {
	cfg := &tls.Config{RootCAs: pk.CAPool, ServerName: "localhost", MinVersion: tls.VersionTLS13}
	if id != nil {
		cfg.Certificates = []tls.Certificate{id.TLS}
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func do(t *testing.T, c *http.Client, method, url string, body string, hdr ...string) response {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

// errorBody decodes and checks the framework's error shape.
func errorBody(t *testing.T, r response) (code int, name, description string) {
	t.Helper()
	var e struct {
		Code        int    `json:"code"`
		Name        string `json:"name"`
		Description string `json:"description"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body %q: %v", r.body, err)
	}
	if e.Code != r.status || e.Name != http.StatusText(r.status) || e.Description == "" {
		t.Fatalf("error body %q for status %d", r.body, r.status)
	}
	if ct := r.header.Values("Content-Type"); len(ct) != 1 || ct[0] != "application/json" {
		t.Fatalf("Content-Type = %q", ct)
	}
	return e.Code, e.Name, e.Description
}

func sample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestE2E_QueueRoundTrip(t *testing.T) {
	pk := pkitest.New(t)
	srv := start(t, baseEnv(t, pk, "frontend"), plugintest.Path(t, "queue"))
	base := "https://" + srv.addr + "/api/frontend/v1alpha1"
	c := client(pk, &pk.Client)

	r := do(t, c, "GET", base+"/status", "", "X-Trace-ID", "trace-123")
	if r.status != 200 {
		t.Fatalf("status: %d %s", r.status, r.body)
	}
	var st map[string]any
	if err := json.Unmarshal(r.body, &st); err != nil || st["status_code"] != float64(200) || st["status"] != "OK" {
		t.Fatalf("status body %s", r.body)
	}
	if r.header.Get("X-Trace-ID") != "trace-123" {
		t.Fatalf("trace id not echoed: %q", r.header.Get("X-Trace-ID"))
	}
	for k, v := range map[string]string{
		"Strict-Transport-Security": "max-age=31536000; includeSubDomains",
		"Cache-Control":             "no-cache, no-store, must-revalidate",
		"Content-Security-Policy":   "default-src 'self'; frame-ancestors 'none';",
		"X-Content-Type-Options":    "nosniff",
		"X-Frame-Options":           "SAMEORIGIN",
	} {
		if got := r.header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if r.header.Get("Connection") == "close" || r.header.Get("Access-Control-Allow-Origin") != "" || r.header.Get("X-XSS-Protection") != "" {
		t.Errorf("framework headers that must not be copied: %v", r.header)
	}

	// Two lists, one with object metadata (normalised as Python's
	// json.dumps writes it) and one from the framework's sample files.
	r = do(t, c, "POST", base+"/documents", `{"documents":[{"id":"1","content":"c1","metadata":{"k":"v","n":1.0,"é":[1e100,null]}},{"id":"2","content":"c2"}],"count":2}`)
	if r.status != 200 {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	r = do(t, c, "POST", base+"/documents", sample(t, "valid-DocumentList-0.json"))
	if r.status != 200 {
		t.Fatalf("POST sample: %d %s", r.status, r.body)
	}
	r = do(t, c, "GET", base+"/documents", "")
	if r.status != 200 {
		t.Fatalf("GET documents: %d %s", r.status, r.body)
	}
	var list struct {
		Documents []struct{ ID, Content, Metadata string }
		Count     int
	}
	if err := json.Unmarshal(r.body, &list); err != nil {
		t.Fatalf("%s: %v", r.body, err)
	}
	if list.Count != len(list.Documents) || len(list.Documents) < 3 {
		t.Fatalf("documents: %s", r.body)
	}
	if d := list.Documents[0]; d.ID != "1" || d.Metadata != `{"k": "v", "n": 1.0, "\u00e9": [1e+100, null]}` {
		t.Fatalf("first document %+v", d)
	}
	if d := list.Documents[1]; d.ID != "2" || d.Metadata != "" {
		t.Fatalf("second document %+v", d)
	}
	// The queue was drained.
	r = do(t, c, "GET", base+"/documents", "")
	if r.status != 200 || !strings.Contains(string(r.body), `"count":0`) {
		t.Fatalf("second GET: %d %s", r.status, r.body)
	}
	// The framework's deployment certificates: an RSA leaf issued with
	// CA:TRUE and no SAN or EKU, allowlisted, is accepted.
	r = do(t, client(pk, &pk.RSACAStyleLeaf), "GET", base+"/status", "")
	if r.status != 200 {
		t.Fatalf("RSA CA-style leaf: %d %s", r.status, r.body)
	}
	// One access line per request, with the trace id and the event key.
	if out := srv.out.String(); !strings.Contains(out, `"event":"request served"`) || !strings.Contains(out, `"trace_id":"trace-123"`) || !strings.Contains(out, `"app":{"name":"e2e"}`) ||
		!strings.Contains(out, pki.FormatFingerprint(pk.Client.Fingerprint)) {
		t.Fatalf("access log lines missing:\n%s", out)
	}
}

func TestE2E_Auth(t *testing.T) {
	pk := pkitest.New(t)
	srv := start(t, baseEnv(t, pk, "backend"), plugintest.Path(t, "queue"))
	url := "https://" + srv.addr + "/api/backend/v1alpha1/status"

	t.Run("no certificate", func(t *testing.T) {
		r := do(t, client(pk, nil), "GET", url, "")
		if r.status != 401 {
			t.Fatalf("status %d %s", r.status, r.body)
		}
		_, _, d := errorBody(t, r)
		if !strings.HasPrefix(d, "The server could not verify that you are authorized") {
			t.Fatalf("description %q", d)
		}
	})
	t.Run("not allowlisted", func(t *testing.T) {
		r := do(t, client(pk, &pk.Stranger), "GET", url, "")
		if r.status != 403 {
			t.Fatalf("status %d %s", r.status, r.body)
		}
		errorBody(t, r)
	})
	t.Run("spoofed identity headers without a certificate", func(t *testing.T) {
		r := do(t, client(pk, nil), "GET", url, "",
			"X-SSL-Client-Verify", "SUCCESS", "X-SSL-Cert", strings.ReplaceAll(pk.Client.CertPEM, "\n", "%0A"))
		if r.status != 401 {
			t.Fatalf("status %d %s", r.status, r.body)
		}
	})
	t.Run("spoofed identity headers with another certificate", func(t *testing.T) {
		r := do(t, client(pk, &pk.Stranger), "GET", url, "",
			"X-SSL-Client-Verify", "SUCCESS", "X-SSL-Cert", strings.ReplaceAll(pk.Client.CertPEM, "\n", "%0A"))
		if r.status != 403 {
			t.Fatalf("status %d %s", r.status, r.body)
		}
	})
	t.Run("certificate from another CA", func(t *testing.T) {
		_, err := client(pk, &pk.Foreign).Get(url)
		if err == nil {
			t.Fatal("handshake with a foreign client certificate succeeded")
		}
	})
	t.Run("expired certificate", func(t *testing.T) {
		if _, err := client(pk, &pk.Expired).Get(url); err == nil {
			t.Fatal("handshake with an expired client certificate succeeded")
		}
	})
	t.Run("TLS 1.2", func(t *testing.T) {
		cfg := &tls.Config{RootCAs: pk.CAPool, ServerName: "localhost", MaxVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pk.Client.TLS}}
		conn, err := tls.Dial("tcp", srv.addr, cfg)
		if err == nil {
			conn.Close()
			t.Fatal("TLS 1.2 handshake succeeded")
		}
	})
}

func TestE2E_Errors(t *testing.T) {
	pk := pkitest.New(t)
	env := append(baseEnv(t, pk, "backend"), "NGINX__TIMEOUT=PT2S")
	srv := start(t, env, plugintest.Path(t, "testguest"))
	base := "https://" + srv.addr + "/api/backend/v1alpha1"
	c := client(pk, &pk.Client)
	doc := func(id string) string {
		return fmt.Sprintf(`{"documents":[{"id":%q,"content":"x"}],"count":1}`, id)
	}
	tests := []struct {
		name, method, path, body string
		want                     int
		allow                    string
	}{
		{"malformed JSON", "POST", "/documents", `{"documents":[{"id":"a","content":"x"}],"count":1`, 400, ""},
		{"missing field", "POST", "/documents", `{"documents":[{"content":"x"}],"count":1}`, 400, ""},
		{"null documents", "POST", "/documents", `{"documents":null,"count":0}`, 400, ""},
		{"array metadata", "POST", "/documents", `{"documents":[{"id":"a","content":"x","metadata":[1]}],"count":1}`, 400, ""},
		{"body over 1 MiB", "POST", "/documents", `{"documents":[{"id":"a","content":"` + strings.Repeat("x", 1<<20) + `"}],"count":1}`, 413, ""},
		{"guest trap", "POST", "/documents", doc("trap"), 500, ""},
		{"guest error", "POST", "/documents", doc("error:409"), 409, ""},
		{"guest malformed JSON output", "POST", "/documents", doc("badjson"), 502, ""},
		{"guest malformed compact output", "POST", "/documents", doc("badcompact"), 502, ""},
		{"guest output over the limit", "POST", "/documents", doc("huge"), 502, ""},
		{"guest endless loop", "POST", "/documents", doc("loop"), 504, ""},
		{"unknown path", "GET", "/nothing", "", 404, ""},
		{"trailing slash", "GET", "/status/", "", 404, ""},
		{"other mode", "GET", "/../../frontend/v1alpha1/status", "", 404, ""},
		{"HEAD documents never reaches the guest", "HEAD", "/documents", "", 405, "GET, POST"},
		{"OPTIONS", "OPTIONS", "/status", "", 405, "GET"},
		{"DELETE", "DELETE", "/documents", "", 405, "GET, POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, c, tt.method, base+tt.path, tt.body)
			if r.status != tt.want {
				t.Fatalf("status %d, want %d: %s", r.status, tt.want, r.body)
			}
			if tt.method != "HEAD" {
				_, _, d := errorBody(t, r)
				if strings.Contains(d, "x\"") || strings.Contains(d, "wasm") || strings.Contains(d, "goroutine") {
					t.Fatalf("description leaks detail: %q", d)
				}
			}
			if tt.allow != "" && r.header.Get("Allow") != tt.allow {
				t.Fatalf("Allow = %q", r.header.Get("Allow"))
			}
			// Whatever failed, the next request succeeds.
			if r := do(t, c, "POST", base+"/documents", doc("echo")); r.status != 200 {
				t.Fatalf("request after %s: %d %s", tt.name, r.status, r.body)
			}
		})
	}
	t.Run("guest error message is passed on", func(t *testing.T) {
		r := do(t, c, "POST", base+"/documents", doc("error:418"))
		if _, _, d := errorBody(t, r); r.status != 418 || d != "custom failure" {
			t.Fatalf("%d %q", r.status, d)
		}
	})
}

func TestE2E_CGuest(t *testing.T) {
	pk := pkitest.New(t)
	srv := start(t, baseEnv(t, pk, "backend"), plugintest.Path(t, "status-c"))
	base := "https://" + srv.addr + "/api/backend/v1alpha1"
	c := client(pk, &pk.Client)
	r := do(t, c, "GET", base+"/status", "")
	if r.status != 200 || !strings.Contains(string(r.body), `"language":"c"`) {
		t.Fatalf("status %d %s", r.status, r.body)
	}
	r = do(t, c, "POST", base+"/documents", sample(t, "valid-DocumentList-0.json"))
	if r.status != 200 || !strings.Contains(string(r.body), `"received"`) {
		t.Fatalf("to_isv %d %s", r.status, r.body)
	}
}

func TestE2E_StartupErrors(t *testing.T) {
	pk := pkitest.New(t)
	wasm := plugintest.Path(t, "queue")
	tests := []struct {
		name string
		env  func([]string) []string
		args []string
		want []string
	}{
		{"missing mode and CA", func(env []string) []string {
			return drop(env, "PLUGIN__MODE", "CERTS__CA")
		}, nil, []string{"PLUGIN__MODE", "CERTS__CA"}},
		{"bad fingerprint", func(env []string) []string {
			return append(drop(env, "AUTH__PARSERS__0__ALLOWLIST"), `AUTH__PARSERS__0__ALLOWLIST={"component":["SHA256:abc"]}`)
		}, nil, []string{"AUTH__PARSERS__0__ALLOWLIST"}},
		{"zero timeout", func(env []string) []string { return append(env, "NGINX__TIMEOUT=0") }, nil, []string{"NGINX__TIMEOUT"}},
		{"python import string", func(env []string) []string {
			return append(env, "PLUGIN__APPLICATION=fb.fb_plugin:FBPlugin")
		}, []string{"run", "--listen", "127.0.0.1:0"}, []string{"Python import string", ".wasm"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if args == nil {
				args = []string{"run", "--listen", "127.0.0.1:0", wasm}
			}
			cmd := exec.Command(binPath, args...)
			cmd.Env = tt.env(baseEnv(t, pk, "frontend"))
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("started:\n%s", out)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(string(out), "PRIVATE KEY") {
				t.Errorf("output shows the key:\n%s", out)
			}
		})
	}
}

func drop(env []string, names ...string) []string {
	var out []string
next:
	for _, kv := range env {
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}

// TestE2E_GracefulStop: SIGTERM stops the server cleanly, with exit code 0.
func TestE2E_GracefulStop(t *testing.T) {
	pk := pkitest.New(t)
	cmd := exec.Command(binPath, "run", "--listen", "127.0.0.1:0", plugintest.Path(t, "queue"))
	cmd.Env = baseEnv(t, pk, "frontend")
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.After(60 * time.Second)
	for !strings.Contains(out.String(), `"event":"listening"`) {
		select {
		case err := <-done:
			t.Fatalf("exited early: %v\n%s", err, out.String())
		case <-deadline:
			cmd.Process.Kill()
			t.Fatalf("not ready:\n%s", out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, out.String())
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("did not stop:\n%s", out.String())
	}
	if !strings.Contains(out.String(), `"event":"stopped"`) {
		t.Fatalf("no stop line:\n%s", out.String())
	}
}
