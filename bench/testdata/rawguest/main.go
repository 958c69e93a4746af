// Command rawguest implements the native ABI by hand, without the SDK: its
// to_isv hands the input buffer straight back through oso.output as a
// DocumentList, without reading it. It measures the boundary alone.
//
// Build:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o rawguest.wasm ./bench/testdata/rawguest
package main

import (
	"unsafe"

	"github.com/osohost/osohost/abi"
)

//go:wasmimport oso output
func output(kind int32, ptr unsafe.Pointer, n int32) int32

// in is the input buffer handed out by oso_alloc and reused by every call.
var in []byte

var (
	emptyList = abi.AppendDocumentListHeader(nil, 0)
	okStatus  = abi.AppendStatus(nil, 200, "OK", nil, "")
)

func emit(kind abi.OutputKind, b []byte) int32 {
	if output(int32(kind), unsafe.Pointer(unsafe.SliceData(b)), int32(len(b))) < 0 {
		return 1
	}
	return abi.ResultOK
}

//go:wasmexport oso_abi_v1
func marker() int32 { return abi.Minor }

//go:wasmexport oso_stateless
func stateless() int32 { return 1 }

//go:wasmexport oso_alloc
func alloc(size int32) int32 {
	if size <= 0 {
		return 0
	}
	if int(size) > len(in) {
		in = make([]byte, size)
	}
	return int32(uintptr(unsafe.Pointer(unsafe.SliceData(in))))
}

//go:wasmexport to_isv
func toISV(ptr, n int32) int32 {
	if n < 0 || int(n) > len(in) || n > 0 && uintptr(uint32(ptr)) != uintptr(unsafe.Pointer(unsafe.SliceData(in))) {
		return 1
	}
	return emit(abi.OutputDocumentList, in[:n])
}

//go:wasmexport to_oso
func toOSO(ptr, n int32) int32 { return emit(abi.OutputDocumentList, emptyList) }

//go:wasmexport status
func status(ptr, n int32) int32 { return emit(abi.OutputStatus, okStatus) }

func main() {}
