package host_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// TestDeps enforces the import rules of STYLE.md §2: imports flow one way,
// along the request path, and the ABI and guest SDK stay free of host code.
func TestDeps(t *testing.T) {
	const mod = "github.com/osohost/osohost/"
	out, err := exec.Command("go", "list", "-deps", "-json=ImportPath,Deps,Standard", "../...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	type pkg struct {
		ImportPath string
		Deps       []string
		Standard   bool
	}
	pkgs := map[string]pkg{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs[p.ImportPath] = p
	}
	rules := []struct {
		from      string   // package prefix (relative to the module)
		forbidden []string // prefixes it must not depend on
		stdOnly   bool     // may depend only on the standard library and allowed
		allowed   []string
	}{
		{from: "abi", stdOnly: true},
		{from: "guest-sdk/go", stdOnly: true, allowed: []string{mod + "abi"}},
		{from: "host/schema", stdOnly: true, allowed: []string{mod + "abi"}},
		{from: "host/pki", stdOnly: true},
		{from: "host/auth", forbidden: []string{mod + "host/api", mod + "host/plugin", mod + "host/frontdoor", mod + "host/config"}},
		{from: "host/plugin", forbidden: []string{mod + "host/api", mod + "host/auth", mod + "host/frontdoor", mod + "host/config"}},
		{from: "host/hostcall", forbidden: []string{mod + "host/api", mod + "host/auth", mod + "host/frontdoor", mod + "host/config"}},
		{from: "host/frontdoor", forbidden: []string{mod + "host/api", mod + "host/plugin", mod + "host/config"}},
		{from: "host/api", forbidden: []string{mod + "host/config", mod + "host/frontdoor"}},
		{from: "host", forbidden: []string{mod + "cmd", mod + "bench", mod + "examples"}},
	}
	checked := 0
	for path, p := range pkgs {
		rel, ok := strings.CutPrefix(path, mod)
		if !ok {
			continue
		}
		for _, r := range rules {
			if rel != r.from && !strings.HasPrefix(rel, r.from+"/") {
				continue
			}
			checked++
			for _, d := range p.Deps {
				if r.stdOnly {
					dp, known := pkgs[d]
					if known && dp.Standard || d == mod+r.from || strings.HasPrefix(d, mod+r.from+"/") || strings.HasPrefix(d, "internal/") || strings.HasPrefix(d, "vendor/") {
						continue
					}
					allowed := false
					for _, a := range r.allowed {
						if d == a || strings.HasPrefix(d, a+"/") {
							allowed = true
						}
					}
					if !allowed && !(known && dp.Standard) {
						t.Errorf("%s must use only the standard library, but depends on %s", rel, d)
					}
				}
				for _, f := range r.forbidden {
					if d == f || strings.HasPrefix(d, f+"/") {
						t.Errorf("%s must not depend on %s", rel, d)
					}
				}
			}
		}
	}
	if checked < 8 {
		t.Fatalf("only %d packages checked: the rules no longer match the tree", checked)
	}
}
