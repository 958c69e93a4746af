package credentials

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"

	"go.yaml.in/yaml/v3"
)

// MaxStaticFileBytes bounds a credentials file.
const MaxStaticFileBytes = 4 << 20

// Static is a [Provider] over a fixed set of credentials, read from a file
// ([LoadStatic]) or bytes ([ParseStatic]), or the development set
// ([DevStatic]). It is immutable and safe for concurrent use; to rotate
// tokens, load a new Static and swap it in.
type Static struct {
	m     map[string]staticEntry
	infos []Info // sorted by name
}

type staticEntry struct {
	cred   Credential
	scopes []string
}

var _ Provider = (*Static)(nil)

// fileEntry is one credential of a file.
type fileEntry struct {
	Token       string   `json:"token" yaml:"token"`
	TokenType   string   `json:"token_type" yaml:"token_type"`
	ExpiresAtMS int64    `json:"expires_at_ms" yaml:"expires_at_ms"`
	Scopes      []string `json:"scopes" yaml:"scopes"`
}

// LoadStatic reads a credentials file of at most [MaxStaticFileBytes]
// bytes and parses it with [ParseStatic]. Errors name the file and what is
// wrong, never a token.
func LoadStatic(path string) (*Static, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxStaticFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("credentials: %s: %w", path, err)
	}
	defer clear(data)
	if len(data) > MaxStaticFileBytes {
		return nil, fmt.Errorf("credentials: %s exceeds %d bytes", path, MaxStaticFileBytes)
	}
	s, err := ParseStatic(data)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return s, nil
}

// ParseStatic parses a set of credentials: a JSON object (when the first
// non-blank byte is '{') or else a YAML mapping, from name to
//
//	{"token": "…", "token_type": "Bearer", "expires_at_ms": 0, "scopes": ["…"]}
//
// token is required (1 to [MaxTokenBytes] bytes of UTF-8); token_type is
// optional (at most [MaxTokenTypeBytes] printable ASCII characters);
// expires_at_ms is Unix milliseconds, 0 or absent for no expiry; scopes is
// optional. Names must be valid ([ValidName]) and unique; there may be at
// most [MaxListEntries]; unknown fields are errors.
func ParseStatic(data []byte) (*Static, error) {
	if len(data) > MaxStaticFileBytes {
		return nil, fmt.Errorf("credentials: %d bytes exceed %d", len(data), MaxStaticFileBytes)
	}
	var (
		names   []string
		entries []fileEntry
		err     error
	)
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && t[0] == '{' {
		names, entries, err = parseJSON(data)
	} else {
		names, entries, err = parseYAML(data)
	}
	if err != nil {
		return nil, err
	}
	return newStatic(names, entries)
}

func newStatic(names []string, entries []fileEntry) (*Static, error) {
	if len(names) > MaxListEntries {
		return nil, fmt.Errorf("credentials: %d credentials exceed %d", len(names), MaxListEntries)
	}
	s := &Static{m: make(map[string]staticEntry, len(names)), infos: make([]Info, 0, len(names))}
	var errs []error
	for i, name := range names {
		e := entries[i]
		if !ValidName(name) {
			errs = append(errs, fmt.Errorf("credentials: name %s is not 1 to %d characters of [A-Za-z0-9._-]", quoteName(name), MaxNameBytes))
			continue
		}
		if _, dup := s.m[name]; dup {
			errs = append(errs, fmt.Errorf("credentials: %s is defined twice", quoteName(name)))
			continue
		}
		if err := checkValue(e.Token, e.TokenType, e.ExpiresAtMS); err != nil {
			errs = append(errs, fmt.Errorf("credentials: %s: %w", quoteName(name), err))
			continue
		}
		if err := checkScopes(e.Scopes); err != nil {
			errs = append(errs, fmt.Errorf("credentials: %s: %w", quoteName(name), err))
			continue
		}
		scopes := slices.Clone(e.Scopes)
		s.m[name] = staticEntry{cred: newCredential(e.Token, e.TokenType, e.ExpiresAtMS), scopes: scopes}
		s.infos = append(s.infos, Info{Name: name, Scopes: scopes})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	sortInfos(s.infos)
	return s, nil
}

// parseJSON decodes a JSON object of entries, keeping duplicates so that
// newStatic reports them.
func parseJSON(data []byte) ([]string, []fileEntry, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	fail := func(err error) ([]string, []fileEntry, error) {
		return nil, nil, fmt.Errorf("credentials: invalid JSON: %s", jsonError(data, err))
	}
	if t, err := dec.Token(); err != nil {
		return fail(err)
	} else if t != json.Delim('{') {
		return fail(errors.New("not an object"))
	}
	var names []string
	var entries []fileEntry
	for dec.More() {
		if len(names) >= MaxListEntries {
			return nil, nil, fmt.Errorf("credentials: more than %d credentials", MaxListEntries)
		}
		t, err := dec.Token()
		if err != nil {
			return fail(err)
		}
		name, _ := t.(string)
		var e fileEntry
		if err := dec.Decode(&e); err != nil {
			return fail(err)
		}
		names = append(names, name)
		entries = append(entries, e)
	}
	if _, err := dec.Token(); err != nil {
		return fail(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fail(errors.New("data after the object"))
	}
	return names, entries, nil
}

// jsonError describes a JSON decoding error with its line, without the
// values it may quote.
func jsonError(data []byte, err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at line %d", lineOf(data, se.Offset))
	case errors.As(err, &te):
		return fmt.Sprintf("line %d: field %q must be of type %s", lineOf(data, te.Offset), te.Field, te.Type)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of data"
	}
	// Unknown fields and structural errors name fields, not values.
	return redactQuoted(err.Error())
}

func lineOf(data []byte, off int64) int {
	off = min(max(off, 0), int64(len(data)))
	return 1 + bytes.Count(data[:off], []byte{'\n'})
}

// parseYAML decodes a YAML mapping of entries.
func parseYAML(data []byte) ([]string, []fileEntry, error) {
	var m map[string]*fileEntry
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, fmt.Errorf("credentials: invalid YAML: %s", redactQuoted(err.Error()))
	}
	if len(m) > MaxListEntries {
		return nil, nil, fmt.Errorf("credentials: %d credentials exceed %d", len(m), MaxListEntries)
	}
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	slices.Sort(names)
	entries := make([]fileEntry, len(names))
	for i, name := range names {
		if e := m[name]; e != nil {
			entries[i] = *e
		}
	}
	return names, entries, nil
}

// quotedValue matches the values YAML errors quote (`…`).
var quotedValue = regexp.MustCompile("`[^`]*`")

// redactQuoted hides the values a decoder's message quotes, which could be
// a token.
func redactQuoted(s string) string {
	return quotedValue.ReplaceAllString(s, "`…`")
}

// Resolve returns the named credential, or an error matching
// [ErrNotFound].
func (s *Static) Resolve(ctx context.Context, name string) (Credential, error) {
	if err := ctx.Err(); err != nil {
		return Credential{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	e, ok := s.m[name]
	if !ok {
		return Credential{}, fmt.Errorf("%w: %s", ErrNotFound, quoteName(name))
	}
	return e.cred, nil
}

// List returns the names and scopes of the set, sorted by name. The caller
// may modify the result.
func (s *Static) List(ctx context.Context) ([]Info, error) {
	out := make([]Info, len(s.infos))
	for i, in := range s.infos {
		out[i] = Info{Name: in.Name, Scopes: slices.Clone(in.Scopes)}
	}
	return out, nil
}

// Len returns the number of credentials in the set.
func (s *Static) Len() int { return len(s.infos) }

// Close does nothing: a Static holds no resources.
func (s *Static) Close() error { return nil }

//go:embed dev.json
var devCredentials []byte

// DevStatic returns the development set: a few credentials whose tokens
// say they are fake (each starts with "dev-fake-"), for `osohost run
// --dev`, examples and tests. Never use it in production.
func DevStatic() *Static {
	s, err := ParseStatic(devCredentials)
	if err != nil {
		panic("credentials: the embedded development set is invalid: " + err.Error())
	}
	return s
}
