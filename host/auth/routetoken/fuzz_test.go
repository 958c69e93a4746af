package routetoken_test

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/osohost/osohost/host/auth/routetoken"
)

// fuzzRing holds the vector keys a ring accepts plus the test keys; its
// secrets are known, so an accepted token can be re-signed.
func fuzzRing(t testing.TB) (*routetoken.KeyRing, map[string][]byte) {
	secrets := map[string][]byte{"a": secretA, "c": secretB}
	for _, v := range shortVectors(t) {
		if s := secret(t, v.SecretBase64); len(s) >= routetoken.MinSecretBytes {
			secrets[v.KeyID] = s
		}
	}
	var keys []routetoken.Key
	for id, s := range secrets {
		keys = append(keys, routetoken.Key{ID: id, Secret: s})
	}
	ring, err := routetoken.NewKeyRing("a", keys...)
	if err != nil {
		t.Fatal(err)
	}
	return ring, secrets
}

// FuzzShort parses and verifies arbitrary short tokens. A token that
// parses must be in canonical form (the parse is one-to-one), and a token
// that verifies must be exactly what the signer produces for its claims.
func FuzzShort(f *testing.F) {
	ring, secrets := fuzzRing(f)
	for _, v := range shortVectors(f) {
		f.Add(v.Token, v.Port, int64(0))
		f.Add(v.Token, v.Port, int64(v.ExpiresUnix/2))
	}
	for _, s := range []string{"", "-", "---", "a-1-0-00000000a", "a-01-0-00000000a", "a-1-00-00000000a", "a-1-3w5e11264sgsg-00000000a", "a-b-c-d-e-f", "my-signer-app-443-vbbc00-1BD2AB44b"} {
		f.Add(s, uint16(1), int64(0))
	}
	f.Fuzz(func(t *testing.T, token string, port uint16, now int64) {
		id := "my-signer-app"
		p, err := routetoken.ParseShort(token)
		if err == nil {
			re := p.ID + "-" + strconv.Itoa(int(p.Port)) + "-" + routetoken.FormatExpires(p.Expires) + "-" + p.Signature + p.KeyID
			if re != token {
				t.Fatalf("ParseShort(%q) = %+v, which writes %q", token, p, re)
			}
			id = p.ID
		} else if !errors.Is(err, routetoken.ErrMalformed) {
			t.Fatalf("ParseShort(%q): %v is not ErrMalformed", token, err)
		}
		got, err := ring.VerifyShort(token, id, port, unix(now))
		if err != nil {
			var e *routetoken.Error
			if !errors.As(err, &e) {
				t.Fatalf("VerifyShort(%q): untyped error %v", token, err)
			}
			return
		}
		want, err := routetoken.SignShort(secrets[got.KeyID], got.KeyID, got.ShortClaims)
		if err != nil || want != token {
			t.Fatalf("accepted %q, but the signer writes %q (%v)", token, want, err)
		}
		if now > 0 && uint64(now) > got.Expires {
			t.Fatalf("accepted %q expired at %d, now %d", token, got.Expires, now)
		}
	})
}

// FuzzStrong parses and verifies arbitrary strong tokens for arbitrary
// methods and paths, with the same properties as FuzzShort.
func FuzzStrong(f *testing.F) {
	ring, secrets := fuzzRing(f)
	for _, v := range strongVectors(f) {
		f.Add(v.Token, v.Method, v.Path, int64(0))
	}
	for id, s := range secrets {
		tok, _ := routetoken.SignStrong(s, id, routetoken.StrongClaims{ID: "my-signer-app", Method: "GET", Path: "/api", Expires: 1 << 40})
		f.Add(tok, "GET", "/api", int64(1<<39))
	}
	for _, s := range []string{"", "s1.", "s1....", "s1.a.0.", "s1.a.0." + strings.Repeat("A", 43), "s1.a.00." + strings.Repeat("A", 43)} {
		f.Add(s, "GET", "/", int64(0))
	}
	f.Fuzz(func(t *testing.T, token, method, path string, now int64) {
		const id = "my-signer-app"
		p, err := routetoken.ParseStrong(token)
		if err == nil {
			re := "s1." + p.KeyID + "." + routetoken.FormatExpires(p.Expires) + "." + base64.RawURLEncoding.EncodeToString(p.MAC[:])
			if re != token {
				t.Fatalf("ParseStrong(%q) writes %q", token, re)
			}
		} else if !errors.Is(err, routetoken.ErrMalformed) {
			t.Fatalf("ParseStrong(%q): %v is not ErrMalformed", token, err)
		}
		got, err := ring.VerifyStrong(token, id, method, path, unix(now))
		if err != nil {
			var e *routetoken.Error
			if !errors.As(err, &e) {
				t.Fatalf("VerifyStrong(%q): untyped error %v", token, err)
			}
			return
		}
		want, err := routetoken.SignStrong(secrets[got.KeyID], got.KeyID, routetoken.StrongClaims{ID: id, Method: method, Path: path, Expires: got.Expires})
		if err != nil || want != token {
			t.Fatalf("accepted %q for %s %q, but the signer writes %q (%v)", token, method, path, want, err)
		}
	})
}

// FuzzCheck runs the verifier on arbitrary requests with the token in a
// header: an accepted token is one the signer produced for the component,
// and for a strong token, for the method and a prefix of the path.
func FuzzCheck(f *testing.F) {
	ring, secrets := fuzzRing(f)
	fx := newFixture(f)
	v, err := routetoken.New(routetoken.Options{Keys: ring, ID: testID, Port: testPort, Mode: routetoken.ModeBoth, MaxFailures: -1, Now: fx.clock.Now})
	if err != nil {
		f.Fatal(err)
	}
	short, _ := ring.SignShort(routetoken.ShortClaims{ID: testID, Port: testPort, Expires: fx.expires})
	strong, _ := ring.SignStrong(routetoken.StrongClaims{ID: testID, Method: "POST", Path: "/api/x", Expires: fx.expires})
	for _, tok := range []string{short, strong} {
		r := request("POST", "/api/x", hdr(routetoken.DefaultHeader, tok))
		if _, err := v.Check(r); err != nil {
			f.Fatalf("seed not accepted: %v", err)
		}
	}
	f.Add(short, "GET", "/")
	f.Add(strong, "POST", "/api/x/y/")
	f.Add(strong, "POST", "/api/x/../x")
	f.Add(strong, "POST", "/api%2Fx")
	f.Fuzz(func(t *testing.T, token, method, target string) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		r := &http.Request{Method: method, URL: u, Header: http.Header{}, RemoteAddr: "192.0.2.1:1"}
		r.Header.Set(routetoken.DefaultHeader, token)
		out, p, err := v.Authenticate(r)
		if err != nil {
			var e *routetoken.Error
			if !errors.As(err, &e) || out != nil {
				t.Fatalf("Authenticate: %v, %v", out, err)
			}
			return
		}
		if out.URL.Path != u.Path || out.Header.Get(routetoken.DefaultHeader) != "" {
			t.Fatalf("stripped request %v", out)
		}
		if strings.HasPrefix(p.Subject, "short") {
			st, _ := routetoken.ParseShort(token)
			if want, _ := routetoken.SignShort(secrets[st.KeyID], st.KeyID, st.ShortClaims); want != token || st.ID != testID || st.Port != testPort {
				t.Fatalf("accepted short %q, signer writes %q", token, want)
			}
			return
		}
		st, _ := routetoken.ParseStrong(token)
		for _, prefix := range prefixes(u.Path) {
			want, _ := routetoken.SignStrong(secrets[st.KeyID], st.KeyID, routetoken.StrongClaims{ID: testID, Method: method, Path: prefix, Expires: st.Expires})
			if want == token {
				return
			}
		}
		t.Fatalf("accepted strong %q for %s %q, which the signer wrote for no prefix", token, method, u.Path)
	})
}

// prefixes returns "/" and every prefix of p ending before a '/', and p
// without a trailing slash.
func prefixes(p string) []string {
	out := []string{"/"}
	p = strings.TrimSuffix(p, "/")
	for i := 1; i < len(p); i++ {
		if p[i] == '/' {
			out = append(out, p[:i])
		}
	}
	if p != "" {
		out = append(out, p)
	}
	return out
}

// FuzzCheckPath runs the verifier with the token in the path: it never
// panics, and what the plugin sees is a suffix of the requested path.
func FuzzCheckPath(f *testing.F) {
	ring, _ := fuzzRing(f)
	fx := newFixture(f)
	v, err := routetoken.New(routetoken.Options{Keys: ring, ID: testID, Port: testPort, Mode: routetoken.ModeBoth, Carrier: routetoken.CarrierPath, MaxFailures: -1, Now: fx.clock.Now})
	if err != nil {
		f.Fatal(err)
	}
	short, _ := ring.SignShort(routetoken.ShortClaims{ID: testID, Port: testPort, Expires: fx.expires})
	strong, _ := ring.SignStrong(routetoken.StrongClaims{ID: testID, Method: "GET", Path: "/api", Expires: fx.expires})
	f.Add("/" + short + "/api/x")
	f.Add("/" + strong + "/api/x?y")
	f.Add("/my-signer-app/443/vbbc00/" + short[len(short)-9:] + "/x")
	f.Add("/my-signer-app/443/vbbc00")
	f.Add("/" + short + "/a%2Fb")
	f.Fuzz(func(t *testing.T, target string) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		r := &http.Request{Method: "GET", URL: u, Header: http.Header{}, RemoteAddr: "192.0.2.1:1", RequestURI: target}
		out, err := v.Check(r)
		if err != nil {
			return
		}
		if !strings.HasSuffix(u.Path, out.URL.Path) && out.URL.Path != "/" {
			t.Fatalf("%q stripped to %q", u.Path, out.URL.Path)
		}
		if !strings.HasSuffix(u.EscapedPath(), out.URL.EscapedPath()) && out.URL.Path != "/" {
			t.Fatalf("%q stripped to %q", u.EscapedPath(), out.URL.EscapedPath())
		}
	})
}
