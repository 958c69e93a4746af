//go:build wasip1

package oso

import (
	"unsafe"

	"github.com/osohost/osohost/abi"
)

// Host functions, module "oso" (abi.ImportModule).

//go:wasmimport oso output
func osoOutput(kind int32, ptr unsafe.Pointer, n int32) int32

//go:wasmimport oso error
func osoError(code int32, ptr unsafe.Pointer, n int32) int32

//go:wasmimport oso log
func osoLog(level int32, ptr unsafe.Pointer, n int32) int32

func hostOutput(kind int32, b []byte) int32 {
	return osoOutput(kind, unsafe.Pointer(unsafe.SliceData(b)), int32(len(b)))
}

func hostError(code int32, msg string) int32 {
	return osoError(code, unsafe.Pointer(unsafe.StringData(msg)), int32(len(msg)))
}

func hostLog(level int32, msg string) int32 {
	return osoLog(level, unsafe.Pointer(unsafe.StringData(msg)), int32(len(msg)))
}

// Signing host functions (ABI v1.1). A module imports only those its
// plugin calls: the linker drops the others.

//go:wasmimport oso key_generate
func osoKeyGenerate(t int32, out unsafe.Pointer, outCap int32) int32

//go:wasmimport oso key_list
func osoKeyList(t int32, out unsafe.Pointer, outCap int32) int32

//go:wasmimport oso key_public
func osoKeyPublic(id unsafe.Pointer, idLen int32, out unsafe.Pointer, outCap int32) int32

//go:wasmimport oso sign
func osoSign(id unsafe.Pointer, idLen int32, data unsafe.Pointer, dataLen int32, out unsafe.Pointer, outCap int32) int32

//go:wasmimport oso sign_many
func osoSignMany(in unsafe.Pointer, inLen int32, out unsafe.Pointer, outCap int32) int32

func hostKeyGenerate(t int32, out []byte) int32 {
	return osoKeyGenerate(t, unsafe.Pointer(unsafe.SliceData(out)), int32(len(out)))
}

func hostKeyList(t int32, out []byte) int32 {
	return osoKeyList(t, unsafe.Pointer(unsafe.SliceData(out)), int32(len(out)))
}

func hostKeyPublic(id string, out []byte) int32 {
	return osoKeyPublic(unsafe.Pointer(unsafe.StringData(id)), int32(len(id)),
		unsafe.Pointer(unsafe.SliceData(out)), int32(len(out)))
}

func hostSign(id string, data, out []byte) int32 {
	return osoSign(unsafe.Pointer(unsafe.StringData(id)), int32(len(id)),
		unsafe.Pointer(unsafe.SliceData(data)), int32(len(data)),
		unsafe.Pointer(unsafe.SliceData(out)), int32(len(out)))
}

func hostSignMany(in, out []byte) int32 {
	return osoSignMany(unsafe.Pointer(unsafe.SliceData(in)), int32(len(in)),
		unsafe.Pointer(unsafe.SliceData(out)), int32(len(out)))
}

// Guest exports (abi.Export*). They live here, in the SDK, so that a plugin's
// package main only registers its Plugin.

//go:wasmexport oso_abi_v1
func exportMarker() int32 { return abi.Minor }

//go:wasmexport oso_alloc
func exportAlloc(size int32) int32 {
	b := rt.alloc(size)
	if b == nil {
		return 0
	}
	return int32(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
}

//go:wasmexport oso_stateless
func exportStateless() int32 { return rt.stateless() }

//go:wasmexport init
func exportInit() int32 { return rt.initialize() }

//go:wasmexport to_isv
func exportToISV(ptr, n int32) int32 {
	in, ok := rt.input(uintptr(uint32(ptr)), n)
	if !ok {
		return rt.badInput(abi.ExportToISV)
	}
	return rt.toISV(in)
}

//go:wasmexport to_oso
func exportToOSO(ptr, n int32) int32 { return rt.toOSO() }

//go:wasmexport status
func exportStatus(ptr, n int32) int32 { return rt.status() }
