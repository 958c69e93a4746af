package routetoken_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/osohost/osohost/host/auth/routetoken"
)

// shortVector is one entry of the OSEP-0011 vectors.
type shortVector struct {
	Name         string `json:"name"`
	KeyID        string `json:"key_id"`
	SecretBase64 string `json:"secret_base64"`
	RouteID      string `json:"route_id"`
	Port         uint16 `json:"port"`
	ExpiresUnix  uint64 `json:"expires_unix"`
	ExpiresB36   string `json:"expires_b36"`
	Canonical    string `json:"canonical"`
	Signature    string `json:"signature"`
	Token        string `json:"token"`
}

// strongVector is one entry of the strong-token vectors, computed by an
// independent implementation (Python's hmac) of the documented format.
type strongVector struct {
	Name         string `json:"name"`
	KeyID        string `json:"key_id"`
	SecretBase64 string `json:"secret_base64"`
	RouteID      string `json:"route_id"`
	Method       string `json:"method"`
	Path         string `json:"path"`
	ExpiresUnix  uint64 `json:"expires_unix"`
	ExpiresB36   string `json:"expires_b36"`
	Token        string `json:"token"`
}

func loadJSON[T any](t testing.TB, file string) []T {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var v []T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v) == 0 {
		t.Fatalf("%s: no vectors", file)
	}
	return v
}

func shortVectors(t testing.TB) []shortVector {
	return loadJSON[shortVector](t, "testdata/route-signatures-osep0011.json")
}

func strongVectors(t testing.TB) []strongVector {
	return loadJSON[strongVector](t, "testdata/route-tokens-strong.json")
}

func secret(t testing.TB, b64 string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// unix returns the time at Unix second s.
func unix(s int64) time.Time { return time.Unix(s, 0) }

func TestSignShort_Vectors(t *testing.T) {
	for _, v := range shortVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			c := routetoken.ShortClaims{ID: v.RouteID, Port: v.Port, Expires: v.ExpiresUnix}
			if got := routetoken.FormatExpires(v.ExpiresUnix); got != v.ExpiresB36 {
				t.Errorf("FormatExpires = %q, want %q", got, v.ExpiresB36)
			}
			if got := string(routetoken.Canonical(c)); got != v.Canonical {
				t.Errorf("Canonical = %q, want %q", got, v.Canonical)
			}
			tok, err := routetoken.SignShort(secret(t, v.SecretBase64), v.KeyID, c)
			if err != nil || tok != v.Token {
				t.Fatalf("SignShort = %q, %v; want %q", tok, err, v.Token)
			}
			p, err := routetoken.ParseShort(v.Token)
			if err != nil {
				t.Fatal(err)
			}
			want := routetoken.ShortToken{ShortClaims: c, KeyID: v.KeyID, Signature: v.Signature[:8]}
			if p != want {
				t.Errorf("ParseShort = %+v, want %+v", p, want)
			}
			if p.Signature+p.KeyID != v.Signature {
				t.Errorf("signature %q%q, want %q", p.Signature, p.KeyID, v.Signature)
			}
			exp, err := routetoken.ParseExpires(v.ExpiresB36)
			if err != nil || exp != v.ExpiresUnix {
				t.Errorf("ParseExpires = %d, %v; want %d", exp, err, v.ExpiresUnix)
			}
		})
	}
}

// TestKeyRing_VerifyShort_Vectors verifies the vectors whose secrets a
// key ring accepts (at least 16 bytes), at and after their expiry.
func TestKeyRing_VerifyShort_Vectors(t *testing.T) {
	n := 0
	for _, v := range shortVectors(t) {
		s := secret(t, v.SecretBase64)
		if len(s) < routetoken.MinSecretBytes {
			continue
		}
		n++
		t.Run(v.Name, func(t *testing.T) {
			ring, err := routetoken.NewKeyRing(v.KeyID, routetoken.Key{ID: v.KeyID, Secret: s})
			if err != nil {
				t.Fatal(err)
			}
			at := unix(int64(min(v.ExpiresUnix, math.MaxInt64)))
			got, err := ring.VerifyShort(v.Token, v.RouteID, v.Port, at)
			if err != nil || got.Expires != v.ExpiresUnix || got.KeyID != v.KeyID {
				t.Fatalf("VerifyShort at expiry = %+v, %v", got, err)
			}
			if v.ExpiresUnix < math.MaxInt64 {
				if _, err := ring.VerifyShort(v.Token, v.RouteID, v.Port, at.Add(time.Second)); !errors.Is(err, routetoken.ErrExpired) {
					t.Fatalf("one second after expiry: %v, want ErrExpired", err)
				}
			}
			if tok, err := ring.SignShort(routetoken.ShortClaims{ID: v.RouteID, Port: v.Port, Expires: v.ExpiresUnix}); err != nil || tok != v.Token {
				t.Fatalf("KeyRing.SignShort = %q, %v; want %q", tok, err, v.Token)
			}
		})
	}
	if n < 2 {
		t.Fatalf("only %d vectors with secrets of %d bytes or more", n, routetoken.MinSecretBytes)
	}
}

func TestParseShort_Errors(t *testing.T) {
	const good = "backend-plugin-4000-x2qxvk-192b2e29a"
	tests := []struct{ name, token string }{
		{"empty", ""},
		{"one part", "backendplugin"},
		{"three parts", "4000-x2qxvk-192b2e29a"},
		{"empty id", "-4000-x2qxvk-192b2e29a"},
		{"empty port", "backend-plugin--x2qxvk-192b2e29a"},
		{"empty expiry", "backend-plugin-4000--192b2e29a"},
		{"empty signature", "backend-plugin-4000-x2qxvk-"},
		{"uppercase expiry", "backend-plugin-4000-X2QXVK-192b2e29a"},
		{"expiry leading zero", "backend-plugin-4000-0x2qxvk-192b2e29a"},
		{"expiry zero padded", "fe-1-00-2f7838cdz"},
		{"expiry 14 characters", "backend-plugin-4000-10000000000000-192b2e29a"},
		{"expiry max uint64 + 1", "backend-plugin-4000-3w5e11264sgsg-192b2e29a"},
		{"expiry 13 z", "backend-plugin-4000-zzzzzzzzzzzzz-192b2e29a"},
		{"expiry bad character", "backend-plugin-4000-x2q_vk-192b2e29a"},
		{"expiry sign", "backend-plugin-4000-+x2qxvk-192b2e29a"},
		{"port leading zero", "backend-plugin-04000-x2qxvk-192b2e29a"},
		{"port zero", "backend-plugin-0-x2qxvk-192b2e29a"},
		{"port 65536", "backend-plugin-65536-x2qxvk-192b2e29a"},
		{"port six digits", "backend-plugin-100000-x2qxvk-192b2e29a"},
		{"port not decimal", "backend-plugin-4a00-x2qxvk-192b2e29a"},
		{"port sign", "backend-plugin-+4000-x2qxvk-192b2e29a"},
		{"signature uppercase hex", "backend-plugin-4000-x2qxvk-192B2E29a"},
		{"signature uppercase key id", "backend-plugin-4000-x2qxvk-192b2e29A"},
		{"signature not hex", "backend-plugin-4000-x2qxvk-g92b2e29a"},
		{"signature 8 characters", "backend-plugin-4000-x2qxvk-192b2e29"},
		{"signature 10 characters", "backend-plugin-4000-x2qxvk-192b2e29aa"},
		{"key id not alphanumeric", "backend-plugin-4000-x2qxvk-192b2e29_"},
		{"id with a dot", "backend.plugin-4000-x2qxvk-192b2e29a"},
		{"id with a space", "backend plugin-4000-x2qxvk-192b2e29a"},
		{"id with a slash", "backend/plugin-4000-x2qxvk-192b2e29a"},
		{"id with a newline", "backend\nplugin-4000-x2qxvk-192b2e29a"},
		{"id too long", strings.Repeat("a", routetoken.MaxIDLength+1) + "-4000-x2qxvk-192b2e29a"},
		{"token too long", strings.Repeat("a-", routetoken.MaxTokenLength) + good},
		{"trailing dash", good + "-"},
		{"leading space", " " + good},
		{"trailing newline", good + "\n"},
	}
	if _, err := routetoken.ParseShort(good); err != nil {
		t.Fatalf("good token: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := routetoken.ParseShort(tt.token)
			var e *routetoken.Error
			if !errors.As(err, &e) || e.Kind != routetoken.ErrMalformed || e.Status() != 400 {
				t.Fatalf("ParseShort(%q) = %v, want a 400 ErrMalformed", tt.token, err)
			}
			if strings.Contains(err.Error(), tt.token) && tt.token != "" {
				t.Errorf("error quotes the token: %v", err)
			}
		})
	}
}

func TestParseExpires(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want uint64
	}{{"0", 0}, {"1", 1}, {"z", 35}, {"10", 36}, {"x2qxvk", 2000000000}, {"3w5e11264sgsf", math.MaxUint64}} {
		if got, err := routetoken.ParseExpires(tt.in); err != nil || got != tt.want {
			t.Errorf("ParseExpires(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
		if got := routetoken.FormatExpires(tt.want); got != tt.in {
			t.Errorf("FormatExpires(%d) = %q, want %q", tt.want, got, tt.in)
		}
	}
	for _, in := range []string{"", "00", "01", "X", "-1", " 1", "1 ", "3w5e11264sgsg", "zzzzzzzzzzzzz", "0000000000001", "10000000000000"} {
		if _, err := routetoken.ParseExpires(in); !errors.Is(err, routetoken.ErrMalformed) {
			t.Errorf("ParseExpires(%q) = %v, want ErrMalformed", in, err)
		}
	}
}

func TestKeyRing_VerifyShort_Errors(t *testing.T) {
	v := shortVectors(t)[1] // dash-in-id: a 32-byte secret
	s := secret(t, v.SecretBase64)
	other := []byte("another-secret-of-32-bytes-long!")
	ring, err := routetoken.NewKeyRing("b", routetoken.Key{ID: "b", Secret: s}, routetoken.Key{ID: "c", Secret: other})
	if err != nil {
		t.Fatal(err)
	}
	claims := routetoken.ShortClaims{ID: v.RouteID, Port: v.Port, Expires: v.ExpiresUnix}
	unknown, _ := routetoken.SignShort(s, "d", claims)
	wrongKey, _ := routetoken.SignShort(other, "b", claims) // says b, signed with c's secret
	flipped := []byte(v.Token)
	flipped[len(flipped)-2] ^= 1 // last hex digit: 'b' → 'c'
	now := unix(int64(v.ExpiresUnix) - 60)
	tests := []struct {
		name, token, id string
		port            uint16
		now             time.Time
		want            error
	}{
		{"malformed", "my-signer-app-443-vbbc00", v.RouteID, v.Port, now, routetoken.ErrMalformed},
		{"other id", v.Token, "my-signer", v.Port, now, routetoken.ErrMismatch},
		{"other id with the dash moved", v.Token, "my-signer-app-443", v.Port, now, routetoken.ErrMismatch},
		{"other port", v.Token, v.RouteID, 4000, now, routetoken.ErrMismatch},
		{"unknown key", unknown, v.RouteID, v.Port, now, routetoken.ErrUnknownKey},
		{"wrong secret", wrongKey, v.RouteID, v.Port, now, routetoken.ErrBadSignature},
		{"flipped digit", string(flipped), v.RouteID, v.Port, now, routetoken.ErrBadSignature},
		{"expired", v.Token, v.RouteID, v.Port, unix(int64(v.ExpiresUnix) + 1), routetoken.ErrExpired},
		{"expired long ago", v.Token, v.RouteID, v.Port, unix(math.MaxInt64), routetoken.ErrExpired},
		// A forged signature on an expired token is a bad signature, not
		// an expiry: only authentic tokens are called expired.
		{"flipped and expired", string(flipped), v.RouteID, v.Port, unix(int64(v.ExpiresUnix) + 1), routetoken.ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ring.VerifyShort(tt.token, tt.id, tt.port, tt.now)
			if !errors.Is(err, tt.want) {
				t.Fatalf("VerifyShort = %v, want %v", err, tt.want)
			}
		})
	}
	// Key c verifies its own tokens: older keys are accepted.
	tok, _ := routetoken.SignShort(other, "c", claims)
	if _, err := ring.VerifyShort(tok, v.RouteID, v.Port, now); err != nil {
		t.Fatalf("token of the older key: %v", err)
	}
	// Before the epoch nothing has expired.
	if _, err := ring.VerifyShort(v.Token, v.RouteID, v.Port, unix(-5)); err != nil {
		t.Fatalf("before the epoch: %v", err)
	}
}

func TestSignShort_Errors(t *testing.T) {
	s := []byte("0123456789abcdef")
	for _, tt := range []struct {
		name  string
		keyID string
		c     routetoken.ShortClaims
	}{
		{"empty key id", "", routetoken.ShortClaims{ID: "a", Port: 1}},
		{"uppercase key id", "A", routetoken.ShortClaims{ID: "a", Port: 1}},
		{"two-character key id", "ab", routetoken.ShortClaims{ID: "a", Port: 1}},
		{"empty id", "a", routetoken.ShortClaims{Port: 1}},
		{"id with a dot", "a", routetoken.ShortClaims{ID: "a.b", Port: 1}},
		{"port zero", "a", routetoken.ShortClaims{ID: "a"}},
	} {
		if tok, err := routetoken.SignShort(s, tt.keyID, tt.c); !errors.Is(err, routetoken.ErrMalformed) {
			t.Errorf("%s: SignShort = %q, %v; want ErrMalformed", tt.name, tok, err)
		}
	}
}

func TestSignStrong_Vectors(t *testing.T) {
	for _, v := range strongVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			s := secret(t, v.SecretBase64)
			c := routetoken.StrongClaims{ID: v.RouteID, Method: v.Method, Path: v.Path, Expires: v.ExpiresUnix}
			tok, err := routetoken.SignStrong(s, v.KeyID, c)
			if err != nil || tok != v.Token {
				t.Fatalf("SignStrong = %q, %v; want %q", tok, err, v.Token)
			}
			p, err := routetoken.ParseStrong(tok)
			if err != nil || p.KeyID != v.KeyID || p.Expires != v.ExpiresUnix {
				t.Fatalf("ParseStrong = %+v, %v", p, err)
			}
			ring, err := routetoken.NewKeyRing(v.KeyID, routetoken.Key{ID: v.KeyID, Secret: s})
			if err != nil {
				t.Fatal(err)
			}
			at := unix(int64(min(v.ExpiresUnix, math.MaxInt64)))
			if _, err := ring.VerifyStrong(tok, v.RouteID, v.Method, v.Path, at); err != nil {
				t.Fatalf("VerifyStrong: %v", err)
			}
			for _, bad := range []struct{ id, method, path string }{
				{v.RouteID + "x", v.Method, v.Path},
				{v.RouteID, "PUT", v.Path},
				{v.RouteID, strings.ToLower(v.Method), v.Path},
				{v.RouteID, v.Method, v.Path + "x"},
				{v.RouteID, v.Method, "/other"},
			} {
				if _, err := ring.VerifyStrong(tok, bad.id, bad.method, bad.path, at); !errors.Is(err, routetoken.ErrBadSignature) {
					t.Errorf("VerifyStrong(%+v) = %v, want ErrBadSignature", bad, err)
				}
			}
			if v.ExpiresUnix < math.MaxInt64 {
				if _, err := ring.VerifyStrong(tok, v.RouteID, v.Method, v.Path, at.Add(time.Second)); !errors.Is(err, routetoken.ErrExpired) {
					t.Errorf("after expiry: %v, want ErrExpired", err)
				}
			}
		})
	}
}

func TestParseStrong_Errors(t *testing.T) {
	const good = "s1.b.vbbc00.K_oLtGohLZoebBE8BQ0j-8CmM_8G7Jvwq3Z78hJTZgA"
	if _, err := routetoken.ParseStrong(good); err != nil {
		t.Fatal(err)
	}
	mac := good[len("s1.b.vbbc00."):]
	tests := []struct{ name, token string }{
		{"empty", ""},
		{"other version", "s2.b.vbbc00." + mac},
		{"uppercase version", "S1.b.vbbc00." + mac},
		{"no key id", "s1..vbbc00." + mac},
		{"uppercase key id", "s1.B.vbbc00." + mac},
		{"two-character key id", "s1.bb.vbbc00." + mac},
		{"no expiry", "s1.b.." + mac},
		{"expiry leading zero", "s1.b.0vbbc00." + mac},
		{"expiry overflow", "s1.b.3w5e11264sgsg." + mac},
		{"no MAC", "s1.b.vbbc00."},
		{"short MAC", "s1.b.vbbc00." + mac[1:]},
		{"long MAC", "s1.b.vbbc00." + mac + "A"},
		{"padded MAC", "s1.b.vbbc00." + mac + "="},
		{"standard base64 MAC", "s1.b.vbbc00." + strings.NewReplacer("_", "/", "-", "+").Replace(mac)},
		{"non-zero trailing bits", "s1.b.vbbc00." + mac[:42] + "B"},
		{"extra part", "s1.b.vbbc00.x." + mac},
		{"too long", good + strings.Repeat("A", routetoken.MaxTokenLength)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := routetoken.ParseStrong(tt.token); !errors.Is(err, routetoken.ErrMalformed) {
				t.Fatalf("ParseStrong(%q) = %v, want ErrMalformed", tt.token, err)
			}
		})
	}
}

func TestSignStrong_Errors(t *testing.T) {
	s := []byte("0123456789abcdef")
	ok := routetoken.StrongClaims{ID: "fe", Method: "GET", Path: "/api"}
	if _, err := routetoken.SignStrong(s, "a", ok); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		keyID string
		edit  func(*routetoken.StrongClaims)
	}{
		{"bad key id", "-", func(*routetoken.StrongClaims) {}},
		{"bad id", "a", func(c *routetoken.StrongClaims) { c.ID = "a b" }},
		{"empty method", "a", func(c *routetoken.StrongClaims) { c.Method = "" }},
		{"method with a space", "a", func(c *routetoken.StrongClaims) { c.Method = "G T" }},
		{"long method", "a", func(c *routetoken.StrongClaims) { c.Method = strings.Repeat("G", routetoken.MaxMethodLength+1) }},
		{"empty path", "a", func(c *routetoken.StrongClaims) { c.Path = "" }},
		{"relative path", "a", func(c *routetoken.StrongClaims) { c.Path = "api" }},
		{"trailing slash", "a", func(c *routetoken.StrongClaims) { c.Path = "/api/" }},
		{"dot dot", "a", func(c *routetoken.StrongClaims) { c.Path = "/api/../x" }},
		{"double slash", "a", func(c *routetoken.StrongClaims) { c.Path = "//api" }},
		{"control character", "a", func(c *routetoken.StrongClaims) { c.Path = "/api\n" }},
		{"long path", "a", func(c *routetoken.StrongClaims) { c.Path = "/" + strings.Repeat("a", routetoken.MaxPathLength) }},
	}
	for _, tt := range tests {
		c := ok
		tt.edit(&c)
		if tok, err := routetoken.SignStrong(s, tt.keyID, c); !errors.Is(err, routetoken.ErrMalformed) {
			t.Errorf("%s: SignStrong = %q, %v; want ErrMalformed", tt.name, tok, err)
		}
	}
}

func TestError(t *testing.T) {
	tests := []struct {
		kind   error
		status int
	}{
		{routetoken.ErrMissing, 401},
		{routetoken.ErrMalformed, 400},
		{routetoken.ErrExpired, 401},
		{routetoken.ErrUnknownKey, 401},
		{routetoken.ErrBadSignature, 401},
		{routetoken.ErrMismatch, 401},
		{routetoken.ErrAccessDenied, 401},
		{routetoken.ErrThrottled, 429},
	}
	descs := map[string]bool{}
	for _, tt := range tests {
		e := &routetoken.Error{Kind: tt.kind, Detail: "x"}
		if e.Status() != tt.status {
			t.Errorf("%v: status %d, want %d", tt.kind, e.Status(), tt.status)
		}
		if !errors.Is(e, tt.kind) || !strings.HasPrefix(e.Error(), "routetoken: ") || !strings.HasSuffix(e.Error(), ": x") {
			t.Errorf("%v: Error() = %q", tt.kind, e.Error())
		}
		if e.Description() == "" {
			t.Errorf("%v: no description", tt.kind)
		}
		descs[e.Description()] = true
	}
	// Unknown key, bad signature and mismatch look the same to a client.
	if len(descs) != 6 {
		t.Errorf("%d distinct descriptions, want 6", len(descs))
	}
}
