// Package multi combines authenticators of several methods, such as client
// certificates (host/auth/mtls) and bearer tokens (host/auth/oidc), into
// one auth.Authenticator.
//
// # Which method decides
//
// Each [Method] says which allowlists it serves and how to tell that a
// request carries its credentials. For a request and an allowlist name:
//
//  1. The methods that serve the allowlist are considered in the order
//     given to [New]. The first whose credentials the request carries
//     decides, and its answer is final: when it refuses, no other method
//     is tried. With mtls given first, a request that presents a client
//     certificate is judged by that certificate alone, even if it also
//     carries a bearer token. Falling back would let a client whose
//     certificate was refused try its luck with another credential, and
//     would make the outcome depend on which credentials a client happens
//     to send.
//  2. If none of them applies, but the request carries the credentials of
//     a method that does not serve the allowlist, that method checks them
//     and its refusal is returned (a certificate that fails verification
//     stays a 400), while its success becomes auth.ErrNotAllowlisted (403).
//     A method never admits a request to an allowlist it does not serve.
//     With a single method this gives exactly that method's answers.
//  3. A request that carries no credential of any method gets
//     auth.ErrNoCredentials (401).
package multi
