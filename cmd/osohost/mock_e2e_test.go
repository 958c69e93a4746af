package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"

	"github.com/osohost/osohost/host/pki"
	"github.com/osohost/osohost/host/pki/pkitest"
	"github.com/osohost/osohost/host/plugin/plugintest"
)

// componentEnv is baseEnv for one of two components running side by
// side, with HTTP/3 on and no admin listener.
func componentEnv(t *testing.T, pk *pkitest.PKI, mode string) []string {
	var env []string
	for _, kv := range baseEnv(t, pk, mode) {
		if !strings.HasPrefix(kv, "SERVER__HTTP3=") && !strings.HasPrefix(kv, "ADMIN__LISTEN=") {
			env = append(env, kv)
		}
	}
	return append(env, "SERVER__HTTP3=true", "ADMIN__LISTEN=off")
}

// stateDir returns the APP__ROOT of a component's environment.
func stateDir(env []string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "APP__ROOT="); ok {
			return v
		}
	}
	return ""
}

// mockEnv is what the mock needs: the allowlisted client certificate, the
// CA and both endpoints.
func mockEnv(t *testing.T, pk *pkitest.PKI, frontend, backend string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"APP__NAME=mock",
		"CERTS__CA=" + pk.CAPEM,
		"CERTS__APP_CRT=" + pk.Client.CertPEM,
		"CERTS__APP_KEY=" + pk.Client.KeyPEM,
		"MOCK__FRONTEND_ENDPOINT=https://" + frontend + "/api/frontend/v1alpha1",
		"MOCK__BACKEND_ENDPOINT=https://" + backend + "/api/backend/v1alpha1",
	}
}

// mockRun is one `osohost mock` process that ran to its end.
type mockRun struct {
	code           int
	stdout, stderr string
	lines          []map[string]any // stdout's JSON lines
}

// events returns the log lines with the event.
func (r mockRun) events(event string) []map[string]any {
	var out []map[string]any
	for _, l := range r.lines {
		if l["event"] == event {
			out = append(out, l)
		}
	}
	return out
}

// runMock runs `osohost mock args...` to its end, under a deadline that
// only stops a hang.
func runMock(t *testing.T, env []string, args ...string) mockRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, append([]string{"mock"}, args...)...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := mockRun{stdout: out.String(), stderr: errb.String()}
	if strings.Contains(r.stderr, `unknown command "mock"`) {
		t.Fatal("osohost has no mock command: cmdMock is missing from the table in main.go")
	}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("osohost mock: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("mock log line %q is not JSON: %v", line, err)
		}
		r.lines = append(r.lines, m)
	}
	return r
}

// postDocuments feeds documents to a frontend as an ISV's own system would.
func postDocuments(t *testing.T, pk *pkitest.PKI, frontend string, ids ...string) {
	t.Helper()
	var docs []string
	for _, id := range ids {
		docs = append(docs, fmt.Sprintf(`{"id":%q,"content":"transaction %s"}`, id, id))
	}
	r := do(t, client(pk, &pk.Client), "POST", "https://"+frontend+"/api/frontend/v1alpha1/documents",
		fmt.Sprintf(`{"documents":[%s],"count":%d}`, strings.Join(docs, ","), len(docs)))
	if r.status != 200 {
		t.Fatalf("feeding the frontend: %d %s", r.status, r.body)
	}
}

type document struct{ ID, Content, Metadata string }

// collect drains a frontend's queue.
func collect(t *testing.T, pk *pkitest.PKI, frontend string) []document {
	t.Helper()
	r := do(t, client(pk, &pk.Client), "GET", "https://"+frontend+"/api/frontend/v1alpha1/documents", "")
	var l struct{ Documents []document }
	if r.status != 200 || json.Unmarshal(r.body, &l) != nil {
		t.Fatalf("frontend documents: %d %s", r.status, r.body)
	}
	return l.Documents
}

// TestE2E_Mock runs a frontend (examples/queue) and a backend
// (examples/signer on the software keystore) as `osohost run` processes
// and `osohost mock --phase both` between them, over HTTP/2 and over
// HTTP/3: the documents fed to the frontend come back to it signed.
func TestE2E_Mock(t *testing.T) {
	queue, signer := plugintest.Path(t, "queue"), plugintest.Path(t, "signer")
	for _, h3 := range []bool{false, true} {
		proto := map[bool]string{false: "HTTP/2.0", true: "HTTP/3.0"}[h3]
		t.Run(proto, func(t *testing.T) {
			pk := pkitest.New(t)
			beEnv := componentEnv(t, pk, "backend")
			fe := start(t, componentEnv(t, pk, "frontend"), queue)
			be := start(t, beEnv, signer)
			ids := []string{"tx-1", "tx-2", "tx-3", "tx-4", "tx-5"}
			postDocuments(t, pk, fe.addr, ids...)

			env := mockEnv(t, pk, fe.addr, be.addr)
			args := []string{"--phase", "both"}
			if h3 {
				for _, addr := range []string{fe.addr, be.addr} {
					r := do(t, client(pk, &pk.Client), "GET", "https://"+addr+"/", "")
					if !strings.HasPrefix(r.header.Get("Alt-Svc"), `h3=":`) {
						t.Fatalf("%s does not advertise HTTP/3 (Alt-Svc %q): SERVER__HTTP3 does not reach the front door", addr, r.header.Get("Alt-Svc"))
					}
				}
				// Certificates from files this time, and HTTP/3.
				dir := pk.WriteFiles(t)
				env = env[:3]
				env = append(env, "MOCK__FRONTEND_ENDPOINT=https://"+fe.addr+"/api/frontend/v1alpha1",
					"MOCK__BACKEND_ENDPOINT=https://"+be.addr+"/api/backend/v1alpha1")
				args = append(args, "--http3", "--cert", filepath.Join(dir, "client.crt"),
					"--key", filepath.Join(dir, "client.key"), "--ca", filepath.Join(dir, "ca.crt"))
			}
			r := runMock(t, env, args...)
			if r.code != 0 {
				t.Fatalf("mock exited %d:\n%s\n%s", r.code, r.stderr, r.stdout)
			}
			done := r.events("phase done")
			if len(done) != 2 {
				t.Fatalf("%d summary lines:\n%s", len(done), r.stdout)
			}
			for i, d := range done {
				if d["phase"] != float64(i+1) || d["documents"] != float64(len(ids)) || d["proto"] != proto || d["logger"] != "osohost.mock" {
					t.Fatalf("summary %d: %v", i+1, d)
				}
			}

			got := collect(t, pk, fe.addr)
			if len(got) != len(ids) {
				t.Fatalf("%d documents back at the frontend, want %d: %v", len(got), len(ids), got)
			}
			for i, d := range got {
				var m struct {
					KeyID     string `json:"key_id"`
					Signature string `json:"signature"`
				}
				if d.ID != ids[i] || json.Unmarshal([]byte(d.Metadata), &m) != nil {
					t.Fatalf("document %d: %+v", i, d)
				}
				der, err := os.ReadFile(filepath.Join(stateDir(beEnv), "keystore", "ED25519", m.KeyID+".pub"))
				if err != nil {
					t.Fatal(err)
				}
				pub, err := x509.ParsePKIXPublicKey(der)
				if err != nil {
					t.Fatal(err)
				}
				sig, _ := hex.DecodeString(m.Signature)
				if !ed25519.Verify(pub.(ed25519.PublicKey), []byte(d.Content), sig) {
					t.Fatalf("document %s: signature does not verify", d.ID)
				}
			}
			// The components saw the mock's requests over the protocol
			// it spoke, each with the phase's trace id.
			for _, srv := range []*server{fe, be} {
				if !strings.Contains(srv.out.String(), `"proto":"`+proto+`"`) || !strings.Contains(srv.out.String(), `"trace_id":"mock-p`) {
					t.Fatalf("component log has no %s request from the mock:\n%s", proto, srv.out.String())
				}
			}
		})
	}
}

// TestE2E_Mock_NothingToMove checks that an empty source is no error and
// that the POST is skipped.
func TestE2E_Mock_NothingToMove(t *testing.T) {
	pk := pkitest.New(t)
	fe := start(t, componentEnv(t, pk, "frontend"), plugintest.Path(t, "queue"))
	be := start(t, componentEnv(t, pk, "backend"), plugintest.Path(t, "signer"))
	r := runMock(t, mockEnv(t, pk, fe.addr, be.addr), "--phase", "1", "--iterations", "2")
	if r.code != 0 || len(r.events("no documents to move: POST skipped")) != 2 || len(r.events("phase done")) != 2 {
		t.Fatalf("mock exited %d:\n%s\n%s", r.code, r.stderr, r.stdout)
	}
	if strings.Contains(be.out.String(), `"method":"POST"`) {
		t.Fatalf("the backend received a POST:\n%s", be.out.String())
	}
}

// TestE2E_Mock_BackendDown checks a backend that does not answer: the
// mock retries its status, exits non-zero with a message naming the step,
// and leaves the frontend's documents where they are.
func TestE2E_Mock_BackendDown(t *testing.T) {
	pk := pkitest.New(t)
	fe := start(t, componentEnv(t, pk, "frontend"), plugintest.Path(t, "queue"))
	postDocuments(t, pk, fe.addr, "kept")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close()

	r := runMock(t, mockEnv(t, pk, fe.addr, down), "--phase", "both", "--retry-delay", "10ms", "--timeout", "5s")
	if r.code != 1 {
		t.Fatalf("mock exited %d:\n%s\n%s", r.code, r.stderr, r.stdout)
	}
	for _, want := range []string{"phase 1 (frontend → backend): check the backend's status", "component not ready after 3 attempts", "connection refused"} {
		if !strings.Contains(r.stderr, want) {
			t.Fatalf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if n := len(r.events("status check failed")); n != 3 {
		t.Fatalf("%d failed attempts logged, want 3:\n%s", n, r.stdout)
	}
	failed := r.events("phase failed")
	if len(failed) != 1 || failed[0]["target_attempts"] != float64(3) || failed[0]["phase"] != float64(1) {
		t.Fatalf("phase failed lines: %v", failed)
	}
	if len(r.events("phase started")) != 1 {
		t.Fatalf("phase 2 ran after phase 1 failed:\n%s", r.stdout)
	}
	if got := collect(t, pk, fe.addr); len(got) != 1 || got[0].ID != "kept" {
		t.Fatalf("the frontend's documents were taken while the backend was down: %v", got)
	}
}

// TestE2E_Mock_BadBackend runs examples/chaos as the backend and feeds it
// a document that makes it answer malformed JSON: the host refuses to pass
// that on (502), and the mock fails naming the step, the status and the
// host's description.
func TestE2E_Mock_BadBackend(t *testing.T) {
	pk := pkitest.New(t)
	fe := start(t, componentEnv(t, pk, "frontend"), plugintest.Path(t, "queue"))
	be := start(t, componentEnv(t, pk, "backend"), plugintest.Path(t, "chaos"))
	postDocuments(t, pk, fe.addr, "badjson")

	r := runMock(t, mockEnv(t, pk, fe.addr, be.addr), "--phase", "1")
	if r.code != 1 {
		t.Fatalf("mock exited %d:\n%s\n%s", r.code, r.stderr, r.stdout)
	}
	const want = `post 1 documents to the backend (fetched from the frontend, not delivered)`
	if !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, `unexpected HTTP status 502 Bad Gateway: "The plugin returned an invalid response."`) {
		t.Fatalf("stderr:\n%s", r.stderr)
	}
	failed := r.events("phase failed")
	if len(failed) != 1 || !strings.Contains(failed[0]["err"].(string), "502") || !strings.Contains(failed[0]["step"].(string), "post 1 documents") {
		t.Fatalf("phase failed lines: %v", failed)
	}
	if !strings.Contains(be.out.String(), "badjson") && !strings.Contains(be.out.String(), `"status":502`) {
		t.Fatalf("backend log does not show the refused output:\n%s", be.out.String())
	}
}

// TestCLI_Mock_Settings checks the messages for missing and invalid
// settings, which name both the variable and the flag.
func TestCLI_Mock_Settings(t *testing.T) {
	pk := pkitest.New(t)
	dir := pk.WriteFiles(t)
	tests := []struct {
		name string
		env  []string
		args []string
		want []string
	}{
		{"nothing set", nil, nil, []string{"MOCK__FRONTEND_ENDPOINT or --frontend", "MOCK__BACKEND_ENDPOINT or --backend", "CERTS__APP_CRT and CERTS__APP_KEY, or --cert and --key", "CERTS__CA or --ca"}},
		{"bad endpoint", []string{"MOCK__FRONTEND_ENDPOINT=ftp://x"}, nil, []string{"MOCK__FRONTEND_ENDPOINT", "http or https URL"}},
		{"retries out of range", []string{"MOCK__MAX_RETRIES=0"}, nil, []string{"MOCK__MAX_RETRIES"}},
		{"key without cert", nil, []string{"--key", filepath.Join(dir, "client.key")}, []string{"--cert and --key go together"}},
		{"key of another cert", nil, []string{"--frontend", "https://a/api/frontend/v1alpha1", "--backend", "https://b/api/backend/v1alpha1",
			"--cert", filepath.Join(dir, "client.crt"), "--key", filepath.Join(dir, "stranger.key"), "--ca", filepath.Join(dir, "ca.crt")}, []string{"--cert/--key"}},
		{"bad phase", nil, []string{"--phase", "3"}, []string{"--phase must be 1, 2 or both"}},
		{"component settings ignored", []string{"PLUGIN__APPLICATION=fb.fb_plugin:FBPlugin", "AUTH__PARSERS__0__TYPE=nonsense"}, nil, []string{"MOCK__FRONTEND_ENDPOINT or --frontend"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := cmdMock(t.Context(), tt.args, tt.env, &out, &errb)
			if code != 2 {
				t.Fatalf("exit %d, want 2: %s", code, errb.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(errb.String(), w) {
					t.Fatalf("stderr lacks %q:\n%s", w, errb.String())
				}
			}
			if strings.Contains(errb.String(), "PRIVATE KEY") || strings.Contains(errb.String(), "PLUGIN__") || strings.Contains(errb.String(), "AUTH__") {
				t.Fatalf("stderr:\n%s", errb.String())
			}
		})
	}
}

// BenchmarkE2E_SignPath compares HTTP/2 and HTTP/3 on the signing path
// against an `osohost run` process serving examples/signer on the
// software keystore: one round is the OSO's work with a backend, a POST of
// a batch of documents (signed, kept for collection) and the GET that
// collects them. It reports documents per second and the POST and GET
// latencies (median and 99th percentile) in milliseconds.
//
//	go test -run '^$' -bench E2E_SignPath -benchtime 200x ./cmd/osohost
func BenchmarkE2E_SignPath(b *testing.B) {
	pk := pkitest.New(b)
	addr := benchServer(b, pk, plugintest.Path(b, "signer"))
	base := "https://" + addr + "/api/backend/v1alpha1/documents"

	for _, batch := range []int{1, 100} {
		docs := make([]string, batch)
		for i := range docs {
			docs[i] = fmt.Sprintf(`{"id":"doc-%d","content":"transaction %d: pay 0.%03d to account %d"}`, i, i, i, 1000+i)
		}
		body := fmt.Sprintf(`{"documents":[%s],"count":%d}`, strings.Join(docs, ","), batch)
		for _, proto := range []string{"HTTP2", "HTTP3"} {
			b.Run(fmt.Sprintf("%s/batch=%d", proto, batch), func(b *testing.B) {
				c := client(pk, &pk.Client)
				if proto == "HTTP3" {
					c = h3BenchClient(b, pk)
				}
				round := func() (post, get time.Duration) {
					t0 := time.Now()
					if r := benchDo(b, c, "POST", base, body); r != 200 {
						b.Fatalf("POST: %d", r)
					}
					t1 := time.Now()
					if r := benchDo(b, c, "GET", base, ""); r != 200 {
						b.Fatalf("GET: %d", r)
					}
					return t1.Sub(t0), time.Since(t1)
				}
				round() // connection and key set up outside the measurement
				var posts, gets []time.Duration
				for b.Loop() {
					p, g := round()
					posts, gets = append(posts, p), append(gets, g)
				}
				b.ReportMetric(float64(len(posts)*batch)/b.Elapsed().Seconds(), "docs/s")
				b.ReportMetric(percentile(posts, 50), "post-p50-ms")
				b.ReportMetric(percentile(posts, 99), "post-p99-ms")
				b.ReportMetric(percentile(gets, 50), "get-p50-ms")
			})
		}
	}
}

// benchServer runs `osohost run` for a benchmark, as start does for a
// test, and returns its address. Its log (info level, as in production)
// is read and dropped.
func benchServer(b *testing.B, pk *pkitest.PKI, wasm string) string {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, binPath, "run", "--listen", "127.0.0.1:0", wasm)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + b.TempDir(), "APP__ROOT=" + b.TempDir(),
		"PLUGIN__MODE=backend", "CERTS__CA=" + pk.CAPEM, "CERTS__APP_CRT=" + pk.Server.CertPEM, "CERTS__APP_KEY=" + pk.Server.KeyPEM,
		"AUTH__PARSERS__0__TYPE=oso.framework.auth.mtls",
		fmt.Sprintf(`AUTH__PARSERS__0__ALLOWLIST={"component": [%q]}`, pki.FormatFingerprint(pk.Client.Fingerprint)),
		"LOGGING__LEVEL=info", "ADMIN__LISTEN=off",
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	var errb syncBuffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cancel(); cmd.Wait() })
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			var ev struct{ Event, Addr string }
			if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Event == "listening" {
				ready <- ev.Addr
			}
		}
		close(ready)
	}()
	select {
	case addr, ok := <-ready:
		if !ok {
			b.Fatalf("osohost exited before it was ready:\n%s", errb.String())
		}
		return addr
	case <-time.After(60 * time.Second):
		b.Fatalf("osohost not ready after 60s:\n%s", errb.String())
	}
	return ""
}

// h3BenchClient is a client over HTTP/3.
func h3BenchClient(b *testing.B, pk *pkitest.PKI) *http.Client {
	cfg := pk.ClientTLS(&pk.Client)
	cfg.ServerName = "localhost"
	tr := &http3.Transport{TLSClientConfig: cfg}
	b.Cleanup(func() { tr.Close() })
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// benchDo makes one request, reads the answer and returns its status.
func benchDo(b *testing.B, c *http.Client, method, url, body string) int {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		b.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		b.Fatal(err)
	}
	return resp.StatusCode
}

// percentile returns the p-th percentile of ds in milliseconds.
func percentile(ds []time.Duration, p int) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[(len(s)-1)*p/100].Microseconds()) / 1000
}
