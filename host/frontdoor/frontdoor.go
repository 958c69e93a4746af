// Package frontdoor owns the TLS listener in front of the API: TLS 1.3 only,
// client certificates requested (and checked by host/auth), bounded
// handshake, header and idle times, graceful shutdown. It takes an
// http.Handler and knows nothing of the routes behind it.
package frontdoor

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Options configure a [Server]. Zero durations mean the documented default.
type Options struct {
	// Addr is the TCP address to listen on, e.g. ":4000" or "127.0.0.1:0".
	Addr string
	// Certificate returns the server certificate for a handshake; it is
	// called for every handshake, so certificates can rotate without a new
	// listener. Required.
	Certificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// VerifyConnection, if set, runs after every handshake (resumptions
	// included) and may refuse the connection, e.g. a client certificate
	// from a foreign CA.
	VerifyConnection func(tls.ConnectionState) error
	// Handler serves requests. Required.
	Handler http.Handler
	// ReadHeaderTimeout bounds the TLS handshake plus request headers;
	// default 10s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request; default 60s.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a response, measured from the end of the
	// request headers; default 0 (the handler enforces its own deadline
	// and answers 504 itself).
	WriteTimeout time.Duration
	// IdleTimeout bounds a keep-alive connection between requests; default 75s.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds request headers; default 64 KiB.
	MaxHeaderBytes int
	// Logger receives connection-level errors (handshake failures); nil discards.
	Logger *slog.Logger
}

// Server is a TLS 1.3 listener serving one handler over HTTP/1.1 and HTTP/2.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Listen binds the address and prepares the server; call [Server.Serve].
func Listen(opts Options) (*Server, error) {
	if opts.Certificate == nil || opts.Handler == nil {
		return nil, errors.New("frontdoor: certificate and handler are required")
	}
	if opts.ReadHeaderTimeout <= 0 {
		opts.ReadHeaderTimeout = 10 * time.Second
	}
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = 60 * time.Second
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 75 * time.Second
	}
	if opts.MaxHeaderBytes <= 0 {
		opts.MaxHeaderBytes = 64 << 10
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
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("frontdoor: listen %s: %w", opts.Addr, err)
	}
	srv := &http.Server{
		Handler:           opts.Handler,
		TLSConfig:         cfg,
		ReadHeaderTimeout: opts.ReadHeaderTimeout,
		ReadTimeout:       opts.ReadTimeout,
		WriteTimeout:      opts.WriteTimeout,
		IdleTimeout:       opts.IdleTimeout,
		MaxHeaderBytes:    opts.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return &Server{srv: srv, ln: ln}, nil
}

// Addr returns the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve serves until Shutdown; it returns nil after a graceful shutdown.
func (s *Server) Serve() error {
	err := s.srv.ServeTLS(s.ln, "", "")
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections and waits for requests in flight
// until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.srv.Shutdown(ctx)
}
