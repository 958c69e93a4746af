// Package mtls authenticates requests by their TLS client certificate: it
// verifies the chain the client presented against the trusted client CAs
// (CERTS__CA) and looks the leaf's OpenSSH fingerprint up in a named
// allowlist (AUTH__PARSERS__<n>__ALLOWLIST).
//
// # Where verification happens
//
// The front door's TLS listener requests client certificates with
// tls.RequestClientCert: crypto/tls asks for a certificate, checks that the
// client holds its key, and verifies nothing else. [Authenticator.Authenticate]
// then verifies the chain inside the HTTP handler, so that every case gets
// an HTTP answer with the statuses of the framework osohost replaces (whose
// NGINX runs "ssl_verify_client optional"):
//
//   - no certificate: auth.ErrNoCredentials (401)
//   - a certificate that fails verification: auth.ErrBadCertificate (400)
//   - verified, but not in the allowlist or without an OpenSSH
//     fingerprint: auth.ErrNotAllowlisted (403)
//
// A listener may instead refuse bad certificates during the handshake by
// setting tls.Config.VerifyConnection to [Authenticator.VerifyConnection].
// A presented certificate that fails verification (another CA, expired)
// then aborts the handshake with a bad_certificate alert and no HTTP status
// at all, while a client without a certificate still reaches HTTP and gets
// its 401. Both behaviours are compatible with OSO clients; the handler
// check stays in place in both modes. VerifyConnection also runs on resumed
// sessions, so a resumed connection is checked at the current time too.
//
// # Verification rules
//
// The chain is verified with crypto/x509 against Options.ClientCAs only
// (never the system roots), with the rest of the presented chain as
// intermediates, at Options.Now, for the clientAuth extended key usage.
// Leaves without an extended key usage extension are valid for any usage, and
// the key usage and basic constraints of a leaf are not checked, so the
// framework's deployment certificates (RSA-4096 leaves issued with CA:TRUE
// and no SAN, key usage or EKU) are accepted. At most Options.MaxChainDepth
// intermediates may sit between the leaf and a trusted root, as NGINX's
// "ssl_verify_depth 3" allows. Revocation is not checked.
//
// A chain that verified is remembered (by the hash of the presented
// certificates, at most 1024 of them) together with the window in which
// every certificate of its path is valid, so the signature checks run once
// per client rather than once per request; outside that window the chain is
// verified again.
package mtls
