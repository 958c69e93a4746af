package hostcall

import (
	"math"

	"github.com/tetratelabs/wazero/api"

	"github.com/osohost/osohost/abi"
)

// ret sets a host function's i32 result.
func ret(stack []uint64, v int32) { stack[0] = api.EncodeI32(v) }

// readPair returns a view of guest memory for a (ptr, n) pair. A negative
// length gives StatusBadPointer, a length over limit StatusTooLarge (before
// memory is touched), a pair outside linear memory StatusBadPointer. A pair
// of length 0 is valid whatever ptr is. The view is valid only until the
// guest runs again: copy what outlives the host function.
func readPair(mem api.Memory, ptr, n uint32, limit int) ([]byte, abi.Status) {
	if n > math.MaxInt32 {
		return nil, abi.StatusBadPointer
	}
	if int64(n) > int64(limit) {
		return nil, abi.StatusTooLarge
	}
	if n == 0 {
		return nil, abi.StatusOK
	}
	b, ok := mem.Read(ptr, n)
	if !ok {
		return nil, abi.StatusBadPointer
	}
	return b, abi.StatusOK
}

// checkOut bounds-checks an output buffer (ptr, capacity) without reading
// it. Linear memory never shrinks and the guest does not run during a host
// function, so a buffer found in bounds stays in bounds until the function
// writes its result.
func checkOut(mem api.Memory, ptr, n uint32) abi.Status {
	if n > math.MaxInt32 {
		return abi.StatusBadPointer
	}
	if n == 0 {
		return abi.StatusOK
	}
	if uint64(ptr)+uint64(n) > uint64(mem.Size()) {
		return abi.StatusBadPointer
	}
	return abi.StatusOK
}

// write copies b into guest memory at ptr with one Write and returns the
// function result: len(b), or StatusBadPointer.
func write(mem api.Memory, ptr uint32, b []byte) int32 {
	if len(b) > 0 && !mem.Write(ptr, b) {
		return int32(abi.StatusBadPointer)
	}
	return int32(len(b))
}
