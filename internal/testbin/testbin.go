// Package testbin builds the module's commands for tests that run them as
// separate processes (the server, the development GREP11 server and OIDC
// issuer, the credentials driver). Each command is built once per test
// process, into one temporary directory that [Cleanup] removes.
package testbin

import (
	"errors"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// Module is the import path of the module the commands belong to.
const Module = "github.com/osohost/osohost"

var (
	mu     sync.Mutex
	dir    string
	builds = map[string]*build{}
)

type build struct {
	once sync.Once
	path string
	err  error
}

// Build builds the command in the package at pkg, relative to the
// module's root ("cmd/oidcdev"), once per test process, and returns the
// path of the executable.
func Build(pkg string) (string, error) {
	mu.Lock()
	b := builds[pkg]
	if b == nil {
		b = &build{}
		builds[pkg] = b
	}
	mu.Unlock()
	b.once.Do(func() {
		mu.Lock()
		if dir == "" {
			dir, b.err = os.MkdirTemp("", "osohost-testbin-")
		}
		d := dir
		mu.Unlock()
		if b.err != nil {
			return
		}
		out := filepath.Join(d, path.Base(pkg))
		cmd := exec.Command("go", "build", "-o", out, Module+"/"+pkg)
		cmd.Dir = root()
		if o, err := cmd.CombinedOutput(); err != nil {
			b.err = errors.New("build " + pkg + ": " + err.Error() + "\n" + string(o))
			return
		}
		b.path = out
	})
	return b.path, b.err
}

// MustBuild is [Build] for a test: a failed build fails tb.
func MustBuild(tb testing.TB, pkg string) string {
	tb.Helper()
	p, err := Build(pkg)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// Cleanup removes every executable built so far. Call it from TestMain
// after m.Run.
func Cleanup() {
	mu.Lock()
	defer mu.Unlock()
	if dir != "" {
		os.RemoveAll(dir)
	}
}

// root returns the module's root directory, found from this file's place.
func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}
