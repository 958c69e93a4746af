package frontdoor_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/osohost/osohost/host/frontdoor"
	"github.com/osohost/osohost/host/pki/pkitest"
)

func start(t *testing.T, h http.Handler) (*frontdoor.Server, *pkitest.PKI, *atomic.Int32) {
	t.Helper()
	pk := pkitest.New(t)
	var handshakes atomic.Int32
	srv, err := frontdoor.Listen(frontdoor.Options{
		Addr: "127.0.0.1:0",
		Certificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			handshakes.Add(1)
			return &pk.Server.TLS, nil
		},
		Handler: h,
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv, pk, &handshakes
}

func TestServer_TLS13Only(t *testing.T) {
	srv, pk, handshakes := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto)
	}))
	addr := srv.Addr().String()
	for _, proto := range []string{"h2", "http/1.1"} {
		c := &http.Client{Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: pk.CAPool, ServerName: "localhost", NextProtos: []string{proto}},
			ForceAttemptHTTP2: proto == "h2",
		}}
		resp, err := c.Get("https://" + addr + "/")
		if err != nil {
			t.Fatalf("%s: %v", proto, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.TLS.Version != tls.VersionTLS13 {
			t.Fatalf("%s: TLS version %x", proto, resp.TLS.Version)
		}
		if want := map[string]string{"h2": "HTTP/2.0", "http/1.1": "HTTP/1.1"}[proto]; string(b) != want {
			t.Fatalf("%s: served as %s", proto, b)
		}
	}
	if handshakes.Load() < 2 {
		t.Fatalf("certificate callback ran %d times", handshakes.Load())
	}
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pk.CAPool, ServerName: "localhost", MaxVersion: tls.VersionTLS12})
	if err == nil {
		conn.Close()
		t.Fatal("TLS 1.2 accepted")
	}
}

func TestServer_PlainHTTP(t *testing.T) {
	srv, _, _ := start(t, http.NotFoundHandler())
	conn, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	line, _ := bufio.NewReader(conn).ReadString('\n')
	if !strings.Contains(line, "400") {
		t.Fatalf("plain HTTP answered %q", line)
	}
}

func TestListen_Errors(t *testing.T) {
	if _, err := frontdoor.Listen(frontdoor.Options{Addr: "127.0.0.1:0"}); err == nil {
		t.Fatal("no certificate or handler accepted")
	}
	if _, err := frontdoor.Listen(frontdoor.Options{Addr: "256.0.0.1:1",
		Certificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return nil, nil }, Handler: http.NotFoundHandler()}); err == nil {
		t.Fatal("bad address accepted")
	}
}
