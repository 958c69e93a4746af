package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/osohost/osohost/host/plugin/integrity"
)

// runPlugin runs `osohost plugin ARGS...` in-process.
func runPlugin(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = cmdPlugin(context.Background(), args, nil, &out, &errb)
	return code, out.String(), errb.String()
}

// copyModule copies a real module fixture into dir.
func copyModule(t *testing.T, dir, name string) (string, []byte) {
	t.Helper()
	b, err := os.ReadFile("../../host/plugin/testdata/minimal.wasm")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, b
}

func TestCLI_Plugin(t *testing.T) {
	dir := t.TempDir()
	key, pubPEM := filepath.Join(dir, "key.pem"), filepath.Join(dir, "key.pub.pem")
	module, wasm := copyModule(t, dir, "plugin.wasm")
	sum := sha256.Sum256(wasm)
	hexSum := hex.EncodeToString(sum[:])
	var printed strings.Builder // everything the commands printed
	run := func(args ...string) (int, string, string) {
		t.Helper()
		code, out, errs := runPlugin(t, args...)
		printed.WriteString(out + errs)
		return code, out, errs
	}

	code, out, errs := run("keygen", "--out", key, "--pub-out", pubPEM)
	if code != 0 {
		t.Fatalf("keygen: %d %s %s", code, out, errs)
	}
	pubStr := strings.TrimSpace(out)
	pub, err := integrity.ParsePublicKey(pubStr)
	if err != nil || strings.Count(out, "\n") != 1 {
		t.Fatalf("keygen printed %q: %v", out, err)
	}
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", fi.Mode(), err)
	}
	if k, err := integrity.ReadPublicKeyFile(pubPEM); err != nil || !k.Equal(pub) {
		t.Fatalf("public key file: %v", err)
	}
	if code, _, errs := run("keygen", "--out", key); code != 1 || !strings.Contains(errs, "exists") {
		t.Fatalf("keygen over an existing key: %d %s", code, errs)
	}

	code, out, errs = run("sign", "--key", key, module)
	if code != 0 || !strings.Contains(out, "sha256:    "+hexSum) || !strings.Contains(out, "signature: "+module+".sig") || !strings.Contains(out, pubStr) {
		t.Fatalf("sign: %d %s %s", code, out, errs)
	}
	if code, out, _ := run("hash", module); code != 0 || out != hexSum+"\n" {
		t.Fatalf("hash: %d %q, want %s", code, out, hexSum)
	}

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"key", []string{"verify", "--key", pubStr, module}, "signature verified"},
		{"key after the module", []string{"verify", module, "--key", pubStr}, "signature verified"},
		{"PEM file", []string{"verify", "--pub", pubPEM, module}, "signature verified"},
		{"allowlisted", []string{"verify", "--sha256", hexSum, module}, "sha256 allowlisted"},
		{"allowlisted in upper case", []string{"verify", "--sha256", strings.ToUpper(hexSum), "--key", pubStr, module}, "sha256 allowlisted"},
		{"one of several keys", []string{"verify", "--key", "ed25519:" + strings.Repeat("A", 43) + "=", "--key", pubStr, module}, "signature verified"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := run(tt.args...)
			if code != 0 || !strings.Contains(out, "ok: "+module+": "+tt.want) || !strings.Contains(out, hexSum) {
				t.Fatalf("%d %s %s", code, out, errs)
			}
		})
	}

	// The private key never appears in what the commands print.
	pemKey, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Join(strings.Split(strings.TrimSpace(string(pemKey)), "\n")[1:2], "")
	if len(body) < 40 || strings.Contains(printed.String(), body) || strings.Contains(printed.String(), "PRIVATE KEY-----") {
		t.Fatal("a command printed the private key")
	}
}

func TestCLI_Plugin_Errors(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key.pem")
	code, out, errs := runPlugin(t, "keygen", "--out", key)
	if code != 0 {
		t.Fatalf("keygen: %d %s", code, errs)
	}
	pubStr := strings.TrimSpace(out)
	otherKey := filepath.Join(dir, "other.pem")
	code, out, _ = runPlugin(t, "keygen", "--out", otherKey)
	if code != 0 {
		t.Fatal("keygen")
	}
	otherPub := strings.TrimSpace(out)

	signed, wasm := copyModule(t, dir, "signed.wasm")
	if code, _, errs := runPlugin(t, "sign", "--key", key, signed); code != 0 {
		t.Fatalf("sign: %s", errs)
	}
	unsigned, _ := copyModule(t, dir, "unsigned.wasm")
	tampered, _ := copyModule(t, dir, "tampered.wasm")
	if code, _, errs := runPlugin(t, "sign", "--key", key, tampered); code != 0 {
		t.Fatalf("sign: %s", errs)
	}
	if err := os.WriteFile(tampered, append(wasm, 0), 0o644); err != nil {
		t.Fatal(err)
	}
	badSig, _ := copyModule(t, dir, "badsig.wasm")
	os.WriteFile(badSig+".sig", []byte("not base64 at all!\n"), 0o644)
	hugeSig, _ := copyModule(t, dir, "hugesig.wasm")
	os.WriteFile(hugeSig+".sig", bytes.Repeat([]byte("A"), 4096), 0o644)
	notPEM := filepath.Join(dir, "notpem.txt")
	os.WriteFile(notPEM, []byte("hello"), 0o644)
	sum := sha256.Sum256(wasm)
	otherSum := sha256.Sum256(append(wasm, 1))

	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string // in stderr
	}{
		{"no subcommand", nil, 2, "usage"},
		{"unknown subcommand", []string{"frob"}, 2, `unknown plugin command "frob"`},
		{"keygen without --out", []string{"keygen"}, 2, "usage"},
		{"keygen into a missing directory", []string{"keygen", "--out", filepath.Join(dir, "no", "key.pem")}, 1, "no such file"},
		{"sign without --key", []string{"sign", signed}, 2, "usage"},
		{"sign a missing module", []string{"sign", "--key", key, filepath.Join(dir, "missing.wasm")}, 1, "missing.wasm"},
		{"sign with a public key", []string{"sign", "--key", notPEM, signed}, 1, "no PEM block"},
		{"verify without a policy", []string{"verify", signed}, 2, "at least one"},
		{"verify without a module", []string{"verify", "--key", pubStr}, 2, "usage"},
		{"verify with a malformed key", []string{"verify", "--key", "ssh-ed25519 AAAA", signed}, 2, "--key #1"},
		{"verify with a malformed digest", []string{"verify", "--sha256", "abc", signed}, 2, "--sha256 #1"},
		{"verify with a missing key file", []string{"verify", "--pub", filepath.Join(dir, "nope.pem"), signed}, 2, "--pub"},
		{"wrong key", []string{"verify", "--key", otherPub, signed}, 1, "signature does not verify"},
		{"tampered module", []string{"verify", "--key", pubStr, tampered}, 1, "signature does not verify"},
		{"unsigned module", []string{"verify", "--key", pubStr, unsigned}, 1, "no signature"},
		{"malformed signature", []string{"verify", "--key", pubStr, badSig}, 1, "malformed signature"},
		{"oversized signature", []string{"verify", "--key", pubStr, hugeSig}, 1, "exceeds"},
		{"not allowlisted", []string{"verify", "--sha256", hex.EncodeToString(otherSum[:]), signed}, 1, "not in the allowlist"},
		{"neither check passes", []string{"verify", "--sha256", hex.EncodeToString(otherSum[:]), "--key", otherPub, signed}, 1, "refused: sha256 not in the allowlist"},
		{"hash without a module", []string{"hash"}, 2, "usage"},
		{"hash a missing module", []string{"hash", filepath.Join(dir, "missing.wasm")}, 1, "missing.wasm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runPlugin(t, tt.args...)
			if code != tt.wantCode || !strings.Contains(errs, tt.want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q (stdout %q)", code, errs, tt.wantCode, tt.want, out)
			}
			if code == 1 && strings.Contains(errs, "refused") && !strings.Contains(errs, hex.EncodeToString(sum[:])) && tt.name != "tampered module" {
				t.Errorf("refusal does not name the module's digest: %s", errs)
			}
		})
	}
}

func TestCLI_Plugin_HashMany(t *testing.T) {
	dir := t.TempDir()
	a, wasm := copyModule(t, dir, "a.wasm")
	b, _ := copyModule(t, dir, "b.wasm")
	sum := sha256.Sum256(wasm)
	want := hex.EncodeToString(sum[:]) + "  " + a + "\n" + hex.EncodeToString(sum[:]) + "  " + b + "\n"
	if code, out, errs := runPlugin(t, "hash", a, b); code != 0 || out != want {
		t.Fatalf("hash: %d %q %s; want %q", code, out, errs, want)
	}
}

// TestCLI_Plugin_SignReplaces: signing again replaces the signature file,
// and the new one verifies the new module.
func TestCLI_Plugin_SignReplaces(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key.pem")
	code, out, _ := runPlugin(t, "keygen", "--out", key)
	if code != 0 {
		t.Fatal("keygen")
	}
	pub := strings.TrimSpace(out)
	module, wasm := copyModule(t, dir, "plugin.wasm")
	for i := range 2 {
		if i == 1 {
			os.WriteFile(module, append(wasm, 0), 0o644)
		}
		if code, _, errs := runPlugin(t, "sign", "--key", key, module); code != 0 {
			t.Fatalf("sign %d: %s", i, errs)
		}
		if code, _, errs := runPlugin(t, "verify", "--key", pub, module); code != 0 {
			t.Fatalf("verify %d: %s", i, errs)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 { // key.pem, plugin.wasm, plugin.wasm.sig: no temporary file left
		t.Fatalf("directory holds %d entries", len(entries))
	}
}
