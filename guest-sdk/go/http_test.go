//go:build !wasip1

package oso

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/osohost/osohost/abi"
)

// withRoutes gives one test an empty route registry.
func withRoutes(t *testing.T) {
	t.Helper()
	saved := routing
	routing = routeState{}
	t.Cleanup(func() { routing = saved })
}

func ok(*Request) (*Response, error) { return Text(200, "ok"), nil }

func TestHandle_Errors(t *testing.T) {
	tests := []struct {
		name  string
		route Route
		h     HandlerFunc
		want  string
	}{
		{"nil handler", Route{ID: "a", Path: "/api/a", Methods: []string{"GET"}}, nil, "nil HandlerFunc"},
		{"empty id", Route{Path: "/api/a", Methods: []string{"GET"}}, ok, "id must be"},
		{"upper-case id", Route{ID: "A", Path: "/api/a", Methods: []string{"GET"}}, ok, "[a-z0-9_.-]"},
		{"id starting with a dash", Route{ID: "-a", Path: "/api/a", Methods: []string{"GET"}}, ok, "[a-z0-9_.-]"},
		{"long id", Route{ID: strings.Repeat("a", 65), Path: "/api/a", Methods: []string{"GET"}}, ok, "id must be"},
		{"foreign path", Route{ID: "a", Path: "/other", Methods: []string{"GET"}}, ok, "/api/ or /internal/"},
		{"no methods", Route{ID: "a", Path: "/api/a"}, ok, "no methods"},
		{"auth on internal", Route{ID: "a", Path: "/internal/a", Methods: []string{"GET"}, Auth: Public()}, ok, "not authenticated"},
		{"route token on internal", Route{ID: "a", Path: "/internal/a", Methods: []string{"GET"}, RouteToken: true}, ok, "not authenticated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			withRoutes(t)
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(r.(string), tt.want) {
					t.Fatalf("panic %v, want one mentioning %q", r, tt.want)
				}
			}()
			Handle(tt.route, tt.h)
		})
	}
	t.Run("duplicate id", func(t *testing.T) {
		withRoutes(t)
		Handle(Route{ID: "a", Path: "/api/a", Methods: []string{"GET"}}, ok)
		defer func() {
			if r := recover(); r == nil || !strings.Contains(r.(string), "twice") {
				t.Fatalf("panic %v", r)
			}
		}()
		Handle(Route{ID: "a", Path: "/api/b", Methods: []string{"GET"}}, ok)
	})
}

func TestRuntime_RouteTable(t *testing.T) {
	withRoutes(t)
	s := withSink(t)
	if rt.routeTable() != 0 || s.kind != 0 {
		t.Fatalf("no routes: output kind %d", s.kind)
	}
	methods := []string{"GET", "POST"}
	Handle(Route{ID: "default", Path: "/api/isv/a", Methods: methods}, ok)
	methods[0] = "PUT" // Handle keeps its own copy
	Handle(Route{ID: "mtls", Path: "/api/isv/b/", Methods: []string{"GET"}, Auth: MTLS("admin"), RouteToken: true}, ok)
	Handle(Route{ID: "oidc", Path: "/api/isv/c", Methods: []string{"GET"}, Auth: OIDC("ops")}, ok)
	Handle(Route{ID: "any", Path: "/api/isv/d", Methods: []string{"GET"}, Auth: Allowlist("component")}, ok)
	Handle(Route{ID: "pub", Path: "/api/isv/e", Methods: []string{"HEAD"}, Auth: Public()}, ok)
	Handle(Route{ID: "int", Path: "/internal/f", Methods: []string{"GET"}}, ok)
	if rt.routeTable() != 0 || s.kind != int32(abi.OutputJSON) {
		t.Fatalf("output kind %d", s.kind)
	}
	var table struct {
		Routes []map[string]any `json:"routes"`
	}
	dec := json.NewDecoder(strings.NewReader(string(s.out)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&table); err != nil {
		t.Fatalf("%s: %v", s.out, err)
	}
	want := []map[string]any{
		{"id": "default", "path": "/api/isv/a", "methods": []any{"GET", "POST"}},
		{"id": "mtls", "path": "/api/isv/b/", "methods": []any{"GET"}, "auth": map[string]any{"mtls": "admin"}, "route_token": true},
		{"id": "oidc", "path": "/api/isv/c", "methods": []any{"GET"}, "auth": map[string]any{"oidc": "ops"}},
		{"id": "any", "path": "/api/isv/d", "methods": []any{"GET"}, "auth": map[string]any{"allowlist": "component"}},
		{"id": "pub", "path": "/api/isv/e", "methods": []any{"HEAD"}, "auth": map[string]any{"public": true}},
		{"id": "int", "path": "/internal/f", "methods": []any{"GET"}},
	}
	if !reflect.DeepEqual(table.Routes, want) {
		t.Fatalf("table %s\nwant %v", s.out, want)
	}
}

// serve encodes a request as the host does and runs handle_http.
func serve(t *testing.T, req *abi.HTTPRequest) (int32, *hostSink) {
	t.Helper()
	s := withSink(t)
	return rt.handleHTTP(abi.AppendHTTPRequest(nil, req)), s
}

func TestRuntime_HandleHTTP(t *testing.T) {
	withRoutes(t)
	var got Request
	Handle(Route{ID: "echo", Path: "/api/isv/echo", Methods: []string{"POST"}}, func(r *Request) (*Response, error) {
		got = *r
		got.Headers = append([]Header(nil), r.Headers...)
		resp := JSON(201, []byte(`{"ok":true}`))
		resp.AddHeader("X-Seen", r.Header("X-ONE")).AddHeader("X-Seen", "again").SetHeader("content-type", "application/x")
		return resp, nil
	})
	Handle(Route{ID: "fail", Path: "/api/isv/fail", Methods: []string{"GET"}}, func(*Request) (*Response, error) {
		return nil, Errorf(409, "busy %d", 1)
	})
	Handle(Route{ID: "broken", Path: "/api/isv/broken", Methods: []string{"GET"}}, func(*Request) (*Response, error) {
		return nil, errors.New("internal detail")
	})
	Handle(Route{ID: "empty", Path: "/api/isv/empty", Methods: []string{"GET"}}, func(*Request) (*Response, error) {
		return nil, nil
	})

	req := &abi.HTTPRequest{RouteID: "echo", Method: "POST", Path: "/api/isv/echo", Query: "q=1",
		PrincipalMethod: "mtls", PrincipalID: "SHA256:x", PrincipalSubject: "CN=c", TraceID: "tid",
		Headers: []abi.Header{{Name: "x-one", Value: "1"}, {Name: "x-one", Value: "2"}}, Body: []byte("payload")}
	res, s := serve(t, req)
	if res != 0 || s.kind != int32(abi.OutputHTTP) {
		t.Fatalf("echo: result %d, kind %d", res, s.kind)
	}
	if got.Route != "echo" || got.Method != "POST" || got.Path != "/api/isv/echo" || got.Query != "q=1" ||
		got.Principal != (Principal{"mtls", "SHA256:x", "CN=c"}) || got.TraceID != "tid" || string(got.Body) != "payload" ||
		len(got.Headers) != 2 {
		t.Fatalf("request %+v", got)
	}
	v, err := abi.DecodeHTTPResponse(s.out)
	if err != nil || v.Status != 201 || string(v.Body) != `{"ok":true}` {
		t.Fatalf("response %+v %v", v, err)
	}
	var hs []string
	for _, h := range v.Headers {
		hs = append(hs, string(h.Name)+": "+string(h.Value))
	}
	if want := []string{"X-Seen: 1", "X-Seen: again", "content-type: application/x"}; !reflect.DeepEqual(hs, want) {
		t.Fatalf("headers %q, want %q", hs, want)
	}

	if res, s := serve(t, &abi.HTTPRequest{RouteID: "fail"}); res == 0 || s.code != 409 || s.msg != "busy 1" {
		t.Fatalf("fail: %d %d %q", res, s.code, s.msg)
	}
	if res, s := serve(t, &abi.HTTPRequest{RouteID: "broken"}); res == 0 || s.code != 0 || strings.Contains(s.msg, "detail") {
		t.Fatalf("broken: %d %d %q", res, s.code, s.msg)
	}
	if res, s := serve(t, &abi.HTTPRequest{RouteID: "empty"}); res != 0 || s.kind != 0 {
		t.Fatalf("empty: %d kind %d", res, s.kind)
	}
	if res, s := serve(t, &abi.HTTPRequest{RouteID: "nope"}); res == 0 || s.code != 404 {
		t.Fatalf("unknown route: %d %d", res, s.code)
	}
	s = withSink(t)
	if rt.handleHTTP([]byte{1, 2}) == 0 {
		t.Fatal("malformed input accepted")
	}
}

func TestServeRoute(t *testing.T) {
	withRoutes(t)
	Handle(Route{ID: "hi", Path: "/api/isv/hi", Methods: []string{"GET"}}, func(r *Request) (*Response, error) {
		if r.Principal.Method != "internal" {
			return nil, Error{Code: 403, Message: "no"}
		}
		return Text(200, "hi "+r.Query), nil
	})
	resp, err := ServeRoute(&Request{Route: "hi", Method: "GET", Query: "x", Principal: Principal{Method: "internal"}})
	if err != nil || resp.Status != 200 || string(resp.Body) != "hi x" || resp.Headers[0].Value != "text/plain; charset=utf-8" {
		t.Fatalf("%+v %v", resp, err)
	}
	var e Error
	if _, err := ServeRoute(&Request{Route: "hi"}); !errors.As(err, &e) || e.Code != 403 {
		t.Fatalf("err %v", err)
	}
	if sink != nil {
		t.Fatal("ServeRoute left its sink installed")
	}
}

func TestRequest_Header(t *testing.T) {
	r := &Request{Headers: []Header{{Name: "accept", Value: "a"}, {Name: "x-v", Value: "1"}, {Name: "x-v", Value: "2"}}}
	if r.Header("Accept") != "a" || r.Header("missing") != "" {
		t.Error("Header")
	}
	if got := r.HeaderValues("X-V"); !reflect.DeepEqual(got, []string{"1", "2"}) {
		t.Errorf("HeaderValues = %q", got)
	}
}
