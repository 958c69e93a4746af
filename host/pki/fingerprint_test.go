package pki_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/osohost/osohost/host/pki"
)

// zeroSeedKey is the Ed25519 key from the seed 00 01 02 … 1f. Its
// fingerprint, SHA256:lbmsoA0yIEcEiVDRnMWuzm+nV+3ZEEpVIURqFoeSspg, was
// computed by ssh-keygen -lf from its authorized_keys line
// "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4".
func zeroSeedKey() ed25519.PublicKey {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i)
	}
	return ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
}

func TestFingerprint_Vector(t *testing.T) {
	fp, err := pki.Fingerprint(zeroSeedKey())
	if err != nil {
		t.Fatal(err)
	}
	const want = "SHA256:lbmsoA0yIEcEiVDRnMWuzm+nV+3ZEEpVIURqFoeSspg"
	if got := pki.FormatFingerprint(fp); got != want {
		t.Errorf("FormatFingerprint = %s, want %s", got, want)
	}
}

// otherKey is a public key type without an OpenSSH encoding.
type otherKey struct{}

func TestFingerprint_Errors(t *testing.T) {
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		pub          crypto.PublicKey
		noEncoding   bool
		wantInErrMsg string
	}{
		{"ECDSA P-224", &p224.PublicKey, true, "P-224"},
		{"custom key type", otherKey{}, true, "otherKey"},
		{"nil", nil, true, "<nil>"},
		{"private key instead of public", p224, true, "PrivateKey"},
		{"nil RSA", (*rsa.PublicKey)(nil), false, "RSA"},
		{"RSA without modulus", &rsa.PublicKey{E: 65537}, false, "RSA"},
		{"nil ECDSA", (*ecdsa.PublicKey)(nil), false, "ECDSA"},
		{"ECDSA without point", &ecdsa.PublicKey{Curve: elliptic.P256()}, false, "ECDSA"},
		{"short Ed25519", ed25519.PublicKey(make([]byte, 31)), false, "31 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pki.Fingerprint(tt.pub)
			if err == nil {
				t.Fatal("Fingerprint succeeded")
			}
			if got := errors.Is(err, pki.ErrNoSSHEncoding); got != tt.noEncoding {
				t.Errorf("errors.Is(%v, ErrNoSSHEncoding) = %v, want %v", err, got, tt.noEncoding)
			}
			if !strings.Contains(err.Error(), tt.wantInErrMsg) {
				t.Errorf("error %q does not mention %q", err, tt.wantInErrMsg)
			}
		})
	}
}

func TestParseFingerprint_RoundTrip(t *testing.T) {
	for i := range 64 {
		var fp [32]byte
		_, _ = rand.Read(fp[:])
		if i == 0 {
			fp = [32]byte{}
		}
		s := pki.FormatFingerprint(fp)
		if len(s) != len("SHA256:")+43 || strings.HasSuffix(s, "=") {
			t.Fatalf("FormatFingerprint = %q: want 43 unpadded characters", s)
		}
		for _, in := range []string{s, s + "="} {
			got, err := pki.ParseFingerprint(in)
			if err != nil || got != fp {
				t.Fatalf("ParseFingerprint(%q) = %x, %v; want %x", in, got, err, fp)
			}
		}
	}
}

func TestParseFingerprint_Errors(t *testing.T) {
	valid := "SHA256:lbmsoA0yIEcEiVDRnMWuzm+nV+3ZEEpVIURqFoeSspg"
	long := valid + strings.Repeat("A", 2000)
	tests := []struct {
		name, in string
		want     string // in the error message
	}{
		{"empty", "", "empty"},
		{"no prefix", "lbmsoA0yIEcEiVDRnMWuzm+nV+3ZEEpVIURqFoeSspg", `missing the prefix "SHA256:"`},
		{"lowercase prefix", "sha256:lbmsoA0yIEcEiVDRnMWuzm+nV+3ZEEpVIURqFoeSspg", "case-sensitive"},
		{"MD5", "MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48", "MD5 fingerprints are not supported"},
		{"hex digest", strings.Repeat("ab", 32), "hex digest"},
		{"url-safe alphabet", "SHA256:lbmsoA0yIEcEiVDRnMWuzm-nV-3ZEEpVIURqFoeSspg", "URL-safe"},
		{"trailing space", valid + " ", `byte 51 (' ')`},
		{"leading space", " " + valid, "missing the prefix"},
		{"newline inside", "SHA256:lbmsoA0yIEcEiVDRnMWuzm+nV+3\nZEEpVIURqFoeSspg", `'\n'`},
		{"double padding", valid + "==", "at most one '='"},
		{"too short", "SHA256:lbmsoA0yIEcEiVDRnMWuzm+nV+3ZEEpVIURqFoeSsp", "42 base64 characters after"},
		{"too long", valid + "AAAA", "47 base64 characters after"},
		{"48-byte digest", "SHA256:" + strings.Repeat("A", 64), "encode 48 bytes"},
		{"non-canonical last character", "SHA256:lbmsoA0yIEcEiVDRnMWuzm+nV+3ZEEpVIURqFoeSsph", "canonical"},
		{"huge input", long, "2050 bytes long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fp, err := pki.ParseFingerprint(tt.in)
			if err == nil {
				t.Fatalf("ParseFingerprint(%q) succeeded", tt.in)
			}
			if fp != ([32]byte{}) {
				t.Errorf("ParseFingerprint returned a non-zero value with an error")
			}
			if !errors.Is(err, pki.ErrInvalidFingerprint) {
				t.Errorf("error %v does not wrap ErrInvalidFingerprint", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if len(tt.in) > 20 && strings.Contains(err.Error(), tt.in[len(tt.in)-20:]) {
				t.Errorf("error %q repeats the input", err)
			}
			if len(err.Error()) > 200 {
				t.Errorf("error is %d bytes long", len(err.Error()))
			}
		})
	}
}

func FuzzParseFingerprint(f *testing.F) {
	for _, s := range []string{
		"SHA256:lbmsoA0yIEcEiVDRnMWuzm+nV+3ZEEpVIURqFoeSspg",
		"SHA256:lbmsoA0yIEcEiVDRnMWuzm+nV+3ZEEpVIURqFoeSspg=",
		"SHA256:lbmsoA0yIEcEiVDRnMWuzm+nV+3ZEEpVIURqFoeSsph",
		"SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"sha256:x", "MD5:aa", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fp, err := pki.ParseFingerprint(s)
		if err != nil {
			if !errors.Is(err, pki.ErrInvalidFingerprint) {
				t.Fatalf("error %v does not wrap ErrInvalidFingerprint", err)
			}
			return
		}
		// Exactly one text form (plus optional padding) per fingerprint.
		if got := pki.FormatFingerprint(fp); got != strings.TrimSuffix(s, "=") {
			t.Fatalf("ParseFingerprint(%q) = %s, which formats differently", s, got)
		}
	})
}

func BenchmarkFingerprint(b *testing.B) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	for _, k := range []struct {
		name string
		pub  crypto.PublicKey
	}{
		{"RSA-2048", &rsaKey.PublicKey},
		{"P-256", &ecKey.PublicKey},
		{"Ed25519", zeroSeedKey()},
	} {
		b.Run(k.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := pki.Fingerprint(k.pub); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func ExampleFormatFingerprint() {
	// A key's fingerprint as `ssh-keygen -lf` prints it.
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i)
	}
	pub := ed25519.NewKeyFromSeed(seed).Public()
	fp, err := pki.Fingerprint(pub)
	if err != nil {
		panic(err)
	}
	fmt.Println(pki.FormatFingerprint(fp))
	// Output: SHA256:lbmsoA0yIEcEiVDRnMWuzm+nV+3ZEEpVIURqFoeSspg
}

func ExampleParseFingerprint() {
	// Allowlist entries may carry one '=' of padding.
	fp, err := pki.ParseFingerprint("SHA256:lbmsoA0yIEcEiVDRnMWuzm+nV+3ZEEpVIURqFoeSspg=")
	if err != nil {
		panic(err)
	}
	fmt.Println(pki.FormatFingerprint(fp))

	_, err = pki.ParseFingerprint("SHA256:lbmsoA0yIEcEiVDRnMWuzm-nV-3ZEEpVIURqFoeSspg")
	fmt.Println(err)
	// Output:
	// SHA256:lbmsoA0yIEcEiVDRnMWuzm+nV+3ZEEpVIURqFoeSspg
	// pki: invalid fingerprint: byte 30 ('-') is not in the standard base64 alphabet (the URL-safe alphabet is not accepted)
}
