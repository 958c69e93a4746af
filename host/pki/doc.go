// Package pki holds the certificate plumbing of osohost: OpenSSH-style
// SHA-256 fingerprints of client keys, strict PEM loading of certificates and
// private keys, and a development PKI written to a local directory.
//
// It sits below the front door and the authenticators on the request path:
// configuration loading reads allowlist entries with [ParseFingerprint] and
// the CERTS__* variables with [ParseCertificates] and [X509KeyPair], and
// host/auth/mtls computes the [Fingerprint] of every verified client leaf
// and looks it up in an allowlist.
//
// # Fingerprints
//
// A fingerprint is the SHA-256 digest of the OpenSSH wire encoding of a
// public key (the blob that follows "ssh-ed25519 " in an authorized_keys
// line), written "SHA256:" followed by unpadded standard base64. It is what
// `ssh-keygen -lf key` prints, so operators compute allowlist entries with
// that command. RSA, ECDSA on P-256, P-384 and P-521, and Ed25519 keys have an
// OpenSSH encoding; every other key type yields [ErrNoSSHEncoding] and can
// never be allowlisted.
//
// # Errors
//
// No error returned by this package contains private key material or a long
// excerpt of its input.
//
// # Development PKI
//
// [GenerateDev] creates, once, a CA with a server and a client certificate in
// a directory, and reuses them on later calls. The package
// host/pki/pkitest builds a richer throwaway PKI in memory for tests.
package pki
