package oidc

import (
	"encoding/json"
	"testing"
)

// FuzzParseAllowlists checks that whatever ParseAllowlists accepts is a
// valid Options.Allowlists and survives a JSON round trip.
func FuzzParseAllowlists(f *testing.F) {
	for _, s := range []string{
		`{"component": {"roles": ["oso-admin"], "scopes": ["oso.documents"]}}`,
		`{}`, `{"a": {"roles": ["x"]}, "b": {"scopes": ["y", "z"]}}`, `{"a": {"roles": null}}`, `[]`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		lists, err := ParseAllowlists(text)
		if err != nil {
			return
		}
		a := &Authenticator{allow: make(map[string]rule)}
		if err := a.setAllowlists(lists); err != nil {
			t.Fatalf("accepted %q, but Options refuse it: %v", text, err)
		}
		b, err := json.Marshal(lists)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseAllowlists(string(b))
		if err != nil || len(again) != len(lists) {
			t.Fatalf("round trip of %s: %v, %v", b, again, err)
		}
	})
}

// FuzzClaimStrings checks that claim lookup never panics on any claims.
func FuzzClaimStrings(f *testing.F) {
	f.Add(`{"realm_access": {"roles": ["a"]}, "scope": "x y"}`, "realm_access.roles")
	f.Add(`{"a.b": 1, "a": {"b": [1, "x", null, {}]}}`, "a.b")
	f.Fuzz(func(t *testing.T, claims, path string) {
		var raw map[string]json.RawMessage
		if json.Unmarshal([]byte(claims), &raw) != nil {
			return
		}
		p, err := parseClaimPath(path, "roles")
		if err != nil {
			return
		}
		_ = p.strings(raw, false)
		_ = p.strings(raw, true)
	})
}
