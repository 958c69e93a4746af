package soft_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/osohost/osohost/host/signing"
	"github.com/osohost/osohost/host/signing/soft"
)

func newKEK(t testing.TB) []byte {
	kek := make([]byte, soft.KEKSize)
	if _, err := rand.Read(kek); err != nil {
		t.Fatal(err)
	}
	return kek
}

func newSigner(t testing.TB, opts soft.Options) *soft.Signer {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.KEK == nil && opts.KEKFile == "" {
		opts.KEK = newKEK(t)
	}
	s, err := soft.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// parseSPKI decodes a SubjectPublicKeyInfo with encoding/asn1 alone,
// independently of the package under test.
func parseSPKI(t *testing.T, der []byte) (alg, params asn1.ObjectIdentifier, key []byte) {
	t.Helper()
	var spki struct {
		Algorithm struct {
			Algorithm  asn1.ObjectIdentifier
			Parameters asn1.ObjectIdentifier `asn1:"optional"`
		}
		PublicKey asn1.BitString
	}
	if rest, err := asn1.Unmarshal(der, &spki); err != nil || len(rest) > 0 {
		t.Fatalf("SPKI %x: %v (%d bytes left)", der, err, len(rest))
	}
	return spki.Algorithm.Algorithm, spki.Algorithm.Parameters, spki.PublicKey.Bytes
}

// curveOrder is n of secp256k1 (SEC 2, 2.4.1).
var curveOrder, _ = new(big.Int).SetString("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", 16)

// verify checks sig over data with the public key in k, using crypto/ed25519
// or decred's ECDSA verification, plus low-S by plain arithmetic.
func verify(t *testing.T, k signing.Key, data, sig []byte) {
	t.Helper()
	alg, params, key := parseSPKI(t, k.PublicKey)
	switch k.Type {
	case signing.Ed25519:
		if !alg.Equal(asn1.ObjectIdentifier{1, 3, 101, 112}) || len(k.PublicKey) != 44 {
			t.Fatalf("Ed25519 SPKI algorithm %v, %d bytes", alg, len(k.PublicKey))
		}
		if !ed25519.Verify(ed25519.PublicKey(key), data, sig) {
			t.Fatal("crypto/ed25519 rejects the signature")
		}
	case signing.Secp256k1:
		if !alg.Equal(asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}) || !params.Equal(asn1.ObjectIdentifier{1, 3, 132, 0, 10}) {
			t.Fatalf("secp256k1 SPKI algorithm %v %v", alg, params)
		}
		if len(key) != 65 || key[0] != 4 {
			t.Fatalf("secp256k1 point is not uncompressed: %x", key)
		}
		pub, err := secp256k1.ParsePubKey(key)
		if err != nil {
			t.Fatal(err)
		}
		if len(sig) != 64 {
			t.Fatalf("signature of %d bytes, want r||s (64)", len(sig))
		}
		var r, s secp256k1.ModNScalar
		if r.SetByteSlice(sig[:32]) || s.SetByteSlice(sig[32:]) {
			t.Fatal("r or s overflows the group order")
		}
		if !ecdsa.NewSignature(&r, &s).Verify(data, pub) {
			t.Fatal("decred ECDSA rejects the signature")
		}
		half := new(big.Int).Rsh(curveOrder, 1)
		if new(big.Int).SetBytes(sig[32:]).Cmp(half) > 0 {
			t.Fatalf("s = %x is above n/2 (not low-S)", sig[32:])
		}
	default:
		t.Fatalf("key type %q", k.Type)
	}
}

func TestSigner_RoundTrip(t *testing.T) {
	dir, kek := t.TempDir(), newKEK(t)
	s := newSigner(t, soft.Options{Dir: dir, KEK: kek})
	digest := sha256.Sum256([]byte("a transaction"))
	msg := []byte("a document to sign, of any length")
	data := map[signing.KeyType][]byte{signing.Secp256k1: digest[:], signing.Ed25519: msg}
	var keys []signing.Key
	for _, typ := range []signing.KeyType{signing.Secp256k1, signing.Ed25519} {
		k, err := s.GenerateKey(t.Context(), typ)
		if err != nil {
			t.Fatal(err)
		}
		if k.Type != typ || len(k.ID) != 36 {
			t.Fatalf("GenerateKey = %+v", k)
		}
		for range 20 { // several signatures: low-S must hold for each
			sig, err := s.Sign(t.Context(), k.ID, data[typ])
			if err != nil {
				t.Fatal(err)
			}
			verify(t, k, data[typ], sig)
		}
		got, err := s.PublicKey(t.Context(), k.ID)
		if err != nil || got.Type != typ || !bytes.Equal(got.PublicKey, k.PublicKey) {
			t.Fatalf("PublicKey = %+v, %v", got, err)
		}
		if ids, err := s.ListKeys(t.Context(), typ); err != nil || !slices.Equal(ids, []string{k.ID}) {
			t.Fatalf("ListKeys(%s) = %v, %v", typ, ids, err)
		}
		keys = append(keys, k)
	}
	if err := s.Health(t.Context()); err != nil {
		t.Errorf("Health = %v", err)
	}

	// A new Signer on the same keystore and KEK, with no cache, signs
	// with the same keys.
	for _, size := range []int{0, -1} {
		s2 := newSigner(t, soft.Options{Dir: dir, KEK: kek, CacheSize: size})
		for _, k := range keys {
			sig, err := s2.Sign(t.Context(), k.ID, data[k.Type])
			if err != nil {
				t.Fatal(err)
			}
			verify(t, k, data[k.Type], sig)
			if got, err := s2.PublicKey(t.Context(), k.ID); err != nil || !bytes.Equal(got.PublicKey, k.PublicKey) {
				t.Fatalf("PublicKey after reopen = %+v, %v", got, err)
			}
		}
	}
}

func TestSigner_Sign_Errors(t *testing.T) {
	s := newSigner(t, soft.Options{})
	k1, _ := s.GenerateKey(t.Context(), signing.Secp256k1)
	ed, _ := s.GenerateKey(t.Context(), signing.Ed25519)
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		id   string
		data []byte
		want error
	}{
		{"digest of 31 bytes", t.Context(), k1.ID, make([]byte, 31), signing.ErrBadInput},
		{"digest of 33 bytes", t.Context(), k1.ID, make([]byte, 33), signing.ErrBadInput},
		{"empty digest", t.Context(), k1.ID, nil, signing.ErrBadInput},
		{"a message for secp256k1", t.Context(), k1.ID, []byte("not a digest"), signing.ErrBadInput},
		{"unknown key", t.Context(), "0b9f7c5e-1d2a-4e3b-8c4d-5e6f7a8b9c0d", []byte("m"), signing.ErrUnknownKey},
		{"invalid id", t.Context(), "../" + ed.ID, []byte("m"), signing.ErrUnknownKey},
		{"uppercase id", t.Context(), strings.ToUpper(ed.ID), []byte("m"), signing.ErrUnknownKey},
		{"context ended", cancelled, ed.ID, []byte("m"), context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sig, err := s.Sign(tt.ctx, tt.id, tt.data)
			if !errors.Is(err, tt.want) || sig != nil {
				t.Fatalf("Sign = %x, %v; want %v", sig, err, tt.want)
			}
		})
	}
	if _, err := s.GenerateKey(t.Context(), "RSA"); !errors.Is(err, signing.ErrUnsupportedKey) {
		t.Errorf("GenerateKey(RSA) = %v", err)
	}
	if _, err := s.ListKeys(t.Context(), "RSA"); !errors.Is(err, signing.ErrUnsupportedKey) {
		t.Errorf("ListKeys(RSA) = %v", err)
	}
	if _, err := s.PublicKey(t.Context(), "nope"); !errors.Is(err, signing.ErrUnknownKey) {
		t.Errorf("PublicKey(nope) = %v", err)
	}
	// Pure Ed25519 signs a message of any length, the empty one included.
	for _, m := range [][]byte{nil, make([]byte, 32), make([]byte, 100000)} {
		sig, err := s.Sign(t.Context(), ed.ID, m)
		if err != nil {
			t.Fatal(err)
		}
		verify(t, ed, m, sig)
	}
	s.Close()
	if _, err := s.Sign(t.Context(), ed.ID, nil); !errors.Is(err, soft.ErrClosed) {
		t.Errorf("Sign after Close = %v", err)
	}
	if err := s.Health(t.Context()); !errors.Is(err, soft.ErrClosed) {
		t.Errorf("Health after Close = %v", err)
	}
}

func TestSigner_SignMany(t *testing.T) {
	for _, conc := range []int{1, 4} {
		t.Run(fmt.Sprintf("concurrency=%d", conc), func(t *testing.T) {
			s := newSigner(t, soft.Options{Concurrency: conc, CacheSize: 2})
			var keys []signing.Key
			for _, typ := range []signing.KeyType{signing.Secp256k1, signing.Ed25519, signing.Secp256k1, signing.Ed25519} {
				k, err := s.GenerateKey(t.Context(), typ)
				if err != nil {
					t.Fatal(err)
				}
				keys = append(keys, k)
			}
			var reqs []signing.SignRequest
			for i := range 200 {
				k := keys[i%len(keys)]
				d := sha256.Sum256(fmt.Appendf(nil, "doc %d", i))
				reqs = append(reqs, signing.SignRequest{KeyID: k.ID, Data: d[:]})
			}
			reqs[7] = signing.SignRequest{KeyID: "0b9f7c5e-1d2a-4e3b-8c4d-5e6f7a8b9c0d", Data: []byte("x")}
			reqs[8] = signing.SignRequest{KeyID: keys[0].ID, Data: []byte("not 32 bytes")}
			res, err := s.SignMany(t.Context(), reqs)
			if err != nil || len(res) != len(reqs) {
				t.Fatalf("SignMany = %d results, %v", len(res), err)
			}
			for i, r := range res {
				switch i {
				case 7:
					if !errors.Is(r.Err, signing.ErrUnknownKey) {
						t.Errorf("result 7: %v, want ErrUnknownKey", r.Err)
					}
				case 8:
					if !errors.Is(r.Err, signing.ErrBadInput) {
						t.Errorf("result 8: %v, want ErrBadInput", r.Err)
					}
				default:
					if r.Err != nil {
						t.Fatalf("result %d: %v", i, r.Err)
					}
					verify(t, keys[i%len(keys)], reqs[i].Data, r.Signature)
				}
			}
			if res, err := s.SignMany(t.Context(), nil); err != nil || len(res) != 0 {
				t.Errorf("SignMany(nil) = %v, %v", res, err)
			}
			cancelled, cancel := context.WithCancel(t.Context())
			cancel()
			if res, err := s.SignMany(cancelled, reqs); !errors.Is(err, context.Canceled) || res != nil {
				t.Errorf("SignMany with an ended context = %d results, %v", len(res), err)
			}
		})
	}
}

// TestSigner_Hammer signs, generates and looks up concurrently with a
// cache smaller than the key set, so entries are evicted under load.
func TestSigner_Hammer(t *testing.T) {
	s := newSigner(t, soft.Options{CacheSize: 2})
	var keys []signing.Key
	for i := range 5 {
		k, err := s.GenerateKey(t.Context(), []signing.KeyType{signing.Ed25519, signing.Secp256k1}[i%2])
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	var wg sync.WaitGroup
	for g := range 4 * runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range 50 {
				k := keys[(g+i)%len(keys)]
				d := sha256.Sum256(fmt.Appendf(nil, "%d/%d", g, i))
				sig, err := s.Sign(t.Context(), k.ID, d[:])
				if err != nil {
					t.Error(err)
					return
				}
				verify(t, k, d[:], sig)
				if i%10 == 0 {
					if _, err := s.GenerateKey(t.Context(), signing.Ed25519); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

func TestNew_KEKFile(t *testing.T) {
	root := t.TempDir()
	kekFile := filepath.Join(root, "keystore.kek")
	s := newSigner(t, soft.Options{Dir: filepath.Join(root, "ks"), KEKFile: kekFile})
	k, err := s.GenerateKey(t.Context(), signing.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(kekFile)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != soft.KEKSize {
		t.Fatalf("KEK file: %v, %v", fi, err)
	}
	before, _ := os.ReadFile(kekFile)
	// Reopened with the same file: the same KEK, the key still signs.
	s2 := newSigner(t, soft.Options{Dir: filepath.Join(root, "ks"), KEKFile: kekFile, CacheSize: -1})
	if sig, err := s2.Sign(t.Context(), k.ID, []byte("m")); err != nil {
		t.Fatal(err)
	} else {
		verify(t, k, []byte("m"), sig)
	}
	if after, _ := os.ReadFile(kekFile); !bytes.Equal(before, after) {
		t.Error("the KEK file changed")
	}
	if fi, _ := os.Stat(filepath.Join(root, "ks")); fi.Mode().Perm() != 0o700 {
		t.Errorf("keystore directory mode %04o, want 0700", fi.Mode().Perm())
	}
}

func TestNew_Errors(t *testing.T) {
	root := t.TempDir()
	write := func(name string, b []byte, mode os.FileMode) string {
		p := filepath.Join(root, name)
		if err := os.WriteFile(p, b, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	groupReadable := write("group.kek", make([]byte, 32), 0o640)
	worldReadable := write("world.kek", make([]byte, 32), 0o604)
	short := write("short.kek", make([]byte, 31), 0o600)
	long := write("long.kek", make([]byte, 33), 0o600)
	tests := []struct {
		name string
		opts soft.Options
		want string
	}{
		{"no directory", soft.Options{KEK: make([]byte, 32)}, "no keystore directory"},
		{"no KEK", soft.Options{Dir: root}, "no key-encryption key"},
		{"both KEKs", soft.Options{Dir: root, KEK: make([]byte, 32), KEKFile: short}, "both KEK and KEKFile"},
		{"short KEK", soft.Options{Dir: root, KEK: make([]byte, 16)}, "16 bytes, want 32"},
		{"group-readable KEK file", soft.Options{Dir: root, KEKFile: groupReadable}, "mode 0640"},
		{"world-readable KEK file", soft.Options{Dir: root, KEKFile: worldReadable}, "mode 0604"},
		{"short KEK file", soft.Options{Dir: root, KEKFile: short}, "exactly 32 bytes"},
		{"long KEK file", soft.Options{Dir: root, KEKFile: long}, "exactly 32 bytes"},
		{"KEK file is a directory", soft.Options{Dir: root, KEKFile: root}, "not a regular file"},
		{"KEK file in a missing directory", soft.Options{Dir: root, KEKFile: filepath.Join(root, "no", "kek")}, "no such file"},
		{"keystore is a file", soft.Options{Dir: short, KEK: make([]byte, 32)}, "not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := soft.New(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, %v; want an error containing %q", s, err, tt.want)
			}
		})
	}
}

func TestSigner_WrongKEK(t *testing.T) {
	dir := t.TempDir()
	kek := newKEK(t)
	s := newSigner(t, soft.Options{Dir: dir, KEK: kek})
	k, err := s.GenerateKey(t.Context(), signing.Secp256k1)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = soft.New(soft.Options{Dir: dir, KEK: newKEK(t)})
	if !errors.Is(err, soft.ErrWrongKEK) || !strings.Contains(err.Error(), "different key-encryption key") {
		t.Fatalf("New with another KEK = %v, want ErrWrongKEK", err)
	}
	// A keystore with keys of both KEKs passes New's check (it looks at
	// the first key only, here a SECP256K1 one of this KEK); Sign of the
	// other KEK's key names the problem.
	dir2 := t.TempDir()
	s2 := newSigner(t, soft.Options{Dir: dir2, KEK: newKEK(t)})
	other, _ := s2.GenerateKey(t.Context(), signing.Ed25519)
	if err := os.Rename(filepath.Join(dir, "SECP256K1"), filepath.Join(dir2, "SECP256K1")); err != nil {
		t.Fatal(err)
	}
	s3 := newSigner(t, soft.Options{Dir: dir2, KEK: kek, CacheSize: -1})
	if _, err := s3.Sign(t.Context(), other.ID, []byte("m")); !errors.Is(err, soft.ErrWrongKEK) {
		t.Errorf("Sign with another KEK's key = %v, want ErrWrongKEK", err)
	}
	d := sha256.Sum256(nil)
	if sig, err := s3.Sign(t.Context(), k.ID, d[:]); err != nil {
		t.Errorf("Sign with this KEK's key: %v", err)
	} else {
		verify(t, k, d[:], sig)
	}
}

// TestSigner_BlobBinding: a wrapped key moved to another id or type, or
// damaged, does not unwrap; a blob of another backend is refused as such.
func TestSigner_BlobBinding(t *testing.T) {
	dir := t.TempDir()
	kek := newKEK(t)
	s := newSigner(t, soft.Options{Dir: dir, KEK: kek, CacheSize: -1})
	a, _ := s.GenerateKey(t.Context(), signing.Ed25519)
	b, _ := s.GenerateKey(t.Context(), signing.Ed25519)
	c, _ := s.GenerateKey(t.Context(), signing.Secp256k1) // only its .pub is used
	path := func(k signing.Key, ext string) string { return filepath.Join(dir, string(k.Type), k.ID+ext) }
	blobA, _ := os.ReadFile(path(a, ".key"))

	// a's blob under b's id.
	os.WriteFile(path(b, ".key"), blobA, 0o600)
	if _, err := s.Sign(t.Context(), b.ID, []byte("m")); !errors.Is(err, soft.ErrCorruptKey) {
		t.Errorf("blob copied to another id: %v, want ErrCorruptKey", err)
	}
	// a's blob, same id, under the other type (with a secp256k1 .pub so
	// that only the type differs).
	pubC, _ := os.ReadFile(path(c, ".pub"))
	moved := signing.Key{ID: a.ID, Type: signing.Secp256k1}
	os.WriteFile(path(moved, ".key"), blobA, 0o600)
	os.WriteFile(path(moved, ".pub"), pubC, 0o600)
	os.Rename(path(a, ".pub"), path(a, ".pub.away"))
	if _, err := s.Sign(t.Context(), a.ID, make([]byte, 32)); !errors.Is(err, soft.ErrCorruptKey) {
		t.Errorf("blob moved to another type: %v, want ErrCorruptKey", err)
	}
	os.Remove(path(moved, ".key"))
	os.Remove(path(moved, ".pub"))
	os.Rename(path(a, ".pub.away"), path(a, ".pub"))
	if _, err := s.Sign(t.Context(), a.ID, []byte("m")); err != nil {
		t.Fatalf("blob back in place: %v", err)
	}
	// One flipped bit.
	damaged := bytes.Clone(blobA)
	damaged[len(damaged)-1] ^= 1
	os.WriteFile(path(a, ".key"), damaged, 0o600)
	if _, err := s.Sign(t.Context(), a.ID, []byte("m")); !errors.Is(err, soft.ErrCorruptKey) {
		t.Errorf("damaged blob: %v, want ErrCorruptKey", err)
	}
	// An HSM blob.
	os.WriteFile(path(a, ".key"), []byte("an HSM-wrapped blob of some length......................."), 0o600)
	if _, err := s.Sign(t.Context(), a.ID, []byte("m")); !errors.Is(err, soft.ErrForeignKey) || !errors.Is(err, signing.ErrUnsupportedKey) {
		t.Errorf("foreign blob: %v, want ErrForeignKey", err)
	}
	if _, err := s.PublicKey(t.Context(), a.ID); err != nil {
		t.Errorf("PublicKey of a foreign blob: %v", err)
	}
}

const benchMsgSize = 128 // the message size of the design's native floor

func BenchmarkEd25519_Native(b *testing.B) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	msg := make([]byte, benchMsgSize)
	b.ReportAllocs()
	for b.Loop() {
		ed25519.Sign(priv, msg)
	}
}

func BenchmarkSigner_Sign(b *testing.B) {
	for _, tt := range []struct {
		name  string
		typ   signing.KeyType
		cache int
	}{
		{"ED25519", signing.Ed25519, 0},
		{"ED25519/nocache", signing.Ed25519, -1},
		{"SECP256K1", signing.Secp256k1, 0},
		{"SECP256K1/nocache", signing.Secp256k1, -1},
	} {
		b.Run(tt.name, func(b *testing.B) {
			s := newSigner(b, soft.Options{CacheSize: tt.cache})
			k, err := s.GenerateKey(b.Context(), tt.typ)
			if err != nil {
				b.Fatal(err)
			}
			data := make([]byte, benchMsgSize)
			if tt.typ == signing.Secp256k1 {
				data = data[:32]
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Sign(b.Context(), k.ID, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSigner_SignMany100 signs batches of 100 Ed25519 messages and
// reports the time per signature and its ratio to native Ed25519 signing
// on one core. The native batch runs before each SignMany, outside the
// timer, so both see the same machine load; a ratio below 1 means the
// batch used more than one core.
func BenchmarkSigner_SignMany100(b *testing.B) {
	s := newSigner(b, soft.Options{})
	k, err := s.GenerateKey(b.Context(), signing.Ed25519)
	if err != nil {
		b.Fatal(err)
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	reqs := make([]signing.SignRequest, 100)
	for i := range reqs {
		reqs[i] = signing.SignRequest{KeyID: k.ID, Data: make([]byte, benchMsgSize)}
	}
	b.ReportAllocs()
	var native time.Duration
	n := 0
	for b.Loop() {
		b.StopTimer()
		start := time.Now()
		for _, r := range reqs {
			ed25519.Sign(priv, r.Data)
		}
		native += time.Since(start)
		b.StartTimer()
		if _, err := s.SignMany(b.Context(), reqs); err != nil {
			b.Fatal(err)
		}
		n += len(reqs)
	}
	perSig := float64(b.Elapsed().Nanoseconds()) / float64(n)
	nativePerSig := float64(native.Nanoseconds()) / float64(n)
	b.ReportMetric(perSig, "ns/signature")
	b.ReportMetric(nativePerSig, "native-ns/signature")
	b.ReportMetric(perSig/nativePerSig, "x-native")
}
