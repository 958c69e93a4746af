// Package mock plays the Offline Signing Orchestrator (OSO) against a
// frontend and a backend component, so that a pair can be tested on one
// machine: it carries documents from the frontend to the backend (phase 1)
// and back (phase 2) over mTLS, as the OSO does across the air gap.
//
// It follows the framework's mock flow (entrypoint/mock.py) and fixes what
// that flow gets wrong: every request has a timeout, every answer is
// checked (HTTP status, size, V1_3 schema), and a phase that fails says
// which step failed and why instead of being swallowed.
//
// # A phase
//
// A phase moves documents from a source component to a target component:
//
//  1. check the source's /status: HTTP 2xx, the body a valid
//     ComponentStatus (status_code defaults to the HTTP status when the
//     body has none, as the framework does) whose status_code is 2xx. A
//     transport error, a non-2xx answer or a non-2xx status_code is tried
//     again, up to Options.MaxRetries attempts in all, waiting
//     RetryDelay, then 5× longer each time (1s, 5s, 25s … as the
//     framework), capped at MaxRetryDelay. A body that is not a valid
//     ComponentStatus fails at once.
//  2. check the target's /status the same way. The framework checks the
//     target after fetching the documents; checking it first means a
//     target that is down does not cost the source its documents.
//  3. GET the source's /documents: HTTP 2xx (the framework does not look
//     at the status) and a valid V1_3 DocumentList.
//  4. POST the source's answer, unchanged, to the target's /documents,
//     unless it holds no document (then the POST is skipped and logged).
//     The target must answer 2xx with valid JSON.
//
// Each request carries an X-Trace-ID naming the phase, so the components'
// log lines of one phase can be found. A phase ends with one "phase done"
// log line: documents moved, bytes, attempts and durations.
//
// A failed POST after a successful GET loses the batch if the source
// removed the documents when it handed them out, as with the framework's
// mock; the error says how many documents were fetched and not delivered.
package mock

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/osohost/osohost/host/schema"
)

// Defaults of the zero fields of [Options].
const (
	DefaultMaxRetries       = 3
	DefaultRetryDelay       = time.Second
	DefaultMaxRetryDelay    = time.Minute
	DefaultRequestTimeout   = 30 * time.Second
	DefaultMaxResponseBytes = 8 << 20 // the host's default plugin output bound
)

// backoffFactor multiplies the delay between two status attempts.
const backoffFactor = 5

// maxHeaderBytes bounds the response headers of a component.
const maxHeaderBytes = 64 << 10

// maxExcerpt bounds the part of an unexpected answer quoted in an error.
const maxExcerpt = 200

// Phase names a direction of travel.
type Phase int

// The two phases, numbered as the framework's signals trigger them
// (SIGUSR1, SIGUSR2).
const (
	// ToBackend is phase 1: documents from the frontend to the backend.
	ToBackend Phase = 1
	// ToFrontend is phase 2: documents from the backend to the frontend.
	ToFrontend Phase = 2
)

// String returns "phase 1 (frontend → backend)" or "phase 2 (backend →
// frontend)".
func (p Phase) String() string {
	switch p {
	case ToBackend:
		return "phase 1 (frontend → backend)"
	case ToFrontend:
		return "phase 2 (backend → frontend)"
	}
	return fmt.Sprintf("phase %d", int(p))
}

// Errors a phase can fail with, wrapped in an [*Error]; test with
// errors.Is. A schema violation wraps a *schema.ValidationError or a
// *schema.LimitError instead (errors.Is(err, schema.ErrInvalid)).
var (
	// ErrNotReady: the status checks of a component did not succeed
	// within the allowed attempts.
	ErrNotReady = errors.New("component not ready")
	// ErrHTTPStatus: a component answered with an unexpected HTTP status.
	ErrHTTPStatus = errors.New("unexpected HTTP status")
	// ErrInvalidJSON: a component's answer is not valid JSON.
	ErrInvalidJSON = errors.New("answer is not valid JSON")
	// ErrTooLarge: a component's answer exceeds Options.MaxResponseBytes.
	ErrTooLarge = errors.New("answer too large")
)

// Error is a failed phase: which phase, at which step, against which URL.
type Error struct {
	Phase Phase
	// Step is "check the frontend's status", "get the backend's
	// documents", "post 3 documents to the frontend" and so on.
	Step string
	URL  string
	Err  error
}

// Error returns "phase 1 (frontend → backend): <step> (<url>): <cause>".
func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s (%s): %v", e.Phase, e.Step, e.URL, e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Options configure a [Mock].
type Options struct {
	// Frontend and Backend are the components' base URLs, ending in
	// /api/frontend/v1alpha1 and /api/backend/v1alpha1; the mock appends
	// /status and /documents. Required.
	Frontend, Backend string
	// TLS is the client configuration: the client certificate
	// (Certificates), the CAs the components' certificates chain to
	// (RootCAs) and, for certificates without a matching SAN,
	// ServerName. Required. It is cloned; TLS 1.3 is the minimum.
	TLS *tls.Config
	// HTTP3 speaks HTTP/3 (QUIC) instead of HTTP/2 over TCP.
	HTTP3 bool
	// MaxRetries is the number of status checks of a component before the
	// phase fails (MOCK__MAX_RETRIES); default 3.
	MaxRetries int
	// RetryDelay is the wait before the second status check; each further
	// wait is five times longer, up to MaxRetryDelay. Defaults 1s and 1m.
	RetryDelay, MaxRetryDelay time.Duration
	// RequestTimeout bounds each request, its answer included; default 30s.
	RequestTimeout time.Duration
	// MaxResponseBytes bounds each answer's body; default 8 MiB.
	MaxResponseBytes int
	// Logger receives one line per phase and one per failed attempt; nil
	// discards.
	Logger *slog.Logger
}

// Mock plays the OSO. It is safe for concurrent use, but [Mock.Serve]
// runs one phase at a time, as the OSO does.
type Mock struct {
	opts   Options
	log    *slog.Logger
	client *http.Client
	close  func() error
	lim    schema.Limits
}

// Result describes a phase that ran.
type Result struct {
	Phase Phase
	// Documents is the number of documents posted to the target (0 when
	// the source had none).
	Documents int
	// Bytes is the size of the DocumentList moved.
	Bytes int
	// SourceAttempts and TargetAttempts count the status checks made.
	SourceAttempts, TargetAttempts int
	// Fetch and Post are the durations of the GET and of the POST; Total
	// that of the whole phase, status checks and waits included.
	Fetch, Post, Total time.Duration
	// Proto is the HTTP version spoken ("HTTP/2.0", "HTTP/3.0").
	Proto string
}

// New checks opts and prepares the HTTP client. Call [Mock.Close] to
// release its connections.
func New(opts Options) (*Mock, error) {
	var errs []error
	for _, e := range []struct{ name, url, mode string }{
		{"frontend", opts.Frontend, "frontend"},
		{"backend", opts.Backend, "backend"},
	} {
		if err := checkEndpoint(e.url); err != nil {
			errs = append(errs, fmt.Errorf("mock: %s endpoint: %w", e.name, err))
		}
	}
	if opts.TLS == nil {
		errs = append(errs, errors.New("mock: a TLS client configuration is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if opts.MaxRetries <= 0 {
		opts.MaxRetries = DefaultMaxRetries
	}
	if opts.RetryDelay <= 0 {
		opts.RetryDelay = DefaultRetryDelay
	}
	if opts.MaxRetryDelay <= 0 {
		opts.MaxRetryDelay = DefaultMaxRetryDelay
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	if opts.MaxResponseBytes <= 0 {
		opts.MaxResponseBytes = DefaultMaxResponseBytes
	}
	opts.Frontend = strings.TrimRight(opts.Frontend, "/")
	opts.Backend = strings.TrimRight(opts.Backend, "/")
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg := opts.TLS.Clone()
	if cfg.MinVersion < tls.VersionTLS13 {
		cfg.MinVersion = tls.VersionTLS13
	}
	m := &Mock{opts: opts, log: log}
	m.lim = schema.DefaultLimits
	m.lim.MaxBodyBytes = opts.MaxResponseBytes
	var rt http.RoundTripper
	if opts.HTTP3 {
		tr := &http3.Transport{
			TLSClientConfig: cfg,
			QUICConfig: &quic.Config{
				HandshakeIdleTimeout: opts.RequestTimeout / 2,
				MaxIdleTimeout:       opts.RequestTimeout,
			},
			MaxResponseHeaderBytes: maxHeaderBytes,
		}
		rt, m.close = tr, tr.Close
	} else {
		tr := &http.Transport{
			Proxy:                  nil, // components are reached directly
			TLSClientConfig:        cfg,
			ForceAttemptHTTP2:      true,
			TLSHandshakeTimeout:    opts.RequestTimeout,
			MaxResponseHeaderBytes: maxHeaderBytes,
			IdleConnTimeout:        90 * time.Second,
		}
		rt, m.close = tr, func() error { tr.CloseIdleConnections(); return nil }
	}
	m.client = &http.Client{
		Transport: rt,
		// A component never redirects; following one could send the
		// documents elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return m, nil
}

// checkEndpoint requires an http or https URL without query, fragment or
// user information.
func checkEndpoint(s string) error {
	if s == "" {
		return errors.New("not set")
	}
	u, err := url.Parse(s)
	switch {
	case err != nil, u.Scheme != "http" && u.Scheme != "https", u.Host == "", u.Opaque != "":
		return fmt.Errorf("%q is not an http or https URL", s)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return fmt.Errorf("%q must not have a query, a fragment or user information", s)
	}
	return nil
}

// Close releases the client's connections.
func (m *Mock) Close() error { return m.close() }

// endpoint is one side of a phase.
type endpoint struct{ name, base string }

func (m *Mock) sides(p Phase) (src, dst endpoint, err error) {
	fe, be := endpoint{"frontend", m.opts.Frontend}, endpoint{"backend", m.opts.Backend}
	switch p {
	case ToBackend:
		return fe, be, nil
	case ToFrontend:
		return be, fe, nil
	}
	return src, dst, fmt.Errorf("mock: unknown phase %d (1 or 2)", int(p))
}

// Run runs one phase and logs its summary. The error is an [*Error] naming
// the step that failed, or ctx's error.
func (m *Mock) Run(ctx context.Context, p Phase) (Result, error) {
	src, dst, err := m.sides(p)
	if err != nil {
		return Result{}, err
	}
	r := Result{Phase: p, Proto: "HTTP/2.0"}
	if m.opts.HTTP3 {
		r.Proto = "HTTP/3.0"
	}
	trace := traceID(p)
	log := m.log.With("phase", int(p), "from", src.name, "to", dst.name, "trace_id", trace)
	start := time.Now()
	fail := func(step, addr string, err error) (Result, error) {
		r.Total = time.Since(start)
		e := &Error{Phase: p, Step: step, URL: addr, Err: err}
		log.Error("phase failed", "step", step, "url", addr, "err", err.Error(),
			"source_attempts", r.SourceAttempts, "target_attempts", r.TargetAttempts, "duration_ms", ms(r.Total))
		return r, e
	}
	log.Info("phase started", "proto", r.Proto)

	addr := src.base + "/status"
	if r.SourceAttempts, err = m.checkStatus(ctx, log, trace, src.name, addr); err != nil {
		return fail("check the "+src.name+"'s status", addr, err)
	}
	addr = dst.base + "/status"
	if r.TargetAttempts, err = m.checkStatus(ctx, log, trace, dst.name, addr); err != nil {
		return fail("check the "+dst.name+"'s status", addr, err)
	}

	addr = src.base + "/documents"
	t0 := time.Now()
	body, list, err := m.fetch(ctx, trace, addr)
	r.Fetch = time.Since(t0)
	if err != nil {
		return fail("get the "+src.name+"'s documents", addr, err)
	}
	n := len(list.Documents)
	if list.Count != int64(n) {
		log.Warn("document list count differs from its length", "count", list.Count, "documents", n)
	}
	if n == 0 {
		r.Total = time.Since(start)
		log.Info("no documents to move: POST skipped", "source", src.name)
		m.summary(log, r)
		return r, nil
	}

	addr = dst.base + "/documents"
	t0 = time.Now()
	err = m.post(ctx, trace, addr, body)
	r.Post = time.Since(t0)
	if err != nil {
		return fail(fmt.Sprintf("post %d documents to the %s (fetched from the %s, not delivered)", n, dst.name, src.name), addr, err)
	}
	r.Documents, r.Bytes = n, len(body)
	r.Total = time.Since(start)
	m.summary(log, r)
	return r, nil
}

func (m *Mock) summary(log *slog.Logger, r Result) {
	log.Info("phase done", "documents", r.Documents, "bytes", r.Bytes,
		"source_attempts", r.SourceAttempts, "target_attempts", r.TargetAttempts,
		"fetch_ms", ms(r.Fetch), "post_ms", ms(r.Post), "duration_ms", ms(r.Total), "proto", r.Proto)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// traceID names the requests of one phase: mock-p1-<16 hex digits>.
func traceID(p Phase) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("mock-p%d-%s", int(p), hex.EncodeToString(b[:]))
}

// retryable marks a status check failure that a later attempt may not see.
type retryable struct{ err error }

func (r retryable) Error() string { return r.err.Error() }
func (r retryable) Unwrap() error { return r.err }

// checkStatus checks a component's status until it is 2xx, at most
// MaxRetries times, and returns the attempts made.
func (m *Mock) checkStatus(ctx context.Context, log *slog.Logger, trace, name, addr string) (int, error) {
	delay := m.opts.RetryDelay
	var last error
	for attempt := 1; attempt <= m.opts.MaxRetries; attempt++ {
		if attempt > 1 {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return attempt - 1, context.Cause(ctx)
			case <-t.C:
			}
			delay = min(delay*backoffFactor, m.opts.MaxRetryDelay)
		}
		err := m.status(ctx, trace, addr)
		if err == nil {
			return attempt, nil
		}
		var again retryable
		if !errors.As(err, &again) {
			return attempt, err
		}
		if ctx.Err() != nil {
			return attempt, context.Cause(ctx)
		}
		last = again.err
		log.Warn("status check failed", "component", name, "attempt", attempt, "max_attempts", m.opts.MaxRetries, "err", last.Error())
	}
	return m.opts.MaxRetries, fmt.Errorf("%w after %d attempts: %w", ErrNotReady, m.opts.MaxRetries, last)
}

// status makes one status check. Failures worth another attempt are
// wrapped in retryable.
func (m *Mock) status(ctx context.Context, trace, addr string) error {
	code, body, err := m.do(ctx, http.MethodGet, trace, addr, nil)
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			return err
		}
		return retryable{err}
	}
	if code < 200 || code > 299 {
		return retryable{httpStatusError(code, body)}
	}
	st, err := decodeStatus(body, code, m.lim)
	if err != nil {
		return err
	}
	if st.Code < 200 || st.Code > 299 {
		msg := fmt.Sprintf("component reports status_code %d (%q)", st.Code, excerpt([]byte(st.Status)))
		for _, e := range st.Errors {
			msg += fmt.Sprintf("; error %q: %q", excerpt([]byte(e.Code)), excerpt([]byte(e.Message)))
		}
		return retryable{errors.New(msg)}
	}
	return nil
}

// decodeStatus validates a ComponentStatus. A body without status_code
// gets the HTTP status, as the framework's mock does.
func decodeStatus(body []byte, httpCode int, lim schema.Limits) (schema.Status, error) {
	if !json.Valid(body) {
		return schema.Status{}, ErrInvalidJSON
	}
	var members map[string]json.RawMessage
	if json.Unmarshal(body, &members) == nil {
		if _, ok := members["status_code"]; !ok {
			body = withStatusCode(body, httpCode)
		}
	}
	return schema.DecodeStatusJSON(body, lim)
}

// withStatusCode inserts "status_code": code at the start of the JSON
// object b.
func withStatusCode(b []byte, code int) []byte {
	rest := bytes.TrimSpace(b)[1:] // after "{"
	out := fmt.Appendf(nil, `{"status_code": %d`, code)
	if t := bytes.TrimSpace(rest); len(t) > 0 && t[0] != '}' {
		out = append(out, ',')
	}
	return append(out, rest...)
}

// fetch GETs a DocumentList and returns its text and its decoded form.
func (m *Mock) fetch(ctx context.Context, trace, addr string) ([]byte, schema.DocumentList, error) {
	code, body, err := m.do(ctx, http.MethodGet, trace, addr, nil)
	if err != nil {
		return nil, schema.DocumentList{}, err
	}
	if code < 200 || code > 299 {
		return nil, schema.DocumentList{}, httpStatusError(code, body)
	}
	list, err := schema.DecodeDocumentList(body, m.lim)
	if err != nil {
		return nil, schema.DocumentList{}, fmt.Errorf("invalid DocumentList: %w", err)
	}
	return body, list, nil
}

// post POSTs a DocumentList and checks the answer: 2xx and valid JSON.
func (m *Mock) post(ctx context.Context, trace, addr string, list []byte) error {
	code, body, err := m.do(ctx, http.MethodPost, trace, addr, list)
	if err != nil {
		return err
	}
	if code < 200 || code > 299 {
		return httpStatusError(code, body)
	}
	if !json.Valid(body) {
		return ErrInvalidJSON
	}
	return nil
}

// do makes one request under RequestTimeout and reads the answer, at most
// MaxResponseBytes of it.
func (m *Mock) do(ctx context.Context, method, trace, addr string, body []byte) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, m.opts.RequestTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, addr, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Trace-ID", trace)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, int64(m.opts.MaxResponseBytes)+1))
	if err != nil {
		return 0, nil, fmt.Errorf("reading the answer: %w", err)
	}
	if len(b) > m.opts.MaxResponseBytes {
		return 0, nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, m.opts.MaxResponseBytes)
	}
	return resp.StatusCode, b, nil
}

// httpStatusError describes an unexpected status, with the description
// of an osohost error body when there is one.
func httpStatusError(code int, body []byte) error {
	var e struct {
		Description string `json:"description"`
	}
	if json.Unmarshal(body, &e) == nil && e.Description != "" {
		return fmt.Errorf("%w %d %s: %q", ErrHTTPStatus, code, http.StatusText(code), excerpt([]byte(e.Description)))
	}
	if len(body) == 0 {
		return fmt.Errorf("%w %d %s", ErrHTTPStatus, code, http.StatusText(code))
	}
	return fmt.Errorf("%w %d %s: %q", ErrHTTPStatus, code, http.StatusText(code), excerpt(body))
}

// excerpt returns the start of b, for an error message.
func excerpt(b []byte) string {
	if len(b) > maxExcerpt {
		return string(b[:maxExcerpt]) + "…"
	}
	return string(b)
}

// Serve runs a phase for each value received from triggers, one at a
// time: a trigger that arrives while a phase runs is logged and dropped,
// as the framework's lock does. It returns when ctx ends, after the phase
// in progress (whose requests ctx cancels) has returned. Failed phases are
// logged and do not stop Serve.
func (m *Mock) Serve(ctx context.Context, triggers <-chan Phase) error {
	m.log.Info("waiting for signals", "phase_1", "SIGUSR1", "phase_2", "SIGUSR2")
	done := make(chan struct{}, 1)
	running := Phase(0)
	for {
		select {
		case <-ctx.Done():
			if running != 0 {
				<-done
			}
			return nil
		case p := <-triggers:
			if running != 0 {
				m.log.Warn("phase requested while another runs: ignored", "requested", int(p), "running", int(running))
				continue
			}
			if _, _, err := m.sides(p); err != nil {
				m.log.Warn("unknown phase requested: ignored", "requested", int(p))
				continue
			}
			running = p
			go func() {
				_, _ = m.Run(ctx, p) // logged by Run
				done <- struct{}{}
			}()
		case <-done:
			running = 0
		}
	}
}
