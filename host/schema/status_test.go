package schema_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/host/schema"
)

func TestDecodeStatusJSON(t *testing.T) {
	t.Parallel()
	sample := string(readFile(t, "v1.3/valid-Error-0.json"))
	tests := []struct {
		name string
		in   string
		want schema.Status
	}{
		{"minimal", `{"status_code":200,"status":"OK"}`, schema.Status{Code: 200, Status: "OK"}},
		{"empty errors", `{"status_code":200,"status":"OK","errors":[]}`, schema.Status{Code: 200, Status: "OK"}},
		{"sample Error", `{"status_code":500,"status":"Internal Server Error","errors":[` + sample + `]}`,
			schema.Status{Code: 500, Status: "Internal Server Error", Errors: []schema.StatusError{{Code: "abc", Message: "ABC Error"}}}},
		{"error members dropped", `{"status_code":500,"status":"x","errors":[{"code":"1","z":[1],"message":"m"},{"message":"n","code":"2"}]}`,
			schema.Status{Code: 500, Status: "x", Errors: []schema.StatusError{{"1", "m"}, {"2", "n"}}}},
		{"integral float code", `{"status_code":2e2,"status":"OK"}`, schema.Status{Code: 200, Status: "OK"}},
		{"code out of HTTP range kept", `{"status_code":999,"status":"odd"}`, schema.Status{Code: 999, Status: "odd"}},
		{"extras in order", `{"x":{ "a" : [1, "b c"] },"status_code":200,"status":"OK","errors":[],"y":null,"z":"\u00e9 \n"}`,
			schema.Status{Code: 200, Status: "OK", Extra: []schema.ExtraField{
				{Key: "x", Value: json.RawMessage(`{"a":[1,"b c"]}`)},
				{Key: "y", Value: json.RawMessage(`null`)},
				{Key: "z", Value: json.RawMessage(`"\u00e9 \n"`)},
			}}},
		{"duplicate members", `{"status_code":500,"status":"a","x":1,"y":2,"x":3,"status_code":200,"status":"b","errors":[{"code":"c","message":"m"}],"errors":[]}`,
			schema.Status{Code: 200, Status: "b", Extra: []schema.ExtraField{{Key: "x", Value: json.RawMessage(`3`)}, {Key: "y", Value: json.RawMessage(`2`)}}}},
		{"escaped names", `{"status\u005fcode":204,"st\u0061tus":"","\u00e9":true}`,
			schema.Status{Code: 204, Extra: []schema.ExtraField{{Key: "é", Value: json.RawMessage(`true`)}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := schema.DecodeStatusJSON([]byte(tt.in), schema.DefaultLimits)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestDecodeStatusJSON_ManyExtras(t *testing.T) {
	t.Parallel()
	var sb strings.Builder
	sb.WriteString(`{"status_code":200,"status":"OK"`)
	for i := range 100 {
		sb.WriteString(`,"k` + string(rune('a'+i%26)) + `":` + string(rune('0'+i%10)))
	}
	sb.WriteString(`}`)
	got, err := schema.DecodeStatusJSON([]byte(sb.String()), schema.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Extra) != 26 {
		t.Fatalf("%d extras, want 26", len(got.Extra))
	}
	// ka is set at i = 0, 26, 52, 78: the last value is 78%10.
	if got.Extra[0].Key != "ka" || string(got.Extra[0].Value) != "8" {
		t.Errorf("first extra %s=%s, want ka=8", got.Extra[0].Key, got.Extra[0].Value)
	}
}

func TestDecodeStatusJSON_Errors(t *testing.T) {
	t.Parallel()
	manyErrors := `{"status_code":200,"status":"OK","errors":[` + strings.TrimSuffix(strings.Repeat(`{"code":"c","message":"m"},`, abi.MaxStatusErrors+1), ",") + `]}`
	tests := []struct {
		name     string
		in       string
		lim      schema.Limits
		field    string
		tooLarge bool
	}{
		{"not JSON", `{"status_code":200,`, schema.Limits{}, "", false},
		{"not an object", `["` + secret + `"]`, schema.Limits{}, "", false},
		{"code missing", `{"status":"OK"}`, schema.Limits{}, "status_code", false},
		{"code string", `{"status_code":"200","status":"OK"}`, schema.Limits{}, "status_code", false},
		{"code bool", `{"status_code":true,"status":"OK"}`, schema.Limits{}, "status_code", false},
		{"code fraction", `{"status_code":200.5,"status":"OK"}`, schema.Limits{}, "status_code", false},
		{"code out of range", `{"status_code":4294967496,"status":"OK"}`, schema.Limits{}, "status_code", false},
		{"code huge", `{"status_code":1e300,"status":"OK"}`, schema.Limits{}, "status_code", false},
		{"code big int", `{"status_code":123456789012345678901234567890,"status":"OK"}`, schema.Limits{}, "status_code", false},
		{"status missing", `{"status_code":200}`, schema.Limits{}, "status", false},
		{"status number", `{"status_code":200,"status":5}`, schema.Limits{}, "status", false},
		{"errors null", `{"status_code":200,"status":"OK","errors":null}`, schema.Limits{}, "errors", false},
		{"errors object", `{"status_code":200,"status":"OK","errors":{}}`, schema.Limits{}, "errors", false},
		{"error not an object", `{"status_code":200,"status":"OK","errors":["` + secret + `"]}`, schema.Limits{}, "errors[0]", false},
		{"error code missing", `{"status_code":200,"status":"OK","errors":[{"message":"` + secret + `"}]}`, schema.Limits{}, "errors[0].code", false},
		{"error message number", `{"status_code":200,"status":"OK","errors":[{"code":"a","message":"b"},{"code":"a","message":1}]}`, schema.Limits{}, "errors[1].message", false},
		{"lone surrogate in extra", `{"status_code":200,"status":"OK","` + secret + `":"\udead"}`, schema.Limits{}, "", false},
		{"NaN in extra", `{"status_code":200,"status":"OK","x":NaN}`, schema.Limits{}, "", false},
		{"too many errors", manyErrors, schema.Limits{}, "errors", true},
		{"body", `{"status_code":200,"status":"OK"}`, schema.Limits{MaxBodyBytes: 10}, "", true},
		{"status bytes", `{"status_code":200,"status":"` + secret + `"}`, schema.Limits{MaxContentBytes: 3}, "status", true},
		{"message bytes", `{"status_code":200,"status":"OK","errors":[{"code":"a","message":"` + secret + `"}]}`, schema.Limits{MaxContentBytes: 3}, "errors[0].message", true},
		{"depth", `{"status_code":200,"status":"OK","x":[[[1]]]}`, schema.Limits{MaxDepth: 3}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := schema.DecodeStatusJSON([]byte(tt.in), tt.lim)
			checkErr(t, err, tt.field, tt.tooLarge)
		})
	}
}

func checkErr(t *testing.T, err error, field string, tooLarge bool) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("message %q repeats input", err)
	}
	if tooLarge {
		var le *schema.LimitError
		if !errors.As(err, &le) || le.Field != field {
			t.Fatalf("got %v, want a *LimitError for %q", err, field)
		}
		return
	}
	var ve *schema.ValidationError
	if !errors.As(err, &ve) || ve.Field != field {
		t.Fatalf("got %v, want a *ValidationError for %q", err, field)
	}
}

func TestStatusFromCompact(t *testing.T) {
	t.Parallel()
	b := abi.AppendStatus(nil, 503, "Unavailable", []abi.StatusError{{Code: "1", Message: "hsm down"}}, `{"hsm": {"ok" : false}, "n":1, "n":2}`)
	v, err := abi.DecodeStatus(b)
	if err != nil {
		t.Fatal(err)
	}
	got, err := schema.StatusFromCompact(v)
	if err != nil {
		t.Fatal(err)
	}
	want := schema.Status{
		Code: 503, Status: "Unavailable",
		Errors: []schema.StatusError{{Code: "1", Message: "hsm down"}},
		Extra:  []schema.ExtraField{{Key: "hsm", Value: json.RawMessage(`{"ok":false}`)}, {Key: "n", Value: json.RawMessage(`2`)}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %#v\nwant %#v", got, want)
	}
	// The result owns its memory.
	for i := range b {
		b[i] = 'X'
	}
	if !reflect.DeepEqual(got, want) {
		t.Error("result aliases the compact buffer")
	}

	v, _ = abi.DecodeStatus(abi.AppendStatus(nil, 200, "OK", nil, ""))
	if got, err := schema.StatusFromCompact(v); err != nil || !reflect.DeepEqual(got, schema.Status{Code: 200, Status: "OK"}) {
		t.Errorf("no extra: %#v, %v", got, err)
	}
}

func TestStatusFromCompact_Errors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		status   string
		errs     []abi.StatusError
		extra    string
		field    string
		tooLarge bool
	}{
		{"status UTF-8", "\xff" + secret, nil, "", "status", false},
		{"error code UTF-8", "OK", []abi.StatusError{{Code: "ok", Message: "ok"}, {Code: "\xc0\xaf", Message: "m"}}, "", "errors[1].code", false},
		{"error message UTF-8", "OK", []abi.StatusError{{Code: "c", Message: "\xed\xa0\x80"}}, "", "errors[0].message", false},
		{"extra not JSON", "OK", nil, `{"` + secret + `"`, "extra", false},
		{"extra an array", "OK", nil, `["` + secret + `"]`, "extra", false},
		{"extra a string", "OK", nil, `"x"`, "extra", false},
		{"extra trailing data", "OK", nil, `{} x`, "extra", false},
		{"extra status_code", "OK", nil, `{"a":1,"status_code":500}`, "extra", false},
		{"extra status escaped", "OK", nil, `{"st\u0061tus":"x"}`, "extra", false},
		{"extra errors", "OK", nil, `{"errors":[]}`, "extra", false},
		{"extra depth", "OK", nil, `{"a":` + strings.Repeat("[", 64) + strings.Repeat("]", 64) + `}`, "extra", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := abi.DecodeStatus(abi.AppendStatus(nil, 200, tt.status, tt.errs, tt.extra))
			if err != nil {
				t.Fatal(err)
			}
			_, err = schema.StatusFromCompact(v)
			checkErr(t, err, tt.field, tt.tooLarge)
		})
	}
}

func TestAppendStatusJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   schema.Status
		want string
	}{
		{"minimal", schema.Status{Code: 200, Status: "OK"}, `{"status_code":200,"status":"OK","errors":[]}`},
		{"errors and extras", schema.Status{
			Code: 500, Status: "Internal \"Server\" Error",
			Errors: []schema.StatusError{{Code: "1", Message: "a\nb"}, {Code: "2", Message: "é"}},
			Extra:  []schema.ExtraField{{Key: "z", Value: json.RawMessage(`{"a":1}`)}, {Key: "a\u2028", Value: json.RawMessage(`[true]`)}, {Key: "empty"}},
		}, `{"status_code":500,"status":"Internal \"Server\" Error","errors":[{"code":"1","message":"a\nb"},{"code":"2","message":"é"}],"z":{"a":1},"a\u2028":[true],"empty":null}`},
		{"negative code", schema.Status{Code: -1}, `{"status_code":-1,"status":"","errors":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := schema.AppendStatusJSON(nil, tt.in)
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if !json.Valid(got) {
				t.Fatal("not valid JSON")
			}
			back, err := schema.DecodeStatusJSON(got, schema.DefaultLimits)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.in
			for i := range want.Extra {
				if len(want.Extra[i].Value) == 0 {
					want.Extra = append([]schema.ExtraField{}, want.Extra...)
					want.Extra[i].Value = json.RawMessage("null")
				}
			}
			if !reflect.DeepEqual(back, want) {
				t.Errorf("round trip: %#v", back)
			}
		})
	}
}

func TestStatus_HTTPStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code int
		ok   bool
	}{{99, false}, {100, true}, {200, true}, {599, true}, {600, false}, {999, false}, {0, false}, {-200, false}}
	for _, tt := range tests {
		code, ok := schema.Status{Code: tt.code}.HTTPStatus()
		if code != tt.code || ok != tt.ok {
			t.Errorf("HTTPStatus(%d) = %d, %v", tt.code, code, ok)
		}
	}
}
