package routetoken

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Bounds of a key ring.
const (
	// MinSecretBytes is the shortest secret a [KeyRing] accepts.
	MinSecretBytes = 16
	// MaxSecretBytes is the longest secret a [KeyRing] accepts.
	MaxSecretBytes = 256
	// MaxKeyRingSpec bounds the text [ParseKeyRing] reads, in bytes.
	MaxKeyRingSpec = 64 << 10
)

// Key is one secret of a [KeyRing].
type Key struct {
	// ID is one character of [0-9a-z]; tokens carry it.
	ID string
	// Secret is the raw secret, MinSecretBytes to MaxSecretBytes long.
	Secret []byte
}

// KeyRing holds the secrets tokens are signed and verified with: one
// active key that signs, and older keys that still verify, so keys can be
// rotated without invalidating tokens in flight (docs/route-tokens.md).
//
// A KeyRing is immutable and safe for concurrent use. Printing or logging
// it shows the key ids only, never a secret.
type KeyRing struct {
	active *key
	keys   [36]*key // by keyIndex of the id
	ids    string   // every id, in [0-9a-z] order
}

// key is one secret with a pool of HMAC states keyed with it.
type key struct {
	id     string
	secret []byte
	macs   sync.Pool // of *macState
}

func (k *key) macState() *macState {
	if s, ok := k.macs.Get().(*macState); ok {
		return s
	}
	return &macState{h: hmac.New(sha256.New, k.secret), buf: make([]byte, 0, 128)}
}

// NewKeyRing returns a key ring holding keys, signing with the one whose ID
// is active. It copies the secrets. It fails when there are no keys, an id
// is not one character of [0-9a-z] or appears twice, a secret is shorter
// than MinSecretBytes or longer than MaxSecretBytes, or active is not
// among the ids. Error texts name key ids, never secrets.
func NewKeyRing(active string, keys ...Key) (*KeyRing, error) {
	if len(keys) == 0 {
		return nil, errors.New("routetoken: key ring has no keys")
	}
	r := &KeyRing{}
	for _, k := range keys {
		if !validKeyID(k.ID) {
			return nil, fmt.Errorf("routetoken: key id %q is not one character of [0-9a-z]", truncate(k.ID, 16))
		}
		i := keyIndex(k.ID[0])
		if r.keys[i] != nil {
			return nil, fmt.Errorf("routetoken: key id %q appears twice", k.ID)
		}
		if len(k.Secret) < MinSecretBytes || len(k.Secret) > MaxSecretBytes {
			return nil, fmt.Errorf("routetoken: key %q: secret is %d bytes, want %d to %d", k.ID, len(k.Secret), MinSecretBytes, MaxSecretBytes)
		}
		r.keys[i] = &key{id: k.ID, secret: bytes.Clone(k.Secret)}
	}
	if !validKeyID(active) || r.keys[keyIndex(active[0])] == nil {
		return nil, fmt.Errorf("routetoken: active key %q is not in the key ring", truncate(active, 16))
	}
	r.active = r.keys[keyIndex(active[0])]
	var ids strings.Builder
	for _, k := range r.keys {
		if k != nil {
			ids.WriteString(k.id)
		}
	}
	r.ids = ids.String()
	return r, nil
}

// ParseKeyRing parses the key ring setting (ROUTE_TOKENS__KEYS), a JSON
// object naming the active key and mapping each key id to its secret in
// base64 (standard alphabet, padding optional, an optional "base64:"
// prefix as OSEP-0011 configurations write it):
//
//	{"active": "b", "keys": {"a": "c2VjcmV0…", "b": "AAECAwQF…"}}
//
// Unknown fields, a field or key id given twice, and trailing data are
// errors, and so is anything [NewKeyRing] refuses. spec is bounded by
// MaxKeyRingSpec. Error texts name key ids and offsets, never secrets.
func ParseKeyRing(spec string) (*KeyRing, error) {
	if len(spec) > MaxKeyRingSpec {
		return nil, fmt.Errorf("routetoken: key ring is %d bytes, at most %d accepted", len(spec), MaxKeyRingSpec)
	}
	dec := json.NewDecoder(strings.NewReader(spec))
	// Syntax errors can quote a character of the input, which may belong
	// to a secret: report the offset only.
	syntax := func() error {
		return fmt.Errorf("routetoken: key ring is not valid JSON (near byte %d)", dec.InputOffset())
	}
	delim := func(want json.Delim) error {
		t, err := dec.Token()
		if d, ok := t.(json.Delim); err != nil || !ok || d != want {
			return syntax()
		}
		return nil
	}
	str := func() (string, error) {
		t, err := dec.Token()
		s, ok := t.(string)
		if err != nil || !ok {
			return "", syntax()
		}
		return s, nil
	}
	if err := delim('{'); err != nil {
		return nil, errors.New(`routetoken: key ring must be a JSON object {"active": "…", "keys": {…}}`)
	}
	var active string
	var keys []Key
	seen := map[string]bool{}
	for dec.More() {
		field, err := str()
		if err != nil {
			return nil, err
		}
		if seen[field] {
			return nil, fmt.Errorf("routetoken: key ring field %q appears twice", truncate(field, 16))
		}
		seen[field] = true
		switch field {
		case "active":
			if active, err = str(); err != nil {
				return nil, err
			}
		case "keys":
			if err := delim('{'); err != nil {
				return nil, errors.New(`routetoken: key ring "keys" must be an object of key id to base64 secret`)
			}
			ids := map[string]bool{}
			for dec.More() {
				id, err := str()
				if err != nil {
					return nil, err
				}
				if ids[id] {
					return nil, fmt.Errorf("routetoken: key id %q appears twice", truncate(id, 16))
				}
				ids[id] = true
				t, err := dec.Token()
				if err != nil {
					return nil, syntax()
				}
				text, ok := t.(string)
				if !ok {
					return nil, fmt.Errorf("routetoken: key %q: secret must be a base64 string", truncate(id, 16))
				}
				secret, err := DecodeSecret(text)
				if err != nil {
					return nil, fmt.Errorf("routetoken: key %q: %w", truncate(id, 16), err)
				}
				keys = append(keys, Key{ID: id, Secret: secret})
			}
			if err := delim('}'); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("routetoken: key ring has unknown field %q (want active, keys)", truncate(field, 16))
		}
	}
	if err := delim('}'); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("routetoken: key ring has data after the JSON object")
	}
	if !seen["active"] {
		return nil, errors.New(`routetoken: key ring lacks "active"`)
	}
	return NewKeyRing(active, keys...)
}

// DecodeSecret decodes a secret written in base64 (standard alphabet,
// padding optional, an optional "base64:" prefix). Its errors never quote
// the text.
func DecodeSecret(text string) ([]byte, error) {
	text = strings.TrimPrefix(strings.TrimSpace(text), "base64:")
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(text, "="))
	if err != nil {
		return nil, errors.New("secret is not valid base64")
	}
	return b, nil
}

// Active returns the id of the key that signs.
func (r *KeyRing) Active() string { return r.active.id }

// IDs returns the ids of every key, in [0-9a-z] order, as one string
// ("ab" for keys a and b).
func (r *KeyRing) IDs() string { return r.ids }

// lookup returns the key with id, or nil.
func (r *KeyRing) lookup(id string) *key {
	if len(id) != 1 {
		return nil
	}
	i := keyIndex(id[0])
	if i < 0 {
		return nil
	}
	return r.keys[i]
}

// SignShort returns a short token for c signed with the active key.
func (r *KeyRing) SignShort(c ShortClaims) (string, error) {
	return SignShort(r.active.secret, r.active.id, c)
}

// SignStrong returns a strong token for c signed with the active key.
func (r *KeyRing) SignStrong(c StrongClaims) (string, error) {
	return SignStrong(r.active.secret, r.active.id, c)
}

// VerifyShort checks a short token for the component id and port at now
// and returns it parsed. Errors are [*Error]: ErrMalformed,
// ErrMismatch (another id or port), ErrUnknownKey, ErrBadSignature, or
// ErrExpired (only for a token whose signature verified). The signature
// is compared in constant time.
func (r *KeyRing) VerifyShort(token, id string, port uint16, now time.Time) (ShortToken, error) {
	t, err := ParseShort(token)
	if err != nil {
		return ShortToken{}, err
	}
	if t.ID != id || t.Port != port {
		return ShortToken{}, fail(ErrMismatch, "another component id or port")
	}
	k := r.lookup(t.KeyID)
	if k == nil {
		return ShortToken{}, fail(ErrUnknownKey, "key id "+t.KeyID)
	}
	// The expiry text is the token's own: ParseExpires accepted only the
	// canonical form, so it equals FormatExpires(t.Expires).
	exp := token[len(t.ID)+1+portLen(t.Port)+1 : len(token)-sigLen-1]
	if !verifyShortSignature(k.secret, &t, exp) {
		return ShortToken{}, fail(ErrBadSignature, "short signature, key id "+t.KeyID)
	}
	if expired(now, t.Expires) {
		return ShortToken{}, fail(ErrExpired, "")
	}
	return t, nil
}

// portLen returns the number of decimal digits of p.
func portLen(p uint16) int {
	n := 1
	for p >= 10 {
		p /= 10
		n++
	}
	return n
}

// VerifyStrong checks a strong token for the component id, method and
// path prefix at now and returns it parsed. path must be the exact prefix
// the token was signed for; [Verifier] tries every prefix of the request
// path. Errors are [*Error]: ErrMalformed, ErrUnknownKey, ErrBadSignature
// (which is also what another id, method or path gives), or ErrExpired
// (only for a token whose MAC verified). The MAC is compared in constant
// time.
func (r *KeyRing) VerifyStrong(token, id, method, path string, now time.Time) (StrongToken, error) {
	t, k, err := r.parseStrong(token)
	if err != nil {
		return StrongToken{}, err
	}
	exp := expiresText(token)
	s := k.macState()
	defer k.macs.Put(s)
	if !hmac.Equal(t.MAC[:], s.mac(k.id, id, method, path, exp)) {
		return StrongToken{}, fail(ErrBadSignature, "strong MAC, key id "+t.KeyID)
	}
	if expired(now, t.Expires) {
		return StrongToken{}, fail(ErrExpired, "")
	}
	return t, nil
}

// parseStrong parses a strong token and finds its key.
func (r *KeyRing) parseStrong(token string) (StrongToken, *key, error) {
	t, err := ParseStrong(token)
	if err != nil {
		return StrongToken{}, nil, err
	}
	k := r.lookup(t.KeyID)
	if k == nil {
		return StrongToken{}, nil, fail(ErrUnknownKey, "key id "+t.KeyID)
	}
	return t, k, nil
}

// expiresText returns the expiry of a strong token that parsed.
func expiresText(token string) string {
	rest := token[len(strongPrefix)+2:]
	return rest[:strings.IndexByte(rest, '.')]
}

// expired reports whether now is past the last valid second expires.
func expired(now time.Time, expires uint64) bool {
	s := now.Unix()
	return s > 0 && uint64(s) > expires
}

// String shows the key ids and the active one, never a secret.
func (r *KeyRing) String() string {
	if r == nil {
		return "routetoken.KeyRing(nil)"
	}
	return "routetoken.KeyRing(active " + r.active.id + ", keys " + r.ids + ")"
}

// Format writes [KeyRing.String] for every verb, so no fmt verb can reveal
// a secret.
func (r *KeyRing) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, r.String()) }

// LogValue logs the active key id and the key ids.
func (r *KeyRing) LogValue() slog.Value {
	if r == nil {
		return slog.StringValue("")
	}
	return slog.GroupValue(slog.String("active", r.active.id), slog.String("keys", r.ids))
}

// truncate cuts s to at most n bytes, for quoting input in errors.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
