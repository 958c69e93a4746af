package multi_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/osohost/osohost/host/auth"
	"github.com/osohost/osohost/host/auth/mtls"
	"github.com/osohost/osohost/host/auth/multi"
	"github.com/osohost/osohost/host/pki/pkitest"
)

// fake answers every request with err (a principal of its method when
// nil) and records the allowlists it was asked about.
type fake struct {
	method string
	err    error

	mu    sync.Mutex
	calls []string
}

func (f *fake) Authenticate(r *http.Request, allowlist string) (auth.Principal, error) {
	f.mu.Lock()
	f.calls = append(f.calls, allowlist)
	f.mu.Unlock()
	if f.err != nil {
		return auth.Principal{}, f.err
	}
	return auth.Principal{Method: f.method, Subject: "s"}, nil
}

func (f *fake) called() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// request returns a request with a client certificate when cert is set and
// the given Authorization header when not empty.
func request(cert bool, authorization string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "https://osohost/", nil)
	if cert {
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{{}}}
	}
	if authorization != "" {
		r.Header.Set("Authorization", authorization)
	}
	return r
}

func TestAuthenticate_Precedence(t *testing.T) {
	errBadCert := fmt.Errorf("%w: unknown authority", auth.ErrBadCertificate)
	errBadToken := fmt.Errorf("%w: expired", auth.ErrNoCredentials)
	for _, tt := range []struct {
		name            string
		certErr, tokErr error
		cert            bool
		authorization   string
		allowlist       string
		want            error // nil: admitted
		wantMethod      string
		certN, tokN     int // calls
	}{
		{name: "certificate", cert: true, allowlist: "both", wantMethod: "mtls", certN: 1},
		{name: "bearer", authorization: "Bearer t", allowlist: "both", wantMethod: "oidc", tokN: 1},
		{name: "bearer, any case", authorization: "bearer t", allowlist: "both", wantMethod: "oidc", tokN: 1},
		{name: "neither", allowlist: "both", want: auth.ErrNoCredentials},
		{name: "basic only", authorization: "Basic dTpw", allowlist: "both", want: auth.ErrNoCredentials},
		{name: "both: certificate decides", cert: true, authorization: "Bearer t", allowlist: "both", wantMethod: "mtls", certN: 1},
		{name: "both: refused certificate, no fallback", certErr: auth.ErrNotAllowlisted, cert: true, authorization: "Bearer t", allowlist: "both", want: auth.ErrNotAllowlisted, certN: 1},
		{name: "both: bad certificate, no fallback", certErr: errBadCert, cert: true, authorization: "Bearer t", allowlist: "both", want: auth.ErrBadCertificate, certN: 1},
		{name: "bad token", tokErr: errBadToken, authorization: "Bearer t", allowlist: "both", want: auth.ErrNoCredentials, tokN: 1},
		{name: "both on a token-only allowlist", cert: true, authorization: "Bearer t", allowlist: "tokens", wantMethod: "oidc", tokN: 1},
		{name: "certificate on a token-only allowlist", cert: true, allowlist: "tokens", want: auth.ErrNotAllowlisted, certN: 1},
		{name: "bad certificate on a token-only allowlist", certErr: errBadCert, cert: true, allowlist: "tokens", want: auth.ErrBadCertificate, certN: 1},
		{name: "bearer on a certificate-only allowlist", authorization: "Bearer t", allowlist: "certs", want: auth.ErrNotAllowlisted, tokN: 1},
		{name: "bad bearer on a certificate-only allowlist", tokErr: errBadToken, authorization: "Bearer t", allowlist: "certs", want: auth.ErrNoCredentials, tokN: 1},
		{name: "unknown allowlist: certificate", cert: true, allowlist: "Component", want: auth.ErrNotAllowlisted, certN: 1},
		{name: "unknown allowlist: nothing", allowlist: "Component", want: auth.ErrNoCredentials},
	} {
		t.Run(tt.name, func(t *testing.T) {
			certs := &fake{method: "mtls", err: tt.certErr}
			tokens := &fake{method: "oidc", err: tt.tokErr}
			a, err := multi.New(
				multi.Method{Name: "mtls", Authenticator: certs, Present: multi.ClientCertificate, Allowlists: []string{"both", "certs"}},
				multi.Method{Name: "oidc", Authenticator: tokens, Present: multi.BearerToken, Allowlists: []string{"both", "tokens"}},
			)
			if err != nil {
				t.Fatal(err)
			}
			p, err := a.Authenticate(request(tt.cert, tt.authorization), tt.allowlist)
			switch {
			case tt.want == nil && err != nil:
				t.Errorf("refused: %v", err)
			case tt.want == nil && p.Method != tt.wantMethod:
				t.Errorf("admitted by %q, want %q", p.Method, tt.wantMethod)
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Errorf("%v, want %v", err, tt.want)
			case tt.want != nil && p != (auth.Principal{}):
				t.Errorf("refused with principal %+v", p)
			}
			if certs.called() != tt.certN || tokens.called() != tt.tokN {
				t.Errorf("mtls called %d times, oidc %d; want %d and %d", certs.called(), tokens.called(), tt.certN, tt.tokN)
			}
			for _, f := range []*fake{certs, tokens} {
				if slices.ContainsFunc(f.calls, func(s string) bool { return s != tt.allowlist }) {
					t.Errorf("%s asked about %v", f.method, f.calls)
				}
			}
		})
	}
}

func TestAuthenticate_Order(t *testing.T) {
	certs, tokens := &fake{method: "mtls"}, &fake{method: "oidc"}
	a, err := multi.New(
		multi.Method{Name: "oidc", Authenticator: tokens, Present: multi.BearerToken, Allowlists: []string{"x"}},
		multi.Method{Name: "mtls", Authenticator: certs, Present: multi.ClientCertificate, Allowlists: []string{"x"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := a.Authenticate(request(true, "Bearer t"), "x"); err != nil || p.Method != "oidc" {
		t.Errorf("%+v, %v: want the first method given", p, err)
	}
}

func TestNew_Errors(t *testing.T) {
	f := &fake{}
	ok := multi.Method{Name: "m", Authenticator: f, Present: multi.BearerToken}
	for name, methods := range map[string][]multi.Method{
		"none":             nil,
		"no name":          {{Authenticator: f, Present: multi.BearerToken}},
		"no authenticator": {{Name: "m", Present: multi.BearerToken}},
		"no present":       {{Name: "m", Authenticator: f}},
		"twice":            {ok, ok},
	} {
		if _, err := multi.New(methods...); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestPresent(t *testing.T) {
	for _, tt := range []struct {
		values []string
		want   bool
	}{
		{nil, false},
		{[]string{""}, false},
		{[]string{"Bearer"}, true},
		{[]string{"BEARER x"}, true},
		{[]string{"Basic x", "Bearer y"}, true},
		{[]string{"Bearerx y"}, false},
		{[]string{"DPoP x"}, false},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header["Authorization"] = tt.values
		if got := multi.BearerToken(r); got != tt.want {
			t.Errorf("BearerToken(%q) = %v", tt.values, got)
		}
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if multi.ClientCertificate(r) {
		t.Error("ClientCertificate without TLS")
	}
	r.TLS = &tls.ConnectionState{}
	if multi.ClientCertificate(r) {
		t.Error("ClientCertificate without certificates")
	}
}

// TestAuthenticate_RealMTLS runs the real mtls authenticator over real TLS
// connections next to a bearer method that admits the token "good".
func TestAuthenticate_RealMTLS(t *testing.T) {
	p := pkitest.New(t)
	certs, err := mtls.New(mtls.Options{
		ClientCAs:  p.CAPool,
		Allowlists: map[string][][32]byte{"component": p.Allowlist},
	})
	if err != nil {
		t.Fatal(err)
	}
	tokens := &fakeBearer{}
	a, err := multi.New(
		multi.Method{Name: "mtls", Authenticator: certs, Present: multi.ClientCertificate, Allowlists: []string{"component"}},
		multi.Method{Name: "oidc", Authenticator: tokens, Present: multi.BearerToken, Allowlists: []string{"component", "tokens"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth.StripIdentityHeaders(r.Header)
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

	for _, tt := range []struct {
		name      string
		id        *pkitest.Identity
		token     string
		allowlist string
		status    int
		method    string
	}{
		{"allowlisted certificate", &p.Client, "", "component", 200, "mtls"},
		{"CA-style RSA leaf", &p.RSACAStyleLeaf, "", "component", 200, "mtls"},
		{"stranger", &p.Stranger, "", "component", 403, ""},
		{"stranger with a good token: no fallback", &p.Stranger, "good", "component", 403, ""},
		{"foreign certificate with a good token: no fallback", &p.Foreign, "good", "component", 400, ""},
		{"expired certificate", &p.Expired, "", "component", 400, ""},
		{"good token", nil, "good", "component", 200, "oidc"},
		{"bad token", nil, "bad", "component", 401, ""},
		{"nothing", nil, "", "component", 401, ""},
		{"certificate on a token-only allowlist", &p.Client, "", "tokens", 403, ""},
		{"bad certificate on a token-only allowlist", &p.Foreign, "", "tokens", 400, ""},
		{"certificate and token on a token-only allowlist", &p.Stranger, "good", "tokens", 200, "oidc"},
		{"identity headers are not credentials", nil, "", "component", 401, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			client := &http.Client{Transport: &http.Transport{TLSClientConfig: p.ClientTLS(tt.id)}}
			defer client.CloseIdleConnections()
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/"+tt.allowlist, nil)
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			req.Header.Set("X-SSL-Client-Verify", "SUCCESS")
			req.Header.Set("X-SSL-Client-Fingerprint", "SHA256:anything")
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

// fakeBearer admits the bearer token "good" and refuses others as invalid.
type fakeBearer struct{}

func (fakeBearer) Authenticate(r *http.Request, allowlist string) (auth.Principal, error) {
	if r.Header.Get("Authorization") == "Bearer good" {
		return auth.Principal{Method: "oidc", Subject: "alice"}, nil
	}
	return auth.Principal{}, fmt.Errorf("%w: bad token", auth.ErrNoCredentials)
}
