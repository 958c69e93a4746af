package abi_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/osohost/osohost/abi"
)

func TestHTTPRequest_RoundTrip(t *testing.T) {
	req := &abi.HTTPRequest{
		RouteID: "hello", Method: "POST", Path: "/api/isv/hello", Query: "a=1&b=%20",
		PrincipalMethod: "mtls", PrincipalID: "SHA256:abc", PrincipalSubject: "CN=client",
		TraceID: "t-1",
		Headers: []abi.Header{{"accept", "*/*"}, {"x-multi", "1"}, {"x-multi", "2"}},
		Body:    []byte("body\x00bytes"),
	}
	b := abi.AppendHTTPRequest(nil, req)
	v, err := abi.DecodeHTTPRequest(b)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{string(v.RouteID), string(v.Method), string(v.Path), string(v.Query),
		string(v.PrincipalMethod), string(v.PrincipalID), string(v.PrincipalSubject), string(v.TraceID)}
	want := []string{req.RouteID, req.Method, req.Path, req.Query, req.PrincipalMethod, req.PrincipalID, req.PrincipalSubject, req.TraceID}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("field %d = %q, want %q", i, got[i], want[i])
		}
	}
	if len(v.Headers) != len(req.Headers) {
		t.Fatalf("%d headers", len(v.Headers))
	}
	for i, h := range v.Headers {
		if string(h.Name) != req.Headers[i].Name || string(h.Value) != req.Headers[i].Value {
			t.Errorf("header %d = %q: %q", i, h.Name, h.Value)
		}
	}
	if !bytes.Equal(v.Body, req.Body) {
		t.Errorf("body %q", v.Body)
	}

	// An empty request: eight empty strings, no headers, empty body.
	empty := abi.AppendHTTPRequest(nil, &abi.HTTPRequest{})
	if len(empty) != 4*10 {
		t.Errorf("empty request is %d bytes", len(empty))
	}
	if v, err := abi.DecodeHTTPRequest(empty); err != nil || v.Headers != nil || len(v.Body) != 0 {
		t.Errorf("empty request: %+v, %v", v, err)
	}
}

// TestHTTPResponse_Example pins the byte layout documented in SPEC §17.6.
func TestHTTPResponse_Example(t *testing.T) {
	b := abi.AppendHTTPResponse(nil, 201, []abi.Header{{"Content-Type", "text/plain"}}, []byte("ok"))
	want := "c9000000" + "01000000" +
		"0c000000" + hex0("Content-Type") + "0a000000" + hex0("text/plain") +
		"02000000" + "6f6b"
	if got := hex.EncodeToString(b); got != want {
		t.Fatalf("encoding\n got %s\nwant %s", got, want)
	}
	v, err := abi.DecodeHTTPResponse(b)
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != 201 || len(v.Headers) != 1 || string(v.Headers[0].Name) != "Content-Type" ||
		string(v.Headers[0].Value) != "text/plain" || string(v.Body) != "ok" {
		t.Fatalf("decoded %+v", v)
	}
	// A negative status survives as written, for the host to refuse.
	if v, err := abi.DecodeHTTPResponse(abi.AppendHTTPResponse(nil, -1, nil, nil)); err != nil || v.Status != -1 {
		t.Fatalf("status -1: %+v %v", v, err)
	}
}

func hex0(s string) string { return hex.EncodeToString([]byte(s)) }

func TestDecodeHTTP_Errors(t *testing.T) {
	resp := abi.AppendHTTPResponse(nil, 200, []abi.Header{{"a", "b"}}, []byte("x"))
	req := abi.AppendHTTPRequest(nil, &abi.HTTPRequest{RouteID: "r", Headers: []abi.Header{{"a", "b"}}, Body: []byte("x")})
	many := abi.AppendU32(nil, 200)
	many = abi.AppendU32(many, abi.MaxHTTPHeaders+1)
	for range abi.MaxHTTPHeaders + 1 {
		many = abi.AppendString(abi.AppendString(many, "a"), "b")
	}
	many = abi.AppendString(many, "")
	tests := []struct {
		name string
		b    []byte
		req  bool
	}{
		{"response empty", nil, false},
		{"response truncated", resp[:len(resp)-1], false},
		{"response trailing", append(append([]byte{}, resp...), 0), false},
		{"response header count past the end", []byte{200, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0}, false},
		{"response too many headers", many, false},
		{"response no body", resp[:len(resp)-5], false},
		{"request empty", nil, true},
		{"request truncated", req[:len(req)-1], true},
		{"request trailing", append(append([]byte{}, req...), 0), true},
		{"request string past the end", []byte{0xff, 0xff, 0xff, 0xff}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.req {
				_, err = abi.DecodeHTTPRequest(tt.b)
			} else {
				_, err = abi.DecodeHTTPResponse(tt.b)
			}
			if !errors.Is(err, abi.ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestHTTPLimits(t *testing.T) {
	if abi.Minor < 3 {
		t.Fatal("plugin routes need ABI minor 3")
	}
	if abi.OutputHTTP != 4 || abi.ExportRoutes != "oso_routes" || abi.ExportHandleHTTP != "handle_http" {
		t.Error("plugin route names or kinds changed")
	}
	// The largest table the host accepts fits its byte bound comfortably.
	perRoute := abi.MaxRouteIDBytes + abi.MaxRoutePathBytes + abi.MaxAllowlistNameBytes + 128
	if abi.MaxRoutes*perRoute > abi.MaxRouteTableBytes {
		t.Errorf("%d routes of %d bytes exceed MaxRouteTableBytes", abi.MaxRoutes, perRoute)
	}
}

func FuzzDecodeHTTPRequest(f *testing.F) {
	f.Add(abi.AppendHTTPRequest(nil, &abi.HTTPRequest{RouteID: "r", Method: "GET", Headers: []abi.Header{{"a", "b"}}}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := abi.DecodeHTTPRequest(b)
		if err != nil {
			return
		}
		r := &abi.HTTPRequest{RouteID: string(v.RouteID), Method: string(v.Method), Path: string(v.Path), Query: string(v.Query),
			PrincipalMethod: string(v.PrincipalMethod), PrincipalID: string(v.PrincipalID), PrincipalSubject: string(v.PrincipalSubject),
			TraceID: string(v.TraceID), Body: v.Body}
		for _, h := range v.Headers {
			r.Headers = append(r.Headers, abi.Header{Name: string(h.Name), Value: string(h.Value)})
		}
		if out := abi.AppendHTTPRequest(nil, r); !bytes.Equal(out, b) {
			t.Fatalf("round trip changed the bytes")
		}
	})
}
