package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/host/auth"
	"github.com/osohost/osohost/host/auth/mtls"
	"github.com/osohost/osohost/host/auth/oidc"
	"github.com/osohost/osohost/host/hostcall"
	"github.com/osohost/osohost/host/plugin"
	"github.com/osohost/osohost/host/plugin/plugintest"
	"github.com/osohost/osohost/host/state"
)

// routeAuth authenticates as host/auth/multi would with an mtls and an
// oidc method: a client certificate is judged by mtls, else a bearer
// token by oidc. accept lists, per method, the allowlists that accept the
// credential.
type routeAuth struct {
	accept map[string][]string
}

func (a routeAuth) Authenticate(r *http.Request, allowlist string) (auth.Principal, error) {
	var p auth.Principal
	switch {
	case r.TLS != nil && len(r.TLS.PeerCertificates) > 0:
		p = auth.Principal{Method: "mtls", Fingerprint: [32]byte{1, 2, 3}, Subject: "CN=client"}
	case strings.HasPrefix(r.Header.Get("Authorization"), "Bearer "):
		p = auth.Principal{Method: "oidc", Subject: "alice"}
	default:
		return p, auth.ErrNoCredentials
	}
	if !slices.Contains(a.accept[p.Method], allowlist) {
		return auth.Principal{}, auth.ErrNotAllowlisted
	}
	return p, nil
}

// fakeRoutes is a Caller that serves handle_http as plugin.Pool does,
// routing with the context's Router, and answers res or err.
type fakeRoutes struct {
	routes *plugin.Routes
	res    plugin.Result
	err    error

	calls int
	got   abi.HTTPRequestView
	ctx   context.Context
}

func (f *fakeRoutes) Call(ctx context.Context, export string, in []byte) (plugin.Result, error) {
	if export != abi.ExportHandleHTTP {
		return plugin.Result{}, plugin.ErrUnknownExport
	}
	if route := plugin.RouterFrom(ctx); route != nil {
		var err error
		if ctx, in, err = route(ctx, f.routes); err != nil {
			return plugin.Result{}, err
		}
	}
	f.calls++
	v, err := abi.DecodeHTTPRequest(in)
	if err != nil {
		return plugin.Result{}, err
	}
	f.got, f.ctx = v, ctx
	return f.res, f.err
}

func mustRoutes(t *testing.T, table string) *plugin.Routes {
	t.Helper()
	rs, err := plugin.ParseRoutes([]byte(table))
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

const testTable = `{"routes":[
	{"id":"default","path":"/api/isv/default","methods":["GET","POST"]},
	{"id":"admin","path":"/api/isv/admin","methods":["GET"],"auth":{"mtls":"admin"}},
	{"id":"oidc","path":"/api/isv/oidc","methods":["GET"],"auth":{"oidc":"component"}},
	{"id":"any","path":"/api/isv/any","methods":["GET"],"auth":{"allowlist":"component"}},
	{"id":"public","path":"/api/isv/public/","methods":["GET","HEAD"],"auth":{"public":true}},
	{"id":"token","path":"/api/isv/token","methods":["GET"],"route_token":true},
	{"id":"int","path":"/internal/isv/","methods":["GET","POST"]}
]}`

func httpResult(status int, body string, headers ...abi.Header) plugin.Result {
	return plugin.Result{Kind: abi.OutputHTTP, Data: abi.AppendHTTPResponse(nil, status, headers, []byte(body))}
}

func newISVHandler(t *testing.T, c Caller, opts Options) *Handler {
	t.Helper()
	opts.Mode = "frontend"
	opts.Pool = func() Caller { return c }
	if opts.Auth == nil {
		opts.Auth = routeAuth{accept: map[string][]string{"mtls": {"component"}, "oidc": {"component"}}}
	}
	h, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

type reqOpt func(*http.Request)

func withCert(r *http.Request) {
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{{Subject: pkix.Name{CommonName: "client"}}}}
}

func withBearer(r *http.Request) { r.Header.Set("Authorization", "Bearer token") }

func do(h http.Handler, method, target, body string, opts ...reqOpt) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	for _, o := range opts {
		o(r)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func errorCode(t *testing.T, w *httptest.ResponseRecorder) int {
	t.Helper()
	var e struct {
		Code        int    `json:"code"`
		Name        string `json:"name"`
		Description string `json:"description"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Name == "" || e.Description == "" {
		t.Fatalf("error body %q: %v", w.Body, err)
	}
	return e.Code
}

func TestRoutes_Auth(t *testing.T) {
	f := &fakeRoutes{routes: mustRoutes(t, testTable), res: httpResult(200, "ok")}
	h := newISVHandler(t, f, Options{})
	tests := []struct {
		name, method, path string
		opts               []reqOpt
		want               int
		principal          string
	}{
		{"default with cert", "GET", "/api/isv/default", []reqOpt{withCert}, 200, "mtls"},
		{"default without credentials", "GET", "/api/isv/default", nil, 401, ""},
		{"default with a bearer token only", "GET", "/api/isv/default", []reqOpt{withBearer}, 401, ""},
		{"other allowlist", "GET", "/api/isv/admin", []reqOpt{withCert}, 403, ""},
		{"oidc with token", "GET", "/api/isv/oidc", []reqOpt{withBearer}, 200, "oidc"},
		{"oidc with cert only", "GET", "/api/isv/oidc", []reqOpt{withCert}, 401, ""},
		{"oidc with both, judged by mtls", "GET", "/api/isv/oidc", []reqOpt{withCert, withBearer}, 403, ""},
		{"allowlist with cert", "GET", "/api/isv/any", []reqOpt{withCert}, 200, "mtls"},
		{"allowlist with token", "GET", "/api/isv/any", []reqOpt{withBearer}, 200, "oidc"},
		{"public", "GET", "/api/isv/public/x", nil, 200, "public"},
		{"public HEAD", "HEAD", "/api/isv/public/", nil, 200, "public"},
		{"route token without a gate", "GET", "/api/isv/token", []reqOpt{withCert}, 403, ""},
		{"wrong method", "DELETE", "/api/isv/default", []reqOpt{withCert}, 405, ""},
		{"unknown", "GET", "/api/isv/nope", []reqOpt{withCert}, 404, ""},
		{"internal route on the TLS listener", "GET", "/internal/isv/x", []reqOpt{withCert}, 404, ""},
		{"outside /api/", "GET", "/other", nil, 404, ""},
		{"encoded slash", "GET", "/api/isv/public/a%2Fb", nil, 404, ""},
		{"dot segment", "GET", "/api/isv/public/../default", nil, 404, ""},
		{"empty segment", "GET", "/api/isv/public//x", nil, 404, ""},
		{"long path", "GET", "/api/isv/public/" + strings.Repeat("a", abi.MaxHTTPPathBytes), nil, 414, ""},
		{"long query", "GET", "/api/isv/public/?" + strings.Repeat("a", abi.MaxHTTPQueryBytes+1), nil, 414, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.calls
			w := do(h, tt.method, tt.path, "", tt.opts...)
			if w.Code != tt.want {
				t.Fatalf("%d %s, want %d", w.Code, w.Body, tt.want)
			}
			called := f.calls > before
			if called != (tt.want == 200) {
				t.Fatalf("guest called: %v", called)
			}
			if tt.want != 200 {
				if tt.method != "HEAD" && errorCode(t, w) != tt.want {
					t.Fatal("error body code differs from the status")
				}
				return
			}
			if string(f.got.PrincipalMethod) != tt.principal {
				t.Errorf("principal %q, want %q", f.got.PrincipalMethod, tt.principal)
			}
			if tt.principal == "mtls" && !strings.HasPrefix(string(f.got.PrincipalID), "SHA256:") {
				t.Errorf("principal id %q", f.got.PrincipalID)
			}
		})
	}
	w := do(h, "DELETE", "/api/isv/default", "", withCert)
	if w.Header().Get("Allow") != "GET, POST" {
		t.Errorf("Allow %q", w.Header().Get("Allow"))
	}
}

func TestRoutes_Request(t *testing.T) {
	f := &fakeRoutes{routes: mustRoutes(t, testTable), res: httpResult(200, "ok")}
	h := newISVHandler(t, f, Options{PrivateHeaders: []string{"X-Custom-Token"}, BodyLimit: 16})
	r := httptest.NewRequest("POST", "/api/isv/default?a=1&b=%20", strings.NewReader("body"))
	withCert(r)
	withBearer(r)
	r.Header.Set("X-Trace-ID", "trace-1")
	r.Header.Set("Cookie", "c=1")
	r.Header.Set("Connection", "keep-alive, X-Hop")
	r.Header.Set("X-Hop", "hop")
	r.Header.Set("Keep-Alive", "timeout=5")
	r.Header.Set("Proxy-Authorization", "Basic x")
	r.Header.Set("X-SSL-Client-Verify", "SUCCESS")
	r.Header.Set("X-OSO-Route-Token", "t")
	r.Header.Set("OpenSandbox-Secure-Access", "s")
	r.Header.Set("X-Custom-Token", "secret")
	r.Header.Set("Te", "trailers")
	r.Header.Set("Upgrade", "h2c")
	r.Header.Set("Accept", "text/plain")
	r.Header.Add("X-Multi", "2")
	r.Header.Add("X-Multi", "1")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	g := f.got
	if string(g.RouteID) != "default" || string(g.Method) != "POST" || string(g.Path) != "/api/isv/default" ||
		string(g.Query) != "a=1&b=%20" || string(g.TraceID) != "trace-1" || string(g.Body) != "body" ||
		string(g.PrincipalSubject) != "CN=client" {
		t.Fatalf("request %+v", g)
	}
	var got []string
	for _, hv := range g.Headers {
		got = append(got, string(hv.Name)+": "+string(hv.Value))
	}
	want := []string{"accept: text/plain", "x-multi: 2", "x-multi: 1"}
	if !slices.Equal(got, want) {
		t.Fatalf("headers %q, want %q", got, want)
	}

	// Bounds: the body, the number of header fields, one value.
	if w := do(h, "POST", "/api/isv/default", strings.Repeat("x", 17), withCert); w.Code != 413 {
		t.Fatalf("large body: %d", w.Code)
	}
	many := func(r *http.Request) {
		for i := range abi.MaxHTTPHeaders + 1 {
			r.Header.Add("X-Many", string(rune('a'+i%26)))
		}
	}
	if w := do(h, "GET", "/api/isv/default", "", withCert, many); w.Code != 431 {
		t.Fatalf("many headers: %d", w.Code)
	}
	long := func(r *http.Request) { r.Header.Set("X-Long", strings.Repeat("v", abi.MaxHTTPHeaderValueBytes+1)) }
	if w := do(h, "GET", "/api/isv/default", "", withCert, long); w.Code != 431 {
		t.Fatalf("long header: %d", w.Code)
	}
	// Limits are checked after authentication: an anonymous client gets
	// 401, and its body is never read.
	if w := do(h, "POST", "/api/isv/default", strings.Repeat("x", 17)); w.Code != 401 {
		t.Fatalf("anonymous large body: %d", w.Code)
	}
}

func TestRoutes_Response(t *testing.T) {
	f := &fakeRoutes{routes: mustRoutes(t, testTable)}
	h := newISVHandler(t, f, Options{})
	h1 := func(n, v string) abi.Header { return abi.Header{Name: n, Value: v} }
	tests := []struct {
		name    string
		res     plugin.Result
		err     error
		status  int
		body    string
		headers map[string]string // "" means absent
	}{
		{"http", httpResult(201, "made", h1("X-Plugin", "1"), h1("Location", "/api/isv/x")), nil, 201, "made",
			map[string]string{"X-Plugin": "1", "Location": "/api/isv/x", "Content-Type": "application/octet-stream", "Content-Length": "4"}},
		{"forbidden headers", httpResult(200, "x",
			h1("Content-Type", "text/plain"), h1("Set-Cookie", "s=1"), h1("Connection", "close, X-Gone"), h1("X-Gone", "1"),
			h1("Content-Length", "999"), h1("Transfer-Encoding", "chunked"), h1("Strict-Transport-Security", "max-age=0"),
			h1("X-Frame-Options", "ALLOWALL"), h1("Cache-Control", "public"), h1("X-Trace-ID", "forged"), h1("Proxy-Thing", "1"),
			h1("Alt-Svc", "h3=\":1\""), h1("Keep-Alive", "1")), nil, 200, "x",
			map[string]string{"Content-Type": "text/plain", "Set-Cookie": "", "Connection": "", "X-Gone": "", "Content-Length": "1",
				"Transfer-Encoding": "", "Strict-Transport-Security": "max-age=31536000; includeSubDomains", "X-Frame-Options": "SAMEORIGIN",
				"Cache-Control": "no-cache, no-store, must-revalidate", "Proxy-Thing": "", "Alt-Svc": "", "Keep-Alive": ""}},
		{"json", plugin.Result{Kind: abi.OutputJSON, Data: []byte(`{"a":[1,2]}`)}, nil, 200, `{"a":[1,2]}`,
			map[string]string{"Content-Type": "application/json"}},
		{"nothing", plugin.Result{}, nil, 204, "", map[string]string{"Content-Length": ""}},
		{"empty 204", httpResult(204, ""), nil, 204, "", nil},
		{"bad json", plugin.Result{Kind: abi.OutputJSON, Data: []byte(`{"a":`)}, nil, 502, "", nil},
		{"kind", plugin.Result{Kind: abi.OutputStatus, Data: []byte{}}, nil, 502, "", nil},
		{"malformed", plugin.Result{Kind: abi.OutputHTTP, Data: []byte{1, 2}}, nil, 502, "", nil},
		{"status 1xx", httpResult(101, ""), nil, 502, "", nil},
		{"status 600", httpResult(600, ""), nil, 502, "", nil},
		{"body with 304", httpResult(304, "x"), nil, 502, "", nil},
		{"bad name", httpResult(200, "", h1("Bad Name", "x")), nil, 502, "", nil},
		{"empty name", httpResult(200, "", h1("", "x")), nil, 502, "", nil},
		{"CRLF in value", httpResult(200, "", h1("X-A", "a\r\nSet-Cookie: s=1")), nil, 502, "", nil},
		{"value with spaces around", httpResult(200, "", h1("X-A", " a")), nil, 502, "", nil},
		{"long value", httpResult(200, "", h1("X-A", strings.Repeat("a", abi.MaxHTTPHeaderValueBytes+1))), nil, 502, "", nil},
		{"two content types", httpResult(200, "", h1("Content-Type", "a/b"), h1("content-type", "c/d")), nil, 502, "", nil},
		{"guest error", plugin.Result{}, &plugin.GuestError{Code: 409, Message: "busy"}, 409, "", nil},
		{"trap", plugin.Result{}, &plugin.TrapError{Err: errors.New("unreachable")}, 500, "", nil},
		{"timeout", plugin.Result{}, plugin.ErrCallTimeout, 504, "", nil},
		{"output refused", plugin.Result{}, &plugin.OutputError{Reason: "too large"}, 502, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.res, f.err = tt.res, tt.err
			w := do(h, "GET", "/api/isv/default", "", withCert)
			if w.Code != tt.status {
				t.Fatalf("%d %s, want %d", w.Code, w.Body, tt.status)
			}
			if tt.status >= 400 {
				if errorCode(t, w) != tt.status || w.Header().Get("Content-Type") != "application/json" {
					t.Fatal("not the framework's error shape")
				}
				if tt.status == 409 && !strings.Contains(w.Body.String(), "busy") {
					t.Fatalf("the guest's message is lost: %s", w.Body)
				}
				return
			}
			if w.Body.String() != tt.body {
				t.Fatalf("body %q", w.Body)
			}
			for k, v := range tt.headers {
				if got := strings.Join(w.Result().Header.Values(k), ","); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if w.Header().Get("X-Trace-ID") == "forged" || w.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Error("security headers not the host's")
			}
		})
	}
}

// failingRoutes is a Caller that ignores the router: the handler must not
// answer with what it returns.
type failingRoutes struct{}

func (failingRoutes) Call(context.Context, string, []byte) (plugin.Result, error) {
	return httpResult(200, "unauthenticated"), nil
}

func TestRoutes_CallerIgnoresRouter(t *testing.T) {
	h := newISVHandler(t, failingRoutes{}, Options{})
	if w := do(h, "GET", "/api/isv/default", ""); w.Code != 500 || strings.Contains(w.Body.String(), "unauthenticated") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

func TestRoutes_Internal(t *testing.T) {
	f := &fakeRoutes{routes: mustRoutes(t, testTable), res: httpResult(200, "ok")}
	gate := refuseGate{}
	var observed []string
	h := newISVHandler(t, f, Options{Gate: gate, Auth: denyAllAuth{},
		Observe: func(route, _ string, _ int, _ time.Duration) { observed = append(observed, route) }})
	in := h.Internal()
	w := do(in, "POST", "/internal/isv/ping?x=1", "hi", func(r *http.Request) { r.Header.Set("X-SSL-Client-Verify", "SUCCESS") })
	if w.Code != 200 || w.Body.String() != "ok" {
		t.Fatalf("internal route: %d %s", w.Code, w.Body)
	}
	if string(f.got.PrincipalMethod) != "internal" || string(f.got.RouteID) != "int" || string(f.got.Body) != "hi" {
		t.Fatalf("request %+v", f.got)
	}
	for _, hv := range f.got.Headers {
		if strings.HasPrefix(string(hv.Name), "x-ssl-") {
			t.Fatal("an X-SSL- header reached the guest")
		}
	}
	if w.Header().Get("X-Trace-ID") == "" || w.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Error("internal responses lack the host's headers")
	}
	// The internal listener serves nothing else: no component route, no
	// external plugin route.
	for _, p := range []string{"/api/frontend/v1alpha1/status", "/api/isv/public/x", "/internal", "/"} {
		if w := do(in, "GET", p, ""); w.Code != 404 {
			t.Errorf("internal %s: %d", p, w.Code)
		}
	}
	// The TLS listener's gate refuses everything here; the internal
	// listener does not consult it.
	if w := do(h, "GET", "/api/isv/public/x", ""); w.Code != 401 {
		t.Errorf("gated TLS listener: %d", w.Code)
	}
	if want := []string{"internal", "unknown", "unknown", "unknown", "unknown", "refused"}; !slices.Equal(observed, want) {
		t.Errorf("observed %q, want %q", observed, want)
	}
}

type refuseGate struct{}

func (refuseGate) Check(*http.Request) (*http.Request, error) { return nil, auth.ErrNoCredentials }
func (refuseGate) Redact(r *http.Request) *http.Request       { return r }

type denyAllAuth struct{}

func (denyAllAuth) Authenticate(*http.Request, string) (auth.Principal, error) {
	return auth.Principal{}, auth.ErrNoCredentials
}

func TestRoutes_Transaction(t *testing.T) {
	f := &fakeRoutes{routes: mustRoutes(t, testTable)}
	var mu sync.Mutex
	var txns []*recordingTxn
	h := newISVHandler(t, f, Options{Begin: func(ctx context.Context) (context.Context, Txn) {
		mu.Lock()
		defer mu.Unlock()
		txn := &recordingTxn{}
		txns = append(txns, txn)
		return ctx, txn
	}})
	f.res = httpResult(200, "ok")
	if w := do(h, "GET", "/api/isv/default", "", withCert); w.Code != 200 || !txns[0].committed {
		t.Fatalf("success: %d, committed %v", w.Code, txns[0].committed)
	}
	f.res = httpResult(200, "", abi.Header{Name: "Bad Name", Value: "x"})
	if w := do(h, "GET", "/api/isv/default", "", withCert); w.Code != 502 || txns[1].committed || !txns[1].rolledBack {
		t.Fatalf("invalid output: %d, committed %v", w.Code, txns[1].committed)
	}
	f.res, f.err = plugin.Result{}, &plugin.GuestError{Code: 400}
	if w := do(h, "GET", "/api/isv/default", "", withCert); w.Code != 400 || !txns[2].rolledBack {
		t.Fatalf("guest error: %d", w.Code)
	}
	// No transaction for a request refused before the guest.
	if w := do(h, "GET", "/api/isv/default", ""); w.Code != 401 || len(txns) != 3 {
		t.Fatalf("refused: %d, %d transactions", w.Code, len(txns))
	}
}

func TestCheckRoutes(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	rs := mustRoutes(t, testTable)
	c := RouteCheck{Allowlists: map[string][]string{"mtls": {"component"}, "oidc": {"ops"}}, Logger: log}
	err := CheckRoutes(rs, c)
	if err == nil || !strings.Contains(err.Error(), `route "token" requires route tokens`) {
		t.Fatalf("err = %v", err)
	}
	c.RouteTokens = true
	logs.Reset()
	if err := CheckRoutes(rs, c); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	for _, want := range []string{
		`"msg":"plugin route is public: served without authentication","route_id":"public"`,
		`"msg":"plugin route names an allowlist that is not configured: every request to it is refused","route_id":"admin"`,
		`"msg":"plugin route names an allowlist that is not configured: every request to it is refused","route_id":"oidc"`,
		`"route_id":"int","path":"/internal/isv/","methods":"GET,POST","listener":"internal"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s\n%s", want, out)
		}
	}
	if strings.Contains(out, `not configured: every request to it is refused","route_id":"any"`) {
		t.Error("an allowlist any method has is reported missing")
	}
	if err := CheckRoutes(nil, RouteCheck{}); err != nil {
		t.Fatal(err)
	}
}

// TestRoutes_MethodNames pins the principal methods of host/auth to the
// route table's names.
func TestRoutes_MethodNames(t *testing.T) {
	if mtls.Method != abi.RouteAuthMTLS || oidc.Method != abi.RouteAuthOIDC {
		t.Fatal("auth method names differ from the route table's")
	}
}

// TestRoutes_Guest serves the isvroutes example through a real pool and a
// real state store.
func TestRoutes_Guest(t *testing.T) {
	ctx := context.Background()
	st, err := state.Open(filepath.Join(t.TempDir(), "state.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ns, err := st.Namespace(ctx, "isv", state.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := plugin.NewEngine(ctx, plugin.EngineOptions{HostFunctions: hostcall.State(nil, hostcall.StateLimits{})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(ctx) })
	mod, err := eng.Compile(ctx, plugintest.Read(t, "isvroutes"))
	if err != nil {
		t.Fatal(err)
	}
	pool, err := plugin.NewPool(ctx, mod, plugin.PoolOptions{Size: 1, CallTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close(ctx) })
	h := newISVHandler(t, pool, Options{Begin: func(ctx context.Context) (context.Context, Txn) {
		txn := ns.Begin()
		return state.WithTxn(ctx, txn), txn
	}})

	w := do(h, "GET", "/api/isv/hello", "", withCert)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"method":"mtls"`) || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("hello: %d %s", w.Code, w.Body)
	}
	if w := do(h, "GET", "/api/isv/admin", "", withCert); w.Code != 403 {
		t.Fatalf("admin: %d", w.Code)
	}
	for i, want := range []string{`{"count":5}`, `{"count":6}`} {
		body := ""
		if i == 0 {
			body = "5"
		}
		if w := do(h, "POST", "/api/isv/counter", body, withCert); w.Code != 200 || w.Body.String() != want {
			t.Fatalf("counter %d: %d %s", i, w.Code, w.Body)
		}
	}
	if w := do(h, "POST", "/api/isv/counter", "nope", withCert); w.Code != 400 {
		t.Fatalf("bad step: %d", w.Code)
	}
	if w := do(h, "GET", "/api/isv/counter", "", withCert); w.Body.String() != `{"count":6}` {
		t.Fatalf("a refused call changed the counter: %s", w.Body)
	}
	if w := do(h, "POST", "/api/isv/conflict", "", withCert); w.Code != 409 || !strings.Contains(w.Body.String(), "conflict, as asked") {
		t.Fatalf("conflict: %d %s", w.Code, w.Body)
	}
	w = do(h, "GET", "/api/isv/headers", "", withCert)
	if w.Code != 200 || w.Header().Get("X-Plugin") != "isvroutes" || w.Header().Get("Set-Cookie") != "" ||
		w.Header().Get("X-Frame-Options") != "SAMEORIGIN" || w.Header().Get("Content-Length") != "8" {
		t.Fatalf("headers: %d %v", w.Code, w.Header())
	}
	if w := do(h.Internal(), "GET", "/internal/isv/health", ""); w.Code != 200 || w.Body.String() != "ok\n" {
		t.Fatalf("internal: %d %s", w.Code, w.Body)
	}
	if w := do(h, "GET", "/internal/isv/health", "", withCert); w.Code != 404 {
		t.Fatalf("internal route on the TLS handler: %d", w.Code)
	}
}
