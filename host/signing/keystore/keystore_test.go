package keystore_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/osohost/osohost/host/signing"
	"github.com/osohost/osohost/host/signing/keystore"
)

const (
	id1 = "6f1c3a52-0a8b-4c1e-9d3f-2b7a8e9c0d11" // SECP256K1, complete
	id2 = "a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d" // ED25519, complete
	id3 = "11111111-2222-4333-8444-555555555555" // SECP256K1, .key only
	id4 = "99999999-8888-4777-a666-555555555555" // ED25519, .pub only
)

const (
	secpSPKIPrefix = "3056301006072a8648ce3d020106052b8104000a034200"
	edSPKIPrefix   = "302a300506032b6570032100"
)

func secpSPKI(t testing.TB) []byte {
	t.Helper()
	k, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := hex.DecodeString(secpSPKIPrefix)
	return append(b, k.PubKey().SerializeUncompressed()...)
}

func edSPKI(t testing.TB) []byte {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := hex.DecodeString(edSPKIPrefix)
	return append(b, pub...)
}

type fwKey struct {
	blob, pub []byte
}

// frameworkKeystore writes a keystore the way the framework does: parent
// directories with mkdir(parents=True) and the default umask, .key then
// .pub, no fsync; plus what crashes and people leave behind.
func frameworkKeystore(t *testing.T) (string, map[string]fwKey) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "keystore")
	keys := map[string]fwKey{
		id1: {[]byte("\x00HSM-wrapped secp256k1 blob\xff"), append(secpSPKI(t), "\x04\x02trailing bytes from the HSM"...)},
		id2: {[]byte("HSM-wrapped ed25519 blob"), edSPKI(t)},
	}
	write := func(typ, name string, b []byte) {
		if err := os.MkdirAll(filepath.Join(dir, typ), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, typ, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("SECP256K1", id1+".key", keys[id1].blob)
	write("SECP256K1", id1+".pub", keys[id1].pub)
	write("ED25519", id2+".key", keys[id2].blob)
	write("ED25519", id2+".pub", keys[id2].pub)
	write("SECP256K1", id3+".key", []byte("orphan: crash before the .pub"))
	write("ED25519", id4+".pub", edSPKI(t))
	write("ED25519", "not-a-uuid.key", []byte("x"))
	write("ED25519", "not-a-uuid.pub", edSPKI(t))
	write("ED25519", strings.ToUpper(id4)+".key", []byte("x"))
	write("ED25519", strings.ToUpper(id4)+".pub", edSPKI(t))
	write("ED25519", "."+id4+".key.tmp-123", []byte("temporary file"))
	write("SECP256K1", "README", []byte("notes"))
	return dir, keys
}

func open(t *testing.T, dir string) *keystore.Keystore {
	t.Helper()
	k, err := keystore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestKeystore_FrameworkCompat(t *testing.T) {
	dir, keys := frameworkKeystore(t)
	k := open(t, dir)
	for typ, want := range map[signing.KeyType][]string{signing.Secp256k1: {id1}, signing.Ed25519: {id2}} {
		if got, err := k.List(typ); err != nil || !slices.Equal(got, want) {
			t.Errorf("List(%s) = %v, %v; want %v", typ, got, err, want)
		}
	}
	for id, wantType := range map[string]signing.KeyType{id1: signing.Secp256k1, id2: signing.Ed25519} {
		typ, blob, spki, err := k.Get(id)
		if err != nil {
			t.Fatalf("Get(%s): %v", id, err)
		}
		if typ != wantType || !bytes.Equal(blob, keys[id].blob) {
			t.Errorf("Get(%s) = %s, %q", id, typ, blob)
		}
		wantSPKI := keys[id].pub
		if typ == signing.Secp256k1 {
			wantSPKI = wantSPKI[:88] // the trailing bytes are dropped
		}
		if !bytes.Equal(spki, wantSPKI) {
			t.Errorf("Get(%s) public key = %x, want %x", id, spki, wantSPKI)
		}
	}
	for _, id := range []string{id3, id4, strings.ToLower("0b9f7c5e-1d2a-4e3b-8c4d-5e6f7a8b9c0d")} {
		if _, _, _, err := k.Get(id); !errors.Is(err, signing.ErrUnknownKey) {
			t.Errorf("Get(%s) = %v, want ErrUnknownKey", id, err)
		}
	}

	// New keys go in beside the old ones, which stay readable.
	if err := k.Put(signing.Ed25519, "0b9f7c5e-1d2a-4e3b-8c4d-5e6f7a8b9c0d", []byte("blob"), edSPKI(t)); err != nil {
		t.Fatal(err)
	}
	if got, _ := k.List(signing.Ed25519); len(got) != 2 {
		t.Errorf("List after Put = %v", got)
	}
	if _, _, _, err := k.Get(id2); err != nil {
		t.Error(err)
	}
	// The orphan .pub's id can be completed.
	if err := k.Put(signing.Ed25519, id4, []byte("blob"), edSPKI(t)); err != nil {
		t.Errorf("Put over an orphan .pub: %v", err)
	}
	// The orphan .key's id cannot be taken.
	if err := k.Put(signing.Secp256k1, id3, []byte("blob"), secpSPKI(t)); !errors.Is(err, keystore.ErrExists) {
		t.Errorf("Put over an orphan .key = %v, want ErrExists", err)
	}
}

func TestKeystore_TypeDirectories(t *testing.T) {
	dir := t.TempDir()
	k := open(t, dir)
	if got, err := k.List(signing.Ed25519); err != nil || got == nil || len(got) != 0 {
		t.Errorf("List with no type directory = %#v, %v; want []", got, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "SECP256K1"), []byte("a file"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := k.List(signing.Secp256k1); err == nil {
		t.Error("List where <TYPE> is a file succeeded")
	}
	if _, _, _, err := k.Get(id1); !errors.Is(err, signing.ErrUnknownKey) {
		t.Errorf("Get where <TYPE> is a file = %v, want ErrUnknownKey", err)
	}
	if _, err := k.List("RSA"); !errors.Is(err, signing.ErrUnsupportedKey) {
		t.Errorf("List(RSA) = %v", err)
	}
	if err := k.Put("RSA", id1, []byte("b"), []byte("p")); !errors.Is(err, signing.ErrUnsupportedKey) {
		t.Errorf("Put(RSA) = %v", err)
	}
	// The same id under two types is refused rather than guessed.
	os.Remove(filepath.Join(dir, "SECP256K1"))
	for _, typ := range []string{"SECP256K1", "ED25519"} {
		os.MkdirAll(filepath.Join(dir, typ), 0o700)
		os.WriteFile(filepath.Join(dir, typ, id1+".key"), []byte("b"), 0o600)
		os.WriteFile(filepath.Join(dir, typ, id1+".pub"), edSPKI(t), 0o600)
	}
	if _, _, _, err := k.Get(id1); err == nil || errors.Is(err, signing.ErrUnknownKey) {
		t.Errorf("Get of an id under two types = %v", err)
	}
}

func TestKeystore_Put(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "keystore")
	k := open(t, dir)
	var renames []string
	keystore.SetRename(k, func(from, to string) error {
		renames = append(renames, filepath.Base(to))
		return os.Rename(from, to)
	})
	blob, spki := []byte("wrapped"), edSPKI(t)
	if err := k.Put(signing.Ed25519, id2, blob, spki); err != nil {
		t.Fatal(err)
	}
	if want := []string{id2 + ".pub", id2 + ".key"}; !slices.Equal(renames, want) {
		t.Errorf("renames %v, want %v (.pub first)", renames, want)
	}
	modes := map[string]os.FileMode{
		dir:                           0o700,
		filepath.Join(dir, "ED25519"): 0o700,
		filepath.Join(dir, "ED25519", id2+".key"): 0o600,
		filepath.Join(dir, "ED25519", id2+".pub"): 0o600,
	}
	for path, want := range modes {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v, %v; want %04o", path, fi.Mode().Perm(), err, want)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "ED25519"))
	if len(entries) != 2 {
		t.Errorf("type directory holds %d entries, want 2 (no temporary files)", len(entries))
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "ED25519", id2+".key")); !bytes.Equal(b, blob) {
		t.Error(".key content differs")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "ED25519", id2+".pub")); !bytes.Equal(b, spki) {
		t.Error(".pub content differs")
	}
	for _, typ := range keystore.Types() {
		if err := k.Put(typ, id2, blob, spki); !errors.Is(err, keystore.ErrExists) {
			t.Errorf("second Put under %s = %v, want ErrExists", typ, err)
		}
	}
	for _, bad := range [][2][]byte{{nil, spki}, {blob, nil}, {make([]byte, keystore.MaxFileBytes+1), spki}} {
		if err := k.Put(signing.Ed25519, id1, bad[0], bad[1]); err == nil {
			t.Errorf("Put of a %d-byte blob and %d-byte key succeeded", len(bad[0]), len(bad[1]))
		}
	}
}

// TestKeystore_Put_Interrupted: a failure between the two renames leaves
// at most an orphan .pub, which is not a key.
func TestKeystore_Put_Interrupted(t *testing.T) {
	dir := t.TempDir()
	k := open(t, dir)
	keystore.SetRename(k, func(from, to string) error {
		if strings.HasSuffix(to, ".key") {
			return errors.New("simulated crash")
		}
		return os.Rename(from, to)
	})
	if err := k.Put(signing.Secp256k1, id1, []byte("b"), secpSPKI(t)); err == nil {
		t.Fatal("Put succeeded")
	}
	if ids, _ := k.List(signing.Secp256k1); len(ids) != 0 {
		t.Errorf("List = %v", ids)
	}
	if _, _, _, err := k.Get(id1); !errors.Is(err, signing.ErrUnknownKey) {
		t.Errorf("Get = %v, want ErrUnknownKey", err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "SECP256K1"))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
	keystore.SetRename(k, os.Rename)
	if err := k.Put(signing.Secp256k1, id1, []byte("b"), secpSPKI(t)); err != nil {
		t.Errorf("Put after the interrupted one: %v", err)
	}
}

func TestValidID(t *testing.T) {
	valid := []string{id1, id2, "00000000-0000-0000-0000-000000000000", "0b9f7c5e-1d2a-1e3b-8c4d-5e6f7a8b9c0d"}
	invalid := []string{
		"", "..", "../../etc/passwd", "/etc/passwd", id1 + "/..", "../" + id1[3:],
		strings.ToUpper(id1), "{" + id1 + "}", "urn:uuid:" + id1, id1 + "\n", id1 + "\x00",
		id1[:35], id1 + "0", strings.ReplaceAll(id1, "-", ""), strings.Replace(id1, "-", "/", 1),
		strings.Replace(id1, "6", ".", 1), " " + id1[1:], strings.Replace(id1, "-", "_", 1),
	}
	for _, id := range valid {
		if !keystore.ValidID(id) {
			t.Errorf("ValidID(%q) = false", id)
		}
	}
	dir := filepath.Join(t.TempDir(), "ks")
	k := open(t, dir)
	for _, id := range invalid {
		if keystore.ValidID(id) {
			t.Errorf("ValidID(%q) = true", id)
		}
		if err := k.Put(signing.Ed25519, id, []byte("b"), edSPKI(t)); !errors.Is(err, keystore.ErrInvalidID) || !errors.Is(err, signing.ErrUnknownKey) {
			t.Errorf("Put(%q) = %v, want ErrInvalidID", id, err)
		}
		if _, _, _, err := k.Get(id); !errors.Is(err, keystore.ErrInvalidID) {
			t.Errorf("Get(%q) = %v, want ErrInvalidID", id, err)
		}
	}
	// Nothing was written anywhere.
	if entries, _ := os.ReadDir(filepath.Dir(dir)); len(entries) != 1 {
		t.Errorf("files appeared beside the keystore: %v", entries)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files appeared in the keystore: %v", entries)
	}
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id, err := keystore.NewID()
		if err != nil {
			t.Fatal(err)
		}
		if !keystore.ValidID(id) || id[14] != '4' || !strings.ContainsRune("89ab", rune(id[19])) || seen[id] {
			t.Fatalf("NewID = %q: not a fresh version 4 UUID", id)
		}
		seen[id] = true
	}
}

func TestMarshalSPKI(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	got, err := keystore.MarshalSPKI(signing.Ed25519, pub)
	want, _ := x509.MarshalPKIXPublicKey(pub)
	if err != nil || !bytes.Equal(got, want) || len(got) != 44 || hex.EncodeToString(got[:12]) != edSPKIPrefix {
		t.Errorf("Ed25519 SPKI = %x, %v; want %x", got, err, want)
	}
	k, _ := secp256k1.GeneratePrivateKey()
	for _, point := range [][]byte{k.PubKey().SerializeUncompressed(), k.PubKey().SerializeCompressed()} {
		got, err := keystore.MarshalSPKI(signing.Secp256k1, point)
		if err != nil || hex.EncodeToString(got) != secpSPKIPrefix+hex.EncodeToString(k.PubKey().SerializeUncompressed()) {
			t.Errorf("secp256k1 SPKI = %x, %v", got, err)
		}
		spki, key, err := keystore.ParseSPKI(signing.Secp256k1, got)
		if err != nil || !bytes.Equal(spki, got) || !bytes.Equal(key, k.PubKey().SerializeUncompressed()) {
			t.Errorf("ParseSPKI(MarshalSPKI) = %x, %x, %v", spki, key, err)
		}
	}
	for _, tt := range []struct {
		typ signing.KeyType
		key []byte
	}{{signing.Ed25519, pub[:31]}, {signing.Secp256k1, make([]byte, 65)}, {signing.Secp256k1, pub}, {"RSA", pub}} {
		if _, err := keystore.MarshalSPKI(tt.typ, tt.key); err == nil {
			t.Errorf("MarshalSPKI(%s, %d bytes) succeeded", tt.typ, len(tt.key))
		}
	}
}

func TestParseSPKI_Errors(t *testing.T) {
	secp, ed := secpSPKI(t), edSPKI(t)
	p256, _ := hex.DecodeString("3059301306072a8648ce3d020106082a8648ce3d030107034200")
	p256 = append(p256, secp[23:]...) // a secp256k1 point under the P-256 OID
	offCurve := bytes.Clone(secp)
	offCurve[len(offCurve)-1] ^= 1
	tests := []struct {
		name string
		typ  signing.KeyType
		der  []byte
	}{
		{"empty", signing.Secp256k1, nil},
		{"not DER", signing.Secp256k1, []byte("hello")},
		{"truncated", signing.Secp256k1, secp[:60]},
		{"other curve", signing.Secp256k1, p256},
		{"point off the curve", signing.Secp256k1, offCurve},
		{"Ed25519 key as secp256k1", signing.Secp256k1, ed},
		{"secp256k1 key as Ed25519", signing.Ed25519, secp},
		{"Ed25519 with trailing bytes", signing.Ed25519, append(bytes.Clone(ed), 0)},
		{"Ed25519 short key", signing.Ed25519, append(bytes.Clone(ed[:11]), ed[12:43]...)},
		{"unknown type", "RSA", ed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := keystore.ParseSPKI(tt.typ, tt.der); err == nil {
				t.Fatal("ParseSPKI succeeded")
			}
		})
	}
}

// FuzzParseSPKI: whatever parses re-encodes to an SPKI that parses to the
// same key, and the SPKI returned is a prefix of the input.
func FuzzParseSPKI(f *testing.F) {
	f.Add(secpSPKI(f))
	f.Add(append(secpSPKI(f), 1, 2, 3))
	f.Add(edSPKI(f))
	f.Fuzz(func(t *testing.T, der []byte) {
		for _, typ := range keystore.Types() {
			spki, key, err := keystore.ParseSPKI(typ, der)
			if err != nil {
				continue
			}
			if !bytes.HasPrefix(der, spki) {
				t.Fatalf("SPKI %x is not a prefix of the input", spki)
			}
			again, err := keystore.MarshalSPKI(typ, key)
			if err != nil {
				t.Fatalf("MarshalSPKI of a parsed key: %v", err)
			}
			_, key2, err := keystore.ParseSPKI(typ, again)
			if err != nil {
				t.Fatalf("re-encoded SPKI does not parse: %v", err)
			}
			if typ == signing.Ed25519 && !bytes.Equal(key, key2) {
				t.Fatalf("key changed: %x → %x", key, key2)
			}
			if typ == signing.Secp256k1 {
				p1, _ := secp256k1.ParsePubKey(key)
				p2, _ := secp256k1.ParsePubKey(key2)
				if !p1.IsEqual(p2) {
					t.Fatalf("point changed: %x → %x", key, key2)
				}
			}
		}
	})
}
