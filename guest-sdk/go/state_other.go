//go:build !wasip1

package oso

import (
	"encoding/binary"
	"slices"
	"strings"
	"sync"

	"github.com/osohost/osohost/abi"
)

// Outside WebAssembly the state functions work on an in-memory map of the
// process, so that plugin code can be unit-tested natively: keys, values
// and listings follow the host's rules (limits, statuses, encodings), but
// there are no transactions (a write applies at once, and a failing call
// keeps what it wrote) and no quotas. The map vanishes when the process
// exits.

var nativeKV struct {
	mu    sync.Mutex
	m     map[string][]byte
	keys  []string // sorted
	fault int32    // tests: when non-zero, every state function returns it
}

func nativeKVKey(key string) int32 {
	switch {
	case key == "":
		return int32(abi.StatusBadArgument)
	case len(key) > abi.MaxKVKeyBytes:
		return int32(abi.StatusTooLarge)
	}
	return 0
}

func hostKVGet(key string, out []byte) int32 {
	kv := &nativeKV
	kv.mu.Lock()
	defer kv.mu.Unlock()
	if kv.fault != 0 {
		return kv.fault
	}
	if st := nativeKVKey(key); st != 0 {
		return st
	}
	v, ok := kv.m[key]
	if !ok {
		return int32(abi.StatusNotFound)
	}
	if len(v) <= len(out) {
		copy(out, v)
	}
	return int32(len(v))
}

func hostKVPut(key string, val []byte) int32 {
	kv := &nativeKV
	kv.mu.Lock()
	defer kv.mu.Unlock()
	if kv.fault != 0 {
		return kv.fault
	}
	if st := nativeKVKey(key); st != 0 {
		return st
	}
	if len(val) > abi.MaxKVValueBytes {
		return int32(abi.StatusTooLarge)
	}
	if kv.m == nil {
		kv.m = map[string][]byte{}
	}
	if _, ok := kv.m[key]; !ok {
		i, _ := slices.BinarySearch(kv.keys, key)
		kv.keys = slices.Insert(kv.keys, i, key)
	}
	kv.m[key] = append([]byte{}, val...)
	return 0
}

func hostKVDelete(key string) int32 {
	kv := &nativeKV
	kv.mu.Lock()
	defer kv.mu.Unlock()
	if kv.fault != 0 {
		return kv.fault
	}
	if st := nativeKVKey(key); st != 0 {
		return st
	}
	if _, ok := kv.m[key]; !ok {
		return int32(abi.StatusNotFound)
	}
	delete(kv.m, key)
	i, _ := slices.BinarySearch(kv.keys, key)
	kv.keys = slices.Delete(kv.keys, i, i+1)
	return 0
}

func hostKVList(prefix, after string, out []byte) int32 {
	kv := &nativeKV
	kv.mu.Lock()
	defer kv.mu.Unlock()
	if kv.fault != 0 {
		return kv.fault
	}
	if len(prefix) > abi.MaxKVKeyBytes || len(after) > abi.MaxKVKeyBytes {
		return int32(abi.StatusTooLarge)
	}
	if len(out) < 4 {
		return int32(abi.StatusTooSmall)
	}
	i, _ := slices.BinarySearch(kv.keys, max(prefix, after))
	b := out[:4]
	n := 0
	for ; i < len(kv.keys) && strings.HasPrefix(kv.keys[i], prefix); i++ {
		k := kv.keys[i]
		if k == after {
			continue
		}
		if len(b)+4+len(k) > len(out) {
			if n == 0 {
				return int32(abi.StatusTooSmall)
			}
			break
		}
		b = abi.AppendString(b, k)
		n++
	}
	binary.LittleEndian.PutUint32(b, uint32(n))
	return int32(len(b))
}
