// Package plugintest finds or builds the guest modules that tests run: the
// examples and the test guests, all built from source.
//
// `make test` builds every guest first and points OSOHOST_GUESTS at them;
// a plain `go test` builds the Go guests it needs into a temporary
// directory, and the C guest when clang for wasm32-wasi is installed. With
// OSOHOST_REQUIRE_GUESTS=1 a guest that cannot be built fails the test
// instead of skipping it.
package plugintest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// sources maps a guest name to how it is built, relative to the module root.
var sources = map[string]struct {
	dir  string
	lang string // "go" or "c"
}{
	"queue":      {"examples/queue", "go"},
	"signer":     {"examples/signer", "go"},
	"testguest":  {"host/plugin/testdata/testguest", "go"},
	"signguest":  {"host/hostcall/testdata/signguest", "go"},
	"status-c":   {"examples/status-c", "c"},
	"chaos":      {"examples/chaos", "go"},
	"stateguest": {"host/hostcall/testdata/stateguest", "go"},
	"credguest":  {"host/hostcall/testdata/credguest", "go"},
	"isvroutes":  {"examples/isvroutes", "go"},
}

var (
	mu    sync.Mutex
	built = map[string]string{}
	tmp   string
)

// Root returns the module's root directory.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// Path returns the path of the named guest's .wasm, building it if needed.
// It skips the test (or fails it, with OSOHOST_REQUIRE_GUESTS=1) when the
// guest cannot be built here.
func Path(t testing.TB, name string) string {
	t.Helper()
	src, ok := sources[name]
	if !ok {
		t.Fatalf("plugintest: unknown guest %q", name)
	}
	if dir := os.Getenv("OSOHOST_GUESTS"); dir != "" {
		p := filepath.Join(dir, name+".wasm")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if p, ok := built[name]; ok {
		return p
	}
	if tmp == "" {
		d, err := os.MkdirTemp("", "osohost-guests-")
		if err != nil {
			t.Fatal(err)
		}
		tmp = d
	}
	out := filepath.Join(tmp, name+".wasm")
	root := Root()
	var cmd *exec.Cmd
	switch src.lang {
	case "go":
		cmd = exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-o", out, "./"+src.dir)
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	case "c":
		if _, err := exec.LookPath("clang"); err != nil {
			unavailable(t, name, "clang is not installed")
		}
		files, _ := filepath.Glob(filepath.Join(root, src.dir, "*.c"))
		args := []string{"--target=wasm32-wasi", "-mexec-model=reactor", "-O2", "-std=c11", "-I" + filepath.Join(root, "guest-sdk/c"), "-o", out}
		args = append(args, files...)
		args = append(args, filepath.Join(root, "guest-sdk/c/oso.c"))
		cmd = exec.Command("clang", args...)
	}
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		if src.lang == "c" {
			unavailable(t, name, string(b))
		}
		t.Fatalf("plugintest: build %s: %v\n%s", name, err, b)
	}
	built[name] = out
	return out
}

func unavailable(t testing.TB, name, why string) {
	t.Helper()
	if os.Getenv("OSOHOST_REQUIRE_GUESTS") == "1" {
		t.Fatalf("plugintest: guest %s cannot be built: %s", name, why)
	}
	t.Skipf("guest %s cannot be built here: %s", name, why)
}

// Read returns the bytes of the named guest.
func Read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(Path(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
