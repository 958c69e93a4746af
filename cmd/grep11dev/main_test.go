package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/osohost/osohost/host/pki/pkitest"
)

func TestParseFlags_Errors(t *testing.T) {
	t.Parallel()
	certs := []string{"--ca", "a", "--cert", "b", "--key", "c"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no certificates", nil, "required"},
		{"negative latency", append(certs, "--latency", "-1ms"), "latency"},
		{"failure rate above 1", append(certs, "--failure-rate", "1.5"), "failure-rate"},
		{"failure rate NaN", append(certs, "--failure-rate", "NaN"), "failure-rate"},
		{"bad mechanism", append(certs, "--mechanisms", "0x1041,ecdsa"), "mechanisms"},
		{"stray argument", append(certs, "extra"), "unexpected"},
	}
	for _, tt := range tests {
		if _, err := parseFlags(tt.args, io.Discard); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: parseFlags = %v; want an error about %q", tt.name, err, tt.want)
		}
	}
	c, err := parseFlags(append(certs, "--mechanisms", "0x8001001C, 0x1041,4160,0x1041"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint64{0x1040, 0x1041, 0x8001001C}; !equal(c.mechs, want) {
		t.Errorf("mechanisms = %#x; want %#x", c.mechs, want)
	}
}

func equal(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestWrapper(t *testing.T) {
	t.Parallel()
	master := bytes.Repeat([]byte{7}, masterSize)
	w, err := newWrapper(master)
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []byte{kindSecp256k1, kindEd25519} {
		key, err := newKey(kind)
		if err != nil {
			t.Fatal(err)
		}
		blob := w.wrap(kind, key)
		if bytes.Contains(blob, key) {
			t.Fatal("the wrapped blob holds the key in clear")
		}
		k, got, err := w.unwrap(blob)
		if err != nil || k != kind || !bytes.Equal(got, key) {
			t.Fatalf("unwrap = %d, %v; want the key back", k, err)
		}
		blob[len(blob)-1] ^= 1
		if _, _, err := w.unwrap(blob); err == nil {
			t.Error("a tampered blob unwraps")
		}
		blob[len(blob)-1] ^= 1
		other, _ := newWrapper(bytes.Repeat([]byte{8}, masterSize))
		if _, _, err := other.unwrap(blob); err == nil {
			t.Error("a blob unwraps under another master key")
		}
	}
	spki := []byte("spki")
	pub := w.macPublic(spki)
	if got, err := w.openPublic(pub); err != nil || !bytes.Equal(got, spki) {
		t.Errorf("openPublic = %q, %v", got, err)
	}
	pub[0] ^= 1
	if _, err := w.openPublic(pub); err == nil {
		t.Error("a tampered public key blob opens")
	}
}

func TestLoadMasterKey(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "master.key")
	k1, err := loadMasterKey(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("master key file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	k2, err := loadMasterKey(path)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("reloaded key differs (%v)", err)
	}
	raw := filepath.Join(t.TempDir(), "raw.key")
	os.WriteFile(raw, k1, 0o600)
	if k3, err := loadMasterKey(raw); err != nil || !bytes.Equal(k1, k3) {
		t.Errorf("raw key file: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.key")
	os.WriteFile(bad, []byte("short\n"), 0o600)
	if _, err := loadMasterKey(bad); err == nil {
		t.Error("a short master key file is accepted")
	}
}

// TestRun serves in process: one ready line, a signature through the
// service, and a clean exit when the context ends.
func TestRun(t *testing.T) {
	t.Parallel()
	p := pkitest.New(t)
	dir := p.WriteFiles(t)
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"--ca", filepath.Join(dir, "ca.crt"), "--cert", filepath.Join(dir, "server.crt"),
			"--key", filepath.Join(dir, "server.key")}, pw, &stderr)
		pw.Close()
	}()
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Scan()
		line <- sc.Text()
		io.Copy(io.Discard, pr)
	}()
	select {
	case l := <-line:
		var ready map[string]string
		if err := json.Unmarshal([]byte(l), &ready); err != nil || ready["event"] != "listening" || !strings.HasPrefix(ready["addr"], "127.0.0.1:") ||
			!strings.HasPrefix(l, `{"event":"listening","addr":"`) {
			t.Fatalf("ready line %q; want {\"event\":\"listening\",\"addr\":\"127.0.0.1:…\"}", l)
		}
	case c := <-code:
		t.Fatalf("run exited with %d before it was ready", c)
	case <-time.After(20 * time.Second):
		t.Fatal("no ready line")
	}
	cancel()
	if c := <-code; c != 0 {
		t.Fatalf("run = %d after cancel; want 0", c)
	}
}

func TestRun_Usage(t *testing.T) {
	t.Parallel()
	var stderr bytes.Buffer
	if c := run(t.Context(), []string{"--help"}, io.Discard, &stderr); c != 0 || !strings.Contains(stderr.String(), "-failure-rate") {
		t.Errorf("--help: exit %d, usage %q", c, stderr.String())
	}
	if c := run(t.Context(), nil, io.Discard, io.Discard); c != 2 {
		t.Errorf("no flags: exit %d; want 2", c)
	}
}
