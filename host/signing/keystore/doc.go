// Package keystore reads and writes the framework's keystore directory,
// <dir>/<TYPE>/<uuid>.key|.pub, for every signing backend: the software
// backend stores keys wrapped under its key-encryption key there, the HSM
// backend stores HSM-wrapped blobs. A .key is an opaque blob; a .pub is
// the public key as SubjectPublicKeyInfo DER.
//
// Reading accepts what the framework wrote: files with default permissions,
// orphans left by a crash (a .key without its .pub, or the reverse: neither
// counts as a key), and SECP256K1 .pub files with bytes after the DER.
// Writing is safe: directories 0700, files 0600 written to a temporary
// name, fsynced and renamed into place, the .pub before the .key, the
// directory fsynced after each rename. A key exists once its .key does.
package keystore
