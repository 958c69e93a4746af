package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/osohost/osohost/host/auth"
	"github.com/osohost/osohost/host/plugin"
	"github.com/osohost/osohost/host/schema"
)

// TestErrorBody_Framework compares with the framework's bytes verbatim
// (json.dumps with default separators).
func TestErrorBody_Framework(t *testing.T) {
	tests := []struct {
		status int
		desc   string
		want   string
	}{
		{401, descUnauthorized, `{"code": 401, "name": "Unauthorized", "description": "The server could not verify that you are authorized to access the URL requested. You either supplied the wrong credentials (e.g. a bad password), or your browser doesn't understand how to supply the credentials required."}`},
		{403, descForbidden, `{"code": 403, "name": "Forbidden", "description": "You don't have the permission to access the requested resource. It is either read-protected or not readable by the server."}`},
		{404, descNotFound, `{"code": 404, "name": "Not Found", "description": "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again."}`},
		{405, descMethod, `{"code": 405, "name": "Method Not Allowed", "description": "The method is not allowed for the requested URL."}`},
		{409, "caf\u00e9 \"x\"\n\U0001F600", `{"code": 409, "name": "Conflict", "description": "caf\u00e9 \"x\"\n\ud83d\ude00"}`},
	}
	for _, tt := range tests {
		if got := string(errorBody(tt.status, tt.desc)); got != tt.want {
			t.Errorf("errorBody(%d)\n got %s\nwant %s", tt.status, got, tt.want)
		}
	}
}

func TestToError(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{auth.ErrNoCredentials, 401},
		{fmt.Errorf("wrapped: %w", auth.ErrBadCertificate), 400},
		{auth.ErrNotAllowlisted, 403},
		{&http.MaxBytesError{Limit: 1}, 413},
		{&schema.LimitError{Limit: 1}, 413},
		{&schema.LimitError{Field: "documents[0].id", Limit: 1}, 400},
		{&schema.ValidationError{Field: "count", Reason: "required"}, 400},
		{&plugin.GuestError{Code: 418, Message: "teapot"}, 418},
		{&plugin.TrapError{Err: errors.New("unreachable")}, 500},
		{&plugin.OutputError{Reason: "bad"}, 502},
		{plugin.ErrBusy, 503},
		{plugin.ErrCallTimeout, 504},
		{errors.New("anything else"), 500},
	}
	for _, tt := range tests {
		e := toError(tt.err)
		if e.Status != tt.want {
			t.Errorf("toError(%v) = %d, want %d", tt.err, e.Status, tt.want)
		}
		if e.Status >= 500 && e.Status != 500 || e.Status == 500 {
			if e.Description == "" {
				t.Errorf("toError(%v): empty description", tt.err)
			}
		}
	}
	// A 5xx description never carries the cause.
	e := toError(&plugin.TrapError{Err: errors.New("/secret/path.go:12 panic")})
	if e.Description != descInternal {
		t.Fatalf("trap description %q", e.Description)
	}
}

func TestValidTraceID(t *testing.T) {
	for _, s := range []string{"a", "0123456789abcdef0123456789abcdef", "trace-1.2_3"} {
		if !validTraceID(s) {
			t.Errorf("%q refused", s)
		}
	}
	long := make([]byte, 129)
	for i := range long {
		long[i] = 'a'
	}
	for _, s := range []string{"", "a b", "a\nb", "<script>", string(long), "é"} {
		if validTraceID(s) {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestEncodeOutput_HealthMerged(t *testing.T) {
	res := plugin.Result{Kind: 1, Data: []byte(`{"status_code":200,"status":"OK","errors":[],"queued":1}`)}
	code, body, err := encodeOutput("status", res, schema.Limits{}, []schema.StatusError{{Code: "signing", Message: "GREP11 server does not support ECDSA"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"status_code":500,"status":"Internal Server Error","errors":[{"code":"signing","message":"GREP11 server does not support ECDSA"}],"queued":1}`
	if code != 500 || string(body) != want {
		t.Fatalf("%d %s", code, body)
	}
	code, body, _ = encodeOutput("status", res, schema.Limits{}, nil, nil)
	if code != 200 || !strings.Contains(string(body), `"status":"OK"`) {
		t.Fatalf("without health errors: %d %s", code, body)
	}
}
