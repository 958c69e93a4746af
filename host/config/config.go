package config

import (
	"log/slog"
	"time"
)

// Defaults of the settings that have one. [Load] fills them in; a Config
// built by hand may leave the matching fields zero, which means the same.
const (
	DefaultAppName           = "osohost"
	DefaultRoot              = "/app-root"
	DefaultDevRoot           = "./.osohost"
	DefaultListen            = ":4000"
	DefaultInternalListen    = "127.0.0.1:8080"
	DefaultRequestTimeout    = 60 * time.Second
	DefaultBodyLimitBytes    = 1 << 20
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 60 * time.Second
	DefaultIdleTimeout       = 75 * time.Second
	DefaultShutdownTimeout   = 30 * time.Second
	DefaultMaxHeaderBytes    = 32 << 10
	DefaultMemoryMiB         = 128
	DefaultOutputBytes       = 8 << 20
	DefaultMockMaxRetries    = 3
	DefaultGREP11Endpoint    = "localhost"
)

// Config is the effective configuration of one osohost process. [Load]
// builds it from a file, the environment and flags; nothing else in osohost
// reads configuration. A Config is never modified after Load returns it:
// reloading builds a new one. Slices and maps inside it are shared and must
// not be modified either.
//
// Printing or logging a Config never reveals a secret: secret fields are of
// type [Secret], and [Config.LogValue] logs [Config.Redacted].
type Config struct {
	App     App
	Certs   Certs
	Logging Logging
	Plugin  Plugin
	Auth    Auth
	Server  Server
	Pool    Pool
	Limits  Limits
	Mock    Mock
	Signing Signing

	Admin       Admin
	Reload      Reload
	State       State
	Credentials Credentials
	RouteTokens RouteTokens

	// Dev reports the flag "dev": a local development run. It changes two
	// defaults, Plugin.Mode (frontend) and App.Root ([DefaultDevRoot]),
	// and makes CERTS__* optional: the caller provides development
	// certificates. It can only be set by a flag, never by the environment
	// or the file.
	Dev bool
}

// App holds the APP__* settings.
type App struct {
	// Name names the component in logs and metrics (APP__NAME). Load
	// defaults it to [DefaultAppName]; the framework required it.
	Name string
	// Debug reports APP__DEBUG. It never changes the log level (that is
	// LOGGING__LEVEL) and never makes secrets or payloads visible.
	Debug bool
	// Root is the state directory (APP__ROOT), [DefaultRoot] by default,
	// [DefaultDevRoot] (relative to the working directory) in a dev run.
	Root string
}

// Certs holds the PEM texts of CERTS__*: the server's own certificate chain
// and key for the TLS listener, and the CAs that client certificates must
// chain to. They stay in memory; the key is never written to disk.
//
// Load requires all three, except in a dev run, where the caller supplies
// development certificates when none are set (a certificate and its key
// are still required together). It checks that each parses and that the
// key belongs to the certificate. The parsed forms are kept by Load and
// returned by the methods, which parse on demand for a Certs built by
// hand.
type Certs struct {
	// CA holds the client CA certificates (CERTS__CA): one or a bundle.
	CA PEM
	// AppCrt is the server certificate, optionally followed by its chain
	// (CERTS__APP_CRT).
	AppCrt PEM
	// AppKey is the server private key (CERTS__APP_KEY): PKCS#1 or PKCS#8
	// RSA, SEC 1 or PKCS#8 ECDSA, or PKCS#8 Ed25519.
	AppKey Secret

	parsed *certsParsed // set by Load; printed as an address only
}

// Logging holds the LOGGING__* settings.
type Logging struct {
	// Level is the minimum level logged (LOGGING__LEVEL). The zero value
	// is slog.LevelInfo, the default. The variable holds critical, fatal,
	// error, warn, warning, info, debug or notset in any case, or a Python
	// logging level number: 10/20/30/40/50 are slog's Debug, Info, Warn,
	// Error and Error+4 (critical), numbers in between fall between them,
	// and 0, notset and negative numbers mean Debug.
	Level slog.Level
}

// Mode is the side of the air gap a component runs on. It selects the
// route prefix /api/<mode>/v1alpha1.
type Mode string

// The two modes, spelled exactly as PLUGIN__MODE must spell them.
const (
	ModeFrontend Mode = "frontend"
	ModeBackend  Mode = "backend"
)

// Plugin holds the PLUGIN__* settings.
type Plugin struct {
	// Mode is frontend or backend (PLUGIN__MODE). Load requires it, except
	// in a dev run, where it defaults to frontend.
	Mode Mode
	// Application is the path of the plugin's .wasm file
	// (PLUGIN__APPLICATION, or the flag plugin.application, which wins).
	// Empty when unset; the command that runs a plugin requires it.
	Application string
	// Addons are the PLUGIN__ADDONS__<n>__* entries, ordered by <n>. At
	// most one of each type.
	Addons []Addon
	// Integrity is the policy a module must meet to load.
	Integrity Integrity
}

// SigningServer returns the signing-server addon, if one is configured.
func (p Plugin) SigningServer() (SigningServer, bool) {
	for _, a := range p.Addons {
		if a.Type == AddonSigningServer {
			return a.SigningServer, true
		}
	}
	return SigningServer{}, false
}

// Auth holds the AUTH__* settings.
type Auth struct {
	// Parsers are the AUTH__PARSERS__<n>__* entries, ordered by <n>. At
	// most one of each type. With none, every route that requires
	// authentication refuses every request, as in the framework.
	Parsers []Parser
}

// MTLS returns the client-certificate parser, if one is configured.
func (a Auth) MTLS() (Parser, bool) {
	for _, p := range a.Parsers {
		if p.Type == ParserMTLS {
			return p, true
		}
	}
	return Parser{}, false
}

// Server holds the settings of the two HTTP listeners (SERVER__*). Zero
// fields mean the defaults.
type Server struct {
	// Listen is the TLS listener's address ([DefaultListen]).
	Listen string
	// InternalListen is the plain-HTTP listener for the plugin's internal
	// routes ([DefaultInternalListen]). Its host must be a loopback
	// address: nothing on it is authenticated.
	InternalListen string
	// RequestTimeout is the deadline of one request, guest call included
	// ([DefaultRequestTimeout]; alias NGINX__TIMEOUT). Always positive.
	RequestTimeout time.Duration
	// BodyLimitBytes is the largest request body accepted; larger bodies
	// get 413 ([DefaultBodyLimitBytes], NGINX's default).
	BodyLimitBytes int64
	// ReadHeaderTimeout bounds the TLS handshake and reading the request
	// headers ([DefaultReadHeaderTimeout]).
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included
	// ([DefaultReadTimeout]).
	ReadTimeout time.Duration
	// IdleTimeout is how long a keep-alive connection may wait for its
	// next request ([DefaultIdleTimeout], NGINX's keep-alive timeout).
	IdleTimeout time.Duration
	// ShutdownTimeout is how long a graceful stop waits for requests in
	// flight ([DefaultShutdownTimeout]).
	ShutdownTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers
	// ([DefaultMaxHeaderBytes]).
	MaxHeaderBytes int
	// HTTP3 (SERVER__HTTP3, default true) also serves the routes over
	// HTTP/3 (QUIC) on UDP, with the same certificates, client
	// verification and allowlists, advertised with Alt-Svc.
	HTTP3 bool
	// HTTP3Listen (SERVER__HTTP3_LISTEN) is the UDP address; empty means
	// the TLS listener's address (the same port).
	HTTP3Listen string
}

// Pool holds the plugin instance pool settings (POOL__*).
type Pool struct {
	// Size is the number of plugin instances (POOL__SIZE, alias
	// GUNICORN__WORKERS). Zero means automatic: 1 unless the plugin
	// declares itself stateless, since each instance has its own memory
	// and a plugin may keep state in it, as framework plugins do.
	Size int
	// MaxCalls (POOL__MAX_CALLS) recycles an instance after that many
	// calls; 0 never does.
	MaxCalls int64
	// AcquireTimeout (POOL__ACQUIRE_TIMEOUT) bounds the wait for a free
	// instance; then the request gets 503 with Retry-After
	// ([DefaultAcquireTimeout]).
	AcquireTimeout time.Duration
}

// Limits holds the per-call limits of plugin instances (LIMITS__*).
type Limits struct {
	// MemoryMiB caps an instance's linear memory ([DefaultMemoryMiB]).
	MemoryMiB int
	// OutputBytes caps what one guest call may hand back
	// ([DefaultOutputBytes]).
	OutputBytes int64
	// CallTimeout is the deadline of one guest call. Load sets it to
	// Server.RequestTimeout unless it is configured; zero means the same.
	CallTimeout time.Duration
}

// Mock holds the MOCK__* settings of `osohost mock`, which plays the OSO
// against a frontend and a backend component.
type Mock struct {
	// FrontendEndpoint is the frontend's base URL, ending in
	// /api/frontend/v1alpha1 (MOCK__FRONTEND_ENDPOINT). Empty when unset.
	FrontendEndpoint string
	// BackendEndpoint is the backend's base URL, ending in
	// /api/backend/v1alpha1 (MOCK__BACKEND_ENDPOINT). Empty when unset.
	BackendEndpoint string
	// MaxRetries is the number of status checks before giving up
	// (MOCK__MAX_RETRIES, [DefaultMockMaxRetries]).
	MaxRetries int
}

// SigningBackend selects where keys live and signatures are made.
type SigningBackend string

// Signing backends.
const (
	// SigningAuto is grep11 when a signing-server addon is configured, else
	// software.
	SigningAuto SigningBackend = "auto"
	// SigningSoftware keeps keys in the keystore wrapped with AES-256-GCM
	// under a key-encryption key.
	SigningSoftware SigningBackend = "software"
	// SigningGREP11 signs in an HSM over GREP11 (the signing-server addon).
	SigningGREP11 SigningBackend = "grep11"
	// SigningNone offers plugins no signing host functions.
	SigningNone SigningBackend = "none"
)

// Signing holds the SIGNING__* settings: the backend behind the signing
// host functions, the policy plugins sign under, and the audit log.
type Signing struct {
	// Backend (SIGNING__BACKEND) is auto, software, grep11 or none.
	Backend SigningBackend
	// KeystorePath (SIGNING__KEYSTORE_PATH) is the software backend's
	// keystore; empty means <APP__ROOT>/keystore. The grep11 backend uses the
	// addon's KEYSTORE_PATH.
	KeystorePath string
	// KEKFile (SIGNING__KEK_FILE) holds the software backend's 32-byte
	// key-encryption key; created with mode 0600 when missing; empty
	// means <APP__ROOT>/keystore.kek.
	KEKFile string
	// AllowedTypes (SIGNING__ALLOWED_TYPES, comma-separated) limits the key
	// types plugins may use; empty allows SECP256K1 and ED25519.
	AllowedTypes []string
	// AllowedKeyIDs (SIGNING__ALLOWED_KEY_IDS, comma-separated) limits the
	// keys plugins may use; empty allows every key of an allowed type.
	AllowedKeyIDs []string
	// AuditFile (SIGNING__AUDIT_FILE) is the append-only, hash-chained log
	// of every signature; empty means <APP__ROOT>/audit/audit.log.
	AuditFile string
	// Concurrency (SIGNING__CONCURRENCY) bounds the signatures of one
	// batch made at once; 0 means the backend's default.
	Concurrency int
	// FailFast (SIGNING__FAIL_FAST) stops start-up when the GREP11 server
	// cannot be reached, as the framework did; by default the host retries
	// for a bounded time, then serves and reports the backend unhealthy.
	FailFast bool
}

// Default returns the configuration Load produces when nothing is set,
// except that Plugin.Mode is empty (Load requires it).
func Default() *Config {
	return &Config{
		App: App{Name: DefaultAppName, Root: DefaultRoot},
		Server: Server{
			Listen:            DefaultListen,
			InternalListen:    DefaultInternalListen,
			RequestTimeout:    DefaultRequestTimeout,
			BodyLimitBytes:    DefaultBodyLimitBytes,
			ReadHeaderTimeout: DefaultReadHeaderTimeout,
			ReadTimeout:       DefaultReadTimeout,
			IdleTimeout:       DefaultIdleTimeout,
			ShutdownTimeout:   DefaultShutdownTimeout,
			MaxHeaderBytes:    DefaultMaxHeaderBytes,
			HTTP3:             true,
		},
		Limits: Limits{
			MemoryMiB:   DefaultMemoryMiB,
			OutputBytes: DefaultOutputBytes,
			CallTimeout: DefaultRequestTimeout,
		},
		Mock:    Mock{MaxRetries: DefaultMockMaxRetries},
		Signing: Signing{Backend: SigningAuto},
		Pool:    Pool{AcquireTimeout: DefaultAcquireTimeout},
		Admin:   Admin{Listen: DefaultAdminListen},
		Reload:  Reload{Watch: true, Debounce: DefaultReloadDebounce},
		State: State{Backend: StateBolt, MaxKeys: DefaultStateMaxKeys, MaxBytes: DefaultStateMaxBytes,
			MaxValueBytes: DefaultStateMaxValueBytes},
		RouteTokens: RouteTokens{Mode: "strong", Carrier: "header", Header: "X-OSO-Route-Token", ID: DefaultAppName,
			Port: 4000, AccessHeader: "X-OSO-Secure-Access", MaxFailures: 10, FailureWindow: time.Minute, MaxClients: 10000},
		Credentials: Credentials{Provider: CredentialsNone, RefreshBefore: DefaultCredentialsRefresh,
			CallTimeout: DefaultCredentialsCall, ConnectTimeout: DefaultCredentialsConnect},
	}
}
