package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/osohost/osohost/host/auth/routetoken"
)

// routeVector is one OSEP-0011 vector, or a strong one (with Method and
// Path).
type routeVector struct {
	Name         string `json:"name"`
	KeyID        string `json:"key_id"`
	SecretBase64 string `json:"secret_base64"`
	RouteID      string `json:"route_id"`
	Port         uint16 `json:"port"`
	Method       string `json:"method"`
	Path         string `json:"path"`
	ExpiresUnix  uint64 `json:"expires_unix"`
	Token        string `json:"token"`
}

func routeVectors(t *testing.T, file string) map[string]routeVector {
	t.Helper()
	b, err := os.ReadFile("../../host/auth/routetoken/testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	var vs []routeVector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	m := map[string]routeVector{}
	for _, v := range vs {
		m[v.Name] = v
	}
	return m
}

// runRoute calls cmdRoute as the command table would.
func runRoute(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = cmdRoute(context.Background(), args, env, &out, &errb)
	return code, out.String(), errb.String()
}

func u64(n uint64) string { return strconv.FormatUint(n, 10) }

func TestCLI_RouteSign_Vectors(t *testing.T) {
	for _, v := range routeVectors(t, "route-signatures-osep0011.json") {
		t.Run(v.Name, func(t *testing.T) {
			args := []string{"sign", "--id", v.RouteID, "--port", strconv.Itoa(int(v.Port)), "--expires", u64(v.ExpiresUnix), "--key-id", v.KeyID, "--secret", v.SecretBase64}
			code, out, errs := runRoute(t, nil, args...)
			if code != 0 {
				t.Fatalf("sign: %d %s", code, errs)
			}
			lines := strings.Split(out, "\n")
			if lines[0] != v.Token {
				t.Fatalf("token %q, want %q\n%s", lines[0], v.Token, out)
			}
			for _, want := range []string{
				"header:  X-OSO-Route-Token: " + v.Token,
				"path:    /" + v.Token + "/",
				"host:    " + v.Token + ".",
				", key " + v.KeyID,
			} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			secretLen := len(v.SecretBase64) * 3 / 4
			if short := secretLen < routetoken.MinSecretBytes+2; short != strings.Contains(errs, "warning") {
				t.Errorf("secret of about %d bytes, stderr %q", secretLen, errs)
			}
			if strings.Contains(out+errs, v.SecretBase64) {
				t.Error("the secret was printed")
			}
			code, out, _ = runRoute(t, nil, append(args, "-q")...)
			if code != 0 || out != v.Token+"\n" {
				t.Errorf("-q: %d %q", code, out)
			}
		})
	}
}

// keyRingEnv is a ROUTE_TOKENS__KEYS holding the vector keys that a key
// ring accepts, active activeID, under a variable name in another case.
func keyRingEnv(t *testing.T, active string) []string {
	t.Helper()
	vs := routeVectors(t, "route-signatures-osep0011.json")
	spec := `{"active":"` + active + `","keys":{"b":"` + vs["dash-in-id"].SecretBase64 + `","9":"` + vs["max-uint64"].SecretBase64 + `"}}`
	return []string{"PATH=/bin", "route_tokens__keys=" + spec}
}

func TestCLI_RouteSign_KeyRing(t *testing.T) {
	vs := routeVectors(t, "route-signatures-osep0011.json")
	for _, v := range []routeVector{vs["dash-in-id"], vs["max-uint64"]} {
		env := keyRingEnv(t, v.KeyID)
		code, out, errs := runRoute(t, env, "sign", "-q", "--id", v.RouteID, "--port", strconv.Itoa(int(v.Port)), "--expires", u64(v.ExpiresUnix))
		if code != 0 || out != v.Token+"\n" {
			t.Fatalf("%s: %d %q %s", v.Name, code, out, errs)
		}
		if strings.Contains(out+errs, v.SecretBase64) {
			t.Error("the secret was printed")
		}
	}
	// --id, --port and the header name default to the environment.
	v := vs["dash-in-id"]
	env := append(keyRingEnv(t, "b"), "ROUTE_TOKENS__ID="+v.RouteID, "ROUTE_TOKENS__PORT=443", "ROUTE_TOKENS__HEADER=X-Route")
	code, out, errs := runRoute(t, env, "sign", "--expires", u64(v.ExpiresUnix))
	if code != 0 || !strings.HasPrefix(out, v.Token+"\n") || !strings.Contains(out, "header:  X-Route: "+v.Token) {
		t.Fatalf("defaults from the environment: %d %q %s", code, out, errs)
	}
}

func TestCLI_RouteSign_Strong(t *testing.T) {
	v := routeVectors(t, "route-tokens-strong.json")["documents-post"]
	code, out, errs := runRoute(t, keyRingEnv(t, "b"), "sign", "--strong", "--id", v.RouteID, "--method", strings.ToLower(v.Method), "--path", v.Path, "--expires", u64(v.ExpiresUnix))
	if code != 0 || !strings.HasPrefix(out, v.Token+"\n") {
		t.Fatalf("sign --strong: %d %q %s", code, out, errs)
	}
	for _, want := range []string{"path:    /" + v.Token + v.Path + "\n", "allows:  POST " + v.Path, "host:    (none"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// An explicit key gives the same token.
	code, out, _ = runRoute(t, nil, "sign", "-q", "--strong", "--id", v.RouteID, "--method", v.Method, "--path", v.Path, "--expires", u64(v.ExpiresUnix), "--key-id", v.KeyID, "--secret", v.SecretBase64)
	if code != 0 || out != v.Token+"\n" {
		t.Fatalf("explicit key: %d %q", code, out)
	}
}

// TestCLI_RouteSign_TTL bounds the expiry by clock readings taken around
// the command.
func TestCLI_RouteSign_TTL(t *testing.T) {
	before := time.Now().Add(15 * time.Minute).Unix()
	code, out, errs := runRoute(t, keyRingEnv(t, "b"), "sign", "-q", "--id", "fe", "--port", "4000", "--ttl", "15m")
	after := time.Now().Add(15 * time.Minute).Unix()
	if code != 0 {
		t.Fatalf("%d %s", code, errs)
	}
	tok, err := routetoken.ParseShort(strings.TrimSpace(out))
	if err != nil {
		t.Fatal(err)
	}
	if int64(tok.Expires) < before || int64(tok.Expires) > after {
		t.Fatalf("expires %d, want %d..%d", tok.Expires, before, after)
	}
}

func TestCLI_RouteVerify(t *testing.T) {
	short := routeVectors(t, "route-signatures-osep0011.json")
	strong := routeVectors(t, "route-tokens-strong.json")
	d, docs, basic := short["dash-in-id"], strong["documents-post"], short["basic"]
	env := keyRingEnv(t, "9")
	before, after := u64(d.ExpiresUnix-1), u64(d.ExpiresUnix+1)
	tests := []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{
		{"short", env, []string{d.Token, "--id", d.RouteID, "--port", "443", "--now", before}, 0, "ok: short token, key b, expires 2030-01-01T00:00:00Z"},
		{"short expired", env, []string{d.Token, "--id", d.RouteID, "--port", "443", "--now", after}, 1, "rejected (401): routetoken: route token expired"},
		{"short other port", env, []string{d.Token, "--id", d.RouteID, "--port", "444", "--now", before}, 1, "rejected (401)"},
		{"malformed", env, []string{"my-signer-app-443-0vbbc00-1bd2ab44b", "--id", d.RouteID, "--port", "443"}, 1, "rejected (400): routetoken: malformed route token: expiry has leading zeros"},
		{"strong below its path", env, []string{docs.Token, "--id", docs.RouteID, "--method", "post", "--path", docs.Path + "/x", "--now", before}, 0, "ok: strong token, key b"},
		{"strong other method", env, []string{docs.Token, "--id", docs.RouteID, "--method", "GET", "--path", docs.Path, "--now", before}, 1, "rejected (401): routetoken: bad signature"},
		{"explicit short secret", nil, []string{basic.Token, "--id", basic.RouteID, "--port", "4000", "--now", "0", "--key-id", "a", "--secret", basic.SecretBase64}, 0, "ok: short token, key a"},
		{"explicit short secret, wrong key", nil, []string{basic.Token, "--id", basic.RouteID, "--port", "4000", "--key-id", "a", "--secret", short["zero-expiry"].SecretBase64}, 1, "bad signature"},
		{"explicit short secret, other key id", nil, []string{basic.Token, "--id", basic.RouteID, "--port", "4000", "--key-id", "b", "--secret", basic.SecretBase64}, 1, "unknown key id"},
		{"explicit short secret, expired", nil, []string{basic.Token, "--id", basic.RouteID, "--port", "4000", "--key-id", "a", "--secret", basic.SecretBase64, "--now", u64(basic.ExpiresUnix + 1)}, 1, "expired"},
		{"explicit short secret, strong token", nil, []string{"s1.z.0." + strings.Repeat("A", 43), "--id", "fe", "--method", "GET", "--path", "/a/b", "--key-id", "z", "--secret", "eA=="}, 1, "bad signature"},
		{"strong without a path", env, []string{docs.Token, "--id", docs.RouteID, "--method", "POST"}, 2, "--path"},
		{"short without a port", env, []string{d.Token, "--id", d.RouteID}, 2, "--port"},
		{"no token", env, []string{"--id", d.RouteID}, 2, "one TOKEN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runRoute(t, tt.env, append([]string{"verify"}, tt.args...)...)
			if code != tt.code || !strings.Contains(out+errs, tt.want) {
				t.Fatalf("verify: %d, %q %q; want %d with %q", code, out, errs, tt.code, tt.want)
			}
		})
	}
}

func TestCLI_Route_Errors(t *testing.T) {
	env := keyRingEnv(t, "b")
	tests := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"no subcommand", env, nil, "usage: osohost route sign"},
		{"unknown subcommand", env, []string{"mint"}, "usage: osohost route sign"},
		{"unknown flag", env, []string{"sign", "--frobnicate"}, "flag provided but not defined"},
		{"no expiry", env, []string{"sign", "--id", "fe", "--port", "1"}, "--expires UNIX_SECONDS or --ttl"},
		{"both expiries", env, []string{"sign", "--id", "fe", "--port", "1", "--expires", "1", "--ttl", "1m"}, "not both"},
		{"negative ttl", env, []string{"sign", "--id", "fe", "--port", "1", "--ttl", "-1m"}, "positive"},
		{"bad expires", env, []string{"sign", "--id", "fe", "--port", "1", "--expires", "-1"}, "not Unix seconds"},
		{"expires overflow", env, []string{"sign", "--id", "fe", "--port", "1", "--expires", "18446744073709551616"}, "not Unix seconds"},
		{"no id", env, []string{"sign", "--port", "1", "--expires", "1"}, "--id must be"},
		{"bad id", env, []string{"sign", "--id", "a.b", "--port", "1", "--expires", "1"}, "--id must be"},
		{"port zero", env, []string{"sign", "--id", "fe", "--port", "0", "--expires", "1"}, "not a port"},
		{"port too large", env, []string{"sign", "--id", "fe", "--port", "65536", "--expires", "1"}, "not a port"},
		{"short without port", env, []string{"sign", "--id", "fe", "--expires", "1"}, "needs --port"},
		{"strong without method", env, []string{"sign", "--strong", "--id", "fe", "--path", "/", "--expires", "1"}, "--method and --path"},
		{"strong bad path", env, []string{"sign", "--strong", "--id", "fe", "--method", "GET", "--path", "/a/../b", "--expires", "1"}, "clean absolute path"},
		{"method without strong", env, []string{"sign", "--id", "fe", "--port", "1", "--method", "GET", "--expires", "1"}, "add --strong"},
		{"extra argument", env, []string{"sign", "--id", "fe", "--port", "1", "--expires", "1", "extra"}, "takes no arguments"},
		{"secret without key id", env, []string{"sign", "--id", "fe", "--port", "1", "--expires", "1", "--secret", "eA=="}, "together"},
		{"bad secret", env, []string{"sign", "--id", "fe", "--port", "1", "--expires", "1", "--key-id", "a", "--secret", "%%%"}, "not valid base64"},
		{"bad key id", env, []string{"sign", "--id", "fe", "--port", "1", "--expires", "1", "--key-id", "A", "--secret", "eA=="}, "key id must be"},
		{"no key", []string{"PATH=/bin"}, []string{"sign", "--id", "fe", "--port", "1", "--expires", "1"}, "set ROUTE_TOKENS__KEYS"},
		{"bad key ring", []string{"ROUTE_TOKENS__KEYS={\"active\":\"a\",\"keys\":{\"a\":\"c2VjcmV0LWtleS1vbmU=\"}}"}, []string{"sign", "--id", "fe", "--port", "1", "--expires", "1"}, "ROUTE_TOKENS__KEYS: routetoken: key \"a\": secret is 14 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runRoute(t, tt.env, tt.args...)
			if code != 2 || !strings.Contains(errs, tt.want) {
				t.Fatalf("%d, %q %q; want 2 with %q", code, out, errs, tt.want)
			}
			if out != "" {
				t.Errorf("stdout %q", out)
			}
			if strings.Contains(errs, "c2VjcmV0LWtleS1vbmU") || strings.Contains(errs, "secret-key-one") {
				t.Errorf("stderr shows a secret: %s", errs)
			}
		})
	}
}
