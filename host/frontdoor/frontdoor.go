// Package frontdoor owns the listeners in front of the API: TLS 1.3 only,
// client certificates requested (and checked by host/auth), bounded
// handshake, header and idle times, graceful shutdown. It serves HTTP/1.1
// and HTTP/2 over TCP and, optionally, HTTP/3 over QUIC on UDP next to
// it, with the same certificates, the same client verification and the
// same handler. It takes an http.Handler and knows nothing of the routes
// behind it.
//
// # HTTP/3
//
// With Options.HTTP3 the server also listens on UDP (by default on the
// port the TCP listener got) and serves the handler with quic-go's
// http3.Server. The QUIC handshake uses a copy of the TCP listener's
// tls.Config with only the ALPN protocol changed to "h3": TLS 1.3, the
// same certificate callback, the client certificate requested the same
// way and Options.VerifyConnection run after every handshake, so a
// certificate that fails verification is refused during the handshake on
// both transports and a client without a certificate reaches the handler
// on both. r.TLS carries the QUIC connection's TLS state, so the handler's
// own verification sees the same peer certificates. 0-RTT is refused:
// early data can be replayed, and a replayed POST would move documents
// twice.
//
// Every TCP response carries an Alt-Svc header naming the UDP port
// (h3=":4000"; ma=86400), so HTTP/3 clients that start on TCP can switch.
//
// Bounds on the HTTP/3 side mirror the TCP ones: the handshake must finish
// within ReadHeaderTimeout, an idle connection closes after IdleTimeout,
// request headers are limited to MaxHeaderBytes (431 beyond), a request
// body must arrive within ReadTimeout of the start of the handler, and a
// connection carries at most HTTP3MaxStreams requests at once. quic-go has
// no timer for the header phase of one stream: a stream whose headers
// never complete is bounded only by HTTP3MaxStreams and by IdleTimeout,
// which QUIC keep-alives can extend.
package frontdoor

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// Defaults of the zero fields of [Options].
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 60 * time.Second
	DefaultIdleTimeout       = 75 * time.Second
	DefaultMaxHeaderBytes    = 64 << 10
	DefaultHTTP3MaxStreams   = 100
)

// AltSvcMaxAge is the lifetime, in seconds, that the Alt-Svc header gives
// clients to remember the HTTP/3 endpoint: one day.
const AltSvcMaxAge = 86400

// maxUniStreams bounds the unidirectional streams of one HTTP/3
// connection; HTTP/3 uses three (control and the two QPACK streams).
const maxUniStreams = 16

// http3DrainGrace is how long Shutdown lets HTTP/3 clients close their
// connections after the last request in flight has been answered, before
// it closes them: time for the answers to arrive.
const http3DrainGrace = 5 * time.Second

// bindAttempts is how many TCP ports Listen tries when Addr asks for port
// 0 and the UDP port of the same number is taken.
const bindAttempts = 8

// Options configure a [Server]. Zero durations mean the documented default.
type Options struct {
	// Addr is the TCP address to listen on, e.g. ":4000" or "127.0.0.1:0".
	Addr string
	// Certificate returns the server certificate for a handshake; it is
	// called for every handshake, so certificates can rotate without a new
	// listener. Required.
	Certificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// VerifyConnection, if set, runs after every handshake (resumptions
	// included), on TCP and QUIC alike, and may refuse the connection,
	// e.g. a client certificate from a foreign CA.
	VerifyConnection func(tls.ConnectionState) error
	// Handler serves requests. Required.
	Handler http.Handler
	// ReadHeaderTimeout bounds the TLS handshake plus request headers
	// (on HTTP/3: the QUIC handshake); default 10s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request; default 60s. On HTTP/3
	// it counts from the moment the handler starts.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a response, measured from the end of the
	// request headers; default 0 (the handler enforces its own deadline
	// and answers 504 itself).
	WriteTimeout time.Duration
	// IdleTimeout bounds a keep-alive connection between requests; default 75s.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds request headers; default 64 KiB.
	MaxHeaderBytes int
	// HTTP3 also serves Handler over HTTP/3 on UDP and advertises it with
	// Alt-Svc on TCP responses.
	HTTP3 bool
	// HTTP3Addr is the UDP address of the HTTP/3 listener. Empty means the
	// host of Addr with the port the TCP listener got: the same port,
	// also when Addr asks for port 0 (Listen then tries a few TCP ports
	// until the UDP port of the same number is free).
	HTTP3Addr string
	// HTTP3MaxStreams bounds the requests one HTTP/3 connection may have
	// in flight at once; default 100.
	HTTP3MaxStreams int
	// Logger receives connection-level errors (handshake failures); nil discards.
	Logger *slog.Logger
}

// Server is a TLS 1.3 listener serving one handler over HTTP/1.1 and
// HTTP/2, and over HTTP/3 when enabled.
type Server struct {
	srv *http.Server
	ln  net.Listener

	// HTTP/3; all nil when it is off.
	h3   *http3.Server
	udp  net.PacketConn
	tr   *quic.Transport
	qln  *quic.Listener
	busy inflight // HTTP/3 requests being served
}

// Listen binds the address (and the UDP address, with HTTP/3) and
// prepares the server; call [Server.Serve].
func Listen(opts Options) (*Server, error) {
	if opts.Certificate == nil || opts.Handler == nil {
		return nil, errors.New("frontdoor: certificate and handler are required")
	}
	if opts.ReadHeaderTimeout <= 0 {
		opts.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = DefaultReadTimeout
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.MaxHeaderBytes <= 0 {
		opts.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if opts.HTTP3MaxStreams <= 0 {
		opts.HTTP3MaxStreams = DefaultHTTP3MaxStreams
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg := &tls.Config{
		MinVersion:       tls.VersionTLS13,
		GetCertificate:   opts.Certificate,
		ClientAuth:       tls.RequestClientCert,
		VerifyConnection: opts.VerifyConnection,
		NextProtos:       []string{"h2", "http/1.1"},
	}
	ln, udp, err := listen(opts)
	if err != nil {
		return nil, err
	}
	s := &Server{ln: ln, udp: udp}
	handler := opts.Handler
	if udp != nil {
		if err := s.setupHTTP3(opts, cfg, log); err != nil {
			ln.Close()
			udp.Close()
			return nil, err
		}
		altSvc := fmt.Sprintf(`%s=":%d"; ma=%d`, http3.NextProtoH3, udp.LocalAddr().(*net.UDPAddr).Port, AltSvcMaxAge)
		handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Alt-Svc", altSvc)
			opts.Handler.ServeHTTP(w, r)
		})
	}
	s.srv = &http.Server{
		Handler:           handler,
		TLSConfig:         cfg,
		ReadHeaderTimeout: opts.ReadHeaderTimeout,
		ReadTimeout:       opts.ReadTimeout,
		WriteTimeout:      opts.WriteTimeout,
		IdleTimeout:       opts.IdleTimeout,
		MaxHeaderBytes:    opts.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// listen binds the TCP address and, with HTTP/3, the UDP one. When the UDP
// port follows a TCP port 0 and is taken, it tries another TCP port.
func listen(opts Options) (net.Listener, net.PacketConn, error) {
	host, port, err := net.SplitHostPort(opts.Addr)
	anyPort := err == nil && (port == "" || port == "0")
	for attempt := 1; ; attempt++ {
		ln, err := net.Listen("tcp", opts.Addr)
		if err != nil {
			return nil, nil, fmt.Errorf("frontdoor: listen %s: %w", opts.Addr, err)
		}
		if !opts.HTTP3 {
			return ln, nil, nil
		}
		addr := opts.HTTP3Addr
		if addr == "" {
			addr = net.JoinHostPort(host, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
		}
		udp, err := net.ListenPacket("udp", addr)
		if err == nil {
			return ln, udp, nil
		}
		ln.Close()
		if opts.HTTP3Addr != "" || !anyPort || attempt == bindAttempts {
			return nil, nil, fmt.Errorf("frontdoor: listen udp %s (HTTP/3): %w", addr, err)
		}
	}
}

// setupHTTP3 prepares the QUIC listener on s.udp and the HTTP/3 server.
func (s *Server) setupHTTP3(opts Options, cfg *tls.Config, log *slog.Logger) error {
	qcfg := &quic.Config{
		// The handshake is aborted when it has not completed in twice
		// this: ReadHeaderTimeout in all, as on TCP.
		HandshakeIdleTimeout:  opts.ReadHeaderTimeout / 2,
		MaxIdleTimeout:        opts.IdleTimeout,
		MaxIncomingStreams:    int64(opts.HTTP3MaxStreams),
		MaxIncomingUniStreams: maxUniStreams,
		Allow0RTT:             false,
	}
	s.tr = &quic.Transport{Conn: s.udp}
	qln, err := s.tr.Listen(http3.ConfigureTLSConfig(cfg), qcfg)
	if err != nil {
		s.tr.Close()
		return fmt.Errorf("frontdoor: HTTP/3 listener: %w", err)
	}
	s.qln = qln
	s.h3 = &http3.Server{
		Handler:        s.http3Handler(opts),
		MaxHeaderBytes: opts.MaxHeaderBytes,
		IdleTimeout:    opts.IdleTimeout,
		QUICConfig:     qcfg,
		Logger:         log,
	}
	return nil
}

// http3Handler wraps the handler for HTTP/3: it counts the request as in
// flight (for Shutdown) and bounds reading its body (ReadTimeout) and
// writing its answer (WriteTimeout), which http.Server does on TCP.
func (s *Server) http3Handler(opts Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.busy.add()
		defer s.busy.done()
		rc := http.NewResponseController(w)
		now := time.Now()
		_ = rc.SetReadDeadline(now.Add(opts.ReadTimeout))
		if opts.WriteTimeout > 0 {
			_ = rc.SetWriteDeadline(now.Add(opts.WriteTimeout))
		}
		opts.Handler.ServeHTTP(w, r)
	})
}

// Addr returns the bound TCP address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// HTTP3Addr returns the bound UDP address of the HTTP/3 listener, or nil
// when HTTP/3 is off.
func (s *Server) HTTP3Addr() net.Addr {
	if s.udp == nil {
		return nil
	}
	return s.udp.LocalAddr()
}

// Serve serves until Shutdown; it returns nil after a graceful shutdown.
// If one of the two listeners fails, Serve closes the other and returns
// the error.
func (s *Server) Serve() error {
	if s.h3 == nil {
		return s.serveTCP()
	}
	errc := make(chan error, 2)
	go func() { errc <- s.serveTCP() }()
	go func() { errc <- s.serveHTTP3() }()
	err := <-errc
	if err != nil {
		s.srv.Close()
		s.closeHTTP3()
	}
	return errors.Join(err, <-errc)
}

func (s *Server) serveTCP() error {
	err := s.srv.ServeTLS(s.ln, "", "")
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func (s *Server) serveHTTP3() error {
	err := s.h3.ServeListener(s.qln)
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, quic.ErrServerClosed) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("frontdoor: HTTP/3: %w", err)
	}
	return nil
}

// Shutdown stops accepting connections on both listeners and waits for
// requests in flight until ctx ends. HTTP/3 clients are told to go away
// (GOAWAY) and close their connections once their answers have arrived;
// the connections that remain 5 seconds after the last HTTP/3 request in
// flight was answered are closed, so a client that vanished without
// closing its connection does not hold the shutdown until its idle
// timeout.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.h3 == nil {
		return s.srv.Shutdown(ctx)
	}
	tcp := make(chan error, 1)
	go func() { tcp <- s.srv.Shutdown(ctx) }()
	err := s.shutdownHTTP3(ctx)
	return errors.Join(<-tcp, err)
}

func (s *Server) shutdownHTTP3(ctx context.Context) error {
	s.qln.Close() // no new connections; established ones carry on
	done := make(chan error, 1)
	go func() { done <- s.h3.Shutdown(ctx) }()
	var err error
	select {
	case err = <-done:
	case <-s.busy.idle():
		// Clients close their connections once their last answer has
		// arrived; give the answers time to get there before closing
		// what remains.
		t := time.NewTimer(http3DrainGrace)
		select {
		case err = <-done:
		case <-t.C:
			s.h3.Close()
			err = <-done
		}
		t.Stop()
	}
	return errors.Join(err, s.closeUDP())
}

// closeHTTP3 closes the HTTP/3 side at once (after the other listener
// failed).
func (s *Server) closeHTTP3() {
	s.qln.Close()
	s.h3.Close()
	s.closeUDP()
}

func (s *Server) closeUDP() error {
	s.tr.Close()
	if err := s.udp.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// inflight counts requests being served and tells when there are none.
type inflight struct {
	mu      sync.Mutex
	n       int
	waiters []chan struct{}
}

func (f *inflight) add() {
	f.mu.Lock()
	f.n++
	f.mu.Unlock()
}

func (f *inflight) done() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n--; f.n == 0 {
		for _, c := range f.waiters {
			close(c)
		}
		f.waiters = nil
	}
}

// idle returns a channel closed when no request is in flight.
func (f *inflight) idle() <-chan struct{} {
	c := make(chan struct{})
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == 0 {
		close(c)
	} else {
		f.waiters = append(f.waiters, c)
	}
	return c
}
