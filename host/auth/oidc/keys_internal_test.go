package oidc

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

func TestParseMaxAge(t *testing.T) {
	for _, tt := range []struct {
		in   []string
		want time.Duration
		ok   bool
	}{
		{nil, 0, false},
		{[]string{"public"}, 0, false},
		{[]string{"max-age=300"}, 300 * time.Second, true},
		{[]string{"public, max-age=300, must-revalidate"}, 300 * time.Second, true},
		{[]string{"Max-Age = \"60\""}, 60 * time.Second, true},
		{[]string{"max-age=300", "max-age=100"}, 100 * time.Second, true},
		{[]string{"max-age=99999999999999999999999"}, MaxJWKSTTL, true},
		{[]string{"max-age=86400"}, MaxJWKSTTL, true},
		{[]string{"max-age=-5"}, 0, false},
		{[]string{"max-age=abc"}, 0, false},
		{[]string{"max-age=300, no-cache"}, 0, true},
		{[]string{"no-store"}, 0, true},
		{[]string{"s-maxage=300"}, 0, false},
	} {
		got, ok := parseMaxAge(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseMaxAge(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestCheckURL(t *testing.T) {
	for _, s := range []string{
		"https://idp.example", "https://idp.example/realms/oso", "https://idp.example:8443/",
		"http://127.0.0.1:8080", "http://localhost/x", "http://[::1]:9000",
	} {
		if err := checkURL(s, false); err != nil {
			t.Errorf("checkURL(%q): %v", s, err)
		}
	}
	for _, s := range []string{
		"", "idp.example", "/path", "http://idp.example", "http://10.0.0.1", "ftp://idp.example",
		"https://u@idp.example", "https://idp.example/#frag", "https://idp.example/?q=1", "https://idp.example/?",
		"https://", "https://idp.example/\x7f",
	} {
		if err := checkURL(s, false); err == nil {
			t.Errorf("checkURL(%q) accepted", s)
		}
	}
	if err := checkURL("https://idp.example/keys?v=2", true); err != nil {
		t.Errorf("query refused for jwks_uri: %v", err)
	}
}

func jwk(t *testing.T, key any, kid, alg, use string) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKey{Key: key, KeyID: kid, Algorithm: alg, Use: use})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseKeySet(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)

	set := func(keys ...json.RawMessage) []byte {
		b, _ := json.Marshal(map[string]any{"keys": keys})
		return b
	}
	keys, err := parseKeySet(set(
		jwk(t, &ec.PublicKey, "ec", "ES256", "sig"),
		jwk(t, edPriv, "ed-private", "", ""), // published by mistake: public part only
		jwk(t, &rsa2048.PublicKey, "rsa", "RS256", ""),
		jwk(t, edPub, "ed", "EdDSA", "sig"),
		jwk(t, &p384.PublicKey, "p384", "", ""),
		jwk(t, &ec.PublicKey, "enc", "", "enc"),
		jwk(t, &rsa2048.PublicKey, "ps", "PS256", ""),
		jwk(t, &rsa1024.PublicKey, "small", "RS256", ""),
		jwk(t, []byte("0123456789abcdef0123456789abcdef"), "hmac", "HS256", ""),
		jwk(t, []byte("0123456789abcdef0123456789abcdef"), "oct", "", ""),
		json.RawMessage(`{"kty":"OKP","crv":"Ed448","x":"AAAA","kid":"ed448"}`),
		json.RawMessage(`{"kty":"XYZ","kid":"unknown"}`),
		json.RawMessage(`"not an object"`),
	))
	if err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range keys {
		kids = append(kids, k.KeyID)
		if !k.IsPublic() {
			t.Errorf("%s is not public", k.KeyID)
		}
	}
	if got := strings.Join(kids, ","); got != "ec,ed-private,rsa,ed" {
		t.Errorf("kept %s", got)
	}

	for name, body := range map[string][]byte{
		"no usable key": set(jwk(t, &rsa1024.PublicKey, "small", "RS256", "")),
		"empty":         []byte(`{"keys":[]}`),
		"not JSON":      []byte(`<html>`),
		"keys not list": []byte(`{"keys":{}}`),
		"too many": set(func() []json.RawMessage {
			l := make([]json.RawMessage, maxJWKSKeys+1)
			for i := range l {
				l[i] = jwk(t, edPub, fmt.Sprint(i), "", "")
			}
			return l
		}()...),
	} {
		if _, err := parseKeySet(body); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestKeySet_Bounds serves oversized and malformed documents; the
// process-level tests cover the well-behaved issuer.
func TestKeySet_Bounds(t *testing.T) {
	ed, _, _ := ed25519.GenerateKey(rand.Reader)
	var srv *httptest.Server
	mux := http.NewServeMux()
	mux.HandleFunc("/big/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q,"pad":%q}`, srv.URL+"/big", srv.URL+"/jwks", strings.Repeat("x", maxDiscoverySize))
	})
	mux.HandleFunc("/bigjwks/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q}`, srv.URL+"/bigjwks", srv.URL+"/bigjwks/keys")
	})
	mux.HandleFunc("/bigjwks/keys", func(w http.ResponseWriter, r *http.Request) {
		w.(http.Flusher).Flush() // no Content-Length: the read limit must hold
		fmt.Fprintf(w, `{"keys":[%s],"pad":%q}`, jwk(t, ed, "k", "", ""), strings.Repeat("x", maxJWKSSize))
	})
	mux.HandleFunc("/redirect/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok/.well-known/openid-configuration", http.StatusFound)
	})
	mux.HandleFunc("/ok/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q}`, srv.URL+"/ok", srv.URL+"/ok/keys")
	})
	mux.HandleFunc("/ok/keys", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"keys":[%s]}`, jwk(t, ed, "k", "", ""))
	})
	mux.HandleFunc("/foreignjwks/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":"http://idp.example/keys"}`, srv.URL+"/foreignjwks")
	})
	srv = httptest.NewServer(mux)
	defer srv.Close()

	for path, want := range map[string]string{
		"/big":         "more than",
		"/bigjwks":     "more than",
		"/redirect":    "HTTP status 302",
		"/foreignjwks": "jwks_uri",
		"/missing":     "HTTP status 404",
		"/ok":          "",
	} {
		client, err := newHTTPClient(nil, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		s := &keySet{issuer: srv.URL + path, client: client, timeout: 5 * time.Second, minGap: time.Minute,
			defaultTTL: DefaultJWKSTTL, now: time.Now, log: slog.New(slog.DiscardHandler)}
		err = s.ready(t.Context())
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", path, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: %v, want %q", path, err, want)
		}
	}
}

func TestParseAllowlists(t *testing.T) {
	got, err := ParseAllowlists(`{"component": {"roles": ["oso-admin"], "scopes": ["oso.documents"]}, "admin": {"roles": ["a", "b"]}, "s": {"scopes": ["x"]}}` + "\n")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Rule{
		"component": {Roles: []string{"oso-admin"}, Scopes: []string{"oso.documents"}},
		"admin":     {Roles: []string{"a", "b"}},
		"s":         {Scopes: []string{"x"}},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got, err := ParseAllowlists(`{}`); err != nil || len(got) != 0 {
		t.Errorf("{}: %v, %v", got, err)
	}
	for _, bad := range []string{
		``, `null`, `[]`, `"x"`, `{"component": null}`, `{"component": []}`, `{"component": {}}`,
		`{"component": {"roles": null}}`, `{"component": {"roles": "oso-admin"}}`,
		`{"component": {"roles": [1]}}`, `{"component": {"roles": [null]}}`, `{"component": {"roles": [""]}}`,
		`{"component": {"scopes": ["a b"]}}`, `{"component": {"role": ["x"]}}`,
		`{"component": {"roles": ["x"]}, "component": {"roles": ["y"]}}`,
		`{"component": {"roles": ["x"]}} {}`, `{"component": {"roles": ["x"]}`, `{"": {"roles": ["x"]}}`,
		`{"` + strings.Repeat("n", maxAllowlistName+1) + `": {"roles": ["x"]}}`,
		`{'component': {'roles': ['x']}}`,
	} {
		if got, err := ParseAllowlists(bad); err == nil {
			t.Errorf("ParseAllowlists(%.60q) = %v, want an error", bad, got)
		}
	}
}

func TestClaimPath(t *testing.T) {
	raw := func(s string) map[string]json.RawMessage {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	p, err := parseClaimPath("a.b.c", "")
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		`{"a":{"b":{"c":["x","y"]}}}`:         "x,y",
		`{"a":{"b":{"c":"x y"}}}`:             "x y",
		`{"a.b.c":["top"],"a":{"b":{"c":1}}}`: "top",
		`{"a":{"b":null}}`:                    "",
		`{"a":{"b":{"c":{"d":1}}}}`:           "",
		`{"a":[{"b":{"c":["x"]}}]}`:           "",
	} {
		if got := strings.Join(p.strings(raw(in), false), ","); got != want {
			t.Errorf("%s: %q, want %q", in, got, want)
		}
	}
	if got := p.strings(raw(`{"a":{"b":{"c":" x  y "}}}`), true); strings.Join(got, ",") != "x,y" {
		t.Errorf("split: %q", got)
	}
	if p, _ := parseClaimPath("", "scope"); p.String() != "scope" {
		t.Errorf("default: %s", p)
	}
	for _, bad := range []string{".", "a.", ".a", "a..b", strings.Repeat("a", maxClaimPath+1)} {
		if _, err := parseClaimPath(bad, "x"); err == nil {
			t.Errorf("parseClaimPath(%q) accepted", bad)
		}
	}
}
