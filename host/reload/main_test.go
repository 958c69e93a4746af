package reload_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/host/plugin"
	"github.com/osohost/osohost/host/plugin/plugintest"
	"github.com/osohost/osohost/host/reload"
)

// workDir holds the guests built by this test binary and the compilation
// cache of its engine.
var workDir string

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "osohost-reload-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	workDir = d
	code := m.Run()
	if shared.engine != nil {
		shared.engine.Close(context.Background())
	}
	os.RemoveAll(d)
	os.Exit(code)
}

// builds are the variants of testdata/versioned the tests use, by name:
// the -X settings each is linked with.
var builds = map[string][]string{
	"v1":        {"main.version=v1"},
	"v2":        {"main.version=v2"},
	"badstatus": {"main.version=bad", "main.failStatus=yes"},
}

// shared is what every test of the binary uses: the guests, and one
// engine that keeps each guest compiled for the binary's lifetime.
var shared struct {
	once   sync.Once
	err    error
	engine *plugin.Engine
	wasm   map[string][]byte
}

// setup builds the guests, compiles them into the cache with a program
// built without -race (the race detector makes wazero's compiler many
// times slower), and compiles each once more on the shared engine, where
// it stays: a Manager's reload to one of them then costs a hash instead
// of a compilation, so that the tests measure swaps, not the compiler.
func setup(t testing.TB) {
	t.Helper()
	shared.once.Do(func() { shared.err = build() })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
}

func build() error {
	root := plugintest.Root()
	run := func(env []string, args ...string) error {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), env...)
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v\n%s", strings.Join(args, " "), err, b)
		}
		return nil
	}
	wasm := map[string][]byte{}
	var paths []string
	for name, xs := range builds {
		var ldflags []string
		for _, x := range xs {
			ldflags = append(ldflags, "-X="+x)
		}
		out := filepath.Join(workDir, "guests", name+".wasm")
		if err := run([]string{"GOOS=wasip1", "GOARCH=wasm"}, "go", "build", "-buildmode=c-shared", "-trimpath",
			"-ldflags="+strings.Join(ldflags, " "), "-o", out, "./host/reload/testdata/versioned"); err != nil {
			return err
		}
		b, err := os.ReadFile(out)
		if err != nil {
			return err
		}
		wasm[name] = b
		paths = append(paths, out)
	}
	cache := filepath.Join(workDir, "cache")
	pre := filepath.Join(workDir, "precompile")
	// wazero files its cache under its version, which it reads from the
	// binary's build information; a test binary has none and says "dev".
	// The program must say the same to share the cache.
	if err := run(nil, "go", "build", "-ldflags=-X=github.com/tetratelabs/wazero/internal/version.version=dev",
		"-o", pre, "./host/reload/testdata/precompile"); err != nil {
		return err
	}
	if err := run(nil, append([]string{pre, "-cache", cache}, paths...)...); err != nil {
		return err
	}
	ctx := context.Background()
	eng, err := plugin.NewEngine(ctx, plugin.EngineOptions{CacheDir: cache})
	if err != nil {
		return err
	}
	for name, b := range wasm {
		if _, err := eng.Compile(ctx, b); err != nil { // kept open until the engine closes
			eng.Close(ctx)
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	for _, name := range []string{"noisv", "tiny"} {
		b, err := os.ReadFile(filepath.Join("testdata", name+".wasm"))
		if err != nil {
			eng.Close(ctx)
			return err
		}
		wasm[name] = b
	}
	shared.engine, shared.wasm = eng, wasm
	return nil
}

// guest returns the bytes of the named guest: a build of
// testdata/versioned, or "noisv" or "tiny" from testdata.
func guest(t testing.TB, name string) []byte {
	t.Helper()
	setup(t)
	b, ok := shared.wasm[name]
	if !ok {
		t.Fatalf("unknown guest %q", name)
	}
	return b
}

// newEngine returns the shared engine.
func newEngine(t testing.TB) *plugin.Engine {
	t.Helper()
	setup(t)
	return shared.engine
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// install replaces the file at path with b the way deployments do: write
// a file next to it, then rename it over the old one.
func install(t testing.TB, path string, b []byte) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "next.tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// newManager installs the named build at dir/plugin.wasm and starts a
// Manager on it, closed at the end of the test. opts.Path and opts.Engine
// are filled in when empty.
func newManager(t testing.TB, build string, opts reload.Options) (*reload.Manager, string) {
	t.Helper()
	if opts.Path == "" {
		opts.Path = filepath.Join(t.TempDir(), "plugin.wasm")
		install(t, opts.Path, guest(t, build))
	}
	if opts.Engine == nil {
		opts.Engine = newEngine(t)
	}
	m, err := reload.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return m, opts.Path
}

// events returns an OnReload hook and the channel it reports on.
func events() (func(reload.Event), <-chan reload.Event) {
	ch := make(chan reload.Event, 256)
	return func(ev reload.Event) { ch <- ev }, ch
}

func nextEvent(t testing.TB, ch <-chan reload.Event) reload.Event {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(time.Minute):
		t.Fatal("no reload event within a minute")
		panic("unreachable")
	}
}

// versionOf runs export on c and returns the version the guest reported.
func versionOf(ctx context.Context, c interface {
	Call(context.Context, string, []byte) (plugin.Result, error)
}, export string) (string, error) {
	var in []byte
	if export == abi.ExportToISV {
		in = abi.AppendDocumentListHeader(nil, 1)
		in = abi.AppendDocument(in, "d1", "content", "")
	}
	res, err := c.Call(ctx, export, in)
	if err != nil {
		return "", err
	}
	var extra []byte
	switch export {
	case abi.ExportStatus:
		st, err := abi.DecodeStatus(res.Data)
		if err != nil {
			return "", err
		}
		if st.Code != 200 {
			return "", fmt.Errorf("status code %d", st.Code)
		}
		extra = st.Extra
	default:
		extra = res.Data
	}
	var v struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(extra, &v); err != nil {
		return "", fmt.Errorf("answer %q: %w", extra, err)
	}
	return v.Version, nil
}

// waitGoroutines waits, for a bounded time, until no more than n
// goroutines run: goroutines that just ended may take a moment to be
// counted out.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// loopDocs makes the versioned guest log "versioned: looping", then loop
// until its call is stopped.
func loopDocs() []byte {
	b := abi.AppendDocumentListHeader(nil, 1)
	return abi.AppendDocument(b, "loop", "", "")
}

// signalLogger returns a logger that signals on ch (without blocking)
// each time the versioned guest logs "versioned: looping": its looping
// call is running.
func signalLogger(ch chan<- struct{}) *slog.Logger {
	return slog.New(signalHandler{msg: "versioned: looping", ch: ch})
}

type signalHandler struct {
	msg string
	ch  chan<- struct{}
}

func (h signalHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h signalHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h signalHandler) WithGroup(string) slog.Handler            { return h }
func (h signalHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		select {
		case h.ch <- struct{}{}:
		default:
		}
	}
	return nil
}
