package routetoken_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/osohost/osohost/host/auth"
	"github.com/osohost/osohost/host/auth/routetoken"
)

// clock is a settable time source for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fixture is a key ring (a older, b active), the component my-signer-app
// on port 443, and a clock a minute before the tokens expire.
type fixture struct {
	ring    *routetoken.KeyRing
	clock   *clock
	expires uint64
}

const (
	testID     = "my-signer-app"
	testPort   = 443
	testAccess = "static-access-token-0123456789"
)

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ring, err := routetoken.NewKeyRing("b", routetoken.Key{ID: "a", Secret: secretA}, routetoken.Key{ID: "b", Secret: secretB})
	if err != nil {
		t.Fatal(err)
	}
	const expires = 1893456000
	return &fixture{ring: ring, clock: &clock{t: unix(expires - 60)}, expires: expires}
}

func (f *fixture) verifier(t testing.TB, opts routetoken.Options) *routetoken.Verifier {
	t.Helper()
	opts.Keys = f.ring
	if opts.ID == "" {
		opts.ID = testID
	}
	if opts.Port == 0 {
		opts.Port = testPort
	}
	opts.Now = f.clock.Now
	v, err := routetoken.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (f *fixture) short(t testing.TB, edit func(*routetoken.ShortClaims)) string {
	t.Helper()
	c := routetoken.ShortClaims{ID: testID, Port: testPort, Expires: f.expires}
	if edit != nil {
		edit(&c)
	}
	tok, err := f.ring.SignShort(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (f *fixture) strong(t testing.TB, method, path string) string {
	t.Helper()
	tok, err := f.ring.SignStrong(routetoken.StrongClaims{ID: testID, Method: method, Path: path, Expires: f.expires})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// request builds a server-side request, as the front door hands it on.
func request(method, target string, header http.Header) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	r.RemoteAddr = "192.0.2.1:50000"
	for k, vs := range header {
		r.Header[k] = vs
	}
	return r
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func wantKind(t *testing.T, err error, kind error) {
	t.Helper()
	var e *routetoken.Error
	if !errors.As(err, &e) || e.Kind != kind {
		t.Fatalf("error %v, want %v", err, kind)
	}
}

func TestVerifier_Header(t *testing.T) {
	f := newFixture(t)
	v := f.verifier(t, routetoken.Options{Mode: routetoken.ModeBoth, MaxFailures: -1})
	short := f.short(t, nil)
	docs := f.strong(t, "POST", "/api/backend/v1alpha1/documents")
	api := f.strong(t, "GET", "/api")
	root := f.strong(t, "GET", "/")
	tests := []struct {
		name, method, target string
		header               http.Header
		want                 error // nil: allowed
		subject              string
	}{
		{"short", "GET", "/anything", hdr(routetoken.DefaultHeader, short), nil, "short token, key b"},
		{"short, header name in another case", "GET", "/", http.Header{"X-Oso-Route-Token": {short}}, nil, "short token, key b"},
		{"strong, exact path", "POST", "/api/backend/v1alpha1/documents", hdr(routetoken.DefaultHeader, docs), nil, "strong token, key b"},
		{"strong, below the path", "POST", "/api/backend/v1alpha1/documents/x?y=1", hdr(routetoken.DefaultHeader, docs), nil, ""},
		{"strong, trailing slash", "POST", "/api/backend/v1alpha1/documents/", hdr(routetoken.DefaultHeader, docs), nil, ""},
		{"strong, prefix", "GET", "/api/backend/v1alpha1/status", hdr(routetoken.DefaultHeader, api), nil, ""},
		{"strong, root allows all", "GET", "/a/b/c/d/e", hdr(routetoken.DefaultHeader, root), nil, ""},
		{"missing", "GET", "/", nil, routetoken.ErrMissing, ""},
		{"empty", "GET", "/", hdr(routetoken.DefaultHeader, ""), routetoken.ErrMissing, ""},
		{"two headers", "GET", "/", hdr(routetoken.DefaultHeader, short, routetoken.DefaultHeader, short), routetoken.ErrMalformed, ""},
		{"malformed short", "GET", "/", hdr(routetoken.DefaultHeader, "my-signer-app-443-0vbbc00-1bd2ab44b"), routetoken.ErrMalformed, ""},
		{"malformed strong", "GET", "/", hdr(routetoken.DefaultHeader, "s1.b.vbbc00.abc"), routetoken.ErrMalformed, ""},
		{"too long", "GET", "/", hdr(routetoken.DefaultHeader, strings.Repeat("a", routetoken.MaxTokenLength+1)), routetoken.ErrMalformed, ""},
		{"other component", "GET", "/", hdr(routetoken.DefaultHeader, f.short(t, func(c *routetoken.ShortClaims) { c.ID = "other" })), routetoken.ErrMismatch, ""},
		{"other port", "GET", "/", hdr(routetoken.DefaultHeader, f.short(t, func(c *routetoken.ShortClaims) { c.Port = 4000 })), routetoken.ErrMismatch, ""},
		{"expired", "GET", "/", hdr(routetoken.DefaultHeader, f.short(t, func(c *routetoken.ShortClaims) { c.Expires = f.expires - 61 })), routetoken.ErrExpired, ""},
		{"strong, other method", "GET", "/api/backend/v1alpha1/documents", hdr(routetoken.DefaultHeader, docs), routetoken.ErrBadSignature, ""},
		{"strong, above the path", "POST", "/api/backend/v1alpha1", hdr(routetoken.DefaultHeader, docs), routetoken.ErrBadSignature, ""},
		{"strong, sibling sharing a prefix", "POST", "/api/backend/v1alpha1/documentsx", hdr(routetoken.DefaultHeader, docs), routetoken.ErrBadSignature, ""},
		{"strong, dot dot", "GET", "/api/../internal", hdr(routetoken.DefaultHeader, api), routetoken.ErrBadSignature, ""},
		{"strong, encoded slash", "GET", "/api%2Fx/y", hdr(routetoken.DefaultHeader, api), routetoken.ErrBadSignature, ""},
		{"strong, double slash", "GET", "/api//x", hdr(routetoken.DefaultHeader, api), routetoken.ErrBadSignature, ""},
		{"strong, other component", "GET", "/", hdr(routetoken.DefaultHeader, mustSign(routetoken.SignStrong(secretB, "b", routetoken.StrongClaims{ID: "other", Method: "GET", Path: "/", Expires: f.expires}))), routetoken.ErrBadSignature, ""},
		{"strong, unknown key", "GET", "/", hdr(routetoken.DefaultHeader, mustSign(routetoken.SignStrong(secretB, "c", routetoken.StrongClaims{ID: testID, Method: "GET", Path: "/", Expires: f.expires}))), routetoken.ErrUnknownKey, ""},
		{"strong, expired", "GET", "/", hdr(routetoken.DefaultHeader, mustSign(f.ring.SignStrong(routetoken.StrongClaims{ID: testID, Method: "GET", Path: "/", Expires: f.expires - 61}))), routetoken.ErrExpired, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request(tt.method, tt.target, tt.header)
			before := r.Header.Clone()
			out, p, err := v.Authenticate(r)
			if tt.want != nil {
				wantKind(t, err, tt.want)
				if out != nil {
					t.Error("a request returned with the error")
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if out.Header.Get(routetoken.DefaultHeader) != "" {
					t.Error("the token header reached the plugin")
				}
				if out.URL.Path != r.URL.Path || out.Method != r.Method {
					t.Errorf("request changed: %s %s", out.Method, out.URL)
				}
				if p.Method != routetoken.Method || tt.subject != "" && p.Subject != tt.subject {
					t.Errorf("principal %+v", p)
				}
			}
			if len(r.Header) != len(before) || r.Header.Get(routetoken.DefaultHeader) != before.Get(routetoken.DefaultHeader) {
				t.Error("the caller's request was modified")
			}
		})
	}
	// Missing is also "no credentials", for a chain of authenticators.
	if _, err := v.Check(request("GET", "/", nil)); !errors.Is(err, auth.ErrNoCredentials) {
		t.Errorf("missing token: %v is not auth.ErrNoCredentials", err)
	}
}

func mustSign(tok string, err error) string {
	if err != nil {
		panic(err)
	}
	return tok
}

// TestVerifier_OlderKey accepts tokens of a key that is no longer active.
func TestVerifier_OlderKey(t *testing.T) {
	f := newFixture(t)
	v := f.verifier(t, routetoken.Options{Mode: routetoken.ModeBoth})
	old, err := routetoken.SignShort(secretA, "a", routetoken.ShortClaims{ID: testID, Port: testPort, Expires: f.expires})
	if err != nil {
		t.Fatal(err)
	}
	if _, p, err := v.Authenticate(request("GET", "/", hdr(routetoken.DefaultHeader, old))); err != nil || p.Subject != "short token, key a" {
		t.Fatalf("older key: %+v %v", p, err)
	}
}

func TestVerifier_Modes(t *testing.T) {
	f := newFixture(t)
	short, strong := f.short(t, nil), f.strong(t, "GET", "/")
	tests := []struct {
		mode         routetoken.Mode
		token        string
		want         error
		wantAccepted bool
	}{
		{routetoken.ModeShort, short, nil, true},
		{routetoken.ModeShort, strong, routetoken.ErrMismatch, false},
		{routetoken.ModeShort, "s1.b.0vbbc00.x", routetoken.ErrMalformed, false},
		{routetoken.ModeStrong, strong, nil, true},
		{routetoken.ModeStrong, short, routetoken.ErrMismatch, false},
		{routetoken.ModeStrong, "a-1-01-00000000a", routetoken.ErrMalformed, false},
		{"", strong, nil, true},
		{"", short, routetoken.ErrMismatch, false},
		{routetoken.ModeBoth, short, nil, true},
		{routetoken.ModeBoth, strong, nil, true},
	}
	for _, tt := range tests {
		v := f.verifier(t, routetoken.Options{Mode: tt.mode})
		_, err := v.Check(request("GET", "/", hdr(routetoken.DefaultHeader, tt.token)))
		if tt.wantAccepted {
			if err != nil {
				t.Errorf("mode %q, %.10s…: %v", tt.mode, tt.token, err)
			}
			continue
		}
		wantKind(t, err, tt.want)
	}
}

func TestVerifier_Path(t *testing.T) {
	f := newFixture(t)
	v := f.verifier(t, routetoken.Options{Mode: routetoken.ModeBoth, Carrier: routetoken.CarrierPath, MaxFailures: -1})
	short := f.short(t, nil)
	sig := short[strings.LastIndexByte(short, '-')+1:]
	exp := routetoken.FormatExpires(f.expires)
	status := f.strong(t, "GET", "/api/frontend/v1alpha1/status")
	tests := []struct {
		name, method, target string
		wantPath, wantRaw    string // after stripping
		wantURI              string
		want                 error
	}{
		{"short", "GET", "/" + short + "/api/frontend/v1alpha1/status?x=1", "/api/frontend/v1alpha1/status", "", "/api/frontend/v1alpha1/status?x=1", nil},
		{"short alone", "GET", "/" + short, "/", "", "/", nil},
		{"short and a slash", "GET", "/" + short + "/", "/", "", "/", nil},
		{"OSEP layout", "GET", "/my-signer-app/443/" + exp + "/" + sig + "/v1/status?q", "/v1/status", "", "/v1/status?q", nil},
		{"OSEP layout alone", "GET", "/my-signer-app/443/" + exp + "/" + sig, "/", "", "/", nil},
		{"escaped remainder", "GET", "/" + short + "/a%2Fb/c", "/a/b/c", "/a%2Fb/c", "/a%2Fb/c", nil},
		{"strong", "GET", "/" + status + "/api/frontend/v1alpha1/status", "/api/frontend/v1alpha1/status", "", "/api/frontend/v1alpha1/status", nil},
		{"strong, other path", "GET", "/" + status + "/api/frontend/v1alpha1/documents", "", "", "", routetoken.ErrBadSignature},
		{"strong, path is the token's", "GET", "/api/frontend/v1alpha1/status/" + status, "", "", "", routetoken.ErrMissing},
		{"no token", "GET", "/api/frontend/v1alpha1/status", "", "", "", routetoken.ErrMissing},
		{"root", "GET", "/", "", "", "", routetoken.ErrMissing},
		{"malformed first segment", "GET", "/not-a-token/api", "", "", "", routetoken.ErrMalformed},
		{"OSEP layout cut short", "GET", "/my-signer-app/443/" + exp, "", "", "", routetoken.ErrMalformed},
		{"OSEP layout, dash in a segment", "GET", "/my-signer-app/4-43/" + exp + "/" + sig, "", "", "", routetoken.ErrMalformed},
		{"OSEP layout, bad signature", "GET", "/my-signer-app/443/" + exp + "/00000000b/v1", "", "", "", routetoken.ErrBadSignature},
		{"percent-encoded token", "GET", "/" + strings.Replace(short, "-", "%2D", 1) + "/api", "", "", "", routetoken.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request(tt.method, tt.target, nil)
			out, err := v.Check(r)
			if tt.want != nil {
				wantKind(t, err, tt.want)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.URL.Path != tt.wantPath || out.URL.RawPath != tt.wantRaw || out.RequestURI != tt.wantURI {
				t.Errorf("stripped to %q %q %q, want %q %q %q", out.URL.Path, out.URL.RawPath, out.RequestURI, tt.wantPath, tt.wantRaw, tt.wantURI)
			}
			if r.URL.Path == out.URL.Path || r.RequestURI == out.RequestURI {
				t.Error("the caller's request was modified")
			}
		})
	}
}

func TestVerifier_Host(t *testing.T) {
	f := newFixture(t)
	v := f.verifier(t, routetoken.Options{Mode: routetoken.ModeShort, Carrier: routetoken.CarrierHost, MaxFailures: -1})
	short := f.short(t, nil)
	tests := []struct {
		name, host, wantHost string
		want                 error
	}{
		{"with port", short + ".host.example:4000", "host.example:4000", nil},
		{"without port", short + ".host.example", "host.example", nil},
		{"no parent", short, "", routetoken.ErrMissing},
		{"plain host", "host.example", "", routetoken.ErrMissing},
		{"localhost", "localhost:4000", "", routetoken.ErrMissing},
		{"IPv4", "127.0.0.1:4000", "", routetoken.ErrMissing},
		{"IPv6", "[::1]:4000", "", routetoken.ErrMissing},
		{"empty", "", "", routetoken.ErrMissing},
		{"malformed", "my-signer-app-443-x.host.example", "", routetoken.ErrMalformed},
		{"uppercase", strings.ToUpper(short) + ".host.example", "", routetoken.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request("GET", "/api/x", nil)
			r.Host = tt.host
			out, err := v.Check(r)
			if tt.want != nil {
				wantKind(t, err, tt.want)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.Host != tt.wantHost || out.URL.Path != "/api/x" || r.Host != tt.host {
				t.Errorf("host %q path %q (caller's %q), want %q", out.Host, out.URL.Path, r.Host, tt.wantHost)
			}
		})
	}
	// A proxy-style request with the host in the URL is rewritten too.
	r := request("GET", "http://"+short+".host.example/api", nil)
	if out, err := v.Check(r); err != nil || out.URL.Host != "host.example" || out.Host != "host.example" {
		t.Fatalf("absolute URL: %v %v", out, err)
	}
}

func TestVerifier_AccessHeader(t *testing.T) {
	f := newFixture(t)
	v := f.verifier(t, routetoken.Options{Mode: routetoken.ModeBoth, Carrier: routetoken.CarrierPath, AccessToken: testAccess, AccessHeader: "OpenSandbox-Secure-Access", MaxFailures: -1})
	short := f.short(t, nil)
	tests := []struct {
		name, target string
		header       http.Header
		wantPath     string
		want         error
	}{
		{"match", "/api/x", hdr("Opensandbox-Secure-Access", testAccess), "/api/x", nil},
		{"match, path left alone", "/" + short + "/api/x", hdr("Opensandbox-Secure-Access", testAccess), "/" + short + "/api/x", nil},
		{"mismatch, no fallback", "/" + short + "/api/x", hdr("Opensandbox-Secure-Access", testAccess+"x"), "", routetoken.ErrAccessDenied},
		{"prefix of the token", "/" + short + "/api/x", hdr("Opensandbox-Secure-Access", testAccess[:20]), "", routetoken.ErrAccessDenied},
		{"empty value, no fallback", "/" + short + "/api/x", hdr("Opensandbox-Secure-Access", ""), "", routetoken.ErrAccessDenied},
		{"twice", "/api/x", hdr("Opensandbox-Secure-Access", testAccess, "Opensandbox-Secure-Access", testAccess), "", routetoken.ErrAccessDenied},
		{"absent: token", "/" + short + "/api/x", nil, "/api/x", nil},
		{"absent, no token", "/api/x", nil, "", routetoken.ErrMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, p, err := v.Authenticate(request("GET", tt.target, tt.header))
			if tt.want != nil {
				wantKind(t, err, tt.want)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.URL.Path != tt.wantPath {
				t.Errorf("path %q, want %q", out.URL.Path, tt.wantPath)
			}
			if _, ok := out.Header["Opensandbox-Secure-Access"]; ok {
				t.Error("the secure-access header reached the plugin")
			}
			if tt.header != nil && p.Subject != "secure-access header" {
				t.Errorf("principal %+v", p)
			}
		})
	}
	// Without a configured token the header means nothing.
	plain := f.verifier(t, routetoken.Options{Mode: routetoken.ModeBoth})
	if _, err := plain.Check(request("GET", "/", hdr(routetoken.DefaultAccessHeader, "anything"))); !errors.Is(err, routetoken.ErrMissing) {
		t.Errorf("unconfigured access header: %v", err)
	}
}

func TestNew_Errors(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name string
		opts routetoken.Options
		want string
	}{
		{"no keys", routetoken.Options{ID: testID}, "no key ring"},
		{"no id", routetoken.Options{Keys: f.ring}, "component id"},
		{"bad id", routetoken.Options{Keys: f.ring, ID: "a.b"}, "component id"},
		{"unknown mode", routetoken.Options{Keys: f.ring, ID: testID, Mode: "weak"}, "unknown mode"},
		{"short without port", routetoken.Options{Keys: f.ring, ID: testID, Mode: routetoken.ModeBoth}, "port"},
		{"strong in a host", routetoken.Options{Keys: f.ring, ID: testID, Carrier: routetoken.CarrierHost}, "host label"},
		{"unknown carrier", routetoken.Options{Keys: f.ring, ID: testID, Carrier: "cookie"}, "unknown carrier"},
		{"bad header", routetoken.Options{Keys: f.ring, ID: testID, Header: "X Token"}, "not a header name"},
		{"bad access header", routetoken.Options{Keys: f.ring, ID: testID, AccessHeader: "X:A"}, "not a header name"},
		{"same headers", routetoken.Options{Keys: f.ring, ID: testID, Header: "x-a", AccessHeader: "X-A", AccessToken: testAccess}, "same"},
		{"short access token", routetoken.Options{Keys: f.ring, ID: testID, AccessToken: "short"}, "shorter than 16"},
		{"negative window", routetoken.Options{Keys: f.ring, ID: testID, FailureWindow: -1}, "window"},
		{"negative clients", routetoken.Options{Keys: f.ring, ID: testID, MaxClients: -1}, "client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := routetoken.New(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, %v; want an error with %q", v, err, tt.want)
			}
			if strings.Contains(err.Error(), testAccess) {
				t.Errorf("error shows the access token: %v", err)
			}
		})
	}
}

func TestVerifier_Throttle(t *testing.T) {
	f := newFixture(t)
	v := f.verifier(t, routetoken.Options{Mode: routetoken.ModeBoth, MaxFailures: 3, FailureWindow: time.Minute})
	good := hdr(routetoken.DefaultHeader, f.short(t, nil))
	bad := hdr(routetoken.DefaultHeader, "my-signer-app-443-vbbc00-00000000b")
	from := func(addr string, h http.Header) error {
		r := request("GET", "/", h)
		r.RemoteAddr = addr
		_, err := v.Check(r)
		return err
	}
	const attacker = "192.0.2.7:1234"
	// Missing and expired tokens do not count.
	expired := hdr(routetoken.DefaultHeader, f.short(t, func(c *routetoken.ShortClaims) { c.Expires = 1 }))
	for range 10 {
		wantKind(t, from(attacker, nil), routetoken.ErrMissing)
		wantKind(t, from(attacker, expired), routetoken.ErrExpired)
	}
	for range 3 {
		wantKind(t, from(attacker, bad), routetoken.ErrBadSignature)
	}
	// Blocked now, even with a valid token; nothing is verified.
	err := from(attacker, good)
	wantKind(t, err, routetoken.ErrThrottled)
	var e *routetoken.Error
	errors.As(err, &e)
	if e.RetryAfter != time.Minute || e.Status() != 429 {
		t.Fatalf("retry after %v, status %d", e.RetryAfter, e.Status())
	}
	// A request without a credential is still "missing", so another
	// method can judge it.
	wantKind(t, from(attacker, nil), routetoken.ErrMissing)
	// Other clients are not affected; another port of the same address is.
	if err := from("192.0.2.8:1234", good); err != nil {
		t.Fatalf("another client: %v", err)
	}
	wantKind(t, from("192.0.2.7:9999", good), routetoken.ErrThrottled)
	f.clock.Advance(30*time.Second + time.Millisecond)
	err = from(attacker, good)
	errors.As(err, &e)
	if e == nil || e.Kind != routetoken.ErrThrottled || e.RetryAfter != 30*time.Second {
		t.Fatalf("half way: %v", err)
	}
	f.clock.Advance(30 * time.Second)
	if err := from(attacker, good); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	// A new window starts with the next failure.
	for range 3 {
		wantKind(t, from(attacker, bad), routetoken.ErrBadSignature)
	}
	wantKind(t, from(attacker, good), routetoken.ErrThrottled)
}

func TestVerifier_Throttle_Clients(t *testing.T) {
	f := newFixture(t)
	v := f.verifier(t, routetoken.Options{Mode: routetoken.ModeBoth, MaxFailures: 1, MaxClients: 2})
	bad := hdr(routetoken.DefaultHeader, "x-1-0-00000000b")
	good := hdr(routetoken.DefaultHeader, f.short(t, nil))
	try := func(addr string, h http.Header) error {
		r := request("GET", "/", h)
		r.RemoteAddr = addr
		_, err := v.Check(r)
		return err
	}
	// One IPv6 client is a /56; IPv4-mapped addresses are IPv4.
	wantKind(t, try("[2001:db8:0:1::1]:1", bad), routetoken.ErrMismatch)
	wantKind(t, try("[2001:db8:0:ff::2]:1", good), routetoken.ErrThrottled)
	if err := try("[2001:db8:0:100::1]:1", good); err != nil {
		t.Fatalf("another /56: %v", err)
	}
	wantKind(t, try("[::ffff:198.51.100.1]:1", bad), routetoken.ErrMismatch)
	wantKind(t, try("198.51.100.1:2", good), routetoken.ErrThrottled)
	// A third client evicts the least recently seen (the IPv6 one).
	wantKind(t, try("203.0.113.1:1", bad), routetoken.ErrMismatch)
	if err := try("[2001:db8:0:1::1]:1", good); err != nil {
		t.Fatalf("forgotten client: %v", err)
	}
	// An unparsable peer address is one shared client.
	wantKind(t, try("pipe", bad), routetoken.ErrMismatch)
	wantKind(t, try("", good), routetoken.ErrThrottled)
}

// TestVerifier_Throttle_Hammer checks the throttle's count under
// concurrent failures: exactly MaxFailures failures are allowed.
func TestVerifier_Throttle_Hammer(t *testing.T) {
	f := newFixture(t)
	const workers, each = 8, 50
	v := f.verifier(t, routetoken.Options{Mode: routetoken.ModeBoth, MaxFailures: workers * each})
	bad := hdr(routetoken.DefaultHeader, "my-signer-app-443-vbbc00-00000000b")
	good := hdr(routetoken.DefaultHeader, f.short(t, nil))
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for range each {
				if _, err := v.Check(request("GET", "/", bad)); !errors.Is(err, routetoken.ErrBadSignature) {
					errs <- err
					return
				}
				if _, err := v.Check(request("GET", "/", good)); err != nil && !errors.Is(err, routetoken.ErrThrottled) {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if _, err := v.Check(request("GET", "/", good)); !errors.Is(err, routetoken.ErrThrottled) {
		t.Fatalf("after %d failures: %v", workers*each, err)
	}
}

// TestVerifier_Middleware serves plugin-like routes behind the middleware
// on a real listener.
func TestVerifier_Middleware(t *testing.T) {
	f := newFixture(t)
	v := f.verifier(t, routetoken.Options{Mode: routetoken.ModeBoth, Carrier: routetoken.CarrierPath, MaxFailures: 1})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/frontend/v1alpha1/status", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "status "+r.URL.Path+" "+r.URL.RawQuery)
	})
	errs := make(chan error, 10)
	onError := func(w http.ResponseWriter, r *http.Request, err error) {
		if r.URL.Path != "/REDACTED/api/backend/v1alpha1/status" && r.URL.Path != "/REDACTED/api/frontend/v1alpha1/status" {
			t.Errorf("onError sees %q", r.URL.Path)
		}
		errs <- err
		var e *routetoken.Error
		errors.As(err, &e)
		w.WriteHeader(e.Status())
	}
	srv := httptest.NewServer(v.Middleware(mux, onError))
	defer srv.Close()
	get := func(path string) (int, string, http.Header) {
		t.Helper()
		res, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b), res.Header
	}
	tok := f.strong(t, "GET", "/api/frontend/v1alpha1")
	if code, body, _ := get("/" + tok + "/api/frontend/v1alpha1/status?x=1"); code != 200 || body != "status /api/frontend/v1alpha1/status x=1" {
		t.Fatalf("valid: %d %q", code, body)
	}
	if code, _, _ := get("/" + url.PathEscape(tok) + "/api/backend/v1alpha1/status"); code != 401 {
		t.Fatalf("other path: %d", code)
	}
	wantKind(t, <-errs, routetoken.ErrBadSignature)
	code, _, h := get("/" + tok + "/api/frontend/v1alpha1/status")
	if code != 429 || h.Get("Retry-After") != "60" {
		t.Fatalf("throttled: %d, Retry-After %q", code, h.Get("Retry-After"))
	}

	// Without onError the description is written as text.
	plain := httptest.NewServer(f.verifier(t, routetoken.Options{Mode: routetoken.ModeBoth}).Middleware(mux, nil))
	defer plain.Close()
	res, err := plain.Client().Get(plain.URL + "/api/frontend/v1alpha1/status")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 401 || strings.TrimSpace(string(b)) != "A route token is required." {
		t.Fatalf("plain: %d %q", res.StatusCode, b)
	}
}

// TestVerifier_Throttle_AccessHeader counts wrong secure-access values and
// blocks the header too.
func TestVerifier_Throttle_AccessHeader(t *testing.T) {
	f := newFixture(t)
	v := f.verifier(t, routetoken.Options{Mode: routetoken.ModeBoth, AccessToken: testAccess, MaxFailures: 2})
	for range 2 {
		_, err := v.Check(request("GET", "/", hdr(routetoken.DefaultAccessHeader, "guess-0123456789abcdef")))
		wantKind(t, err, routetoken.ErrAccessDenied)
	}
	_, err := v.Check(request("GET", "/", hdr(routetoken.DefaultAccessHeader, testAccess)))
	wantKind(t, err, routetoken.ErrThrottled)
	_, err = v.Check(request("GET", "/", hdr(routetoken.DefaultHeader, f.short(t, nil))))
	wantKind(t, err, routetoken.ErrThrottled)
	f.clock.Advance(routetoken.DefaultFailureWindow)
	if _, err := v.Check(request("GET", "/", hdr(routetoken.DefaultAccessHeader, testAccess))); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

// TestVerifier_Path_StrongOnly treats a first segment equal to the
// component id as a plain path when short tokens are not accepted.
func TestVerifier_Path_StrongOnly(t *testing.T) {
	f := newFixture(t)
	v := f.verifier(t, routetoken.Options{ID: "api", Carrier: routetoken.CarrierPath})
	_, err := v.Check(request("GET", "/api/x", nil))
	wantKind(t, err, routetoken.ErrMissing)
}

// TestVerifier_PathDepth: a strong token is checked against "/" and the
// first 31 prefixes of the request path, no deeper.
func TestVerifier_PathDepth(t *testing.T) {
	f := newFixture(t)
	v := f.verifier(t, routetoken.Options{MaxFailures: -1})
	var segs []string
	for i := range 40 {
		segs = append(segs, "s"+strconv.Itoa(i))
	}
	full := "/" + strings.Join(segs, "/")
	for _, tt := range []struct {
		depth int
		ok    bool
	}{{0, true}, {1, true}, {31, true}, {32, false}, {40, false}} {
		bound := "/" + strings.Join(segs[:tt.depth], "/")
		_, err := v.Check(request("GET", full, hdr(routetoken.DefaultHeader, f.strong(t, "GET", bound))))
		if (err == nil) != tt.ok {
			t.Errorf("token for %d segments: %v", tt.depth, err)
		}
	}
}

func TestVerifier_Redact(t *testing.T) {
	f := newFixture(t)
	short := f.short(t, nil)
	sig := short[strings.LastIndexByte(short, '-')+1:]
	path := f.verifier(t, routetoken.Options{Mode: routetoken.ModeBoth, Carrier: routetoken.CarrierPath, AccessToken: testAccess})
	host := f.verifier(t, routetoken.Options{Mode: routetoken.ModeShort, Carrier: routetoken.CarrierHost})
	header := f.verifier(t, routetoken.Options{Mode: routetoken.ModeShort, AccessToken: testAccess})
	tests := []struct {
		name              string
		v                 *routetoken.Verifier
		target, hostName  string
		header            http.Header
		wantURI, wantHost string
	}{
		{"path", path, "/" + short + "/api/x?q", "h.example", nil, "/REDACTED/api/x?q", "h.example"},
		{"path, OSEP layout", path, "/my-signer-app/443/vbbc00/" + sig + "/api", "h.example", nil, "/REDACTED/api", "h.example"},
		{"path, malformed token", path, "/" + short + "x/api/x", "h.example", nil, "/REDACTED/api/x", "h.example"},
		{"path, malformed OSEP layout", path, "/my-signer-app/443/" + sig, "h.example", nil, "/REDACTED", "h.example"},
		{"path, none", path, "/api/x", "h.example", nil, "/api/x", "h.example"},
		{"path, access header", path, "/api/x", "h.example", hdr(routetoken.DefaultAccessHeader, testAccess), "/api/x", "h.example"},
		{"host", host, "/api/x", short + ".h.example:4000", nil, "/api/x", "REDACTED.h.example:4000"},
		{"host, none", host, "/api/x", "h.example", nil, "/api/x", "h.example"},
		{"header", header, "/api/x", "h.example", hdr(routetoken.DefaultHeader, short, routetoken.DefaultAccessHeader, testAccess), "/api/x", "h.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request("GET", tt.target, tt.header)
			r.Host = tt.hostName
			out := tt.v.Redact(r)
			if out.RequestURI != tt.wantURI || out.Host != tt.wantHost {
				t.Errorf("redacted to %q %q, want %q %q", out.RequestURI, out.Host, tt.wantURI, tt.wantHost)
			}
			if len(out.Header) != 0 {
				t.Errorf("headers left: %v", out.Header)
			}
			if r.RequestURI != tt.target || r.Host != tt.hostName || len(r.Header) != len(tt.header) {
				t.Error("the caller's request was modified")
			}
		})
	}
}
