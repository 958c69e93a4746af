//go:build wasip1

package oso

import "unsafe"

// State host functions (ABI v1.2). A module imports only those its plugin
// calls: the linker drops the others.

//go:wasmimport oso kv_get
func osoKVGet(key unsafe.Pointer, keyLen int32, out unsafe.Pointer, outCap int32) int32

//go:wasmimport oso kv_put
func osoKVPut(key unsafe.Pointer, keyLen int32, val unsafe.Pointer, valLen int32) int32

//go:wasmimport oso kv_delete
func osoKVDelete(key unsafe.Pointer, keyLen int32) int32

//go:wasmimport oso kv_list
func osoKVList(prefix unsafe.Pointer, prefixLen int32, after unsafe.Pointer, afterLen int32, out unsafe.Pointer, outCap int32) int32

func hostKVGet(key string, out []byte) int32 {
	return osoKVGet(unsafe.Pointer(unsafe.StringData(key)), int32(len(key)),
		unsafe.Pointer(unsafe.SliceData(out)), int32(len(out)))
}

func hostKVPut(key string, val []byte) int32 {
	return osoKVPut(unsafe.Pointer(unsafe.StringData(key)), int32(len(key)),
		unsafe.Pointer(unsafe.SliceData(val)), int32(len(val)))
}

func hostKVDelete(key string) int32 {
	return osoKVDelete(unsafe.Pointer(unsafe.StringData(key)), int32(len(key)))
}

func hostKVList(prefix, after string, out []byte) int32 {
	return osoKVList(unsafe.Pointer(unsafe.StringData(prefix)), int32(len(prefix)),
		unsafe.Pointer(unsafe.StringData(after)), int32(len(after)),
		unsafe.Pointer(unsafe.SliceData(out)), int32(len(out)))
}
