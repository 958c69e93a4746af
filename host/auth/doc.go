// Package auth decides who sent a request. It defines the [Principal] an
// authenticated request carries, the [Authenticator] interface that each
// method implements (host/auth/mtls for client certificates), and the
// errors every authenticator returns, so that the API layer can map them to
// HTTP statuses in one place.
//
// On the request path it runs after the front door has terminated TLS and
// before any route handler. Identity comes only from the connection itself:
// headers never carry it, and [StripIdentityHeaders] removes the X-SSL-*
// headers a TLS-terminating proxy would have set, so no handler can be
// misled by a client that sends them.
//
// # Status mapping
//
// The errors map to the statuses of the framework osohost replaces:
//
//   - [ErrNoCredentials]: 401, no client certificate (or other credential).
//   - [ErrBadCertificate]: 400, a certificate that fails verification. The
//     framework's NGINX answers 400 "The SSL certificate error" after the
//     handshake.
//   - [ErrForbidden], including [ErrNotAllowlisted]: 403, a verified client
//     that is not in the allowlist the route requires, or whose key has no
//     OpenSSH fingerprint.
package auth
