//go:build !wasip1

package oso

import (
	"errors"

	"github.com/osohost/osohost/abi"
)

// ServeRoute runs req through the plugin's routes as the host's
// handle_http call does, for native unit tests of a plugin: it encodes
// req (Route names the route), calls the registered handler, and decodes
// what it handed back. The host's own work (route matching, methods,
// authentication, header filtering) is not done. A handler's [Error] is
// returned as an Error; another failure as a 500 Error. A handler that
// answered nothing gives a nil Response. It exists only outside
// WebAssembly and is not safe for concurrent use.
func ServeRoute(req *Request) (*Response, error) {
	saved := sink
	s := &hostSink{}
	sink = s
	defer func() { sink = saved }()
	in := abi.AppendHTTPRequest(nil, &abi.HTTPRequest{
		RouteID: req.Route, Method: req.Method, Path: req.Path, Query: req.Query,
		PrincipalMethod: req.Principal.Method, PrincipalID: req.Principal.ID, PrincipalSubject: req.Principal.Subject,
		TraceID: req.TraceID, Headers: req.Headers, Body: req.Body,
	})
	if rt.handleHTTP(in) != abi.ResultOK {
		if s.code != 0 {
			return nil, Error{Code: int(s.code), Message: s.msg}
		}
		return nil, Error{Code: 500}
	}
	switch abi.OutputKind(s.kind) {
	case 0:
		return nil, nil
	case abi.OutputHTTP:
		v, err := abi.DecodeHTTPResponse(s.out)
		if err != nil {
			return nil, err
		}
		resp := &Response{Status: int(v.Status), Body: v.Body}
		for _, h := range v.Headers {
			resp.Headers = append(resp.Headers, Header{Name: string(h.Name), Value: string(h.Value)})
		}
		return resp, nil
	}
	return nil, errors.New("oso: unexpected output kind")
}
