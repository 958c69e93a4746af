package abi

import "encoding/binary"

// Plugin routes (ABI v1.3). A guest may serve HTTP routes of its own next
// to the three component routes: it declares them in a route table that
// the optional [ExportRoutes] export hands to [ImportOutput] as JSON, and
// the host calls [ExportHandleHTTP] for each request that matches one,
// after authenticating it as the route requires. abi/SPEC.md §17 has every
// rule; this file holds the names, limits and the compact encodings.
//
// The route table is one JSON object:
//
//	{"routes": [
//	  {"id": "hello", "path": "/api/isv/hello", "methods": ["GET"],
//	   "auth": {"mtls": "component"}},
//	  {"id": "files", "path": "/api/isv/files/", "methods": ["GET", "PUT"],
//	   "auth": {"oidc": "operators"}, "route_token": true},
//	  {"id": "metrics", "path": "/internal/metrics", "methods": ["GET"]}
//	]}
//
// A path ending in "/" is a prefix; any other path matches exactly. Paths
// under [RoutePrefixExternal] are served on the TLS listener, those under
// [RoutePrefixInternal] only on the loopback internal listener.

// Route table members and values.
const (
	// RoutePrefixExternal starts the path of every external route.
	RoutePrefixExternal = "/api/"
	// RoutePrefixInternal starts the path of every internal route.
	RoutePrefixInternal = "/internal/"

	// RouteAuthMTLS names a client-certificate allowlist:
	// {"mtls": "component"}.
	RouteAuthMTLS = "mtls"
	// RouteAuthOIDC names an OIDC allowlist: {"oidc": "operators"}.
	RouteAuthOIDC = "oidc"
	// RouteAuthAllowlist names an allowlist that any configured method
	// may satisfy, as the component routes do: {"allowlist": "component"}.
	RouteAuthAllowlist = "allowlist"
	// RouteAuthPublic declares an external route that needs no
	// credential: {"public": true}.
	RouteAuthPublic = "public"

	// DefaultRouteAllowlist is the allowlist an external route without
	// "auth" requires, through a client certificate.
	DefaultRouteAllowlist = "component"
)

// Principal methods handed to [ExportHandleHTTP] besides the
// authentication methods ("mtls", "oidc").
const (
	// PrincipalPublic is the principal method of a request on a public
	// route: nobody was authenticated.
	PrincipalPublic = "public"
	// PrincipalInternal is the principal method of a request on an
	// internal route: nobody was authenticated; the request came through
	// the loopback internal listener.
	PrincipalInternal = "internal"
)

// Route and request limits (ABI v1.3).
const (
	// MaxRouteTableBytes bounds the route table's JSON text.
	MaxRouteTableBytes = 64 << 10
	// MaxRoutes bounds the routes of one table.
	MaxRoutes = 64
	// MaxRouteIDBytes bounds a route id.
	MaxRouteIDBytes = 64
	// MaxRoutePathBytes bounds a route's path.
	MaxRoutePathBytes = 256
	// MaxAllowlistNameBytes bounds an allowlist name in a route table.
	MaxAllowlistNameBytes = 64
	// MaxHTTPPathBytes bounds the path of a request handed to the guest.
	MaxHTTPPathBytes = 2048
	// MaxHTTPQueryBytes bounds its raw query.
	MaxHTTPQueryBytes = 8192
	// MaxHTTPHeaders bounds the header fields of a request or a response
	// (a name with several values counts once per value).
	MaxHTTPHeaders = 64
	// MaxHTTPHeaderNameBytes bounds a header name.
	MaxHTTPHeaderNameBytes = 128
	// MaxHTTPHeaderValueBytes bounds a header value.
	MaxHTTPHeaderValueBytes = 8192
)

// HTTP encodings (ABI v1.3), in the primitives of the compact encoding:
//
//	HTTPRequest  = str route_id, str method, str path, str query,
//	               str principal_method, str principal_id, str principal_subject,
//	               str trace_id, u32 n, n × Header, str body
//	HTTPResponse = u32 status, u32 n, n × Header, str body
//	Header       = str name, str value
//
// A request's header names are lower case, sorted, a name with several
// values repeated in the order received. A response's names are in any
// case; a name may repeat.

// Header is one header field of the HTTP encodings.
type Header struct {
	Name, Value string
}

// HTTPRequest is the input of [ExportHandleHTTP], as the host builds it.
type HTTPRequest struct {
	// RouteID is the id of the route the request matched.
	RouteID string
	// Method is the request method, one the route declares.
	Method string
	// Path is the request path, percent-decoded, after any route-token
	// segments were stripped; Query is the raw query, without "?".
	Path, Query string
	// PrincipalMethod says who was authenticated: "mtls", "oidc",
	// [PrincipalPublic] or [PrincipalInternal]. PrincipalID is the client
	// certificate's fingerprint ("SHA256:…") for mtls, else empty;
	// PrincipalSubject the certificate's subject or the token's subject.
	PrincipalMethod, PrincipalID, PrincipalSubject string
	// TraceID is the request's trace id, as the host logs it.
	TraceID string
	// Headers are the request's header fields, filtered by the host.
	Headers []Header
	// Body is the request body.
	Body []byte
}

// AppendHTTPRequest appends the HTTPRequest encoding of r.
func AppendHTTPRequest(b []byte, r *HTTPRequest) []byte {
	b = AppendString(b, r.RouteID)
	b = AppendString(b, r.Method)
	b = AppendString(b, r.Path)
	b = AppendString(b, r.Query)
	b = AppendString(b, r.PrincipalMethod)
	b = AppendString(b, r.PrincipalID)
	b = AppendString(b, r.PrincipalSubject)
	b = AppendString(b, r.TraceID)
	b = appendHeaders(b, r.Headers)
	return AppendBytes(b, r.Body)
}

// HeaderView is one header field read from an HTTP encoding; its slices
// alias the decoded buffer.
type HeaderView struct {
	Name, Value []byte
}

// HTTPRequestView is an HTTPRequest read from its encoding; every slice
// aliases the decoded buffer.
type HTTPRequestView struct {
	RouteID, Method, Path, Query                   []byte
	PrincipalMethod, PrincipalID, PrincipalSubject []byte
	TraceID                                        []byte
	Headers                                        []HeaderView
	Body                                           []byte
}

// DecodeHTTPRequest reads an HTTPRequest. It fails with [ErrMalformed] on
// truncated input, trailing bytes or more than [MaxHTTPHeaders] headers.
// It allocates only the Headers slice.
func DecodeHTTPRequest(b []byte) (HTTPRequestView, error) {
	var v HTTPRequestView
	fields := [...]*[]byte{&v.RouteID, &v.Method, &v.Path, &v.Query,
		&v.PrincipalMethod, &v.PrincipalID, &v.PrincipalSubject, &v.TraceID}
	var ok bool
	for _, f := range fields {
		if *f, b, ok = cut(b); !ok {
			return HTTPRequestView{}, ErrMalformed
		}
	}
	var err error
	if v.Headers, b, err = decodeHeaders(b); err != nil {
		return HTTPRequestView{}, err
	}
	if v.Body, b, ok = cut(b); !ok || len(b) != 0 {
		return HTTPRequestView{}, ErrMalformed
	}
	return v, nil
}

// AppendHTTPResponse appends the HTTPResponse encoding: the output of
// kind [OutputHTTP].
func AppendHTTPResponse(b []byte, status int, headers []Header, body []byte) []byte {
	b = AppendU32(b, uint32(int32(status)))
	b = appendHeaders(b, headers)
	return AppendBytes(b, body)
}

// HTTPResponseView is an HTTPResponse read from its encoding; its slices
// alias the decoded buffer.
type HTTPResponseView struct {
	Status  int32
	Headers []HeaderView
	Body    []byte
}

// DecodeHTTPResponse reads an HTTPResponse. It fails with [ErrMalformed]
// on truncated input, trailing bytes or more than [MaxHTTPHeaders]
// headers; it does not check the status or the header contents.
func DecodeHTTPResponse(b []byte) (HTTPResponseView, error) {
	var v HTTPResponseView
	if len(b) < 4 {
		return v, ErrMalformed
	}
	v.Status = int32(binary.LittleEndian.Uint32(b))
	var err error
	if v.Headers, b, err = decodeHeaders(b[4:]); err != nil {
		return HTTPResponseView{}, err
	}
	var ok bool
	if v.Body, b, ok = cut(b); !ok || len(b) != 0 {
		return HTTPResponseView{}, ErrMalformed
	}
	return v, nil
}

func appendHeaders(b []byte, hs []Header) []byte {
	b = AppendU32(b, uint32(len(hs)))
	for _, h := range hs {
		b = AppendString(b, h.Name)
		b = AppendString(b, h.Value)
	}
	return b
}

// decodeHeaders reads u32 n, n × Header.
func decodeHeaders(b []byte) ([]HeaderView, []byte, error) {
	if len(b) < 4 {
		return nil, b, ErrMalformed
	}
	n := binary.LittleEndian.Uint32(b)
	b = b[4:]
	if n > MaxHTTPHeaders || uint64(n)*8 > uint64(len(b)) {
		return nil, b, ErrMalformed
	}
	if n == 0 {
		return nil, b, nil
	}
	hs := make([]HeaderView, n)
	var ok bool
	for i := range hs {
		if hs[i].Name, b, ok = cut(b); !ok {
			return nil, b, ErrMalformed
		}
		if hs[i].Value, b, ok = cut(b); !ok {
			return nil, b, ErrMalformed
		}
	}
	return hs, b, nil
}
