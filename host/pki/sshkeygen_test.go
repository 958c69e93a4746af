package pki_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/osohost/osohost/host/pki"
)

// sshKeygen returns the path of ssh-keygen or skips the test.
func sshKeygen(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("ssh-keygen")
	if err != nil {
		t.Skip("ssh-keygen not found in PATH (package openssh-client): skipping the comparison with OpenSSH fingerprints")
	}
	return path
}

// keygenFingerprint runs `ssh-keygen -lf file` and returns the fingerprint
// and key type columns.
func keygenFingerprint(t *testing.T, keygen, file string) (fp, typ string) {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), keygen, "-lf", file).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen -lf: %v\n%s", err, out)
	}
	// "256 SHA256:… comment (ED25519)"
	f := strings.Fields(string(out))
	if len(f) < 3 {
		t.Fatalf("unexpected ssh-keygen output %q", out)
	}
	return f[1], strings.Trim(f[len(f)-1], "()")
}

// TestFingerprint_SSHKeygen checks Fingerprint against OpenSSH for keys Go
// generates, written as PKCS#8 PEM private keys (what ssh-keygen -lf reads
// for RSA and ECDSA).
func TestFingerprint_SSHKeygen(t *testing.T) {
	keygen := sshKeygen(t)
	t.Parallel()
	tests := []struct {
		name    string
		gen     func() (crypto.Signer, error)
		sshType string
	}{
		{"RSA-2048", func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) }, "RSA"},
		{"RSA-4096", func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 4096) }, "RSA"},
		{"P-256", func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }, "ECDSA"},
		{"P-384", func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P384(), rand.Reader) }, "ECDSA"},
		{"P-521", func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P521(), rand.Reader) }, "ECDSA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "RSA-4096" && testing.Short() {
				t.Skip("RSA-4096 key generation is slow; skipped with -short")
			}
			t.Parallel()
			key, err := tt.gen()
			if err != nil {
				t.Fatal(err)
			}
			der, err := x509.MarshalPKCS8PrivateKey(key)
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(t.TempDir(), "key.pem")
			if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
				t.Fatal(err)
			}
			want, typ := keygenFingerprint(t, keygen, file)
			if typ != tt.sshType {
				t.Errorf("ssh-keygen reports type %s, want %s", typ, tt.sshType)
			}
			fp, err := pki.Fingerprint(key.Public())
			if err != nil {
				t.Fatal(err)
			}
			if got := pki.FormatFingerprint(fp); got != want {
				t.Errorf("Fingerprint = %s, ssh-keygen -lf = %s", got, want)
			}
		})
	}
}

// TestFingerprint_SSHKeygenGenerated checks keys ssh-keygen generates:
// Ed25519 in OpenSSH format (compared through the .pub blob) and RSA/ECDSA
// in the PEM formats it writes, read with ParsePrivateKey.
func TestFingerprint_SSHKeygenGenerated(t *testing.T) {
	keygen := sshKeygen(t)
	t.Parallel()
	tests := []struct {
		name string
		args []string
	}{
		{"Ed25519", []string{"-t", "ed25519"}},
		{"RSA PKCS#1", []string{"-t", "rsa", "-b", "2048", "-m", "PEM"}},
		{"RSA PKCS#8", []string{"-t", "rsa", "-b", "2048", "-m", "PKCS8"}},
		{"P-256 SEC 1", []string{"-t", "ecdsa", "-b", "256", "-m", "PEM"}},
		{"P-384 SEC 1", []string{"-t", "ecdsa", "-b", "384", "-m", "PEM"}},
		{"P-521 PKCS#8", []string{"-t", "ecdsa", "-b", "521", "-m", "PKCS8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			file := filepath.Join(t.TempDir(), "key")
			args := append([]string{"-q", "-N", "", "-C", "", "-f", file}, tt.args...)
			if out, err := exec.CommandContext(t.Context(), keygen, args...).CombinedOutput(); err != nil {
				t.Fatalf("ssh-keygen %q: %v\n%s", args, err, out)
			}
			want, _ := keygenFingerprint(t, keygen, file+".pub")

			var pub crypto.PublicKey
			if tt.name == "Ed25519" {
				pub = ed25519FromAuthorizedKey(t, file+".pub")
			} else {
				data, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				key, err := pki.ParsePrivateKey(data)
				if err != nil {
					t.Fatalf("ParsePrivateKey(ssh-keygen %s output): %v", tt.name, err)
				}
				pub = key.Public()
			}
			fp, err := pki.Fingerprint(pub)
			if err != nil {
				t.Fatal(err)
			}
			if got := pki.FormatFingerprint(fp); got != want {
				t.Errorf("Fingerprint = %s, ssh-keygen -lf = %s", got, want)
			}
		})
	}
}

// ed25519FromAuthorizedKey reads "ssh-ed25519 <base64 blob>" and returns the
// key: the blob is string "ssh-ed25519", string key(32), so the key is its
// last 32 bytes.
func ed25519FromAuthorizedKey(t *testing.T, file string) ed25519.PublicKey {
	t.Helper()
	line, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(line))
	if len(f) < 2 || f[0] != "ssh-ed25519" {
		t.Fatalf("unexpected public key line %q", line)
	}
	blob, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil {
		t.Fatal(err)
	}
	prefix := []byte("\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20")
	if len(blob) != len(prefix)+ed25519.PublicKeySize || !bytes.HasPrefix(blob, prefix) {
		t.Fatalf("unexpected Ed25519 blob %x", blob)
	}
	return ed25519.PublicKey(blob[len(prefix):])
}
