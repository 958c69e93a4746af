// Package bench is the benchmark suite of osohost's signing path. Its Go
// benchmarks measure the costs that decide the plugin runtime: a call
// through the native ABI against a bare wazero export call and an
// extism/go-sdk call, the sign and sign_many host calls against native
// signing (ED25519 and SECP256K1), DocumentList validation and a guest's
// per-document cost, examples/signer's to_isv with and without deadline
// enforcement, instance creation, pool refill and compilation, and the
// host's whole request pipeline against plain Go.
//
// The load runs (examples/signer served by `osohost run` against native
// Go and the Python stack osohost replaces) are cmd/osobench's, built on
// the subpackages loadgen (the load generator), native (the floor) and
// svgchart (the charts); peer holds the Python peer. `make bench` runs
// everything and writes docs/bench.md; README.md explains every figure.
// The Go benchmarks alone:
//
//	go test -run '^$' -bench . -benchmem -count 5 ./bench/
//
// The benchmark guests are built from source on first use, unless
// OSOHOST_GUESTS names a directory holding them.
package bench
