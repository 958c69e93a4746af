// Package credentials resolves the secrets (API tokens, passwords) that
// plugins ask for by name through the "credential" host function (ABI
// v1.2, DESIGN §2.6).
//
// A [Provider] answers a name with a [Credential]: the token, its type and
// its expiry. Two providers are built in:
//
//   - [Static] serves a fixed set read from a JSON or YAML file
//     ([LoadStatic]), or the embedded development set ([DevStatic]) whose
//     tokens are obviously fake;
//   - [Driver] asks an out-of-process credentials driver over gRPC on a
//     Unix domain socket (the protocol is credpb, service
//     osohost.credentials.v1.Credentials). [Dial] retries the connection
//     for a bounded time at startup, since the driver may start after the
//     host, and the connection is re-established in the background when
//     the driver restarts. cmd/osohost-credentials is the reference driver.
//
// A [Cache] sits in front of a provider for one plugin: it checks the
// plugin's allowlist before anything else (an empty allowlist grants
// nothing), keeps resolved credentials in a bounded LRU until shortly
// before they expire, and collapses concurrent requests for one name into
// one call of the provider. host/hostcall exposes a Cache to the guest.
//
// Tokens never reach logs, errors or metrics: [Token] and [Credential]
// print as "REDACTED" in every fmt, slog and JSON form, and errors name
// credentials, never their values. docs/credentials.md is the operator's
// and plugin developer's guide.
package credentials
