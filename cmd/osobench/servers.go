package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/osohost/osohost/bench/loadgen"
)

// server is a process the suite started and measures: osohost, or the
// Python peer's NGINX and Gunicorn.
type server struct {
	name string
	url  string // the documents route
	// closeURL is the Python peer's route that closes the connection
	// after every answer, as the framework's NGINX does.
	closeURL string
	procs    []*proc
	logs     []*os.File
	// wrapped: the first process is a wrapper (strace, perf) whose child is
	// the server; signals go to the child, which the wrapper outlives.
	wrapped bool
	// startCPU is the CPU time the server had used when it first
	// answered 200.
	startCPU time.Duration
}

// proc is a started process; done is closed when it has ended.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// start starts cmd and waits for its end in the background.
func (s *server) start(cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	s.procs = append(s.procs, p)
	return nil
}

// exited is closed when any of the server's processes has ended.
func (s *server) exited() <-chan struct{} {
	ch := make(chan struct{})
	for _, p := range s.procs {
		go func() {
			<-p.done
			select {
			case <-ch:
			default:
				close(ch)
			}
		}()
	}
	return ch
}

// pids are the roots of the server's process trees.
func (s *server) pids() []int {
	var p []int
	for _, c := range s.procs {
		p = append(p, c.cmd.Process.Pid)
	}
	return p
}

// signal sends sig to the server's first process (its child when
// wrapped).
func (s *server) signal(sig syscall.Signal) {
	pid := s.procs[0].cmd.Process.Pid
	if s.wrapped {
		if d := loadgen.Descendants(pid); len(d) > 1 {
			pid = d[1]
		}
	}
	syscall.Kill(pid, sig)
}

// stop ends the server's processes (SIGTERM, then SIGKILL after 10 s) and
// waits for them.
func (s *server) stop() {
	// Processes the server started (workers, a wrapper's child) must not
	// outlive it: those still there once it has ended are killed.
	tree := loadgen.Descendants(s.pids()...)
	defer func() {
		roots := s.pids()
		for _, pid := range tree {
			if !slices.Contains(roots, pid) {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}()
	if s.wrapped {
		s.signal(syscall.SIGTERM)
	}
	for _, p := range s.procs {
		if !s.wrapped {
			p.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, p := range s.procs {
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
	}
	for _, f := range s.logs {
		f.Close()
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago
// (and whose UDP twin was too, for HTTP/3).
func freePort() (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		return port, nil
	}
	return 0, errors.New("osobench: no free port")
}

// waitStatus polls GET status over HTTPS until it answers 200 and returns
// how long that took since start.
func waitStatus(ctx context.Context, cfg *tls.Config, statusURL string, start time.Time, limit time.Duration, exited <-chan struct{}) (time.Duration, error) {
	tr := &http.Transport{TLSClientConfig: cfg.Clone(), DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	deadline := start.Add(limit)
	var last error
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, statusURL, nil)
		resp, err := c.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return time.Since(start), nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		last = err
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-exited:
			return 0, fmt.Errorf("osobench: the server exited before it answered: %v", last)
		case <-time.After(time.Millisecond):
		}
	}
	return 0, fmt.Errorf("osobench: %s not ready after %s: %v", statusURL, limit, last)
}

// osohostOptions are the variations of an osohost run.
type osohostOptions struct {
	env    []string // extra environment
	strace string   // when set, run under strace -f -c writing its summary there
	perf   string   // when set, run under perf record -g writing its data there
}

// startOsohost starts `osohost run` on examples/signer with a fresh state
// and audit log (the keystore and the compilation cache are kept) and
// waits until status answers 200. It returns the server and the time
// from exec to that first 200.
func (s *suite) startOsohost(ctx context.Context, o osohostOptions) (*server, time.Duration, error) {
	for _, d := range []string{"state", "audit"} {
		if err := os.RemoveAll(filepath.Join(s.appRoot, d)); err != nil {
			return nil, 0, err
		}
	}
	if err := os.MkdirAll(s.appRoot, 0o700); err != nil {
		return nil, 0, err
	}
	port, err := freePort()
	if err != nil {
		return nil, 0, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	env := append(append(s.osohostEnv(), s.extraEnv...), o.env...)
	name, args := s.osohost, []string{"run", "--listen", addr, s.signerWasm}
	if o.strace != "" {
		args = append([]string{"-f", "-c", "-o", o.strace, "--seccomp-bpf", "-e", "trace=fsync,fdatasync,sync_file_range,msync", name}, args...)
		name = "strace"
	}
	if o.perf != "" {
		args = append([]string{"record", "-F", "1999", "-g", "-o", o.perf, "--", name}, args...)
		name = "perf"
	}
	cmd := exec.Command(name, args...)
	cmd.Env = env
	logf, err := os.CreateTemp(s.work, "osohost-*.log")
	if err != nil {
		return nil, 0, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	srv := &server{name: "osohost", url: "https://" + addr + "/api/backend/v1alpha1/documents", logs: []*os.File{logf}, wrapped: o.strace != "" || o.perf != ""}
	start := time.Now()
	if err := srv.start(cmd); err != nil {
		logf.Close()
		return nil, 0, err
	}
	ready, err := waitStatus(ctx, s.tls, "https://"+addr+"/api/backend/v1alpha1/status", start, 60*time.Second, srv.exited())
	if err != nil {
		srv.stop()
		b, _ := os.ReadFile(logf.Name())
		return nil, 0, fmt.Errorf("%v\n%s", err, tail(b, 2000))
	}
	if u, err := loadgen.TreeUsage(srv.pids()...); err == nil {
		srv.startCPU = u.CPU
	}
	return srv, ready, nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// osohostEnv is the deployment-like environment of every osohost run:
// the development PKI, an mTLS allowlist holding the client, the software
// signing backend, no admin listener, no file watching.
func (s *suite) osohostEnv() []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + s.work,
		"APP__NAME=bench",
		"APP__ROOT=" + s.appRoot,
		"PLUGIN__MODE=backend",
		"CERTS__CA=" + s.caPEM,
		"CERTS__APP_CRT=" + s.serverCertPEM,
		"CERTS__APP_KEY=" + s.serverKeyPEM,
		"AUTH__PARSERS__0__TYPE=oso.framework.auth.mtls",
		fmt.Sprintf(`AUTH__PARSERS__0__ALLOWLIST={"component": [%q]}`, s.clientFP),
		"SIGNING__BACKEND=software",
		"ADMIN__LISTEN=off",
		"RELOAD__WATCH=false",
		"SERVER__INTERNAL_LISTEN=127.0.0.1:0",
	}
}

// peer is the Python stack, NGINX and Gunicorn, from Debian's packages.
type peerTools struct {
	nginx, gunicorn, python string
}

// findPeerTools finds NGINX and Gunicorn, or says why the peer is skipped.
func findPeerTools() (peerTools, error) {
	var t peerTools
	var err error
	if t.nginx, err = exec.LookPath("nginx"); err != nil {
		if _, e := os.Stat("/usr/sbin/nginx"); e == nil {
			t.nginx = "/usr/sbin/nginx"
		} else {
			return t, errors.New("nginx is not installed (apt-get install -y nginx gunicorn python3-flask python3-cryptography python3-pydantic)")
		}
	}
	if t.gunicorn, err = exec.LookPath("gunicorn"); err != nil {
		return t, errors.New("gunicorn is not installed (apt-get install -y gunicorn python3-flask python3-cryptography python3-pydantic)")
	}
	// Gunicorn runs with the interpreter of its own script (Debian's
	// /usr/bin/python3); the modules must be importable there.
	t.python = "/usr/bin/python3"
	if b, err := os.ReadFile(t.gunicorn); err == nil && strings.HasPrefix(string(b), "#!") {
		line, _, _ := strings.Cut(string(b[2:]), "\n")
		if f := strings.Fields(line); len(f) > 0 {
			t.python = f[0]
		}
	}
	out, err := exec.Command(t.python, "-c", "import flask, cryptography, pydantic; print(cryptography.__version__, pydantic.VERSION)").CombinedOutput()
	if err != nil {
		return t, fmt.Errorf("%s cannot import flask, cryptography and pydantic (apt-get install -y python3-flask python3-cryptography python3-pydantic): %s", t.python, strings.TrimSpace(string(out)))
	}
	return t, nil
}

// versions of the peer's parts, for the report.
func (t peerTools) versions() string {
	var parts []string
	if out, err := exec.Command(t.nginx, "-v").CombinedOutput(); err == nil {
		parts = append(parts, strings.TrimSpace(strings.TrimPrefix(string(out), "nginx version: ")))
	}
	if out, err := exec.Command(t.python, "-c", `import sys, flask, gunicorn, cryptography, pydantic
from importlib.metadata import version
print("Python %d.%d.%d, gunicorn %s, Flask %s, cryptography %s, pydantic %s" % (sys.version_info[:3] + (gunicorn.__version__, version("flask"), cryptography.__version__, pydantic.VERSION)))`).CombinedOutput(); err == nil {
		parts = append(parts, strings.TrimSpace(string(out)))
	}
	return strings.Join(parts, "; ")
}

// startPeer starts NGINX (TLS 1.3, client certificates verified and
// forwarded) in front of Gunicorn (sync workers, one per core) running
// bench/peer/app.py, each with its own prefix under the suite's temporary
// directory; as an unprivileged user when the suite runs as root. The
// peer signs with its own Ed25519 key, whose public key it puts in the
// suite's keystore.
func (s *suite) startPeer(ctx context.Context, t peerTools) (*server, error) {
	dir := filepath.Join(s.work, "peer")
	for _, d := range []string{"tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	// The peer's key: PKCS#8 for the application, SPKI in the keystore
	// layout for the load generator.
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	pk8, _ := x509.MarshalPKCS8PrivateKey(priv)
	spki, _ := x509.MarshalPKIXPublicKey(pub)
	keyID := "python-peer-ed25519"
	files := map[string][]byte{
		"ca.crt":      []byte(s.caPEM),
		"server.crt":  []byte(s.serverCertPEM),
		"server.key":  []byte(s.serverKeyPEM),
		"signing.key": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk8}),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(filepath.Join(s.peerKeystore, "ED25519"), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(s.peerKeystore, "ED25519", keyID+".pub"), spki, 0o644); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	appPort, err := freePort()
	if err != nil {
		return nil, err
	}
	closePort, err := freePort()
	if err != nil {
		return nil, err
	}
	tmpl, err := os.ReadFile(filepath.Join(s.repo, "bench", "peer", "nginx.conf.tmpl"))
	if err != nil {
		return nil, err
	}
	conf := strings.NewReplacer("{{dir}}", dir, "{{port}}", strconv.Itoa(port), "{{app_port}}", strconv.Itoa(appPort), "{{close_port}}", strconv.Itoa(closePort),
		"{{workers}}", strconv.Itoa(s.cores)).Replace(string(tmpl))
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		return nil, err
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		// Unprivileged, as a deployment would run it: the files are the
		// peer's own.
		cred = &syscall.Credential{Uid: 65534, Gid: 65534}
		filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
			if err == nil {
				os.Lchown(p, 65534, 65534)
			}
			return nil
		})
	}
	// The application is copied beside the configuration, so that the
	// unprivileged user can read it wherever the repository lives.
	app, err := os.ReadFile(filepath.Join(s.repo, "bench", "peer", "app.py"))
	if err != nil {
		return nil, err
	}
	appDir := filepath.Join(dir, "app")
	if err := os.MkdirAll(appDir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(appDir, "app.py"), app, 0o644); err != nil {
		return nil, err
	}
	gun := exec.Command(t.gunicorn, "--workers", strconv.Itoa(s.cores), "--worker-class", "sync",
		"--bind", fmt.Sprintf("127.0.0.1:%d", appPort), "--chdir", appDir, "--timeout", "0",
		"--worker-tmp-dir", filepath.Join(dir, "tmp"), "app:app")
	gun.Env = []string{
		"PATH=/usr/bin:/bin", "HOME=" + dir, "PYTHONDONTWRITEBYTECODE=1",
		"PEER_KEY_FILE=" + filepath.Join(dir, "signing.key"),
		"PEER_KEY_ID=" + keyID,
		fmt.Sprintf(`PEER_ALLOWLIST={"component": [%q]}`, s.clientFP),
	}
	ngx := exec.Command(t.nginx, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log"))
	srv := &server{name: "python", url: fmt.Sprintf("https://127.0.0.1:%d/api/backend/v1alpha1/documents", port),
		closeURL: fmt.Sprintf("https://127.0.0.1:%d/api/backend/v1alpha1/documents", closePort)}
	for _, c := range []*exec.Cmd{gun, ngx} {
		logf, err := os.CreateTemp(s.work, "peer-*.log")
		if err != nil {
			srv.stop()
			return nil, err
		}
		if cred != nil {
			os.Chown(logf.Name(), 65534, 65534)
			c.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		}
		c.Stdout, c.Stderr = logf, logf
		srv.logs = append(srv.logs, logf)
		if err := srv.start(c); err != nil {
			srv.stop()
			return nil, fmt.Errorf("start %s: %w", c.Path, err)
		}
	}
	if _, err := waitStatus(ctx, s.tls, fmt.Sprintf("https://127.0.0.1:%d/api/backend/v1alpha1/status", port), time.Now(), 60*time.Second, srv.exited()); err != nil {
		srv.stop()
		var logs []string
		for _, f := range srv.logs {
			b, _ := os.ReadFile(f.Name())
			logs = append(logs, string(tail(b, 1500)))
		}
		b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		logs = append(logs, string(tail(b, 1500)))
		return nil, fmt.Errorf("%v\n%s", err, strings.Join(logs, "\n"))
	}
	s.keys = loadgen.NewKeyring(filepath.Join(s.appRoot, "keystore"), s.peerKeystore)
	return srv, nil
}
