package oidc

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// claimPath names a claim: the whole setting as a top-level claim name,
// else its dot-separated segments as a path into nested objects.
type claimPath struct {
	name     string
	segments []string
}

// parseClaimPath checks a RolesClaim or ScopesClaim setting; empty means
// def.
func parseClaimPath(s, def string) (claimPath, error) {
	if s == "" {
		s = def
	}
	if len(s) > maxClaimPath {
		return claimPath{}, fmt.Errorf("longer than %d bytes", maxClaimPath)
	}
	segs := strings.Split(s, ".")
	for _, seg := range segs {
		if seg == "" {
			return claimPath{}, fmt.Errorf("%q has an empty path segment", s)
		}
	}
	return claimPath{name: s, segments: segs}, nil
}

// String returns the setting.
func (p claimPath) String() string { return p.name }

// strings returns the values of the claim in c: a JSON list of strings
// (other elements are ignored), or a string, which is split at spaces when
// split is set and else is one value. A missing claim or one of another
// type has no values.
func (p claimPath) strings(c map[string]json.RawMessage, split bool) []string {
	raw, ok := c[p.name]
	if !ok && len(p.segments) > 1 {
		raw, ok = p.walk(c)
	}
	if !ok {
		return nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if split {
			return strings.Fields(one)
		}
		return []string{one}
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		return nil
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		if json.Unmarshal(e, &one) == nil {
			out = append(out, one)
		}
	}
	return out
}

// walk follows the segments of p through nested objects.
func (p claimPath) walk(c map[string]json.RawMessage) (json.RawMessage, bool) {
	obj := c
	for i, seg := range p.segments {
		raw, ok := obj[seg]
		if !ok {
			return nil, false
		}
		if i == len(p.segments)-1 {
			return raw, true
		}
		obj = nil
		if json.Unmarshal(raw, &obj) != nil || obj == nil {
			return nil, false
		}
	}
	return nil, false
}

// ParseAllowlists reads the JSON text of an oidc parser's ALLOWLIST
// setting: an object mapping each allowlist name to a rule object with a
// "roles" list, a "scopes" list, or both, such as
//
//	{"component": {"roles": ["oso-admin"], "scopes": ["oso.documents"]}}
//
// A token meets a rule when it has any of its roles or any of its scopes.
// A null list counts as absent. Unknown fields, other shapes, a name given
// twice, a rule without roles and scopes (or null), empty values, scopes
// with spaces and data after the object are errors. {} is valid and admits
// no one. The result is ready for Options.Allowlists.
func ParseAllowlists(text string) (map[string]Rule, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.DisallowUnknownFields()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if tok != json.Delim('{') {
		return nil, errors.New(`must be a JSON object of allowlist names to rules such as {"roles": […], "scopes": […]}`)
	}
	out := make(map[string]Rule)
	total := 0
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("invalid JSON: %w", err)
		}
		name := tok.(string) // object keys are strings
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("allowlist %.64q is given twice", name)
		}
		if len(name) > maxAllowlistName || name == "" {
			return nil, fmt.Errorf("allowlist name %.64q is empty or longer than %d bytes", name, maxAllowlistName)
		}
		var raw struct {
			Roles  *[]*string `json:"roles"`
			Scopes *[]*string `json:"scopes"`
		}
		if err := dec.Decode(&raw); err != nil {
			var typeErr *json.UnmarshalTypeError
			if errors.As(err, &typeErr) {
				return nil, fmt.Errorf(`allowlist %.64q: must be an object such as {"roles": ["oso-admin"], "scopes": ["oso.documents"]}, each a list of strings`, name)
			}
			return nil, fmt.Errorf("allowlist %.64q: %w", name, err)
		}
		var r Rule
		for _, f := range []struct {
			field string
			in    *[]*string
			out   *[]string
		}{{"roles", raw.Roles, &r.Roles}, {"scopes", raw.Scopes, &r.Scopes}} {
			if f.in == nil { // absent or null
				continue
			}
			for i, v := range *f.in {
				switch {
				case v == nil || *v == "":
					return nil, fmt.Errorf("allowlist %.64q: %s[%d] must be a non-empty string", name, f.field, i)
				case f.field == "scopes" && strings.ContainsAny(*v, " \t\r\n"):
					return nil, fmt.Errorf("allowlist %.64q: %s[%d] contains a space", name, f.field, i)
				}
				*f.out = append(*f.out, *v)
			}
		}
		if len(r.Roles) == 0 && len(r.Scopes) == 0 {
			return nil, fmt.Errorf(`allowlist %.64q lists no role and no scope, so it would admit no one; give "roles" or "scopes"`, name)
		}
		if total += len(r.Roles) + len(r.Scopes); total > maxRuleEntries {
			return nil, fmt.Errorf("more than %d roles and scopes", maxRuleEntries)
		}
		out[name] = r
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("invalid JSON: data after the object")
	}
	return out, nil
}
