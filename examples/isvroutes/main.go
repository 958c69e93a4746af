// Command isvroutes is a plugin for osohost that serves HTTP routes of its
// own next to the component routes (docs/isv-routes.md): routes for the
// component's clients, a route for another allowlist, a route that keeps a
// counter in the host's durable state, and an internal route for other
// containers of the pod. Two routes show what the host does to requests
// and responses on the plugin's behalf: echo answers what the plugin was
// given, headers tries to set response headers the host does not allow.
//
// Build it as a WASI reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o build/guests/isvroutes.wasm ./examples/isvroutes
package main

import (
	"encoding/binary"
	"errors"
	"strconv"

	oso "github.com/osohost/osohost/guest-sdk/go"
)

// counterKey holds the counter: a little-endian u64.
const counterKey = "counter"

// maxStep bounds one increment of the counter.
const maxStep = 1000

// Routes, by id.
var routes = []struct {
	route   oso.Route
	handler oso.HandlerFunc
}{
	// Clients in the "component" allowlist (the default auth).
	{oso.Route{ID: "hello", Path: "/api/isv/hello", Methods: []string{"GET"}}, hello},
	// Clients in the "admin" allowlist only.
	{oso.Route{ID: "admin", Path: "/api/isv/admin", Methods: []string{"GET"}, Auth: oso.MTLS("admin")}, admin},
	// A counter in durable state: GET reads it, POST adds the body's
	// number (1 when empty) and answers the new value.
	{oso.Route{ID: "counter", Path: "/api/isv/counter", Methods: []string{"GET", "POST"}}, counter},
	// Everything under /api/isv/echo/: what the plugin was handed.
	{oso.Route{ID: "echo", Path: "/api/isv/echo/", Methods: []string{"GET", "POST", "PUT"}}, echo},
	// A response with headers the host drops or replaces.
	{oso.Route{ID: "headers", Path: "/api/isv/headers", Methods: []string{"GET"}}, headers},
	// An error answered in the host's error shape.
	{oso.Route{ID: "conflict", Path: "/api/isv/conflict", Methods: []string{"POST"}}, conflict},
	// Served only on the loopback internal listener, unauthenticated.
	{oso.Route{ID: "health", Path: "/internal/isv/health", Methods: []string{"GET"}}, health},
}

func hello(r *oso.Request) (*oso.Response, error) {
	o := oso.NewJSONObject(nil)
	o.String("hello", r.Principal.Subject)
	o.String("method", r.Principal.Method)
	o.String("fingerprint", r.Principal.ID)
	return oso.JSON(200, o.End()), nil
}

func admin(r *oso.Request) (*oso.Response, error) {
	oso.Log.Info("admin route called by " + r.Principal.ID)
	return oso.Text(200, "admin ok\n"), nil
}

func counter(r *oso.Request) (*oso.Response, error) {
	n, err := load()
	if err != nil {
		return nil, err
	}
	if r.Method == "POST" {
		step := uint64(1)
		if len(r.Body) > 0 {
			v, err := strconv.ParseUint(string(r.Body), 10, 64)
			if err != nil || v > maxStep {
				return nil, oso.Errorf(400, "the body must be a number from 0 to %d", maxStep)
			}
			step = v
		}
		n += step
		if err := oso.KVPut(counterKey, binary.LittleEndian.AppendUint64(nil, n)); err != nil {
			return nil, unavailable(err)
		}
	}
	o := oso.NewJSONObject(nil)
	o.Int("count", int64(n))
	return oso.JSON(200, o.End()), nil
}

func load() (uint64, error) {
	v, ok, err := oso.KVGet(counterKey)
	switch {
	case err != nil:
		return 0, unavailable(err)
	case !ok:
		return 0, nil
	case len(v) != 8:
		return 0, errors.New("isvroutes: malformed counter")
	}
	return binary.LittleEndian.Uint64(v), nil
}

// unavailable answers a state failure with 503, which the client may
// retry; other failures stay generic 500s.
func unavailable(err error) error {
	if errors.Is(err, oso.ErrUnavailable) || errors.Is(err, oso.ErrLimited) {
		return oso.Error{Code: 503, Message: "state unavailable, retry later"}
	}
	return err
}

func echo(r *oso.Request) (*oso.Response, error) {
	o := oso.NewJSONObject(nil)
	o.String("route", r.Route)
	o.String("method", r.Method)
	o.String("path", r.Path)
	o.String("query", r.Query)
	o.String("principal", r.Principal.Method)
	o.String("trace_id", r.TraceID)
	o.Int("body_bytes", int64(len(r.Body)))
	hs := oso.NewJSONObject(nil)
	for _, h := range r.Headers {
		hs.String(h.Name, h.Value) // a repeated name keeps its last value
	}
	o.Raw("headers", hs.End())
	return oso.JSON(200, o.End()), nil
}

func headers(*oso.Request) (*oso.Response, error) {
	resp := oso.Text(200, "headers\n")
	resp.AddHeader("X-Plugin", "isvroutes")
	// Each of these is dropped or replaced by the host.
	resp.AddHeader("Set-Cookie", "session=1")
	resp.AddHeader("Connection", "close")
	resp.AddHeader("Transfer-Encoding", "chunked")
	resp.AddHeader("Content-Length", "999")
	resp.AddHeader("Strict-Transport-Security", "max-age=0")
	resp.AddHeader("X-Frame-Options", "ALLOWALL")
	resp.AddHeader("X-Trace-ID", "forged")
	return resp, nil
}

func conflict(*oso.Request) (*oso.Response, error) {
	return nil, oso.Error{Code: 409, Message: "conflict, as asked"}
}

func health(*oso.Request) (*oso.Response, error) {
	return oso.Text(200, "ok\n"), nil
}

// plugin serves the component routes trivially: this example is about its
// own routes.
type plugin struct{}

func (plugin) Status() (oso.Status, error) { return oso.OK(), nil }

func (plugin) ToOSO(*oso.DocumentList) error { return nil }

func (plugin) ToISV(_ *oso.Documents, out *oso.Reply) error {
	out.SetJSONString(`{"accepted":true}`)
	return nil
}

func init() {
	oso.Register(plugin{})
	for _, r := range routes {
		oso.Handle(r.route, r.handler)
	}
}

func main() {}
