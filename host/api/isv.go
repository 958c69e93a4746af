package api

// The plugin's own routes (abi/SPEC.md §17, docs/isv-routes.md): external
// routes under /api/ on the TLS listener, next to the component routes,
// and internal routes under /internal/ on the loopback internal listener
// ([Handler.Internal]). A request that no component route serves is
// matched against the route table of the plugin version that serves it,
// authenticated as its route requires, bounded, filtered, and handed to
// the guest's handle_http export; what the guest answers is checked and
// filtered before it is written.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/host/auth"
	"github.com/osohost/osohost/host/auth/multi"
	"github.com/osohost/osohost/host/pki"
	"github.com/osohost/osohost/host/plugin"
	"github.com/osohost/osohost/host/schema"
)

// Route names of plugin routes, as Options.Observe and the access log
// report them.
const (
	routeISV      = "isv"      // an external plugin route
	routeInternal = "internal" // an internal plugin route
)

// Descriptions of the errors only plugin routes produce (Werkzeug's
// texts).
const (
	descURITooLong    = "The length of the requested URL exceeds the capacity limit for this server. The request cannot be processed."
	descHeadersTooBig = "One or more header fields exceeds the maximum size."
)

// dropRequestHeaders are never handed to a plugin, by lower-case name:
// hop-by-hop fields (RFC 9110 §7.6.1), credentials the host consumed or
// that a plugin must not replay (Authorization, Cookie, route-token and
// secure-access headers), and fields the encoding carries otherwise
// (Content-Length: the body's length; X-Trace-ID: the trace id). Names
// starting with "proxy-" or "x-ssl-" are dropped too, as are the names a
// Connection field lists and Options.PrivateHeaders.
var dropRequestHeaders = map[string]bool{
	"connection": true, "keep-alive": true, "te": true, "trailer": true,
	"transfer-encoding": true, "upgrade": true, "http2-settings": true,
	"authorization": true, "cookie": true,
	"x-oso-route-token": true, "x-oso-secure-access": true, "opensandbox-secure-access": true,
	"content-length": true, "expect": true, "host": true, "x-trace-id": true,
}

// dropResponseHeaders are never sent from a plugin's response, by
// lower-case name: hop-by-hop fields, Set-Cookie (the OSO's clients are
// not browsers, and a component keeps no sessions), fields the host
// computes (Content-Length, Date stays the plugin's choice), and the
// security headers and trace id the host sets on every response. Names
// starting with "proxy-" and those a Connection field lists are dropped
// too.
var dropResponseHeaders = map[string]bool{
	"connection": true, "keep-alive": true, "te": true, "trailer": true,
	"transfer-encoding": true, "upgrade": true, "http2-settings": true,
	"set-cookie": true, "set-cookie2": true, "content-length": true,
	"alt-svc": true, "x-trace-id": true,
	"strict-transport-security": true, "cache-control": true, "content-security-policy": true,
	"x-content-type-options": true, "x-frame-options": true,
}

// Internal returns the handler of the loopback internal listener: the
// plugin's internal routes (/internal/…) and nothing else, without
// authentication and without the route-token gate, as the framework
// serves them on 127.0.0.1:8080. It never accepts identity from headers
// (X-SSL-* are dropped as on the TLS listener). Serve it only on a
// loopback address.
func (h *Handler) Internal() http.Handler { return internalHandler{h} }

type internalHandler struct{ h *Handler }

func (i internalHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) { i.h.serve(w, r, true) }

var errNotFound = &Error{Status: http.StatusNotFound, Description: descNotFound}

// serveRoutes serves r with a plugin route, internal or external, and
// returns the route name for the access log. The route is chosen inside
// the pool call, from the table of the plugin version that runs it (see
// plugin.WithRouter).
func (h *Handler) serveRoutes(w http.ResponseWriter, r *http.Request, internal bool) (string, error) {
	prefix, name := abi.RoutePrefixExternal, routeISV
	if internal {
		prefix, name = abi.RoutePrefixInternal, routeInternal
	}
	if !strings.HasPrefix(r.URL.Path, prefix) {
		return "unknown", errNotFound
	}
	if len(r.URL.Path) > abi.MaxHTTPPathBytes || len(r.URL.RawQuery) > abi.MaxHTTPQueryBytes {
		return "unknown", &Error{Status: http.StatusRequestURITooLong, Description: descURITooLong}
	}
	if !cleanRequestPath(r) {
		return "unknown", errNotFound
	}
	var (
		matched *plugin.Route
		routed  bool // the router accepted the request: it is authorized
		txn     Txn
	)
	route := func(ctx context.Context, routes *plugin.Routes) (context.Context, []byte, error) {
		rt, ok := routes.Match(r.URL.Path)
		if !ok || rt.Internal != internal {
			return nil, nil, errNotFound
		}
		matched = rt
		if !rt.Allows(r.Method) {
			w.Header().Set("Allow", strings.Join(rt.Methods, ", "))
			return nil, nil, &Error{Status: http.StatusMethodNotAllowed, Description: descMethod}
		}
		req, p, err := h.authorizeRoute(r.WithContext(ctx), rt, internal)
		if err != nil {
			return nil, nil, err
		}
		headers, err := h.routeHeaders(req.Header)
		if err != nil {
			return nil, nil, err
		}
		body, err := h.readBody(w, req)
		if err != nil {
			return nil, nil, err
		}
		ctx = req.Context()
		if h.opts.Begin != nil {
			ctx, txn = h.opts.Begin(ctx)
		}
		in := &abi.HTTPRequest{
			RouteID: rt.ID, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
			PrincipalMethod: p.Method, PrincipalSubject: p.Subject,
			TraceID: traceID(ctx), Headers: headers, Body: body,
		}
		if p.Fingerprint != ([32]byte{}) {
			in.PrincipalID = pki.FormatFingerprint(p.Fingerprint)
		}
		routed = true
		return ctx, abi.AppendHTTPRequest(make([]byte, 0, 512+len(body)), in), nil
	}
	defer func() {
		if txn != nil {
			txn.Rollback()
		}
	}()
	ctx := plugin.WithRouter(r.Context(), route)
	res, err := h.opts.Pool().Call(ctx, abi.ExportHandleHTTP, nil)
	if matched == nil {
		name = "unknown"
	} else if who, _ := r.Context().Value(principalKey{}).(*principalHolder); who != nil {
		who.routeID = matched.ID
	}
	if err == nil && !routed {
		// A Caller that does not honour plugin.WithRouter ran the guest
		// without a route, and so without authentication: never answer
		// with what it produced.
		err = errors.New("api: the plugin caller did not route the request")
	}
	if err != nil {
		return name, err
	}
	out, err := routeOutput(res, h.opts.Limits.MaxDepth)
	if err != nil {
		return name, err
	}
	if txn != nil {
		if err := txn.Commit(ctx); err != nil {
			return name, fmt.Errorf("api: state commit: %w", err)
		}
	}
	hdr := w.Header()
	for _, f := range out.header {
		hdr.Add(f.Name, f.Value)
	}
	if out.status != http.StatusNoContent && out.status != http.StatusNotModified {
		hdr.Set("Content-Length", strconv.Itoa(len(out.body)))
	}
	w.WriteHeader(out.status)
	if len(out.body) > 0 {
		_, _ = w.Write(out.body)
	}
	return name, nil
}

// cleanRequestPath reports whether r's path is fit for route matching:
// valid UTF-8 without control characters, no empty, "." or ".." segment
// (a final "/" aside), and no encoded character that decoding changed
// into something else (such as %2F into "/"), so that what matched is
// what the plugin sees.
func cleanRequestPath(r *http.Request) bool {
	p := r.URL.Path
	if r.URL.RawPath != "" || !utf8.ValidString(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 0x20 || p[i] == 0x7f {
			return false
		}
	}
	for seg := range strings.SplitSeq(strings.TrimSuffix(p[1:], "/"), "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// authorizeRoute authenticates r as rt requires and records the
// principal for the access log and the host functions.
func (h *Handler) authorizeRoute(r *http.Request, rt *plugin.Route, internal bool) (*http.Request, auth.Principal, error) {
	var p auth.Principal
	switch {
	case internal:
		p = auth.Principal{Method: abi.PrincipalInternal}
	case rt.RouteToken && h.opts.Gate == nil:
		// The host's route check refuses such a module; this is the
		// backstop for a handler wired without one.
		return r, p, &Error{Status: http.StatusForbidden, Description: descForbidden,
			Err: fmt.Errorf("api: route %q requires route tokens, which are not enabled", rt.ID)}
	case rt.Auth.Method == abi.RouteAuthPublic:
		p = auth.Principal{Method: abi.PrincipalPublic}
	default:
		// A route naming a method needs that method's credential; the
		// configured authenticator then judges it against the allowlist.
		switch rt.Auth.Method {
		case abi.RouteAuthMTLS:
			if !multi.ClientCertificate(r) {
				return r, p, auth.ErrNoCredentials
			}
		case abi.RouteAuthOIDC:
			if !multi.BearerToken(r) {
				return r, p, auth.ErrNoCredentials
			}
		}
		var err error
		if p, err = h.opts.Auth.Authenticate(r, rt.Auth.Allowlist); err != nil {
			return r, p, err
		}
		if rt.Auth.Method != abi.RouteAuthAllowlist && p.Method != rt.Auth.Method {
			return r, auth.Principal{}, fmt.Errorf("%w: route %q requires %s, the request was judged by %s", auth.ErrNotAllowlisted, rt.ID, rt.Auth.Method, p.Method)
		}
	}
	if who, _ := r.Context().Value(principalKey{}).(*principalHolder); who != nil {
		who.p, who.ok = p, true
	}
	if h.opts.Annotate != nil {
		r = r.WithContext(h.opts.Annotate(r.Context(), traceID(r.Context()), p))
	}
	return r, p, nil
}

// routeHeaders returns the header fields a plugin gets: lower-case names,
// sorted, values in the order received, without the fields listed at
// dropRequestHeaders. More than abi.MaxHTTPHeaders fields, or a name or
// value over its limit, is a 431.
func (h *Handler) routeHeaders(hdr http.Header) ([]abi.Header, error) {
	listed := connectionTokens(hdr.Values("Connection"))
	var out []abi.Header
	for name, vals := range hdr {
		lower := strings.ToLower(name)
		if dropRequestHeaders[lower] || listed[lower] || h.private[lower] ||
			strings.HasPrefix(lower, "proxy-") || strings.HasPrefix(lower, "x-ssl-") {
			continue
		}
		for _, v := range vals {
			if len(out) == abi.MaxHTTPHeaders || len(lower) > abi.MaxHTTPHeaderNameBytes || len(v) > abi.MaxHTTPHeaderValueBytes {
				return nil, &Error{Status: http.StatusRequestHeaderFieldsTooLarge, Description: descHeadersTooBig,
					Err: fmt.Errorf("api: more than %d header fields, or one over its limit", abi.MaxHTTPHeaders)}
			}
			out = append(out, abi.Header{Name: lower, Value: v})
		}
	}
	slices.SortStableFunc(out, func(a, b abi.Header) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// connectionTokens returns the lower-case field names a Connection field
// lists: hop-by-hop fields of that message.
func connectionTokens(vals []string) map[string]bool {
	if len(vals) == 0 {
		return nil
	}
	m := map[string]bool{}
	for _, v := range vals {
		for tok := range strings.SplitSeq(v, ",") {
			if tok = strings.TrimSpace(tok); tok != "" {
				m[strings.ToLower(tok)] = true
			}
		}
	}
	return m
}

// readBody reads r's body, at most Options.BodyLimit bytes (413 beyond).
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > h.opts.BodyLimit {
		return nil, &http.MaxBytesError{Limit: h.opts.BodyLimit}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.BodyLimit))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, err
		}
		if ctxErr := context.Cause(r.Context()); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, &Error{Status: http.StatusBadRequest, Description: descBadRequest, Err: err}
	}
	return body, nil
}

// routeResponse is a plugin's answer, checked and filtered.
type routeResponse struct {
	status int
	header []abi.Header
	body   []byte
}

// routeOutput checks what handle_http handed back and returns the
// response to write: an HTTP response (its status 200..599, every header
// name a token and every value free of control characters, within the
// ABI's limits, no body with 204 or 304, at most one Content-Type), JSON
// text (200, application/json) or nothing (204). Anything else is a
// *plugin.OutputError (502). Headers the host does not allow are dropped
// (dropResponseHeaders); a non-empty body without Content-Type gets
// application/octet-stream.
func routeOutput(res plugin.Result, maxDepth int) (routeResponse, error) {
	bad := func(reason string) (routeResponse, error) {
		return routeResponse{}, &plugin.OutputError{Reason: "handle_http: " + reason}
	}
	switch res.Kind {
	case 0:
		return routeResponse{status: http.StatusNoContent}, nil
	case abi.OutputJSON:
		if err := schema.ValidateJSON(res.Data, maxDepth); err != nil {
			return bad(err.Error())
		}
		return routeResponse{status: http.StatusOK, body: res.Data,
			header: []abi.Header{{Name: "Content-Type", Value: "application/json"}}}, nil
	case abi.OutputHTTP:
	default:
		return bad(fmt.Sprintf("output kind %d", res.Kind))
	}
	v, err := abi.DecodeHTTPResponse(res.Data)
	if err != nil {
		return bad(err.Error())
	}
	out := routeResponse{status: int(v.Status), body: v.Body}
	switch {
	case out.status < 200 || out.status > 599:
		return bad(fmt.Sprintf("status %d outside 200..599", v.Status))
	case len(v.Body) > 0 && (out.status == http.StatusNoContent || out.status == http.StatusNotModified):
		return bad(fmt.Sprintf("a body with status %d", v.Status))
	}
	var listed map[string]bool
	for _, f := range v.Headers {
		if strings.EqualFold(string(f.Name), "Connection") {
			if listed == nil {
				listed = map[string]bool{}
			}
			for tok := range strings.SplitSeq(string(f.Value), ",") {
				listed[strings.ToLower(strings.TrimSpace(tok))] = true
			}
		}
	}
	contentType := false
	for _, f := range v.Headers {
		if len(f.Name) > abi.MaxHTTPHeaderNameBytes || len(f.Value) > abi.MaxHTTPHeaderValueBytes {
			return bad("a header over its size limit")
		}
		if !validFieldName(f.Name) || !validFieldValue(f.Value) {
			return bad("a malformed header field")
		}
		lower := strings.ToLower(string(f.Name))
		if dropResponseHeaders[lower] || listed[lower] || strings.HasPrefix(lower, "proxy-") {
			continue
		}
		if lower == "content-type" {
			if contentType {
				return bad("Content-Type given twice")
			}
			contentType = true
		}
		out.header = append(out.header, abi.Header{Name: string(f.Name), Value: string(f.Value)})
	}
	if !contentType && len(out.body) > 0 {
		out.header = append(out.header, abi.Header{Name: "Content-Type", Value: "application/octet-stream"})
	}
	return out, nil
}

// validFieldName reports whether b is an RFC 9110 token.
func validFieldName(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validFieldValue reports whether b is an RFC 9110 field value: visible
// characters, spaces, tabs and obs-text, without leading or trailing
// whitespace.
func validFieldValue(b []byte) bool {
	for _, c := range b {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return len(b) == 0 || b[0] != ' ' && b[0] != '\t' && b[len(b)-1] != ' ' && b[len(b)-1] != '\t'
}

// RouteCheck is the host configuration [CheckRoutes] compares a route
// table with.
type RouteCheck struct {
	// RouteTokens reports whether route tokens are required on the TLS
	// listener (Options.Gate is set).
	RouteTokens bool
	// Allowlists lists, per authentication method ("mtls", "oidc"), the
	// names of the allowlists configured for it.
	Allowlists map[string][]string
	// Logger receives one line per route; nil discards.
	Logger *slog.Logger
}

// CheckRoutes checks the route table of a plugin version against the
// host's configuration before the version serves, and logs every route
// (public ones at warn level: they are served to anyone). It fails when a
// route requires route tokens that are not enabled. A route naming an
// allowlist that no configured method has (every request to it will be
// refused) is logged at warn level, not refused: the operator may leave a
// route disabled that way.
func CheckRoutes(rs *plugin.Routes, c RouteCheck) error {
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var problems []string
	for _, r := range rs.All() {
		attrs := []any{"route_id", r.ID, "path", r.Path, "methods", strings.Join(r.Methods, ",")}
		switch {
		case r.Internal:
			log.Info("plugin route", append(attrs, "listener", "internal", "auth", "none")...)
			continue
		case r.Auth.Method == abi.RouteAuthPublic:
			log.Warn("plugin route is public: served without authentication", append(attrs, "listener", "tls", "route_token", r.RouteToken)...)
		default:
			log.Info("plugin route", append(attrs, "listener", "tls", "auth", r.Auth.String(), "route_token", r.RouteToken)...)
			if !allowlistConfigured(c.Allowlists, r.Auth) {
				log.Warn("plugin route names an allowlist that is not configured: every request to it is refused",
					"route_id", r.ID, "auth", r.Auth.String())
			}
		}
		if r.RouteToken && !c.RouteTokens {
			problems = append(problems, fmt.Sprintf("route %q requires route tokens, which are not enabled (ROUTE_TOKENS__*)", r.ID))
		}
	}
	if len(problems) > 0 {
		return &plugin.ModuleError{Problems: problems}
	}
	return nil
}

func allowlistConfigured(lists map[string][]string, a plugin.RouteAuth) bool {
	for method, names := range lists {
		if (a.Method == abi.RouteAuthAllowlist || a.Method == method) && slices.Contains(names, a.Allowlist) {
			return true
		}
	}
	return false
}
