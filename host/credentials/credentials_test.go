package credentials_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/osohost/osohost/host/credentials"
)

const secret = "s3cr3t-token-value"

// TestCredential_Redacted: no fmt verb, slog handler or JSON encoding shows
// a token, whether the Credential is printed directly, by pointer or
// inside another value.
func TestCredential_Redacted(t *testing.T) {
	c := credentials.Credential{Token: credentials.NewToken(secret), TokenType: "Bearer", ExpiresAt: time.UnixMilli(1700000000123)}
	type holder struct {
		Cred  credentials.Credential
		Tok   credentials.Token
		inner credentials.Credential
	}
	h := holder{c, c.Token, c}
	var out bytes.Buffer
	for _, v := range []any{c, &c, c.Token, &c.Token, h, &h, []credentials.Credential{c}, map[string]credentials.Credential{"a": c}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%T", "%d"} {
			fmt.Fprintf(&out, verb+"\n", v)
		}
		fmt.Fprintln(&out, v)
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json.Marshal(%T): %v", v, err)
		}
		out.Write(b)
		slog.New(slog.NewJSONHandler(&out, nil)).Info("m", "v", v)
		slog.New(slog.NewTextHandler(&out, nil)).Info("m", "v", v)
	}
	if strings.Contains(out.String(), secret) {
		t.Fatalf("token printed:\n%s", out.String())
	}
	if !strings.Contains(out.String(), credentials.Redacted) || !strings.Contains(out.String(), "Bearer") {
		t.Fatalf("redacted form lacks the marker or the type:\n%s", out.String())
	}
	if c.Token.Reveal() != secret || c.Token.Len() != len(secret) || !c.Token.IsSet() {
		t.Fatal("Reveal does not return the token")
	}
	var j struct {
		Token       string `json:"token"`
		TokenType   string `json:"token_type"`
		ExpiresAtMS int64  `json:"expires_at_ms"`
	}
	b, _ := json.Marshal(c)
	if err := json.Unmarshal(b, &j); err != nil || j.Token != credentials.Redacted || j.TokenType != "Bearer" || j.ExpiresAtMS != 1700000000123 {
		t.Fatalf("JSON form %s: %v", b, err)
	}
}

func TestToken_Unset(t *testing.T) {
	var tok credentials.Token
	if tok.IsSet() || tok.String() != "" || tok.Reveal() != "" || credentials.NewToken("").IsSet() {
		t.Fatal("the zero Token is not the unset token")
	}
	var c credentials.Credential
	if c.ExpiresAtMS() != 0 || !strings.Contains(c.String(), "never") {
		t.Fatalf("zero Credential: %s, %d", c, c.ExpiresAtMS())
	}
}

func TestValidName(t *testing.T) {
	good := []string{"a", "A.b_c-9", strings.Repeat("x", credentials.MaxNameBytes)}
	bad := []string{"", strings.Repeat("x", credentials.MaxNameBytes+1), "a b", "a/b", "ä", "a\x00", "a:b", "*"}
	for _, n := range good {
		if !credentials.ValidName(n) {
			t.Errorf("ValidName(%q) = false", n)
		}
	}
	for _, n := range bad {
		if credentials.ValidName(n) {
			t.Errorf("ValidName(%q) = true", n)
		}
	}
}
