//go:build unix

package state_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/osohost/osohost/host/state"
)

// killChildEnv makes the test binary run killChild instead of the tests.
const killChildEnv = "OSOHOST_STATE_KILL_CHILD"

const killWorkers = 4

// killChild commits numbered transactions from several goroutines and
// prints "<worker> <n>" on stdout once Commit returned, until it is
// killed. Transaction n of worker w writes key w/<n> = n and the worker's
// counter c/<w> = n; a worker continues after the counter it finds.
func killChild(path string) {
	s, err := state.Open(path, state.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ns, err := s.Namespace(context.Background(), "plugin", state.Limits{MaxKeys: 10_000_000, MaxBytes: 1 << 30})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range killWorkers {
		wg.Go(func() {
			ctx := context.Background()
			r := ns.BeginReadOnly()
			c, _, err := r.Get(ctx, fmt.Sprintf("c/%d", w))
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			r.Rollback()
			first, _ := strconv.Atoi(string(c))
			for n := first + 1; n < 1_000_000; n++ {
				x := ns.Begin()
				v := []byte(strconv.Itoa(n))
				if err := x.Put(ctx, fmt.Sprintf("%d/%08d", w, n), v); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				if err := x.Put(ctx, fmt.Sprintf("c/%d", w), v); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				if err := x.Commit(ctx); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				mu.Lock()
				os.Stdout.WriteString(fmt.Sprintf("%d %d\n", w, n))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	os.Exit(0)
}

// TestStore_SIGKILL: every commit acknowledged before a SIGKILL is in the
// file afterwards, exactly once, and the file passes the full check.
func TestStore_SIGKILL(t *testing.T) {
	if path := os.Getenv(killChildEnv); path != "" {
		killChild(path)
		return
	}
	if testing.Short() {
		t.Skip("re-runs the test binary")
	}
	path := filepath.Join(t.TempDir(), "state", state.FileName)
	var acked [killWorkers]int
	for round := range 3 { // the same file, killed three times
		acked = killRound(t, path, 300, acked)
		s, err := state.Open(path, state.Options{})
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		ns := namespace(t, s, "plugin", state.Limits{MaxKeys: 10_000_000, MaxBytes: 1 << 30})
		x := ns.BeginReadOnly()
		var keys int64
		for w := range killWorkers {
			c, ok, err := x.Get(t.Context(), fmt.Sprintf("c/%d", w))
			if err != nil {
				t.Fatal(err)
			}
			last := 0
			if ok {
				last, _ = strconv.Atoi(string(c))
				keys++
			}
			if last < acked[w] {
				t.Fatalf("round %d: worker %d: counter %d, but %d was acknowledged", round, w, last, acked[w])
			}
			// Every transaction up to the counter is there, with its value;
			// the next one is not: each exactly once.
			for n := 1; n <= last+1; n++ {
				v, ok, err := x.Get(t.Context(), fmt.Sprintf("%d/%08d", w, n))
				if err != nil {
					t.Fatal(err)
				}
				if n <= last && (!ok || string(v) != strconv.Itoa(n)) {
					t.Fatalf("round %d: worker %d: transaction %d missing (%q, %v); counter %d", round, w, n, v, ok, last)
				}
				if n == last+1 && ok {
					t.Fatalf("round %d: worker %d: transaction %d present past the counter %d", round, w, n, last)
				}
			}
			keys += int64(last)
		}
		if u := ns.Usage(); u.Keys != keys {
			t.Fatalf("round %d: usage says %d keys, the counters %d", round, u.Keys, keys)
		}
		x.Rollback()
		t.Logf("round %d: %v acknowledged, %d keys", round, acked, keys)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// killRound runs a child until it acknowledged n commits, kills it with
// SIGKILL and returns the last number acknowledged per worker (before:
// those of the previous round).
func killRound(t *testing.T, path string, n int, before [killWorkers]int) [killWorkers]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestStore_SIGKILL$")
	cmd.Env = append(os.Environ(), killChildEnv+"="+path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := before
	var seen [killWorkers]bool
	r := bufio.NewReader(out)
	total := 0
	killed := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			if err != io.EOF {
				t.Fatal(err)
			}
			break // a line cut by the kill has no newline: not acknowledged
		}
		var w, k int
		if _, err := fmt.Sscanf(line, "%d %d\n", &w, &k); err != nil || w < 0 || w >= killWorkers {
			t.Fatalf("child wrote %q", line)
		}
		// A worker's first number follows the counter it found, which may
		// hold commits the previous child made but could not acknowledge.
		if seen[w] && k != acked[w]+1 || !seen[w] && k <= acked[w] {
			t.Fatalf("worker %d acknowledged %d after %d", w, k, acked[w])
		}
		acked[w], seen[w] = k, true
		if total++; total == n && !killed {
			cmd.Process.Signal(syscall.SIGKILL)
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child ended before %d commits (%d): %v\n%s", n, total, err, stderr.String())
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child was not killed by SIGKILL: %v\n%s", err, stderr.String())
	}
	return acked
}
