package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/osohost/osohost/host/auth"
)

// Method is the auth.Principal.Method of principals this package returns.
const Method = "oidc"

// Limits and defaults.
const (
	// MaxTokenSize is the largest bearer token accepted, in bytes. Longer
	// tokens are refused before they are parsed.
	MaxTokenSize = 16 << 10
	// MaxSubject is the largest "sub" claim accepted, in bytes.
	MaxSubject = 1024

	// DefaultLeeway is the clock skew allowed on "exp", "nbf" and "iat"
	// when Options.Leeway is zero.
	DefaultLeeway = 60 * time.Second
	// MaxLeeway is the largest Options.Leeway accepted.
	MaxLeeway = 5 * time.Minute
	// DefaultJWKSRefreshMinInterval is Options.JWKSRefreshMinInterval when
	// zero: at most one fetch of the key set a minute, whatever the
	// tokens presented.
	DefaultJWKSRefreshMinInterval = time.Minute
	// DefaultJWKSTTL is how long a fetched key set is fresh when the
	// issuer sends no Cache-Control max-age and Options.JWKSTTL is zero.
	DefaultJWKSTTL = 15 * time.Minute
	// MaxJWKSTTL bounds how long a key set stays fresh, whatever the
	// issuer's max-age says, so that a key the issuer withdrew stops
	// being accepted within the hour.
	MaxJWKSTTL = time.Hour
	// MaxKeyAge is how long keys stay usable after the last successful
	// fetch while refreshes fail. Past it, tokens are refused with
	// ErrUnavailable until the issuer answers again.
	MaxKeyAge = 24 * time.Hour
	// DefaultHTTPTimeout bounds each request to the issuer when
	// Options.HTTPTimeout is zero.
	DefaultHTTPTimeout = 10 * time.Second

	// DefaultRolesClaim and DefaultScopesClaim are the claims roles and
	// scopes are read from when the options name none.
	DefaultRolesClaim  = "roles"
	DefaultScopesClaim = "scope"

	maxAllowlistName = 256
	maxRuleEntries   = 1 << 12 // roles and scopes over all allowlists
	maxClaimPath     = 256     // bytes of a RolesClaim or ScopesClaim setting
	// maxVerifyTries bounds the signature checks one token costs when
	// several keys share its kid or it has none.
	maxVerifyTries = 8
)

// allowedAlgs are the only signature algorithms accepted. "none" and the
// HMAC algorithms are never accepted: the keys come from a public key set.
var allowedAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA}

// Errors, in addition to those of package auth. Test them with errors.Is;
// the texts are for logs, not for clients.
var (
	// ErrInvalidToken means a bearer token was presented but is not
	// acceptable: malformed, too large, signed by an unknown key or with
	// a refused algorithm, issued by another issuer or for another
	// audience, expired or not yet valid, or without a subject. It is a
	// kind of auth.ErrNoCredentials (HTTP 401):
	// errors.Is(ErrInvalidToken, auth.ErrNoCredentials) is true.
	ErrInvalidToken error = &kindError{msg: "oidc: invalid token", kind: auth.ErrNoCredentials}
	// ErrUnavailable means the token could not be checked because the
	// issuer's discovery document or key set could not be fetched and no
	// usable keys are held. It is the host's failure, not the client's:
	// HTTP 503. It is a kind of auth.ErrUnavailable.
	ErrUnavailable error = &kindError{msg: "oidc: issuer unavailable", kind: auth.ErrUnavailable}
)

// kindError is a sentinel that is also a more general sentinel.
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

// Rule says which tokens an allowlist admits: a token is admitted when it
// carries ANY of Roles or ANY of Scopes. Values are matched exactly, case
// included. A rule must list at least one role or scope.
type Rule struct {
	Roles  []string `json:"roles,omitempty"`
	Scopes []string `json:"scopes,omitempty"`
}

// Options configures an [Authenticator].
type Options struct {
	// Issuer is the issuer URL, exactly as the tokens' "iss" claim and the
	// discovery document's "issuer" write it. Its discovery document is
	// Issuer + "/.well-known/openid-configuration". It must use https, or
	// http with a loopback host. Required.
	Issuer string
	// Audience must be one of the tokens' "aud" values. Required.
	Audience string
	// RolesClaim names the claim holding the roles: a top-level claim of
	// that exact name if the token has one, else a dotted path into
	// nested objects, such as "realm_access.roles". The value is a JSON
	// list of strings, or one string (one role). Empty means "roles".
	RolesClaim string
	// ScopesClaim names the claim holding the scopes, looked up as
	// RolesClaim is. The value is a space-delimited string (RFC 6749
	// "scope") or a JSON list of strings. Empty means "scope".
	ScopesClaim string
	// Allowlists maps allowlist names, matched exactly, to the rule a
	// token must meet. New copies it; nil allows no one.
	Allowlists map[string]Rule

	// RootCAs is a PEM bundle of the CAs trusted for the issuer's TLS
	// certificate; empty means the system roots. Not allowed together with
	// HTTPClient, which carries its own roots.
	RootCAs []byte
	// HTTPClient, if set, is used for discovery and key set requests
	// instead of a client built from RootCAs. Each request is still
	// bounded by HTTPTimeout, and responses by size.
	HTTPClient *http.Client
	// HTTPTimeout bounds each request to the issuer. Zero means
	// DefaultHTTPTimeout.
	HTTPTimeout time.Duration
	// Leeway is the clock skew allowed on "exp", "nbf" and "iat". Zero
	// means DefaultLeeway; negative means none; at most MaxLeeway.
	Leeway time.Duration
	// JWKSRefreshMinInterval is the least time between two fetches of the
	// key set started by tokens (an unknown "kid", or keys past their
	// freshness). Zero means DefaultJWKSRefreshMinInterval.
	JWKSRefreshMinInterval time.Duration
	// JWKSTTL is how long a key set is fresh when the issuer's response
	// has no Cache-Control max-age. Zero means DefaultJWKSTTL. A max-age
	// is honoured between JWKSRefreshMinInterval and MaxJWKSTTL.
	JWKSTTL time.Duration
	// RequireIssuer makes New fail when the issuer cannot be reached.
	// When false, New logs a warning and the Authenticator keeps trying,
	// at most once per JWKSRefreshMinInterval, as tokens arrive or Ready
	// is called.
	RequireIssuer bool
	// Now returns the time tokens are checked at and caches age by; nil
	// means time.Now.
	Now func() time.Time
	// Logger receives key set refreshes and their failures; nil discards.
	// Tokens are never logged.
	Logger *slog.Logger
}

// Authenticator checks OIDC bearer tokens (JWT access tokens) against an
// issuer's published keys and named allowlists of roles and scopes. It
// implements auth.Authenticator and is safe for concurrent use; its
// configuration never changes after New.
type Authenticator struct {
	issuer     string
	audience   string
	rolesPath  claimPath
	scopesPath claimPath
	allow      map[string]rule
	leeway     time.Duration
	now        func() time.Time
	keys       *keySet
}

// rule is a Rule as sets.
type rule struct {
	roles, scopes map[string]struct{}
}

var _ auth.Authenticator = (*Authenticator)(nil)

// New checks opts and returns an Authenticator. It fetches the issuer's
// discovery document and key set once, waiting at most until ctx ends; if
// that fails, New fails when opts.RequireIssuer is set, else it logs a
// warning and returns an Authenticator that fetches them later (see
// [Authenticator.Ready]). Invalid options are errors naming the option;
// an unreachable issuer with RequireIssuer is an error wrapping
// ErrUnavailable and the cause.
func New(ctx context.Context, opts Options) (*Authenticator, error) {
	if err := checkURL(opts.Issuer, false); err != nil {
		return nil, fmt.Errorf("oidc: Issuer: %w", err)
	}
	if opts.Audience == "" {
		return nil, errors.New("oidc: Audience is required")
	}
	a := &Authenticator{
		issuer:   opts.Issuer,
		audience: opts.Audience,
		allow:    make(map[string]rule, len(opts.Allowlists)),
		now:      opts.Now,
	}
	if a.now == nil {
		a.now = time.Now
	}
	var err error
	if a.rolesPath, err = parseClaimPath(opts.RolesClaim, DefaultRolesClaim); err != nil {
		return nil, fmt.Errorf("oidc: RolesClaim: %w", err)
	}
	if a.scopesPath, err = parseClaimPath(opts.ScopesClaim, DefaultScopesClaim); err != nil {
		return nil, fmt.Errorf("oidc: ScopesClaim: %w", err)
	}
	if err := a.setAllowlists(opts.Allowlists); err != nil {
		return nil, err
	}
	switch {
	case opts.Leeway == 0:
		a.leeway = DefaultLeeway
	case opts.Leeway < 0:
		a.leeway = 0
	case opts.Leeway > MaxLeeway:
		return nil, fmt.Errorf("oidc: Leeway %v is more than %v", opts.Leeway, MaxLeeway)
	default:
		a.leeway = opts.Leeway
	}
	ks := &keySet{
		issuer:     opts.Issuer,
		client:     opts.HTTPClient,
		timeout:    opts.HTTPTimeout,
		minGap:     opts.JWKSRefreshMinInterval,
		defaultTTL: opts.JWKSTTL,
		now:        a.now,
		log:        opts.Logger,
	}
	if ks.timeout == 0 {
		ks.timeout = DefaultHTTPTimeout
	} else if ks.timeout < 0 {
		return nil, fmt.Errorf("oidc: HTTPTimeout %v is negative", opts.HTTPTimeout)
	}
	if ks.minGap == 0 {
		ks.minGap = DefaultJWKSRefreshMinInterval
	} else if ks.minGap < 0 || ks.minGap > MaxJWKSTTL {
		return nil, fmt.Errorf("oidc: JWKSRefreshMinInterval %v is not between 0 and %v", opts.JWKSRefreshMinInterval, MaxJWKSTTL)
	}
	if ks.defaultTTL == 0 {
		ks.defaultTTL = DefaultJWKSTTL
	} else if ks.defaultTTL < 0 || ks.defaultTTL > MaxJWKSTTL {
		return nil, fmt.Errorf("oidc: JWKSTTL %v is not between 0 and %v", opts.JWKSTTL, MaxJWKSTTL)
	}
	ks.defaultTTL = max(ks.defaultTTL, ks.minGap)
	if ks.log == nil {
		ks.log = slog.New(slog.DiscardHandler)
	}
	if ks.client == nil {
		if ks.client, err = newHTTPClient(opts.RootCAs, ks.timeout); err != nil {
			return nil, fmt.Errorf("oidc: RootCAs: %w", err)
		}
	} else if len(opts.RootCAs) > 0 {
		return nil, errors.New("oidc: RootCAs and HTTPClient are both set; set the roots in HTTPClient")
	}
	a.keys = ks

	if err := a.Ready(ctx); err != nil {
		if opts.RequireIssuer {
			return nil, err
		}
		ks.log.Warn("oidc: issuer not reachable yet; tokens are refused until it is", "issuer", opts.Issuer, "err", err)
	}
	return a, nil
}

// setAllowlists checks and copies the allowlists.
func (a *Authenticator) setAllowlists(lists map[string]Rule) error {
	total := 0
	for name, r := range lists {
		switch {
		case name == "":
			return errors.New("oidc: Allowlists: an allowlist name is empty")
		case len(name) > maxAllowlistName:
			return fmt.Errorf("oidc: Allowlists: name %.32q… is longer than %d bytes", name, maxAllowlistName)
		case len(r.Roles) == 0 && len(r.Scopes) == 0:
			return fmt.Errorf("oidc: Allowlists: %q lists no role and no scope, so it would admit no one", name)
		}
		total += len(r.Roles) + len(r.Scopes)
		if total > maxRuleEntries {
			return fmt.Errorf("oidc: Allowlists: more than %d roles and scopes", maxRuleEntries)
		}
		var s rule
		for _, v := range r.Roles {
			if v == "" {
				return fmt.Errorf("oidc: Allowlists: %q lists an empty role", name)
			}
			s.roles = addTo(s.roles, v)
		}
		for _, v := range r.Scopes {
			if v == "" || strings.ContainsAny(v, " \t\n\r") {
				return fmt.Errorf("oidc: Allowlists: %q lists an empty scope or one with spaces", name)
			}
			s.scopes = addTo(s.scopes, v)
		}
		a.allow[name] = s
	}
	return nil
}

func addTo(set map[string]struct{}, v string) map[string]struct{} {
	if set == nil {
		set = make(map[string]struct{})
	}
	set[v] = struct{}{}
	return set
}

// Ready reports whether the Authenticator holds keys to check tokens with.
// If it does not, Ready fetches the discovery document and key set (or
// waits for a fetch under way) unless the last attempt was less than
// JWKSRefreshMinInterval ago, waiting at most until ctx ends. The error
// wraps ErrUnavailable and the cause. A readiness probe may call it; it
// never sends more requests to the issuer than tokens do.
func (a *Authenticator) Ready(ctx context.Context) error {
	return a.keys.ready(ctx)
}

// Authenticate returns the principal of the bearer token of r if the token
// is valid and meets the rule of the allowlist named allowlist.
//
// The token is taken from the one Authorization header, scheme "Bearer" in
// any letter case; no other header or parameter is read. Errors:
// auth.ErrNoCredentials when r has no Authorization header or one of
// another scheme; ErrInvalidToken (a kind of auth.ErrNoCredentials) when
// the token is not acceptable, with the reason; auth.ErrNotAllowlisted
// when the token is valid but the allowlist does not exist or the token
// has none of its roles and scopes; ErrUnavailable when no keys could be
// obtained from the issuer; the context's error when r's context ends while
// waiting for the key set. Valid tokens are checked before allowlists.
func (a *Authenticator) Authenticate(r *http.Request, allowlist string) (auth.Principal, error) {
	token, err := bearerToken(r)
	if err != nil {
		return auth.Principal{}, err
	}
	c, err := a.verify(r.Context(), token)
	if err != nil {
		return auth.Principal{}, err
	}
	p := auth.Principal{Method: Method, Subject: c.Subject}
	rl, ok := a.allow[allowlist]
	if !ok {
		return auth.Principal{}, fmt.Errorf("%w: allowlist %q is not configured for oidc", auth.ErrNotAllowlisted, allowlist)
	}
	if rl.roles != nil && anyIn(rl.roles, a.rolesPath.strings(c.raw, false)) {
		return p, nil
	}
	if rl.scopes != nil && anyIn(rl.scopes, a.scopesPath.strings(c.raw, true)) {
		return p, nil
	}
	return auth.Principal{}, fmt.Errorf("%w: subject %q has none of the roles and scopes of allowlist %q", auth.ErrNotAllowlisted, truncate(c.Subject, 128), allowlist)
}

func anyIn(set map[string]struct{}, values []string) bool {
	for _, v := range values {
		if _, ok := set[v]; ok {
			return true
		}
	}
	return false
}

// bearerToken returns the bearer token of r.
func bearerToken(r *http.Request) (string, error) {
	values := r.Header.Values("Authorization")
	switch {
	case len(values) == 0:
		return "", auth.ErrNoCredentials
	case len(values) > 1:
		return "", fmt.Errorf("%w: %d Authorization headers", ErrInvalidToken, len(values))
	}
	scheme, rest, _ := strings.Cut(values[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", fmt.Errorf("%w: Authorization scheme is not Bearer", auth.ErrNoCredentials)
	}
	token := strings.Trim(rest, " \t")
	switch {
	case len(token) > MaxTokenSize:
		return "", fmt.Errorf("%w: token of more than %d bytes", ErrInvalidToken, MaxTokenSize)
	case token == "":
		return "", fmt.Errorf("%w: empty bearer token", ErrInvalidToken)
	}
	return token, nil
}

// claims are the checked claims of a token.
type claims struct {
	Subject string
	raw     map[string]json.RawMessage
}

// verify checks the signature and the registered claims of token.
func (a *Authenticator) verify(ctx context.Context, token string) (claims, error) {
	jws, err := jose.ParseSignedCompact(token, allowedAlgs)
	if err != nil {
		return claims{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if len(jws.Signatures) != 1 {
		return claims{}, fmt.Errorf("%w: %d signatures", ErrInvalidToken, len(jws.Signatures))
	}
	h := jws.Signatures[0].Protected
	alg := jose.SignatureAlgorithm(h.Algorithm)
	keys, err := a.keys.lookup(ctx, h.KeyID)
	if err != nil {
		return claims{}, err
	}
	var payload []byte
	tries := 0
	for _, k := range keys {
		if (k.Algorithm != "" && k.Algorithm != string(alg)) || !algFits(alg, k.Key) {
			continue
		}
		if tries++; tries > maxVerifyTries {
			break
		}
		if payload, err = jws.Verify(k.Key); err == nil {
			break
		}
	}
	if payload == nil {
		return claims{}, fmt.Errorf("%w: no key of the issuer verifies the %s signature (kid %.64q)", ErrInvalidToken, alg, h.KeyID)
	}

	var std jwt.Claims
	c := claims{}
	if err := json.Unmarshal(payload, &c.raw); err != nil {
		return claims{}, fmt.Errorf("%w: claims: %w", ErrInvalidToken, err)
	}
	if err := json.Unmarshal(payload, &std); err != nil {
		return claims{}, fmt.Errorf("%w: claims: %w", ErrInvalidToken, err)
	}
	if std.Expiry == nil {
		return claims{}, fmt.Errorf("%w: no exp claim", ErrInvalidToken)
	}
	err = std.ValidateWithLeeway(jwt.Expected{
		Issuer:      a.issuer,
		AnyAudience: jwt.Audience{a.audience},
		Time:        a.now(),
	}, a.leeway)
	switch {
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return claims{}, fmt.Errorf("%w: issuer %.128q is not %q", ErrInvalidToken, std.Issuer, a.issuer)
	case err != nil:
		return claims{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	switch {
	case std.Subject == "":
		return claims{}, fmt.Errorf("%w: no sub claim", ErrInvalidToken)
	case len(std.Subject) > MaxSubject:
		return claims{}, fmt.Errorf("%w: sub claim longer than %d bytes", ErrInvalidToken, MaxSubject)
	case !utf8.ValidString(std.Subject):
		return claims{}, fmt.Errorf("%w: sub claim is not UTF-8", ErrInvalidToken)
	}
	c.Subject = std.Subject
	return c, nil
}

// algFits reports whether key is of the type alg needs.
func algFits(alg jose.SignatureAlgorithm, key any) bool {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return alg == jose.RS256
	case *ecdsa.PublicKey:
		return alg == jose.ES256 && k.Curve == elliptic.P256()
	case ed25519.PublicKey:
		return alg == jose.EdDSA
	}
	return false
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// newHTTPClient returns a client trusting the CAs of caPEM (the system
// roots when empty), that follows no redirects and bounds each request.
func newHTTPClient(caPEM []byte, timeout time.Duration) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if len(caPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, errors.New("no PEM certificate found")
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	tr.TLSHandshakeTimeout = timeout
	tr.ResponseHeaderTimeout = timeout
	tr.MaxResponseHeaderBytes = 64 << 10
	tr.MaxIdleConns = 4
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}, nil
}

// drain reads and discards at most 4 KiB of rc so the connection can be
// reused, then closes it.
func drain(rc io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, rc, 4<<10)
	_ = rc.Close()
}
