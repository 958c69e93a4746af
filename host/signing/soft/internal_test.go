package soft

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/osohost/osohost/host/signing"
)

// TestSigner_NoClearKeyOnDisk generates keys, takes their private halves
// from memory, and looks for them (raw, hex, both cases) in every file the
// backend wrote.
func TestSigner_NoClearKeyOnDisk(t *testing.T) {
	root := t.TempDir()
	s, err := New(Options{Dir: filepath.Join(root, "keystore"), KEKFile: filepath.Join(root, "kek")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var secrets [][]byte
	for _, typ := range []signing.KeyType{signing.Ed25519, signing.Secp256k1, signing.Ed25519, signing.Secp256k1} {
		k, err := s.GenerateKey(t.Context(), typ)
		if err != nil {
			t.Fatal(err)
		}
		pk, err := s.key(k.ID)
		if err != nil {
			t.Fatal(err)
		}
		var raw []byte
		if typ == signing.Ed25519 {
			raw = pk.ed.Seed()
			secrets = append(secrets, pk.ed) // seed || public key, as Go holds it
		} else {
			raw = pk.k1.Serialize()
		}
		secrets = append(secrets, raw, []byte(hex.EncodeToString(raw)), bytes.ToUpper([]byte(hex.EncodeToString(raw))))

		// Formatting or logging the key shows nothing.
		var logged bytes.Buffer
		slog.New(slog.NewJSONHandler(&logged, nil)).Info("key", "k", pk)
		for _, out := range []string{fmt.Sprint(pk), fmt.Sprintf("%+v %#v %x %s", pk, pk, pk, pk), logged.String()} {
			if bytes.Contains([]byte(out), []byte(hex.EncodeToString(raw))) || !bytes.Contains([]byte(out), []byte("REDACTED")) {
				t.Fatalf("a formatted key shows more than REDACTED: %s", out)
			}
		}
	}
	files := 0
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for _, secret := range secrets {
			if bytes.Contains(b, secret) {
				t.Errorf("%s contains private key material", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files != 1+4*2 {
		t.Errorf("found %d files, want the KEK file and 4 key pairs", files)
	}
}
