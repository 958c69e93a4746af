package config

import (
	"io"
	"log/slog"
	"time"

	"go.yaml.in/yaml/v3"
)

// Redacted returns the effective configuration as nested maps keyed like
// the configuration file, safe to print: certificates appear as summaries
// ([PEM.Summary]), secrets as [RedactedText], allowlists as their
// fingerprints (which are public), durations as Go duration strings and the
// log level by name. `osohost config` prints it; it is not meant to be
// loaded back.
func (c Config) Redacted() map[string]any {
	return map[string]any{
		"app": map[string]any{
			"name":  c.App.Name,
			"debug": c.App.Debug,
			"root":  c.App.Root,
		},
		"certs": map[string]any{
			"ca":      c.Certs.CA.Summary(),
			"app_crt": c.Certs.AppCrt.Summary(),
			"app_key": c.Certs.AppKey.String(),
		},
		"logging": map[string]any{"level": levelText(c.Logging.Level)},
		"plugin": map[string]any{
			"mode":             string(c.Plugin.Mode),
			"application":      c.Plugin.Application,
			"addons":           redactAddons(c.Plugin.Addons),
			"sha256_allowlist": hexDigests(c.Plugin.Integrity.SHA256),
			"signing_keys":     integrityKeys(c.Plugin.Integrity.Keys),
		},
		"auth": map[string]any{"parsers": redactParsers(c.Auth.Parsers)},
		"server": map[string]any{
			"listen":              c.Server.Listen,
			"internal_listen":     c.Server.InternalListen,
			"request_timeout":     duration(c.Server.RequestTimeout),
			"body_limit_bytes":    c.Server.BodyLimitBytes,
			"read_header_timeout": duration(c.Server.ReadHeaderTimeout),
			"read_timeout":        duration(c.Server.ReadTimeout),
			"idle_timeout":        duration(c.Server.IdleTimeout),
			"shutdown_timeout":    duration(c.Server.ShutdownTimeout),
			"max_header_bytes":    c.Server.MaxHeaderBytes,
			"http3":               c.Server.HTTP3,
			"http3_listen":        c.Server.HTTP3Listen,
		},
		"pool": map[string]any{
			"size":            c.Pool.Size,
			"max_calls":       c.Pool.MaxCalls,
			"acquire_timeout": duration(c.Pool.AcquireTimeout),
		},
		"admin": map[string]any{
			"listen":       orOff(c.Admin.Listen),
			"allow_remote": c.Admin.AllowRemote,
			"reload_token": c.Admin.ReloadToken.String(),
		},
		"reload": map[string]any{
			"watch":         c.Reload.Watch,
			"debounce":      duration(c.Reload.Debounce),
			"drain_timeout": duration(c.Reload.DrainTimeout),
		},
		"state": map[string]any{
			"backend":         string(c.State.Backend),
			"path":            c.State.Path,
			"max_keys":        c.State.MaxKeys,
			"max_bytes":       c.State.MaxBytes,
			"max_value_bytes": c.State.MaxValueBytes,
		},
		"route_tokens": map[string]any{
			"keys":           c.RouteTokens.Keys.String(),
			"mode":           c.RouteTokens.Mode,
			"carrier":        c.RouteTokens.Carrier,
			"header":         c.RouteTokens.Header,
			"id":             c.RouteTokens.ID,
			"port":           c.RouteTokens.Port,
			"access_token":   c.RouteTokens.AccessToken.String(),
			"access_header":  c.RouteTokens.AccessHeader,
			"max_failures":   c.RouteTokens.MaxFailures,
			"failure_window": duration(c.RouteTokens.FailureWindow),
			"max_clients":    c.RouteTokens.MaxClients,
		},
		"credentials": map[string]any{
			"provider":        string(c.Credentials.Provider),
			"file":            c.Credentials.File,
			"socket":          c.Credentials.Socket,
			"allowed":         orEmpty(c.Credentials.Allowed),
			"refresh_before":  duration(c.Credentials.RefreshBefore),
			"call_timeout":    duration(c.Credentials.CallTimeout),
			"connect_timeout": duration(c.Credentials.ConnectTimeout),
			"fail_fast":       c.Credentials.FailFast,
		},
		"limits": map[string]any{
			"memory_mib":   c.Limits.MemoryMiB,
			"output_bytes": c.Limits.OutputBytes,
			"call_timeout": duration(c.Limits.CallTimeout),
		},
		"mock": map[string]any{
			"frontend_endpoint": c.Mock.FrontendEndpoint,
			"backend_endpoint":  c.Mock.BackendEndpoint,
			"max_retries":       c.Mock.MaxRetries,
		},
		"signing": map[string]any{
			"backend":         string(c.Signing.Backend),
			"keystore_path":   c.Signing.KeystorePath,
			"kek_file":        c.Signing.KEKFile,
			"audit_file":      c.Signing.AuditFile,
			"allowed_types":   c.Signing.AllowedTypes,
			"allowed_key_ids": c.Signing.AllowedKeyIDs,
			"concurrency":     c.Signing.Concurrency,
			"fail_fast":       c.Signing.FailFast,
		},
		"dev": c.Dev,
	}
}

func duration(d time.Duration) string { return d.String() }

func redactAddons(addons []Addon) []any {
	out := make([]any, 0, len(addons))
	for _, a := range addons {
		m := map[string]any{"type": string(a.Type)}
		if a.Type == AddonSigningServer {
			s := a.SigningServer
			m["grep11_endpoint"] = s.Endpoint
			m["ca_cert"] = s.CACert.Summary()
			m["client_cert"] = s.ClientCert.Summary()
			m["client_key"] = s.ClientKey.String()
			m["keystore_path"] = s.KeystorePath
		}
		out = append(out, m)
	}
	return out
}

func redactParsers(parsers []Parser) []any {
	out := make([]any, 0, len(parsers))
	for _, p := range parsers {
		m := map[string]any{"type": string(p.Type)}
		if p.Allowlists != nil {
			lists := make(map[string]any, len(p.Allowlists))
			for name, a := range p.Allowlists {
				lists[name] = a.Strings()
			}
			m["allowlist"] = lists
		}
		if o := p.OIDC; o != nil {
			rules := make(map[string]any, len(o.Allowlists))
			for name, r := range o.Allowlists {
				rules[name] = map[string]any{"roles": orEmpty(r.Roles), "scopes": orEmpty(r.Scopes)}
			}
			m["issuer"], m["audience"], m["allowlist"] = o.Issuer, o.Audience, rules
			m["roles_claim"], m["scopes_claim"], m["ca"] = o.RolesClaim, o.ScopesClaim, o.CA.Summary()
			m["leeway"], m["jwks_ttl"] = duration(o.Leeway), duration(o.JWKSTTL)
			m["jwks_refresh_min_interval"], m["http_timeout"] = duration(o.JWKSRefreshMinInterval), duration(o.HTTPTimeout)
			m["fail_fast"] = o.FailFast
		}
		out = append(out, m)
	}
	return out
}

// LogValue implements slog.LogValuer: a Config logs as [Config.Redacted].
func (c Config) LogValue() slog.Value { return slog.AnyValue(c.Redacted()) }

// WriteYAML writes [Config.Redacted] to w as YAML, keys sorted.
func (c Config) WriteYAML(w io.Writer) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(c.Redacted()); err != nil {
		return err
	}
	return enc.Close()
}
