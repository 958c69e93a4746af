package credentials_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/osohost/osohost/host/credentials"
	"github.com/osohost/osohost/host/credentials/credtest"
)

func TestParseStatic(t *testing.T) {
	const js = `{
		"api":   {"token": "t-api", "token_type": "Bearer", "expires_at_ms": 1700000000000, "scopes": ["read", "write"]},
		"plain": {"token": "t-plain"}
	}`
	const yml = `
api:
  token: t-api
  token_type: Bearer
  expires_at_ms: 1700000000000
  scopes: [read, write]
plain:
  token: t-plain
`
	for name, src := range map[string]string{"json": js, "yaml": yml} {
		t.Run(name, func(t *testing.T) {
			s, err := credentials.ParseStatic([]byte(src))
			if err != nil {
				t.Fatal(err)
			}
			c, err := s.Resolve(t.Context(), "api")
			if err != nil || c.Token.Reveal() != "t-api" || c.TokenType != "Bearer" || !c.ExpiresAt.Equal(time.UnixMilli(1700000000000)) {
				t.Fatalf("api = %v, %v", c, err)
			}
			c, err = s.Resolve(t.Context(), "plain")
			if err != nil || c.Token.Reveal() != "t-plain" || c.TokenType != "" || !c.ExpiresAt.IsZero() {
				t.Fatalf("plain = %v, %v", c, err)
			}
			if _, err := s.Resolve(t.Context(), "nope"); !errors.Is(err, credentials.ErrNotFound) {
				t.Fatalf("unknown name: %v", err)
			}
			infos, err := s.List(t.Context())
			want := []credentials.Info{{Name: "api", Scopes: []string{"read", "write"}}, {Name: "plain"}}
			if err != nil || !reflect.DeepEqual(infos, want) {
				t.Fatalf("List = %+v, %v", infos, err)
			}
		})
	}
}

func TestParseStatic_Errors(t *testing.T) {
	long := strings.Repeat("x", credentials.MaxTokenBytes+1)
	tests := []struct {
		name, src, want string
	}{
		{"bad name", `{"a b": {"token": "x"}}`, "name"},
		{"long name", `{"` + strings.Repeat("n", 129) + `": {"token": "x"}}`, "name"},
		{"empty token", `{"a": {"token": ""}}`, "empty token"},
		{"no token", `{"a": {}}`, "empty token"},
		{"token too long", `{"a": {"token": "` + long + `"}}`, "exceeds"},
		{"negative expiry", `{"a": {"token": "x", "expires_at_ms": -1}}`, "negative expiry"},
		{"bad token type", `{"a": {"token": "x", "token_type": "Bea rer"}}`, "token type"},
		{"long token type", `{"a": {"token": "x", "token_type": "` + strings.Repeat("B", 65) + `"}}`, "token type"},
		{"bad scope", `{"a": {"token": "x", "scopes": [""]}}`, "scope"},
		{"too many scopes", `{"a": {"token": "x", "scopes": [` + strings.Repeat(`"s",`, 64) + `"s"]}}`, "scopes"},
		{"unknown field", `{"a": {"token": "x", "tokn": "y"}}`, "unknown field"},
		{"duplicate name", `{"a": {"token": "x"}, "a": {"token": "y"}}`, "twice"},
		{"not an object", `[1]`, "invalid"},
		{"trailing data", `{"a": {"token": "x"}} {}`, "after the object"},
		{"truncated", `{"a": {"token": "x"`, "invalid JSON"},
		{"wrong type", `{"a": {"token": "x", "expires_at_ms": "soon"}}`, "expires_at_ms"},
		{"yaml unknown field", "a:\n  token: x\n  tokn: y\n", "not found"},
		{"yaml duplicate", "a:\n  token: x\na:\n  token: y\n", "already defined"},
		{"yaml not a mapping", "- a\n- b\n", "invalid YAML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := credentials.ParseStatic([]byte(tt.src))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestParseStatic_ErrorsHideTokens: a malformed file's errors never quote
// the token, whatever is wrong with it.
func TestParseStatic_ErrorsHideTokens(t *testing.T) {
	const tok = "leak-me-if-you-can"
	srcs := []string{
		`{"a b": {"token": "` + tok + `"}}`,
		`{"a": {"token": "` + tok + `", "token_type": "x y"}}`,
		`{"a": {"token": "` + tok + `", "x": 1}}`,
		`{"a": {"token": "` + tok + `" "x": 1}}`,
		`{"a": {"token": ["` + tok + `"]}}`,
		"a:\n  token: [" + tok + "]\n",
		"a:\n  token: " + tok + "\n  expires_at_ms: " + tok + "\n",
		"a:\n  token: " + tok + "\n  bogus: " + tok + "\n",
		"a:\n  token: \"" + tok + "\n",
	}
	for _, src := range srcs {
		_, err := credentials.ParseStatic([]byte(src))
		if err == nil {
			t.Fatalf("%q parsed", src)
		}
		if strings.Contains(err.Error(), tok) {
			t.Errorf("error for %q quotes the token: %v", src, err)
		}
	}
}

func TestLoadStatic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.yaml")
	os.WriteFile(p, []byte("a:\n  token: x\n"), 0o600)
	s, err := credentials.LoadStatic(p)
	if err != nil || s.Len() != 1 {
		t.Fatalf("LoadStatic = %v, %v", s, err)
	}
	big := filepath.Join(dir, "big.json")
	os.WriteFile(big, make([]byte, credentials.MaxStaticFileBytes+1), 0o600)
	if _, err := credentials.LoadStatic(big); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("oversized file: %v", err)
	}
	if _, err := credentials.LoadStatic(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("missing file loaded")
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"a": {}}`), 0o600)
	if _, err := credentials.LoadStatic(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("invalid file: error %v does not name it", err)
	}
	empty := filepath.Join(dir, "empty.yaml")
	os.WriteFile(empty, nil, 0o600)
	if s, err := credentials.LoadStatic(empty); err != nil || s.Len() != 0 {
		t.Fatalf("empty file: %v, %v", s, err)
	}
}

func TestDevStatic(t *testing.T) {
	s := credentials.DevStatic()
	infos, _ := s.List(context.Background())
	if len(infos) == 0 {
		t.Fatal("empty development set")
	}
	for _, in := range infos {
		c, err := s.Resolve(t.Context(), in.Name)
		if err != nil || !strings.HasPrefix(c.Token.Reveal(), "dev-fake-") {
			t.Errorf("%s: %v, %v: development tokens must start with dev-fake-", in.Name, c, err)
		}
	}
}

// FuzzParseStatic: whatever ParseStatic accepts holds only valid names and
// values within the limits, and survives a round trip through the JSON
// form.
func FuzzParseStatic(f *testing.F) {
	f.Add([]byte(`{"api": {"token": "t", "token_type": "Bearer", "expires_at_ms": 1700000000000, "scopes": ["read"]}}`))
	f.Add([]byte("api:\n  token: t\n  scopes: [a, b]\nother:\n  token: u\n"))
	f.Add([]byte(`{"a": {"token": "x"}, "a": {"token": "y"}}`))
	f.Add([]byte("{}"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := credentials.ParseStatic(b)
		if err != nil {
			return
		}
		infos, _ := s.List(context.Background())
		if len(infos) != s.Len() || len(infos) > credentials.MaxListEntries {
			t.Fatalf("%d infos for %d credentials", len(infos), s.Len())
		}
		again := map[string]credtest.Entry{}
		for i, in := range infos {
			if !credentials.ValidName(in.Name) || (i > 0 && infos[i-1].Name >= in.Name) {
				t.Fatalf("name %q invalid or out of order", in.Name)
			}
			c, err := s.Resolve(context.Background(), in.Name)
			if err != nil || !c.Token.IsSet() || c.Token.Len() > credentials.MaxTokenBytes || len(c.TokenType) > credentials.MaxTokenTypeBytes || c.ExpiresAtMS() < 0 {
				t.Fatalf("%s: %v, %v", in.Name, c, err)
			}
			again[in.Name] = credtest.Entry{Token: c.Token.Reveal(), TokenType: c.TokenType, ExpiresAtMS: c.ExpiresAtMS(), Scopes: in.Scopes}
		}
		j, err := json.Marshal(again)
		if err != nil {
			t.Fatal(err)
		}
		s2, err := credentials.ParseStatic(j)
		if err != nil {
			t.Fatalf("the JSON form does not parse: %v\n%s", err, j)
		}
		infos2, _ := s2.List(context.Background())
		if len(infos2) != len(infos) {
			t.Fatalf("round trip: %d credentials, want %d", len(infos2), len(infos))
		}
		for i := range infos {
			c1, _ := s.Resolve(context.Background(), infos[i].Name)
			c2, _ := s2.Resolve(context.Background(), infos[i].Name)
			if infos2[i].Name != infos[i].Name || !slices.Equal(infos2[i].Scopes, infos[i].Scopes) && len(infos[i].Scopes)+len(infos2[i].Scopes) > 0 ||
				c1.Token.Reveal() != c2.Token.Reveal() || c1.TokenType != c2.TokenType || !c1.ExpiresAt.Equal(c2.ExpiresAt) {
				t.Fatalf("round trip changed %s", infos[i].Name)
			}
		}
	})
}
