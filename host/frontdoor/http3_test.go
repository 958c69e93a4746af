package frontdoor_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/osohost/osohost/host/auth"
	"github.com/osohost/osohost/host/auth/mtls"
	"github.com/osohost/osohost/host/frontdoor"
	"github.com/osohost/osohost/host/pki/pkitest"
)

// authHandler answers as host/api does for the three auth outcomes, from
// the handler's own verification of r.TLS, and writes the protocol.
func authHandler(a *mtls.Authenticator) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := a.Authenticate(r, "component")
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
		io.WriteString(w, r.Proto)
	})
}

// startHTTP3 serves h with HTTP/3 on, verification wired as host.New
// wires it, and stops the server at the end of the test.
func startHTTP3(t *testing.T, pk *pkitest.PKI, h http.Handler, edit func(*frontdoor.Options)) *frontdoor.Server {
	t.Helper()
	a, err := mtls.New(mtls.Options{ClientCAs: pk.CAPool, Allowlists: map[string][][32]byte{"component": pk.Allowlist}})
	if err != nil {
		t.Fatal(err)
	}
	if h == nil {
		h = authHandler(a)
	}
	opts := frontdoor.Options{
		Addr:             "127.0.0.1:0",
		Certificate:      func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &pk.Server.TLS, nil },
		VerifyConnection: a.VerifyConnection,
		Handler:          h,
		HTTP3:            true,
	}
	if edit != nil {
		edit(&opts)
	}
	srv, err := frontdoor.Listen(opts)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv
}

// h3Client is an HTTP/3 client presenting id (none when nil).
func h3Client(t *testing.T, pk *pkitest.PKI, id *pkitest.Identity) *http.Client {
	t.Helper()
	cfg := pk.ClientTLS(id)
	cfg.ServerName = "localhost"
	tr := &http3.Transport{TLSClientConfig: cfg, QUICConfig: &quic.Config{HandshakeIdleTimeout: 10 * time.Second}}
	t.Cleanup(func() { tr.Close() })
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func h2Client(t *testing.T, pk *pkitest.PKI, id *pkitest.Identity) *http.Client {
	t.Helper()
	cfg := pk.ClientTLS(id)
	cfg.ServerName = "localhost"
	tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func port(t *testing.T, a net.Addr) int {
	t.Helper()
	_, p, err := net.SplitHostPort(a.String())
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

// TestServer_HTTP3_Verification checks that HTTP/3 answers every client
// exactly as the TCP listener does: the handler's 200/401/403 from r.TLS,
// and a refused handshake for certificates that fail verification.
func TestServer_HTTP3_Verification(t *testing.T) {
	pk := pkitest.New(t)
	srv := startHTTP3(t, pk, nil, nil)
	if srv.HTTP3Addr() == nil || port(t, srv.HTTP3Addr()) != port(t, srv.Addr()) {
		t.Fatalf("HTTP/3 on %v, TCP on %v: want the same port", srv.HTTP3Addr(), srv.Addr())
	}
	url := "https://" + srv.Addr().String() + "/"
	tests := []struct {
		name       string
		id         *pkitest.Identity
		wantStatus int // 0: the handshake must fail
	}{
		{"allowlisted", &pk.Client, 200},
		{"RSA leaf issued as a CA", &pk.RSACAStyleLeaf, 200},
		{"no certificate", nil, 401},
		{"valid but not allowlisted", &pk.Stranger, 403},
		{"foreign CA", &pk.Foreign, 0},
		{"expired", &pk.Expired, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, proto := range []string{"HTTP/2.0", "HTTP/3.0"} {
				c := h2Client(t, pk, tt.id)
				if proto == "HTTP/3.0" {
					c = h3Client(t, pk, tt.id)
				}
				resp, err := c.Get(url)
				if tt.wantStatus == 0 {
					if err == nil {
						resp.Body.Close()
						t.Fatalf("%s: handshake accepted, status %d", proto, resp.StatusCode)
					}
					if proto == "HTTP/3.0" && !strings.Contains(err.Error(), "bad certificate") {
						t.Fatalf("%s: %v, want a bad_certificate alert", proto, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", proto, err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tt.wantStatus || string(b) != proto {
					t.Fatalf("%s: status %d over %s, want %d", proto, resp.StatusCode, b, tt.wantStatus)
				}
				if resp.TLS == nil || resp.TLS.Version != tls.VersionTLS13 {
					t.Fatalf("%s: TLS state %v", proto, resp.TLS)
				}
			}
		})
	}
}

// TestServer_HTTP3_AltSvc checks that TCP responses advertise the UDP
// port, and that HTTP/3 responses do not need to.
func TestServer_HTTP3_AltSvc(t *testing.T) {
	pk := pkitest.New(t)
	srv := startHTTP3(t, pk, nil, nil)
	for _, proto := range []string{"h2", "http/1.1"} {
		cfg := pk.ClientTLS(&pk.Client)
		cfg.ServerName, cfg.NextProtos = "localhost", []string{proto}
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: proto == "h2"}}
		resp, err := c.Get("https://" + srv.Addr().String() + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := fmt.Sprintf(`h3=":%d"; ma=%d`, port(t, srv.HTTP3Addr()), frontdoor.AltSvcMaxAge)
		if got := resp.Header.Values("Alt-Svc"); len(got) != 1 || got[0] != want {
			t.Fatalf("%s: Alt-Svc %q, want %q", proto, got, want)
		}
		c.CloseIdleConnections()
	}
}

// TestServer_HTTP3_Off checks that without HTTP/3 nothing listens on UDP
// and nothing is advertised.
func TestServer_HTTP3_Off(t *testing.T) {
	pk := pkitest.New(t)
	srv := startHTTP3(t, pk, nil, func(o *frontdoor.Options) { o.HTTP3 = false })
	if srv.HTTP3Addr() != nil {
		t.Fatalf("HTTP3Addr = %v with HTTP/3 off", srv.HTTP3Addr())
	}
	resp, err := h2Client(t, pk, &pk.Client).Get("https://" + srv.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if v := resp.Header.Get("Alt-Svc"); v != "" {
		t.Fatalf("Alt-Svc %q with HTTP/3 off", v)
	}
}

// TestServer_HTTP3_Addr checks an explicit UDP address, and that a taken
// one fails Listen and releases the TCP port.
func TestServer_HTTP3_Addr(t *testing.T) {
	pk := pkitest.New(t)
	srv := startHTTP3(t, pk, nil, func(o *frontdoor.Options) { o.HTTP3Addr = "127.0.0.1:0" })
	url := "https://" + srv.Addr().String() + "/"
	resp, err := h2Client(t, pk, &pk.Client).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	p := port(t, srv.HTTP3Addr())
	if want := fmt.Sprintf(`h3=":%d"; ma=%d`, p, frontdoor.AltSvcMaxAge); resp.Header.Get("Alt-Svc") != want {
		t.Fatalf("Alt-Svc %q, want %q", resp.Header.Get("Alt-Svc"), want)
	}
	h3url := fmt.Sprintf("https://127.0.0.1:%d/", p)
	resp, err = h3Client(t, pk, &pk.Client).Get(h3url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Proto != "HTTP/3.0" {
		t.Fatalf("%s %d", resp.Proto, resp.StatusCode)
	}

	taken, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tcpAddr := tcp.Addr().String()
	tcp.Close()
	_, err = frontdoor.Listen(frontdoor.Options{
		Addr:        tcpAddr,
		Certificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &pk.Server.TLS, nil },
		Handler:     http.NotFoundHandler(),
		HTTP3:       true,
		HTTP3Addr:   taken.LocalAddr().String(),
	})
	if err == nil || !strings.Contains(err.Error(), "HTTP/3") {
		t.Fatalf("Listen on a taken UDP address: %v", err)
	}
	again, err := net.Listen("tcp", tcpAddr)
	if err != nil {
		t.Fatalf("TCP port not released after a failed Listen: %v", err)
	}
	again.Close()
}

// TestServer_HTTP3_Bounds checks the header limit (431) and the read
// deadline of a request body that never arrives.
func TestServer_HTTP3_Bounds(t *testing.T) {
	pk := pkitest.New(t)
	readErr := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			_, err := io.ReadAll(r.Body)
			readErr <- err
			w.WriteHeader(http.StatusRequestTimeout)
		}
	})
	srv := startHTTP3(t, pk, h, func(o *frontdoor.Options) {
		o.MaxHeaderBytes = 4 << 10
		o.ReadTimeout = 100 * time.Millisecond
	})
	url := "https://" + srv.Addr().String() + "/"
	c := h3Client(t, pk, &pk.Client)

	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("X-Big", strings.Repeat("a", 8<<10))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("oversized headers: status %d", resp.StatusCode)
	}

	body, stall := io.Pipe() // a body that never ends
	defer stall.Close()
	req, _ = http.NewRequest("POST", url, body)
	go func() {
		if resp, err := c.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	if err := <-readErr; err == nil {
		t.Fatal("reading a stalled body returned no error")
	}
}

// TestServer_HTTP3_Shutdown checks that a request in flight on HTTP/3
// finishes during Shutdown, that Shutdown then returns while the client
// still holds its connection open, and that both listeners are closed.
func TestServer_HTTP3_Shutdown(t *testing.T) {
	pk := pkitest.New(t)
	a, err := mtls.New(mtls.Options{ClientCAs: pk.CAPool, Allowlists: map[string][][32]byte{"component": pk.Allowlist}})
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}, 1), make(chan struct{})
	srv, err := frontdoor.Listen(frontdoor.Options{
		Addr:             "127.0.0.1:0",
		Certificate:      func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &pk.Server.TLS, nil },
		VerifyConnection: a.VerifyConnection,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/slow" {
				entered <- struct{}{}
				<-release
			}
			io.WriteString(w, "done")
		}),
		HTTP3: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	url := "https://" + srv.Addr().String()

	idle := h3Client(t, pk, &pk.Client) // keeps an idle connection open
	resp, err := idle.Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	c := h3Client(t, pk, &pk.Client)
	type result struct {
		body string
		err  error
	}
	slow := make(chan result, 1)
	go func() {
		resp, err := c.Get(url + "/slow")
		if err != nil {
			slow <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		slow <- result{string(b), err}
	}()
	<-entered

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(ctx) }()
	close(release)
	if r := <-slow; r.err != nil || r.body != "done" {
		t.Fatalf("request in flight during shutdown: %q, %v", r.body, r.err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}

	if conn, err := net.Dial("tcp", srv.Addr().String()); err == nil {
		conn.Close()
		t.Fatal("TCP listener still open after Shutdown")
	}
	udp, err := net.ListenPacket("udp", srv.HTTP3Addr().String())
	if err != nil {
		t.Fatalf("UDP port still bound after Shutdown: %v", err)
	}
	udp.Close()
}

// TestServer_HTTP3_ShutdownVanishedClient checks that a client that went
// away without closing its QUIC connection does not hold Shutdown until
// the connection's idle timeout (75s here, longer than the deadline).
func TestServer_HTTP3_ShutdownVanishedClient(t *testing.T) {
	pk := pkitest.New(t)
	srv, err := frontdoor.Listen(frontdoor.Options{
		Addr:        "127.0.0.1:0",
		Certificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &pk.Server.TLS, nil },
		Handler:     http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		HTTP3:       true,
	})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()

	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	qt := &quic.Transport{Conn: udp}
	cfg := pk.ClientTLS(&pk.Client)
	cfg.ServerName = "localhost"
	tr := &http3.Transport{
		TLSClientConfig: cfg,
		Dial: func(ctx context.Context, addr string, tlsCfg *tls.Config, qcfg *quic.Config) (*quic.Conn, error) {
			ua, err := net.ResolveUDPAddr("udp", addr)
			if err != nil {
				return nil, err
			}
			return qt.DialEarly(ctx, ua, tlsCfg, qcfg)
		},
	}
	resp, err := (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Get("https://" + srv.HTTP3Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	udp.Close() // the client vanishes: its connection is never closed

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with a vanished client: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	qt.Close()
	tr.Close()
}
