// Package pkitest builds a throwaway PKI in memory for tests that need real
// TLS: a CA, a server certificate, allowlisted and non-allowlisted client
// certificates, a certificate from another CA, and the awkward cases the
// front door must handle (expired, CA-style RSA leaves without SAN or EKU,
// keys without an OpenSSH encoding).
//
// It is meant for _test.go files of any osohost package: [New] takes a
// testing.TB and fails the test on error, so callers need no error handling.
// Every call creates fresh keys; nothing is shared between tests.
package pkitest
