//go:build wasip1

package oso

import "unsafe"

// Credential host function (ABI v1.2). A module imports it only when its
// plugin calls Credential: the linker drops it otherwise.

//go:wasmimport oso credential
func osoCredential(name unsafe.Pointer, nameLen int32, out unsafe.Pointer, outCap int32) int32

func hostCredential(name string, out []byte) int32 {
	return osoCredential(unsafe.Pointer(unsafe.StringData(name)), int32(len(name)),
		unsafe.Pointer(unsafe.SliceData(out)), int32(len(out)))
}
