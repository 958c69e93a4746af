package integrity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Bounds of the inputs this package parses.
const (
	// MaxSignatureFileBytes bounds a signature file; the base64 of a
	// signature is 88 bytes.
	MaxSignatureFileBytes = 1024
	// MaxKeyFileBytes bounds a PEM key file.
	MaxKeyFileBytes = 16 << 10
	// maxKeyString bounds a public key string: the prefix and 44 base64
	// characters, with room for a mistake worth reporting.
	maxKeyString = 256
)

// PublicKeyPrefix starts a public key written as a string.
const PublicKeyPrefix = "ed25519:"

// sha256Prefix may start an allowlist entry.
const sha256Prefix = "sha256:"

// PEM block types.
const (
	pemPublicKey           = "PUBLIC KEY"
	pemPrivateKey          = "PRIVATE KEY"
	pemEncryptedPrivateKey = "ENCRYPTED PRIVATE KEY"
)

// Sign signs wasm with key and returns the content of its signature file:
// the standard base64 of the 64-byte Ed25519 signature and a newline. It
// fails when key is not an Ed25519 private key of the right length.
func Sign(key ed25519.PrivateKey, wasm []byte) ([]byte, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, errors.New("integrity: not an Ed25519 private key")
	}
	return EncodeSignature(ed25519.Sign(key, wasm)), nil
}

// EncodeSignature returns the signature file content for sig: its standard
// base64 encoding and a newline.
func EncodeSignature(sig []byte) []byte {
	b := base64.StdEncoding.AppendEncode(nil, sig)
	return append(b, '\n')
}

// ParseSignature decodes the content of a signature file into the 64-byte
// signature. ASCII whitespace anywhere is ignored (line-wrapped base64 as
// `openssl base64` writes it is fine); the rest must be the canonical
// standard base64 of 64 bytes, padded or not. Errors wrap
// [ErrMalformedSignature] and never repeat the input.
func ParseSignature(b []byte) ([]byte, error) {
	if len(b) > MaxSignatureFileBytes {
		return nil, fmt.Errorf("%w: the file exceeds %d bytes", ErrMalformedSignature, MaxSignatureFileBytes)
	}
	text := make([]byte, 0, len(b))
	for _, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r', '\v', '\f':
		default:
			text = append(text, c)
		}
	}
	if len(text) == 0 {
		return nil, fmt.Errorf("%w: the file is empty", ErrMalformedSignature)
	}
	enc := base64.StdEncoding.Strict()
	if !bytes.HasSuffix(text, []byte("=")) {
		enc = base64.RawStdEncoding.Strict()
	}
	sig := make([]byte, enc.DecodedLen(len(text)))
	n, err := enc.Decode(sig, text)
	if err != nil {
		return nil, fmt.Errorf("%w: not standard base64", ErrMalformedSignature)
	}
	if n != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: %d bytes, an Ed25519 signature has %d", ErrMalformedSignature, n, ed25519.SignatureSize)
	}
	return sig[:n], nil
}

// ParseSHA256 parses an allowlist entry: the 64 hex digits of a SHA-256
// digest, in either case, optionally after "sha256:" (in either case, as
// configuration accepts it). Errors never repeat the input.
func ParseSHA256(s string) ([32]byte, error) {
	var sum [32]byte
	if len(s) > len(sha256Prefix) && strings.EqualFold(s[:len(sha256Prefix)], sha256Prefix) {
		s = s[len(sha256Prefix):]
	}
	if len(s) != 2*sha256.Size {
		return sum, fmt.Errorf("integrity: a sha256 digest has %d hex digits, not %d", 2*sha256.Size, len(s))
	}
	if _, err := hex.Decode(sum[:], []byte(s)); err != nil {
		return [32]byte{}, errors.New("integrity: a sha256 digest has only hex digits")
	}
	return sum, nil
}

// FormatSHA256 writes a digest as [ParseSHA256] reads it: lowercase hex.
func FormatSHA256(sum [32]byte) string {
	return hex.EncodeToString(sum[:])
}

// FormatPublicKey writes an Ed25519 public key as configuration takes it:
// [PublicKeyPrefix] followed by the standard base64 of its 32 bytes.
func FormatPublicKey(k ed25519.PublicKey) string {
	return PublicKeyPrefix + base64.StdEncoding.EncodeToString(k)
}

// ParsePublicKey parses a key written as [FormatPublicKey] writes it. The
// padding is optional; the encoding must be canonical. Errors never repeat
// the input.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	if len(s) > maxKeyString {
		return nil, fmt.Errorf("integrity: public key is %d bytes long; want %q and 44 base64 characters", len(s), PublicKeyPrefix)
	}
	body, ok := strings.CutPrefix(s, PublicKeyPrefix)
	if !ok {
		return nil, fmt.Errorf("integrity: public key lacks the prefix %q", PublicKeyPrefix)
	}
	for i := 0; i < len(body); i++ {
		// The decoder skips line breaks, even in strict mode: refuse them.
		if c := body[i]; !isStdBase64(c) && c != '=' {
			return nil, fmt.Errorf("integrity: public key: byte %d is not in the standard base64 alphabet", len(PublicKeyPrefix)+i+1)
		}
	}
	enc := base64.StdEncoding.Strict()
	if !strings.HasSuffix(body, "=") {
		enc = base64.RawStdEncoding.Strict()
	}
	k, err := enc.DecodeString(body)
	if err != nil {
		return nil, fmt.Errorf("integrity: public key after %q is not standard base64", PublicKeyPrefix)
	}
	if len(k) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("integrity: public key has %d bytes, an Ed25519 key has %d", len(k), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(k), nil
}

func isStdBase64(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/'
}

// MarshalPublicKeyPEM encodes k as a PEM "PUBLIC KEY" block
// (SubjectPublicKeyInfo).
func MarshalPublicKeyPEM(k ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return nil, fmt.Errorf("integrity: public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPublicKey, Bytes: der}), nil
}

// ParsePublicKeyPEM decodes the first PEM block of b, which must be a
// "PUBLIC KEY" holding an Ed25519 key.
func ParsePublicKeyPEM(b []byte) (ed25519.PublicKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("integrity: no PEM block")
	}
	if block.Type != pemPublicKey {
		return nil, fmt.Errorf("integrity: PEM block is %q, want %q", block.Type, pemPublicKey)
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("integrity: public key: %w", err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("integrity: public key is %T, not Ed25519", k)
	}
	return pub, nil
}

// MarshalPrivateKeyPEM encodes k as a PEM "PRIVATE KEY" block (PKCS #8,
// unencrypted). The result holds the secret key: write it only to a file of
// mode 0600 ([WritePrivateKeyFile]).
func MarshalPrivateKeyPEM(k ed25519.PrivateKey) ([]byte, error) {
	if len(k) != ed25519.PrivateKeySize {
		return nil, errors.New("integrity: not an Ed25519 private key")
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, errors.New("integrity: cannot encode the private key")
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPrivateKey, Bytes: der}), nil
}

// ParsePrivateKeyPEM decodes the first PEM block of b, which must be an
// unencrypted "PRIVATE KEY" (PKCS #8) holding an Ed25519 key. Errors say
// what is wrong without any of the key's bytes.
func ParsePrivateKeyPEM(b []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("integrity: no PEM block")
	}
	switch block.Type {
	case pemPrivateKey:
	case pemEncryptedPrivateKey:
		return nil, errors.New("integrity: encrypted private keys are not supported; store the key unencrypted in a file of mode 0600 or a secret store")
	default:
		return nil, fmt.Errorf("integrity: PEM block is %q, want %q (PKCS #8)", block.Type, pemPrivateKey)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("integrity: private key is not valid PKCS #8")
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("integrity: private key is %T, not Ed25519", k)
	}
	return priv, nil
}

// WritePrivateKeyFile writes k to a new file at path, PEM-encoded by
// [MarshalPrivateKeyPEM], with mode 0600. It refuses to replace an existing
// file, and removes what it wrote when it fails.
func WritePrivateKeyFile(path string, k ed25519.PrivateKey) (err error) {
	b, err := MarshalPrivateKeyPEM(k)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("integrity: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(path)
		}
	}()
	if err = f.Chmod(0o600); err != nil { // whatever the umask
		return fmt.Errorf("integrity: %w", err)
	}
	if _, err = f.Write(b); err != nil {
		return fmt.Errorf("integrity: write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("integrity: write %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("integrity: write %s: %w", path, err)
	}
	return nil
}

// ReadPrivateKeyFile reads an Ed25519 private key written as
// [WritePrivateKeyFile] writes it, refusing files over [MaxKeyFileBytes].
func ReadPrivateKeyFile(path string) (ed25519.PrivateKey, error) {
	b, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParsePrivateKeyPEM(b)
	clear(b)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return k, nil
}

// ReadPublicKeyFile reads an Ed25519 public key from a PEM "PUBLIC KEY"
// file, or from a file holding the key as [FormatPublicKey] writes it.
func ReadPublicKeyFile(path string) (ed25519.PublicKey, error) {
	b, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	var k ed25519.PublicKey
	if s := strings.TrimSpace(string(b)); strings.HasPrefix(s, PublicKeyPrefix) {
		k, err = ParsePublicKey(s)
	} else {
		k, err = ParsePublicKeyPEM(b)
	}
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return k, nil
}

func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("integrity: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxKeyFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("integrity: read %s: %w", path, err)
	}
	if len(b) > MaxKeyFileBytes {
		return nil, fmt.Errorf("integrity: %s is larger than %d bytes", path, MaxKeyFileBytes)
	}
	return b, nil
}
