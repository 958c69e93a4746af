package mtls_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/osohost/osohost/host/auth"
	"github.com/osohost/osohost/host/auth/mtls"
	"github.com/osohost/osohost/host/pki"
	"github.com/osohost/osohost/host/pki/pkitest"
)

// statusOf maps authentication errors to statuses as the API layer does.
func statusOf(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, auth.ErrNoCredentials):
		return http.StatusUnauthorized
	case errors.Is(err, auth.ErrBadCertificate):
		return http.StatusBadRequest
	case errors.Is(err, auth.ErrForbidden):
		return http.StatusForbidden
	default:
		return http.StatusInternalServerError
	}
}

// handler authenticates against the allowlist "component" and answers the
// mapped status; on success the body is the client fingerprint.
func handler(a *mtls.Authenticator) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth.StripIdentityHeaders(r.Header)
		if r.Header.Get("X-SSL-Client-Verify") != "" || r.Header.Get("X-SSL-Cert") != "" {
			http.Error(w, "identity headers survived", http.StatusInternalServerError)
			return
		}
		p, err := a.Authenticate(r, "component")
		if r.TLS != nil && r.TLS.DidResume {
			w.Header().Set("Did-Resume", "true")
		}
		w.WriteHeader(statusOf(err))
		if err == nil {
			io.WriteString(w, pki.FormatFingerprint(p.Fingerprint))
		}
	})
}

// newServer starts a TLS 1.3 server that requests client certificates
// without crypto/tls verifying them. With handshake set, a.VerifyConnection
// refuses certificates that fail verification during the handshake.
func newServer(t *testing.T, pk *pkitest.PKI, a *mtls.Authenticator, handshake bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(handler(a))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{pk.Server.TLS},
		ClientAuth:   tls.RequestClientCert,
		MinVersion:   tls.VersionTLS13,
	}
	if handshake {
		srv.TLS.VerifyConnection = a.VerifyConnection
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func newAuthenticator(t testing.TB, pk *pkitest.PKI, extra ...[32]byte) *mtls.Authenticator {
	t.Helper()
	a, err := mtls.New(mtls.Options{
		ClientCAs:  pk.CAPool,
		Allowlists: map[string][][32]byte{"component": append(pk.Allowlist[:len(pk.Allowlist):len(pk.Allowlist)], extra...)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// chain issues a client leaf below n intermediates of pk.CA; its chain holds
// the leaf and the intermediates.
func chain(t testing.TB, pk *pkitest.PKI, n int) pkitest.Identity {
	t.Helper()
	parent := &pk.CA
	for i := range n {
		inter := pk.Issue(t, parent, &x509.Certificate{
			Subject:               pkitest.ClientTemplate(fmt.Sprintf("intermediate %d", i)).Subject,
			KeyUsage:              x509.KeyUsageCertSign,
			BasicConstraintsValid: true,
			IsCA:                  true,
		}, nil)
		parent = &inter
	}
	return pk.Issue(t, parent, pkitest.ClientTemplate(fmt.Sprintf("below %d intermediates", n)), nil)
}

// TestAuthenticator_TLS runs real TLS 1.3 handshakes against a server in
// both modes: verification in the handler only, and also at the handshake.
func TestAuthenticator_TLS(t *testing.T) {
	t.Parallel()
	pk := pkitest.New(t)
	chained := chain(t, pk, 2)
	a := newAuthenticator(t, pk, chained.Fingerprint)
	spoof := http.Header{
		"X-SSL-Cert":          {url.QueryEscape(pk.Client.CertPEM)},
		"X-SSL-Client-Verify": {"SUCCESS"},
		"X-SSL-Client-S-DN":   {"CN=allowed"},
	}

	tests := []struct {
		name          string
		id            *pkitest.Identity // nil: send no certificate
		header        http.Header
		wantHandler   int // status when only the handler verifies
		wantHandshake int // status with VerifyConnection; 0: handshake refused
	}{
		{"no certificate", nil, nil, 401, 401},
		{"allowlisted", &pk.Client, nil, 200, 200},
		{"valid but not allowlisted", &pk.Stranger, nil, 403, 403},
		{"other CA", &pk.Foreign, nil, 400, 0},
		{"expired", &pk.Expired, nil, 400, 0},
		{"RSA CA-style leaf without SAN or EKU", &pk.RSACAStyleLeaf, nil, 200, 200},
		{"chain through intermediates", &chained, nil, 200, 200},
		{"server certificate as client certificate", &pk.Server, nil, 400, 0},
		{"spoofed identity headers, no certificate", nil, spoof, 401, 401},
		{"spoofed identity headers, stranger", &pk.Stranger, spoof, 403, 403},
	}
	for _, mode := range []struct {
		name      string
		handshake bool
	}{{"handler", false}, {"handshake", true}} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, pk, a, mode.handshake)
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					want := tt.wantHandler
					if mode.handshake {
						want = tt.wantHandshake
					}
					tr := &http.Transport{TLSClientConfig: pk.ClientTLS(tt.id)}
					t.Cleanup(tr.CloseIdleConnections)
					req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/api/backend/v1alpha1/status", nil)
					if err != nil {
						t.Fatal(err)
					}
					for k, v := range tt.header {
						req.Header[k] = v
					}
					resp, err := (&http.Client{Transport: tr}).Do(req)
					if want == 0 {
						if err == nil {
							resp.Body.Close()
							t.Fatalf("got %d, want the handshake refused", resp.StatusCode)
						}
						if !strings.Contains(err.Error(), "bad certificate") {
							t.Errorf("error %v, want a bad_certificate alert", err)
						}
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					defer resp.Body.Close()
					body, _ := io.ReadAll(resp.Body)
					if resp.StatusCode != want {
						t.Fatalf("got %d %q, want %d", resp.StatusCode, body, want)
					}
					if want == 200 && string(body) != pki.FormatFingerprint(tt.id.Fingerprint) {
						t.Errorf("principal %s, want %s", body, pki.FormatFingerprint(tt.id.Fingerprint))
					}
				})
			}
		})
	}
}

// TestAuthenticator_TLS_Resumption checks that a resumed TLS session still
// carries the client certificate, so authentication gives the same answer.
func TestAuthenticator_TLS_Resumption(t *testing.T) {
	t.Parallel()
	pk := pkitest.New(t)
	a := newAuthenticator(t, pk)
	for _, handshake := range []bool{false, true} {
		t.Run(fmt.Sprintf("handshake=%v", handshake), func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, pk, a, handshake)
			for _, tc := range []struct {
				id   *pkitest.Identity
				want int
			}{{&pk.Client, 200}, {&pk.Stranger, 403}} {
				cfg := pk.ClientTLS(tc.id)
				cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
				c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
				for i := range 2 {
					resp, err := c.Get(srv.URL)
					if err != nil {
						t.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					resumed := resp.Header.Get("Did-Resume") == "true"
					if resumed != (i == 1) {
						t.Fatalf("request %d: resumed = %v", i, resumed)
					}
					if resp.StatusCode != tc.want {
						t.Errorf("%s request %d (resumed %v): got %d, want %d", tc.id.Leaf().Subject, i, resumed, resp.StatusCode, tc.want)
					}
				}
			}
		})
	}
}

// request returns a request as received over TLS with the given client
// chain.
func request(chain ...*x509.Certificate) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "https://localhost/", nil)
	r.TLS = &tls.ConnectionState{Version: tls.VersionTLS13, HandshakeComplete: true, PeerCertificates: chain}
	return r
}

func certs(id *pkitest.Identity) []*x509.Certificate {
	out := make([]*x509.Certificate, len(id.TLS.Certificate))
	for i, der := range id.TLS.Certificate {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			panic(err)
		}
		out[i] = c
	}
	return out
}

func TestAuthenticator_Authenticate(t *testing.T) {
	t.Parallel()
	pk := pkitest.New(t)
	a := newAuthenticator(t, pk)
	p, err := a.Authenticate(request(pk.Client.Leaf()), "component")
	if err != nil {
		t.Fatal(err)
	}
	want := auth.Principal{Method: mtls.Method, Fingerprint: pk.Client.Fingerprint, Subject: "CN=allowed"}
	if p != want {
		t.Errorf("Authenticate = %+v, want %+v", p, want)
	}
}

func TestAuthenticator_Authenticate_Errors(t *testing.T) {
	t.Parallel()
	pk := pkitest.New(t)
	a := newAuthenticator(t, pk)
	plain := httptest.NewRequest(http.MethodGet, "http://localhost/", nil)
	plain.Header.Set("X-SSL-Client-Verify", "SUCCESS")
	plain.Header.Set("X-SSL-Cert", url.QueryEscape(pk.Client.CertPEM))
	tooMany := []*x509.Certificate{pk.Client.Leaf()}
	for range 16 {
		tooMany = append(tooMany, pk.CA.Leaf())
	}

	tests := []struct {
		name      string
		r         *http.Request
		allowlist string
		want      error
		also      func(error) bool // more checks on the error
	}{
		{"plain HTTP with identity headers", plain, "component", auth.ErrNoCredentials, nil},
		{"TLS without certificate", request(), "component", auth.ErrNoCredentials, nil},
		{"other CA", request(pk.Foreign.Leaf()), "component", auth.ErrBadCertificate,
			func(err error) bool { var e x509.UnknownAuthorityError; return errors.As(err, &e) }},
		{"other CA with its root presented", request(pk.Foreign.Leaf(), pk.ForeignCA.Leaf()), "component", auth.ErrBadCertificate, nil},
		{"expired", request(pk.Expired.Leaf()), "component", auth.ErrBadCertificate,
			func(err error) bool {
				var e x509.CertificateInvalidError
				return errors.As(err, &e) && e.Reason == x509.Expired
			}},
		{"serverAuth only", request(pk.Server.Leaf()), "component", auth.ErrBadCertificate,
			func(err error) bool {
				var e x509.CertificateInvalidError
				return errors.As(err, &e) && e.Reason == x509.IncompatibleUsage
			}},
		{"too many certificates", request(tooMany...), "component", auth.ErrBadCertificate,
			func(err error) bool { return strings.Contains(err.Error(), "17 certificates presented") }},
		{"not allowlisted", request(pk.Stranger.Leaf()), "component", auth.ErrNotAllowlisted,
			func(err error) bool {
				return errors.Is(err, auth.ErrForbidden) && strings.Contains(err.Error(), pki.FormatFingerprint(pk.Stranger.Fingerprint))
			}},
		{"allowlist name differs in case", request(pk.Client.Leaf()), "Component", auth.ErrNotAllowlisted,
			func(err error) bool { return strings.Contains(err.Error(), `allowlist "Component" is not configured`) }},
		{"key without OpenSSH encoding", request(pk.NoSSHEncoding.Leaf()), "component", auth.ErrNotAllowlisted,
			func(err error) bool { return errors.Is(err, pki.ErrNoSSHEncoding) && errors.Is(err, auth.ErrForbidden) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := a.Authenticate(tt.r, tt.allowlist)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Authenticate = %v, want %v", err, tt.want)
			}
			if p != (auth.Principal{}) {
				t.Errorf("non-zero principal %+v with an error", p)
			}
			if tt.also != nil && !tt.also(err) {
				t.Errorf("unexpected error detail: %v", err)
			}
		})
	}
}

func TestAuthenticator_Authenticate_ChainDepth(t *testing.T) {
	t.Parallel()
	pk := pkitest.New(t)
	chains := make([]pkitest.Identity, 5)
	for n := range chains {
		chains[n] = chain(t, pk, n)
	}
	tests := []struct {
		name     string
		maxDepth int
		id       *pkitest.Identity
		appendCA bool // also present the root
		dropTail bool // present the leaf only
		ok       bool
	}{
		{"default, 0 intermediates", 0, &chains[0], false, false, true},
		{"default, 3 intermediates", 0, &chains[3], false, false, true},
		{"default, 3 intermediates and the root", 0, &chains[3], true, false, true},
		{"default, 4 intermediates", 0, &chains[4], false, false, false},
		{"max 1, 1 intermediate", 1, &chains[1], false, false, true},
		{"max 1, 2 intermediates", 1, &chains[2], false, false, false},
		{"none allowed, 0 intermediates", -1, &chains[0], false, false, true},
		{"none allowed, 1 intermediate", -1, &chains[1], false, false, false},
		{"intermediate not presented", 0, &chains[1], false, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, err := mtls.New(mtls.Options{
				ClientCAs:     pk.CAPool,
				Allowlists:    map[string][][32]byte{"component": {tt.id.Fingerprint}},
				MaxChainDepth: tt.maxDepth,
			})
			if err != nil {
				t.Fatal(err)
			}
			presented := certs(tt.id)
			if tt.dropTail {
				presented = presented[:1]
			}
			if tt.appendCA {
				presented = append(presented, pk.CA.Leaf())
			}
			_, err = a.Authenticate(request(presented...), "component")
			if tt.ok && err != nil {
				t.Fatalf("Authenticate = %v, want success", err)
			}
			if !tt.ok && !errors.Is(err, auth.ErrBadCertificate) {
				t.Fatalf("Authenticate = %v, want ErrBadCertificate", err)
			}
			if err := a.VerifyConnection(tls.ConnectionState{PeerCertificates: presented}); (err == nil) != tt.ok {
				t.Errorf("VerifyConnection = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestAuthenticator_Now(t *testing.T) {
	t.Parallel()
	pk := pkitest.New(t)
	at := func(now time.Time) *mtls.Authenticator {
		a, err := mtls.New(mtls.Options{
			ClientCAs:  pk.CAPool,
			Allowlists: map[string][][32]byte{"component": pk.Allowlist},
			Now:        func() time.Time { return now },
		})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	expiredWindow := pk.Expired.Leaf().NotBefore.Add(time.Hour)
	if _, err := at(expiredWindow).Authenticate(request(pk.Expired.Leaf()), "component"); err != nil {
		t.Errorf("Expired inside its validity: %v", err)
	}
	future := pk.Client.Leaf().NotAfter.Add(time.Second)
	if _, err := at(future).Authenticate(request(pk.Client.Leaf()), "component"); !errors.Is(err, auth.ErrBadCertificate) {
		t.Errorf("Client after NotAfter: %v, want ErrBadCertificate", err)
	}
	past := pk.Client.Leaf().NotBefore.Add(-time.Second)
	if err := at(past).VerifyConnection(tls.ConnectionState{PeerCertificates: []*x509.Certificate{pk.Client.Leaf()}}); !errors.Is(err, auth.ErrBadCertificate) {
		t.Errorf("VerifyConnection before NotBefore: %v, want ErrBadCertificate", err)
	}
}

// TestAuthenticator_Cache checks that a chain that verified once is not
// accepted outside the validity of every certificate of its path, nor when
// presented differently.
func TestAuthenticator_Cache(t *testing.T) {
	t.Parallel()
	pk := pkitest.New(t)
	// The leaf outlives the root: the root's expiry must end acceptance.
	long := pkitest.ClientTemplate("outlives its root")
	long.NotBefore = time.Now().Add(-time.Hour)
	long.NotAfter = pk.CA.Leaf().NotAfter.Add(30 * 24 * time.Hour)
	leaf := pk.Issue(t, nil, long, nil)
	chained := chain(t, pk, 1)

	var now time.Time
	a, err := mtls.New(mtls.Options{
		ClientCAs:  pk.CAPool,
		Allowlists: map[string][][32]byte{"component": {leaf.Fingerprint, chained.Fingerprint}},
		Now:        func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name  string
		now   time.Time
		chain []*x509.Certificate
		ok    bool
	}{
		{"valid", time.Now(), []*x509.Certificate{leaf.Leaf()}, true},
		{"again, cached", time.Now(), []*x509.Certificate{leaf.Leaf()}, true},
		{"after the root expired", pk.CA.Leaf().NotAfter.Add(time.Second), []*x509.Certificate{leaf.Leaf()}, false},
		{"before the leaf is valid", long.NotBefore.Add(-time.Second), []*x509.Certificate{leaf.Leaf()}, false},
		{"valid again", time.Now(), []*x509.Certificate{leaf.Leaf()}, true},
		{"with its intermediate", time.Now(), certs(&chained), true},
		{"without its intermediate", time.Now(), certs(&chained)[:1], false},
	}
	for _, s := range steps {
		now = s.now
		_, err := a.Authenticate(request(s.chain...), "component")
		if s.ok && err != nil {
			t.Errorf("%s: %v", s.name, err)
		}
		if !s.ok && !errors.Is(err, auth.ErrBadCertificate) {
			t.Errorf("%s: %v, want ErrBadCertificate", s.name, err)
		}
	}
}

func TestAuthenticator_VerifyConnection(t *testing.T) {
	t.Parallel()
	pk := pkitest.New(t)
	a := newAuthenticator(t, pk)
	tests := []struct {
		name  string
		chain []*x509.Certificate
		ok    bool
	}{
		{"no certificate", nil, true},
		{"allowlisted", []*x509.Certificate{pk.Client.Leaf()}, true},
		{"valid but not allowlisted", []*x509.Certificate{pk.Stranger.Leaf()}, true},
		{"no OpenSSH encoding", []*x509.Certificate{pk.NoSSHEncoding.Leaf()}, true},
		{"other CA", []*x509.Certificate{pk.Foreign.Leaf()}, false},
		{"expired", []*x509.Certificate{pk.Expired.Leaf()}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := a.VerifyConnection(tls.ConnectionState{PeerCertificates: tt.chain})
			if tt.ok && err != nil {
				t.Errorf("VerifyConnection = %v, want nil", err)
			}
			if !tt.ok && !errors.Is(err, auth.ErrBadCertificate) {
				t.Errorf("VerifyConnection = %v, want ErrBadCertificate", err)
			}
		})
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	if _, err := mtls.New(mtls.Options{}); err == nil || !strings.Contains(err.Error(), "no client CAs") {
		t.Errorf("New without ClientCAs = %v, want an error", err)
	}

	pk := pkitest.New(t)
	list := map[string][][32]byte{"component": {pk.Client.Fingerprint}}
	a, err := mtls.New(mtls.Options{ClientCAs: pk.CAPool, Allowlists: list})
	if err != nil {
		t.Fatal(err)
	}
	list["component"][0] = pk.Stranger.Fingerprint
	list["other"] = [][32]byte{pk.Client.Fingerprint}
	if _, err := a.Authenticate(request(pk.Client.Leaf()), "component"); err != nil {
		t.Errorf("allowlist changed after New: %v", err)
	}
	if _, err := a.Authenticate(request(pk.Client.Leaf()), "other"); !errors.Is(err, auth.ErrNotAllowlisted) {
		t.Errorf("allowlist added after New is used: %v", err)
	}

	none, err := mtls.New(mtls.Options{ClientCAs: pk.CAPool})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := none.Authenticate(request(pk.Client.Leaf()), "component"); !errors.Is(err, auth.ErrNotAllowlisted) {
		t.Errorf("nil Allowlists: %v, want ErrNotAllowlisted", err)
	}
}

// TestAuthenticator_Concurrent authenticates from many goroutines at once;
// run with -race.
func TestAuthenticator_Concurrent(t *testing.T) {
	t.Parallel()
	pk := pkitest.New(t)
	a := newAuthenticator(t, pk)
	done := make(chan error)
	const n = 16
	for i := range n {
		go func() {
			id := &pk.Client
			want := error(nil)
			if i%2 == 1 {
				id, want = &pk.Stranger, auth.ErrNotAllowlisted
			}
			var err error
			for range 20 {
				if _, err = a.Authenticate(request(id.Leaf()), "component"); !errors.Is(err, want) {
					break
				}
				err = nil
			}
			done <- err
		}()
	}
	for range n {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// BenchmarkAuthenticator_Authenticate measures a request on a connection
// whose chain verified before (the common case), and a full verification.
func BenchmarkAuthenticator_Authenticate(b *testing.B) {
	pk := pkitest.New(b)
	a := newAuthenticator(b, pk)
	for _, tc := range []struct {
		name string
		id   *pkitest.Identity
	}{
		{"P-256 leaf", &pk.Client},
		{"RSA CA-style leaf", &pk.RSACAStyleLeaf},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := request(tc.id.Leaf())
			b.ReportAllocs()
			for b.Loop() {
				if _, err := a.Authenticate(r, "component"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/uncached", func(b *testing.B) {
			r := request(tc.id.Leaf())
			b.ReportAllocs()
			for b.Loop() {
				fresh := newAuthenticator(b, pk)
				if _, err := fresh.Authenticate(r, "component"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
