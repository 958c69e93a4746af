package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/osohost/osohost/host/admin"
	"github.com/osohost/osohost/host/metrics"
)

const token = "0123456789abcdef-reload-token"

// start serves opts on 127.0.0.1:0 and returns the base URL. Cleanup shuts
// the server down and checks that Serve returned nil.
func start(t *testing.T, opts admin.Options) string {
	t.Helper()
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	srv, err := admin.Listen(opts)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + srv.Addr().String()
}

type response struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, method, url string, header map[string]string, body string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, string(b)}
}

// errorBody decodes the framework's error shape and checks it.
func errorBody(t *testing.T, r response) (description string) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type %q, want application/json", ct)
	}
	var e struct {
		Code        int     `json:"code"`
		Name        string  `json:"name"`
		Description *string `json:"description"`
	}
	if err := json.Unmarshal([]byte(r.body), &e); err != nil || e.Description == nil {
		t.Fatalf("error body %q: %v", r.body, err)
	}
	if e.Code != r.status || e.Name != http.StatusText(r.status) {
		t.Errorf("error body %q does not match status %d", r.body, r.status)
	}
	return *e.Description
}

func TestServer_Endpoints(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Options{})
	base := start(t, admin.Options{
		Metrics: m.Handler(),
		Reload:  func(context.Context) error { return nil },
		Version: map[string]string{"version": "v9.9.9"},
	})
	tests := []struct {
		name       string
		method     string
		path       string
		wantStatus int
		wantAllow  string
		wantBody   string // substring
	}{
		{"healthz", "GET", "/healthz", 200, "", "ok\n"},
		{"healthz head", "HEAD", "/healthz", 200, "", ""},
		{"healthz post", "POST", "/healthz", 405, "GET, HEAD", `"Method Not Allowed"`},
		{"readyz without a check", "GET", "/readyz", 200, "", "ok\n"},
		{"readyz delete", "DELETE", "/readyz", 405, "GET, HEAD", ""},
		{"version", "GET", "/version", 200, "", `{"version":"v9.9.9"}`},
		{"version put", "PUT", "/version", 405, "GET, HEAD", ""},
		{"metrics", "GET", "/metrics", 200, "", "go_goroutines"},
		{"metrics post", "POST", "/metrics", 405, "GET, HEAD", ""},
		{"reload get", "GET", "/reload", 405, "POST", ""},
		{"reload options", "OPTIONS", "/reload", 405, "POST", ""},
		{"unknown path", "GET", "/debug/pprof/", 404, "", `"Not Found"`},
		{"root", "GET", "/", 404, "", ""},
		{"healthz with a suffix", "GET", "/healthz/x", 404, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := do(t, tt.method, base+tt.path, nil, "")
			if r.status != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %q", r.status, tt.wantStatus, r.body)
			}
			if got := r.header.Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow %q, want %q", got, tt.wantAllow)
			}
			if !strings.Contains(r.body, tt.wantBody) {
				t.Errorf("body %q does not contain %q", r.body, tt.wantBody)
			}
			if r.status >= 400 && tt.method != "HEAD" {
				errorBody(t, r)
			}
			if r.header.Get("Cache-Control") != "no-store" || r.header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("missing headers: %v", r.header)
			}
		})
	}
}

func TestServer_Version_Default(t *testing.T) {
	t.Parallel()
	base := start(t, admin.Options{})
	r := do(t, "GET", base+"/version", nil, "")
	var v map[string]string
	if err := json.Unmarshal([]byte(r.body), &v); err != nil || r.status != 200 {
		t.Fatalf("GET /version: %d %q: %v", r.status, r.body, err)
	}
	if !strings.HasPrefix(v["go"], "go") || v["version"] == "" {
		t.Errorf("GET /version = %v, want the Go version and a module version", v)
	}
}

func TestServer_Readyz(t *testing.T) {
	t.Parallel()
	var state atomic.Pointer[error]
	set := func(err error) { state.Store(&err) }
	set(errors.New("plugin not loaded"))
	base := start(t, admin.Options{Ready: func(ctx context.Context) error { return *state.Load() }})

	r := do(t, "GET", base+"/readyz", nil, "")
	if r.status != http.StatusServiceUnavailable || errorBody(t, r) != "not ready: plugin not loaded" {
		t.Fatalf("not loaded: %d %q", r.status, r.body)
	}
	set(nil)
	if r := do(t, "GET", base+"/readyz", nil, ""); r.status != 200 || r.body != "ok\n" {
		t.Fatalf("ready: %d %q", r.status, r.body)
	}
	set(errors.New("draining\nsecret=\x00"))
	r = do(t, "GET", base+"/readyz", nil, "")
	if d := errorBody(t, r); r.status != 503 || d != "not ready: draining secret= " {
		t.Fatalf("draining: %d %q", r.status, d)
	}
	set(errors.New(strings.Repeat("x", 10000)))
	r = do(t, "GET", base+"/readyz", nil, "")
	if d := errorBody(t, r); r.status != 503 || len(d) > 256 {
		t.Fatalf("long reason: %d, %d bytes", r.status, len(d))
	}
	// Liveness does not depend on readiness.
	if r := do(t, "GET", base+"/healthz", nil, ""); r.status != 200 {
		t.Fatalf("healthz while not ready: %d", r.status)
	}
}

func TestServer_Readyz_Timeout(t *testing.T) {
	t.Parallel()
	base := start(t, admin.Options{
		ReadyTimeout: time.Millisecond,
		Ready: func(ctx context.Context) error {
			<-ctx.Done() // a check that only ends with its deadline
			return ctx.Err()
		},
	})
	r := do(t, "GET", base+"/readyz", nil, "")
	if d := errorBody(t, r); r.status != 503 || d != "not ready: readiness check timed out" {
		t.Fatalf("%d %q", r.status, d)
	}
}

func TestServer_Reload(t *testing.T) {
	t.Parallel()
	type info struct {
		SHA256     string    `json:"sha256"`
		LoadedAt   time.Time `json:"loaded_at"`
		Generation int       `json:"generation"`
	}
	var gen atomic.Int32
	var fail atomic.Pointer[error]
	loaded := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	base := start(t, admin.Options{
		Reload: func(ctx context.Context) error {
			if _, ok := ctx.Deadline(); !ok {
				return errors.New("no deadline")
			}
			if e := fail.Load(); e != nil {
				return *e
			}
			gen.Add(1)
			return nil
		},
		Info: func() any {
			return info{SHA256: strings.Repeat("ab", 32), LoadedAt: loaded, Generation: int(gen.Load())}
		},
	})

	r := do(t, "POST", base+"/reload", nil, "")
	var got info
	if err := json.Unmarshal([]byte(r.body), &got); r.status != 200 || err != nil {
		t.Fatalf("reload: %d %q: %v", r.status, r.body, err)
	}
	if got.Generation != 1 || !got.LoadedAt.Equal(loaded) || got.SHA256 != strings.Repeat("ab", 32) {
		t.Errorf("reload answered %+v", got)
	}
	if r := do(t, "POST", base+"/reload", nil, "{}"); r.status != 200 || gen.Load() != 2 {
		t.Errorf("reload with a small body: %d %q", r.status, r.body)
	}

	tests := []struct {
		name       string
		err        error
		body       string
		wantStatus int
		wantDesc   string
	}{
		{"compile error", errors.New("plugin: module has no export to_isv"), "", 500, "plugin: module has no export to_isv"},
		{"in progress elsewhere", fmt.Errorf("reload: %w", admin.ErrReloadInProgress), "", 409, "reload: admin: reload already in progress"},
		{"body too large", nil, strings.Repeat("x", 4096), 413, "POST /reload takes no body."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err != nil {
				fail.Store(&tt.err)
				defer fail.Store(nil)
			}
			before := gen.Load()
			r := do(t, "POST", base+"/reload", nil, tt.body)
			if r.status != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %q", r.status, tt.wantStatus, r.body)
			}
			if d := errorBody(t, r); d != tt.wantDesc {
				t.Errorf("description %q, want %q", d, tt.wantDesc)
			}
			if gen.Load() != before {
				t.Error("a failed reload changed the generation")
			}
		})
	}
}

// startReloading serves a Reload that blocks until finish is called, and
// sends a POST /reload that is running when it returns. finish releases it
// and returns its response.
func startReloading(t *testing.T, maxConcurrent int) (base string, finish func() response) {
	t.Helper()
	entered := make(chan struct{})
	release := make(chan struct{})
	base = start(t, admin.Options{
		MaxConcurrent: maxConcurrent,
		Reload: func(ctx context.Context) error {
			close(entered)
			<-release
			return nil
		},
	})
	first := make(chan response, 1)
	go func() { first <- do(t, "POST", base+"/reload", nil, "") }()
	<-entered
	return base, func() response {
		close(release)
		return <-first
	}
}

func TestServer_Reload_Concurrent(t *testing.T) {
	t.Parallel()
	base, finish := startReloading(t, 2)
	r := do(t, "POST", base+"/reload", nil, "")
	if d := errorBody(t, r); r.status != http.StatusConflict || d != admin.ErrReloadInProgress.Error() {
		t.Errorf("second reload: %d %q", r.status, d)
	}
	// The running reload holds one of the two slots; the other is free again.
	if r := do(t, "GET", base+"/version", nil, ""); r.status != 200 {
		t.Errorf("version during a reload: %d", r.status)
	}
	if r := finish(); r.status != 200 {
		t.Errorf("first reload: %d %q", r.status, r.body)
	}
}

func TestServer_MaxConcurrent(t *testing.T) {
	t.Parallel()
	base, finish := startReloading(t, 1)
	r := do(t, "GET", base+"/readyz", nil, "")
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Errorf("readyz with every slot taken: %d %q", r.status, r.body)
	}
	errorBody(t, r)
	if r := do(t, "GET", base+"/healthz", nil, ""); r.status != 200 {
		t.Errorf("healthz with every slot taken: %d", r.status)
	}
	if r := finish(); r.status != 200 {
		t.Errorf("reload: %d %q", r.status, r.body)
	}
	if r := do(t, "GET", base+"/readyz", nil, ""); r.status != 200 {
		t.Errorf("readyz after the slot freed: %d", r.status)
	}
}

func TestServer_Reload_Token(t *testing.T) {
	t.Parallel()
	var reloads atomic.Int32
	base := start(t, admin.Options{
		ReloadToken: token,
		Reload:      func(context.Context) error { reloads.Add(1); return nil },
	})
	tests := []struct {
		name       string
		auth       string
		wantStatus int
	}{
		{"right token", "Bearer " + token, 200},
		{"scheme in lower case", "bearer " + token, 200},
		{"no header", "", 401},
		{"wrong token", "Bearer " + strings.Repeat("x", len(token)), 401},
		{"prefix of the token", "Bearer " + token[:len(token)-1], 401},
		{"token with a suffix", "Bearer " + token + "x", 401},
		{"basic scheme", "Basic " + token, 401},
		{"bare token", token, 401},
		{"huge token", "Bearer " + strings.Repeat("y", 5000), 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := reloads.Load()
			h := map[string]string{}
			if tt.auth != "" {
				h["Authorization"] = tt.auth
			}
			r := do(t, "POST", base+"/reload", h, "")
			if r.status != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %q", r.status, tt.wantStatus, r.body)
			}
			if tt.wantStatus == 401 {
				errorBody(t, r)
				if r.header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
				if reloads.Load() != before {
					t.Error("an unauthorised request reloaded")
				}
			}
			if strings.Contains(r.body, token) {
				t.Error("the response carries the token")
			}
		})
	}
	// The other endpoints need no token.
	if r := do(t, "GET", base+"/healthz", nil, ""); r.status != 200 {
		t.Errorf("healthz: %d", r.status)
	}
}

func TestServer_Reload_Throttle(t *testing.T) {
	t.Parallel()
	base := start(t, admin.Options{ReloadToken: token, Reload: func(context.Context) error { return nil }})
	wrong := map[string]string{"Authorization": "Bearer wrong-token-wrong-token"}
	for i := range 10 {
		if r := do(t, "POST", base+"/reload", wrong, ""); r.status != 401 {
			t.Fatalf("failure %d: %d, want 401 within the burst", i+1, r.status)
		}
	}
	// The bucket refills by one every few seconds: keep failing until it is
	// empty (bounded), then even the right token waits.
	throttled := false
	for range 1000 {
		r := do(t, "POST", base+"/reload", wrong, "")
		if r.status == http.StatusTooManyRequests {
			errorBody(t, r)
			if r.header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
			throttled = true
			break
		}
	}
	if !throttled {
		t.Fatal("failed attempts were never throttled")
	}
	r := do(t, "POST", base+"/reload", map[string]string{"Authorization": "Bearer " + token}, "")
	if r.status != http.StatusTooManyRequests && r.status != http.StatusOK {
		t.Errorf("right token while throttled: %d", r.status)
	}
}

func TestServer_NoReload(t *testing.T) {
	t.Parallel()
	base := start(t, admin.Options{})
	for _, p := range []string{"/reload", "/metrics"} {
		if r := do(t, "POST", base+p, nil, ""); r.status != 404 {
			t.Errorf("POST %s without a handler: %d, want 404", p, r.status)
		}
	}
}

func TestServer_MaxHeaderBytes(t *testing.T) {
	t.Parallel()
	base := start(t, admin.Options{MaxHeaderBytes: 1 << 10})
	r := do(t, "GET", base+"/healthz", map[string]string{"X-Padding": strings.Repeat("p", 64<<10)}, "")
	if r.status != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("huge headers: %d, want 431", r.status)
	}
}

// TestServer_Metrics scrapes /metrics through the admin listener and checks
// that counters move after calls.
func TestServer_Metrics(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Options{Mode: "backend"})
	base := start(t, admin.Options{
		Metrics: m.Handler(),
		Reload: func(context.Context) error {
			m.Reload(true, metrics.TriggerAdmin, time.Millisecond)
			return nil
		},
	})
	scrape := func() map[string]float64 {
		t.Helper()
		r := do(t, "GET", base+"/metrics", nil, "")
		if r.status != 200 {
			t.Fatalf("GET /metrics: %d", r.status)
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(strings.NewReader(r.body))
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		out := map[string]float64{}
		for name, f := range fams {
			for _, m := range f.GetMetric() {
				key := name
				for _, l := range m.GetLabel() {
					key += "," + l.GetName() + "=" + l.GetValue()
				}
				if m.Counter != nil {
					out[key] = m.Counter.GetValue()
				}
			}
		}
		return out
	}
	const reloadsOK = "osohost_plugin_reloads_total,result=ok,trigger=admin"
	const requests = "osohost_http_requests_total,code=200,method=POST,route=documents"
	before := scrape()
	if v, ok := before[reloadsOK]; !ok || v != 0 {
		t.Fatalf("%s before = %v (present %v)", reloadsOK, v, ok)
	}
	do(t, "POST", base+"/reload", nil, "")
	m.ObserveRequest(metrics.RouteDocuments, "POST", 200, time.Millisecond)
	after := scrape()
	if after[reloadsOK] != 1 || after[requests] != 1 {
		t.Errorf("after one reload and one request: %s=%v %s=%v", reloadsOK, after[reloadsOK], requests, after[requests])
	}
}

func TestListen_Remote(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts admin.Options
	}{
		{"localhost", admin.Options{Addr: "localhost:0"}},
		{"ipv4 loopback", admin.Options{Addr: "127.0.0.1:0"}},
		{"all interfaces allowed", admin.Options{Addr: "0.0.0.0:0", AllowRemote: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, err := admin.Listen(tt.opts)
			if err != nil {
				t.Fatalf("Listen: %v", err)
			}
			if err := srv.Shutdown(t.Context()); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestListen_Errors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    admin.Options
		remote  bool   // want ErrRemote
		wantErr string // else a substring
	}{
		{"all interfaces", admin.Options{Addr: ":0"}, true, ""},
		{"ipv4 any", admin.Options{Addr: "0.0.0.0:0"}, true, ""},
		{"ipv6 any", admin.Options{Addr: "[::]:0"}, true, ""},
		{"host name", admin.Options{Addr: "example.com:0"}, true, ""},
		{"private address", admin.Options{Addr: "10.0.0.1:0"}, true, ""},
		{"no port", admin.Options{Addr: "127.0.0.1"}, false, "missing port"},
		{"short token", admin.Options{ReloadToken: "short"}, false, "reload token must be"},
		{"token with a space", admin.Options{ReloadToken: "0123456789 abcdef"}, false, "visible ASCII"},
		{"version not encodable", admin.Options{Version: make(chan int)}, false, "admin: version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, err := admin.Listen(tt.opts)
			if err == nil {
				srv.Shutdown(t.Context())
				t.Fatal("Listen succeeded")
			}
			if tt.remote != errors.Is(err, admin.ErrRemote) {
				t.Errorf("errors.Is(%v, ErrRemote) = %v, want %v", err, !tt.remote, tt.remote)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
}
