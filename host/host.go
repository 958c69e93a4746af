// Package host wires the components of an osohost server together: it turns
// a loaded config.Config into the options of each package and owns their
// lifetimes. It holds no logic of its own; read it to see every component.
//
// The request path: frontdoor (TLS 1.3, client certificate requested) →
// api (routes, X-SSL-* dropped, trace id, security headers) → auth/mtls
// (chain against CERTS__CA, fingerprint in the allowlist) → schema
// (bounded decode and validation) → plugin (pool, guest call under a
// deadline) → schema (guest output validated) → JSON.
package host

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/host/admin"
	"github.com/osohost/osohost/host/api"
	"github.com/osohost/osohost/host/auth"
	"github.com/osohost/osohost/host/auth/mtls"
	"github.com/osohost/osohost/host/auth/multi"
	"github.com/osohost/osohost/host/auth/oidc"
	"github.com/osohost/osohost/host/auth/routetoken"
	"github.com/osohost/osohost/host/config"
	"github.com/osohost/osohost/host/credentials"
	"github.com/osohost/osohost/host/frontdoor"
	"github.com/osohost/osohost/host/hostcall"
	"github.com/osohost/osohost/host/metrics"
	"github.com/osohost/osohost/host/pki"
	"github.com/osohost/osohost/host/plugin"
	"github.com/osohost/osohost/host/plugin/integrity"
	"github.com/osohost/osohost/host/reload"
	"github.com/osohost/osohost/host/schema"
	"github.com/osohost/osohost/host/signing"
	"github.com/osohost/osohost/host/signing/audit"
	"github.com/osohost/osohost/host/signing/grep11"
	"github.com/osohost/osohost/host/signing/keystore"
	"github.com/osohost/osohost/host/signing/soft"
	"github.com/osohost/osohost/host/state"
	wapi "github.com/tetratelabs/wazero/api"
)

// Options are what the host needs besides the configuration.
type Options struct {
	// Logger is the process logger; nil discards.
	Logger *slog.Logger
	// Version is the build's version, shown by the admin listener and
	// metrics.
	Version string
}

// Server is one running component: a plugin pool behind the TLS listener.
type Server struct {
	cfg     *config.Config
	log     *slog.Logger
	engine  *plugin.Engine
	plugins *reload.Manager
	front   *frontdoor.Server
	admin   *admin.Server
	metrics *metrics.Metrics
	health  func(context.Context) error // the signing backend's; nil without one
	// draining is set once a graceful stop began: /readyz then fails.
	draining atomic.Bool
	signer   signing.Signer // the backend, without the audit wrapper
	audit    *audit.Log
	oidc     *oidc.Authenticator // nil without an oidc parser
	internal *internalListener   // the plugin's internal routes; binds on first use

	state        *state.Store         // nil with STATE__BACKEND=none
	credProvider credentials.Provider // nil without a provider
	creds        *credentials.Cache
}

// New loads and checks the plugin, pre-warms its pool, and binds the
// listener. Nothing is served until [Server.Run]. On error everything
// already started is released.
func New(ctx context.Context, cfg *config.Config, opts Options) (_ *Server, err error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			s.close(context.WithoutCancel(ctx))
		}
	}()

	if cfg.Certs.AppCrt == "" || !cfg.Certs.AppKey.IsSet() || cfg.Certs.CA == "" {
		return nil, errors.New("host: CERTS__CA, CERTS__APP_CRT and CERTS__APP_KEY are required to serve (or run with --dev)")
	}
	cert, err := cfg.Certs.ServerCertificate()
	if err != nil {
		return nil, fmt.Errorf("host: server certificate: %w", err)
	}
	cas, err := cfg.Certs.ClientCAs()
	if err != nil {
		return nil, fmt.Errorf("host: client CAs: %w", err)
	}

	authn, verifyConn, err := s.openAuth(ctx, cfg, cas, log.With("logger", "osohost.auth"))
	if err != nil {
		return nil, err
	}

	s.metrics = metrics.New(metrics.Options{Version: opts.Version, Mode: string(cfg.Plugin.Mode)})
	signer, hostFuncs, err := s.openSigning(ctx, cfg, log.With("logger", "osohost.signing"))
	if err != nil {
		return nil, err
	}
	s.health = health(signer)
	credFuncs, err := s.openCredentials(ctx, cfg, log.With("logger", "osohost.credentials"))
	if err != nil {
		return nil, err
	}
	hostFuncs = append(hostFuncs, credFuncs...)
	stateFuncs, begin, err := s.openState(ctx, cfg, log.With("logger", "osohost.state"))
	if err != nil {
		return nil, err
	}
	hostFuncs = append(hostFuncs, stateFuncs...)

	plog := log.With("logger", "osohost.plugin")
	cacheDir := filepath.Join(cfg.App.Root, "cache", "wazero")
	if err := os.MkdirAll(cacheDir, 0o700); err != nil {
		plog.Warn("compilation cache disabled", "dir", cacheDir, "err", err)
		cacheDir = ""
	}
	s.engine, err = plugin.NewEngine(ctx, plugin.EngineOptions{
		CacheDir:         cacheDir,
		MemoryLimitPages: uint32(cfg.Limits.MemoryMiB) * (1 << 20 / abi.PageSize),
		Logger:           plog,
		HostFunctions:    counted(hostFuncs, s.metrics),
	})
	if err != nil {
		return nil, err
	}

	lim := schema.DefaultLimits
	lim.MaxBodyBytes = int(cfg.Server.BodyLimitBytes)
	pol := integrity.NewPolicy(cfg.Plugin.Integrity.SHA256, cfg.Plugin.Integrity.Keys)
	if pol.Enabled() {
		plog.Info("plugin integrity policy", "digests", len(cfg.Plugin.Integrity.SHA256), "keys", len(cfg.Plugin.Integrity.Keys))
	}
	// Plugin routes: every version's table is checked against this
	// configuration before it serves; internal routes bind the internal
	// listener (see internalListener).
	s.internal = newInternalListener(cfg, log.With("logger", "osohost.internal"))
	routeCheck := api.RouteCheck{RouteTokens: cfg.RouteTokens.Enabled(), Allowlists: map[string][]string{}, Logger: plog}
	if p, ok := cfg.Auth.MTLS(); ok {
		routeCheck.Allowlists[mtls.Method] = slices.Collect(maps.Keys(p.Allowlists))
	}
	if o, ok := cfg.Auth.OIDC(); ok {
		routeCheck.Allowlists[oidc.Method] = slices.Collect(maps.Keys(o.Allowlists))
	}
	s.plugins, err = reload.New(ctx, reload.Options{
		Path:   cfg.Plugin.Application,
		Engine: s.engine,
		Pool: plugin.PoolOptions{
			Size:           cfg.Pool.Size,
			CallTimeout:    cfg.Limits.CallTimeout,
			MaxOutputBytes: int(cfg.Limits.OutputBytes),
			MaxInputBytes:  int(cfg.Server.BodyLimitBytes) + 1<<20,
			MaxCalls:       int(cfg.Pool.MaxCalls),
			AcquireTimeout: cfg.Pool.AcquireTimeout,
			OnCall:         s.metrics.ObserveGuestCall,
		},
		Read: func(path string) ([]byte, error) { return integrity.ReadModule(path, pol) },
		// The audit record of a signature names the module that made it,
		// even when a reload swaps versions during the request.
		CallContext: func(ctx context.Context, sha string) context.Context {
			ci, _ := signing.CallerInfoFrom(ctx)
			ci.PluginSHA256 = sha
			return signing.WithCallerInfo(ctx, ci)
		},
		Check: func(ctx context.Context, p *plugin.Pool) error {
			if err := api.CheckRoutes(p.Routes(), routeCheck); err != nil {
				return err
			}
			if slices.ContainsFunc(p.Routes().All(), func(r plugin.Route) bool { return r.Internal }) {
				if err := s.internal.bind(); err != nil {
					return err
				}
			}
			res, err := p.Call(ctx, abi.ExportStatus, nil)
			if err == nil {
				_, _, err = api.EncodeOutput(abi.ExportStatus, res, lim)
			}
			return err
		},
		Watch:        cfg.Reload.Watch,
		Debounce:     cfg.Reload.Debounce,
		DrainTimeout: cfg.Reload.DrainTimeout,
		Logger:       plog,
		OnReload: func(ev reload.Event) {
			s.metrics.Reload(ev.OK, ev.Trigger, ev.Duration)
			if ev.OK {
				s.metrics.SetPlugin(ev.SHA256, ev.LoadedAt)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("host: %s: %w", cfg.Plugin.Application, err)
	}
	s.metrics.PoolFunc(func() (int, int, int) {
		v := s.plugins.Current()
		return v.PoolSize, v.PoolSize - v.Stats.Idle, v.Stats.Idle
	})

	var gate api.Gate
	if cfg.RouteTokens.Enabled() {
		v, err := routetoken.New(cfg.RouteTokens.Options())
		if err != nil {
			return nil, fmt.Errorf("host: route tokens: %w", err)
		}
		gate = v
		log.Info("route tokens required", "logger", "osohost.auth", "mode", cfg.RouteTokens.Mode, "carrier", cfg.RouteTokens.Carrier)
	}

	handler, err := api.New(api.Options{
		Mode:           string(cfg.Plugin.Mode),
		Pool:           func() api.Caller { return s.plugins },
		Gate:           gate,
		PrivateHeaders: []string{cfg.RouteTokens.Header, cfg.RouteTokens.AccessHeader},
		Begin:          begin,
		Observe:        s.metrics.ObserveRequest,
		StatusExtra:    s.statusExtra,
		Auth:           authn,
		RequestTimeout: cfg.Server.RequestTimeout,
		BodyLimit:      cfg.Server.BodyLimitBytes,
		Limits:         lim,
		Logger:         log.With("logger", "osohost.api"),
		Health:         s.health,
		Annotate: func(ctx context.Context, traceID string, p auth.Principal) context.Context {
			caller := p.Subject
			if p.Fingerprint != ([32]byte{}) {
				caller = pki.FormatFingerprint(p.Fingerprint)
			}
			// PluginSHA256 is set by the reload manager when it picks the
			// version that serves the call.
			return signing.WithCallerInfo(ctx, signing.CallerInfo{Caller: caller, TraceID: traceID})
		},
	})
	if err != nil {
		return nil, err
	}
	s.front, err = frontdoor.Listen(frontdoor.Options{
		Addr:              cfg.Server.Listen,
		Certificate:       func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil },
		VerifyConnection:  verifyConn,
		Handler:           handler,
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout,
		ReadTimeout:       cfg.Server.ReadTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		MaxHeaderBytes:    cfg.Server.MaxHeaderBytes,
		HTTP3:             cfg.Server.HTTP3,
		HTTP3Addr:         cfg.Server.HTTP3Listen,
		Logger:            log.With("logger", "osohost.frontdoor"),
	})
	if err != nil {
		return nil, err
	}
	s.internal.srv.Handler = handler.Internal()
	if cfg.Admin.Enabled() {
		s.admin, err = admin.Listen(admin.Options{
			Addr:        cfg.Admin.Listen,
			AllowRemote: cfg.Admin.AllowRemote,
			ReloadToken: cfg.Admin.ReloadToken.Reveal(),
			Ready:       s.ready,
			Reload:      func(ctx context.Context) error { return s.Reload(ctx, metrics.TriggerAdmin) },
			Info:        func() any { return s.versionInfo() },
			Metrics:     s.metrics.Handler(),
			Version:     opts.Version,
			Logger:      log.With("logger", "osohost.admin"),
		})
		if err != nil {
			return nil, fmt.Errorf("host: admin listener: %w", err)
		}
	}
	return s, nil
}

// Addr returns the TLS listener's bound address.
func (s *Server) Addr() net.Addr { return s.front.Addr() }

// AdminAddr returns the admin listener's bound address, or nil when it is
// off.
func (s *Server) AdminAddr() net.Addr {
	if s.admin == nil {
		return nil
	}
	return s.admin.Addr()
}

// Reload loads the plugin file again and swaps it in once it passed its
// checks; the old version keeps serving when it does not. trigger names
// the cause in logs and metrics ("signal", "admin").
func (s *Server) Reload(ctx context.Context, trigger string) error {
	return s.plugins.Reload(ctx, trigger)
}

// ready reports whether the component can serve: not draining, and the
// signing backend and OIDC issuer reachable when configured.
func (s *Server) ready(ctx context.Context) error {
	if s.draining.Load() {
		return errors.New("draining")
	}
	if s.health != nil {
		if err := s.health(ctx); err != nil {
			return err
		}
	}
	if s.oidc != nil {
		if err := s.oidc.Ready(ctx); err != nil {
			return errors.New("oidc issuer unavailable")
		}
	}
	return nil
}

// versionInfo describes the plugin version serving.
func (s *Server) versionInfo() map[string]any {
	v := s.plugins.Current()
	return map[string]any{"sha256": v.SHA256, "loaded_at": v.LoadedAt.UTC().Format(time.RFC3339Nano), "generation": v.Generation}
}

// statusExtra adds the plugin version to every ComponentStatus.
func (s *Server) statusExtra() []schema.ExtraField {
	b, _ := json.Marshal(s.versionInfo())
	return []schema.ExtraField{{Key: "plugin", Value: b}}
}

// counted wraps host functions so that every call is counted in metrics.
func counted(fns []plugin.HostFunction, m *metrics.Metrics) []plugin.HostFunction {
	out := make([]plugin.HostFunction, len(fns))
	for i, f := range fns {
		out[i] = f
		if len(f.Results) == 1 {
			out[i].Fn = countedFunc{name: f.Name, fn: f.Fn, m: m}
		}
	}
	return out
}

type countedFunc struct {
	name string
	fn   wapi.GoModuleFunction
	m    *metrics.Metrics
}

func (c countedFunc) Call(ctx context.Context, mod wapi.Module, stack []uint64) {
	c.fn.Call(ctx, mod, stack)
	c.m.HostCall(c.name, int32(uint32(stack[0])))
}

// Run serves until ctx ends, then stops gracefully: the listener closes,
// requests in flight finish (up to the shutdown timeout), and the pool and
// runtime are released.
func (s *Server) Run(ctx context.Context) error {
	attrs := []any{"logger", "osohost", "addr", s.Addr().String(), "mode", string(s.cfg.Plugin.Mode)}
	if s.admin != nil {
		attrs = append(attrs, "admin", s.admin.Addr().String())
	}
	if a := s.front.HTTP3Addr(); a != nil {
		attrs = append(attrs, "http3_addr", a.String())
	}
	if a := s.internal.start(); a != nil {
		attrs = append(attrs, "internal", a.String())
	}
	s.log.Info("listening", attrs...)
	errc := make(chan error, 1)
	go func() { errc <- s.front.Serve() }()
	if s.admin != nil {
		go func() {
			if err := s.admin.Serve(); err != nil {
				s.log.Error("admin listener stopped", "logger", "osohost", "err", err)
			}
		}()
	}
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		s.log.Info("shutting down", "logger", "osohost")
		s.draining.Store(true)
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Server.ShutdownTimeout)
		defer cancel()
		var internal sync.WaitGroup
		internal.Go(func() { _ = s.internal.shutdown(sctx) })
		err = s.front.Shutdown(sctx)
		<-errc
		internal.Wait()
	}
	if s.admin != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_ = s.admin.Shutdown(sctx)
		cancel()
	}
	s.close(context.WithoutCancel(ctx))
	s.log.Info("stopped", "logger", "osohost")
	return err
}

func (s *Server) close(ctx context.Context) {
	if s.admin != nil {
		_ = s.admin.Shutdown(ctx)
	}
	if s.internal != nil {
		_ = s.internal.shutdown(ctx)
	}
	if s.plugins != nil {
		_ = s.plugins.Close(ctx)
	}
	if s.engine != nil {
		_ = s.engine.Close(ctx)
	}
	if s.signer != nil {
		_ = s.signer.Close()
	}
	if s.audit != nil {
		_ = s.audit.Close()
	}
	if s.creds != nil {
		_ = s.creds.Close()
	}
	if s.state != nil {
		_ = s.state.Close()
	}
	if s.credProvider != nil {
		_ = s.credProvider.Close()
	}
}

// openState opens the plugin's key/value store and returns the state host
// functions and the transaction each request's guest call runs in. With
// STATE__BACKEND=none the functions refuse every call, so plugins that
// import them still load.
//
// With signing on (s.audit, set by openSigning, which runs first), the
// transaction also carries the call's audit records
// (signing.WithAuditBatch): its Commit makes them durable before the state
// commits and the response is written, its Rollback hands them to the log
// without waiting (signing.AuditedTxn). Without state and signing there is
// no transaction.
func (s *Server) openState(ctx context.Context, cfg *config.Config, log *slog.Logger) ([]plugin.HostFunction, func(context.Context) (context.Context, api.Txn), error) {
	fns := hostcall.State(log, hostcall.StateLimits{})
	var ns *state.Namespace
	if cfg.State.Backend != config.StateNone {
		path := orRoot(cfg, cfg.State.Path, "state", "state.db")
		st, err := state.Open(path, state.Options{})
		if err != nil {
			return nil, nil, fmt.Errorf("host: state: %w", err)
		}
		s.state = st
		ns, err = st.Namespace(ctx, cfg.App.Name, state.Limits{
			MaxKeys: cfg.State.MaxKeys, MaxBytes: cfg.State.MaxBytes, MaxValueBytes: int(cfg.State.MaxValueBytes),
		})
		if err != nil {
			return nil, nil, fmt.Errorf("host: state: %w", err)
		}
		u := ns.Usage()
		log.Info("state ready", "path", path, "namespace", ns.Name(), "keys", u.Keys, "bytes", u.Bytes)
	}
	audited := s.audit != nil
	if ns == nil && !audited {
		return fns, nil, nil
	}
	alog := s.log.With("logger", "osohost.signing")
	return fns, func(ctx context.Context) (context.Context, api.Txn) {
		var t signing.Txn // nil without state
		if ns != nil {
			st := ns.Begin()
			ctx, t = state.WithTxn(ctx, st), st
		}
		if !audited {
			return ctx, t
		}
		ctx, b := signing.WithAuditBatch(ctx)
		return ctx, signing.AuditedTxn(b, t, alog)
	}, nil
}

// openCredentials opens the configured credentials provider behind the
// expiry-aware cache and returns the credential host function. Without a
// provider the function refuses every name, so plugins that import it
// still load.
func (s *Server) openCredentials(ctx context.Context, cfg *config.Config, log *slog.Logger) ([]plugin.HostFunction, error) {
	c := cfg.Credentials
	var p credentials.Provider
	var err error
	switch c.Provider {
	case config.CredentialsNone:
		return hostcall.Credentials(nil, log), nil
	case config.CredentialsStatic:
		if c.File == "" {
			log.Warn("no CREDENTIALS__FILE: plugins get the built-in development credentials")
			p = credentials.DevStatic()
		} else if p, err = credentials.LoadStatic(c.File); err != nil {
			return nil, fmt.Errorf("host: credentials: %w", err)
		}
	case config.CredentialsDriver:
		if p, err = credentials.Dial(ctx, credentials.DriverOptions{
			Socket: c.Socket, ConnectTimeout: c.ConnectTimeout, FailFast: c.FailFast,
			CallTimeout: c.CallTimeout, Logger: log,
		}); err != nil {
			return nil, fmt.Errorf("host: credentials driver: %w", err)
		}
	default:
		return nil, fmt.Errorf("host: credentials provider %q", c.Provider)
	}
	s.credProvider = p
	cache, err := credentials.NewCache(p, credentials.CacheOptions{
		Allowed: c.Allowed, RefreshBefore: c.RefreshBefore, FetchTimeout: c.CallTimeout, Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("host: credentials: %w", err)
	}
	s.creds = cache
	log.Info("credentials ready", "provider", string(c.Provider), "allowed", len(c.Allowed))
	return hostcall.Credentials(cache, log), nil
}

// openSigning opens the configured signing backend behind the audit log
// and returns the host functions that expose it to plugins.
func (s *Server) openSigning(ctx context.Context, cfg *config.Config, log *slog.Logger) (signing.Signer, []plugin.HostFunction, error) {
	sc := cfg.Signing
	raw, backend, err := OpenSigner(ctx, cfg, log)
	if err != nil || raw == nil {
		return nil, nil, err
	}
	auditPath := orRoot(cfg, sc.AuditFile, "audit", audit.FileName)
	alog, err := audit.Open(filepath.Dir(auditPath), audit.Options{FileName: filepath.Base(auditPath), Logger: log})
	if err != nil {
		raw.Close()
		return nil, nil, fmt.Errorf("host: audit log: %w", err)
	}
	s.signer, s.audit = raw, alog
	var pol hostcall.Policy
	for _, t := range sc.AllowedTypes {
		pol.AllowedTypes = append(pol.AllowedTypes, signing.KeyType(t))
	}
	pol.AllowedKeyIDs = sc.AllowedKeyIDs
	signer := signing.Audited(raw, alog)
	log.Info("signing ready", "backend", string(backend), "audit_file", auditPath)
	return signer, hostcall.Signing(signer, log, pol), nil
}

// OpenSigner opens the signing backend the configuration selects, without
// the audit log: for key management (osohost keys) and for the server,
// which wraps it. It returns a nil Signer for SIGNING__BACKEND=none, and
// the backend's name.
func OpenSigner(ctx context.Context, cfg *config.Config, log *slog.Logger) (signing.Signer, config.SigningBackend, error) {
	sc := cfg.Signing
	backend := sc.Backend
	addon, hasAddon := cfg.Plugin.SigningServer()
	if backend == config.SigningAuto {
		backend = config.SigningSoftware
		if hasAddon {
			backend = config.SigningGREP11
		}
	}
	switch backend {
	case config.SigningSoftware:
		s, err := soft.New(soft.Options{
			Dir:         orRoot(cfg, sc.KeystorePath, "keystore"),
			KEKFile:     orRoot(cfg, sc.KEKFile, "keystore.kek"),
			Concurrency: sc.Concurrency,
		})
		if err != nil {
			return nil, backend, fmt.Errorf("host: software signing backend: %w", err)
		}
		return s, backend, nil
	case config.SigningGREP11:
		ks, err := keystore.Open(addon.KeystorePath)
		if err != nil {
			return nil, backend, fmt.Errorf("host: keystore: %w", err)
		}
		g, err := grep11.New(ctx, grep11.Options{
			Endpoint:       addon.Endpoint,
			CACert:         []byte(addon.CACert),
			ClientCert:     []byte(addon.ClientCert),
			ClientKey:      []byte(addon.ClientKey.Reveal()),
			Keystore:       ks,
			MaxConcurrency: sc.Concurrency,
			FailFast:       sc.FailFast,
			Logger:         log,
		})
		if err != nil {
			return nil, backend, fmt.Errorf("host: grep11 signing backend: %w", err)
		}
		return g, backend, nil
	}
	return nil, backend, nil
}

// orRoot returns p, or the path below the state directory when p is empty.
func orRoot(cfg *config.Config, p string, parts ...string) string {
	if p != "" {
		return p
	}
	return filepath.Join(append([]string{cfg.App.Root}, parts...)...)
}

// health returns the signing backend's health check, or nil without one.
func health(s signing.Signer) func(context.Context) error {
	if s == nil {
		return nil
	}
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		err := s.Health(ctx)
		var mech *grep11.MechanismError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &mech):
			return mech // the framework's own message, safe to show
		}
		return errors.New("signing backend unavailable")
	}
}

// openAuth builds the authenticator of the configured parsers: mtls,
// oidc, or both (a request is judged by the method whose credentials it
// carries), and the handshake check of the mtls parser.
func (s *Server) openAuth(ctx context.Context, cfg *config.Config, cas *x509.CertPool, log *slog.Logger) (auth.Authenticator, func(tls.ConnectionState) error, error) {
	var methods []multi.Method
	var verifyConn func(tls.ConnectionState) error
	if p, ok := cfg.Auth.MTLS(); ok {
		lists := make(map[string][][32]byte, len(p.Allowlists))
		for name, l := range p.Allowlists {
			lists[name] = l.Fingerprints()
		}
		a, err := mtls.New(mtls.Options{ClientCAs: cas, Allowlists: lists})
		if err != nil {
			return nil, nil, fmt.Errorf("host: mtls: %w", err)
		}
		verifyConn = a.VerifyConnection
		methods = append(methods, multi.Method{Name: mtls.Method, Authenticator: a, Present: multi.ClientCertificate, Allowlists: slices.Collect(maps.Keys(lists))})
	}
	if o, ok := cfg.Auth.OIDC(); ok {
		leeway := o.Leeway
		if leeway == 0 {
			leeway = -1 // none, rather than the default
		}
		octx, cancel := context.WithTimeout(ctx, 2*o.HTTPTimeout)
		a, err := oidc.New(octx, oidc.Options{
			Issuer: o.Issuer, Audience: o.Audience, RolesClaim: o.RolesClaim, ScopesClaim: o.ScopesClaim,
			Allowlists: o.Allowlists, RootCAs: []byte(o.CA), HTTPTimeout: o.HTTPTimeout, Leeway: leeway,
			JWKSRefreshMinInterval: o.JWKSRefreshMinInterval, JWKSTTL: o.JWKSTTL, RequireIssuer: o.FailFast,
			Logger: log,
		})
		cancel()
		if err != nil {
			return nil, nil, fmt.Errorf("host: oidc: %w", err)
		}
		s.oidc = a
		methods = append(methods, multi.Method{Name: oidc.Method, Authenticator: a, Present: multi.BearerToken, Allowlists: slices.Collect(maps.Keys(o.Allowlists))})
	}
	switch len(methods) {
	case 0:
		log.Warn("no auth parser configured: every request is refused with 401, as the framework does")
		return denyAll{}, nil, nil
	case 1:
		return methods[0].Authenticator, verifyConn, nil
	}
	a, err := multi.New(methods...)
	if err != nil {
		return nil, nil, fmt.Errorf("host: auth: %w", err)
	}
	return a, verifyConn, nil
}

// denyAll refuses every request with 401: no auth parser is configured.
type denyAll struct{}

func (denyAll) Authenticate(*http.Request, string) (auth.Principal, error) {
	return auth.Principal{}, auth.ErrNoCredentials
}

// Internal listener: the plugin's internal routes (/internal/…), served
// on plain HTTP at SERVER__INTERNAL_LISTEN, a loopback address, without
// authentication (docs/isv-routes.md).

// internalListener binds when a plugin version first declares an internal
// route (at start, or at a reload, which fails if the address cannot be
// bound) and serves until the host stops; a later version without internal
// routes leaves it answering 404. A component whose plugin declares none
// never binds the port.
type internalListener struct {
	addr string
	srv  *http.Server
	log  *slog.Logger

	mu      sync.Mutex
	ln      net.Listener // nil until bound
	serving bool         // Run started: a listener bound later serves at once
	stopped bool
}

func newInternalListener(cfg *config.Config, log *slog.Logger) *internalListener {
	return &internalListener{addr: cfg.Server.InternalListen, log: log, srv: &http.Server{
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout,
		ReadTimeout:       cfg.Server.ReadTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		MaxHeaderBytes:    cfg.Server.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}}
}

// bind binds the address unless it is bound already; the bound address
// must be a loopback one.
func (l *internalListener) bind() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.ln != nil:
		return nil
	case l.stopped:
		return errors.New("host: internal listener: stopping")
	}
	ln, err := net.Listen("tcp", l.addr)
	if err != nil {
		return fmt.Errorf("host: internal listener: %w", err)
	}
	if a, ok := ln.Addr().(*net.TCPAddr); !ok || !a.IP.IsLoopback() {
		ln.Close()
		return fmt.Errorf("host: internal listener: %s bound %s, not a loopback address", l.addr, ln.Addr())
	}
	l.ln = ln
	if l.serving {
		l.log.Info("internal listener bound", "internal", ln.Addr().String())
		go l.serve(ln)
	}
	return nil
}

// start serves the listener if it is bound, and any bound later, and
// returns its address (nil when unbound).
func (l *internalListener) start() net.Addr {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.serving = true
	if l.ln == nil {
		return nil
	}
	go l.serve(l.ln)
	return l.ln.Addr()
}

func (l *internalListener) serve(ln net.Listener) {
	if err := l.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		l.log.Error("internal listener stopped", "err", err)
	}
}

// shutdown stops the listener gracefully, bounded by ctx; it is safe to
// call more than once and on a listener never bound.
func (l *internalListener) shutdown(ctx context.Context) error {
	l.mu.Lock()
	l.stopped = true
	ln := l.ln
	l.mu.Unlock()
	err := l.srv.Shutdown(ctx)
	if ln != nil {
		_ = ln.Close() // already closed if it served
	}
	return err
}
