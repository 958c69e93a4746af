package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/osohost/osohost/host/pki"
)

// ComponentAllowlist is the allowlist the built-in routes require.
const ComponentAllowlist = "component"

// Bounds of one ALLOWLIST value.
const (
	maxAllowlistNames   = 1 << 10
	maxAllowlistEntries = 1 << 16 // over all names
	maxAllowlistName    = 256     // bytes
	maxEntryProblems    = 10      // reported per variable, then a count
)

// ParserType is the type of an authentication parser (AUTH__PARSERS__<n>__TYPE).
type ParserType string

// Parser types. The framework's name of the mtls parser,
// "oso.framework.auth.mtls", is accepted too.
const (
	// ParserMTLS authenticates clients by the fingerprint of their
	// certificate's key, looked up in named allowlists.
	ParserMTLS ParserType = "mtls"
	// ParserOIDC is reserved for bearer tokens; this build rejects it.
	ParserOIDC ParserType = "oidc"
)

// Parser is one AUTH__PARSERS__<n> entry.
type Parser struct {
	Type ParserType
	// Allowlists maps an allowlist name, matched exactly (case included),
	// to its fingerprints (AUTH__PARSERS__<n>__ALLOWLIST). Set for
	// [ParserMTLS]; must not be modified.
	Allowlists map[string]Allowlist
	// OIDC holds the fields of an [ParserOIDC] parser.
	OIDC *OIDC
}

// Allowlist returns the allowlist called name; names match exactly.
func (p Parser) Allowlist(name string) (Allowlist, bool) {
	a, ok := p.Allowlists[name]
	return a, ok
}

// Allowlist is an immutable set of client key fingerprints: SHA-256
// digests of OpenSSH public key encodings, as pki.Fingerprint computes them
// and `ssh-keygen -lf` prints them. Fingerprints are public; an Allowlist
// may be printed and logged. The zero value is empty. Safe for concurrent
// use.
type Allowlist struct {
	list [][32]byte            // in the order given, without repeats
	set  map[[32]byte]struct{} // the same
}

// NewAllowlist returns an allowlist of fps; repeats are dropped.
func NewAllowlist(fps ...[32]byte) Allowlist {
	var a Allowlist
	for _, fp := range fps {
		a.add(fp)
	}
	return a
}

// add adds fp and reports whether it was new. Only constructors call it.
func (a *Allowlist) add(fp [32]byte) bool {
	if _, dup := a.set[fp]; dup {
		return false
	}
	if a.set == nil {
		a.set = make(map[[32]byte]struct{})
	}
	a.set[fp] = struct{}{}
	a.list = append(a.list, fp)
	return true
}

// Contains reports whether fp is in the allowlist.
func (a Allowlist) Contains(fp [32]byte) bool {
	_, ok := a.set[fp]
	return ok
}

// Len returns the number of fingerprints.
func (a Allowlist) Len() int { return len(a.list) }

// Fingerprints returns a copy of the fingerprints, in the order given.
func (a Allowlist) Fingerprints() [][32]byte {
	return append([][32]byte(nil), a.list...)
}

// Strings returns the fingerprints as `ssh-keygen -lf` prints them.
func (a Allowlist) Strings() []string {
	out := make([]string, len(a.list))
	for i, fp := range a.list {
		out[i] = pki.FormatFingerprint(fp)
	}
	return out
}

// MarshalJSON writes the fingerprints as a JSON list of strings.
func (a Allowlist) MarshalJSON() ([]byte, error) { return json.Marshal(a.Strings()) }

// MarshalYAML writes the fingerprints as a YAML list of strings.
func (a Allowlist) MarshalYAML() (any, error) { return a.Strings(), nil }

// allowlistResult is what parseAllowlists finds in one ALLOWLIST value.
type allowlistResult struct {
	lists  map[string]Allowlist
	names  []string // in the order given
	errs   []string
	warns  []string
	failed int // entry problems, of which the first maxEntryProblems are in errs
}

func (r *allowlistResult) entryProblem(name string, i int, msg string) {
	r.failed++
	if r.failed <= maxEntryProblems {
		r.errs = append(r.errs, fmt.Sprintf("%s[%d]: %s", quote(truncate(name, maxNameInText)), i, msg))
	}
}

// parseAllowlists reads an ALLOWLIST value: JSON text (from the
// environment) or a mapping (from YAML or a whole-section JSON value) of
// allowlist names to lists of fingerprints. The JSON must be one object
// whose values are lists of strings: not null, not a list, nothing after
// it. {} is valid. A name given twice keeps its last list, as in the
// framework, with a warning. Entries are checked by pki.ParseFingerprint;
// problems name the allowlist and the entry's index, never its text.
func parseAllowlists(v any) allowlistResult {
	r := allowlistResult{lists: make(map[string]Allowlist)}
	switch x := v.(type) {
	case string:
		r.readJSON(x)
	default:
		m, ok := asMap(v)
		if !ok {
			r.errs = append(r.errs, fmt.Sprintf("must be a JSON object of allowlist names to lists of fingerprints, not %s", describe(v)))
			break
		}
		names := make([]string, 0, len(m))
		for name := range m {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			l, ok := m[name].([]any)
			if !ok {
				r.errs = append(r.errs, fmt.Sprintf("allowlist %s must be a list of fingerprints, not %s", quote(name), describe(m[name])))
				continue
			}
			var entries []string
			for i, e := range l {
				s, ok := e.(string)
				if !ok {
					r.entryProblem(name, i, "must be a string, not "+describe(e))
					continue
				}
				entries = append(entries, s)
			}
			if !r.addList(name, entries) {
				break
			}
		}
	}
	if r.failed > maxEntryProblems {
		r.errs = append(r.errs, fmt.Sprintf("and %d more invalid entries", r.failed-maxEntryProblems))
	}
	return r
}

// readJSON parses text token by token, to reject every shape but an object
// of lists of strings and to bound what it keeps.
func (r *allowlistResult) readJSON(text string) {
	dec := json.NewDecoder(strings.NewReader(text))
	fail := func(err error) {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		r.errs = append(r.errs, "invalid JSON: "+jsonError(err))
	}
	tok, err := dec.Token()
	if err != nil {
		fail(err)
		return
	}
	if tok != json.Delim('{') {
		r.errs = append(r.errs, fmt.Sprintf("must be a JSON object of allowlist names to lists of fingerprints, not %s", jsonKind(tok)))
		return
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			fail(err)
			return
		}
		name := tok.(string) // object keys are strings
		if tok, err = dec.Token(); err != nil {
			fail(err)
			return
		}
		if tok != json.Delim('[') {
			r.errs = append(r.errs, fmt.Sprintf("allowlist %s must be a list of fingerprints, not %s", quote(name), jsonKind(tok)))
			return
		}
		var entries []string
		for i := 0; dec.More(); i++ {
			tok, err := dec.Token()
			if err != nil {
				fail(err)
				return
			}
			s, ok := tok.(string)
			if !ok {
				r.errs = append(r.errs, fmt.Sprintf("%s[%d]: must be a string, not %s", quote(truncate(name, maxNameInText)), i, jsonKind(tok)))
				return
			}
			if len(entries) == maxAllowlistEntries {
				r.errs = append(r.errs, fmt.Sprintf("more than %d fingerprints", maxAllowlistEntries))
				return
			}
			entries = append(entries, s)
		}
		if _, err := dec.Token(); err != nil { // the closing ']'
			fail(err)
			return
		}
		if !r.addList(name, entries) {
			return
		}
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		fail(err)
		return
	}
	if _, err := dec.Token(); err != io.EOF {
		r.errs = append(r.errs, "invalid JSON: data after the object")
	}
}

// jsonKind names what a JSON token starts.
func jsonKind(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '[':
			return "a list"
		case '{':
			return "an object"
		}
	case nil:
		return "null"
	}
	return describe(tok)
}

// addList checks and stores one allowlist; false means a bound was hit and
// parsing stops.
func (r *allowlistResult) addList(name string, entries []string) bool {
	total := len(entries)
	for _, l := range r.lists {
		total += l.Len()
	}
	switch {
	case len(name) > maxAllowlistName:
		r.errs = append(r.errs, fmt.Sprintf("allowlist name %s is longer than %d bytes", quote(name), maxAllowlistName))
		return false
	case len(r.lists) >= maxAllowlistNames:
		r.errs = append(r.errs, fmt.Sprintf("more than %d allowlists", maxAllowlistNames))
		return false
	case total > maxAllowlistEntries:
		r.errs = append(r.errs, fmt.Sprintf("more than %d fingerprints", maxAllowlistEntries))
		return false
	}
	if _, dup := r.lists[name]; dup {
		r.warns = append(r.warns, fmt.Sprintf("allowlist %s is given twice; the last one counts", quote(truncate(name, maxNameInText))))
	} else {
		r.names = append(r.names, name)
	}
	var a Allowlist
	first := make(map[[32]byte]int)
	for i, e := range entries {
		fp, err := pki.ParseFingerprint(e)
		if err != nil {
			r.entryProblem(name, i, strings.TrimPrefix(err.Error(), pki.ErrInvalidFingerprint.Error()+": "))
			continue
		}
		if !a.add(fp) {
			r.warns = append(r.warns, fmt.Sprintf("%s[%d] repeats entry %d", quote(truncate(name, maxNameInText)), i, first[fp]))
			continue
		}
		first[fp] = i
	}
	r.lists[name] = a
	return true
}
