//go:build wasip1

package oso

import "github.com/osohost/osohost/abi"

// Plugin route exports (ABI v1.3). Every module built with the SDK has
// them; a plugin that registers no route hands over no route table, and
// the host then serves none.

//go:wasmexport oso_routes
func exportRoutes() int32 { return rt.routeTable() }

//go:wasmexport handle_http
func exportHandleHTTP(ptr, n int32) int32 {
	in, ok := rt.input(uintptr(uint32(ptr)), n)
	if !ok {
		return rt.badInput(abi.ExportHandleHTTP)
	}
	return rt.handleHTTP(in)
}
