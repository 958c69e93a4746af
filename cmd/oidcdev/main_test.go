package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

func TestParseFlags(t *testing.T) {
	if _, err := parseFlags(nil, io.Discard); err != nil {
		t.Errorf("defaults: %v", err)
	}
	for _, args := range [][]string{
		{"--listen", "0.0.0.0:0"},
		{"--listen", ":8080"},
		{"--listen", "10.1.2.3:80"},
		{"--cert", "x.crt"},
		{"--alg", "HS256"},
		{"--token-ttl", "0s"},
		{"extra"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
	if code := run(context.Background(), []string{"--listen", "0.0.0.0:0"}, io.Discard, io.Discard); code != 2 {
		t.Errorf("exit code %d for a bad flag, want 2", code)
	}
}

func TestIssuer(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	iss, err := newIssuer("https://idp.example", "https://127.0.0.1:1", config{alg: "EdDSA", maxAge: 60, tokenTTL: time.Hour}, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(iss.handler())
	defer srv.Close()
	do := func(method, path, body string) (map[string]any, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s %s: %d %v", method, path, resp.StatusCode, err)
		}
		return out, resp.Header
	}
	keys := func() jose.JSONWebKeySet {
		t.Helper()
		out, h := do("GET", "/jwks", "")
		if h.Get("Cache-Control") != "public, max-age=60" {
			t.Errorf("Cache-Control %q", h.Get("Cache-Control"))
		}
		b, _ := json.Marshal(out)
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(b, &set); err != nil {
			t.Fatal(err)
		}
		return set
	}

	disc, _ := do("GET", "/.well-known/openid-configuration", "")
	if disc["issuer"] != "https://idp.example" || disc["jwks_uri"] != "https://127.0.0.1:1/jwks" {
		t.Errorf("discovery %v", disc)
	}
	tok, _ := do("POST", "/token", `{"sub": "alice", "iat": null, "aud": ["a", "b"]}`)
	jws, err := jose.ParseSignedCompact(tok["access_token"].(string), []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	set := keys()
	if len(set.Keys) != 1 || jws.Signatures[0].Header.KeyID != set.Keys[0].KeyID || tok["kid"] != set.Keys[0].KeyID {
		t.Fatalf("token kid %q, key set %v", jws.Signatures[0].Header.KeyID, set.Keys)
	}
	payload, err := jws.Verify(set.Keys[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	_ = json.Unmarshal(payload, &claims)
	if claims["iss"] != "https://idp.example" || claims["exp"] != float64(now.Add(time.Hour).Unix()) || claims["sub"] != "alice" {
		t.Errorf("claims %v", claims)
	}
	if _, set := claims["iat"]; set {
		t.Error("iat: null was not removed")
	}

	tok, _ = do("POST", "/token?kid=", `{}`)
	if jws, _ := jose.ParseSignedCompact(tok["access_token"].(string), []jose.SignatureAlgorithm{jose.EdDSA}); jws.Signatures[0].Header.KeyID != "" {
		t.Error("empty ?kid= kept a key id")
	}

	first := set.Keys[0].KeyID
	rot, _ := do("POST", "/rotate?keep=true&alg=RS256", "")
	if set := keys(); len(set.Keys) != 2 || set.Keys[0].KeyID != first || set.Keys[1].KeyID != rot["kid"] || set.Keys[1].Algorithm != "RS256" {
		t.Errorf("after keep: %v", set.Keys)
	}
	rot, _ = do("POST", "/rotate", "")
	if set := keys(); len(set.Keys) != 1 || set.Keys[0].KeyID != rot["kid"] || set.Keys[0].Algorithm != "RS256" {
		t.Errorf("after drop: %v", set.Keys)
	}
	stats, _ := do("GET", "/stats", "")
	if stats["jwks"] != float64(3) || stats["discovery"] != float64(1) || stats["tokens"] != float64(2) {
		t.Errorf("stats %v", stats)
	}

	resp, err := http.Post(srv.URL+"/token", "application/json", bytes.NewBufferString(`[1]`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("list body: %d", resp.StatusCode)
	}
}
