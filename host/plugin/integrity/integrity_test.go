package integrity_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/osohost/osohost/host/plugin/integrity"
)

// Two real modules, committed as fixtures of host/plugin.
const (
	moduleA = "../testdata/minimal.wasm"
	moduleB = "../testdata/badsig.wasm"
)

func read(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newKey(t testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func sign(t testing.TB, priv ed25519.PrivateKey, wasm []byte) []byte {
	t.Helper()
	sig, err := integrity.Sign(priv, wasm)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// checkMessage fails unless msg is one short line of printable ASCII
// holding none of the secret-looking inputs.
func checkMessage(t *testing.T, msg string, inputs ...[]byte) {
	t.Helper()
	if len(msg) > 300 {
		t.Errorf("message too long: %q", msg)
	}
	for _, c := range []byte(msg) {
		if c < 0x20 || c >= 0x7f {
			t.Errorf("message has byte %#x: %q", c, msg)
		}
	}
	for _, in := range inputs {
		s := strings.TrimSpace(string(in))
		if len(s) >= 8 && strings.Contains(msg, s) {
			t.Errorf("message repeats its input: %q", msg)
		}
	}
}

func TestPolicy_Verify(t *testing.T) {
	a, b := read(t, moduleA), read(t, moduleB)
	pub1, priv1 := newKey(t)
	pub2, priv2 := newKey(t)
	tests := []struct {
		name string
		pol  integrity.Policy
		wasm []byte
		sig  []byte
	}{
		{"disabled policy accepts anything", integrity.Policy{}, a, nil},
		{"disabled policy ignores a bad signature", integrity.Policy{}, a, []byte("garbage")},
		{"allowlisted", integrity.Policy{SHA256: [][32]byte{sha256.Sum256(b), sha256.Sum256(a)}}, a, nil},
		{"allowlisted, bad signature", integrity.Policy{SHA256: [][32]byte{sha256.Sum256(a)}, Keys: []ed25519.PublicKey{pub1}}, a, []byte("garbage")},
		{"signed", integrity.Policy{Keys: []ed25519.PublicKey{pub1}}, a, sign(t, priv1, a)},
		{"signed by the second key", integrity.Policy{Keys: []ed25519.PublicKey{pub1, pub2}}, b, sign(t, priv2, b)},
		{"signed, not allowlisted", integrity.Policy{SHA256: [][32]byte{sha256.Sum256(b)}, Keys: []ed25519.PublicKey{pub1}}, a, sign(t, priv1, a)},
		{"signed, a short key before", integrity.Policy{Keys: []ed25519.PublicKey{pub1[:31], pub1}}, a, sign(t, priv1, a)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.pol.Verify(tt.wasm, tt.sig); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestPolicy_Verify_Errors(t *testing.T) {
	a, b := read(t, moduleA), read(t, moduleB)
	pub1, priv1 := newKey(t)
	pub2, _ := newKey(t)
	sigA := sign(t, priv1, a)
	tampered := bytes.Clone(a)
	tampered[len(tampered)-1] ^= 1
	raw, _ := integrity.ParseSignature(sigA)
	flipped := bytes.Clone(raw)
	flipped[10] ^= 0x80
	keys := []ed25519.PublicKey{pub1}
	tests := []struct {
		name  string
		pol   integrity.Policy
		wasm  []byte
		sig   []byte
		wants []error // sentinels errors.Is must match, besides ErrRejected
	}{
		{"not allowlisted", integrity.Policy{SHA256: [][32]byte{sha256.Sum256(b)}}, a, sigA, []error{integrity.ErrNotAllowlisted}},
		{"tampered module", integrity.Policy{Keys: keys}, tampered, sigA, []error{integrity.ErrBadSignature}},
		{"wrong key", integrity.Policy{Keys: []ed25519.PublicKey{pub2}}, a, sigA, []error{integrity.ErrBadSignature}},
		{"signature of another module", integrity.Policy{Keys: keys}, b, sigA, []error{integrity.ErrBadSignature}},
		{"flipped signature bit", integrity.Policy{Keys: keys}, a, integrity.EncodeSignature(flipped), []error{integrity.ErrBadSignature}},
		{"no signature", integrity.Policy{Keys: keys}, a, nil, []error{integrity.ErrNoSignature}},
		{"empty signature file", integrity.Policy{Keys: keys}, a, []byte{}, []error{integrity.ErrMalformedSignature}},
		{"not base64", integrity.Policy{Keys: keys}, a, []byte("this is not a signature!"), []error{integrity.ErrMalformedSignature}},
		{"url-safe base64", integrity.Policy{Keys: keys}, a, []byte(base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 64))), []error{integrity.ErrMalformedSignature}},
		{"short signature", integrity.Policy{Keys: keys}, a, integrity.EncodeSignature(raw[:63]), []error{integrity.ErrMalformedSignature}},
		{"raw signature bytes", integrity.Policy{Keys: keys}, a, raw, []error{integrity.ErrMalformedSignature}},
		{"oversized signature", integrity.Policy{Keys: keys}, a, append(bytes.Repeat([]byte(" "), integrity.MaxSignatureFileBytes), sigA...), []error{integrity.ErrMalformedSignature}},
		{"both checks fail", integrity.Policy{SHA256: [][32]byte{sha256.Sum256(b)}, Keys: []ed25519.PublicKey{pub2, pub2}}, a, sigA,
			[]error{integrity.ErrNotAllowlisted, integrity.ErrBadSignature}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.pol.Verify(tt.wasm, tt.sig)
			if !errors.Is(err, integrity.ErrRejected) {
				t.Fatalf("err = %v, want ErrRejected", err)
			}
			for _, w := range tt.wants {
				if !errors.Is(err, w) {
					t.Errorf("err = %v, want it to match %v", err, w)
				}
			}
			var ve *integrity.VerifyError
			if !errors.As(err, &ve) || ve.SHA256 != sha256.Sum256(tt.wasm) || len(ve.Errs) != len(tt.wants) {
				t.Fatalf("err = %#v, want a *VerifyError with the module's digest and %d checks", err, len(tt.wants))
			}
			sum := sha256.Sum256(tt.wasm)
			if !strings.Contains(err.Error(), integrity.FormatSHA256(sum)) {
				t.Errorf("message lacks the digest: %v", err)
			}
			checkMessage(t, err.Error(), tt.sig)
		})
	}
}

// writeSigned writes wasm and its signature file into dir under name.
func writeSigned(t *testing.T, dir, name string, wasm []byte, priv ed25519.PrivateKey) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path+integrity.SignatureSuffix, sign(t, priv, wasm), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestNewPolicy(t *testing.T) {
	a := read(t, moduleA)
	pub, priv := newKey(t)
	if p := integrity.NewPolicy(nil, nil); p.Enabled() {
		t.Fatal("empty policy is enabled")
	}
	var raw [32]byte
	copy(raw[:], pub)
	keys := [][32]byte{{1}, raw}
	p := integrity.NewPolicy([][32]byte{{2}}, keys)
	keys[1] = [32]byte{} // the policy holds copies
	if err := p.Verify(a, sign(t, priv, a)); err != nil {
		t.Fatal(err)
	}
	if err := p.Verify(a, nil); !errors.Is(err, integrity.ErrNotAllowlisted) || !errors.Is(err, integrity.ErrNoSignature) {
		t.Fatalf("unsigned: %v", err)
	}
}

func TestReadModule(t *testing.T) {
	a := read(t, moduleA)
	pub, priv := newKey(t)
	dir := t.TempDir()
	signed := writeSigned(t, dir, "signed.wasm", a, priv)
	unsigned := filepath.Join(dir, "unsigned.wasm")
	if err := os.WriteFile(unsigned, a, 0o644); err != nil {
		t.Fatal(err)
	}
	wrapped := filepath.Join(dir, "wrapped.wasm")
	os.WriteFile(wrapped, a, 0o644)
	s := strings.TrimSpace(string(sign(t, priv, a)))
	os.WriteFile(wrapped+integrity.SignatureSuffix, []byte(s[:64]+"\r\n"+strings.TrimRight(s[64:], "=")+"\n\n"), 0o644)
	// A .sig that is no regular file does not matter when the digest is
	// allowlisted: it is not read.
	allowlistedFIFO := filepath.Join(dir, "fifo.wasm")
	os.WriteFile(allowlistedFIFO, a, 0o644)
	if err := syscall.Mkfifo(allowlistedFIFO+integrity.SignatureSuffix, 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		path string
		pol  integrity.Policy
	}{
		{"no policy", unsigned, integrity.Policy{}},
		{"signed", signed, integrity.Policy{Keys: []ed25519.PublicKey{pub}}},
		{"wrapped and unpadded signature", wrapped, integrity.Policy{Keys: []ed25519.PublicKey{pub}}},
		{"allowlisted", unsigned, integrity.Policy{SHA256: [][32]byte{sha256.Sum256(a)}, Keys: []ed25519.PublicKey{pub}}},
		{"allowlisted, .sig is a FIFO", allowlistedFIFO, integrity.Policy{SHA256: [][32]byte{sha256.Sum256(a)}, Keys: []ed25519.PublicKey{pub}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := integrity.ReadModule(tt.path, tt.pol)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, a) {
				t.Fatal("ReadModule returned other bytes")
			}
		})
	}
}

func TestReadModule_Errors(t *testing.T) {
	a := read(t, moduleA)
	pub, priv := newKey(t)
	_, other := newKey(t)
	keys := []ed25519.PublicKey{pub}
	dir := t.TempDir()
	file := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	unsigned := file("unsigned.wasm", a)
	wrongKey := writeSigned(t, dir, "wrongkey.wasm", a, other)
	tampered := writeSigned(t, dir, "tampered.wasm", a, priv)
	file("tampered.wasm", append(bytes.Clone(a), 0))
	oversized := file("oversized.wasm", a)
	file("oversized.wasm.sig", append(sign(t, priv, a), bytes.Repeat([]byte("\n"), integrity.MaxSignatureFileBytes)...))
	sigDir := file("sigdir.wasm", a)
	if err := os.Mkdir(sigDir+integrity.SignatureSuffix, 0o755); err != nil {
		t.Fatal(err)
	}
	fifo := file("fifo.wasm", a)
	if err := syscall.Mkfifo(fifo+integrity.SignatureSuffix, 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		path string
		pol  integrity.Policy
		want error // nil: any error that is not a rejection
	}{
		{"missing module", filepath.Join(dir, "missing.wasm"), integrity.Policy{Keys: keys}, nil},
		{"missing module, no policy", filepath.Join(dir, "missing.wasm"), integrity.Policy{}, nil},
		{"unsigned", unsigned, integrity.Policy{Keys: keys}, integrity.ErrNoSignature},
		{"not allowlisted", unsigned, integrity.Policy{SHA256: [][32]byte{{1}}}, integrity.ErrNotAllowlisted},
		{"wrong key", wrongKey, integrity.Policy{Keys: keys}, integrity.ErrBadSignature},
		{"tampered module", tampered, integrity.Policy{Keys: keys}, integrity.ErrBadSignature},
		{"oversized .sig", oversized, integrity.Policy{Keys: keys}, integrity.ErrMalformedSignature},
		{".sig is a directory", sigDir, integrity.Policy{Keys: keys}, nil},
		{".sig is a FIFO", fifo, integrity.Policy{Keys: keys}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := integrity.ReadModule(tt.path, tt.pol)
			if err == nil || got != nil {
				t.Fatalf("ReadModule() = %d bytes, %v; want an error", len(got), err)
			}
			if tt.want == nil {
				if errors.Is(err, integrity.ErrRejected) {
					t.Fatalf("err = %v, want a read error", err)
				}
				return
			}
			var ve *integrity.VerifyError
			if !errors.Is(err, tt.want) || !errors.As(err, &ve) || ve.Path != tt.path {
				t.Fatalf("err = %v, want a *VerifyError for %s matching %v", err, tt.path, tt.want)
			}
			if !strings.Contains(err.Error(), tt.path) {
				t.Errorf("message lacks the path: %v", err)
			}
		})
	}
}

// TestReadModule_Replace replaces a signed module again and again, the
// signature file first and the module second, each by a rename, while
// loads run: a load either fails verification or returns exactly one of the
// two signed modules, never a mix and never another error.
func TestReadModule_Replace(t *testing.T) {
	mods := [][]byte{read(t, moduleA), read(t, moduleB)}
	pub, priv := newKey(t)
	pol := integrity.Policy{Keys: []ed25519.PublicKey{pub}}
	dir := t.TempDir()
	path := filepath.Join(dir, "plugin.wasm")
	writeSigned(t, dir, "plugin.wasm", mods[0], priv)
	sigs := [][]byte{sign(t, priv, mods[0]), sign(t, priv, mods[1])}

	put := func(name string, b []byte) {
		tmp := filepath.Join(dir, "."+filepath.Base(name)+".tmp")
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			t.Error(err)
			return
		}
		if err := os.Rename(tmp, name); err != nil {
			t.Error(err)
		}
	}
	const rounds, readers, loads = 300, 2, 300
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[string]int{}
	for range readers {
		wg.Go(func() {
			for range loads {
				got, err := integrity.ReadModule(path, pol)
				key := "refused"
				switch {
				case err == nil && bytes.Equal(got, mods[0]):
					key = "A"
				case err == nil && bytes.Equal(got, mods[1]):
					key = "B"
				case err == nil:
					t.Error("load returned bytes of neither module")
				case !errors.Is(err, integrity.ErrBadSignature):
					t.Errorf("load failed with %v, want a verification failure", err)
				}
				mu.Lock()
				seen[key]++
				mu.Unlock()
			}
		})
	}
	wg.Go(func() {
		for i := range rounds {
			next := (i + 1) % 2
			put(path+integrity.SignatureSuffix, sigs[next])
			put(path, mods[next])
		}
	})
	wg.Wait()
	t.Logf("loads: %v", seen)
	// Once the writer is done, the pair on disk is consistent again.
	if _, err := integrity.ReadModule(path, pol); err != nil {
		t.Fatalf("after the replacements: %v", err)
	}
}

func TestPublicKey_RoundTrip(t *testing.T) {
	pub, _ := newKey(t)
	s := integrity.FormatPublicKey(pub)
	if !strings.HasPrefix(s, "ed25519:") || len(s) != len("ed25519:")+44 {
		t.Fatalf("FormatPublicKey = %q", s)
	}
	for _, in := range []string{s, strings.TrimRight(s, "=")} {
		got, err := integrity.ParsePublicKey(in)
		if err != nil || !got.Equal(pub) {
			t.Fatalf("ParsePublicKey(%q) = %x, %v", in, got, err)
		}
	}
	p, err := integrity.MarshalPublicKeyPEM(pub)
	if err != nil {
		t.Fatal(err)
	}
	got, err := integrity.ParsePublicKeyPEM(p)
	if err != nil || !got.Equal(pub) {
		t.Fatalf("ParsePublicKeyPEM = %x, %v", got, err)
	}
	dir := t.TempDir()
	for name, content := range map[string][]byte{"pub.pem": p, "pub.txt": []byte(s + "\n")} {
		f := filepath.Join(dir, name)
		os.WriteFile(f, content, 0o644)
		got, err := integrity.ReadPublicKeyFile(f)
		if err != nil || !got.Equal(pub) {
			t.Fatalf("ReadPublicKeyFile(%s) = %x, %v", name, got, err)
		}
	}
}

func TestParsePublicKey_Errors(t *testing.T) {
	pub, _ := newKey(t)
	body := base64.StdEncoding.EncodeToString(pub)
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"no prefix", body},
		{"prefix case", "ED25519:" + body},
		{"url-safe", "ed25519:" + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32))},
		{"short", "ed25519:" + base64.StdEncoding.EncodeToString(pub[:31])},
		{"long", "ed25519:" + base64.StdEncoding.EncodeToString(append(pub, 0))},
		{"hex", "ed25519:" + fmt.Sprintf("%x", []byte(pub))},
		{"huge", "ed25519:" + strings.Repeat("A", 10000)},
		{"spaces", "ed25519: " + body},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := integrity.ParsePublicKey(tt.in)
			if err == nil {
				t.Fatalf("ParsePublicKey accepted it: %x", k)
			}
			checkMessage(t, err.Error(), []byte(body))
		})
	}
}

func TestParseSHA256(t *testing.T) {
	sum := sha256.Sum256([]byte("x"))
	hexSum := integrity.FormatSHA256(sum)
	for _, in := range []string{hexSum, strings.ToUpper(hexSum), "sha256:" + hexSum, "SHA256:" + hexSum} {
		if got, err := integrity.ParseSHA256(in); err != nil || got != sum {
			t.Fatalf("ParseSHA256(%q) = %x, %v", in, got, err)
		}
	}
	for _, in := range []string{"", hexSum[:63], hexSum + "0", "sha256:", "sha512:" + hexSum, "sha256: " + hexSum, strings.Replace(hexSum, hexSum[:1], "g", 1), " " + hexSum[1:]} {
		if _, err := integrity.ParseSHA256(in); err == nil {
			t.Errorf("ParseSHA256(%q) accepted it", in)
		}
	}
}

func TestPrivateKeyFile(t *testing.T) {
	pub, priv := newKey(t)
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := integrity.WritePrivateKeyFile(path, priv); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, %v; want 0600", fi.Mode(), err)
	}
	got, err := integrity.ReadPrivateKeyFile(path)
	if err != nil || !got.Equal(priv) || !got.Public().(ed25519.PublicKey).Equal(pub) {
		t.Fatalf("ReadPrivateKeyFile = %v", err)
	}
	if err := integrity.WritePrivateKeyFile(path, priv); !errors.Is(err, os.ErrExist) {
		t.Fatalf("second write: %v, want ErrExist", err)
	}
	if b := read(t, path); !bytes.HasPrefix(b, []byte("-----BEGIN PRIVATE KEY-----\n")) {
		t.Fatalf("key file starts %q", b[:20])
	}
}

func TestParsePrivateKeyPEM_Errors(t *testing.T) {
	_, priv := newKey(t)
	good, err := integrity.MarshalPrivateKeyPEM(priv)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, _ := integrity.MarshalPublicKeyPEM(priv.Public().(ed25519.PublicKey))
	block, _ := pem.Decode(good)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"not PEM", []byte("ed25519:AAAA")},
		{"public key", pubPEM},
		{"encrypted", bytes.Replace(good, []byte("PRIVATE KEY"), []byte("ENCRYPTED PRIVATE KEY"), 2)},
		{"PKCS #1 type", bytes.Replace(good, []byte("PRIVATE KEY"), []byte("RSA PRIVATE KEY"), 2)},
		{"truncated", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: block.Bytes[:20]})},
		{"another algorithm", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := integrity.ParsePrivateKeyPEM(tt.in); err == nil {
				t.Fatal("accepted")
			} else {
				checkMessage(t, err.Error(), good[28:60])
			}
		})
	}
	if _, err := integrity.Sign(priv[:10], []byte("x")); err == nil {
		t.Error("Sign accepted a short key")
	}
}

func FuzzParseSignature(f *testing.F) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	sig, _ := integrity.Sign(priv, []byte("module"))
	f.Add(sig)
	f.Add([]byte(strings.TrimRight(string(sig), "=\n")))
	f.Add([]byte("mQZXS+p9LLNhihMclR/ukj7rqd1wFRm3VWOcCMhB2cphk7IlopLFaECTEuvLuqFz\n0M3dtxiO3tcPGag2hk6eDA==\n"))
	f.Add([]byte(""))
	f.Add([]byte("===="))
	f.Add(bytes.Repeat([]byte("A"), 2000))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := integrity.ParseSignature(b)
		if err != nil {
			if !errors.Is(err, integrity.ErrMalformedSignature) {
				t.Fatalf("error %v does not wrap ErrMalformedSignature", err)
			}
			checkMessage(t, err.Error())
			return
		}
		if len(s) != ed25519.SignatureSize || len(b) > integrity.MaxSignatureFileBytes {
			t.Fatalf("accepted %d bytes of input as a %d-byte signature", len(b), len(s))
		}
		// The encoding is canonical: what was accepted is what encoding
		// the signature writes, up to whitespace and padding.
		canon := strings.Map(func(r rune) rune {
			if strings.ContainsRune(" \t\n\r\v\f=", r) {
				return -1
			}
			return r
		}, string(b))
		if want := strings.TrimRight(string(integrity.EncodeSignature(s)), "=\n"); canon != want {
			t.Fatalf("accepted %q, the canonical form is %q", canon, want)
		}
		again, err := integrity.ParseSignature(integrity.EncodeSignature(s))
		if err != nil || !bytes.Equal(again, s) {
			t.Fatalf("signature does not round-trip: %v", err)
		}
	})
}

func FuzzParsePublicKey(f *testing.F) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	f.Add(integrity.FormatPublicKey(pub))
	f.Add("ed25519:")
	f.Add("ed25519:AAAA====")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := integrity.ParsePublicKey(s)
		if err != nil {
			checkMessage(t, err.Error())
			return
		}
		if len(k) != ed25519.PublicKeySize {
			t.Fatalf("accepted a %d-byte key", len(k))
		}
		if got := integrity.FormatPublicKey(k); strings.TrimRight(got, "=") != strings.TrimRight(s, "=") {
			t.Fatalf("accepted %q, the canonical form is %q", s, got)
		}
	})
}

// TestOpenSSL checks the formats against OpenSSL 3, when it is installed:
// its keys and signatures are accepted here, and ours by it.
func TestOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl is not installed")
	}
	dir := t.TempDir()
	run := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command("openssl", args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
		}
		return out
	}
	module := filepath.Join(dir, "plugin.wasm")
	os.WriteFile(module, read(t, moduleA), 0o644)

	// An OpenSSL key and signature verify here.
	key := filepath.Join(dir, "openssl.pem")
	run("genpkey", "-algorithm", "ed25519", "-out", key)
	priv, err := integrity.ReadPrivateKeyFile(key)
	if err != nil {
		t.Fatal(err)
	}
	pubFile := filepath.Join(dir, "openssl.pub.pem")
	os.WriteFile(pubFile, run("pkey", "-in", key, "-pubout"), 0o644)
	pub, err := integrity.ReadPublicKeyFile(pubFile)
	if err != nil || !pub.Equal(priv.Public()) {
		t.Fatalf("OpenSSL public key: %v", err)
	}
	sig := run("pkeyutl", "-sign", "-rawin", "-inkey", key, "-in", module)
	os.WriteFile(module+integrity.SignatureSuffix, run("base64", "-in", writeTemp(t, sig)), 0o644)
	if _, err := integrity.ReadModule(module, integrity.Policy{Keys: []ed25519.PublicKey{pub}}); err != nil {
		t.Fatalf("OpenSSL signature: %v", err)
	}

	// Our key and signature verify with OpenSSL.
	ours := filepath.Join(dir, "ours.pem")
	_, priv2 := newKey(t)
	if err := integrity.WritePrivateKeyFile(ours, priv2); err != nil {
		t.Fatal(err)
	}
	wantPub, _ := integrity.MarshalPublicKeyPEM(priv2.Public().(ed25519.PublicKey))
	if got := run("pkey", "-in", ours, "-pubout"); !bytes.Equal(got, wantPub) {
		t.Fatalf("OpenSSL reads our key as\n%s, want\n%s", got, wantPub)
	}
	s, err := integrity.ParseSignature(sign(t, priv2, read(t, module)))
	if err != nil {
		t.Fatal(err)
	}
	oursPub := filepath.Join(dir, "ours.pub.pem")
	os.WriteFile(oursPub, wantPub, 0o644)
	run("pkeyutl", "-verify", "-rawin", "-pubin", "-inkey", oursPub, "-in", module, "-sigfile", writeTemp(t, s))
}

func writeTemp(t *testing.T, b []byte) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}
