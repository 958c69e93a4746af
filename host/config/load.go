package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
)

// Load builds the effective configuration from three sources, each
// overriding the one before, setting by setting:
//
//  1. the YAML file at path, of lowercase dotted keys (server.listen),
//     read strictly: an unknown key is an error. "" means no file.
//  2. environ, the process environment as os.Environ returns it. Only
//     variables whose first "__"-separated segment is one of osohost's
//     sections belong to it (APP, CERTS, LOGGING, PLUGIN, AUTH, NGINX,
//     GUNICORN, SERVER, POOL, LIMITS, MOCK, SIGNING, ADMIN, RELOAD, STATE,
//     CREDENTIALS, ROUTE_TOKENS); names are case-insensitive and
//     "__" nests (PLUGIN__MODE is plugin.mode). An unknown setting in these
//     sections is a warning, since the environment is shared.
//  3. flags, keyed by dotted keys ("plugin.application", "dev"), with
//     string or typed values (bool, int, time.Duration, slog.Level). An
//     unknown key is an error.
//
// A value that a later source overrides is never validated. Aliases of
// framework settings (NGINX__TIMEOUT, GUNICORN__WORKERS) are listed in
// aliases.go.
//
// Load returns warnings (one line each, naming the setting) for settings
// that are accepted but probably not what the operator meant. When any
// setting is missing or invalid it returns an *[Error] listing all of
// them, each named as [Problem] describes; messages never contain secrets.
// Load reads the file and checks whether a plugin path that looks like a
// Python import string exists; it touches nothing else outside its
// arguments, and is safe for concurrent use.
func Load(environ []string, path string, flags map[string]any) (*Config, []string, error) {
	p := &problems{}
	k := koanf.New(".")
	merge := func(s *source) {
		// Every key of s.flat is a schema path, so unflattening is exact.
		if err := k.Load(confmap.Provider(s.flat, "."), nil); err != nil {
			p.fail("config", err.Error())
		}
	}
	if path != "" {
		s := newSource(fileSource, p)
		s.readFile(path)
		merge(s)
	}
	s := newSource(envSource, p)
	s.readEnv(environ)
	merge(s)
	s = newSource(flagSource, p)
	s.readFlags(flags)
	merge(s)

	d := &decoder{settings: k.All(), p: p}
	cfg := d.config()
	if len(p.errs) > 0 {
		return nil, p.warns, &Error{Problems: p.errs}
	}
	return cfg, p.warns, nil
}

// problems collects errors and warnings in the order they are found.
type problems struct {
	errs  []Problem
	warns []string
}

func (p *problems) fail(name, msg string) {
	p.errs = append(p.errs, Problem{Name: name, Message: msg})
}

func (p *problems) warn(name, msg string) {
	p.warns = append(p.warns, name+": "+msg)
}

// setting is one value as a source gave it, with where it came from. Its
// fields are exported only so that koanf's deep copy keeps them.
type setting struct {
	// Raw is the value: a string from the environment, or whatever YAML,
	// a JSON value or a flag gave.
	Raw any
	// Name names the setting in messages (see [Problem.Name]).
	Name string
	// Env is true for settings from the environment: an unknown one is a
	// warning, not an error.
	Env bool
	// Via is the alias key the value was set through, or "".
	Via string
	// Depth orders settings from the environment: a variable with more
	// segments overrides a whole-section JSON value.
	Depth int
}

type sourceKind uint8

const (
	fileSource sourceKind = iota
	envSource
	flagSource
)

// source turns one source into a flat map of dotted schema keys to
// settings.
type source struct {
	kind sourceKind
	flat map[string]any
	p    *problems
}

func newSource(kind sourceKind, p *problems) *source {
	return &source{kind: kind, flat: make(map[string]any), p: p}
}

// origin says where a value came from: an environment variable (name, and
// depth, the length of the key path it stands for), or the file or flags
// (name empty, depth 0).
type origin struct {
	name  string
	depth int
}

// label names the setting at path for messages.
func (o origin) label(path []string) string {
	key := strings.Join(path, ".")
	switch {
	case o.name == "":
		return key
	case len(path) == o.depth:
		return o.name
	}
	return o.name + " (" + key + ")"
}

// unknown reports a setting that is not in the schema.
func (s *source) unknown(label string) {
	if s.kind == envSource {
		s.p.warn(label, "unknown setting, ignored")
		return
	}
	s.p.fail(label, "unknown setting")
}

// readFile reads a YAML file into s.
func (s *source) readFile(path string) {
	fi, err := os.Stat(path)
	if err == nil && fi.Size() > maxValueBytes {
		err = fmt.Errorf("larger than %d bytes", maxValueBytes)
	}
	var b []byte
	if err == nil {
		b, err = file.Provider(path).ReadBytes()
	}
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		s.p.fail(path, "cannot read the configuration file: "+err.Error())
		return
	}
	m, err := yaml.Parser().Unmarshal(b)
	if err != nil {
		s.p.fail(path, "invalid YAML: "+strings.TrimPrefix(err.Error(), "yaml: "))
		return
	}
	if m == nil { // an empty file
		return
	}
	s.put(nil, schema, m, origin{})
}

// readEnv reads the environment variables that belong to osohost into s.
// Variables are taken shallowest first, then by name, so that a variable
// overrides a whole-section JSON value of a shorter one, and conflicts are
// reported in a stable order.
func (s *source) readEnv(environ []string) {
	type envVar struct {
		name, value string
		path        []string
	}
	var vars []envVar
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			continue
		}
		lower := asciiLower(name)
		first, _, _ := strings.Cut(lower, "__")
		if n := schema.children[first]; n == nil || n.flagOnly {
			continue // not ours: app_name, HOME, …
		}
		path := strings.Split(strings.ReplaceAll(lower, "__", "."), ".")
		if slices.Contains(path, "") {
			s.p.warn(name, "malformed name (an empty segment), ignored")
			continue
		}
		vars = append(vars, envVar{name, value, path})
	}
	sort.SliceStable(vars, func(i, j int) bool {
		if len(vars[i].path) != len(vars[j].path) {
			return len(vars[i].path) < len(vars[j].path)
		}
		return vars[i].name < vars[j].name
	})
	for _, v := range vars {
		o := origin{name: v.name, depth: len(v.path)}
		n := schema
		for _, seg := range v.path {
			if n = n.child(seg); n == nil {
				break
			}
		}
		switch {
		case n == nil:
			s.unknown(v.name)
		case len(v.value) > maxValueBytes:
			s.p.fail(v.name, fmt.Sprintf("longer than %d bytes", maxValueBytes))
		case n.kind == leafNode:
			s.setLeaf(v.path, v.value, o)
		case len(v.path) == 1 && !strings.HasPrefix(strings.TrimSpace(v.value), "{"):
			// A variable named like a section, set by something else.
			s.p.warn(v.name, "not a JSON object, ignored (a whole-section value must be one)")
		default:
			val, err := decodeJSON(v.value)
			if err != nil {
				s.p.fail(v.name, err.Error())
				continue
			}
			s.put(v.path, n, val, o)
		}
	}
}

// decodeJSON decodes exactly one JSON value, keeping numbers as
// json.Number.
func decodeJSON(text string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("invalid JSON: %s", jsonError(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("invalid JSON: data after the value")
	}
	return v, nil
}

// jsonError describes a JSON decoding error without the input.
func jsonError(err error) string {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("%s (at byte %d)", se.Error(), se.Offset)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of input"
	}
	return err.Error()
}

// readFlags reads the caller's flags into s.
func (s *source) readFlags(flags map[string]any) {
	keys := make([]string, 0, len(flags))
	for k := range flags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s.putKey(nil, schema, k, flags[k], origin{})
	}
}

// putKey places v, found under the key k (which may be dotted) below the
// node n at path.
func (s *source) putKey(path []string, n *node, k string, v any, o origin) {
	for seg := range strings.SplitSeq(k, ".") {
		path = append(slices.Clip(path), seg)
		if n = n.child(seg); n == nil {
			s.unknown(o.label(path))
			return
		}
		if n.flagOnly && s.kind != flagSource {
			s.p.fail(o.label(path), "can only be set by a flag")
			return
		}
	}
	s.put(path, n, v, o)
}

// put places v, the value of the node n at path, into s.flat: a leaf as it
// is, a mapping key by key, a list entry by entry (its index is the
// token).
func (s *source) put(path []string, n *node, v any, o origin) {
	if n.kind == leafNode {
		s.setLeaf(path, v, o)
		return
	}
	if v == nil { // YAML "key:" or JSON null: nothing set
		return
	}
	if l, ok := v.([]any); ok && n.kind == listNode {
		for i, item := range l {
			s.put(append(slices.Clip(path), strconv.Itoa(i)), entry, item, o)
		}
		return
	}
	m, ok := asMap(v)
	if !ok {
		want := "a mapping"
		if n.kind == listNode {
			want = "a list or a mapping"
		}
		s.p.fail(o.label(path), fmt.Sprintf("must be %s, not %s", want, describe(v)))
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s.putKey(path, n, k, m[k], o)
	}
}

func asMap(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case map[string]any:
		return m, true
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, v := range m {
			out[fmt.Sprint(k)] = v
		}
		return out, true
	}
	return nil, false
}

// setLeaf records the value of one setting. Within one source, two values
// for the same setting are an error, unless they are equal or one comes
// from a deeper environment variable than the other.
func (s *source) setLeaf(path []string, v any, o origin) {
	key := strings.Join(path, ".")
	if v == nil || ignoredKeys[key] {
		return
	}
	st := setting{Raw: v, Name: o.label(path), Env: s.kind == envSource, Depth: o.depth}
	if to, ok := aliases[key]; ok {
		st.Via, key = key, to
	}
	if prev, ok := s.flat[key].(setting); ok && prev.Depth >= st.Depth {
		switch {
		case sameValue(prev.Raw, v):
		case prev.Name == st.Name:
			s.p.fail(st.Name, "set twice; remove one")
		default:
			s.p.fail(st.Name, "conflicts with "+prev.Name+", which sets the same setting; remove one")
		}
		return
	}
	s.flat[key] = st
}

func sameValue(a, b any) bool {
	as, ok1 := a.(string)
	bs, ok2 := b.(string)
	return ok1 && ok2 && as == bs
}
