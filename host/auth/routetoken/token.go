package routetoken

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"path"
	"strconv"
	"strings"
)

// Limits of the token formats. Longer input is refused before it is parsed.
const (
	// MaxTokenLength bounds a token of either format, in bytes.
	MaxTokenLength = 512
	// MaxIDLength bounds a component id, in bytes.
	MaxIDLength = 128
	// MaxExpiresLength is the most base-36 digits an expiry has: uint64's
	// maximum, 18446744073709551615, is "3w5e11264sgsf".
	MaxExpiresLength = 13
	// MaxPathLength bounds the path prefix a strong token binds, in bytes.
	MaxPathLength = 1024
	// MaxMethodLength bounds the method a strong token binds, in bytes.
	MaxMethodLength = 32
)

const (
	shortVersion = "v1\nshort\n"
	sigHexLen    = 8 // hex digits of the SHA-256 in a short signature
	sigLen       = sigHexLen + 1
	strongPrefix = "s1."
	strongTag    = "osohost-route-token/s1"
	macLen       = sha256.Size
	macTextLen   = 43 // base64url of 32 bytes without padding
)

// macEncoding is unpadded base64url that refuses non-zero trailing bits, so
// a MAC has exactly one text form.
var macEncoding = base64.RawURLEncoding.Strict()

// ShortClaims is what an OSEP-0011 short token grants: a component id on a
// port until an expiry.
type ShortClaims struct {
	// ID is the component id (OSEP-0011's sandbox id): 1 to MaxIDLength
	// bytes of [A-Za-z0-9_-]. It may contain '-'.
	ID string
	// Port is the port the token is for, 1 to 65535.
	Port uint16
	// Expires is the last second the token is valid, in Unix seconds.
	Expires uint64
}

// ShortToken is a parsed short token.
type ShortToken struct {
	ShortClaims
	// KeyID is the one-character id of the key that signed it.
	KeyID string
	// Signature is the eight lowercase hex digits of the truncated SHA-256,
	// without the key id.
	Signature string
}

// StrongClaims is what a strong token grants: requests of one method under
// one path prefix to one component until an expiry.
type StrongClaims struct {
	// ID is the component id, as for [ShortClaims.ID].
	ID string
	// Method is the HTTP method, matched exactly (case included): 1 to
	// MaxMethodLength token characters.
	Method string
	// Path is the path prefix, as the plugin routes see it (after the
	// carrier is stripped), decoded: it starts with '/', is clean
	// (path.Clean leaves it unchanged: no "//", ".", ".." or trailing
	// slash except for "/" itself), has no control characters and at
	// most MaxPathLength bytes. "/api" allows "/api" and "/api/…", not
	// "/apiary".
	Path string
	// Expires is the last second the token is valid, in Unix seconds.
	Expires uint64
}

// StrongToken is a parsed strong token. The claims it was signed over
// are not in it: the verifier takes them from the request and its
// configuration.
type StrongToken struct {
	// KeyID is the one-character id of the key that signed it.
	KeyID string
	// Expires is the last second the token is valid, in Unix seconds.
	Expires uint64
	// MAC is the HMAC-SHA256.
	MAC [macLen]byte
}

// FormatExpires returns sec in base 36, lowercase, without leading zeros
// (0 is "0"): the expiry as a token carries it.
func FormatExpires(sec uint64) string { return strconv.FormatUint(sec, 36) }

// ParseExpires parses an expiry in the form [FormatExpires] writes: 1 to
// MaxExpiresLength characters of [0-9a-z], no leading zero unless the
// value is 0, at most the maximum uint64. Errors are [*Error] of kind
// [ErrMalformed].
func ParseExpires(s string) (uint64, error) {
	if s == "" {
		return 0, fail(ErrMalformed, "empty expiry")
	}
	if len(s) > MaxExpiresLength {
		return 0, fail(ErrMalformed, "expiry longer than 13 characters")
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) && (s[i] < 'a' || s[i] > 'z') {
			return 0, fail(ErrMalformed, "expiry is not lowercase base 36")
		}
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, fail(ErrMalformed, "expiry has leading zeros")
	}
	v, err := strconv.ParseUint(s, 36, 64)
	if err != nil {
		return 0, fail(ErrMalformed, "expiry beyond uint64")
	}
	return v, nil
}

// parsePort parses a decimal port 1..65535 without leading zeros.
func parsePort(s string) (uint16, error) {
	if s == "" || len(s) > 5 || s[0] == '0' {
		return 0, fail(ErrMalformed, "bad port")
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, fail(ErrMalformed, "bad port")
		}
		n = n*10 + int(s[i]-'0')
	}
	if n > 65535 {
		return 0, fail(ErrMalformed, "bad port")
	}
	return uint16(n), nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// validKeyID reports whether id is one character of [0-9a-z].
func validKeyID(id string) bool {
	return len(id) == 1 && keyIndex(id[0]) >= 0
}

// keyIndex maps a key id character to 0..35, or -1.
func keyIndex(c byte) int {
	switch {
	case isDigit(c):
		return int(c - '0')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 10
	}
	return -1
}

// ValidID reports whether id can be a component id: 1 to MaxIDLength
// bytes of [A-Za-z0-9_-].
func ValidID(id string) bool {
	if id == "" || len(id) > MaxIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !isDigit(c) && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// validMethod reports whether m is 1 to MaxMethodLength RFC 9110 token
// characters.
func validMethod(m string) bool {
	if m == "" || len(m) > MaxMethodLength {
		return false
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		if isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// validPath reports whether p can be the path prefix of a strong token (see
// [StrongClaims.Path]).
func validPath(p string) bool {
	if p == "" || len(p) > MaxPathLength || p[0] != '/' || path.Clean(p) != p {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 0x20 || p[i] == 0x7f {
			return false
		}
	}
	return true
}

// Canonical returns the bytes a short token signs:
// "v1\nshort\n{id}\n{port}\n{expires_b36}\n".
func Canonical(c ShortClaims) []byte {
	return appendCanonical(nil, c.ID, c.Port, FormatExpires(c.Expires))
}

func appendCanonical(b []byte, id string, port uint16, expires string) []byte {
	b = append(b, shortVersion...)
	b = append(b, id...)
	b = append(b, '\n')
	b = strconv.AppendUint(b, uint64(port), 10)
	b = append(b, '\n')
	b = append(b, expires...)
	return append(b, '\n')
}

// shortSignature returns the eight hex digits of
// SHA256(BE32(len(secret)) || secret || BE32(len(canonical)) || canonical).
func shortSignature(secret []byte, id string, port uint16, expires string) [sigHexLen]byte {
	var buf [512]byte
	inner := binary.BigEndian.AppendUint32(buf[:0], uint32(len(secret)))
	inner = append(inner, secret...)
	lenAt := len(inner)
	inner = append(inner, 0, 0, 0, 0)
	inner = appendCanonical(inner, id, port, expires)
	binary.BigEndian.PutUint32(inner[lenAt:], uint32(len(inner)-lenAt-4))
	sum := sha256.Sum256(inner)
	var out [sigHexLen]byte
	hex.Encode(out[:], sum[:sigHexLen/2])
	return out
}

// SignShort returns the OSEP-0011 short token
// "{id}-{port}-{expires_b36}-{signature}" for c, signed with secret under
// keyID (one character of [0-9a-z]). Any secret length is accepted, as
// OSEP-0011 does; a [KeyRing] requires at least MinSecretBytes.
func SignShort(secret []byte, keyID string, c ShortClaims) (string, error) {
	if err := checkShortClaims(keyID, c); err != nil {
		return "", err
	}
	exp := FormatExpires(c.Expires)
	sig := shortSignature(secret, c.ID, c.Port, exp)
	b := make([]byte, 0, len(c.ID)+1+5+1+len(exp)+1+sigLen)
	b = append(b, c.ID...)
	b = append(b, '-')
	b = strconv.AppendUint(b, uint64(c.Port), 10)
	b = append(b, '-')
	b = append(b, exp...)
	b = append(b, '-')
	b = append(b, sig[:]...)
	b = append(b, keyID...)
	return string(b), nil
}

func checkShortClaims(keyID string, c ShortClaims) error {
	switch {
	case !validKeyID(keyID):
		return fail(ErrMalformed, "key id must be one character of [0-9a-z]")
	case !ValidID(c.ID):
		return fail(ErrMalformed, "component id must be 1 to 128 characters of [A-Za-z0-9_-]")
	case c.Port == 0:
		return fail(ErrMalformed, "port must be 1 to 65535")
	}
	return nil
}

// ParseShort parses a short token from the right, so the id may contain
// '-'. It checks the shape only, never the signature. Errors are [*Error]
// of kind [ErrMalformed].
func ParseShort(token string) (ShortToken, error) {
	var t ShortToken
	if len(token) > MaxTokenLength {
		return t, fail(ErrMalformed, "token too long")
	}
	rest, sig, ok := cutLast(token, '-')
	if !ok {
		return t, fail(ErrMalformed, "not {id}-{port}-{expires}-{signature}")
	}
	rest, exp, ok := cutLast(rest, '-')
	if !ok {
		return t, fail(ErrMalformed, "not {id}-{port}-{expires}-{signature}")
	}
	id, port, ok := cutLast(rest, '-')
	if !ok {
		return t, fail(ErrMalformed, "not {id}-{port}-{expires}-{signature}")
	}
	if len(sig) != sigLen || keyIndex(sig[sigHexLen]) < 0 {
		return t, fail(ErrMalformed, "signature is not 8 lowercase hex digits and a key id")
	}
	for i := 0; i < sigHexLen; i++ {
		if c := sig[i]; !isDigit(c) && (c < 'a' || c > 'f') {
			return t, fail(ErrMalformed, "signature is not 8 lowercase hex digits and a key id")
		}
	}
	var err error
	if t.Expires, err = ParseExpires(exp); err != nil {
		return ShortToken{}, err
	}
	if t.Port, err = parsePort(port); err != nil {
		return ShortToken{}, err
	}
	if !ValidID(id) {
		return ShortToken{}, fail(ErrMalformed, "bad component id")
	}
	t.ID = id
	t.Signature = sig[:sigHexLen]
	t.KeyID = sig[sigHexLen:]
	return t, nil
}

// cutLast splits s around its last sep; both sides must be non-empty.
func cutLast(s string, sep byte) (before, after string, ok bool) {
	i := strings.LastIndexByte(s, sep)
	if i <= 0 || i == len(s)-1 {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

// verifyShortSignature reports, in constant time, whether sig (8 hex
// digits) is the signature of the claims under secret.
func verifyShortSignature(secret []byte, t *ShortToken, expires string) bool {
	want := shortSignature(secret, t.ID, t.Port, expires)
	return subtle.ConstantTimeCompare(want[:], []byte(t.Signature)) == 1
}

// SignStrong returns the strong token "s1.{key_id}.{expires_b36}.{mac}"
// for c, where mac is the unpadded base64url HMAC-SHA256, keyed with
// secret, of the fields "osohost-route-token/s1", key id, component id,
// method, path and expires_b36, each preceded by its length as a 4-byte
// big-endian integer. Any secret length is accepted; a [KeyRing] requires
// at least MinSecretBytes.
func SignStrong(secret []byte, keyID string, c StrongClaims) (string, error) {
	if err := checkStrongClaims(keyID, c); err != nil {
		return "", err
	}
	exp := FormatExpires(c.Expires)
	var s macState
	s.h = hmac.New(sha256.New, secret)
	mac := s.mac(keyID, c.ID, c.Method, c.Path, exp)
	b := make([]byte, 0, len(strongPrefix)+2+len(exp)+1+macTextLen)
	b = append(b, strongPrefix...)
	b = append(b, keyID...)
	b = append(b, '.')
	b = append(b, exp...)
	b = append(b, '.')
	b = macEncoding.AppendEncode(b, mac)
	return string(b), nil
}

func checkStrongClaims(keyID string, c StrongClaims) error {
	switch {
	case !validKeyID(keyID):
		return fail(ErrMalformed, "key id must be one character of [0-9a-z]")
	case !ValidID(c.ID):
		return fail(ErrMalformed, "component id must be 1 to 128 characters of [A-Za-z0-9_-]")
	case !validMethod(c.Method):
		return fail(ErrMalformed, "method must be an HTTP method token")
	case !validPath(c.Path):
		return fail(ErrMalformed, "path must be a clean absolute path without a trailing slash")
	}
	return nil
}

// ParseStrong parses a strong token. It checks the shape only, never the
// MAC. Errors are [*Error] of kind [ErrMalformed].
func ParseStrong(token string) (StrongToken, error) {
	var t StrongToken
	if len(token) > MaxTokenLength {
		return t, fail(ErrMalformed, "token too long")
	}
	rest, ok := strings.CutPrefix(token, strongPrefix)
	if !ok {
		return t, fail(ErrMalformed, "not s1.{key_id}.{expires}.{mac}")
	}
	keyID, rest, ok1 := strings.Cut(rest, ".")
	exp, mac, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 {
		return t, fail(ErrMalformed, "not s1.{key_id}.{expires}.{mac}")
	}
	if !validKeyID(keyID) {
		return t, fail(ErrMalformed, "bad key id")
	}
	var err error
	if t.Expires, err = ParseExpires(exp); err != nil {
		return StrongToken{}, err
	}
	if len(mac) != macTextLen {
		return StrongToken{}, fail(ErrMalformed, "MAC is not 43 base64url characters")
	}
	if n, err := macEncoding.Decode(t.MAC[:], []byte(mac)); err != nil || n != macLen {
		return StrongToken{}, fail(ErrMalformed, "MAC is not 43 base64url characters")
	}
	t.KeyID = keyID
	return t, nil
}

// macState is an HMAC-SHA256 keyed with one secret and a scratch buffer.
// It is not safe for concurrent use; a key pools them.
type macState struct {
	h   hash.Hash
	buf []byte
	sum [macLen]byte
}

// mac returns the strong MAC of the fields, valid until the next call.
func (s *macState) mac(keyID, id, method, p, expires string) []byte {
	b := s.buf[:0]
	for _, f := range [...]string{strongTag, keyID, id, method, p, expires} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	s.buf = b
	s.h.Reset()
	s.h.Write(b)
	return s.h.Sum(s.sum[:0])
}
