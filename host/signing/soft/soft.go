package soft

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/osohost/osohost/host/signing"
	"github.com/osohost/osohost/host/signing/keystore"
)

// DefaultCacheSize is the number of unwrapped keys kept in memory when
// [Options.CacheSize] is 0.
const DefaultCacheSize = 1024

// ErrClosed is returned by every method of a closed [Signer].
var ErrClosed = errors.New("soft: signer closed")

// Options configure [New].
type Options struct {
	// Dir is the keystore directory (required); created with mode 0700 if
	// missing. See package keystore for the layout.
	Dir string
	// KEK is the 32-byte key-encryption key. Exactly one of KEK and
	// KEKFile must be set. New copies it.
	KEK []byte
	// KEKFile holds the 32-byte KEK, raw. If the file does not exist, New
	// creates it with mode 0600 and 32 random bytes. A file that group or
	// others may access is refused.
	KEKFile string
	// Concurrency bounds the goroutines one SignMany call uses; 0 means
	// runtime.GOMAXPROCS(0).
	Concurrency int
	// CacheSize bounds the unwrapped keys kept in memory (LRU); 0 means
	// DefaultCacheSize, negative disables the cache (every signature then
	// reads and unwraps its key).
	CacheSize int
}

// Signer is the software backend, a [signing.Signer]. It is safe for
// concurrent use.
type Signer struct {
	ks     *keystore.Keystore
	wrap   *wrapper
	conc   int
	cache  *lru.Cache[string, *privKey] // nil: no cache
	closed atomic.Bool
}

var _ signing.Signer = (*Signer)(nil)

// privKey is an unwrapped key pair. It formats and logs as REDACTED.
type privKey struct {
	t    signing.KeyType
	spki []byte
	ed   ed25519.PrivateKey    // for Ed25519
	k1   *secp256k1.PrivateKey // for Secp256k1
}

func (*privKey) Format(f fmt.State, _ rune) { f.Write([]byte("REDACTED")) }
func (*privKey) LogValue() slog.Value       { return slog.StringValue("REDACTED") }

// New opens the keystore in opts.Dir with the KEK opts names. If the
// keystore already holds keys of this backend, New checks that one of them
// was wrapped under this KEK and fails with [ErrWrongKEK] if not.
func New(opts Options) (*Signer, error) {
	if opts.Dir == "" {
		return nil, errors.New("soft: no keystore directory given")
	}
	var kek []byte
	switch {
	case opts.KEK != nil && opts.KEKFile != "":
		return nil, errors.New("soft: both KEK and KEKFile given; choose one")
	case opts.KEK != nil:
		kek = append([]byte(nil), opts.KEK...)
	case opts.KEKFile != "":
		var err error
		if kek, err = loadKEKFile(opts.KEKFile); err != nil {
			return nil, err
		}
	default:
		return nil, errors.New("soft: no key-encryption key given (KEK or KEKFile)")
	}
	w, err := newWrapper(kek)
	clear(kek)
	if err != nil {
		return nil, err
	}
	ks, err := keystore.Open(opts.Dir)
	if err != nil {
		return nil, err
	}
	s := &Signer{ks: ks, wrap: w, conc: opts.Concurrency}
	if s.conc <= 0 {
		s.conc = runtime.GOMAXPROCS(0)
	}
	size := opts.CacheSize
	if size == 0 {
		size = DefaultCacheSize
	}
	if size > 0 {
		if s.cache, err = lru.New[string, *privKey](size); err != nil {
			return nil, fmt.Errorf("soft: %w", err)
		}
	}
	if err := s.checkKEK(); err != nil {
		return nil, err
	}
	return s, nil
}

// checkKEK compares the KEK id of the first key of this backend found in
// the keystore with this KEK's.
func (s *Signer) checkKEK() error {
	for _, t := range keystore.Types() {
		ids, err := s.ks.List(t)
		if err != nil {
			return err
		}
		for _, id := range ids {
			_, blob, _, err := s.ks.Get(id)
			if err != nil || len(blob) < headerLen || string(blob[:len(magic)]) != magic {
				continue // not ours, or unreadable: Sign reports it
			}
			if [8]byte(blob[len(magic):len(magic)+8]) != s.wrap.kekID {
				return fmt.Errorf("%w: keystore %s holds keys wrapped under KEK id %x, this KEK's id is %x", ErrWrongKEK, s.ks.Dir(), blob[len(magic):len(magic)+8], s.wrap.kekID)
			}
			return nil
		}
	}
	return nil
}

func (s *Signer) check(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	return context.Cause(ctx)
}

// GenerateKey creates a key pair of type t, stores it wrapped and returns
// its id and SubjectPublicKeyInfo. Errors: signing.ErrUnsupportedKey,
// the keystore's, ctx's, [ErrClosed].
func (s *Signer) GenerateKey(ctx context.Context, t signing.KeyType) (signing.Key, error) {
	if err := s.check(ctx); err != nil {
		return signing.Key{}, err
	}
	id, err := keystore.NewID()
	if err != nil {
		return signing.Key{}, err
	}
	k := &privKey{t: t}
	var priv, pub []byte
	switch t {
	case signing.Ed25519:
		pk, sk, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return signing.Key{}, fmt.Errorf("soft: generate: %w", err)
		}
		k.ed, priv, pub = sk, sk.Seed(), pk
	case signing.Secp256k1:
		sk, err := secp256k1.GeneratePrivateKey()
		if err != nil {
			return signing.Key{}, fmt.Errorf("soft: generate: %w", err)
		}
		k.k1, priv, pub = sk, sk.Serialize(), sk.PubKey().SerializeUncompressed()
	default:
		return signing.Key{}, fmt.Errorf("soft: %q: %w", t, signing.ErrUnsupportedKey)
	}
	blob, err := s.wrap.seal(t, id, priv)
	clear(priv)
	if err != nil {
		return signing.Key{}, err
	}
	if k.spki, err = keystore.MarshalSPKI(t, pub); err != nil {
		return signing.Key{}, err
	}
	if err := s.ks.Put(t, id, blob, k.spki); err != nil {
		return signing.Key{}, err
	}
	if s.cache != nil {
		s.cache.Add(id, k)
	}
	return signing.Key{ID: id, Type: t, PublicKey: append([]byte(nil), k.spki...)}, nil
}

// ListKeys returns the ids of t's complete key pairs, sorted, whichever
// backend wrapped them.
func (s *Signer) ListKeys(ctx context.Context, t signing.KeyType) ([]string, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	return s.ks.List(t)
}

// PublicKey returns the key with that id without unwrapping it. Errors:
// signing.ErrUnknownKey (also for an id that is not a lowercase UUID),
// the keystore's, ctx's, [ErrClosed].
func (s *Signer) PublicKey(ctx context.Context, id string) (signing.Key, error) {
	if err := s.check(ctx); err != nil {
		return signing.Key{}, err
	}
	if s.cache != nil {
		if k, ok := s.cache.Get(id); ok {
			return signing.Key{ID: id, Type: k.t, PublicKey: append([]byte(nil), k.spki...)}, nil
		}
	}
	t, _, spki, err := s.ks.Get(id)
	if err != nil {
		return signing.Key{}, err
	}
	return signing.Key{ID: id, Type: t, PublicKey: spki}, nil
}

// Sign signs data with key id: for SECP256K1 data must be a 32-byte digest
// and the signature is r||s (64 bytes, low-S); for ED25519 data is the
// message (pure Ed25519). Errors: signing.ErrUnknownKey,
// signing.ErrBadInput, [ErrWrongKEK], [ErrCorruptKey], [ErrForeignKey],
// ctx's, [ErrClosed].
func (s *Signer) Sign(ctx context.Context, id string, data []byte) ([]byte, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	return s.sign(id, data)
}

func (s *Signer) sign(id string, data []byte) ([]byte, error) {
	k, err := s.key(id)
	if err != nil {
		return nil, err
	}
	return k.sign(data)
}

// SignMany signs every request on up to Options.Concurrency goroutines and
// returns one result per request, in order. If ctx ends first it returns
// ctx's error and no results.
func (s *Signer) SignMany(ctx context.Context, reqs []signing.SignRequest) ([]signing.SignResult, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	res := make([]signing.SignResult, len(reqs))
	workers := min(s.conc, len(reqs))
	if workers <= 1 {
		for i, r := range reqs {
			if err := context.Cause(ctx); err != nil {
				return nil, err
			}
			res[i].Signature, res[i].Err = s.sign(r.KeyID, r.Data)
		}
		return res, nil
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(reqs) {
					return
				}
				res[i].Signature, res[i].Err = s.sign(reqs[i].KeyID, reqs[i].Data)
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return res, nil
}

// Health reports whether the keystore directory can be read.
func (s *Signer) Health(ctx context.Context) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if fi, err := os.Stat(s.ks.Dir()); err != nil || !fi.IsDir() {
		return fmt.Errorf("soft: keystore directory not accessible: %w", signing.ErrUnavailable)
	}
	return nil
}

// Close drops the unwrapped keys; later calls fail with [ErrClosed].
func (s *Signer) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if s.cache != nil {
		s.cache.Purge()
	}
	return nil
}

// key returns the unwrapped key id, from the cache or the keystore.
func (s *Signer) key(id string) (*privKey, error) {
	if s.cache != nil {
		if k, ok := s.cache.Get(id); ok {
			return k, nil
		}
	}
	t, blob, spki, err := s.ks.Get(id)
	if err != nil {
		return nil, err
	}
	priv, err := s.wrap.open(t, id, blob)
	if err != nil {
		return nil, err
	}
	defer clear(priv)
	k := &privKey{t: t, spki: spki}
	switch {
	case len(priv) != 32:
		return nil, fmt.Errorf("key %s: %w", id, ErrCorruptKey)
	case t == signing.Ed25519:
		k.ed = ed25519.NewKeyFromSeed(priv)
	case t == signing.Secp256k1:
		k.k1 = secp256k1.PrivKeyFromBytes(priv)
	}
	if s.cache != nil {
		s.cache.Add(id, k)
	}
	return k, nil
}

func (k *privKey) sign(data []byte) ([]byte, error) {
	switch k.t {
	case signing.Secp256k1:
		if len(data) != 32 {
			return nil, fmt.Errorf("soft: SECP256K1 signs a 32-byte digest, not %d bytes: %w", len(data), signing.ErrBadInput)
		}
		sig := ecdsa.Sign(k.k1, data)
		r, sv := sig.R(), sig.S()
		if sv.IsOverHalfOrder() { // ecdsa.Sign already returns low-S; keep the contract explicit
			sv.Negate()
		}
		out := make([]byte, 64)
		r.PutBytesUnchecked(out[:32])
		sv.PutBytesUnchecked(out[32:])
		return out, nil
	case signing.Ed25519:
		return ed25519.Sign(k.ed, data), nil
	}
	return nil, fmt.Errorf("soft: %q: %w", k.t, signing.ErrUnsupportedKey)
}
