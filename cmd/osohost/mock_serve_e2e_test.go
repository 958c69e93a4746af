//go:build unix

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/osohost/osohost/host/pki/pkitest"
	"github.com/osohost/osohost/host/plugin/plugintest"
)

// TestE2E_Mock_Serve runs the mock as a long-lived process driven by
// SIGUSR1 and SIGUSR2, then stops it with SIGTERM.
func TestE2E_Mock_Serve(t *testing.T) {
	pk := pkitest.New(t)
	fe := start(t, componentEnv(t, pk, "frontend"), plugintest.Path(t, "queue"))
	be := start(t, componentEnv(t, pk, "backend"), plugintest.Path(t, "signer"))
	postDocuments(t, pk, fe.addr, "s-1", "s-2")

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, "mock", "--serve")
	cmd.Env = mockEnv(t, pk, fe.addr, be.addr)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb syncBuffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	events := make(chan map[string]any, 100)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				events <- m
			}
		}
	}()
	await := func(wanted ...string) map[string]any {
		t.Helper()
		for m := range events {
			if m["event"] == "phase failed" {
				t.Fatalf("phase failed: %v", m)
			}
			if slices.Contains(wanted, m["event"].(string)) {
				return m
			}
		}
		t.Fatalf("mock exited before %q:\n%s", wanted, errb.String())
		return nil
	}
	// run signals a phase until the mock runs it: a signal that arrives
	// while the previous phase is being wrapped up is ignored.
	run := func(sig os.Signal, phase int) {
		t.Helper()
		for range 100 {
			cmd.Process.Signal(sig)
			d := await("phase done", "phase requested while another runs: ignored")
			if d["event"] == "phase done" {
				if d["phase"] != float64(phase) || d["documents"] != float64(2) {
					t.Fatalf("phase %d: %v", phase, d)
				}
				return
			}
		}
		t.Fatalf("phase %d ignored 100 times", phase)
	}

	await("waiting for signals")
	run(syscall.SIGUSR1, 1)
	run(syscall.SIGUSR2, 2)
	cmd.Process.Signal(syscall.SIGTERM)
	for range events {
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("mock after SIGTERM: %v\n%s", err, errb.String())
	}
	if got := collect(t, pk, fe.addr); len(got) != 2 {
		t.Fatalf("%d documents back at the frontend: %v", len(got), got)
	}
}
