package routetoken_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/osohost/osohost/host/auth/routetoken"
)

// Secrets used by the key ring tests; every error text and printed form
// is searched for them.
var (
	secretA = []byte("secret-a-0123456789abcdef")
	secretB = []byte("secret-b-0123456789abcdef")
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func TestParseKeyRing(t *testing.T) {
	tests := []struct {
		name, spec, active, ids string
	}{
		{"two keys", `{"active":"b","keys":{"a":"` + b64(secretA) + `","b":"` + b64(secretB) + `"}}`, "b", "ab"},
		{"keys first", `{"keys":{"b":"` + b64(secretB) + `"},"active":"b"}`, "b", "b"},
		{"unpadded and prefixed", `{"active":"9","keys":{"9":"base64:` + strings.TrimRight(b64(secretA), "=") + `"}}`, "9", "9"},
		{"whitespace", " {\n \"active\": \"z\",\n \"keys\": {\"z\": \"" + b64(secretA) + "\"}\n}\n", "z", "z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := routetoken.ParseKeyRing(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			if r.Active() != tt.active || r.IDs() != tt.ids {
				t.Fatalf("active %q ids %q, want %q %q", r.Active(), r.IDs(), tt.active, tt.ids)
			}
		})
	}
}

func TestParseKeyRing_Errors(t *testing.T) {
	a, b := b64(secretA), b64(secretB)
	tests := []struct{ name, spec, want string }{
		{"empty", ``, "JSON object"},
		{"not an object", `["a"]`, "JSON object"},
		{"duplicate key id", `{"active":"a","keys":{"a":"` + a + `","a":"` + b + `"}}`, `key id "a" appears twice`},
		{"duplicate field", `{"active":"a","active":"a","keys":{"a":"` + a + `"}}`, `field "active" appears twice`},
		{"duplicate keys field", `{"active":"a","keys":{"a":"` + a + `"},"keys":{"b":"` + b + `"}}`, `field "keys" appears twice`},
		{"unknown field", `{"active":"a","keys":{"a":"` + a + `"},"extra":1}`, `unknown field "extra"`},
		{"no active", `{"keys":{"a":"` + a + `"}}`, `lacks "active"`},
		{"active not a string", `{"active":1,"keys":{"a":"` + a + `"}}`, "not valid JSON"},
		{"active not in keys", `{"active":"b","keys":{"a":"` + a + `"}}`, `active key "b" is not in the key ring`},
		{"no keys", `{"active":"a","keys":{}}`, "no keys"},
		{"keys null", `{"active":"a","keys":null}`, "must be an object"},
		{"uppercase key id", `{"active":"A","keys":{"A":"` + a + `"}}`, `key id "A" is not one character`},
		{"long key id", `{"active":"ab","keys":{"ab":"` + a + `"}}`, `key id "ab" is not one character`},
		{"secret not a string", `{"active":"a","keys":{"a":["` + a + `"]}}`, `key "a": secret must be a base64 string`},
		{"secret not base64", `{"active":"a","keys":{"a":"` + string(secretA) + `!"}}`, `key "a": secret is not valid base64`},
		{"secret too short", `{"active":"a","keys":{"a":"` + b64([]byte("fifteen-bytes!!")) + `"}}`, "secret is 15 bytes, want 16 to 256"},
		{"secret too long", `{"active":"a","keys":{"a":"` + b64(bytes.Repeat(secretA, 20)) + `"}}`, "want 16 to 256"},
		{"trailing data", `{"active":"a","keys":{"a":"` + a + `"}} {}`, "data after"},
		{"truncated", `{"active":"a","keys":{"a":"` + a, "not valid JSON"},
		{"too large", `{"active":"a","keys":{"a":"` + strings.Repeat("A", routetoken.MaxKeyRingSpec) + `"}}`, "at most 65536"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := routetoken.ParseKeyRing(tt.spec)
			if err == nil {
				t.Fatalf("ParseKeyRing = %v, want an error", r)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q lacks %q", err, tt.want)
			}
			for _, s := range []string{a, b, string(secretA), string(secretB), "secret-"} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q shows a secret", err)
				}
			}
		})
	}
}

func TestNewKeyRing_Errors(t *testing.T) {
	if _, err := routetoken.NewKeyRing("a"); err == nil {
		t.Error("no keys: no error")
	}
	if _, err := routetoken.NewKeyRing("a", routetoken.Key{ID: "a", Secret: secretA}, routetoken.Key{ID: "a", Secret: secretB}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate ids: %v", err)
	}
	if _, err := routetoken.NewKeyRing("", routetoken.Key{ID: "a", Secret: secretA}); err == nil {
		t.Error("empty active: no error")
	}
	if _, err := routetoken.NewKeyRing("a", routetoken.Key{ID: "-", Secret: secretA}); err == nil {
		t.Error("bad id: no error")
	}
}

// TestKeyRing_NoSecretShown prints and logs a key ring in every way and
// checks that no secret appears.
func TestKeyRing_NoSecretShown(t *testing.T) {
	r, err := routetoken.NewKeyRing("b", routetoken.Key{ID: "a", Secret: secretA}, routetoken.Key{ID: "b", Secret: secretB})
	if err != nil {
		t.Fatal(err)
	}
	// The ring keeps its own copy.
	secretB[0] ^= 0xff
	defer func() { secretB[0] ^= 0xff }()
	if tok, _ := r.SignStrong(routetoken.StrongClaims{ID: "fe", Method: "GET", Path: "/"}); tok == "" {
		t.Fatal("no token")
	}
	secretB[0] ^= 0xff
	want, _ := routetoken.SignStrong(secretB, "b", routetoken.StrongClaims{ID: "fe", Method: "GET", Path: "/"})
	secretB[0] ^= 0xff
	if got, _ := r.SignStrong(routetoken.StrongClaims{ID: "fe", Method: "GET", Path: "/"}); got != want {
		t.Error("the key ring shares the caller's secret")
	}

	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("keys", "ring", r)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X"} {
		fmt.Fprintf(&buf, verb+"\n", r)
	}
	fmt.Fprintf(&buf, "%v\n", struct{ R *routetoken.KeyRing }{r})
	out := buf.String()
	if !strings.Contains(out, `"active":"b"`) || !strings.Contains(out, "keys ab") {
		t.Errorf("output lacks the key ids:\n%s", out)
	}
	for _, s := range [][]byte{secretA, secretB} {
		for _, form := range []string{string(s), b64(s), fmt.Sprintf("%x", s), fmt.Sprintf("%X", s), strings.Trim(fmt.Sprint(s), "[]")} {
			if strings.Contains(out, form) {
				t.Fatalf("output shows a secret (%q):\n%s", form, out)
			}
		}
	}
}
