// Package bench measures the costs that decide osohost's plugin runtime:
// a call through the native ABI against a bare wazero call and an
// extism/go-sdk call, the per-document cost of to_isv and to_oso, what
// deadline enforcement costs, instance creation and compilation, and the
// host's whole request pipeline against plain encoding/json.
//
// The package holds benchmarks only; README.md explains each one and
// docs/bench.md records the figures. Run them with
//
//	go test -run '^$' -bench . -benchmem -count 5 ./bench/
//
// The benchmark guests are built from source (bench/testdata) on first use.
package bench
