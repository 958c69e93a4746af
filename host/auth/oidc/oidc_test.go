package oidc_test

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/osohost/osohost/host/auth"
	"github.com/osohost/osohost/host/auth/mtls"
	"github.com/osohost/osohost/host/auth/multi"
	"github.com/osohost/osohost/host/auth/oidc"
	"github.com/osohost/osohost/host/pki/pkitest"
)

const audience = "osohost"

// fixture is an issuer process and an Authenticator that trusts it, on a
// settable clock.
type fixture struct {
	files *tlsFiles
	iss   *issuer
	clock *clock
	a     *oidc.Authenticator
	logs  *lockedBuffer
	opts  oidc.Options
}

// newFixture starts an HTTPS issuer with args (tokens valid for a day by
// default) and an Authenticator with the default test options, changed by
// edit when it is not nil.
func newFixture(t *testing.T, edit func(*oidc.Options), args ...string) *fixture {
	t.Helper()
	f := &fixture{files: newTLSFiles(t), clock: newClock(), logs: &lockedBuffer{}}
	f.iss = startIssuer(t, f.files, append([]string{"--token-ttl", "24h"}, args...)...)
	f.opts = oidc.Options{
		Issuer:   f.iss.URL,
		Audience: audience,
		Allowlists: map[string]oidc.Rule{
			"component": {Roles: []string{"oso-admin"}, Scopes: []string{"oso.documents"}},
			"admin":     {Roles: []string{"oso-admin"}},
		},
		RootCAs:       []byte(f.files.pki.CAPEM),
		RequireIssuer: true,
		Now:           f.clock.Now,
		Logger:        slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if edit != nil {
		edit(&f.opts)
	}
	a, err := oidc.New(context.Background(), f.opts)
	if err != nil {
		t.Fatalf("New: %v\nissuer log:\n%s", err, f.iss.stderr)
	}
	f.a = a
	return f
}

// claims returns valid claims for the fixture's audience with extra ones.
func claims(extra map[string]any) map[string]any {
	c := map[string]any{"sub": "alice", "aud": audience}
	for k, v := range extra {
		c[k] = v
	}
	return c
}

func bearer(token string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "https://osohost/api/frontend/v1alpha1/status", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	return r
}

// mustAllow authenticates token against allowlist and fails unless it is
// admitted.
func (f *fixture) mustAllow(t *testing.T, token, allowlist string) auth.Principal {
	t.Helper()
	p, err := f.a.Authenticate(bearer(token), allowlist)
	if err != nil {
		t.Fatalf("Authenticate(%s): %v", allowlist, err)
	}
	return p
}

// mustRefuse authenticates token against "component" and checks the error
// is a kind of want; it returns the error.
func (f *fixture) mustRefuse(t *testing.T, token string, want error) error {
	t.Helper()
	_, err := f.a.Authenticate(bearer(token), "component")
	if !errors.Is(err, want) {
		t.Fatalf("Authenticate: %v, want %v", err, want)
	}
	if strings.Contains(err.Error(), token) {
		t.Fatalf("the error carries the token: %v", err)
	}
	return err
}

// unauthorized is what every invalid-token case must give: 401.
func (f *fixture) unauthorized(t *testing.T, token string) error {
	t.Helper()
	err := f.mustRefuse(t, token, oidc.ErrInvalidToken)
	if !errors.Is(err, auth.ErrNoCredentials) || errors.Is(err, auth.ErrForbidden) {
		t.Fatalf("%v does not map to 401", err)
	}
	return err
}

func TestAuthenticate_Allowed(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.iss.mint(t, claims(map[string]any{"roles": []string{"reader", "oso-admin"}}), "")
	p := f.mustAllow(t, tok, "admin")
	if p != (auth.Principal{Method: oidc.Method, Subject: "alice"}) {
		t.Errorf("principal %+v", p)
	}
	f.mustAllow(t, tok, "component")

	// The scheme is case-insensitive.
	r := bearer(tok)
	r.Header.Set("Authorization", "bEaReR  "+tok)
	if _, err := f.a.Authenticate(r, "admin"); err != nil {
		t.Errorf("lower-case scheme: %v", err)
	}
	if err := f.a.Ready(context.Background()); err != nil {
		t.Errorf("Ready: %v", err)
	}
	if strings.Contains(f.logs.String(), tok) || strings.Contains(f.iss.stderr.String(), tok) {
		t.Error("a token was logged")
	}
}

func TestAuthenticate_Forbidden(t *testing.T) {
	f := newFixture(t, nil)
	for name, c := range map[string]map[string]any{
		"other role and scope": {"roles": []string{"reader"}, "scope": "openid oso.read"},
		"no roles or scopes":   {},
		"role in wrong case":   {"roles": []string{"OSO-ADMIN"}},
		"roles of wrong type":  {"roles": map[string]any{"oso-admin": true}},
	} {
		t.Run(name, func(t *testing.T) {
			tok := f.iss.mint(t, claims(c), "")
			err := f.mustRefuse(t, tok, auth.ErrNotAllowlisted)
			if !errors.Is(err, auth.ErrForbidden) || errors.Is(err, auth.ErrNoCredentials) {
				t.Errorf("%v does not map to 403", err)
			}
		})
	}
	t.Run("scope without role on a role-only allowlist", func(t *testing.T) {
		tok := f.iss.mint(t, claims(map[string]any{"scope": "oso.documents"}), "")
		f.mustAllow(t, tok, "component")
		if _, err := f.a.Authenticate(bearer(tok), "admin"); !errors.Is(err, auth.ErrNotAllowlisted) {
			t.Errorf("admin: %v, want ErrNotAllowlisted", err)
		}
	})
	t.Run("unknown allowlist", func(t *testing.T) {
		tok := f.iss.mint(t, claims(map[string]any{"roles": []string{"oso-admin"}}), "")
		if _, err := f.a.Authenticate(bearer(tok), "Component"); !errors.Is(err, auth.ErrNotAllowlisted) {
			t.Errorf("Component: %v, want ErrNotAllowlisted", err)
		}
	})
}

func TestAuthenticate_NoCredentials(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.iss.mint(t, claims(map[string]any{"roles": []string{"oso-admin"}}), "")
	for name, header := range map[string][]string{
		"no header":    nil,
		"basic":        {"Basic YWxpY2U6c2VjcmV0"},
		"empty":        {""},
		"token only":   {tok},
		"bearer-ish":   {"Bearerx " + tok},
		"other scheme": {"DPoP " + tok},
	} {
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if header != nil {
				r.Header["Authorization"] = header
			}
			_, err := f.a.Authenticate(r, "component")
			if !errors.Is(err, auth.ErrNoCredentials) || errors.Is(err, oidc.ErrInvalidToken) {
				t.Errorf("%v, want ErrNoCredentials alone", err)
			}
		})
	}
	for name, header := range map[string][]string{
		"empty token":    {"Bearer "},
		"two headers":    {"Bearer " + tok, "Bearer " + tok},
		"not a jwt":      {"Bearer abc.def"},
		"jwt with space": {"Bearer " + tok[:10] + " " + tok[10:]},
	} {
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header["Authorization"] = header
			if _, err := f.a.Authenticate(r, "component"); !errors.Is(err, oidc.ErrInvalidToken) {
				t.Errorf("%v, want ErrInvalidToken", err)
			}
		})
	}
}

func TestAuthenticate_InvalidClaims(t *testing.T) {
	f := newFixture(t, nil)
	now := f.clock.Now()
	admin := map[string]any{"roles": []string{"oso-admin"}}
	with := func(extra map[string]any) map[string]any {
		c := claims(admin)
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	for _, tt := range []struct {
		name   string
		claims map[string]any
		want   string
	}{
		{"expired", with(map[string]any{"exp": now.Add(-2 * time.Minute).Unix()}), "expired"},
		{"no exp", with(map[string]any{"exp": nil}), "no exp"},
		{"not yet valid", with(map[string]any{"nbf": now.Add(2 * time.Minute).Unix()}), "not valid yet"},
		{"issued in the future", with(map[string]any{"iat": now.Add(2 * time.Minute).Unix()}), "future"},
		{"wrong audience", with(map[string]any{"aud": "someone-else"}), "audience"},
		{"audiences without ours", with(map[string]any{"aud": []string{"a", "b"}}), "audience"},
		{"no audience", with(map[string]any{"aud": nil}), "audience"},
		{"foreign iss claim", with(map[string]any{"iss": "https://evil.example"}), "issuer"},
		{"iss with trailing slash", with(map[string]any{"iss": f.iss.URL + "/"}), "issuer"},
		{"no sub", with(map[string]any{"sub": nil}), "no sub"},
		{"long sub", with(map[string]any{"sub": strings.Repeat("s", oidc.MaxSubject+1)}), "sub claim longer"},
		{"exp not a number", with(map[string]any{"exp": "tomorrow"}), "claims"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := f.unauthorized(t, f.iss.mint(t, tt.claims, ""))
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%v, want it to mention %q", err, tt.want)
			}
		})
	}
	t.Run("within leeway", func(t *testing.T) {
		f.mustAllow(t, f.iss.mint(t, with(map[string]any{
			"exp": now.Add(-30 * time.Second).Unix(),
			"nbf": now.Add(30 * time.Second).Unix(),
			"iat": now.Add(30 * time.Second).Unix(),
		}), ""), "admin")
	})
	t.Run("audience among several", func(t *testing.T) {
		f.mustAllow(t, f.iss.mint(t, with(map[string]any{"aud": []string{"x", audience}}), ""), "admin")
	})
	t.Run("expiry follows the clock", func(t *testing.T) {
		tok := f.iss.mint(t, with(map[string]any{"exp": now.Add(time.Hour).Unix()}), "")
		f.mustAllow(t, tok, "admin")
		f.clock.Advance(time.Hour + oidc.DefaultLeeway + time.Second)
		f.unauthorized(t, tok)
	})
}

func TestAuthenticate_Leeway(t *testing.T) {
	f := newFixture(t, func(o *oidc.Options) { o.Leeway = -1 })
	exp := f.clock.Now().Add(-time.Second).Unix()
	f.unauthorized(t, f.iss.mint(t, claims(map[string]any{"roles": []string{"oso-admin"}, "exp": exp}), ""))
}

// signedWith returns a compact JWS of claims with header, signed by sign
// (nil: an empty signature).
func signedWith(t *testing.T, header, claims map[string]any, sign func([]byte) []byte) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	input := enc(header) + "." + enc(claims)
	var sig []byte
	if sign != nil {
		sig = sign([]byte(input))
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestAuthenticate_RefusedAlgorithms(t *testing.T) {
	f := newFixture(t, nil, "--alg", "RS256")
	good := f.iss.mint(t, claims(map[string]any{"roles": []string{"oso-admin"}}), "")
	f.mustAllow(t, good, "admin")

	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	jwks := f.iss.jwks(t)
	if err := json.Unmarshal(jwks, &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("key set %s: %v", jwks, err)
	}
	var key struct {
		Kid string `json:"kid"`
		N   string `json:"n"`
	}
	if err := json.Unmarshal(set.Keys[0], &key); err != nil {
		t.Fatal(err)
	}
	c := claims(map[string]any{"roles": []string{"oso-admin"}, "iss": f.iss.URL, "exp": f.clock.Now().Add(time.Hour).Unix()})
	hmacWith := func(secret []byte) func([]byte) []byte {
		return func(in []byte) []byte {
			m := hmac.New(sha256.New, secret)
			m.Write(in)
			return m.Sum(nil)
		}
	}
	n, _ := base64.RawURLEncoding.DecodeString(key.N)
	parts := strings.Split(good, ".")
	es256Header := strings.Split(signedWith(t, map[string]any{"alg": "ES256", "kid": key.Kid}, c, nil), ".")[0]
	otherPayload := strings.Split(signedWith(t, map[string]any{}, claims(map[string]any{"roles": []string{"oso-admin"}, "sub": "mallory"}), nil), ".")[1]
	for name, tok := range map[string]string{
		"none":                    signedWith(t, map[string]any{"alg": "none", "kid": key.Kid}, c, nil),
		"none without kid":        signedWith(t, map[string]any{"alg": "none"}, c, nil),
		"HS256 with the JWK":      signedWith(t, map[string]any{"alg": "HS256", "kid": key.Kid}, c, hmacWith(set.Keys[0])),
		"HS256 with the key set":  signedWith(t, map[string]any{"alg": "HS256", "kid": key.Kid}, c, hmacWith(jwks)),
		"HS256 with the modulus":  signedWith(t, map[string]any{"alg": "HS256", "kid": key.Kid}, c, hmacWith(n)),
		"HS512":                   signedWith(t, map[string]any{"alg": "HS512", "kid": key.Kid}, c, hmacWith(n)),
		"PS256":                   signedWith(t, map[string]any{"alg": "PS256", "kid": key.Kid}, c, nil),
		"ES256 header on RSA sig": es256Header + "." + parts[1] + "." + parts[2],
		"payload swapped":         parts[0] + "." + otherPayload + "." + parts[2],
		"JWE-shaped (five parts)": good + ".AAAA.BBBB",
		"JSON serialization":      `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`,
		"truncated signature":     good[:len(good)-8],
		"own key in jwk header":   embeddedKeyToken(t, key.Kid, c),
	} {
		t.Run(name, func(t *testing.T) { f.unauthorized(t, tok) })
	}
}

// embeddedKeyToken signs claims with a fresh RSA key of its own, named kid
// and embedded in the header ("jwk"), as an attacker would.
func embeddedKeyToken(t *testing.T, kid string, claims map[string]any) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: k},
		(&jose.SignerOptions{EmbedJWK: true}).WithHeader("kid", kid).WithHeader("jku", "https://evil.example/jwks"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestAuthenticate_Algorithms(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			f := newFixture(t, nil, "--alg", alg)
			f.mustAllow(t, f.iss.mint(t, claims(map[string]any{"roles": []string{"oso-admin"}}), ""), "admin")
			// Without a kid, every published key is tried.
			f.mustAllow(t, f.iss.mint(t, claims(map[string]any{"roles": []string{"oso-admin"}}), noKid), "admin")
		})
	}
}

func TestAuthenticate_OversizedToken(t *testing.T) {
	f := newFixture(t, nil)
	before := f.iss.jwksHits(t)
	// A well-formed JWT whose size alone is refused: a huge claim.
	big := f.iss.mint(t, claims(map[string]any{"roles": []string{"oso-admin"}, "pad": strings.Repeat("x", oidc.MaxTokenSize)}), "unknown-kid")
	if len(big) <= oidc.MaxTokenSize {
		t.Fatalf("token of %d bytes", len(big))
	}
	err := f.unauthorized(t, big)
	if !strings.Contains(err.Error(), fmt.Sprintf("more than %d bytes", oidc.MaxTokenSize)) {
		t.Errorf("%v, want a size error", err)
	}
	// Refused before parsing: its unknown kid would otherwise fetch keys.
	f.clock.Advance(oidc.DefaultJWKSRefreshMinInterval)
	f.unauthorized(t, big)
	if hits := f.iss.jwksHits(t); hits != before {
		t.Errorf("key set fetched %d times for an oversized token", hits-before)
	}
	// The limit is on the token: one of exactly MaxTokenSize bytes is parsed.
	f.unauthorized(t, strings.Repeat("a", oidc.MaxTokenSize))
}

func TestAuthenticate_ScopeClaim(t *testing.T) {
	f := newFixture(t, nil)
	for name, scope := range map[string]any{
		"string":                "openid oso.documents profile",
		"string, extra spaces":  "  oso.documents  ",
		"array":                 []string{"openid", "oso.documents"},
		"array, mixed elements": []any{1, nil, "oso.documents"},
	} {
		t.Run(name, func(t *testing.T) {
			f.mustAllow(t, f.iss.mint(t, claims(map[string]any{"scope": scope}), ""), "component")
		})
	}
	for name, scope := range map[string]any{
		"prefix":          "oso.documents.read",
		"array of one":    []string{"oso.documents openid"},
		"number":          42,
		"object":          map[string]any{"oso.documents": true},
		"in another name": nil,
	} {
		t.Run("refused: "+name, func(t *testing.T) {
			c := claims(map[string]any{"scope": scope})
			if scope == nil {
				c["scp"] = "oso.documents"
			}
			f.mustRefuse(t, f.iss.mint(t, c, ""), auth.ErrNotAllowlisted)
		})
	}
	t.Run("ScopesClaim scp", func(t *testing.T) {
		g := newFixture(t, func(o *oidc.Options) { o.ScopesClaim = "scp" })
		g.mustAllow(t, g.iss.mint(t, claims(map[string]any{"scp": []string{"oso.documents"}}), ""), "component")
		g.mustRefuse(t, g.iss.mint(t, claims(map[string]any{"scope": "oso.documents"}), ""), auth.ErrNotAllowlisted)
	})
}

func TestAuthenticate_NestedRoles(t *testing.T) {
	f := newFixture(t, func(o *oidc.Options) {
		o.RolesClaim = "realm_access.roles"
		o.Allowlists["namespaced"] = oidc.Rule{Roles: []string{"ops"}}
	})
	nested := claims(map[string]any{"realm_access": map[string]any{"roles": []string{"offline_access", "oso-admin"}}})
	f.mustAllow(t, f.iss.mint(t, nested, ""), "admin")
	for name, c := range map[string]map[string]any{
		"top-level roles":      {"roles": []string{"oso-admin"}},
		"path through a list":  {"realm_access": []any{map[string]any{"roles": []string{"oso-admin"}}}},
		"path through string":  {"realm_access": "roles"},
		"missing leaf":         {"realm_access": map[string]any{"groups": []string{"oso-admin"}}},
		"one string, a phrase": {"realm_access": map[string]any{"roles": "reader oso-admin"}},
	} {
		t.Run(name, func(t *testing.T) {
			f.mustRefuse(t, f.iss.mint(t, claims(c), ""), auth.ErrNotAllowlisted)
		})
	}
	t.Run("one string is one role", func(t *testing.T) {
		f.mustAllow(t, f.iss.mint(t, claims(map[string]any{"realm_access": map[string]any{"roles": "oso-admin"}}), ""), "admin")
	})
	t.Run("a claim named with dots wins over the path", func(t *testing.T) {
		c := claims(map[string]any{
			"realm_access.roles": []string{"ops"},
			"realm_access":       map[string]any{"roles": []string{"oso-admin"}},
		})
		tok := f.iss.mint(t, c, "")
		f.mustAllow(t, tok, "namespaced")
		f.mustRefuse(t, tok, auth.ErrNotAllowlisted)
	})
	t.Run("URL claim name", func(t *testing.T) {
		g := newFixture(t, func(o *oidc.Options) { o.RolesClaim = "https://osohost.example/roles" })
		g.mustAllow(t, g.iss.mint(t, claims(map[string]any{"https://osohost.example/roles": []string{"oso-admin"}}), ""), "admin")
	})
}

func TestAuthenticate_ForeignIssuer(t *testing.T) {
	f := newFixture(t, nil)
	other := startIssuer(t, f.files, "--token-ttl", "24h")
	admin := map[string]any{"roles": []string{"oso-admin"}}
	f.clock.Advance(oidc.DefaultJWKSRefreshMinInterval) // let the unknown kid fetch keys

	// Its own iss, its own keys.
	f.unauthorized(t, other.mint(t, claims(admin), ""))
	// Our iss, its keys.
	c := claims(admin)
	c["iss"] = f.iss.URL
	f.unauthorized(t, other.mint(t, c, ""))
	// Its iss, our keys.
	c["iss"] = other.URL
	f.unauthorized(t, f.iss.mint(t, c, ""))
	// Our tokens still pass.
	f.mustAllow(t, f.iss.mint(t, claims(admin), ""), "admin")
}

func TestAuthenticate_Rotation(t *testing.T) {
	admin := claims(map[string]any{"roles": []string{"oso-admin"}})
	t.Run("old key dropped", func(t *testing.T) {
		f := newFixture(t, nil)
		old := f.iss.mint(t, admin, "")
		f.mustAllow(t, old, "admin")
		f.iss.rotate(t, false)
		fresh := f.iss.mint(t, admin, "")

		// Keys were fetched just now: a new kid waits for the rate limit.
		hits := f.iss.jwksHits(t)
		err := f.unauthorized(t, fresh)
		if !strings.Contains(err.Error(), "less than") {
			t.Errorf("%v, want the rate limit", err)
		}
		if got := f.iss.jwksHits(t); got != hits {
			t.Errorf("key set fetched within the rate limit")
		}

		f.clock.Advance(oidc.DefaultJWKSRefreshMinInterval)
		f.mustAllow(t, fresh, "admin")
		if got := f.iss.jwksHits(t); got != hits+1 {
			t.Errorf("%d fetches, want 1", got-hits)
		}
		// The old key is gone from the set we hold now.
		f.unauthorized(t, old)
	})
	t.Run("old key kept", func(t *testing.T) {
		f := newFixture(t, nil)
		old := f.iss.mint(t, admin, "")
		f.iss.rotate(t, true)
		f.clock.Advance(oidc.DefaultJWKSRefreshMinInterval)
		f.mustAllow(t, f.iss.mint(t, admin, ""), "admin")
		f.mustAllow(t, old, "admin")
	})
}

func TestAuthenticate_RefreshRateLimit(t *testing.T) {
	f := newFixture(t, nil)
	admin := claims(map[string]any{"roles": []string{"oso-admin"}})
	const burst = 40
	tokens := make([]string, burst)
	for i := range tokens {
		tokens[i] = f.iss.mint(t, admin, fmt.Sprintf("unknown-%d", i))
	}
	run := func() {
		var wg sync.WaitGroup
		for _, tok := range tokens {
			wg.Go(func() {
				_, err := f.a.Authenticate(bearer(tok), "admin")
				if !errors.Is(err, oidc.ErrInvalidToken) {
					t.Errorf("%v, want ErrInvalidToken", err)
				}
			})
		}
		wg.Wait()
	}

	start := f.iss.jwksHits(t)
	run() // keys were just fetched: no fetch at all
	if got := f.iss.jwksHits(t) - start; got != 0 {
		t.Errorf("%d fetches within the interval, want 0", got)
	}
	f.clock.Advance(oidc.DefaultJWKSRefreshMinInterval)
	run() // one fetch, shared or followed by refusals
	if got := f.iss.jwksHits(t) - start; got != 1 {
		t.Errorf("%d fetches after the interval, want 1", got)
	}
	f.clock.Advance(oidc.DefaultJWKSRefreshMinInterval - time.Second)
	run()
	if got := f.iss.jwksHits(t) - start; got != 1 {
		t.Errorf("%d fetches, want still 1", got)
	}
	// Valid tokens never wait for the limit.
	f.mustAllow(t, f.iss.mint(t, admin, ""), "admin")
	if got := f.iss.stat(t, "discovery"); got != 1 {
		t.Errorf("discovery served %d times, want 1", got)
	}
}

func TestAuthenticate_KeySetFreshness(t *testing.T) {
	admin := claims(map[string]any{"roles": []string{"oso-admin"}})
	t.Run("max-age", func(t *testing.T) {
		f := newFixture(t, nil, "--max-age", "120")
		tok := f.iss.mint(t, admin, "")
		hits := f.iss.jwksHits(t)
		f.clock.Advance(119 * time.Second)
		f.mustAllow(t, tok, "admin")
		f.a.WaitFetch()
		if got := f.iss.jwksHits(t); got != hits {
			t.Fatalf("fetched while fresh")
		}
		f.clock.Advance(time.Second)
		f.mustAllow(t, tok, "admin") // served from the old set, refreshed behind
		f.a.WaitFetch()
		if got := f.iss.jwksHits(t); got != hits+1 {
			t.Fatalf("%d fetches once stale, want 1", got-hits)
		}
		f.mustAllow(t, tok, "admin")
		f.a.WaitFetch()
		if got := f.iss.jwksHits(t); got != hits+1 {
			t.Errorf("fetched again while fresh")
		}
	})
	for name, tt := range map[string]struct {
		args  []string
		fresh time.Duration
	}{
		"no Cache-Control":    {nil, oidc.DefaultJWKSTTL},
		"max-age below limit": {[]string{"--max-age", "1"}, oidc.DefaultJWKSRefreshMinInterval},
		"max-age above bound": {[]string{"--max-age", "86400"}, oidc.MaxJWKSTTL},
		"max-age zero":        {[]string{"--max-age", "0"}, oidc.DefaultJWKSRefreshMinInterval},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, nil, tt.args...)
			tok := f.iss.mint(t, admin, "")
			hits := f.iss.jwksHits(t)
			f.clock.Advance(tt.fresh - time.Second)
			f.mustAllow(t, tok, "admin")
			f.a.WaitFetch()
			if got := f.iss.jwksHits(t); got != hits {
				t.Fatalf("fetched %v after the fetch", tt.fresh-time.Second)
			}
			f.clock.Advance(time.Second)
			f.mustAllow(t, tok, "admin")
			f.a.WaitFetch()
			if got := f.iss.jwksHits(t); got != hits+1 {
				t.Fatalf("not fetched %v after the fetch", tt.fresh)
			}
		})
	}
	t.Run("JWKSTTL option", func(t *testing.T) {
		f := newFixture(t, func(o *oidc.Options) { o.JWKSTTL = 5 * time.Minute })
		tok := f.iss.mint(t, admin, "")
		hits := f.iss.jwksHits(t)
		f.clock.Advance(5 * time.Minute)
		f.mustAllow(t, tok, "admin")
		f.a.WaitFetch()
		if got := f.iss.jwksHits(t); got != hits+1 {
			t.Fatalf("%d fetches, want 1", got-hits)
		}
	})
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestNew_IssuerUnreachable(t *testing.T) {
	files := newTLSFiles(t)
	addr := freeAddr(t)
	clk := newClock()
	opts := oidc.Options{
		Issuer:      "https://" + addr,
		Audience:    audience,
		Allowlists:  map[string]oidc.Rule{"admin": {Roles: []string{"oso-admin"}}},
		RootCAs:     []byte(files.pki.CAPEM),
		Now:         clk.Now,
		HTTPTimeout: 5 * time.Second,
	}
	opts.RequireIssuer = true
	if _, err := oidc.New(context.Background(), opts); !errors.Is(err, oidc.ErrUnavailable) {
		t.Fatalf("New with RequireIssuer: %v, want ErrUnavailable", err)
	}

	opts.RequireIssuer = false
	a, err := oidc.New(context.Background(), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := a.Ready(context.Background()); !errors.Is(err, oidc.ErrUnavailable) {
		t.Errorf("Ready: %v, want ErrUnavailable", err)
	}
	r := bearer("e30.e30.e30")
	r.Header.Set("Authorization", "Bearer eyJhbGciOiJFUzI1NiJ9.e30.AAAA")
	if _, err := a.Authenticate(r, "admin"); !errors.Is(err, oidc.ErrUnavailable) || errors.Is(err, auth.ErrNoCredentials) {
		t.Errorf("Authenticate: %v, want ErrUnavailable alone", err)
	}

	// The issuer comes up at that address: the next attempt after the
	// interval finds it.
	iss := startIssuer(t, files, "--listen", addr, "--token-ttl", "24h")
	tok := iss.mint(t, claims(map[string]any{"roles": []string{"oso-admin"}}), "")
	if _, err := a.Authenticate(bearer(tok), "admin"); !errors.Is(err, oidc.ErrUnavailable) {
		t.Errorf("within the interval: %v, want ErrUnavailable", err)
	}
	if iss.stat(t, "discovery") != 0 {
		t.Error("the issuer was asked within the interval")
	}
	clk.Advance(oidc.DefaultJWKSRefreshMinInterval)
	if err := a.Ready(context.Background()); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	if _, err := a.Authenticate(bearer(tok), "admin"); err != nil {
		t.Errorf("Authenticate: %v", err)
	}
}

func TestNew_DiscoveryChecks(t *testing.T) {
	files := newTLSFiles(t)
	t.Run("issuer mismatch", func(t *testing.T) {
		// It publishes another issuer than the URL it is served at.
		iss := startIssuer(t, files, "--issuer", "https://idp.example")
		_, err := oidc.New(context.Background(), oidc.Options{
			Issuer: iss.Base, Audience: audience, RootCAs: []byte(files.pki.CAPEM), RequireIssuer: true,
		})
		if !errors.Is(err, oidc.ErrUnavailable) || !strings.Contains(err.Error(), "names issuer") {
			t.Errorf("%v, want an issuer mismatch", err)
		}
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		iss := startIssuer(t, files)
		other := newTLSFiles(t)
		_, err := oidc.New(context.Background(), oidc.Options{
			Issuer: iss.URL, Audience: audience, RootCAs: []byte(other.pki.CAPEM), RequireIssuer: true,
		})
		if !errors.Is(err, oidc.ErrUnavailable) || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("%v, want a certificate error", err)
		}
	})
	t.Run("plain HTTP on loopback", func(t *testing.T) {
		iss := startIssuer(t, nil, "--token-ttl", "24h")
		if !strings.HasPrefix(iss.URL, "http://127.0.0.1:") {
			t.Fatalf("issuer %s", iss.URL)
		}
		a, err := oidc.New(context.Background(), oidc.Options{
			Issuer: iss.URL, Audience: audience, RequireIssuer: true,
			Allowlists: map[string]oidc.Rule{"admin": {Roles: []string{"oso-admin"}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Authenticate(bearer(iss.mint(t, claims(map[string]any{"roles": []string{"oso-admin"}}), "")), "admin"); err != nil {
			t.Error(err)
		}
	})
}

func TestNew_Options(t *testing.T) {
	ok := oidc.Options{Issuer: "https://idp.example/realms/oso", Audience: audience}
	for _, tt := range []struct {
		name string
		edit func(*oidc.Options)
		want string
	}{
		{"no issuer", func(o *oidc.Options) { o.Issuer = "" }, "Issuer: required"},
		{"http issuer", func(o *oidc.Options) { o.Issuer = "http://idp.example" }, "https"},
		{"issuer with query", func(o *oidc.Options) { o.Issuer = "https://idp.example/?a=b" }, "query"},
		{"issuer with user", func(o *oidc.Options) { o.Issuer = "https://u:p@idp.example" }, "user"},
		{"relative issuer", func(o *oidc.Options) { o.Issuer = "/realms/oso" }, "no host"},
		{"no audience", func(o *oidc.Options) { o.Audience = "" }, "Audience"},
		{"empty rule", func(o *oidc.Options) { o.Allowlists = map[string]oidc.Rule{"component": {}} }, "no role and no scope"},
		{"empty role", func(o *oidc.Options) { o.Allowlists = map[string]oidc.Rule{"component": {Roles: []string{""}}} }, "empty role"},
		{"scope with space", func(o *oidc.Options) { o.Allowlists = map[string]oidc.Rule{"component": {Scopes: []string{"a b"}}} }, "spaces"},
		{"bad roles claim", func(o *oidc.Options) { o.RolesClaim = "realm_access..roles" }, "RolesClaim"},
		{"bad scopes claim", func(o *oidc.Options) { o.ScopesClaim = "." }, "ScopesClaim"},
		{"leeway", func(o *oidc.Options) { o.Leeway = time.Hour }, "Leeway"},
		{"ttl", func(o *oidc.Options) { o.JWKSTTL = 2 * time.Hour }, "JWKSTTL"},
		{"interval", func(o *oidc.Options) { o.JWKSRefreshMinInterval = -time.Second }, "JWKSRefreshMinInterval"},
		{"roots", func(o *oidc.Options) { o.RootCAs = []byte("not PEM") }, "RootCAs"},
		{"roots and client", func(o *oidc.Options) { o.RootCAs = []byte("x"); o.HTTPClient = http.DefaultClient }, "both"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := ok
			tt.edit(&o)
			_, err := oidc.New(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), tt.want) || errors.Is(err, oidc.ErrUnavailable) {
				t.Errorf("New: %v, want an error about %q", err, tt.want)
			}
		})
	}
}

// TestWithMTLS combines the real mtls and oidc authenticators through
// package multi over real TLS connections.
func TestWithMTLS(t *testing.T) {
	f := newFixture(t, nil)
	p := f.files.pki
	certs, err := mtls.New(mtls.Options{ClientCAs: p.CAPool, Allowlists: map[string][][32]byte{"component": p.Allowlist}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := multi.New(
		multi.Method{Name: mtls.Method, Authenticator: certs, Present: multi.ClientCertificate, Allowlists: []string{"component"}},
		multi.Method{Name: oidc.Method, Authenticator: f.a, Present: multi.BearerToken, Allowlists: []string{"component", "admin"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pr, err := a.Authenticate(r, strings.TrimPrefix(r.URL.Path, "/"))
		switch {
		case errors.Is(err, auth.ErrNoCredentials):
			w.WriteHeader(http.StatusUnauthorized)
		case errors.Is(err, auth.ErrBadCertificate):
			w.WriteHeader(http.StatusBadRequest)
		case errors.Is(err, auth.ErrForbidden):
			w.WriteHeader(http.StatusForbidden)
		case err != nil:
			w.WriteHeader(http.StatusInternalServerError)
		}
		fmt.Fprint(w, pr.Method)
	}))
	srv.TLS = &tls.Config{MinVersion: tls.VersionTLS13, ClientAuth: tls.RequestClientCert, Certificates: []tls.Certificate{p.Server.TLS}}
	srv.StartTLS()
	defer srv.Close()

	admin := f.iss.mint(t, claims(map[string]any{"roles": []string{"oso-admin"}}), "")
	reader := f.iss.mint(t, claims(map[string]any{"roles": []string{"reader"}}), "")
	expired := f.iss.mint(t, claims(map[string]any{"roles": []string{"oso-admin"}, "exp": f.clock.Now().Add(-time.Hour).Unix()}), "")
	for _, tt := range []struct {
		name      string
		id        *pkitest.Identity
		token     string
		allowlist string
		status    int
		method    string
	}{
		{"certificate", &p.Client, "", "component", 200, "mtls"},
		{"token", nil, admin, "component", 200, "oidc"},
		{"token on a token-only allowlist", nil, admin, "admin", 200, "oidc"},
		{"certificate and token: the certificate decides", &p.Stranger, admin, "component", 403, ""},
		{"certificate on a token-only allowlist", &p.Client, "", "admin", 403, ""},
		{"certificate and token on a token-only allowlist", &p.Client, admin, "admin", 200, "oidc"},
		{"token without the role", nil, reader, "component", 403, ""},
		{"expired token", nil, expired, "component", 401, ""},
		{"nothing", nil, "", "component", 401, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			client := &http.Client{Transport: &http.Transport{TLSClientConfig: p.ClientTLS(tt.id)}}
			defer client.CloseIdleConnections()
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/"+tt.allowlist, nil)
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || string(body) != tt.method {
				t.Errorf("%d %q, want %d %q", resp.StatusCode, body, tt.status, tt.method)
			}
		})
	}
}
