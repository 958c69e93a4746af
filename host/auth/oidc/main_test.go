package oidc_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/osohost/osohost/host/pki/pkitest"
	"github.com/osohost/osohost/internal/syncbuf"
	"github.com/osohost/osohost/internal/testbin"
)

// readyTimeout bounds how long an issuer may take to print its ready line.
const readyTimeout = 20 * time.Second

// devBinary is the oidcdev executable TestMain builds.
var devBinary string

func TestMain(m *testing.M) {
	var err error
	if devBinary, err = testbin.Build("cmd/oidcdev"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// tlsFiles is a test PKI written to files, shared by the issuers of a test.
type tlsFiles struct {
	pki *pkitest.PKI
	dir string // server.crt, server.key, ca.crt, …
}

func newTLSFiles(t testing.TB) *tlsFiles {
	t.Helper()
	p := pkitest.New(t)
	return &tlsFiles{pki: p, dir: p.WriteFiles(t)}
}

// issuer is a running oidcdev process.
type issuer struct {
	URL    string       // the issuer URL it publishes
	Base   string       // where it is served; URL unless --issuer is given
	client *http.Client // trusts its certificate
	cancel context.CancelFunc
	done   chan struct{}
	stderr *lockedBuffer
}

// startIssuer starts oidcdev with extra flags, over HTTPS with files' server
// certificate when files is not nil, waits for its ready line and stops it
// when the test ends.
func startIssuer(t testing.TB, files *tlsFiles, args ...string) *issuer {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	if files != nil {
		args = append([]string{
			"--cert", filepath.Join(files.dir, "server.crt"),
			"--key", filepath.Join(files.dir, "server.key"),
		}, args...)
		client.Transport = &http.Transport{TLSClientConfig: files.pki.ClientTLS(nil)}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, devBinary, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	iss := &issuer{client: client, cancel: cancel, done: make(chan struct{}), stderr: &lockedBuffer{}}
	cmd.Stderr = iss.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	exited := make(chan error, 1)
	go func() {
		exited <- cmd.Wait()
		close(iss.done)
	}()
	t.Cleanup(iss.stop)

	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case line, ok := <-lines:
		if !ok {
			t.Fatalf("oidcdev exited before it was ready (%v):\n%s", <-exited, iss.stderr)
		}
		var ready struct{ Event, Issuer, URL string }
		if err := json.Unmarshal([]byte(line), &ready); err != nil || ready.Event != "listening" || ready.Issuer == "" || ready.URL == "" {
			t.Fatalf("oidcdev ready line %q: want {\"event\":\"listening\",\"issuer\":…,\"url\":…}", line)
		}
		iss.URL, iss.Base = ready.Issuer, ready.URL
	case <-timer.C:
		t.Fatalf("oidcdev not ready after %v:\n%s", readyTimeout, iss.stderr)
	}
	return iss
}

// stop sends SIGTERM and waits for the process to exit.
func (iss *issuer) stop() {
	iss.cancel()
	<-iss.done
}

// post posts body as JSON to path and returns the JSON object answered.
func (iss *issuer) post(t testing.TB, path string, body any) map[string]any {
	t.Helper()
	var buf bytes.Buffer
	if body != nil {
		if err := json.NewEncoder(&buf).Encode(body); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := iss.client.Post(iss.Base+path, "application/json", &buf)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %d %v %v", path, resp.StatusCode, out, err)
	}
	return out
}

// noKid, as mint's kid, leaves the key id out of the token's header.
const noKid = "\x00none"

// mint returns a token with claims (the issuer adds iss, iat and exp unless
// given; null removes them). A non-empty kid replaces the header's key id.
func (iss *issuer) mint(t testing.TB, claims map[string]any, kid string) string {
	t.Helper()
	path := "/token"
	switch kid {
	case "":
	case noKid:
		path += "?kid="
	default:
		path += "?kid=" + url.QueryEscape(kid)
	}
	return iss.post(t, path, claims)["access_token"].(string)
}

// rotate makes a new signing key; keep keeps the old ones published.
func (iss *issuer) rotate(t testing.TB, keep bool) string {
	t.Helper()
	return iss.post(t, fmt.Sprintf("/rotate?keep=%t", keep), nil)["kid"].(string)
}

// jwksHits returns how many times the key set was served.
func (iss *issuer) jwksHits(t testing.TB) int {
	t.Helper()
	return iss.stat(t, "jwks")
}

func (iss *issuer) stat(t testing.TB, name string) int {
	t.Helper()
	resp, err := iss.client.Get(iss.Base + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]int
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out[name]
}

// jwks returns the issuer's key set as served.
func (iss *issuer) jwks(t testing.TB) []byte {
	t.Helper()
	resp, err := iss.client.Get(iss.Base + "/jwks")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer = syncbuf.Buffer
