// Package api serves the OSO plugin API (DESIGN §2.1) for one component:
// GET status, GET documents and POST documents under
// /api/<mode>/v1alpha1/. It sits after the TLS listener (host/frontdoor):
// it routes, authenticates through host/auth, bounds and validates bodies
// with host/schema, calls the guest through a host/plugin pool, validates
// what the guest hands back, and writes JSON. Every error is rendered in
// one place (writeError) in the framework's error shape.
package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/host/auth"
	"github.com/osohost/osohost/host/plugin"
	"github.com/osohost/osohost/host/schema"
)

// Caller runs one guest export; *plugin.Pool implements it.
type Caller interface {
	Call(ctx context.Context, export string, in []byte) (plugin.Result, error)
}

// PoolSource returns the pool serving the current request. It is called
// once per request, so a reload can swap pools between requests.
type PoolSource func() Caller

// Options configure a [Handler].
type Options struct {
	// Mode is "frontend" or "backend"; it names the routes.
	Mode string
	// Pool returns the guest pool; required.
	Pool PoolSource
	// Auth authenticates requests against a named allowlist; required.
	Auth auth.Authenticator
	// Allowlist is the allowlist the three routes require; default
	// "component".
	Allowlist string
	// RequestTimeout bounds a whole request; default 60s.
	RequestTimeout time.Duration
	// BodyLimit bounds a request body in bytes; default 1 MiB.
	BodyLimit int64
	// Limits bound decoded documents; zero means schema.DefaultLimits.
	Limits schema.Limits
	// Logger receives one line per request; nil discards.
	Logger *slog.Logger
	// Health, if set, is asked on every status request; a non-nil error
	// (text safe to show) is merged into the plugin's ComponentStatus as an
	// Error item, and a 2xx status becomes 500, as the framework's signing
	// addon health check reports it.
	Health func(ctx context.Context) error
	// Annotate, if set, derives the context a guest call runs under from
	// the authenticated request: it is how host functions learn the
	// caller (for the audit log) without depending on this package.
	Annotate func(ctx context.Context, traceID string, p auth.Principal) context.Context
	// Begin, if set, starts the state transaction of one guest call: the
	// returned context carries it to the host functions. The handler
	// commits it once the call succeeded and its output is valid, before
	// the response is written, and rolls it back otherwise: what a 200
	// acknowledges is durable, and a failed call leaves no trace.
	Begin func(ctx context.Context) (context.Context, Txn)
	// Observe, if set, is told the outcome of every request: the route
	// name ("status", "documents" or "unknown"), the method, the HTTP
	// status and the duration. It must be cheap.
	Observe func(route, method string, status int, d time.Duration)
	// StatusExtra, if set, returns members added to every ComponentStatus
	// the status route answers (after the plugin's own), such as the
	// loaded module's digest. A member the plugin set is not replaced.
	StatusExtra func() []schema.ExtraField
	// Gate, if set, checks every request before routing, such as a signed
	// route token (*routetoken.Verifier). The routes see the request it
	// returns (a token stripped from the path); a refused request is
	// logged as Redact returns it, so that no token reaches the log.
	Gate Gate
	// PrivateHeaders names request headers never handed to the plugin's
	// own routes, besides those isv.go always drops: for example custom
	// route-token and secure-access header names. Matched without regard
	// to case.
	PrivateHeaders []string
}

// Gate checks requests before routing; see [Options.Gate].
type Gate interface {
	Check(r *http.Request) (*http.Request, error)
	Redact(r *http.Request) *http.Request
}

// Txn is the state transaction of one guest call; see [Options.Begin].
type Txn interface {
	// Commit makes the call's writes durable, all or none.
	Commit(ctx context.Context) error
	// Rollback discards them; it is a no-op after Commit.
	Rollback()
}

// Handler is the http.Handler of the OSO API. It is safe for concurrent use.
type Handler struct {
	opts    Options
	log     *slog.Logger
	routes  map[string]route
	private map[string]bool // Options.PrivateHeaders, lower case
	served  atomic.Int64
}

type route struct {
	name    string
	allow   string // the Allow header
	methods map[string]func(*Handler, http.ResponseWriter, *http.Request) error
}

// New returns the handler. It fails when a required option is missing.
func New(opts Options) (*Handler, error) {
	if opts.Mode != "frontend" && opts.Mode != "backend" {
		return nil, errors.New(`api: mode must be "frontend" or "backend"`)
	}
	if opts.Pool == nil || opts.Auth == nil {
		return nil, errors.New("api: pool and authenticator are required")
	}
	if opts.Allowlist == "" {
		opts.Allowlist = "component"
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 60 * time.Second
	}
	if opts.BodyLimit <= 0 {
		opts.BodyLimit = 1 << 20
	}
	if opts.Limits == (schema.Limits{}) {
		opts.Limits = schema.DefaultLimits
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	base := "/api/" + opts.Mode + "/v1alpha1/"
	h := &Handler{opts: opts, log: log, routes: map[string]route{
		base + "status": {name: "status", allow: "GET", methods: map[string]func(*Handler, http.ResponseWriter, *http.Request) error{
			http.MethodGet: (*Handler).status,
		}},
		base + "documents": {name: "documents", allow: "GET, POST", methods: map[string]func(*Handler, http.ResponseWriter, *http.Request) error{
			http.MethodGet:  (*Handler).toOSO,
			http.MethodPost: (*Handler).toISV,
		}},
	}}
	h.private = make(map[string]bool, len(opts.PrivateHeaders))
	for _, name := range opts.PrivateHeaders {
		h.private[strings.ToLower(name)] = true
	}
	return h, nil
}

// Served returns how many requests the handler answered.
func (h *Handler) Served() int64 { return h.served.Load() }

type traceKey struct{}

func traceID(ctx context.Context) string {
	s, _ := ctx.Value(traceKey{}).(string)
	return s
}

// validTraceID accepts a client trace id of 1..128 characters from
// [A-Za-z0-9._-].
func validTraceID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func newTraceID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// SecurityHeaders are set on every response.
var SecurityHeaders = [][2]string{
	{"Strict-Transport-Security", "max-age=31536000; includeSubDomains"},
	{"Cache-Control", "no-cache, no-store, must-revalidate"},
	{"Content-Security-Policy", "default-src 'self'; frame-ancestors 'none';"},
	{"X-Content-Type-Options", "nosniff"},
	{"X-Frame-Options", "SAMEORIGIN"},
}

// statusRecorder remembers the status written, for the access log.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += n
	return n, err
}

// ServeHTTP implements http.Handler: the handler of the TLS listener.
// Requests the component routes do not serve go to the plugin's external
// routes (isv.go).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.serve(w, r, false) }

// serve serves one request of the TLS listener, or with internal one of
// the internal listener ([Handler.Internal]), which serves the plugin's
// internal routes only, without the gate.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, internal bool) {
	start := time.Now()
	auth.StripIdentityHeaders(r.Header)
	tid := r.Header.Get("X-Trace-ID")
	if !validTraceID(tid) {
		tid = newTraceID()
	}
	hdr := w.Header()
	for _, kv := range SecurityHeaders {
		hdr.Set(kv[0], kv[1])
	}
	hdr.Set("X-Trace-ID", tid)
	who := &principalHolder{}
	ctx := context.WithValue(context.WithValue(r.Context(), traceKey{}, tid), principalKey{}, who)
	ctx, cancel := context.WithTimeoutCause(ctx, h.opts.RequestTimeout, plugin.ErrCallTimeout)
	defer cancel()
	r = r.WithContext(ctx)
	rec := &statusRecorder{ResponseWriter: w}

	var gateErr error
	if h.opts.Gate != nil && !internal {
		var out *http.Request
		if out, gateErr = h.opts.Gate.Check(r); gateErr == nil {
			r = out
		} else {
			r = h.opts.Gate.Redact(r)
		}
	}
	rt, ok := h.routes[r.URL.Path]
	var routeName string
	switch {
	case gateErr != nil:
		routeName = "refused"
		h.writeError(rec, r, gateErr)
	case !ok || internal:
		var err error
		if routeName, err = h.serveRoutes(rec, r, internal); err != nil {
			h.writeError(rec, r, err)
		}
	default:
		routeName = rt.name
		fn, ok := rt.methods[r.Method]
		if !ok {
			hdr.Set("Allow", rt.allow)
			h.writeError(rec, r, &Error{Status: http.StatusMethodNotAllowed, Description: descMethod})
			break
		}
		if err := fn(h, rec, r); err != nil {
			h.writeError(rec, r, err)
		}
	}
	h.served.Add(1)
	if h.opts.Observe != nil {
		h.opts.Observe(routeName, r.Method, rec.status, time.Since(start))
	}
	attrs := []any{"trace_id", tid, "method", r.Method, "path", r.URL.Path, "route", routeName,
		"status", rec.status, "bytes", rec.bytes, "duration_ms", float64(time.Since(start).Microseconds()) / 1000,
		"remote", r.RemoteAddr, "principal", who.value(), "proto", r.Proto}
	if who.routeID != "" {
		attrs = append(attrs, "route_id", who.routeID)
	}
	if internal {
		attrs = append(attrs, "listener", "internal")
	}
	h.log.Info("request served", attrs...)
}

type principalKey struct{}

// principalHolder carries the authenticated principal of one request back
// to the access log line, and the plugin route it matched; it is written
// on the request's goroutine (by authenticate, or by isv.go).
type principalHolder struct {
	p       auth.Principal
	ok      bool
	routeID string
}

func (h *principalHolder) value() any {
	if !h.ok {
		return nil
	}
	return h.p
}

// authenticate checks the client against the routes' allowlist and records
// the principal for the access log.
func (h *Handler) authenticate(r *http.Request) (*http.Request, error) {
	p, err := h.opts.Auth.Authenticate(r, h.opts.Allowlist)
	if err != nil {
		return r, err
	}
	if who, _ := r.Context().Value(principalKey{}).(*principalHolder); who != nil {
		who.p, who.ok = p, true
	}
	if h.opts.Annotate != nil {
		r = r.WithContext(h.opts.Annotate(r.Context(), traceID(r.Context()), p))
	}
	return r, nil
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// status serves GET status: the guest's ComponentStatus, with its
// status_code as the HTTP status.
func (h *Handler) status(w http.ResponseWriter, r *http.Request) error {
	r, err := h.authenticate(r)
	if err != nil {
		return err
	}
	return h.callAndWrite(w, r, abi.ExportStatus, nil)
}

// toOSO serves GET documents: the guest's DocumentList.
func (h *Handler) toOSO(w http.ResponseWriter, r *http.Request) error {
	r, err := h.authenticate(r)
	if err != nil {
		return err
	}
	return h.callAndWrite(w, r, abi.ExportToOSO, nil)
}

// toISV serves POST documents: a DocumentList for the guest, whose answer
// (any JSON value) is returned.
func (h *Handler) toISV(w http.ResponseWriter, r *http.Request) error {
	r, err := h.authenticate(r)
	if err != nil {
		return err
	}
	if r.ContentLength > h.opts.BodyLimit {
		return &http.MaxBytesError{Limit: h.opts.BodyLimit}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.BodyLimit))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return err
		}
		if ctxErr := context.Cause(r.Context()); ctxErr != nil {
			return ctxErr
		}
		return &Error{Status: http.StatusBadRequest, Description: descBadRequest, Err: err}
	}
	in, err := EncodeInput(body, h.opts.Limits, h.log)
	if err != nil {
		return err
	}
	return h.callAndWrite(w, r, abi.ExportToISV, in)
}

func (h *Handler) callAndWrite(w http.ResponseWriter, r *http.Request, export string, in []byte) error {
	ctx := r.Context()
	var txn Txn
	if h.opts.Begin != nil {
		ctx, txn = h.opts.Begin(ctx)
		defer txn.Rollback()
	}
	res, err := h.opts.Pool().Call(ctx, export, in)
	if err != nil {
		return err
	}
	var extra []schema.StatusError
	var members []schema.ExtraField
	if export == abi.ExportStatus {
		if h.opts.Health != nil {
			if herr := h.opts.Health(ctx); herr != nil {
				extra = append(extra, schema.StatusError{Code: "signing", Message: herr.Error()})
			}
		}
		if h.opts.StatusExtra != nil {
			members = h.opts.StatusExtra()
		}
	}
	code, body, err := encodeOutput(export, res, h.opts.Limits, extra, members)
	if err != nil {
		return err
	}
	if txn != nil {
		if err := txn.Commit(ctx); err != nil {
			return fmt.Errorf("api: state commit: %w", err)
		}
	}
	writeJSON(w, code, body)
	return nil
}

// EncodeInput validates a DocumentList request body and returns it in the
// compact encoding to_isv takes. Errors are *schema.ValidationError or
// limit errors. A count that differs from the number of documents is
// logged at debug level, as the framework does not compare them.
func EncodeInput(body []byte, lim schema.Limits, log *slog.Logger) ([]byte, error) {
	if lim == (schema.Limits{}) {
		lim = schema.DefaultLimits
	}
	list, err := schema.DecodeDocumentList(body, lim)
	if err != nil {
		return nil, err
	}
	if list.Count != int64(len(list.Documents)) && log != nil {
		log.Debug("count differs from the number of documents", "count", list.Count, "documents", len(list.Documents))
	}
	return schema.AppendCompact(make([]byte, 0, len(body)+16), list.Documents), nil
}

// EncodeOutput validates what an export handed back and returns the HTTP
// status and JSON body to send: a ComponentStatus (its status_code as the
// status) for status, a DocumentList for to_oso, any JSON value (or a
// DocumentList) for to_isv. Invalid output is a *plugin.OutputError (502);
// a status_code outside 100..599 is a 500 *Error.
func EncodeOutput(export string, res plugin.Result, lim schema.Limits) (int, []byte, error) {
	return encodeOutput(export, res, lim, nil, nil)
}

// encodeOutput is EncodeOutput with Error items and members to merge into
// a status.
func encodeOutput(export string, res plugin.Result, lim schema.Limits, extra []schema.StatusError, members []schema.ExtraField) (int, []byte, error) {
	if lim == (schema.Limits{}) {
		lim = schema.DefaultLimits
	}
	// The pool already bounded the output's size; the request body limit
	// does not apply to it.
	lim.MaxBodyBytes = max(lim.MaxBodyBytes, len(res.Data))
	switch export {
	case abi.ExportStatus:
		var st schema.Status
		var err error
		switch res.Kind {
		case abi.OutputStatus:
			var v abi.StatusView
			if v, err = abi.DecodeStatus(res.Data); err == nil {
				st, err = schema.StatusFromCompact(v)
			}
		case abi.OutputJSON:
			st, err = schema.DecodeStatusJSON(res.Data, lim)
		default:
			err = errors.New("no ComponentStatus output")
		}
		if err != nil {
			return 0, nil, &plugin.OutputError{Reason: "status: " + err.Error()}
		}
		code, ok := st.HTTPStatus()
		if !ok {
			return 0, nil, &Error{Status: http.StatusInternalServerError, Description: descInternal,
				Err: errors.New("api: plugin status_code outside 100..599")}
		}
		if len(extra) > 0 {
			st.Errors = append(st.Errors, extra...)
			if code < 300 {
				code, st.Code, st.Status = 500, 500, "Internal Server Error"
			}
		}
		for _, m := range members {
			if !slices.ContainsFunc(st.Extra, func(f schema.ExtraField) bool { return f.Key == m.Key }) {
				st.Extra = append(st.Extra, m)
			}
		}
		return code, schema.AppendStatusJSON(nil, st), nil
	case abi.ExportToOSO:
		docs, err := documentsOutput(res, lim)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, schema.AppendDocumentListJSON(nil, docs), nil
	case abi.ExportToISV:
		switch res.Kind {
		case abi.OutputJSON:
			if err := schema.ValidateJSON(res.Data, lim.MaxDepth); err != nil {
				return 0, nil, &plugin.OutputError{Reason: "to_isv: " + err.Error()}
			}
			return http.StatusOK, res.Data, nil
		case abi.OutputDocumentList:
			docs, err := documentsOutput(res, lim)
			if err != nil {
				return 0, nil, err
			}
			return http.StatusOK, schema.AppendDocumentListJSON(nil, docs), nil
		case 0:
			return http.StatusOK, []byte("null"), nil
		}
		return 0, nil, &plugin.OutputError{Reason: "to_isv: unexpected output kind"}
	}
	return 0, nil, plugin.ErrUnknownExport
}

func documentsOutput(res plugin.Result, lim schema.Limits) ([]schema.Document, error) {
	switch res.Kind {
	case abi.OutputDocumentList:
		docs, err := schema.DecodeCompactDocumentList(res.Data, lim)
		if err != nil {
			return nil, &plugin.OutputError{Reason: "documents: " + err.Error()}
		}
		return docs, nil
	case abi.OutputJSON:
		l, err := schema.DecodeDocumentList(res.Data, lim)
		if err != nil {
			return nil, &plugin.OutputError{Reason: "documents: " + err.Error()}
		}
		return l.Documents, nil
	}
	return nil, &plugin.OutputError{Reason: "documents: no DocumentList output"}
}

// Limits returns the default document limits (schema.DefaultLimits).
func Limits() schema.Limits { return schema.DefaultLimits }
