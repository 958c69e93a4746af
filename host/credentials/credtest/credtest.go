// Package credtest runs the reference credentials driver,
// cmd/osohost-credentials, as a real child process for tests: it builds
// the binary once per test binary, starts it on a Unix socket, waits for
// its ready line, and sends it the signals the tests need (SIGHUP to
// rotate tokens, SIGKILL to crash it, SIGTERM to stop it).
package credtest

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/osohost/osohost/internal/syncbuf"
	"github.com/osohost/osohost/internal/testbin"
)

// ReadyTimeout bounds how long the driver may take to print its ready line
// or to answer a signal. It only stops a hang; no test asserts on time.
const ReadyTimeout = 30 * time.Second

// Binary returns the path of an osohost-credentials executable built from
// this module, building it on first use (see internal/testbin).
func Binary(t testing.TB) string {
	t.Helper()
	return testbin.MustBuild(t, "cmd/osohost-credentials")
}

// SocketPath returns a path for a driver socket in a new private directory
// removed when the test ends. The directory is under the system's
// temporary directory, not t.TempDir, to keep the path within the kernel's
// limit for socket paths.
func SocketPath(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "oc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "d.sock")
}

// Entry is one credential of a credentials file.
type Entry struct {
	Token       string   `json:"token"`
	TokenType   string   `json:"token_type,omitempty"`
	ExpiresAtMS int64    `json:"expires_at_ms,omitempty"`
	Scopes      []string `json:"scopes,omitempty"`
}

// WriteFile writes creds to path as a JSON credentials file, replacing
// the file atomically so that a driver never reads half of it.
func WriteFile(t testing.TB, path string, creds map[string]Entry) {
	t.Helper()
	b, err := json.Marshal(creds)
	if err != nil {
		t.Fatal(err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// Driver is a running osohost-credentials process.
type Driver struct {
	// Socket is the path the driver listens on.
	Socket string

	cmd    *exec.Cmd
	events chan string // stdout lines after the ready line
	done   chan struct{}
	err    error // set before done is closed
	stderr *lockedBuffer
}

// Start runs `osohost-credentials serve --socket socket args...`, waits
// for its ready line and returns it. The process is killed, if still
// running, when the test ends.
func Start(t testing.TB, socket string, args ...string) *Driver {
	t.Helper()
	cmd := exec.Command(Binary(t), append([]string{"serve", "--socket", socket}, args...)...)
	d := &Driver{Socket: socket, cmd: cmd, events: make(chan string, 16), done: make(chan struct{}), stderr: &lockedBuffer{}}
	cmd.Stderr = d.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		first := true
		for sc.Scan() {
			if first {
				ready <- sc.Text()
				first = false
				continue
			}
			select {
			case d.events <- sc.Text():
			default: // nobody waits for it
			}
		}
		io.Copy(io.Discard, stdout)
		close(ready)
		d.err = cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			cmd.Process.Kill()
			<-d.done
		}
	})

	timer := time.NewTimer(ReadyTimeout)
	defer timer.Stop()
	select {
	case line, ok := <-ready:
		if !ok {
			<-d.done
			t.Fatalf("osohost-credentials exited before it was ready (%v):\n%s", d.err, d.stderr)
		}
		var r struct{ Event, Socket string }
		if err := json.Unmarshal([]byte(line), &r); err != nil || r.Event != "listening" || r.Socket != socket {
			t.Fatalf("osohost-credentials ready line %q: want {\"event\":\"listening\",\"socket\":%q,…}", line, socket)
		}
	case <-timer.C:
		t.Fatalf("osohost-credentials not ready after %v:\n%s", ReadyTimeout, d.stderr)
	}
	return d
}

// Reload sends SIGHUP and waits until the driver reports that it serves
// the file's current content; a failed reload fails the test.
func (d *Driver) Reload(t testing.TB) {
	t.Helper()
	if ev := d.Signal(t, syscall.SIGHUP); ev != "reloaded" {
		t.Fatalf("after SIGHUP: event %q\n%s", ev, d.stderr)
	}
}

// Signal sends sig and returns the name of the next event the driver
// prints ("reloaded" or "reload_failed" after SIGHUP).
func (d *Driver) Signal(t testing.TB, sig os.Signal) string {
	t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	timer := time.NewTimer(ReadyTimeout)
	defer timer.Stop()
	select {
	case line := <-d.events:
		var e struct{ Event string }
		if json.Unmarshal([]byte(line), &e) != nil {
			t.Fatalf("after %v: %q\n%s", sig, line, d.stderr)
		}
		return e.Event
	case <-d.done:
		t.Fatalf("osohost-credentials exited on %v (%v):\n%s", sig, d.err, d.stderr)
	case <-timer.C:
		t.Fatalf("osohost-credentials did not answer %v within %v:\n%s", sig, ReadyTimeout, d.stderr)
	}
	return ""
}

// Kill sends SIGKILL and waits for the process to end. The socket file
// stays behind, as after a crash.
func (d *Driver) Kill(t testing.TB) {
	t.Helper()
	d.cmd.Process.Kill()
	d.wait(t)
}

// Stop sends SIGTERM, waits for the process to end and returns its exit
// error (nil for a clean exit).
func (d *Driver) Stop(t testing.TB) error {
	t.Helper()
	d.cmd.Process.Signal(syscall.SIGTERM)
	d.wait(t)
	return d.err
}

func (d *Driver) wait(t testing.TB) {
	t.Helper()
	timer := time.NewTimer(ReadyTimeout)
	defer timer.Stop()
	select {
	case <-d.done:
	case <-timer.C:
		t.Fatalf("osohost-credentials did not exit within %v", ReadyTimeout)
	}
}

// Stderr returns what the driver wrote on stderr so far: its JSON log.
func (d *Driver) Stderr() string { return d.stderr.String() }

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer = syncbuf.Buffer

// Await calls cond until it returns true, or fails the test after
// ReadyTimeout. It is for states reached asynchronously, such as a client
// reconnecting after the driver restarted; the time bound only stops a
// hang.
func Await(t testing.TB, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ReadyTimeout)
	defer cancel()
	wait := time.Millisecond
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not reached within %v", what, ReadyTimeout)
		case <-time.After(wait):
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}
