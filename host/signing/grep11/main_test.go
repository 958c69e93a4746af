package grep11_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/osohost/osohost/host/pki/pkitest"
	"github.com/osohost/osohost/host/signing/grep11"
	"github.com/osohost/osohost/host/signing/keystore"
	"github.com/osohost/osohost/internal/syncbuf"
	"github.com/osohost/osohost/internal/testbin"
)

// readyTimeout bounds how long a dev server may take to print its ready line.
const readyTimeout = 20 * time.Second

// devBinary is the grep11dev executable TestMain builds.
var devBinary string

var _ grep11.Keystore = (*keystore.Keystore)(nil)

func TestMain(m *testing.M) {
	var err error
	if devBinary, err = testbin.Build("cmd/grep11dev"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// env is one test's PKI, written to files, and keystore.
type env struct {
	pki      *pkitest.PKI
	certDir  string // ca.crt, server.crt, server.key, …
	keystore *keystore.Keystore
	ksDir    string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	p := pkitest.New(t)
	ksDir := filepath.Join(t.TempDir(), "keystore")
	ks, err := keystore.Open(ksDir)
	if err != nil {
		t.Fatal(err)
	}
	return &env{pki: p, certDir: p.WriteFiles(t), keystore: ks, ksDir: ksDir}
}

// devServer is a running grep11dev process.
type devServer struct {
	addr   string
	cancel context.CancelFunc
	done   chan struct{}
	stderr *lockedBuffer
}

// stop sends SIGTERM and waits for the process to exit.
func (d *devServer) stop() {
	d.cancel()
	<-d.done
}

// startDev starts grep11dev with the env's server certificate and extra
// flags, waits for its ready line and returns its address. The process is
// stopped when the test ends.
func (e *env) startDev(t testing.TB, args ...string) *devServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	args = append([]string{
		"--ca", filepath.Join(e.certDir, "ca.crt"),
		"--cert", filepath.Join(e.certDir, "server.crt"),
		"--key", filepath.Join(e.certDir, "server.key"),
	}, args...)
	cmd := exec.CommandContext(ctx, devBinary, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	d := &devServer{cancel: cancel, done: make(chan struct{}), stderr: &lockedBuffer{}}
	cmd.Stderr = d.stderr
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
		io.Copy(io.Discard, stdout)
	}()
	exited := make(chan error, 1)
	go func() {
		exited <- cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(d.stop)

	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case line, ok := <-lines:
		if !ok {
			err := <-exited
			t.Fatalf("grep11dev exited before it was ready (%v):\n%s", err, d.stderr)
		}
		var ready struct{ Event, Addr string }
		if err := json.Unmarshal([]byte(line), &ready); err != nil || ready.Event != "listening" || ready.Addr == "" {
			t.Fatalf("grep11dev ready line %q: want {\"event\":\"listening\",\"addr\":…}", line)
		}
		d.addr = ready.Addr
	case <-timer.C:
		t.Fatalf("grep11dev not ready after %v:\n%s", readyTimeout, d.stderr)
	}
	return d
}

// options returns signer options for endpoint with the env's client
// certificate and keystore, and a short startup timeout.
func (e *env) options(endpoint string) grep11.Options {
	return grep11.Options{
		Endpoint:       endpoint,
		CACert:         []byte(e.pki.CAPEM),
		ClientCert:     []byte(e.pki.Client.CertPEM),
		ClientKey:      []byte(e.pki.Client.KeyPEM),
		Keystore:       e.keystore,
		StartupTimeout: 5 * time.Second,
	}
}

// newSigner calls grep11.New and closes the signer when the test ends.
func newSigner(t testing.TB, o grep11.Options) *grep11.Signer {
	t.Helper()
	s, err := grep11.New(t.Context(), o)
	if err != nil {
		t.Fatalf("grep11.New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// freeAddr returns a loopback address nothing listens on (for now).
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer = syncbuf.Buffer

// logTo returns a debug-level JSON logger writing to b.
func logTo(b *lockedBuffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if strings.EqualFold(x, v) {
			return true
		}
	}
	return false
}
