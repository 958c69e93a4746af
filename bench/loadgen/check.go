package loadgen

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Keyring maps a key id to its Ed25519 public key. Keys come from keystore
// directories laid out as osohost's software backend lays them out
// (<dir>/ED25519/<id>.pub, SubjectPublicKeyInfo DER), read again when an
// unknown id is asked for, or from PEM files given with an id.
type Keyring struct {
	mu   sync.RWMutex
	keys map[string]ed25519.PublicKey
	dirs []string
}

// NewKeyring returns a keyring that looks keys up in the keystore
// directories dirs.
func NewKeyring(dirs ...string) *Keyring {
	return &Keyring{keys: map[string]ed25519.PublicKey{}, dirs: dirs}
}

// AddPEM adds the public key in a PEM file (SubjectPublicKeyInfo) under id.
func (k *Keyring) AddPEM(id, file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return fmt.Errorf("loadgen: %s holds no PEM block", file)
	}
	pub, err := parseSPKI(blk.Bytes)
	if err != nil {
		return fmt.Errorf("loadgen: %s: %w", file, err)
	}
	k.mu.Lock()
	k.keys[id] = pub
	k.mu.Unlock()
	return nil
}

func parseSPKI(der []byte) (ed25519.PublicKey, error) {
	p, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, err
	}
	pub, ok := p.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("not an Ed25519 public key (%T)", p)
	}
	return pub, nil
}

// Lookup returns the public key of id.
func (k *Keyring) Lookup(id string) (ed25519.PublicKey, error) {
	k.mu.RLock()
	pub, ok := k.keys[id]
	k.mu.RUnlock()
	if ok {
		return pub, nil
	}
	if strings.ContainsAny(id, `/\.`) || id == "" {
		return nil, fmt.Errorf("loadgen: malformed key id %q", id)
	}
	for _, d := range k.dirs {
		der, err := os.ReadFile(filepath.Join(d, "ED25519", id+".pub"))
		if err != nil {
			continue
		}
		pub, err := parseSPKI(der)
		if err != nil {
			return nil, fmt.Errorf("loadgen: key %s: %w", id, err)
		}
		k.mu.Lock()
		k.keys[id] = pub
		k.mu.Unlock()
		return pub, nil
	}
	return nil, fmt.Errorf("loadgen: unknown key id %q", id)
}

// signedList is a DocumentList answer as the signer writes it.
type signedList struct {
	Documents []struct {
		ID       string `json:"id"`
		Content  string `json:"content"`
		Metadata string `json:"metadata"`
	} `json:"documents"`
	Count *int `json:"count"`
}

// The metadata text examples/signer writes (and the Python peer, through
// json.dumps with its default separators): key id, 128 hex digits,
// algorithm.
const (
	metaKey       = `{"key_id": "`
	metaSignature = `", "signature": "`
	metaEnd       = `", "algorithm": "ED25519"}`
)

// parseMetadata returns the key id and signature of one document's
// metadata, or an error unless it has exactly the signer's shape.
func parseMetadata(m string) (keyID string, sig []byte, err error) {
	rest, ok := strings.CutPrefix(m, metaKey)
	if !ok {
		return "", nil, errors.New("metadata does not start with key_id")
	}
	keyID, rest, ok = strings.Cut(rest, metaSignature)
	if !ok || keyID == "" || strings.ContainsAny(keyID, `"\`) {
		return "", nil, errors.New("metadata has no signature after key_id")
	}
	hexSig, ok := strings.CutSuffix(rest, metaEnd)
	if !ok || len(hexSig) != 2*ed25519.SignatureSize {
		return "", nil, errors.New("metadata has no 128-digit signature and algorithm ED25519")
	}
	for i := 0; i < len(hexSig); i++ {
		if c := hexSig[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", nil, errors.New("signature is not lowercase hex")
		}
	}
	sig, _ = hex.DecodeString(hexSig)
	return keyID, sig, nil
}

// Check verifies one answer to a POST of docs: HTTP 200, a DocumentList
// whose count and length equal the batch, the same ids and contents in
// the same order, every metadata in the signer's shape, and a valid
// signature: on document verifyAt (modulo the batch), or on every
// document when verifyAll. It returns the number of signatures verified.
func Check(status int, body []byte, docs []Doc, keys *Keyring, verifyAt int, verifyAll bool) (int, error) {
	if status != 200 {
		return 0, fmt.Errorf("status %d: %.200s", status, body)
	}
	var l signedList
	if err := json.Unmarshal(body, &l); err != nil {
		return 0, fmt.Errorf("answer is not a DocumentList: %v", err)
	}
	if l.Count == nil || *l.Count != len(docs) || len(l.Documents) != len(docs) {
		c := -1
		if l.Count != nil {
			c = *l.Count
		}
		return 0, fmt.Errorf("answer has count %d and %d documents for %d sent", c, len(l.Documents), len(docs))
	}
	verified := 0
	at := 0
	if len(docs) > 0 {
		at = verifyAt % len(docs)
	}
	for i, d := range l.Documents {
		if d.ID != docs[i].ID || d.Content != docs[i].Content {
			return verified, fmt.Errorf("document %d is %q, want %q (or its content differs)", i, d.ID, docs[i].ID)
		}
		id, sig, err := parseMetadata(d.Metadata)
		if err != nil {
			return verified, fmt.Errorf("document %d: %v: %.200s", i, err, d.Metadata)
		}
		if !verifyAll && i != at {
			continue
		}
		pub, err := keys.Lookup(id)
		if err != nil {
			return verified, fmt.Errorf("document %d: %v", i, err)
		}
		if !ed25519.Verify(pub, []byte(d.Content), sig) {
			return verified, fmt.Errorf("document %d: the signature does not verify with key %s", i, id)
		}
		verified++
	}
	return verified, nil
}
