//go:build unix

package main

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/osohost/osohost/host/credentials"
	pb "github.com/osohost/osohost/host/credentials/credpb"
	"github.com/osohost/osohost/host/credentials/credtest"
)

func TestRun_Usage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no command", nil, 2, "usage"},
		{"unknown command", []string{"bogus"}, 2, "unknown command"},
		{"help", []string{"help"}, 0, ""},
		{"serve help", []string{"serve", "-h"}, 0, ""},
		{"no socket", []string{"serve", "--dev"}, 2, "--socket is required"},
		{"no source", []string{"serve", "--socket", "/tmp/x.sock"}, 2, "--from FILE or --dev"},
		{"both sources", []string{"serve", "--socket", "/tmp/x.sock", "--dev", "--from", "f"}, 2, "exclude"},
		{"long socket path", []string{"serve", "--socket", "/" + strings.Repeat("s", 120), "--dev"}, 2, "exceeds"},
		{"negative delay", []string{"serve", "--socket", "/tmp/x.sock", "--dev", "--delay", "-1s"}, 2, "negative"},
		{"bad log level", []string{"serve", "--socket", "/tmp/x.sock", "--dev", "--log-level", "loud"}, 2, "--log-level"},
		{"extra argument", []string{"serve", "--socket", "/tmp/x.sock", "--dev", "more"}, 2, "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tt.args, &stdout, &stderr)
			if code != tt.code || !strings.Contains(stdout.String()+stderr.String(), tt.want) {
				t.Fatalf("exit %d, want %d; output:\n%s%s", code, tt.code, stdout.String(), stderr.String())
			}
		})
	}
	var stderr bytes.Buffer
	run(t.Context(), []string{"serve", "-h"}, &bytes.Buffer{}, &stderr)
	if strings.Contains(stderr.String(), "delay") || !strings.Contains(stderr.String(), "--socket") {
		t.Fatalf("serve -h:\n%s", stderr.String())
	}
}

// TestServe_Socket: the socket file is private (0600), a live socket is
// not taken over, something that is not a socket is not removed, and the
// socket is removed on SIGTERM.
func TestServe_Socket(t *testing.T) {
	sock := credtest.SocketPath(t)
	drv := credtest.Start(t, sock, "--dev")
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket %v: mode %v", err, fi.Mode())
	}

	out, err := exec.Command(credtest.Binary(t), "serve", "--socket", sock, "--dev").CombinedOutput()
	if code := exitCode(err); code != 1 || !strings.Contains(string(out), "in use") {
		t.Fatalf("second driver on a live socket: exit %d\n%s", code, out)
	}
	if err := drv.Stop(t); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, drv.Stderr())
	}
	if _, err := os.Lstat(sock); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("socket left after SIGTERM: %v", err)
	}

	plain := filepath.Join(filepath.Dir(sock), "plain")
	os.WriteFile(plain, []byte("keep me"), 0o600)
	out, err = exec.Command(credtest.Binary(t), "serve", "--socket", plain, "--dev").CombinedOutput()
	if code := exitCode(err); code != 1 || !strings.Contains(string(out), "not a socket") {
		t.Fatalf("regular file at the socket path: exit %d\n%s", code, out)
	}
	if b, _ := os.ReadFile(plain); string(b) != "keep me" {
		t.Fatal("the regular file was touched")
	}
}

// TestServe_StaleSocket: a socket file left by a killed driver is
// replaced.
func TestServe_StaleSocket(t *testing.T) {
	sock := credtest.SocketPath(t)
	credtest.Start(t, sock, "--dev").Kill(t)
	if _, err := os.Lstat(sock); err != nil {
		t.Fatalf("SIGKILL left no socket file to test with: %v", err)
	}
	drv := credtest.Start(t, sock, "--dev")
	d, err := credentials.Dial(t.Context(), credentials.DriverOptions{Socket: sock, FailFast: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if c, err := d.Resolve(t.Context(), "dev-api"); err != nil || !strings.HasPrefix(c.Token.Reveal(), "dev-fake-") {
		t.Fatalf("dev-api: %v, %v", c, err)
	}
	drv.Stop(t)
}

// TestServe_BadFile: a file that does not parse stops the driver at
// startup with a message naming it, and without its tokens.
func TestServe_BadFile(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "creds.json")
	os.WriteFile(f, []byte(`{"a b": {"token": "tok-do-not-print"}}`), 0o600)
	out, err := exec.Command(credtest.Binary(t), "serve", "--socket", credtest.SocketPath(t), "--from", f).CombinedOutput()
	if code := exitCode(err); code != 1 || !strings.Contains(string(out), f) || strings.Contains(string(out), "tok-do-not-print") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

// TestServe_YAMLReload: a YAML file is served and re-read on SIGHUP; the
// logs name credentials and never show tokens.
func TestServe_YAMLReload(t *testing.T) {
	f := filepath.Join(t.TempDir(), "creds.yaml")
	os.WriteFile(f, []byte("api:\n  token: tok-yaml-1\n  token_type: Bearer\n"), 0o600)
	sock := credtest.SocketPath(t)
	drv := credtest.Start(t, sock, "--from", f, "--log-level", "debug")
	d, err := credentials.Dial(t.Context(), credentials.DriverOptions{Socket: sock, FailFast: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	resolve := func() string {
		c, err := d.Resolve(context.Background(), "api")
		if err != nil {
			t.Fatal(err)
		}
		return c.Token.Reveal()
	}
	if got := resolve(); got != "tok-yaml-1" {
		t.Fatalf("api = %q", got)
	}
	os.WriteFile(f, []byte("api:\n  token: tok-yaml-2\n"), 0o600)
	drv.Reload(t)
	if got := resolve(); got != "tok-yaml-2" {
		t.Fatalf("api after SIGHUP = %q", got)
	}
	drv.Stop(t)
	logs := drv.Stderr()
	if strings.Contains(logs, "tok-yaml") || !strings.Contains(logs, `"credential":"api"`) || !strings.Contains(logs, "credentials reloaded") {
		t.Fatalf("driver log:\n%s", logs)
	}
}

// TestServe_InvalidRequests: a name outside the protocol is refused as
// invalid, an unknown one as not found, an oversized request as too large.
func TestServe_InvalidRequests(t *testing.T) {
	sock := credtest.SocketPath(t)
	drv := credtest.Start(t, sock, "--dev", "--log-level", "debug")
	conn, err := grpc.NewClient("unix:"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := pb.NewCredentialsClient(conn)
	tests := []struct {
		name string
		want codes.Code
	}{
		{"dev-api", codes.OK},
		{"nope", codes.NotFound},
		{"a b", codes.InvalidArgument},
		{"", codes.InvalidArgument},
		{strings.Repeat("a", 129), codes.InvalidArgument},
		{strings.Repeat("a", 5000), codes.ResourceExhausted},
	}
	for _, tt := range tests {
		_, err := c.ResolveCredential(t.Context(), &pb.ResolveCredentialRequest{Name: tt.name})
		if got := status.Code(err); got != tt.want {
			t.Errorf("ResolveCredential(%.20q): %v, want %v", tt.name, err, tt.want)
		}
	}
	drv.Stop(t)
	if strings.Contains(drv.Stderr(), "dev-fake-") {
		t.Fatalf("token in the driver's log:\n%s", drv.Stderr())
	}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
