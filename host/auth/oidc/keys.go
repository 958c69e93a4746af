package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Bounds of what the issuer sends.
const (
	maxDiscoverySize = 64 << 10  // bytes of the discovery document
	maxJWKSSize      = 256 << 10 // bytes of the key set
	maxJWKSKeys      = 100       // keys in the key set
	minRSABits       = 2048
)

// keySet holds the issuer's signing keys. It fetches the discovery
// document until it succeeds once, then the key set at its jwks_uri: when
// a token names a key it does not hold, and when the keys are past their
// freshness. Fetches started by tokens are at most one per minGap, and
// concurrent needs share one fetch.
//
// Keys past their freshness are still used while a fetch runs in the
// background, and while fetches fail, up to MaxKeyAge after the last
// successful one.
type keySet struct {
	issuer     string
	client     *http.Client
	timeout    time.Duration
	minGap     time.Duration
	defaultTTL time.Duration
	now        func() time.Time
	log        *slog.Logger

	mu        sync.Mutex
	jwksURI   string            // from discovery; empty until it succeeds
	keys      []jose.JSONWebKey // nil until a fetch succeeds
	fetched   time.Time         // when keys were fetched
	expires   time.Time         // when keys stop being fresh
	attempted time.Time         // when the last fetch started
	tried     bool              // a fetch has started
	lastErr   error             // of the last fetch
	flight    *flight           // the fetch under way, if any
}

// flight is one fetch; done is closed when it ends, err is set before.
type flight struct {
	done chan struct{}
	err  error
}

// errUnknownKey means the token names a key the issuer does not publish.
var errUnknownKey = errors.New("no key of the issuer has this kid")

// lookup returns the keys a token whose header names kid may be signed
// with: those with that kid, or every key when kid is empty.
func (s *keySet) lookup(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	s.mu.Lock()
	now := s.now()
	usable := s.usableLocked(now)
	if usable {
		if ks := match(s.keys, kid); len(ks) > 0 {
			if !now.Before(s.expires) && s.flight == nil && s.mayFetchLocked(now) {
				s.startLocked(now) // refresh in the background
			}
			s.mu.Unlock()
			return ks, nil
		}
	}
	f := s.flight
	if f == nil {
		if !s.mayFetchLocked(now) {
			err := s.lastErr
			s.mu.Unlock()
			if usable {
				return nil, fmt.Errorf("%w: %w (kid %.64q; key set fetched less than %v ago)", ErrInvalidToken, errUnknownKey, kid, s.minGap)
			}
			return nil, unavailable(err)
		}
		f = s.startLocked(now)
	}
	s.mu.Unlock()

	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-f.done:
	}
	if f.err != nil {
		return nil, unavailable(f.err)
	}
	s.mu.Lock()
	ks := match(s.keys, kid)
	s.mu.Unlock()
	if len(ks) == 0 {
		return nil, fmt.Errorf("%w: %w (kid %.64q)", ErrInvalidToken, errUnknownKey, kid)
	}
	return ks, nil
}

// ready returns nil if usable keys are held, else fetches them as lookup
// does for an unknown key.
func (s *keySet) ready(ctx context.Context) error {
	s.mu.Lock()
	now := s.now()
	if s.usableLocked(now) {
		s.mu.Unlock()
		return nil
	}
	f := s.flight
	if f == nil {
		if !s.mayFetchLocked(now) {
			err := s.lastErr
			s.mu.Unlock()
			return unavailable(err)
		}
		f = s.startLocked(now)
	}
	s.mu.Unlock()
	select {
	case <-ctx.Done():
		return unavailable(ctx.Err())
	case <-f.done:
	}
	if f.err != nil {
		return unavailable(f.err)
	}
	return nil
}

func unavailable(cause error) error {
	if cause == nil {
		return ErrUnavailable
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, cause)
}

func (s *keySet) usableLocked(now time.Time) bool {
	return s.keys != nil && now.Sub(s.fetched) < MaxKeyAge
}

func (s *keySet) mayFetchLocked(now time.Time) bool {
	return !s.tried || now.Sub(s.attempted) >= s.minGap
}

// startLocked starts a fetch. The caller holds s.mu and has checked that
// none is under way.
func (s *keySet) startLocked(now time.Time) *flight {
	f := &flight{done: make(chan struct{})}
	s.flight, s.attempted, s.tried = f, now, true
	uri := s.jwksURI
	go s.fetch(f, uri)
	return f
}

// fetch runs one flight: discovery if uri is empty, then the key set.
// Each request is bounded by s.timeout whatever the callers' contexts.
func (s *keySet) fetch(f *flight, uri string) {
	var (
		keys []jose.JSONWebKey
		ttl  time.Duration
		err  error
	)
	if uri == "" {
		uri, err = s.discover()
	}
	if err == nil {
		keys, ttl, err = s.fetchKeys(uri)
	}

	s.mu.Lock()
	now := s.now()
	if uri != "" {
		s.jwksURI = uri
	}
	if err == nil {
		s.keys, s.fetched, s.expires = keys, now, now.Add(ttl)
	}
	s.lastErr, s.flight, f.err = err, nil, err
	s.mu.Unlock()
	close(f.done)

	if err != nil {
		s.log.Warn("oidc: fetching the issuer's keys failed", "issuer", s.issuer, "err", err)
		return
	}
	s.log.Info("oidc: issuer keys fetched", "issuer", s.issuer, "jwks_uri", uri, "keys", len(keys), "fresh_for", ttl.String())
}

// discover fetches the discovery document and returns its jwks_uri.
func (s *keySet) discover() (string, error) {
	u := strings.TrimSuffix(s.issuer, "/") + "/.well-known/openid-configuration"
	body, _, err := s.get(u, maxDiscoverySize)
	if err != nil {
		return "", fmt.Errorf("discovery: %w", err)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("discovery: %s: %w", u, err)
	}
	if doc.Issuer != s.issuer {
		return "", fmt.Errorf("discovery: %s names issuer %.256q, not %q", u, doc.Issuer, s.issuer)
	}
	if err := checkURL(doc.JWKSURI, true); err != nil {
		return "", fmt.Errorf("discovery: %s: jwks_uri: %w", u, err)
	}
	return doc.JWKSURI, nil
}

// fetchKeys fetches the key set at uri and returns its usable keys and
// how long they are fresh.
func (s *keySet) fetchKeys(uri string) ([]jose.JSONWebKey, time.Duration, error) {
	body, h, err := s.get(uri, maxJWKSSize)
	if err != nil {
		return nil, 0, fmt.Errorf("key set: %w", err)
	}
	keys, err := parseKeySet(body)
	if err != nil {
		return nil, 0, fmt.Errorf("key set: %s: %w", uri, err)
	}
	ttl := s.defaultTTL
	if maxAge, ok := parseMaxAge(h.Values("Cache-Control")); ok {
		ttl = min(max(maxAge, s.minGap), MaxJWKSTTL)
	}
	return keys, ttl, nil
}

// get fetches u and returns its body of at most limit bytes.
func (s *keySet) get(u string, limit int64) ([]byte, http.Header, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer drain(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("%s: HTTP status %d", u, resp.StatusCode)
	}
	if resp.ContentLength > limit {
		return nil, nil, fmt.Errorf("%s: %d bytes, more than %d", u, resp.ContentLength, limit)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", u, err)
	}
	if int64(len(body)) > limit {
		return nil, nil, fmt.Errorf("%s: more than %d bytes", u, limit)
	}
	return body, resp.Header, nil
}

// parseKeySet returns the keys of a JWK set that can verify the accepted
// algorithms: RSA keys of at least 2048 bits, ECDSA P-256 keys and Ed25519
// keys, public parts only, whose "use" is "sig" or absent and whose "alg",
// if any, is accepted. Other keys (encryption keys, symmetric keys, other
// curves, unknown types) are skipped. It fails when no key is usable.
func parseKeySet(body []byte) ([]jose.JSONWebKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, err
	}
	if len(set.Keys) > maxJWKSKeys {
		return nil, fmt.Errorf("%d keys, more than %d", len(set.Keys), maxJWKSKeys)
	}
	var keys []jose.JSONWebKey
	for _, raw := range set.Keys {
		var meta struct {
			Use string `json:"use"`
			Alg string `json:"alg"`
		}
		if json.Unmarshal(raw, &meta) != nil {
			continue
		}
		if (meta.Use != "" && meta.Use != "sig") || (meta.Alg != "" && !accepted(meta.Alg)) {
			continue
		}
		var k jose.JSONWebKey
		if k.UnmarshalJSON(raw) != nil {
			continue
		}
		k = k.Public()
		if !k.Valid() {
			continue
		}
		switch pub := k.Key.(type) {
		case *rsa.PublicKey:
			if pub.N.BitLen() < minRSABits {
				continue
			}
		case *ecdsa.PublicKey:
			if pub.Curve != elliptic.P256() {
				continue
			}
		case ed25519.PublicKey:
		default:
			continue
		}
		k.Certificates = nil // not needed; keep the cache small
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no usable signing key among %d (RS256 of %d bits or more, ES256 or EdDSA)", len(set.Keys), minRSABits)
	}
	return keys, nil
}

func accepted(alg string) bool {
	for _, a := range allowedAlgs {
		if string(a) == alg {
			return true
		}
	}
	return false
}

// match returns the keys with the given kid, or all keys when kid is empty.
func match(keys []jose.JSONWebKey, kid string) []jose.JSONWebKey {
	if kid == "" {
		return keys
	}
	var out []jose.JSONWebKey
	for _, k := range keys {
		if k.KeyID == kid {
			out = append(out, k)
		}
	}
	return out
}

// parseMaxAge returns the freshness lifetime Cache-Control header values
// give: the smallest max-age, or zero for no-cache or no-store. ok is
// false when they say nothing about it.
func parseMaxAge(values []string) (d time.Duration, ok bool) {
	for _, v := range values {
		for dir := range strings.SplitSeq(v, ",") {
			name, arg, _ := strings.Cut(strings.TrimSpace(dir), "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-cache", "no-store":
				return 0, true
			case "max-age":
				arg = strings.Trim(strings.TrimSpace(arg), `"`)
				n, err := strconv.ParseUint(arg, 10, 64)
				if err != nil {
					if ne, isNum := err.(*strconv.NumError); !isNum || ne.Err != strconv.ErrRange {
						continue
					}
					n = uint64(MaxJWKSTTL / time.Second)
				}
				age := time.Duration(min(n, uint64(MaxJWKSTTL/time.Second))) * time.Second
				if !ok || age < d {
					d, ok = age, true
				}
			}
		}
	}
	return d, ok
}

// checkURL checks that s is an absolute https URL, or an http URL of a
// loopback host, without user information or fragment; query is whether a
// query is allowed.
func checkURL(s string, query bool) error {
	if s == "" {
		return errors.New("required")
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("not a URL: %.256q", s)
	}
	switch {
	case u.Host == "":
		return fmt.Errorf("%.256q has no host", s)
	case u.User != nil:
		return fmt.Errorf("%.256q must not carry user information", s)
	case u.Fragment != "" || (!query && (u.RawQuery != "" || u.ForceQuery)):
		return fmt.Errorf("%.256q must not have a query or fragment", s)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
		return fmt.Errorf("%.256q must use https (http is allowed for loopback hosts only)", s)
	}
	return fmt.Errorf("%.256q must use https", s)
}
