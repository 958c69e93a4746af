package config

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"
)

// Defaults of the settings of this file.
const (
	DefaultAdminListen           = "127.0.0.1:9090"
	DefaultReloadDebounce        = 250 * time.Millisecond
	DefaultAcquireTimeout        = 10 * time.Second
	DefaultStateMaxKeys          = 1_000_000
	DefaultStateMaxBytes         = 1 << 30
	DefaultStateMaxValueBytes    = 1 << 20
	DefaultCredentialsRefresh    = 30 * time.Second
	DefaultCredentialsCall       = 5 * time.Second
	DefaultCredentialsConnect    = 30 * time.Second
	maxStateKeys                 = 1 << 32
	maxStateBytes                = 1 << 40
	maxStateValueBytes           = 1 << 20 // abi.MaxKVValueBytes
	maxCredentialNames           = 1024
	maxIntegrityEntries          = 256
	credentialNamePattern        = `^[A-Za-z0-9._-]{1,128}$`
	maxSocketPath                = 107 // sun_path less its NUL
	integrityKeyPrefix           = "ed25519:"
	integrityKeyBytes            = 32
	integrityDigestBytes         = 32
	integrityDigestHexCharacters = 2 * integrityDigestBytes
)

// Admin holds the ADMIN__* settings: the plain-HTTP listener for probes,
// metrics and reloads, separate from the mTLS listener.
type Admin struct {
	// Listen is its address ([DefaultAdminListen]); "off" disables it.
	// A host that is not a loopback address needs AllowRemote.
	Listen string
	// AllowRemote (ADMIN__ALLOW_REMOTE) permits a non-loopback Listen,
	// for probes from a kubelet. Set ReloadToken with it.
	AllowRemote bool
	// ReloadToken (ADMIN__RELOAD_TOKEN), when set, is the bearer token
	// POST /reload requires.
	ReloadToken Secret
}

// Enabled reports whether the admin listener runs.
func (a Admin) Enabled() bool { return a.Listen != "" }

// Reload holds the RELOAD__* settings of plugin hot reload.
type Reload struct {
	// Watch (RELOAD__WATCH, default true) reloads the plugin when its
	// file changes. SIGHUP and POST /reload on the admin listener always
	// reload.
	Watch bool
	// Debounce (RELOAD__DEBOUNCE) waits for file changes to settle
	// ([DefaultReloadDebounce]).
	Debounce time.Duration
	// DrainTimeout (RELOAD__DRAIN_TIMEOUT) bounds how long the old
	// version's calls may run after a swap; zero means the request
	// timeout.
	DrainTimeout time.Duration
}

// StateBackend selects where plugin state lives.
type StateBackend string

// State backends.
const (
	// StateBolt keeps state in a bbolt file under APP__ROOT.
	StateBolt StateBackend = "bbolt"
	// StateNone offers plugins no state host functions.
	StateNone StateBackend = "none"
)

// State holds the STATE__* settings of the plugin key/value store.
type State struct {
	// Backend (STATE__BACKEND) is bbolt (default) or none.
	Backend StateBackend
	// Path (STATE__PATH) is the store file; empty means
	// <APP__ROOT>/state/state.db.
	Path string
	// MaxKeys (STATE__MAX_KEYS) bounds the plugin's keys.
	MaxKeys int64
	// MaxBytes (STATE__MAX_BYTES) bounds the plugin's keys and values
	// together.
	MaxBytes int64
	// MaxValueBytes (STATE__MAX_VALUE_BYTES) bounds one value.
	MaxValueBytes int64
}

// CredentialsProvider selects where plugin credentials come from.
type CredentialsProvider string

// Credentials providers.
const (
	// CredentialsNone offers plugins no credential host function.
	CredentialsNone CredentialsProvider = "none"
	// CredentialsStatic reads credentials from a file (CREDENTIALS__FILE);
	// a dev run without a file uses built-in development values.
	CredentialsStatic CredentialsProvider = "static"
	// CredentialsDriver asks an out-of-process driver over gRPC on a Unix
	// socket (CREDENTIALS__SOCKET).
	CredentialsDriver CredentialsProvider = "driver"
)

// Credentials holds the CREDENTIALS__* settings.
type Credentials struct {
	// Provider (CREDENTIALS__PROVIDER) is none (default), static or driver.
	Provider CredentialsProvider
	// File (CREDENTIALS__FILE) is the static provider's file.
	File string
	// Socket (CREDENTIALS__SOCKET) is the driver's Unix socket.
	Socket string
	// Allowed (CREDENTIALS__ALLOWED, comma-separated) are the names the
	// plugin may resolve; empty allows none.
	Allowed []string
	// RefreshBefore (CREDENTIALS__REFRESH_BEFORE) refreshes a cached
	// token that long before it expires ([DefaultCredentialsRefresh]).
	RefreshBefore time.Duration
	// CallTimeout (CREDENTIALS__CALL_TIMEOUT) bounds one driver call
	// ([DefaultCredentialsCall]).
	CallTimeout time.Duration
	// ConnectTimeout (CREDENTIALS__CONNECT_TIMEOUT) bounds the start-up
	// wait for the driver ([DefaultCredentialsConnect]); after it the host
	// serves and keeps reconnecting, unless FailFast.
	ConnectTimeout time.Duration
	// FailFast (CREDENTIALS__FAIL_FAST) stops start-up when the driver
	// cannot be reached within ConnectTimeout.
	FailFast bool
}

// Integrity holds the plugin integrity policy (PLUGIN__SHA256_ALLOWLIST,
// PLUGIN__SIGNING_KEYS). With neither set, any module loads.
type Integrity struct {
	// SHA256 are the module digests allowed to load.
	SHA256 [][32]byte
	// Keys are Ed25519 public keys; a module with a valid detached
	// signature (<module>.sig) by one of them loads.
	Keys [][32]byte
}

// Enabled reports whether a policy is configured.
func (i Integrity) Enabled() bool { return len(i.SHA256) > 0 || len(i.Keys) > 0 }

func (d *decoder) operate(c *Config) {
	d.routeTokens(c)
	a := &c.Admin
	a.Listen = decodeAs(d, "admin.listen", DefaultAdminListen, asAdminListen)
	a.AllowRemote = decodeAs(d, "admin.allow_remote", false, asBool)
	a.ReloadToken = decodeAs(d, "admin.reload_token", Secret{}, asToken)
	if st, ok := d.get("admin.listen"); ok && a.Listen != "" && !a.AllowRemote {
		if host, err := splitListen(a.Listen); err == nil && !isLoopback(host) {
			d.p.fail(st.Name, fmt.Sprintf("%s is not a loopback address: set ADMIN__ALLOW_REMOTE=true (with ADMIN__RELOAD_TOKEN) to expose the admin listener", quote(a.Listen)))
		}
	}
	if st, ok := d.get("admin.allow_remote"); ok && a.AllowRemote && !a.ReloadToken.IsSet() {
		d.p.warn(st.Name, "the admin listener may be exposed without ADMIN__RELOAD_TOKEN: anyone who reaches it can reload the plugin")
	}

	r := &c.Reload
	r.Watch = decodeAs(d, "reload.watch", true, asBool)
	r.Debounce = decodeAs(d, "reload.debounce", DefaultReloadDebounce, positiveDuration)
	r.DrainTimeout = decodeAs(d, "reload.drain_timeout", time.Duration(0), positiveDuration)

	c.Pool.MaxCalls = decodeAs(d, "pool.max_calls", int64(0), intIn(0, 1<<40))
	c.Pool.AcquireTimeout = decodeAs(d, "pool.acquire_timeout", DefaultAcquireTimeout, positiveDuration)

	c.Plugin.Integrity.SHA256 = decodeAs(d, "plugin.sha256_allowlist", [][32]byte(nil), asDigests)
	c.Plugin.Integrity.Keys = decodeAs(d, "plugin.signing_keys", [][32]byte(nil), asIntegrityKeys)

	s := &c.State
	s.Backend = decodeAs(d, "state.backend", StateBolt, asStateBackend)
	s.Path = decodeAs(d, "state.path", "", asPath)
	s.MaxKeys = decodeAs(d, "state.max_keys", int64(DefaultStateMaxKeys), intIn(1, maxStateKeys))
	s.MaxBytes = decodeAs(d, "state.max_bytes", int64(DefaultStateMaxBytes), intIn(1, maxStateBytes))
	s.MaxValueBytes = decodeAs(d, "state.max_value_bytes", int64(DefaultStateMaxValueBytes), intIn(1, maxStateValueBytes))

	k := &c.Credentials
	k.Provider = decodeAs(d, "credentials.provider", CredentialsNone, asCredentialsProvider)
	k.File = decodeAs(d, "credentials.file", "", asPath)
	k.Socket = decodeAs(d, "credentials.socket", "", func(v any) (string, error) {
		s, err := asPath(v)
		if err == nil && len(s) > maxSocketPath {
			err = fmt.Errorf("a Unix socket path is at most %d bytes", maxSocketPath)
		}
		return s, err
	})
	k.Allowed = decodeAs(d, "credentials.allowed", []string(nil), asCredentialNames)
	k.RefreshBefore = decodeAs(d, "credentials.refresh_before", DefaultCredentialsRefresh, positiveDuration)
	k.CallTimeout = decodeAs(d, "credentials.call_timeout", DefaultCredentialsCall, positiveDuration)
	k.ConnectTimeout = decodeAs(d, "credentials.connect_timeout", DefaultCredentialsConnect, positiveDuration)
	k.FailFast = decodeAs(d, "credentials.fail_fast", false, asBool)
	if st, ok := d.get("credentials.provider"); ok {
		switch {
		case k.Provider == CredentialsDriver && k.Socket == "":
			d.p.fail(st.Name, "driver needs CREDENTIALS__SOCKET, the driver's Unix socket")
		case k.Provider == CredentialsStatic && k.File == "" && !c.Dev:
			d.p.fail(st.Name, "static needs CREDENTIALS__FILE (a dev run uses built-in development values)")
		}
	}
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// asAdminListen reads a listen address, or "off" (returned as "").
func asAdminListen(v any) (string, error) {
	if s, ok := v.(string); ok && asciiLower(s) == "off" {
		return "", nil
	}
	return asListen(v)
}

// asToken reads a bearer token: 16 to 4096 printable ASCII characters
// without spaces.
func asToken(v any) (Secret, error) {
	s, err := asString(v)
	if err != nil {
		return Secret{}, err
	}
	if len(s) < 16 || len(s) > 4096 {
		return Secret{}, errors.New("must be 16 to 4096 characters long")
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return Secret{}, errors.New("must be printable ASCII without spaces")
		}
	}
	return NewSecret(s), nil
}

func asStateBackend(v any) (StateBackend, error) {
	s, err := asString(v)
	if err != nil {
		return "", err
	}
	switch b := StateBackend(s); b {
	case StateBolt, StateNone:
		return b, nil
	}
	return "", errors.New(`must be "bbolt" or "none"`)
}

func asCredentialsProvider(v any) (CredentialsProvider, error) {
	s, err := asString(v)
	if err != nil {
		return "", err
	}
	switch p := CredentialsProvider(s); p {
	case CredentialsNone, CredentialsStatic, CredentialsDriver:
		return p, nil
	}
	return "", errors.New(`must be "none", "static" or "driver"`)
}

var credentialName = regexp.MustCompile(credentialNamePattern)

func asCredentialNames(v any) ([]string, error) {
	list, err := commaList(v)
	if err != nil {
		return nil, err
	}
	if len(list) > maxCredentialNames {
		return nil, fmt.Errorf("more than %d names", maxCredentialNames)
	}
	for i, n := range list {
		if !credentialName.MatchString(n) {
			return nil, fmt.Errorf("entry %d: a credential name is 1 to 128 of A-Z a-z 0-9 . _ -", i)
		}
	}
	return list, nil
}

// asDigests reads comma-separated SHA-256 digests in hex.
func asDigests(v any) ([][32]byte, error) {
	list, err := commaList(v)
	if err != nil {
		return nil, err
	}
	if len(list) > maxIntegrityEntries {
		return nil, fmt.Errorf("more than %d entries", maxIntegrityEntries)
	}
	out := make([][32]byte, 0, len(list))
	for i, s := range list {
		var d [32]byte
		b, err := hex.DecodeString(strings.TrimPrefix(strings.ToLower(s), "sha256:"))
		if err != nil || len(b) != integrityDigestBytes {
			return nil, fmt.Errorf("entry %d: must be a SHA-256 digest in hex (%d characters), as `osohost plugin hash` prints it", i, integrityDigestHexCharacters)
		}
		copy(d[:], b)
		out = append(out, d)
	}
	return out, nil
}

// asIntegrityKeys reads comma-separated "ed25519:<base64>" public keys.
func asIntegrityKeys(v any) ([][32]byte, error) {
	list, err := commaList(v)
	if err != nil {
		return nil, err
	}
	if len(list) > maxIntegrityEntries {
		return nil, fmt.Errorf("more than %d entries", maxIntegrityEntries)
	}
	out := make([][32]byte, 0, len(list))
	for i, s := range list {
		b64, ok := strings.CutPrefix(s, integrityKeyPrefix)
		var b []byte
		if ok {
			b, err = base64.StdEncoding.DecodeString(b64)
		}
		if !ok || err != nil || len(b) != integrityKeyBytes {
			return nil, fmt.Errorf("entry %d: must be ed25519:<base64 of the 32-byte public key>, as `osohost plugin keygen` prints it", i)
		}
		var k [32]byte
		copy(k[:], b)
		out = append(out, k)
	}
	return out, nil
}

// hexDigests formats digests for Redacted.
func hexDigests(ds [][32]byte) []string {
	out := []string{}
	for _, d := range ds {
		out = append(out, hex.EncodeToString(d[:]))
	}
	return out
}

// integrityKeys formats public keys for Redacted; they are not secret.
func integrityKeys(ks [][32]byte) []string {
	out := []string{}
	for _, k := range ks {
		out = append(out, integrityKeyPrefix+base64.StdEncoding.EncodeToString(k[:]))
	}
	return out
}

func orOff(s string) string {
	if s == "" {
		return "off"
	}
	return s
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
