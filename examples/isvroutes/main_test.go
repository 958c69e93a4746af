//go:build !wasip1

package main

import (
	"encoding/json"
	"errors"
	"testing"

	oso "github.com/osohost/osohost/guest-sdk/go"
)

// Outside WebAssembly, oso.ServeRoute runs a route's handler as the host
// would, and the state functions use an in-memory map.

func TestCounter(t *testing.T) {
	if _, err := oso.KVDelete(counterKey); err != nil {
		t.Fatal(err)
	}
	count := func(method, body string) int {
		t.Helper()
		resp, err := oso.ServeRoute(&oso.Request{Route: "counter", Method: method, Body: []byte(body)})
		if err != nil {
			t.Fatal(err)
		}
		var v struct{ Count int }
		if err := json.Unmarshal(resp.Body, &v); err != nil || resp.Status != 200 {
			t.Fatalf("%d %s: %v", resp.Status, resp.Body, err)
		}
		return v.Count
	}
	if n := count("GET", ""); n != 0 {
		t.Fatalf("start at %d", n)
	}
	if n := count("POST", ""); n != 1 {
		t.Fatalf("after POST: %d", n)
	}
	if n := count("POST", "41"); n != 42 {
		t.Fatalf("after POST 41: %d", n)
	}
	var e oso.Error
	if _, err := oso.ServeRoute(&oso.Request{Route: "counter", Method: "POST", Body: []byte("1001")}); !errors.As(err, &e) || e.Code != 400 {
		t.Fatalf("step over the bound: %v", err)
	}
	if n := count("GET", ""); n != 42 {
		t.Fatalf("a refused POST changed the counter: %d", n)
	}
}

func TestEcho(t *testing.T) {
	resp, err := oso.ServeRoute(&oso.Request{Route: "echo", Method: "PUT", Path: "/api/isv/echo/x", Query: "a=1",
		Principal: oso.Principal{Method: "mtls"}, Headers: []oso.Header{{Name: "accept", Value: "*/*"}}, Body: []byte("abc")})
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Route, Method, Path, Query, Principal string
		BodyBytes                             int `json:"body_bytes"`
		Headers                               map[string]string
	}
	if err := json.Unmarshal(resp.Body, &v); err != nil {
		t.Fatal(err)
	}
	if v.Route != "echo" || v.Method != "PUT" || v.Path != "/api/isv/echo/x" || v.Query != "a=1" || v.Principal != "mtls" ||
		v.BodyBytes != 3 || v.Headers["accept"] != "*/*" {
		t.Fatalf("%+v", v)
	}
}

func TestConflict(t *testing.T) {
	var e oso.Error
	if _, err := oso.ServeRoute(&oso.Request{Route: "conflict", Method: "POST"}); !errors.As(err, &e) || e.Code != 409 {
		t.Fatalf("%v", err)
	}
}
