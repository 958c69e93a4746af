package config

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Bounds of integer settings.
const (
	maxBytesSetting = 1 << 30
	maxPoolSize     = 1024
	maxMemoryMiB    = 4096 // a 32-bit Wasm memory
	maxMockRetries  = 100
)

// decoder turns the merged settings into a Config, checking each one and
// recording every problem.
type decoder struct {
	settings map[string]any // dotted key → setting
	p        *problems
}

func (d *decoder) get(key string) (setting, bool) {
	st, ok := d.settings[key].(setting)
	return st, ok
}

// decodeAs returns the setting key parsed by parse, or def when it is not
// set or invalid (the problem is recorded).
func decodeAs[T any](d *decoder, key string, def T, parse func(any) (T, error)) T {
	st, ok := d.get(key)
	if !ok {
		return def
	}
	v, err := parse(st.Raw)
	if err != nil {
		d.p.fail(st.Name, err.Error())
		return def
	}
	return v
}

// envName is the canonical environment variable of a dotted key.
func envName(key string) string {
	return strings.ToUpper(strings.ReplaceAll(key, ".", "__"))
}

// missingName names a missing setting like its neighbour: by its key when
// like came from the file or flags, else as a variable.
func missingName(key string, like setting) string {
	if like.Name != "" && !like.Env {
		return key
	}
	return envName(key)
}

func (d *decoder) config() *Config {
	c := Default()
	c.Dev = decodeAs(d, "dev", false, asBool)
	if c.Dev {
		c.App.Root = DefaultDevRoot
		c.Plugin.Mode = ModeFrontend
	}

	c.App.Name = decodeAs(d, "app.name", c.App.Name, asName)
	c.App.Debug = decodeAs(d, "app.debug", false, asBool)
	c.App.Root = decodeAs(d, "app.root", c.App.Root, asPath)
	c.Certs = d.certs(c.Dev)
	c.Logging.Level = decodeAs(d, "logging.level", c.Logging.Level, asLevel)
	c.Plugin = d.plugin(c.Plugin.Mode)
	c.Auth = d.auth()

	s := &c.Server
	s.Listen = decodeAs(d, "server.listen", s.Listen, asListen)
	s.InternalListen = decodeAs(d, "server.internal_listen", s.InternalListen, asLoopbackListen)
	s.RequestTimeout = decodeAs(d, "server.request_timeout", s.RequestTimeout, positiveDuration)
	s.BodyLimitBytes = decodeAs(d, "server.body_limit_bytes", s.BodyLimitBytes, intIn(1, maxBytesSetting))
	s.ReadHeaderTimeout = decodeAs(d, "server.read_header_timeout", s.ReadHeaderTimeout, positiveDuration)
	s.ReadTimeout = decodeAs(d, "server.read_timeout", s.ReadTimeout, positiveDuration)
	s.IdleTimeout = decodeAs(d, "server.idle_timeout", s.IdleTimeout, positiveDuration)
	s.ShutdownTimeout = decodeAs(d, "server.shutdown_timeout", s.ShutdownTimeout, positiveDuration)
	s.MaxHeaderBytes = int(decodeAs(d, "server.max_header_bytes", int64(s.MaxHeaderBytes), intIn(1<<10, 1<<20)))
	s.HTTP3 = decodeAs(d, "server.http3", s.HTTP3, asBool)
	s.HTTP3Listen = decodeAs(d, "server.http3_listen", "", asListen)

	if st, ok := d.get("pool.size"); ok {
		lo := int64(0) // automatic
		if st.Via != "" {
			lo = 1 // GUNICORN__WORKERS, which the framework requires to be > 0
		}
		n, err := intIn(lo, maxPoolSize)(st.Raw)
		if err != nil {
			d.p.fail(st.Name, err.Error())
		}
		c.Pool.Size = int(n)
	}

	l := &c.Limits
	l.MemoryMiB = int(decodeAs(d, "limits.memory_mib", int64(l.MemoryMiB), intIn(1, maxMemoryMiB)))
	l.OutputBytes = decodeAs(d, "limits.output_bytes", l.OutputBytes, intIn(1, maxBytesSetting))
	l.CallTimeout = decodeAs(d, "limits.call_timeout", s.RequestTimeout, positiveDuration)
	if st, ok := d.get("limits.call_timeout"); ok && l.CallTimeout > s.RequestTimeout {
		d.p.warn(st.Name, fmt.Sprintf("%v is longer than the request timeout (%v), which ends a call first", l.CallTimeout, s.RequestTimeout))
	}

	c.Mock.FrontendEndpoint = d.mockEndpoint("mock.frontend_endpoint", ModeFrontend)
	c.Mock.BackendEndpoint = d.mockEndpoint("mock.backend_endpoint", ModeBackend)
	c.Mock.MaxRetries = int(decodeAs(d, "mock.max_retries", int64(c.Mock.MaxRetries), intIn(1, maxMockRetries)))

	g := &c.Signing
	g.Backend = decodeAs(d, "signing.backend", g.Backend, asSigningBackend)
	g.KeystorePath = decodeAs(d, "signing.keystore_path", "", asPath)
	g.KEKFile = decodeAs(d, "signing.kek_file", "", asPath)
	g.AuditFile = decodeAs(d, "signing.audit_file", "", asPath)
	g.AllowedTypes = decodeAs(d, "signing.allowed_types", []string(nil), asKeyTypes)
	g.AllowedKeyIDs = decodeAs(d, "signing.allowed_key_ids", []string(nil), asKeyIDs)
	g.Concurrency = int(decodeAs(d, "signing.concurrency", int64(0), intIn(0, 4096)))
	g.FailFast = decodeAs(d, "signing.fail_fast", false, asBool)
	if st, ok := d.get("signing.backend"); ok && g.Backend == SigningGREP11 {
		if _, ok := c.Plugin.SigningServer(); !ok {
			d.p.fail(st.Name, "grep11 needs a signing-server addon (PLUGIN__ADDONS__<n>__TYPE=oso.framework.plugin.addons.signing_server)")
		}
	}
	d.operate(c)
	return c
}

func asSigningBackend(v any) (SigningBackend, error) {
	s, err := asString(v)
	if err != nil {
		return "", err
	}
	switch b := SigningBackend(s); b {
	case SigningAuto, SigningSoftware, SigningGREP11, SigningNone:
		return b, nil
	}
	return "", errors.New(`must be "auto", "software", "grep11" or "none"`)
}

// commaList splits a comma-separated setting; a YAML list is accepted too.
func commaList(v any) ([]string, error) {
	var items []string
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			s, err := asString(e)
			if err != nil {
				return nil, err
			}
			items = append(items, s)
		}
	default:
		s, err := asString(v)
		if err != nil {
			return nil, err
		}
		items = strings.Split(s, ",")
	}
	var out []string
	for _, it := range items {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	if len(out) > 1024 {
		return nil, errors.New("more than 1024 entries")
	}
	return out, nil
}

func asKeyTypes(v any) ([]string, error) {
	list, err := commaList(v)
	if err != nil {
		return nil, err
	}
	for i, t := range list {
		if t != "SECP256K1" && t != "ED25519" {
			return nil, fmt.Errorf("entry %d: key types are SECP256K1 and ED25519", i)
		}
	}
	return list, nil
}

func asKeyIDs(v any) ([]string, error) {
	list, err := commaList(v)
	if err != nil {
		return nil, err
	}
	for i, id := range list {
		if len(id) > 64 || strings.ContainsAny(id, "/\\. ") {
			return nil, fmt.Errorf("entry %d: not a key id", i)
		}
	}
	return list, nil
}

// optionalText reads a text setting in which "" means unset.
func (d *decoder) optionalText(key string) (string, setting, bool) {
	st, ok := d.get(key)
	if !ok {
		return "", st, false
	}
	s, err := asString(st.Raw)
	if err != nil {
		d.p.fail(st.Name, err.Error())
		return "", st, false
	}
	return s, st, s != ""
}

// tlsTriple reads a CA bundle, a certificate chain and its key (indexed
// partCA, partCert, partKey) from the settings sts, where set says which
// are present, and parses them together. Each text goes through decode
// unless it is "", which means unset. name names a part that is unset,
// for problems such as a certificate without its key. When required is not
// nil, every part is required and required[part] says what it holds.
func (d *decoder) tlsTriple(sts [3]setting, set [3]bool, name func(part int) string, decode func(string) (string, error), required *[3]string) ([3]string, *tlsParsed) {
	var texts [3]string
	var invalid [3]bool
	for i, st := range sts {
		if !set[i] || st.Raw == "" {
			if required != nil {
				d.p.fail(name(i), "required: "+required[i])
				invalid[i] = true
			}
			continue
		}
		text, err := asString(st.Raw)
		if err == nil && text != "" && decode != nil {
			text, err = decode(text)
		}
		if err != nil {
			d.p.fail(st.Name, err.Error())
			invalid[i] = true
			continue
		}
		texts[i] = text
	}
	parsed := parseTLS(PEM(texts[partCA]), PEM(texts[partCert]), NewSecret(texts[partKey]), func(part int, msg string) {
		switch {
		case invalid[part]: // reported above, or required and unset
		case texts[part] != "":
			d.p.fail(sts[part].Name, msg)
		default:
			d.p.fail(name(part), msg)
		}
	})
	return texts, parsed
}

// certs reads CERTS__*, which are required unless dev is set (the caller
// then supplies development certificates when none are set).
func (d *decoder) certs(dev bool) Certs {
	keys := [...]string{partCA: "certs.ca", partCert: "certs.app_crt", partKey: "certs.app_key"}
	var sts [3]setting
	var set [3]bool
	var someSet setting // to name the missing parts like the present ones
	for i, key := range keys {
		if sts[i], set[i] = d.get(key); set[i] {
			someSet = sts[i]
		}
	}
	var required *[3]string
	if !dev {
		required = &[3]string{
			partCA:   "the PEM text of the CA certificates that client certificates must chain to",
			partCert: "the PEM text of the server's certificate chain",
			partKey:  "the PEM text of the server's private key",
		}
	}
	texts, parsed := d.tlsTriple(sts, set, func(part int) string {
		if set[part] {
			return sts[part].Name
		}
		return missingName(keys[part], someSet)
	}, nil, required)
	return Certs{
		CA:     PEM(texts[partCA]),
		AppCrt: PEM(texts[partCert]),
		AppKey: NewSecret(texts[partKey]),
		parsed: parsed,
	}
}

func (d *decoder) plugin(defaultMode Mode) Plugin {
	p := Plugin{Mode: defaultMode}
	if st, ok := d.get("plugin.mode"); ok {
		p.Mode = ""
		s, err := asString(st.Raw)
		switch {
		case err != nil:
			d.p.fail(st.Name, err.Error())
		case s == string(ModeFrontend) || s == string(ModeBackend):
			p.Mode = Mode(s)
		default:
			d.p.fail(st.Name, fmt.Sprintf(`must be "frontend" or "backend" (exact lowercase), not %s`, quote(s)))
		}
	} else if p.Mode == "" {
		d.p.fail(envName("plugin.mode"), `required: "frontend" or "backend"`)
	}
	p.Application = decodeAs(d, "plugin.application", "", asApplication)
	p.Addons = d.addons()
	return p
}

// pythonImportRE matches a Python import string with an attribute, such
// as "fb.fb_plugin:FBPlugin", which framework deployments hold in
// PLUGIN__APPLICATION.
var pythonImportRE = regexp.MustCompile(`^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*$`)

// asApplication reads the plugin path; "" means unset. A value shaped like
// a Python import string that is not an existing file is an error, since
// it is what framework deployments set.
func asApplication(v any) (string, error) {
	s, err := asString(v)
	if err != nil || s == "" {
		return "", err
	}
	if strings.IndexByte(s, 0) >= 0 {
		return "", errors.New("must not contain a NUL byte")
	}
	if pythonImportRE.MatchString(s) {
		if _, err := os.Stat(s); err != nil {
			return "", fmt.Errorf("%s looks like a Python import string; osohost needs a .wasm path", quote(s))
		}
	}
	return s, nil
}

// entryFields is one list entry: the fields set under one grouping token.
type entryFields struct {
	list   string // "auth.parsers"
	token  string
	fields map[string]setting
}

// name names a field of the entry: as set when it is, else as its
// siblings are named (PLUGIN__ADDONS__a__TYPE gives
// PLUGIN__ADDONS__a__KEYSTORE_PATH).
func (e entryFields) name(field string) string {
	key := e.list + "." + e.token + "." + field
	if st, ok := e.fields[field]; ok {
		return st.Name
	}
	for _, f := range slices.Sorted(maps.Keys(e.fields)) {
		st := e.fields[f]
		if !st.Env {
			continue
		}
		i := strings.LastIndex(st.Name, "__")
		if i < 0 || strings.Contains(st.Name, " ") { // a key inside a JSON value
			return envName(key)
		}
		if last := st.Name[i+2:]; last == strings.ToLower(last) {
			return st.Name[:i+2] + field
		}
		return st.Name[:i+2] + strings.ToUpper(field)
	}
	return key
}

// unknownFields reports the fields of e that are not in known.
func (d *decoder) unknownFields(e entryFields, known ...string) {
	var names []string
	for f := range e.fields {
		if !slices.Contains(known, f) {
			names = append(names, f)
		}
	}
	sort.Strings(names)
	for _, f := range names {
		if st := e.fields[f]; st.Env {
			d.p.warn(st.Name, "unknown field, ignored")
		} else {
			d.p.fail(st.Name, "unknown field")
		}
	}
}

// entries returns the entries of the list at the dotted key list, ordered
// by token: numeric tokens by value first, then the others as text.
func (d *decoder) entries(list string) []entryFields {
	byToken := make(map[string]map[string]setting)
	for key, v := range d.settings {
		rest, ok := strings.CutPrefix(key, list+".")
		st, isSetting := v.(setting)
		if !ok || !isSetting {
			continue
		}
		token, field, _ := strings.Cut(rest, ".")
		if byToken[token] == nil {
			byToken[token] = make(map[string]setting)
		}
		byToken[token][field] = st
	}
	out := make([]entryFields, 0, len(byToken))
	for token, fields := range byToken {
		out = append(out, entryFields{list: list, token: token, fields: fields})
	}
	sort.Slice(out, func(i, j int) bool { return tokenLess(out[i].token, out[j].token) })
	return out
}

// tokenLess orders grouping tokens: numbers by value (leading zeros
// ignored, then as text), before every other token, which sort as text.
func tokenLess(a, b string) bool {
	na, nb := isDigits(a), isDigits(b)
	switch {
	case na != nb:
		return na
	case !na:
		return a < b
	}
	ta, tb := strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(ta) != len(tb) {
		return len(ta) < len(tb)
	}
	if ta != tb {
		return ta < tb
	}
	return a < b
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// entryType reads the TYPE field of e through names (the accepted
// spellings); ok is false when a problem was recorded.
func entryType[T ~string](d *decoder, e entryFields, names map[string]T, what, want string) (T, setting, bool) {
	st, ok := e.fields["type"]
	if !ok {
		d.p.fail(e.name("type"), fmt.Sprintf("required: the %s type, %s", what, want))
		return "", st, false
	}
	s, err := asString(st.Raw)
	if err != nil {
		d.p.fail(st.Name, err.Error())
		return "", st, false
	}
	t, ok := names[s]
	if !ok {
		d.p.fail(st.Name, fmt.Sprintf("unknown %s type %s; want %s", what, quote(s), want))
		return "", st, false
	}
	return t, st, true
}

func (d *decoder) auth() Auth {
	var a Auth
	seen := make(map[ParserType]string)
	for _, e := range d.entries("auth.parsers") {
		t, typ, ok := entryType(d, e, parserTypes, "parser", `"oso.framework.auth.mtls" (or "mtls") or "oidc"`)
		if !ok {
			continue
		}
		if first, dup := seen[t]; dup {
			d.p.fail(typ.Name, fmt.Sprintf("a second %s parser (%s declares one); remove one", t, first))
			continue
		}
		seen[t] = typ.Name
		if t == ParserOIDC {
			if o, ok := d.oidcParser(e); ok {
				a.Parsers = append(a.Parsers, Parser{Type: t, OIDC: o})
			}
			continue
		}
		d.unknownFields(e, "type", "allowlist")
		p := Parser{Type: t}
		st, ok := e.fields["allowlist"]
		if !ok {
			d.p.fail(e.name("allowlist"), `required: a JSON object of allowlist names to lists of fingerprints, such as {"component": ["SHA256:…"]}`)
			continue
		}
		r := parseAllowlists(st.Raw)
		for _, msg := range r.errs {
			d.p.fail(st.Name, msg)
		}
		for _, msg := range r.warns {
			d.p.warn(st.Name, msg)
		}
		for _, name := range r.names {
			switch {
			case name == ComponentAllowlist:
			case strings.EqualFold(name, ComponentAllowlist):
				d.p.warn(st.Name, fmt.Sprintf("no route uses allowlist %s: names are matched exactly (did you mean %q?)", quote(name), ComponentAllowlist))
			default:
				d.p.warn(st.Name, fmt.Sprintf("no built-in route uses allowlist %s; only plugin routes that name it will", quote(truncate(name, maxNameInText))))
			}
		}
		p.Allowlists = r.lists
		a.Parsers = append(a.Parsers, p)
	}
	return a
}

func (d *decoder) addons() []Addon {
	var out []Addon
	seen := make(map[AddonType]string)
	for _, e := range d.entries("plugin.addons") {
		t, typ, ok := entryType(d, e, addonTypes, "addon", `"oso.framework.plugin.addons.signing_server" (or "signing_server")`)
		if !ok {
			continue
		}
		if first, dup := seen[t]; dup {
			d.p.fail(typ.Name, fmt.Sprintf("a second %s addon (%s declares one); remove one", t, first))
			continue
		}
		seen[t] = typ.Name
		d.unknownFields(e, "type", "grep11_endpoint", "ca_cert", "client_cert", "client_key", "keystore_path")
		out = append(out, Addon{Type: t, SigningServer: d.signingServer(e)})
	}
	return out
}

func (d *decoder) signingServer(e entryFields) SigningServer {
	var s SigningServer
	if st, ok := e.fields["grep11_endpoint"]; ok {
		text, err := asString(st.Raw)
		if err == nil {
			var defaulted bool
			s.Endpoint, defaulted, err = parseEndpoint(text)
			if defaulted {
				d.p.warn(st.Name, fmt.Sprintf("no port given; using %s as the framework did (GREP11 usually listens on 9876)", s.Endpoint))
			}
		}
		if err != nil {
			d.p.fail(st.Name, err.Error())
		}
	} else {
		s.Endpoint, _, _ = parseEndpoint(DefaultGREP11Endpoint)
		d.p.warn(e.name("grep11_endpoint"), fmt.Sprintf("not set; using %s as the framework did", s.Endpoint))
	}

	fields := [...]string{partCA: "ca_cert", partCert: "client_cert", partKey: "client_key"}
	var sts [3]setting
	var set [3]bool
	for i, f := range fields {
		sts[i], set[i] = e.fields[f]
	}
	texts, parsed := d.tlsTriple(sts, set, func(part int) string { return e.name(fields[part]) }, decodePEMBase64, nil)
	s.CACert, s.ClientCert, s.ClientKey = PEM(texts[partCA]), PEM(texts[partCert]), NewSecret(texts[partKey])
	s.parsed = parsed

	if st, ok := e.fields["keystore_path"]; ok {
		var err error
		if s.KeystorePath, err = asPath(st.Raw); err != nil {
			d.p.fail(st.Name, err.Error())
		}
	} else {
		d.p.fail(e.name("keystore_path"), "required: the keystore directory")
	}
	return s
}

// mockEndpoint reads a MOCK__*_ENDPOINT: an http or https URL, without a
// trailing slash, which should end in /api/<mode>/v1alpha1.
func (d *decoder) mockEndpoint(key string, mode Mode) string {
	text, st, ok := d.optionalText(key)
	if !ok {
		return ""
	}
	u, err := url.Parse(text)
	switch {
	case err != nil, u.Scheme != "http" && u.Scheme != "https", u.Host == "", u.Opaque != "":
		d.p.fail(st.Name, fmt.Sprintf("must be an http or https URL such as https://frontend:4000/api/%s/v1alpha1, not %s", mode, quote(text)))
		return ""
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		d.p.fail(st.Name, "must not have a query, a fragment or user information")
		return ""
	}
	text = strings.TrimRight(text, "/")
	if want := "/api/" + string(mode) + "/v1alpha1"; !strings.HasSuffix(text, want) {
		d.p.warn(st.Name, fmt.Sprintf("does not end in %s; the mock appends /status and /documents to it", want))
	}
	return text
}
