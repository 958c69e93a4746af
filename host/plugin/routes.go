package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/osohost/osohost/abi"
)

// Route is one route of a plugin's route table (abi/SPEC.md §17).
type Route struct {
	// ID names the route to the guest; unique within the table.
	ID string
	// Path is the route's path: matched exactly, or as a prefix when it
	// ends in "/" (Prefix).
	Path   string
	Prefix bool
	// Methods are the methods the route serves, upper case, in the
	// table's order.
	Methods []string
	// Internal is true for routes under /internal/, served only on the
	// loopback internal listener, without authentication.
	Internal bool
	// Auth is how an external route authenticates its requests; the zero
	// value for internal routes.
	Auth RouteAuth
	// RouteToken is true when the route requires the host's signed route
	// tokens to be enabled.
	RouteToken bool
}

// RouteAuth is the authentication an external route requires.
type RouteAuth struct {
	// Method is abi.RouteAuthMTLS, abi.RouteAuthOIDC,
	// abi.RouteAuthAllowlist (any configured method) or
	// abi.RouteAuthPublic (none).
	Method string
	// Allowlist is the allowlist the credential must be in; empty for
	// public routes.
	Allowlist string
}

// String returns the auth as the route table writes it, such as
// "mtls:component" or "public".
func (a RouteAuth) String() string {
	if a.Method == abi.RouteAuthPublic || a.Method == "" {
		return a.Method
	}
	return a.Method + ":" + a.Allowlist
}

// Allows reports whether the route serves method.
func (r *Route) Allows(method string) bool { return slices.Contains(r.Methods, method) }

// Routes is a validated route table. It is immutable and safe for
// concurrent use; the nil *Routes is an empty table.
type Routes struct {
	routes []Route
	exact  map[string]int // path → index
	prefix []int          // indexes of prefix routes, longest path first
}

// Len returns the number of routes.
func (rs *Routes) Len() int {
	if rs == nil {
		return 0
	}
	return len(rs.routes)
}

// All returns a copy of the routes in the table's order.
func (rs *Routes) All() []Route {
	if rs == nil {
		return nil
	}
	out := make([]Route, len(rs.routes))
	for i, r := range rs.routes {
		r.Methods = slices.Clone(r.Methods)
		out[i] = r
	}
	return out
}

// Match returns the route serving path: the route of that exact path, else
// the prefix route with the longest path that path starts with. The route
// returned is shared: do not modify it.
func (rs *Routes) Match(path string) (*Route, bool) {
	if rs == nil {
		return nil, false
	}
	if i, ok := rs.exact[path]; ok {
		return &rs.routes[i], true
	}
	for _, i := range rs.prefix {
		if strings.HasPrefix(path, rs.routes[i].Path) {
			return &rs.routes[i], true
		}
	}
	return nil, false
}

// reservedPaths are the component routes' subtrees, in both modes: a
// module may run in either, and later API versions live there.
var reservedPaths = []string{"/api/frontend/v1alpha1", "/api/backend/v1alpha1"}

// routeMethods are the methods a route may declare. CONNECT and TRACE are
// never passed to a plugin.
var routeMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// ParseRoutes reads and validates a route table (abi/SPEC.md §17.2). It
// fails with a [*ModuleError] listing every problem: a table that is not
// exactly the documented JSON (unknown or duplicate members, wrong types,
// trailing data), more than abi.MaxRoutes routes, a malformed or duplicate
// id, a path outside /api/ and /internal/, a path that is not made of
// clean segments of unreserved characters, two routes of one path, a path
// in or covering the component routes' /api/<mode>/v1alpha1 subtrees, no
// or unknown or repeated methods, auth on an internal route, or an auth
// that is not exactly one of its four forms.
func ParseRoutes(b []byte) (*Routes, error) {
	if len(b) > abi.MaxRouteTableBytes {
		return nil, routesError(fmt.Sprintf("table is %d bytes, the limit is %d", len(b), abi.MaxRouteTableBytes))
	}
	if err := checkJSONMembers(b); err != nil {
		return nil, routesError(err.Error())
	}
	var t struct {
		Routes *[]struct {
			ID         string          `json:"id"`
			Path       string          `json:"path"`
			Methods    []string        `json:"methods"`
			Auth       json.RawMessage `json:"auth"`
			RouteToken *bool           `json:"route_token"`
		} `json:"routes"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return nil, routesError("not a route table: " + strings.TrimPrefix(err.Error(), "json: "))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, routesError("data after the table")
	}
	if t.Routes == nil {
		return nil, routesError(`member "routes" is missing`)
	}
	if len(*t.Routes) > abi.MaxRoutes {
		return nil, routesError(fmt.Sprintf("%d routes, the limit is %d", len(*t.Routes), abi.MaxRoutes))
	}
	rs := &Routes{exact: map[string]int{}}
	var problems []string
	ids := map[string]bool{}
	paths := map[string]string{}
	for i, in := range *t.Routes {
		name := fmt.Sprintf("route %d", i)
		if validRouteID(in.ID) {
			name = fmt.Sprintf("route %q", in.ID)
		}
		bad := func(format string, args ...any) {
			problems = append(problems, name+": "+fmt.Sprintf(format, args...))
		}
		r := Route{ID: in.ID, Path: in.Path, Prefix: strings.HasSuffix(in.Path, "/")}
		switch {
		case !validRouteID(in.ID):
			bad("id must be 1 to %d characters of [a-z0-9_.-], starting with a letter or digit", abi.MaxRouteIDBytes)
		case ids[in.ID]:
			bad("id is used twice")
		}
		ids[in.ID] = true
		if msg := checkRoutePath(in.Path); msg != "" {
			bad("path %s", msg)
		} else if other, ok := paths[in.Path]; ok {
			bad("path %q is also route %q's", in.Path, other)
		} else {
			paths[in.Path] = in.ID
		}
		r.Internal = strings.HasPrefix(in.Path, abi.RoutePrefixInternal)
		if len(in.Methods) == 0 {
			bad(`"methods" must list at least one method`)
		}
		for _, m := range in.Methods {
			switch {
			case !slices.Contains(routeMethods, m):
				bad("method %q is not one of %s", truncate(m, 16), strings.Join(routeMethods, ", "))
			case slices.Contains(r.Methods, m):
				bad("method %s is listed twice", m)
			default:
				r.Methods = append(r.Methods, m)
			}
		}
		if in.RouteToken != nil {
			r.RouteToken = *in.RouteToken
		}
		if r.Internal {
			if in.Auth != nil {
				bad(`"auth" is not allowed on an internal route: internal routes are not authenticated`)
			}
			if r.RouteToken {
				bad(`"route_token" is not allowed on an internal route`)
			}
		} else {
			a, msg := parseRouteAuth(in.Auth)
			if msg != "" {
				bad("auth %s", msg)
			}
			r.Auth = a
		}
		rs.routes = append(rs.routes, r)
	}
	if len(problems) > 0 {
		return nil, &ModuleError{Problems: prefixed("routes: ", problems)}
	}
	for i, r := range rs.routes {
		if r.Prefix {
			rs.prefix = append(rs.prefix, i)
		} else {
			rs.exact[r.Path] = i
		}
	}
	slices.SortStableFunc(rs.prefix, func(a, b int) int { return len(rs.routes[b].Path) - len(rs.routes[a].Path) })
	return rs, nil
}

func routesError(msg string) error { return &ModuleError{Problems: []string{"routes: " + msg}} }

func prefixed(p string, ss []string) []string {
	for i := range ss {
		ss[i] = p + ss[i]
	}
	return ss
}

// validRouteID accepts 1..abi.MaxRouteIDBytes characters of [a-z0-9_.-]
// starting with a letter or digit.
func validRouteID(s string) bool {
	if len(s) == 0 || len(s) > abi.MaxRouteIDBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '_' || c == '.' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// checkRoutePath returns why p cannot be a route path, or "".
func checkRoutePath(p string) string {
	var rest string
	switch {
	case len(p) > abi.MaxRoutePathBytes:
		return fmt.Sprintf("is longer than %d bytes", abi.MaxRoutePathBytes)
	case strings.HasPrefix(p, abi.RoutePrefixExternal):
		rest = p[len(abi.RoutePrefixExternal):]
		if rest == "" {
			return `"/api/" would cover the component routes`
		}
	case strings.HasPrefix(p, abi.RoutePrefixInternal):
		rest = p[len(abi.RoutePrefixInternal):]
	default:
		return fmt.Sprintf("%q must start with %s or %s", truncate(p, 64), abi.RoutePrefixExternal, abi.RoutePrefixInternal)
	}
	rest = strings.TrimSuffix(rest, "/")
	if rest != "" {
		for seg := range strings.SplitSeq(rest, "/") {
			if seg == "" || seg == "." || seg == ".." {
				return fmt.Sprintf("%q has an empty, . or .. segment", truncate(p, 64))
			}
			for i := 0; i < len(seg); i++ {
				if !unreserved(seg[i]) {
					return fmt.Sprintf("%q has a character outside [A-Za-z0-9._~-]", truncate(p, 64))
				}
			}
		}
	}
	for _, r := range reservedPaths {
		if p == r || strings.HasPrefix(p, r+"/") || strings.HasSuffix(p, "/") && strings.HasPrefix(r+"/", p) {
			return fmt.Sprintf("%q is in or covers %s/, reserved for the component routes", p, r)
		}
	}
	return ""
}

// unreserved reports whether c is an RFC 3986 unreserved character.
func unreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

// parseRouteAuth reads an external route's "auth"; absent means a client
// certificate in the default allowlist.
func parseRouteAuth(raw json.RawMessage) (RouteAuth, string) {
	if raw == nil {
		return RouteAuth{Method: abi.RouteAuthMTLS, Allowlist: abi.DefaultRouteAllowlist}, ""
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return RouteAuth{}, "must be an object"
	}
	if len(m) != 1 {
		return RouteAuth{}, "must have exactly one member"
	}
	for k, v := range m {
		switch k {
		case abi.RouteAuthPublic:
			if string(v) != "true" {
				return RouteAuth{}, `"public" must be true`
			}
			return RouteAuth{Method: abi.RouteAuthPublic}, ""
		case abi.RouteAuthMTLS, abi.RouteAuthOIDC, abi.RouteAuthAllowlist:
			var name string
			if err := json.Unmarshal(v, &name); err != nil || !validAllowlistName(name) {
				return RouteAuth{}, fmt.Sprintf("%q must name an allowlist: 1 to %d characters of [A-Za-z0-9._-]", k, abi.MaxAllowlistNameBytes)
			}
			return RouteAuth{Method: k, Allowlist: name}, ""
		default:
			return RouteAuth{}, fmt.Sprintf("member %q is not one of mtls, oidc, allowlist, public", truncate(k, 32))
		}
	}
	return RouteAuth{}, "must have exactly one member"
}

func validAllowlistName(s string) bool {
	if len(s) == 0 || len(s) > abi.MaxAllowlistNameBytes {
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

// maxRouteTableDepth bounds the nesting of a route table's JSON: the
// table, routes, a route, its auth or methods, and nothing deeper.
const maxRouteTableDepth = 4

// checkJSONMembers walks a JSON text and refuses duplicate member names
// and nesting deeper than maxRouteTableDepth, which encoding/json accepts
// silently.
func checkJSONMembers(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	type frame struct {
		obj     bool
		keys    map[string]bool
		wantKey bool
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err == io.EOF && len(stack) == 0 {
			return nil
		}
		if err != nil {
			return errors.New("not valid JSON")
		}
		var top *frame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		if top != nil && top.obj && top.wantKey {
			if k, ok := tok.(string); ok {
				if top.keys[k] {
					return fmt.Errorf("member %q appears twice in one object", truncate(k, 32))
				}
				top.keys[k] = true
				top.wantKey = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(stack) == maxRouteTableDepth {
				return errors.New("nested too deeply")
			}
			if top != nil && top.obj {
				top.wantKey = true
			}
			stack = append(stack, frame{obj: tok == json.Delim('{'), keys: map[string]bool{}, wantKey: true})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		default:
			if top != nil && top.obj {
				top.wantKey = true
			}
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Router chooses how a handle_http call is served; see [WithRouter].
// It gets the route table of the module version that will serve the call
// and returns the context the call runs under and its input (an
// abi.HTTPRequest), or an error that [Pool.Call] returns unchanged without
// calling the guest.
type Router func(ctx context.Context, routes *Routes) (context.Context, []byte, error)

type routerKey struct{}

// WithRouter returns a context carrying r. [Pool.Call] of
// abi.ExportHandleHTTP with that context calls r first, on the caller's
// goroutine, before an instance is taken, with the pool's own route table,
// and runs the guest with what r returns (the input given to Call is then
// ignored). Routing inside the call keeps the route a request matched, and
// the authentication it required, in the same module version as the code
// that serves it, also through callers that pick the version per call
// (host/reload) while a reload swaps versions.
func WithRouter(ctx context.Context, r Router) context.Context {
	return context.WithValue(ctx, routerKey{}, r)
}

// RouterFrom returns the Router ctx carries, or nil: for callers of
// handle_http other than [Pool] (adapters, test doubles), which must
// honour it as Pool.Call does.
func RouterFrom(ctx context.Context) Router {
	r, _ := ctx.Value(routerKey{}).(Router)
	return r
}
