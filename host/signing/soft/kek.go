package soft

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/osohost/osohost/host/signing"
)

// KEKSize is the size of a key-encryption key: AES-256.
const KEKSize = 32

// Wrapped key format (the .key file of this backend):
//
//	magic "OSOSOFT1" (8) | KEK id (8) | GCM nonce (12) | AES-256-GCM(private key) (32+16)
//
// The additional data binds the blob to its place: magic | KEK id | type |
// 0x00 | key id, so a .key copied to another id or type directory does not
// open. The KEK id is the first 8 bytes of SHA-256(kekIDLabel | KEK): it
// lets a wrong KEK be told apart from a damaged file.
const (
	magic      = "OSOSOFT1"
	kekIDLabel = "osohost soft backend KEK id\x00"
	headerLen  = len(magic) + 8 + 12
)

// Errors of the wrapped-key format, comparable with errors.Is.
var (
	// ErrWrongKEK: the key was wrapped under another key-encryption key.
	ErrWrongKEK = errors.New("soft: key was wrapped under a different key-encryption key")
	// ErrCorruptKey: the wrapped key fails authentication under the right
	// KEK: the file was damaged, or copied from another id or type.
	ErrCorruptKey = errors.New("soft: wrapped key fails authentication (damaged, or copied from another key id or type)")
	// ErrForeignKey: the .key is not in this backend's format (for example
	// an HSM-wrapped blob). It matches signing.ErrUnsupportedKey too.
	ErrForeignKey = fmt.Errorf("soft: key is not wrapped by the software backend: %w", signing.ErrUnsupportedKey)
)

// wrapper seals and opens private keys under one KEK.
type wrapper struct {
	aead  cipher.AEAD
	kekID [8]byte
}

func newWrapper(kek []byte) (*wrapper, error) {
	if len(kek) != KEKSize {
		return nil, fmt.Errorf("soft: key-encryption key is %d bytes, want %d", len(kek), KEKSize)
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("soft: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("soft: %w", err)
	}
	w := &wrapper{aead: aead}
	h := sha256.New()
	io.WriteString(h, kekIDLabel)
	h.Write(kek)
	copy(w.kekID[:], h.Sum(nil))
	return w, nil
}

func (w *wrapper) aad(header []byte, t signing.KeyType, id string) []byte {
	aad := make([]byte, 0, len(magic)+8+len(t)+1+len(id))
	aad = append(aad, header[:len(magic)+8]...)
	aad = append(aad, t...)
	aad = append(aad, 0)
	return append(aad, id...)
}

// seal wraps the private key bytes of key id of type t.
func (w *wrapper) seal(t signing.KeyType, id string, priv []byte) ([]byte, error) {
	out := make([]byte, headerLen, headerLen+len(priv)+w.aead.Overhead())
	copy(out, magic)
	copy(out[len(magic):], w.kekID[:])
	nonce := out[len(magic)+8 : headerLen]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("soft: random nonce: %w", err)
	}
	return w.aead.Seal(out, nonce, priv, w.aad(out, t, id)), nil
}

// open unwraps a blob written by seal for the same id and type. The caller
// clears the result after use.
func (w *wrapper) open(t signing.KeyType, id string, blob []byte) ([]byte, error) {
	if len(blob) < headerLen+w.aead.Overhead() || string(blob[:len(magic)]) != magic {
		return nil, fmt.Errorf("key %s: %w", id, ErrForeignKey)
	}
	if [8]byte(blob[len(magic):len(magic)+8]) != w.kekID {
		return nil, fmt.Errorf("key %s: %w (its KEK id is %x, this KEK's is %x)", id, ErrWrongKEK, blob[len(magic):len(magic)+8], w.kekID)
	}
	pt, err := w.aead.Open(nil, blob[len(magic)+8:headerLen], blob[headerLen:], w.aad(blob, t, id))
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", id, ErrCorruptKey)
	}
	return pt, nil
}

// loadKEKFile reads a 32-byte KEK from path, first creating the file (mode
// 0600, 32 random bytes) if it does not exist. A file that group or others
// may read or write is refused.
func loadKEKFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		if err := createKEK(f); err != nil {
			os.Remove(path)
			return nil, fmt.Errorf("soft: create KEK file %s: %w", path, err)
		}
		if err := syncDir(filepath.Dir(path)); err != nil {
			return nil, fmt.Errorf("soft: create KEK file %s: %w", path, err)
		}
	case !errors.Is(err, fs.ErrExist):
		return nil, fmt.Errorf("soft: KEK file: %w", err)
	}
	f, err = os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("soft: KEK file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("soft: KEK file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("soft: KEK file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("soft: KEK file %s has mode %04o: group and others must have no access (chmod 600)", path, perm)
	}
	kek := make([]byte, KEKSize+1)
	n, err := io.ReadFull(f, kek)
	if err != io.ErrUnexpectedEOF || n != KEKSize {
		clear(kek)
		if err == nil || err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("soft: KEK file %s must hold exactly %d bytes", path, KEKSize)
		}
		return nil, fmt.Errorf("soft: KEK file: %w", err)
	}
	return kek[:KEKSize], nil
}

func createKEK(f *os.File) error {
	kek := make([]byte, KEKSize)
	defer clear(kek)
	_, err := rand.Read(kek)
	if err == nil {
		_, err = f.Write(kek)
	}
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
