// Package admin serves the operator endpoints of an osohost server on a
// plain-HTTP listener of their own, separate from the mTLS API listener:
//
//	GET  /healthz  the process is alive: 200 "ok"
//	GET  /readyz   the server can serve: 200 "ok", else 503 with the reason
//	GET  /metrics  Prometheus metrics (host/metrics)
//	POST /reload   load the plugin module again: 200 with the new generation
//	GET  /version  the build: version, Go version, revision
//
// Nothing on this listener is authenticated by a client certificate, so it
// binds a loopback address unless Options.AllowRemote is set (Kubernetes
// probes come from the kubelet, over the pod's address); POST /reload can
// then require a bearer token (Options.ReloadToken). The package knows
// nothing of plugins or configuration: the host hands it functions
// (Ready, Reload, Info) and the metrics handler. docs/operations.md
// describes the endpoints for operators.
package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// DefaultAddr is the admin listener's default address: loopback only.
const DefaultAddr = "127.0.0.1:9090"

// Token length bounds of Options.ReloadToken.
const (
	MinTokenBytes = 16
	MaxTokenBytes = 4096
)

// Errors.
var (
	// ErrRemote: Options.Addr is not a loopback address and
	// Options.AllowRemote is not set.
	ErrRemote = errors.New("admin: address is not loopback (set AllowRemote to listen on it)")
	// ErrReloadInProgress is answered with 409 Conflict. The admin server
	// returns it itself when a POST /reload arrives while another one runs;
	// an Options.Reload function wraps it to report that a reload started
	// elsewhere (a file watch, a signal) is still running.
	ErrReloadInProgress = errors.New("admin: reload already in progress")
)

// Options configure a [Server]. Zero values mean the documented defaults.
type Options struct {
	// Addr is the TCP address to listen on; default [DefaultAddr]. Its host
	// must be "localhost" or a loopback IP unless AllowRemote is set; an
	// empty host (":9090") means every interface.
	Addr string
	// AllowRemote allows a non-loopback Addr, e.g. ":9090" so that the
	// kubelet can probe /healthz and /readyz. Everyone who can reach the
	// address can then read the metrics and, without ReloadToken, reload
	// the plugin.
	AllowRemote bool
	// Ready reports whether the server can serve requests. nil means always
	// ready. It is called with a deadline of ReadyTimeout and at most once
	// at a time: concurrent probes share one call. Its error text is sent
	// to the client (bounded to 256 bytes), so it must be safe to show:
	// "plugin not loaded", "draining", "signing backend unavailable".
	Ready func(ctx context.Context) error
	// Reload loads the plugin module again and swaps it in. nil means POST
	// /reload is not served (404). It is called with a deadline of
	// ReloadTimeout, at most one at a time, and runs to its end even if the
	// client goes away. An error wrapping [ErrReloadInProgress] is answered
	// 409, any other 500; the error text (bounded to 1 KiB) is the
	// description.
	Reload func(ctx context.Context) error
	// Info describes the generation now serving; after a successful reload
	// its JSON encoding is the response body, e.g.
	// {"sha256": "…", "loaded_at": "…", "generation": 3}. nil means {}.
	Info func() any
	// ReloadToken, when set, is required on POST /reload as
	// "Authorization: Bearer <token>"; it is compared in constant time. It
	// must be 16 to 4096 visible ASCII characters. Recommended whenever
	// AllowRemote is set. Failed attempts are throttled (a burst of 10,
	// then one per 6 seconds; 429 beyond). It is never logged.
	ReloadToken string
	// Metrics serves GET /metrics: the handler of host/metrics' Metrics.Handler.
	// nil means 404.
	Metrics http.Handler
	// Version is the body of GET /version, encoded as JSON at Listen. nil
	// means the build information of the running binary: module version,
	// Go version and VCS revision.
	Version any
	// ReadyTimeout bounds one call of Ready; default 5s.
	ReadyTimeout time.Duration
	// ReloadTimeout bounds one call of Reload; default 2m.
	ReloadTimeout time.Duration
	// ReadHeaderTimeout bounds reading the request headers; default 5s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request; default 10s.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing the response, measured from the end of
	// the request headers; default ReloadTimeout plus 30s, so that a reload
	// can finish and be reported.
	WriteTimeout time.Duration
	// IdleTimeout bounds a keep-alive connection between requests; default 60s.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers; default 16 KiB.
	MaxHeaderBytes int
	// MaxBodyBytes bounds a request body; larger ones get 413. No endpoint
	// needs a body; default 1 KiB.
	MaxBodyBytes int64
	// MaxConcurrent bounds the requests handled at once, /healthz aside;
	// more get 503. Default 16.
	MaxConcurrent int
	// Logger receives reload requests and failures, and connection errors;
	// nil discards.
	Logger *slog.Logger
}

// Server is the admin listener. Create it with [Listen], run it with
// [Server.Serve] and stop it with [Server.Shutdown].
type Server struct {
	opts    Options
	log     *slog.Logger
	srv     *http.Server
	ln      net.Listener
	version []byte
	token   *[sha256.Size]byte // SHA-256 of ReloadToken; nil without one
	slots   chan struct{}      // one per request in flight
	thr     throttle

	reloading sync.Mutex // held while Reload runs; TryLock refuses a second

	readyMu sync.Mutex
	ready   *readyCall // the Ready call in flight; guarded by readyMu
}

// readyCall is one call of Options.Ready shared by concurrent probes; err
// is written before done is closed.
type readyCall struct {
	done chan struct{}
	err  error
}

// Listen checks opts, binds the address and prepares the server; call
// [Server.Serve]. It fails with [ErrRemote] for a non-loopback address
// without AllowRemote, and for a malformed ReloadToken or Version.
func Listen(opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 5 * time.Second
	}
	if opts.ReloadTimeout <= 0 {
		opts.ReloadTimeout = 2 * time.Minute
	}
	if opts.ReadHeaderTimeout <= 0 {
		opts.ReadHeaderTimeout = 5 * time.Second
	}
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = 10 * time.Second
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = opts.ReloadTimeout + 30*time.Second
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 60 * time.Second
	}
	if opts.MaxHeaderBytes <= 0 {
		opts.MaxHeaderBytes = 16 << 10
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 10
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = 16
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, log: log, slots: make(chan struct{}, opts.MaxConcurrent)}

	if opts.ReloadToken != "" {
		if err := checkToken(opts.ReloadToken); err != nil {
			return nil, err
		}
		h := sha256.Sum256([]byte(opts.ReloadToken))
		s.token = &h
	}
	var err error
	if s.version, err = versionBody(opts.Version); err != nil {
		return nil, err
	}
	if !opts.AllowRemote {
		host, _, err := net.SplitHostPort(opts.Addr)
		if err != nil {
			return nil, fmt.Errorf("admin: address %q: %w", opts.Addr, err)
		}
		if !isLoopbackHost(host) {
			return nil, fmt.Errorf("%w: %q", ErrRemote, opts.Addr)
		}
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("admin: listen %s: %w", opts.Addr, err)
	}
	if a, ok := ln.Addr().(*net.TCPAddr); !opts.AllowRemote && (!ok || !a.IP.IsLoopback()) {
		ln.Close()
		return nil, fmt.Errorf("%w: %q bound %s", ErrRemote, opts.Addr, ln.Addr())
	}
	if opts.AllowRemote && opts.Reload != nil && s.token == nil {
		log.Warn("admin listener accepts remote reloads without a token", "addr", ln.Addr().String())
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: opts.ReadHeaderTimeout,
		ReadTimeout:       opts.ReadTimeout,
		WriteTimeout:      opts.WriteTimeout,
		IdleTimeout:       opts.IdleTimeout,
		MaxHeaderBytes:    opts.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// checkToken bounds a reload token and limits it to visible ASCII, which
// every HTTP client can send in a header unchanged.
func checkToken(t string) error {
	if len(t) < MinTokenBytes || len(t) > MaxTokenBytes {
		return fmt.Errorf("admin: reload token must be %d to %d bytes long", MinTokenBytes, MaxTokenBytes)
	}
	for i := 0; i < len(t); i++ {
		if t[i] <= ' ' || t[i] > '~' {
			return errors.New("admin: reload token must be visible ASCII characters only")
		}
	}
	return nil
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	host, _, _ = strings.Cut(host, "%") // an IPv6 zone
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// versionBody encodes v, or the running binary's build information.
func versionBody(v any) ([]byte, error) {
	if v == nil {
		info := map[string]string{"go": runtime.Version(), "version": "unknown"}
		if bi, ok := debug.ReadBuildInfo(); ok {
			if bi.Main.Version != "" {
				info["version"] = bi.Main.Version
			}
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					info["revision"] = s.Value
				case "vcs.time":
					info["revision_time"] = s.Value
				case "vcs.modified":
					info["modified"] = s.Value
				}
			}
		}
		v = info
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("admin: version: %w", err)
	}
	return append(b, '\n'), nil
}

// Addr returns the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve serves until [Server.Shutdown]; it returns nil after a graceful
// shutdown.
func (s *Server) Serve() error {
	err := s.srv.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections and waits for requests in flight (a
// reload included) until ctx ends. It also releases the listener of a
// server that never served.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	_ = s.ln.Close() // already closed if Serve ran
	return err
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)

	var allow string
	var serve func(http.ResponseWriter, *http.Request)
	switch r.URL.Path {
	case "/healthz":
		allow, serve = "GET, HEAD", s.healthz
	case "/readyz":
		allow, serve = "GET, HEAD", s.readyz
	case "/version":
		allow, serve = "GET, HEAD", s.versionz
	case "/metrics":
		if s.opts.Metrics != nil {
			allow, serve = "GET, HEAD", s.opts.Metrics.ServeHTTP
		}
	case "/reload":
		if s.opts.Reload != nil {
			allow, serve = "POST", s.reload
		}
	}
	if serve == nil {
		writeError(w, http.StatusNotFound, "The requested URL was not found on the server.")
		return
	}
	if !allowed(allow, r.Method) {
		h.Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, "The method is not allowed for the requested URL.")
		return
	}
	if r.URL.Path != "/healthz" { // liveness never waits behind other requests
		select {
		case s.slots <- struct{}{}:
			defer func() { <-s.slots }()
		default:
			h.Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, "Too many admin requests at once.")
			return
		}
	}
	serve(w, r)
}

// allowed reports whether method is one of the comma-separated list allow.
func allowed(allow, method string) bool {
	for m := range strings.SplitSeq(allow, ", ") {
		if m == method {
			return true
		}
	}
	return false
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeText(w, http.StatusOK, "ok\n")
}

func (s *Server) versionz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(s.version)
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.opts.Ready == nil {
		writeText(w, http.StatusOK, "ok\n")
		return
	}
	err := s.checkReady(r.Context())
	if err == nil {
		writeText(w, http.StatusOK, "ok\n")
		return
	}
	reason := "not ready: " + err.Error()
	if errors.Is(err, context.DeadlineExceeded) {
		reason = "not ready: readiness check timed out"
	}
	writeError(w, http.StatusServiceUnavailable, bound(reason, 256))
}

// checkReady calls Options.Ready, or joins the call already in flight. The
// first caller runs it on its own goroutine, detached from its request's
// cancellation (others may wait for the result) and bounded by
// ReadyTimeout; the others wait for it or for their own ctx.
func (s *Server) checkReady(ctx context.Context) error {
	s.readyMu.Lock()
	c := s.ready
	leader := c == nil
	if leader {
		c = &readyCall{done: make(chan struct{})}
		s.ready = c
	}
	s.readyMu.Unlock()
	if leader {
		c.err = errors.New("readiness check failed") // kept if Ready panics
		defer func() {
			s.readyMu.Lock()
			s.ready = nil
			s.readyMu.Unlock()
			close(c.done)
		}()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.ReadyTimeout)
		defer cancel()
		c.err = s.opts.Ready(rctx)
		return c.err
	}
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Server) reload(w http.ResponseWriter, r *http.Request) {
	if s.token != nil && !s.authorized(w, r) {
		return
	}
	if _, err := io.Copy(io.Discard, r.Body); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, "POST /reload takes no body.")
			return
		}
		writeError(w, http.StatusBadRequest, "The request body could not be read.")
		return
	}
	if !s.reloading.TryLock() {
		writeError(w, http.StatusConflict, ErrReloadInProgress.Error())
		return
	}
	defer s.reloading.Unlock()

	s.log.Info("reload requested", "remote", r.RemoteAddr)
	// The reload runs to its end even if the client goes away: it swaps
	// atomically or not at all, and stopping it halfway gains nothing.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.opts.ReloadTimeout)
	defer cancel()
	if err := s.opts.Reload(ctx); err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, ErrReloadInProgress) {
			status = http.StatusConflict
		}
		s.log.Warn("reload failed", "remote", r.RemoteAddr, "status", status, "err", err)
		writeError(w, status, bound(err.Error(), 1024))
		return
	}
	var info any = struct{}{}
	if s.opts.Info != nil {
		info = s.opts.Info()
	}
	b, err := json.Marshal(info)
	if err != nil {
		s.log.Error("reload info not encodable", "err", err)
		b = []byte("{}")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(b, '\n'))
}

// authorized checks the bearer token and answers 401 or 429 itself when it
// returns false.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	now := time.Now()
	if wait, ok := s.thr.allow(now); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
		writeError(w, http.StatusTooManyRequests, "Too many failed attempts; try again later.")
		return false
	}
	got := r.Header.Get("Authorization")
	scheme, tok, found := strings.Cut(got, " ")
	if found && strings.EqualFold(scheme, "Bearer") && len(tok) <= MaxTokenBytes {
		h := sha256.Sum256([]byte(strings.TrimSpace(tok)))
		if subtle.ConstantTimeCompare(h[:], s.token[:]) == 1 {
			return true
		}
	}
	s.thr.fail(now)
	s.log.Warn("reload refused: missing or wrong token", "remote", r.RemoteAddr)
	w.Header().Set("WWW-Authenticate", `Bearer realm="osohost-admin"`)
	writeError(w, http.StatusUnauthorized, "The server could not verify that you are authorized to access the URL requested.")
	return false
}

// Throttle of failed token attempts: a bucket of throttleBurst failures,
// refilled by one every throttleEvery.
const (
	throttleBurst = 10
	throttleEvery = 6 * time.Second
)

// throttle counts failed token attempts. The zero value is a full bucket.
type throttle struct {
	mu     sync.Mutex
	used   int       // failures not yet refilled
	refill time.Time // when the next one is refilled, if used > 0
}

// catchUp refills what time has restored. Called with mu held.
func (t *throttle) catchUp(now time.Time) {
	for t.used > 0 && !now.Before(t.refill) {
		t.used--
		t.refill = t.refill.Add(throttleEvery)
	}
}

// allow reports whether an attempt may be checked now, or how long until
// one may.
func (t *throttle) allow(now time.Time) (time.Duration, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.catchUp(now)
	if t.used < throttleBurst {
		return 0, true
	}
	return t.refill.Sub(now), false
}

// fail records one failed attempt.
func (t *throttle) fail(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.catchUp(now)
	if t.used == 0 {
		t.refill = now.Add(throttleEvery)
	}
	if t.used < throttleBurst {
		t.used++
	}
}

func writeText(w http.ResponseWriter, status int, s string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, s)
}

// errorBody is the framework's error shape, as on the API listener.
type errorBody struct {
	Code        int    `json:"code"`
	Name        string `json:"name"`
	Description string `json:"description"`
}

// writeError writes {"code": N, "name": "<reason phrase>", "description": "…"}.
func writeError(w http.ResponseWriter, status int, description string) {
	b, _ := json.Marshal(errorBody{Code: status, Name: http.StatusText(status), Description: description})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// bound cuts s to at most n bytes of valid UTF-8 and replaces control
// characters with spaces, so an error text is one safe line.
func bound(s string, n int) string {
	var b strings.Builder
	for _, r := range s {
		if r == utf8.RuneError || r < ' ' || r == 0x7f {
			r = ' '
		}
		if b.Len()+utf8.RuneLen(r) > n {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}
