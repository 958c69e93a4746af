package plugin_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/host/hostcall"
	"github.com/osohost/osohost/host/plugin"
)

func TestParseRoutes(t *testing.T) {
	rs, err := plugin.ParseRoutes([]byte(`{"routes":[
		{"id":"exact","path":"/api/isv/a","methods":["GET","POST"]},
		{"id":"prefix","path":"/api/isv/","methods":["GET"],"auth":{"oidc":"ops"},"route_token":true},
		{"id":"longer","path":"/api/isv/deep/","methods":["PUT"],"auth":{"allowlist":"component"}},
		{"id":"pub","path":"/api/pub","methods":["HEAD","OPTIONS"],"auth":{"public":true}},
		{"id":"mtls","path":"/api/frontend/other","methods":["DELETE"],"auth":{"mtls":"Admin.2"}},
		{"id":"int","path":"/internal/","methods":["PATCH"],"route_token":false}
	]}`))
	if err != nil {
		t.Fatal(err)
	}
	if rs.Len() != 6 {
		t.Fatalf("%d routes", rs.Len())
	}
	all := rs.All()
	want := []plugin.Route{
		{ID: "exact", Path: "/api/isv/a", Methods: []string{"GET", "POST"}, Auth: plugin.RouteAuth{Method: "mtls", Allowlist: "component"}},
		{ID: "prefix", Path: "/api/isv/", Prefix: true, Methods: []string{"GET"}, Auth: plugin.RouteAuth{Method: "oidc", Allowlist: "ops"}, RouteToken: true},
		{ID: "longer", Path: "/api/isv/deep/", Prefix: true, Methods: []string{"PUT"}, Auth: plugin.RouteAuth{Method: "allowlist", Allowlist: "component"}},
		{ID: "pub", Path: "/api/pub", Methods: []string{"HEAD", "OPTIONS"}, Auth: plugin.RouteAuth{Method: "public"}},
		{ID: "mtls", Path: "/api/frontend/other", Methods: []string{"DELETE"}, Auth: plugin.RouteAuth{Method: "mtls", Allowlist: "Admin.2"}},
		{ID: "int", Path: "/internal/", Prefix: true, Internal: true, Methods: []string{"PATCH"}},
	}
	for i := range want {
		if fmt.Sprint(all[i]) != fmt.Sprint(want[i]) {
			t.Errorf("route %d = %+v\nwant %+v", i, all[i], want[i])
		}
	}
	all[0].Methods[0] = "CHANGED"
	if r, _ := rs.Match("/api/isv/a"); r.Methods[0] != "GET" {
		t.Error("All shares its methods with the table")
	}
	if s := want[1].Auth.String(); s != "oidc:ops" {
		t.Errorf("Auth.String = %q", s)
	}

	matches := map[string]string{
		"/api/isv/a":         "exact",
		"/api/isv/a/":        "prefix",
		"/api/isv/b":         "prefix",
		"/api/isv/":          "prefix",
		"/api/isv/deep/x/y":  "longer",
		"/api/isv/deep":      "prefix",
		"/api/pub":           "pub",
		"/internal/anything": "int",
		"/internal/":         "int",
		"/api/isv":           "",
		"/api/pub/":          "",
		"/api/other":         "",
		"/internal":          "",
	}
	for path, id := range matches {
		r, ok := rs.Match(path)
		switch {
		case id == "" && ok:
			t.Errorf("%s matched %s", path, r.ID)
		case id != "" && (!ok || r.ID != id):
			t.Errorf("%s matched %v, want %s", path, r, id)
		}
	}
	if r, _ := rs.Match("/api/isv/a"); !r.Allows("POST") || r.Allows("PUT") {
		t.Error("Allows")
	}

	var none *plugin.Routes
	if _, ok := none.Match("/api/x"); ok || none.Len() != 0 || none.All() != nil {
		t.Error("the nil table is not empty")
	}
	if rs, err := plugin.ParseRoutes([]byte(` {"routes": []} `)); err != nil || rs.Len() != 0 {
		t.Errorf("empty table: %v", err)
	}
}

func TestParseRoutes_Errors(t *testing.T) {
	route := func(members string) string { return `{"routes":[{` + members + `}]}` }
	ok := `"id":"a","path":"/api/a","methods":["GET"]`
	many := `{"routes":[` + strings.Repeat(`{"id":"a","path":"/api/a","methods":["GET"]},`, abi.MaxRoutes) + `{"id":"a","path":"/api/a","methods":["GET"]}]}`
	tests := []struct {
		name, table, want string
	}{
		{"not JSON", `{"routes":`, "not valid JSON"},
		{"not an object", `[]`, "not a route table"},
		{"trailing data", `{"routes":[]} {}`, "data after"},
		{"missing routes", `{}`, `"routes" is missing`},
		{"null routes", `{"routes":null}`, `"routes" is missing`},
		{"unknown member", `{"routes":[],"extra":1}`, "unknown field"},
		{"unknown route member", route(ok + `,"name":"x"`), "unknown field"},
		{"duplicate member", `{"routes":[],"routes":[]}`, "appears twice"},
		{"duplicate route member", route(ok + `,"id":"b"`), "appears twice"},
		{"too deep", route(ok + `,"auth":{"mtls":[["x"]]}`), "nested too deeply"},
		{"too large", `{"routes":[]}` + strings.Repeat(" ", abi.MaxRouteTableBytes), "limit is"},
		{"too many routes", many, "routes, the limit"},
		{"wrong type", route(`"id":1,"path":"/api/a","methods":["GET"]`), "not a route table"},
		{"no id", route(`"path":"/api/a","methods":["GET"]`), "id must be"},
		{"bad id", route(`"id":"A b","path":"/api/a","methods":["GET"]`), "id must be"},
		{"long id", route(`"id":"` + strings.Repeat("a", 65) + `","path":"/api/a","methods":["GET"]`), "id must be"},
		{"duplicate id", `{"routes":[{` + ok + `},{"id":"a","path":"/api/b","methods":["GET"]}]}`, "id is used twice"},
		{"duplicate path", `{"routes":[{` + ok + `},{"id":"b","path":"/api/a","methods":["GET"]}]}`, `is also route "a"'s`},
		{"foreign path", route(`"id":"a","path":"/other","methods":["GET"]`), "must start with /api/ or /internal/"},
		{"relative path", route(`"id":"a","path":"api/a","methods":["GET"]`), "must start with"},
		{"api root", route(`"id":"a","path":"/api/","methods":["GET"]`), "cover the component routes"},
		{"empty segment", route(`"id":"a","path":"/api/a//b","methods":["GET"]`), "empty, . or .. segment"},
		{"dot segment", route(`"id":"a","path":"/api/a/./b","methods":["GET"]`), "empty, . or .. segment"},
		{"dot-dot segment", route(`"id":"a","path":"/internal/../api/x","methods":["GET"]`), "empty, . or .. segment"},
		{"percent", route(`"id":"a","path":"/api/a%2Fb","methods":["GET"]`), "outside [A-Za-z0-9._~-]"},
		{"space", route(`"id":"a","path":"/api/a b","methods":["GET"]`), "outside"},
		{"non-ASCII", route(`"id":"a","path":"/api/caf\u00e9","methods":["GET"]`), "outside"},
		{"long path", route(`"id":"a","path":"/api/` + strings.Repeat("a", abi.MaxRoutePathBytes) + `","methods":["GET"]`), "longer than"},
		{"component status", route(`"id":"a","path":"/api/frontend/v1alpha1/status","methods":["GET"]`), "reserved"},
		{"component subtree", route(`"id":"a","path":"/api/backend/v1alpha1/extra/","methods":["GET"]`), "reserved"},
		{"component root", route(`"id":"a","path":"/api/backend/v1alpha1","methods":["GET"]`), "reserved"},
		{"covering prefix", route(`"id":"a","path":"/api/frontend/","methods":["GET"]`), "reserved"},
		{"no methods", route(`"id":"a","path":"/api/a","methods":[]`), "at least one method"},
		{"lower-case method", route(`"id":"a","path":"/api/a","methods":["get"]`), "is not one of"},
		{"CONNECT", route(`"id":"a","path":"/api/a","methods":["CONNECT"]`), "is not one of"},
		{"repeated method", route(`"id":"a","path":"/api/a","methods":["GET","GET"]`), "listed twice"},
		{"auth on internal", route(`"id":"a","path":"/internal/a","methods":["GET"],"auth":{"public":true}`), "not allowed on an internal route"},
		{"token on internal", route(`"id":"a","path":"/internal/a","methods":["GET"],"route_token":true`), `"route_token" is not allowed`},
		{"auth not an object", route(ok + `,"auth":"public"`), "must be an object"},
		{"auth null", route(ok + `,"auth":null`), "must be an object"},
		{"auth empty", route(ok + `,"auth":{}`), "exactly one member"},
		{"auth two members", route(ok + `,"auth":{"mtls":"a","oidc":"b"}`), "exactly one member"},
		{"auth unknown", route(ok + `,"auth":{"basic":"a"}`), "not one of mtls, oidc, allowlist, public"},
		{"auth public false", route(ok + `,"auth":{"public":false}`), `"public" must be true`},
		{"auth empty allowlist", route(ok + `,"auth":{"mtls":""}`), "must name an allowlist"},
		{"auth bad allowlist", route(ok + `,"auth":{"oidc":"a b"}`), "must name an allowlist"},
		{"auth allowlist not a string", route(ok + `,"auth":{"allowlist":1}`), "must name an allowlist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := plugin.ParseRoutes([]byte(tt.table))
			var me *plugin.ModuleError
			if !errors.As(err, &me) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want a ModuleError containing %q", err, tt.want)
			}
			if !strings.HasPrefix(me.Problems[0], "routes: ") {
				t.Errorf("problem %q lacks the routes: prefix", me.Problems[0])
			}
		})
	}
	// Every problem of a table is reported, not only the first.
	_, err := plugin.ParseRoutes([]byte(`{"routes":[{"id":"A","path":"/x","methods":[]}]}`))
	var me *plugin.ModuleError
	if !errors.As(err, &me) || len(me.Problems) != 3 {
		t.Fatalf("err = %v, want three problems", err)
	}
}

func FuzzParseRoutes(f *testing.F) {
	f.Add([]byte(`{"routes":[{"id":"a","path":"/api/a/","methods":["GET"],"auth":{"mtls":"component"}}]}`))
	f.Add([]byte(`{"routes":[{"id":"b","path":"/internal/x","methods":["POST","PUT"]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rs, err := plugin.ParseRoutes(b)
		if err != nil {
			return
		}
		for _, r := range rs.All() {
			if got, ok := rs.Match(r.Path); !ok || got.Path != r.Path {
				t.Fatalf("route %s does not match its own path", r.ID)
			}
			if r.Internal != strings.HasPrefix(r.Path, "/internal/") || r.Internal == (r.Auth.Method != "") {
				t.Fatalf("route %s: internal %v, auth %q", r.ID, r.Internal, r.Auth)
			}
		}
	})
}

// newModulePool makes a pool of a module file in testdata.
func newModulePool(t *testing.T, file string, eo plugin.EngineOptions) (*plugin.Pool, error) {
	t.Helper()
	ctx := context.Background()
	eng, err := plugin.NewEngine(ctx, eo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(ctx) })
	mod, err := eng.Compile(ctx, readFile(t, "testdata/"+file))
	if err != nil {
		t.Fatal(err)
	}
	p, err := plugin.NewPool(ctx, mod, plugin.PoolOptions{Size: 1, CallTimeout: 5 * time.Second})
	if err == nil {
		t.Cleanup(func() { p.Close(ctx) })
	}
	return p, err
}

func TestNewPool_Routes_Errors(t *testing.T) {
	tests := []struct{ file, want string }{
		{"routes_dup.wasm", "id is used twice"},
		{"routes_nohandler.wasm", `does not export "handle_http"`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, err := newModulePool(t, tt.file, plugin.EngineOptions{})
			var me *plugin.ModuleError
			if !errors.As(err, &me) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want a ModuleError containing %q", err, tt.want)
			}
		})
	}
}

// TestNewPool_Routes_HostCalls checks that oso_routes runs without a call
// context: host functions other than output, error and log refuse it.
func TestNewPool_Routes_HostCalls(t *testing.T) {
	var calls, withContext atomic.Int32
	cred := plugin.HostFunction{
		Name:    abi.ImportCredential,
		Params:  []api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32},
		Results: []api.ValueType{api.ValueTypeI32},
		Fn: api.GoModuleFunc(func(ctx context.Context, _ api.Module, stack []uint64) {
			calls.Add(1)
			if plugin.CallContext(ctx) != nil {
				withContext.Add(1)
			}
			stack[0] = api.EncodeI32(int32(abi.StatusNotAllowed))
		}),
	}
	p, err := newModulePool(t, "routes_hostcall.wasm", plugin.EngineOptions{HostFunctions: []plugin.HostFunction{cred}})
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 1 || withContext.Load() != 0 {
		t.Fatalf("credential called %d times, %d with a call context", calls.Load(), withContext.Load())
	}
	if p.Routes().Len() != 1 {
		t.Fatalf("%d routes", p.Routes().Len())
	}
}

func TestPool_HandleHTTP(t *testing.T) {
	var calls atomic.Int32
	// The state functions the guest imports refuse every call here: no
	// transaction is given.
	eo := plugin.EngineOptions{HostFunctions: hostcall.State(nil, hostcall.StateLimits{})}
	p := newPool(t, "isvroutes", eo, plugin.PoolOptions{Size: 1, CallTimeout: 10 * time.Second,
		OnCall: func(string, time.Duration, error) { calls.Add(1) }})
	rs := p.Routes()
	var ids []string
	for _, r := range rs.All() {
		ids = append(ids, r.ID)
	}
	if want := []string{"hello", "admin", "counter", "echo", "headers", "conflict", "health"}; !slices.Equal(ids, want) {
		t.Fatalf("routes %q, want %q", ids, want)
	}
	if r, ok := rs.Match("/internal/isv/health"); !ok || !r.Internal {
		t.Fatal("the internal route is not internal")
	}
	if r, ok := rs.Match("/api/isv/admin"); !ok || r.Auth != (plugin.RouteAuth{Method: "mtls", Allowlist: "admin"}) {
		t.Fatalf("admin route %+v", r)
	}

	type key struct{}
	var seen *plugin.Routes
	router := func(ctx context.Context, routes *plugin.Routes) (context.Context, []byte, error) {
		seen = routes
		r, _ := routes.Match("/api/isv/echo/x")
		in := abi.AppendHTTPRequest(nil, &abi.HTTPRequest{RouteID: r.ID, Method: "POST", Path: "/api/isv/echo/x",
			PrincipalMethod: "mtls", Headers: []abi.Header{{Name: "accept", Value: "text/plain"}}, Body: []byte("abc")})
		return context.WithValue(ctx, key{}, 1), in, nil
	}
	ctx := context.Background()
	res, err := p.Call(plugin.WithRouter(ctx, router), abi.ExportHandleHTTP, []byte("ignored"))
	if err != nil {
		t.Fatal(err)
	}
	if seen != rs {
		t.Error("the router did not get the pool's route table")
	}
	if res.Kind != abi.OutputHTTP {
		t.Fatalf("output kind %d", res.Kind)
	}
	v, err := abi.DecodeHTTPResponse(res.Data)
	if err != nil || v.Status != 200 || !strings.Contains(string(v.Body), `"path":"/api/isv/echo/x"`) ||
		!strings.Contains(string(v.Body), `"body_bytes":3`) || !strings.Contains(string(v.Body), `"accept":"text/plain"`) {
		t.Fatalf("response %d %s (%v)", v.Status, v.Body, err)
	}

	// A router's error is the call's, and no guest call is made.
	before := calls.Load()
	refused := errors.New("refused")
	_, err = p.Call(plugin.WithRouter(ctx, func(ctx context.Context, _ *plugin.Routes) (context.Context, []byte, error) {
		return ctx, nil, refused
	}), abi.ExportHandleHTTP, nil)
	if err != refused || calls.Load() != before || p.Stats().Calls != 1 {
		t.Fatalf("err %v, OnCall %d→%d, calls %d", err, before, calls.Load(), p.Stats().Calls)
	}

	// Without a router the input is given to the guest as is.
	in := abi.AppendHTTPRequest(nil, &abi.HTTPRequest{RouteID: "conflict", Method: "POST"})
	_, err = p.Call(ctx, abi.ExportHandleHTTP, in)
	var ge *plugin.GuestError
	if !errors.As(err, &ge) || ge.Code != 409 {
		t.Fatalf("conflict: %v", err)
	}
}

func TestPool_HandleHTTP_NotExported(t *testing.T) {
	p, err := newModulePool(t, "minimal.wasm", plugin.EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Routes() != nil {
		t.Fatal("a module without oso_routes has routes")
	}
	routed := false
	ctx := plugin.WithRouter(context.Background(), func(ctx context.Context, rs *plugin.Routes) (context.Context, []byte, error) {
		routed = rs == nil
		return ctx, nil, nil
	})
	if _, err := p.Call(ctx, abi.ExportHandleHTTP, nil); !errors.Is(err, plugin.ErrUnknownExport) || !routed {
		t.Fatalf("err %v, routed %v", err, routed)
	}
}
