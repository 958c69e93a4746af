// Package conformance checks that the signer example of every guest SDK
// (Go, C, Rust, AssemblyScript), and the one built with Extism's
// AssemblyScript PDK (served through the Extism compatibility path),
// behaves the same: each module is loaded
// into a real plugin pool with the software signing backend and a real
// state file, served by the host's HTTP handler, and put through the same
// scenarios; every answer is compared with the Go signer's
// (examples/signer), the reference.
//
// The modules come from OSOHOST_GUESTS (build/guests in `make test`;
// `make examples-all` builds them): signer.wasm, signer-c.wasm,
// signer-rust.wasm, signer-as.wasm and signer-extism.wasm. The Go signer is built from source
// when it is not there. A language whose module is missing is skipped with
// a message naming the make target, or fails the test when
// OSOHOST_REQUIRE_GUESTS=1.
package conformance
