package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// maxClaimsBody bounds the claims of one POST /token.
const maxClaimsBody = 64 << 10

// signingKey is one key of the issuer.
type signingKey struct {
	kid    string
	alg    jose.SignatureAlgorithm
	signer crypto.Signer
}

// newKey returns a fresh key for alg with a random key id.
func newKey(alg string) (signingKey, error) {
	var (
		k   = signingKey{alg: jose.SignatureAlgorithm(alg)}
		err error
	)
	switch k.alg {
	case jose.RS256:
		k.signer, err = rsa.GenerateKey(rand.Reader, 2048)
	case jose.ES256:
		k.signer, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.EdDSA:
		_, k.signer, err = ed25519.GenerateKey(rand.Reader)
	default:
		return k, fmt.Errorf("%w %q; want RS256, ES256 or EdDSA", errUnsupported, alg)
	}
	if err != nil {
		return k, err
	}
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	k.kid = hex.EncodeToString(id)
	return k, nil
}

// issuer holds the keys and serves the endpoints.
type issuer struct {
	name     string // the issuer URL
	base     string // where it is served
	keepOld  bool
	maxAge   int
	tokenTTL time.Duration
	now      func() time.Time

	mu   sync.Mutex
	keys []signingKey // the current key last

	discoveryHits, jwksHits, tokens atomic.Int64
}

func newIssuer(name, base string, c config, now func() time.Time) (*issuer, error) {
	k, err := newKey(c.alg)
	if err != nil {
		return nil, err
	}
	return &issuer{
		name: name, base: base, keepOld: c.keepOld, maxAge: c.maxAge,
		tokenTTL: c.tokenTTL, now: now, keys: []signingKey{k},
	}, nil
}

func (s *issuer) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", s.discovery)
	mux.HandleFunc("GET /jwks", s.jwks)
	mux.HandleFunc("POST /token", s.token)
	mux.HandleFunc("POST /rotate", s.rotate)
	mux.HandleFunc("GET /stats", s.stats)
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *issuer) discovery(w http.ResponseWriter, _ *http.Request) {
	s.discoveryHits.Add(1)
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                s.name,
		"jwks_uri":                              s.base + "/jwks",
		"token_endpoint":                        s.base + "/token",
		"response_types_supported":              []string{"token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256", "ES256", "EdDSA"},
	})
}

func (s *issuer) jwks(w http.ResponseWriter, _ *http.Request) {
	s.jwksHits.Add(1)
	s.mu.Lock()
	set := jose.JSONWebKeySet{}
	for _, k := range s.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.signer.Public(), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"})
	}
	s.mu.Unlock()
	if s.maxAge >= 0 {
		w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(s.maxAge))
	}
	writeJSON(w, http.StatusOK, set)
}

func (s *issuer) token(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxClaimsBody))
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": err.Error()})
		return
	}
	claims := map[string]any{}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &claims); err != nil || claims == nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be a JSON object of claims"})
			return
		}
	}
	now := s.now()
	for name, v := range map[string]any{"iss": s.name, "iat": now.Unix(), "exp": now.Add(s.tokenTTL).Unix()} {
		if _, set := claims[name]; !set {
			claims[name] = v
		}
	}
	for name, v := range claims {
		if v == nil {
			delete(claims, name)
		}
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	s.mu.Lock()
	k := s.keys[len(s.keys)-1]
	s.mu.Unlock()
	kid := k.kid
	if q := r.URL.Query(); q.Has("kid") {
		kid = q.Get("kid")
	}
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.signer}, opts)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	jws, err := signer.Sign(payload)
	if err == nil {
		var token string
		if token, err = jws.CompactSerialize(); err == nil {
			s.tokens.Add(1)
			writeJSON(w, http.StatusOK, map[string]string{"access_token": token, "token_type": "Bearer", "kid": kid})
			return
		}
	}
	writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
}

func (s *issuer) rotate(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	keep := s.keepOld
	if q.Has("keep") {
		var err error
		if keep, err = strconv.ParseBool(q.Get("keep")); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "keep must be true or false"})
			return
		}
	}
	s.mu.Lock()
	alg := string(s.keys[len(s.keys)-1].alg)
	s.mu.Unlock()
	if q.Has("alg") {
		alg = q.Get("alg")
	}
	k, err := newKey(alg)
	if err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, errUnsupported) {
			status = http.StatusBadRequest
		}
		writeJSON(w, status, map[string]string{"error": err.Error()})
		return
	}
	s.mu.Lock()
	if keep {
		s.keys = append(s.keys, k)
	} else {
		s.keys = []signingKey{k}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"kid": k.kid})
}

// errUnsupported is newKey's error for an algorithm it does not know.
var errUnsupported = errors.New("unsupported algorithm")

func (s *issuer) stats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]int64{
		"discovery": s.discoveryHits.Load(),
		"jwks":      s.jwksHits.Load(),
		"tokens":    s.tokens.Load(),
	})
}
