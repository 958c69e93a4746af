package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/osohost/osohost/host/auth/routetoken"
	"github.com/osohost/osohost/host/pki/pkitest"
	"github.com/osohost/osohost/host/plugin/plugintest"
	"github.com/osohost/osohost/internal/testbin"
)

// issuer is an oidcdev process.
type issuer struct{ url string }

// startIssuer builds (once) and starts the development OIDC issuer on a
// loopback port, over plain HTTP, and stops it when the test ends.
func startIssuer(t *testing.T, args ...string) *issuer {
	t.Helper()
	cmd := exec.Command(testbin.MustBuild(t, "cmd/oidcdev"), args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("oidcdev: %v", err)
	}
	var ev struct{ Issuer string }
	if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.Issuer == "" {
		t.Fatalf("oidcdev said %q", line)
	}
	return &issuer{url: ev.Issuer}
}

// token mints a token with the given claims.
func (i *issuer) token(t *testing.T, claims map[string]any) string {
	t.Helper()
	b, _ := json.Marshal(claims)
	resp, err := http.Post(i.url+"/token", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token: %v", err)
	}
	return tok.AccessToken
}

func (i *issuer) rotate(t *testing.T) {
	t.Helper()
	resp, err := http.Post(i.url+"/rotate", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

// TestE2E_OIDC serves the queue example to bearer tokens of a real issuer
// process, next to client certificates.
func TestE2E_OIDC(t *testing.T) {
	pk := pkitest.New(t)
	iss := startIssuer(t)
	other := startIssuer(t)
	env := append(baseEnv(t, pk, "frontend"),
		"AUTH__PARSERS__1__TYPE=oidc",
		"AUTH__PARSERS__1__ISSUER="+iss.url,
		"AUTH__PARSERS__1__AUDIENCE=osohost",
		`AUTH__PARSERS__1__ALLOWLIST={"component": {"roles": ["oso-admin"], "scopes": ["oso.documents"]}}`,
		"AUTH__PARSERS__1__JWKS_REFRESH_MIN_INTERVAL=1s",
	)
	srv := start(t, env, plugintest.Path(t, "queue"))
	url := "https://" + srv.addr + "/api/frontend/v1alpha1/status"
	anon := client(pk, nil)
	bearer := func(tok string) int {
		return do(t, anon, "GET", url, "", "Authorization", "Bearer "+tok).status
	}
	claims := func(extra map[string]any) map[string]any {
		c := map[string]any{"sub": "operator-1", "aud": "osohost"}
		for k, v := range extra {
			c[k] = v
		}
		return c
	}

	if got := bearer(iss.token(t, claims(map[string]any{"roles": []string{"oso-admin"}}))); got != 200 {
		t.Fatalf("admin role: %d, want 200", got)
	}
	if got := bearer(iss.token(t, claims(map[string]any{"scope": "openid oso.documents"}))); got != 200 {
		t.Fatalf("scope: %d, want 200", got)
	}
	if got := bearer(iss.token(t, claims(map[string]any{"scope": "openid"}))); got != 403 {
		t.Fatalf("missing scope: %d, want 403", got)
	}
	if got := do(t, anon, "GET", url, "").status; got != 401 {
		t.Fatalf("no token: %d, want 401", got)
	}
	if got := bearer(other.token(t, claims(map[string]any{"roles": []string{"oso-admin"}}))); got != 401 {
		t.Fatalf("token of another issuer: %d, want 401", got)
	}
	if got := bearer(iss.token(t, claims(map[string]any{"roles": []string{"oso-admin"}, "aud": "someone-else"}))); got != 401 {
		t.Fatalf("wrong audience: %d, want 401", got)
	}
	// A rotated key is accepted once the key set is fetched again (at
	// most once per JWKS_REFRESH_MIN_INTERVAL).
	iss.rotate(t)
	rotated := iss.token(t, claims(map[string]any{"roles": []string{"oso-admin"}}))
	await(t, "the rotated key", func() bool { return bearer(rotated) == 200 })
	// Client certificates still work beside tokens.
	if got := do(t, client(pk, &pk.Client), "GET", url, "").status; got != 200 {
		t.Fatalf("client certificate: %d, want 200", got)
	}
	if strings.Contains(srv.out.String(), rotated) {
		t.Fatal("a bearer token reached the log")
	}
}

// TestE2E_RouteTokens requires signed route tokens in the path: accepted
// until they expire, refused when forged or for another component.
func TestE2E_RouteTokens(t *testing.T) {
	pk := pkitest.New(t)
	secret := []byte("route-secret-for-the-e2e-test")
	keys := fmt.Sprintf(`{"active": "k", "keys": {"k": %q}}`, base64.StdEncoding.EncodeToString(secret))
	env := append(baseEnv(t, pk, "frontend"),
		"ROUTE_TOKENS__KEYS="+keys,
		"ROUTE_TOKENS__MODE=both",
		"ROUTE_TOKENS__CARRIER=path",
		"ROUTE_TOKENS__ID=oso-frontend",
		"ROUTE_TOKENS__PORT=4000",
	)
	srv := start(t, env, plugintest.Path(t, "queue"))
	c := client(pk, &pk.Client)
	get := func(prefix string) int {
		return do(t, c, "GET", "https://"+srv.addr+prefix+"/api/frontend/v1alpha1/status", "").status
	}
	short := func(id string, exp time.Time) string {
		tok, err := routetoken.SignShort(secret, "k", routetoken.ShortClaims{ID: id, Port: 4000, Expires: uint64(exp.Unix())})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	soon := time.Now().Add(3 * time.Second)
	tok := short("oso-frontend", soon)
	if got := get("/" + tok); got != 200 {
		t.Fatalf("signed path: %d, want 200", got)
	}
	strong, err := routetoken.SignStrong(secret, "k", routetoken.StrongClaims{ID: "oso-frontend", Method: "GET", Path: "/api/frontend", Expires: uint64(time.Now().Add(time.Hour).Unix())})
	if err != nil {
		t.Fatal(err)
	}
	if got := get("/" + strong); got != 200 {
		t.Fatalf("strong token: %d, want 200", got)
	}
	if got := get(""); got != 401 {
		t.Fatalf("no token: %d, want 401", got)
	}
	if got := get("/" + short("oso-backend", soon)); got != 401 {
		t.Fatalf("token of another component: %d, want 401", got)
	}
	if got := get("/oso-frontend-4000-0abc-12345678k"); got != 400 {
		t.Fatalf("malformed expiry: %d, want 400", got)
	}
	await(t, "the token to expire", func() bool { return time.Now().Unix() > soon.Unix() })
	if got := get("/" + tok); got != 401 {
		t.Fatalf("expired token: %d, want 401", got)
	}
	if strings.Contains(srv.out.String(), tok) || strings.Contains(srv.out.String(), strong) {
		t.Fatal("a route token reached the log")
	}
}
