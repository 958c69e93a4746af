package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// ErrNoSSHEncoding reports a public key that has no OpenSSH wire encoding
// (any key other than RSA, ECDSA on P-256/P-384/P-521 and Ed25519, for
// example ECDSA on P-224 or secp256k1). Such a key has no fingerprint and
// cannot be allowlisted.
var ErrNoSSHEncoding = errors.New("pki: key type has no OpenSSH encoding")

// ErrInvalidFingerprint is wrapped by every error of [ParseFingerprint].
var ErrInvalidFingerprint = errors.New("pki: invalid fingerprint")

// FingerprintPrefix starts every formatted fingerprint. It is case-sensitive,
// as in the framework osohost replaces.
const FingerprintPrefix = "SHA256:"

const (
	// fingerprintChars is the number of unpadded base64 characters that
	// encode 32 bytes.
	fingerprintChars = 43
	// maxFingerprintInput bounds the input ParseFingerprint looks at.
	maxFingerprintInput = 128
)

// Fingerprint returns the SHA-256 digest of the OpenSSH wire encoding of pub,
// the value `ssh-keygen -lf` prints in base64:
//
//   - *rsa.PublicKey: string "ssh-rsa", mpint e, mpint n
//   - *ecdsa.PublicKey on P-256, P-384 or P-521: string
//     "ecdsa-sha2-nistpNNN", string "nistpNNN", string of the uncompressed
//     point
//   - ed25519.PublicKey: string "ssh-ed25519", string of the 32-byte key
//
// Any other key type or curve gives an error wrapping [ErrNoSSHEncoding]; a
// malformed key of a supported type gives another error.
func Fingerprint(pub crypto.PublicKey) ([32]byte, error) {
	blob, err := sshWireKey(pub)
	if err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(blob), nil
}

// sshWireKey returns the OpenSSH wire encoding of pub (RFC 4253 §6.6,
// RFC 5656 §3.1, RFC 8709 §4).
func sshWireKey(pub crypto.PublicKey) ([]byte, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k == nil || k.N == nil || k.N.Sign() <= 0 || k.E <= 0 {
			return nil, errors.New("pki: malformed RSA public key")
		}
		b := appendString(nil, []byte("ssh-rsa"))
		b = appendMPInt(b, big.NewInt(int64(k.E)))
		return appendMPInt(b, k.N), nil
	case *ecdsa.PublicKey:
		//lint:ignore SA1019 only checked for nil: PublicKey.Bytes panics on nil coordinates.
		if k == nil || k.Curve == nil || k.X == nil || k.Y == nil {
			return nil, errors.New("pki: malformed ECDSA public key")
		}
		var name string
		switch k.Curve {
		case elliptic.P256():
			name = "nistp256"
		case elliptic.P384():
			name = "nistp384"
		case elliptic.P521():
			name = "nistp521"
		default:
			return nil, fmt.Errorf("%w (ECDSA on %s)", ErrNoSSHEncoding, curveName(k.Curve))
		}
		point, err := k.Bytes()
		if err != nil {
			return nil, fmt.Errorf("pki: malformed ECDSA public key: %w", err)
		}
		b := appendString(nil, []byte("ecdsa-sha2-"+name))
		b = appendString(b, []byte(name))
		return appendString(b, point), nil
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("pki: malformed Ed25519 public key: %d bytes", len(k))
		}
		b := appendString(nil, []byte("ssh-ed25519"))
		return appendString(b, k), nil
	default:
		return nil, fmt.Errorf("%w (%T)", ErrNoSSHEncoding, pub)
	}
}

func curveName(c elliptic.Curve) string {
	if p := c.Params(); p != nil && p.Name != "" {
		return p.Name
	}
	return "an unnamed curve"
}

// appendString appends an SSH "string": a uint32 length and the bytes.
func appendString(b, s []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// appendMPInt appends a non-negative SSH "mpint": a two's complement
// big-endian string without redundant leading zeros, empty for zero.
func appendMPInt(b []byte, n *big.Int) []byte {
	m := n.Bytes()
	if len(m) > 0 && m[0]&0x80 != 0 {
		m = append([]byte{0}, m...)
	}
	return appendString(b, m)
}

// FormatFingerprint writes fp as ssh-keygen does: [FingerprintPrefix]
// followed by unpadded standard base64 (43 characters).
func FormatFingerprint(fp [32]byte) string {
	return FingerprintPrefix + base64.RawStdEncoding.EncodeToString(fp[:])
}

// ParseFingerprint parses a fingerprint written as [FormatFingerprint] does.
// One trailing '=' of padding is accepted. The prefix is case-sensitive, only
// the standard base64 alphabet is allowed, the text must decode to exactly 32
// bytes and be the canonical encoding of them: nothing is skipped or guessed.
//
// Errors wrap [ErrInvalidFingerprint], say what is wrong and where, and never
// repeat the input.
func ParseFingerprint(s string) ([32]byte, error) {
	var fp [32]byte
	if s == "" {
		return fp, invalidFingerprint("empty")
	}
	if len(s) > maxFingerprintInput {
		return fp, invalidFingerprint(fmt.Sprintf("%d bytes long; want %q and %d base64 characters", len(s), FingerprintPrefix, fingerprintChars))
	}
	body, ok := strings.CutPrefix(s, FingerprintPrefix)
	if !ok {
		return fp, invalidFingerprint(prefixProblem(s))
	}
	body = strings.TrimSuffix(body, "=")
	for i := 0; i < len(body); i++ {
		c := body[i]
		if isStdBase64(c) {
			continue
		}
		msg := fmt.Sprintf("byte %d (%q) is not in the standard base64 alphabet", len(FingerprintPrefix)+i+1, c)
		switch c {
		case '-', '_':
			msg += " (the URL-safe alphabet is not accepted)"
		case '=':
			msg += " (at most one '=' of padding, at the end)"
		}
		return fp, invalidFingerprint(msg)
	}
	if len(body) != fingerprintChars {
		return fp, invalidFingerprint(fmt.Sprintf("%d base64 characters after %q encode %d bytes; a SHA-256 fingerprint has %d characters (32 bytes)",
			len(body), FingerprintPrefix, len(body)*6/8, fingerprintChars))
	}
	n, err := base64.RawStdEncoding.Strict().Decode(fp[:], []byte(body))
	if err != nil || n != len(fp) {
		return [32]byte{}, invalidFingerprint("not the canonical base64 encoding of 32 bytes (the last character has unused bits set)")
	}
	return fp, nil
}

func invalidFingerprint(reason string) error {
	return fmt.Errorf("%w: %s", ErrInvalidFingerprint, reason)
}

func prefixProblem(s string) string {
	switch {
	case len(s) >= len(FingerprintPrefix) && strings.EqualFold(s[:len(FingerprintPrefix)], FingerprintPrefix):
		return fmt.Sprintf("the prefix %q is case-sensitive", FingerprintPrefix)
	case strings.HasPrefix(s, "MD5:"):
		return fmt.Sprintf("MD5 fingerprints are not supported; want %q as `ssh-keygen -lf` prints", FingerprintPrefix)
	case len(s) == 2*sha256.Size && isHex(s):
		return fmt.Sprintf("looks like a hex digest; want %q and base64 as `ssh-keygen -lf` prints", FingerprintPrefix)
	default:
		return fmt.Sprintf("missing the prefix %q", FingerprintPrefix)
	}
}

func isStdBase64(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/'
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
