package oso

import (
	"strconv"
	"strings"

	"github.com/osohost/osohost/abi"
)

// Route declares one HTTP route of the plugin (ABI v1.3, abi/SPEC.md §17):
// a path the host serves next to the component routes, by calling the
// [HandlerFunc] registered with [Handle].
//
// Paths under /api/ are external: served on the TLS listener to clients
// that pass Auth. Paths under /internal/ are internal: served only on the
// host's loopback listener, to anyone who can reach it, without
// authentication. A path ending in "/" is a prefix (the longest prefix
// wins; an exact path wins over any prefix); other paths match exactly.
// Segments are made of [A-Za-z0-9._~-]; /api/<mode>/v1alpha1/ is reserved
// for the component routes.
type Route struct {
	// ID names the route in the request the handler gets: 1 to 64
	// characters of [a-z0-9_.-], starting with a letter or digit, unique.
	ID string
	// Path is the route's path; see above.
	Path string
	// Methods are the methods served, such as "GET" and "POST" (GET,
	// HEAD, POST, PUT, PATCH, DELETE, OPTIONS). HEAD is not implied by
	// GET. Other methods are answered 405 by the host.
	Methods []string
	// Auth is who may call an external route; the zero value requires a
	// client certificate in the allowlist "component", as the component
	// routes do. Internal routes must leave it zero.
	Auth Auth
	// RouteToken makes the host refuse to load the module unless signed
	// route tokens are enabled (ROUTE_TOKENS__*), which every request on
	// the TLS listener must then carry. External routes only.
	RouteToken bool
}

// Auth is how the host authenticates the requests of an external route
// before the handler runs; see [MTLS], [OIDC], [Allowlist] and [Public].
type Auth struct {
	method, allowlist string
}

// MTLS requires a client certificate whose fingerprint is in the named
// allowlist of the host's mtls parser.
func MTLS(allowlist string) Auth { return Auth{abi.RouteAuthMTLS, allowlist} }

// OIDC requires a bearer token that the host's oidc parser accepts for the
// named allowlist.
func OIDC(allowlist string) Auth { return Auth{abi.RouteAuthOIDC, allowlist} }

// Allowlist requires a credential of any configured method (a client
// certificate or a bearer token) that the named allowlist accepts, as the
// component routes do.
func Allowlist(name string) Auth { return Auth{abi.RouteAuthAllowlist, name} }

// Public serves the route to anyone who reaches the TLS listener, without
// a credential. The host logs every public route when it loads the module.
func Public() Auth { return Auth{method: abi.RouteAuthPublic} }

// Request is one request to a plugin route. Its strings and Body are
// views into the host's input buffer: valid until the handler returns
// (copy what you keep, with strings.Clone or bytes.Clone).
type Request struct {
	// Route is the ID of the route the request matched.
	Route string
	// Method is the request method, one the route declares.
	Method string
	// Path is the request path, percent-decoded; Query the raw query,
	// without "?" (see net/url.ParseQuery).
	Path, Query string
	// Principal is who the host authenticated.
	Principal Principal
	// TraceID is the request's trace id, as the host logs it.
	TraceID string
	// Headers are the request's header fields with lower-case names,
	// sorted by name. The host removes hop-by-hop fields, credentials
	// (Authorization, Cookie, Proxy-*, route tokens) and X-SSL-*.
	Headers []Header
	// Body is the request body, at most the host's body limit.
	Body []byte
}

// Header is one header field of a [Request] or a [Response].
type Header = abi.Header

// Principal is who made a request, as the host authenticated them.
type Principal struct {
	// Method is "mtls", "oidc", "public" (a public route: nobody was
	// authenticated) or "internal" (an internal route: nobody was
	// authenticated).
	Method string
	// ID is the client certificate's fingerprint, "SHA256:…", for mtls;
	// else empty.
	ID string
	// Subject is the certificate's subject or the token's subject.
	Subject string
}

// Header returns the first value of the named header field, or "". name
// is matched without regard to case.
func (r *Request) Header(name string) string {
	for _, h := range r.Headers {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

// HeaderValues returns every value of the named header field, in the
// order received.
func (r *Request) HeaderValues(name string) []string {
	var out []string
	for _, h := range r.Headers {
		if strings.EqualFold(h.Name, name) {
			out = append(out, h.Value)
		}
	}
	return out
}

// Response is what a handler answers. The host writes Status, the
// headers it allows and Body; it sets Content-Length itself, drops
// hop-by-hop fields, Set-Cookie, Content-Length and the security headers
// it sets (Strict-Transport-Security, Cache-Control,
// Content-Security-Policy, X-Content-Type-Options, X-Frame-Options,
// X-Trace-ID), and answers 502 for a malformed response (a status outside
// 200..599, an invalid header name or value, a body with 204 or 304).
type Response struct {
	// Status is the HTTP status, 200..599; 0 means 200.
	Status int
	// Headers are the response's header fields; a name may repeat.
	// Without Content-Type the host sends application/octet-stream for a
	// non-empty body.
	Headers []Header
	// Body is the response body. It is not copied: do not change it
	// before the handler returns.
	Body []byte
}

// SetHeader replaces every field of that name (matched without regard to
// case) with one of the given value, and returns r.
func (r *Response) SetHeader(name, value string) *Response {
	out := r.Headers[:0]
	for _, h := range r.Headers {
		if !strings.EqualFold(h.Name, name) {
			out = append(out, h)
		}
	}
	r.Headers = append(out, Header{Name: name, Value: value})
	return r
}

// AddHeader adds a field and returns r.
func (r *Response) AddHeader(name, value string) *Response {
	r.Headers = append(r.Headers, Header{Name: name, Value: value})
	return r
}

// Text returns a response of status with a text/plain body.
func Text(status int, body string) *Response {
	return &Response{Status: status, Headers: []Header{{Name: "Content-Type", Value: "text/plain; charset=utf-8"}}, Body: []byte(body)}
}

// JSON returns a response of status with the JSON text as its body (see
// [JSONObject]); the host does not check the text.
func JSON(status int, text []byte) *Response {
	return &Response{Status: status, Headers: []Header{{Name: "Content-Type", Value: "application/json"}}, Body: text}
}

// HandlerFunc serves the requests of one route. Returning an [Error]
// answers its code and message in the host's error shape; any other error
// is logged and answered 500. A nil Response with a nil error answers 204
// No Content.
type HandlerFunc func(req *Request) (*Response, error)

// routing holds the routes registered with Handle; like rt, one value
// serves the module, and an instance runs one call at a time.
var routing routeState

// routeState holds the registered routes and the reusable request.
type routeState struct {
	routes   []Route
	handlers map[string]HandlerFunc
	req      Request
	hdrs     []Header
}

// Handle registers h to serve route. Call it from a func init in package
// main, once per route, before or after [Register]. It panics when h is
// nil or the route is malformed (an ID already used or outside
// [a-z0-9_.-], a path outside /api/ and /internal/, no methods, Auth or
// RouteToken on an internal route); the host checks the whole table again
// when it loads the module and refuses the module if any rule is broken.
func Handle(route Route, h HandlerFunc) {
	if h == nil {
		panic("oso: Handle called with a nil HandlerFunc")
	}
	if msg := checkRoute(route); msg != "" {
		panic("oso: Handle: route " + strconv.Quote(route.ID) + ": " + msg)
	}
	s := &routing
	if _, dup := s.handlers[route.ID]; dup {
		panic("oso: Handle: route id " + strconv.Quote(route.ID) + " registered twice")
	}
	if s.handlers == nil {
		s.handlers = map[string]HandlerFunc{}
	}
	route.Methods = append([]string(nil), route.Methods...)
	s.routes = append(s.routes, route)
	s.handlers[route.ID] = h
}

func checkRoute(r Route) string {
	if r.ID == "" || len(r.ID) > abi.MaxRouteIDBytes {
		return "the id must be 1 to 64 characters"
	}
	for i := 0; i < len(r.ID); i++ {
		c := r.ID[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || i > 0 && (c == '_' || c == '.' || c == '-')) {
			return "the id must be made of [a-z0-9_.-], starting with a letter or digit"
		}
	}
	internal := strings.HasPrefix(r.Path, abi.RoutePrefixInternal)
	if !internal && !strings.HasPrefix(r.Path, abi.RoutePrefixExternal) {
		return "the path must start with /api/ or /internal/"
	}
	if len(r.Methods) == 0 {
		return "no methods"
	}
	if internal && (r.Auth != Auth{} || r.RouteToken) {
		return "internal routes are not authenticated: leave Auth and RouteToken unset"
	}
	return ""
}

// appendRouteTable appends the route table's JSON (abi/SPEC.md §17.2).
func appendRouteTable(b []byte, routes []Route) []byte {
	b = append(b, `{"routes":[`...)
	for i, r := range routes {
		if i > 0 {
			b = append(b, ',')
		}
		o := NewJSONObject(b)
		o.String("id", r.ID)
		o.String("path", r.Path)
		methods := append(o.b, `,"methods":[`...)
		for j, m := range r.Methods {
			if j > 0 {
				methods = append(methods, ',')
			}
			methods = AppendJSONString(methods, m)
		}
		o.b = append(methods, ']')
		switch r.Auth.method {
		case "":
		case abi.RouteAuthPublic:
			o.Raw("auth", []byte(`{"public":true}`))
		default:
			a := NewJSONObject(nil)
			a.String(r.Auth.method, r.Auth.allowlist)
			o.Raw("auth", a.End())
		}
		if r.RouteToken {
			o.Bool("route_token", true)
		}
		b = o.End()
	}
	return append(b, "]}"...)
}

// routeTable hands the route table to the host; a plugin without routes
// hands over nothing.
func (r *runtime) routeTable() int32 {
	if len(routing.routes) == 0 {
		return abi.ResultOK
	}
	out := appendRouteTable(r.buf[:0], routing.routes)
	res := emit(abi.OutputJSON, out)
	r.retain(out, true)
	return res
}

// handleHTTP serves one request: in is an abi.HTTPRequest.
func (r *runtime) handleHTTP(in []byte) int32 {
	v, err := abi.DecodeHTTPRequest(in)
	if err != nil {
		Log.Error("oso: handle_http: malformed request")
		return 1
	}
	s := &routing
	h := s.handlers[view(v.RouteID)]
	if h == nil {
		return fail("handle_http", Error{Code: 404, Message: "no such route"})
	}
	hdrs := s.hdrs[:0]
	for _, hv := range v.Headers {
		hdrs = append(hdrs, Header{Name: view(hv.Name), Value: view(hv.Value)})
	}
	s.hdrs = hdrs
	s.req = Request{
		Route: view(v.RouteID), Method: view(v.Method), Path: view(v.Path), Query: view(v.Query),
		Principal: Principal{Method: view(v.PrincipalMethod), ID: view(v.PrincipalID), Subject: view(v.PrincipalSubject)},
		TraceID:   view(v.TraceID), Headers: hdrs, Body: v.Body,
	}
	resp, err := h(&s.req)
	s.req = Request{}
	clear(s.hdrs[:cap(s.hdrs)])
	if err != nil {
		return fail("handler "+view(v.RouteID), err)
	}
	if resp == nil {
		return abi.ResultOK
	}
	status := resp.Status
	if status == 0 {
		status = 200
	}
	out := abi.AppendHTTPResponse(r.buf[:0], status, resp.Headers, resp.Body)
	res := emit(abi.OutputHTTP, out)
	r.retain(out, true)
	return res
}
