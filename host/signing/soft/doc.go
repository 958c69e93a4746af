// Package soft is the software signing backend: keys are generated in the
// process, stored in a keystore directory wrapped with AES-256-GCM under a
// key-encryption key (KEK), and unwrapped only in memory. It suits
// development, tests and deployments whose key protection is the host's own
// (a confidential-computing VM); production custody uses the HSM backend.
//
// Private keys are never written in clear and never logged; decrypted keys
// stay in a bounded LRU cache so that signing does not decrypt per
// signature.
//
// On the request path it sits behind host/hostcall, which calls it as a
// signing.Signer, wrapped by signing.Audited so that every signature is
// recorded before it is returned.
package soft
