package main

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// Key kinds, the first byte of a wrapped key's plaintext.
const (
	kindSecp256k1 byte = 1 // followed by the 32-byte scalar
	kindEd25519   byte = 2 // followed by the 32-byte seed
)

const (
	blobVersion = 1
	masterSize  = 32
	macSize     = sha256.Size
	// blobAAD binds wrapped keys to this format.
	blobAAD = "grep11dev wrapped key v1"
)

// wrapper wraps private keys with AES-256-GCM and authenticates public
// keys with HMAC-SHA-256, under keys derived from the master key. It
// plays the part of the HSM's master key: blobs it made are useless
// without it.
type wrapper struct {
	aead   cipher.AEAD
	macKey []byte
}

func newWrapper(master []byte) (*wrapper, error) {
	if len(master) != masterSize {
		return nil, fmt.Errorf("master key: %d bytes, want %d", len(master), masterSize)
	}
	wrapKey, err := hkdf.Key(sha256.New, master, nil, "grep11dev key wrapping", 32)
	if err != nil {
		return nil, err
	}
	macKey, err := hkdf.Key(sha256.New, master, nil, "grep11dev public key mac", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(wrapKey)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &wrapper{aead: aead, macKey: macKey}, nil
}

// wrap returns version || nonce || AES-GCM(kind || key).
func (w *wrapper) wrap(kind byte, key []byte) []byte {
	out := make([]byte, 1+w.aead.NonceSize(), 1+w.aead.NonceSize()+1+len(key)+w.aead.Overhead())
	out[0] = blobVersion
	rand.Read(out[1:]) // never fails (crypto/rand)
	plain := append([]byte{kind}, key...)
	defer clear(plain)
	return w.aead.Seal(out, out[1:], plain, []byte(blobAAD))
}

// unwrap reverses wrap. The caller clears the returned key after use.
func (w *wrapper) unwrap(blob []byte) (kind byte, key []byte, err error) {
	n := w.aead.NonceSize()
	if len(blob) < 1+n+1+w.aead.Overhead() || blob[0] != blobVersion {
		return 0, nil, errors.New("not a wrapped key")
	}
	plain, err := w.aead.Open(nil, blob[1:1+n], blob[1+n:], []byte(blobAAD))
	if err != nil {
		return 0, nil, errors.New("wrapped key fails authentication")
	}
	return plain[0], plain[1:], nil
}

// macPublic returns spki followed by its MAC, the shape of EP11's public
// key blobs.
func (w *wrapper) macPublic(spki []byte) []byte {
	m := hmac.New(sha256.New, w.macKey)
	m.Write(spki)
	return m.Sum(spki[:len(spki):len(spki)])
}

// openPublic checks a public key blob made by macPublic and returns the
// SubjectPublicKeyInfo in it.
func (w *wrapper) openPublic(blob []byte) ([]byte, error) {
	if len(blob) <= macSize {
		return nil, errors.New("not a public key blob")
	}
	spki, tag := blob[:len(blob)-macSize], blob[len(blob)-macSize:]
	m := hmac.New(sha256.New, w.macKey)
	m.Write(spki)
	if !hmac.Equal(m.Sum(nil), tag) {
		return nil, errors.New("public key blob fails authentication")
	}
	return spki, nil
}

// newKey generates a private key of a kind and returns its bytes.
func newKey(kind byte) ([]byte, error) {
	switch kind {
	case kindSecp256k1:
		k, err := secp256k1.GeneratePrivateKey()
		if err != nil {
			return nil, err
		}
		return k.Serialize(), nil
	case kindEd25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		return k.Seed(), nil
	}
	return nil, fmt.Errorf("unknown key kind %d", kind)
}

// loadMasterKey reads the master key from path: 32 bytes, raw or as 64
// hexadecimal digits. A missing file is created (mode 0600) with a new
// random key. An empty path gives a random key that lives as long as the
// process.
func loadMasterKey(path string) ([]byte, error) {
	if path == "" {
		k := make([]byte, masterSize)
		rand.Read(k)
		return k, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createMasterKey(path)
	}
	if err != nil {
		return nil, err
	}
	if len(b) == masterSize {
		return b, nil
	}
	k, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(k) != masterSize {
		return nil, fmt.Errorf("master key file %s: want %d bytes, raw or in hexadecimal", path, masterSize)
	}
	return k, nil
}

func createMasterKey(path string) ([]byte, error) {
	k := make([]byte, masterSize)
	rand.Read(k)
	tmp, err := os.CreateTemp(filepath.Dir(path), ".master-key-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(hex.EncodeToString(k) + "\n"); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	// A link fails if another process created the file meanwhile; use its key.
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		return loadMasterKey(path)
	} else if err != nil {
		return nil, err
	}
	return k, nil
}
