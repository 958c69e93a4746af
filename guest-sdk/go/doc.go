// Package oso is the Go guest SDK for osohost plugins: it implements the
// native OSO plugin ABI version 1.3 (abi/SPEC.md) so that a plugin is a Go
// type with three methods, compiled to a WebAssembly module.
//
// # Where it sits
//
// The OSO calls the component's HTTP API; osohost validates the request,
// takes an instance of the plugin module from its pool and calls one of the
// module's exports. This package provides those exports (oso_abi_v1,
// oso_alloc, init, oso_stateless, to_oso, to_isv, status, and oso_routes
// with handle_http for the plugin's own routes, see [Handle]), turns the input
// into typed values, calls the registered [Plugin] and hands the result back
// to the host in the compact encoding. The host writes the JSON the OSO sees.
//
// # Writing a plugin
//
//	package main
//
//	import oso "github.com/osohost/osohost/guest-sdk/go"
//
//	type plugin struct{}
//
//	func (plugin) Status() (oso.Status, error)                  { return oso.OK(), nil }
//	func (plugin) ToOSO(out *oso.DocumentList) error             { return nil }
//	func (plugin) ToISV(in *oso.Documents, out *oso.Reply) error { out.SetJSONString(`"ok"`); return nil }
//
//	func init() { oso.Register(plugin{}) }
//
//	func main() {} // never called: see below
//
// Build it as a WASI reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o plugin.wasm .
//
// With -buildmode=c-shared the module's "_initialize" export starts the Go
// runtime and runs every package's init functions, but never calls main.main.
// Register the plugin from a func init in package main; main must exist and
// should stay empty. A module built without -buildmode=c-shared is a WASI
// command, which the host refuses.
//
// # Speed and ownership
//
// The document path uses no encoding/json and no reflection. [Documents]
// yields [Document] values whose strings are views into the input buffer: no
// copy, no allocation. They are valid until the method returns; the buffer is
// reused by the next call. Keep a document with [Document.Clone] (one
// allocation) or a field with strings.Clone. Output is appended to a buffer
// the SDK reuses from call to call ([DocumentList], [Reply.Buffer]), and the
// host copies it once.
//
// # Errors, panics and logs
//
// A method returning an [Error] (or [Errorf]) makes the HTTP request fail with
// that status code and message. Any other error is logged through the host
// and answered with a generic 500; its text never reaches the client. A
// panic is not recovered: it traps the module, the host answers 500 and
// discards the instance, so in-memory state is lost. [Log] writes log lines
// through the host.
//
// # Signing
//
// [GenerateKey], [ListKeys], [PublicKey], [Sign] and [SignMany] use key
// pairs the host keeps (ABI v1.1, abi/SPEC.md §6.5): the private keys never
// enter the module. [Key.PEM], [PublicKeyPEM] and [SignHex] give the Python
// framework addon's PEM and lowercase-hex forms. Sign batches with
// [SignMany]: one crossing for the batch, signed in parallel by the host.
// Failures are [*HostError] values matching [ErrNotFound], [ErrNotAllowed],
// [ErrUnavailable], [ErrBadArgument] or [ErrTooLarge]. They work only while
// Status, ToOSO or ToISV runs.
//
// # Concurrency and state
//
// An instance runs one call at a time, so methods need no locking. A plugin
// may keep state in memory between calls; the host then runs a single
// instance unless the operator configures more. Register with [Stateless] to
// declare that no state is kept, which lets the host run several instances.
// A reload, a trap or a deadline starts a fresh instance with empty memory.
// Goroutines started by a plugin run only while an export call is in
// progress.
//
// # Outside WebAssembly
//
// The package also builds for the host's own GOOS so that plugin code can be
// vetted and unit-tested natively: call the plugin's methods with values from
// [NewDocuments] and a zero [Reply]. There, log lines go to standard error,
// and the signing functions use an in-memory keystore private to the
// process: Ed25519 keys work as on the host, SECP256K1 answers
// [ErrBadArgument], and there is no policy.
package oso
