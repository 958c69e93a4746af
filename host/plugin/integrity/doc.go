// Package integrity decides whether a plugin module may be loaded: when a
// [Policy] is configured, only modules whose SHA-256 digest is allowlisted,
// or that carry a valid detached Ed25519 signature, are.
//
// It sits before host/plugin on the load path: [ReadModule] reads the .wasm
// file (bounded as plugin.ReadModule bounds it) and its signature file, and
// returns the module's bytes only when the policy accepts them; those bytes
// then go to plugin.Engine.Compile. A refused module is never compiled, so a
// reload that fails verification leaves the generation already serving in
// place.
//
// # Formats
//
//   - Signature: Ed25519 (RFC 8032, pure, not Ed25519ph) over the raw bytes
//     of the module file, stored next to it in PLUGIN.wasm.sig as the
//     standard base64 encoding of the 64-byte signature, optionally wrapped
//     and followed by a newline ([Sign], [ParseSignature]). OpenSSL 3 makes
//     the same signature with `openssl pkeyutl -sign -rawin`.
//   - Digest allowlist entry: the 64 hex digits of the module's SHA-256, in
//     either case, optionally after "sha256:" ([ParseSHA256]), as
//     `sha256sum` and `osohost plugin hash` print it.
//   - Public key in configuration: "ed25519:" followed by the standard
//     base64 of the 32-byte key ([ParsePublicKey], [FormatPublicKey]); in a
//     file: PEM "PUBLIC KEY" (SubjectPublicKeyInfo, what `openssl pkey
//     -pubout` writes).
//   - Private key: PEM "PRIVATE KEY" (unencrypted PKCS #8, what `openssl
//     genpkey -algorithm ed25519` writes), in a file of mode 0600
//     ([WritePrivateKeyFile]).
//
// Parsers bound their input before decoding it and their errors never repeat
// it: no key, signature or module bytes appear in an error or a log line.
package integrity
