package config

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/osohost/osohost/host/auth/oidc"
)

// OIDC holds the fields of an oidc parser (AUTH__PARSERS__<n>__TYPE=oidc):
// bearer tokens from an OpenID Connect issuer. See docs/oidc.md.
type OIDC struct {
	// Issuer is the issuer URL (ISSUER): https, or http on a loopback
	// address. Tokens must carry it as iss, exactly.
	Issuer string
	// Audience must be among a token's aud (AUDIENCE).
	Audience string
	// RolesClaim and ScopesClaim name the claims holding roles and scopes
	// (ROLES_CLAIM, default "roles"; SCOPES_CLAIM, default "scope"): a
	// top-level name or a dotted path such as realm_access.roles.
	RolesClaim, ScopesClaim string
	// Allowlists maps an allowlist name to the roles and scopes it admits
	// (ALLOWLIST): a token with any listed role or scope is admitted.
	Allowlists map[string]oidc.Rule
	// CA holds the CA certificates trusted for the issuer's TLS (CA);
	// empty means the system roots.
	CA PEM
	// Leeway is the clock skew tolerated on exp, nbf and iat (LEEWAY,
	// default 60s, at most 5m; 0s tolerates none).
	Leeway time.Duration
	// JWKSTTL is how long a fetched key set stays fresh without a
	// Cache-Control max-age (JWKS_TTL, default 15m, at most 1h).
	JWKSTTL time.Duration
	// JWKSRefreshMinInterval bounds key set fetches (one per interval)
	// when tokens name unknown keys (JWKS_REFRESH_MIN_INTERVAL, default 1m).
	JWKSRefreshMinInterval time.Duration
	// HTTPTimeout bounds each request to the issuer (HTTP_TIMEOUT,
	// default 10s).
	HTTPTimeout time.Duration
	// FailFast stops start-up when the issuer cannot be reached
	// (FAIL_FAST); by default the host serves and answers 503 to bearer
	// requests until it can.
	FailFast bool
}

// OIDC returns the oidc parser, if one is configured.
func (a Auth) OIDC() (OIDC, bool) {
	for _, p := range a.Parsers {
		if p.Type == ParserOIDC && p.OIDC != nil {
			return *p.OIDC, true
		}
	}
	return OIDC{}, false
}

// oidcParser decodes the fields of an oidc parser entry.
func (d *decoder) oidcParser(e entryFields) (*OIDC, bool) {
	d.unknownFields(e, "type", "issuer", "audience", "allowlist", "roles_claim", "scopes_claim", "ca",
		"leeway", "jwks_ttl", "jwks_refresh_min_interval", "http_timeout", "fail_fast")
	o := &OIDC{
		RolesClaim: oidc.DefaultRolesClaim, ScopesClaim: oidc.DefaultScopesClaim,
		Leeway: oidc.DefaultLeeway, JWKSTTL: oidc.DefaultJWKSTTL,
		JWKSRefreshMinInterval: oidc.DefaultJWKSRefreshMinInterval, HTTPTimeout: oidc.DefaultHTTPTimeout,
	}
	ok := true
	field := func(name string, required string, parse func(setting) error) {
		st, set := e.fields[name]
		if !set {
			if required != "" {
				d.p.fail(e.name(name), "required: "+required)
				ok = false
			}
			return
		}
		if err := parse(st); err != nil {
			d.p.fail(st.Name, err.Error())
			ok = false
		}
	}
	field("issuer", "the issuer URL, such as https://login.example.com/realms/oso", func(st setting) (err error) {
		o.Issuer, err = asIssuer(st.Raw)
		return err
	})
	field("audience", "the audience tokens must be issued for", func(st setting) (err error) {
		o.Audience, err = asName(st.Raw)
		return err
	})
	field("allowlist", `a JSON object of allowlist names to rules, such as {"component": {"roles": ["oso-admin"]}}`, func(st setting) error {
		text, err := jsonSetting(st.Raw)
		if err == nil {
			o.Allowlists, err = oidc.ParseAllowlists(text)
		}
		return err
	})
	field("roles_claim", "", func(st setting) (err error) {
		o.RolesClaim, err = asName(st.Raw)
		return err
	})
	field("scopes_claim", "", func(st setting) (err error) {
		o.ScopesClaim, err = asName(st.Raw)
		return err
	})
	field("ca", "", func(st setting) error {
		s, err := asString(st.Raw)
		if err != nil {
			return err
		}
		if !x509.NewCertPool().AppendCertsFromPEM([]byte(s)) {
			return errors.New("must be the PEM text of one or more CA certificates")
		}
		o.CA = PEM(s)
		return nil
	})
	bounded := func(dst *time.Duration, lo, hi time.Duration) func(setting) error {
		return func(st setting) error {
			v, err := asDuration(st.Raw)
			if err == nil && (v < lo || v > hi) {
				err = fmt.Errorf("must be between %v and %v, not %v", lo, hi, v)
			}
			*dst = v
			return err
		}
	}
	field("leeway", "", bounded(&o.Leeway, 0, oidc.MaxLeeway))
	field("jwks_ttl", "", bounded(&o.JWKSTTL, time.Second, oidc.MaxJWKSTTL))
	field("jwks_refresh_min_interval", "", bounded(&o.JWKSRefreshMinInterval, time.Second, time.Hour))
	field("http_timeout", "", bounded(&o.HTTPTimeout, time.Second, 5*time.Minute))
	field("fail_fast", "", func(st setting) (err error) {
		o.FailFast, err = asBool(st.Raw)
		return err
	})
	return o, ok
}

// asIssuer reads an issuer URL: https, or http on a loopback host.
func asIssuer(v any) (string, error) {
	s, err := asString(v)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("must be an absolute URL without credentials, query or fragment")
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())) {
		return "", errors.New("must use https (http only on a loopback address)")
	}
	return s, nil
}

// jsonText returns a setting holding JSON as text: a string as is, a
// mapping from the file encoded.
func jsonSetting(v any) (string, error) {
	if s, ok := v.(string); ok {
		return s, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", errors.New("must be a JSON object")
	}
	return string(b), nil
}
