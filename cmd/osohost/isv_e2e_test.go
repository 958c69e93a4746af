package main

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/osohost/osohost/host/pki"
	"github.com/osohost/osohost/host/pki/pkitest"
	"github.com/osohost/osohost/host/plugin/plugintest"
)

// listeningEvent returns the internal listener's address from the
// server's "listening" log line.
func listeningEvent(t *testing.T, srv *server) (internal string) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(srv.out.String()))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var ev struct{ Event, Internal string }
		if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Event == "listening" {
			return ev.Internal
		}
	}
	t.Fatalf("no listening event:\n%s", srv.out.String())
	return ""
}

// http1Client speaks HTTP/1.1 only, so that hop-by-hop request headers
// reach the server as sent and hop-by-hop response headers would show.
func http1Client(pk *pkitest.PKI, id *pkitest.Identity) *http.Client {
	c := client(pk, id)
	tr := c.Transport.(*http.Transport)
	tr.ForceAttemptHTTP2 = false
	tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	return c
}

// TestE2E_ISVRoutes runs `osohost run` with the isvroutes example: plugin
// routes on the TLS listener behind their allowlists, an internal route on
// the loopback internal listener only, what the host filters on the way
// in and out, and the component routes unchanged.
func TestE2E_ISVRoutes(t *testing.T) {
	pk := pkitest.New(t)
	env := drop(baseEnv(t, pk, "backend"), "AUTH__PARSERS__0__ALLOWLIST")
	env = append(env,
		fmt.Sprintf(`AUTH__PARSERS__0__ALLOWLIST={"component": [%q], "admin": [%q]}`,
			pki.FormatFingerprint(pk.Client.Fingerprint), pki.FormatFingerprint(pk.Stranger.Fingerprint)),
		"SERVER__INTERNAL_LISTEN=127.0.0.1:0")
	srv := start(t, env, plugintest.Path(t, "isvroutes"))
	internal := listeningEvent(t, srv)
	if internal == "" || !strings.HasPrefix(internal, "127.0.0.1:") {
		t.Fatalf("internal listener %q", internal)
	}
	base := "https://" + srv.addr
	component := client(pk, &pk.Client)
	admin := client(pk, &pk.Stranger) // in the "admin" allowlist only

	t.Run("allowlists", func(t *testing.T) {
		tests := []struct {
			name string
			c    *http.Client
			path string
			want int
		}{
			{"component client", component, "/api/isv/hello", 200},
			{"no certificate", client(pk, nil), "/api/isv/hello", 401},
			{"certificate of another allowlist", admin, "/api/isv/hello", 403},
			{"admin route, component client", component, "/api/isv/admin", 403},
			{"admin route, admin client", admin, "/api/isv/admin", 200},
			{"admin route, no certificate", client(pk, nil), "/api/isv/admin", 401},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := do(t, tt.c, "GET", base+tt.path, "")
				if r.status != tt.want {
					t.Fatalf("status %d, want %d: %s", r.status, tt.want, r.body)
				}
				if tt.want != 200 {
					errorBody(t, r)
				}
			})
		}
		r := do(t, component, "GET", base+"/api/isv/hello", "")
		var hello struct{ Hello, Method, Fingerprint string }
		if err := json.Unmarshal(r.body, &hello); err != nil || hello.Method != "mtls" ||
			hello.Fingerprint != pki.FormatFingerprint(pk.Client.Fingerprint) || r.header.Get("Content-Type") != "application/json" {
			t.Fatalf("hello: %s (%v)", r.body, err)
		}
	})

	t.Run("methods", func(t *testing.T) {
		r := do(t, component, "HEAD", base+"/api/isv/hello", "")
		if r.status != 405 || r.header.Get("Allow") != "GET" {
			t.Fatalf("HEAD: %d, Allow %q", r.status, r.header.Get("Allow"))
		}
		if r := do(t, component, "GET", base+"/api/isv/nothing", ""); r.status != 404 {
			t.Fatalf("unknown route: %d", r.status)
		}
	})

	t.Run("state", func(t *testing.T) {
		for i, tt := range []struct{ method, body, want string }{
			{"POST", "5", `{"count":5}`},
			{"POST", "", `{"count":6}`},
			{"GET", "", `{"count":6}`},
		} {
			r := do(t, component, tt.method, base+"/api/isv/counter", tt.body)
			if r.status != 200 || string(r.body) != tt.want {
				t.Fatalf("step %d: %d %s, want %s", i, r.status, r.body, tt.want)
			}
		}
		if r := do(t, component, "POST", base+"/api/isv/counter", "lots"); r.status != 400 {
			t.Fatalf("bad step: %d", r.status)
		}
		if r := do(t, component, "GET", base+"/api/isv/counter", ""); string(r.body) != `{"count":6}` {
			t.Fatalf("a refused request changed the state: %s", r.body)
		}
	})

	t.Run("request headers the plugin never sees", func(t *testing.T) {
		r := do(t, http1Client(pk, &pk.Client), "POST", base+"/api/isv/echo/x?y=1", "payload",
			"Authorization", "Bearer secret-token",
			"Cookie", "session=secret",
			"Proxy-Authorization", "Basic c2VjcmV0",
			"Connection", "keep-alive, X-Hop",
			"X-Hop", "hop-by-hop",
			"Keep-Alive", "timeout=5",
			"X-SSL-Client-Verify", "SUCCESS",
			"X-OSO-Route-Token", "token",
			"X-OSO-Secure-Access", "access",
			"X-Visible", "yes")
		if r.status != 200 {
			t.Fatalf("echo: %d %s", r.status, r.body)
		}
		var echo struct {
			Route, Method, Path, Query, Principal string
			BodyBytes                             int `json:"body_bytes"`
			Headers                               map[string]string
		}
		if err := json.Unmarshal(r.body, &echo); err != nil {
			t.Fatalf("%s: %v", r.body, err)
		}
		if echo.Route != "echo" || echo.Method != "POST" || echo.Path != "/api/isv/echo/x" || echo.Query != "y=1" ||
			echo.Principal != "mtls" || echo.BodyBytes != 7 {
			t.Fatalf("echo %+v", echo)
		}
		if echo.Headers["x-visible"] != "yes" {
			t.Fatalf("an ordinary header is missing: %v", echo.Headers)
		}
		for name := range echo.Headers {
			switch name {
			case "authorization", "cookie", "proxy-authorization", "connection", "x-hop", "keep-alive",
				"x-ssl-client-verify", "x-oso-route-token", "x-oso-secure-access", "content-length", "host":
				t.Errorf("%s reached the plugin", name)
			}
		}
		if strings.Contains(string(r.body), "secret") {
			t.Errorf("a credential reached the plugin: %s", r.body)
		}
	})

	t.Run("body over the limit", func(t *testing.T) {
		r := do(t, component, "POST", base+"/api/isv/echo/x", strings.Repeat("x", 1<<20+1))
		if r.status != 413 {
			t.Fatalf("status %d", r.status)
		}
		errorBody(t, r)
		if r := do(t, component, "POST", base+"/api/isv/echo/x", strings.Repeat("x", 1<<20)); r.status != 200 {
			t.Fatalf("body at the limit: %d", r.status)
		}
	})

	t.Run("response headers the host does not send", func(t *testing.T) {
		req, _ := http.NewRequest("GET", base+"/api/isv/headers", nil)
		resp, err := http1Client(pk, &pk.Client).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		h := resp.Header
		if resp.StatusCode != 200 || string(body) != "headers\n" || h.Get("X-Plugin") != "isvroutes" {
			t.Fatalf("%d %q %v", resp.StatusCode, body, h)
		}
		checks := map[string]string{
			"Set-Cookie":                "",
			"Connection":                "",
			"Strict-Transport-Security": "max-age=31536000; includeSubDomains",
			"X-Frame-Options":           "SAMEORIGIN",
			"Content-Length":            "8",
			"Content-Type":              "text/plain; charset=utf-8",
		}
		for k, want := range checks {
			if got := strings.Join(h.Values(k), ","); got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
		if resp.Close || len(resp.TransferEncoding) > 0 || h.Get("X-Trace-ID") == "forged" || h.Get("X-Trace-ID") == "" {
			t.Errorf("close %v, transfer encoding %v, trace id %q", resp.Close, resp.TransferEncoding, h.Get("X-Trace-ID"))
		}
	})

	t.Run("guest error", func(t *testing.T) {
		r := do(t, component, "POST", base+"/api/isv/conflict", "")
		if _, _, d := errorBody(t, r); r.status != 409 || d != "conflict, as asked" {
			t.Fatalf("%d %q", r.status, d)
		}
	})

	t.Run("internal listener", func(t *testing.T) {
		plain := &http.Client{Timeout: 10 * time.Second}
		get := func(url string, hdr ...string) (int, string) {
			t.Helper()
			req, _ := http.NewRequest("GET", url, nil)
			for i := 0; i+1 < len(hdr); i += 2 {
				req.Header.Set(hdr[i], hdr[i+1])
			}
			resp, err := plain.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		if code, body := get("http://" + internal + "/internal/isv/health"); code != 200 || body != "ok\n" {
			t.Fatalf("internal route: %d %q", code, body)
		}
		// Nothing else is served there, whatever identity headers say.
		for _, p := range []string{"/api/backend/v1alpha1/status", "/api/isv/hello", "/internal/isv/other"} {
			if code, _ := get("http://"+internal+p, "X-SSL-Client-Verify", "SUCCESS",
				"X-SSL-Cert", strings.ReplaceAll(pk.Client.CertPEM, "\n", "%0A")); code != 404 {
				t.Errorf("internal listener %s: %d, want 404", p, code)
			}
		}
		// And the internal route is not on the TLS listener.
		if r := do(t, component, "GET", base+"/internal/isv/health", ""); r.status != 404 {
			t.Fatalf("internal route on the TLS listener: %d", r.status)
		}
	})

	t.Run("component routes unchanged", func(t *testing.T) {
		if r := do(t, component, "GET", base+"/api/backend/v1alpha1/status", ""); r.status != 200 {
			t.Fatalf("status: %d %s", r.status, r.body)
		}
		r := do(t, component, "POST", base+"/api/backend/v1alpha1/documents", `{"documents":[],"count":0}`)
		if r.status != 200 || string(r.body) != `{"accepted":true}` {
			t.Fatalf("documents: %d %s", r.status, r.body)
		}
		if r := do(t, admin, "GET", base+"/api/backend/v1alpha1/status", ""); r.status != 403 {
			t.Fatalf("status with the admin client: %d", r.status)
		}
		if r := do(t, component, "GET", base+"/api/backend/v1alpha1/nothing", ""); r.status != 404 {
			t.Fatalf("unknown component route: %d", r.status)
		}
	})

	t.Run("logs", func(t *testing.T) {
		out := srv.out.String()
		for _, want := range []string{`"event":"plugin route"`, `"route_id":"health"`, `"listener":"internal"`, `"route":"isv"`} {
			if !strings.Contains(out, want) {
				t.Errorf("the log lacks %s", want)
			}
		}
		for _, secret := range []string{"secret-token", "session=secret", "c2VjcmV0"} {
			if strings.Contains(out, secret) {
				t.Errorf("the log shows %q", secret)
			}
		}
	})
}

// TestE2E_ISVRoutes_NoInternal: a plugin without internal routes never
// binds the internal listener.
func TestE2E_ISVRoutes_NoInternal(t *testing.T) {
	pk := pkitest.New(t)
	env := append(baseEnv(t, pk, "frontend"), "SERVER__INTERNAL_LISTEN=127.0.0.1:0")
	srv := start(t, env, plugintest.Path(t, "queue"))
	if internal := listeningEvent(t, srv); internal != "" {
		t.Fatalf("internal listener bound at %s", internal)
	}
}
