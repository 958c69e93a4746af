package oso

import (
	"errors"
	"strconv"

	"github.com/osohost/osohost/abi"
)

// Durable state (ABI v1.2). The host keeps a key/value store per plugin.
// All the state calls of one export call (one request) form a
// transaction: they see each other's writes at once, and the host writes
// them to disk together, before it answers the request, only when the
// call succeeds. A call that fails (returns an error, panics, runs past
// its deadline) leaves the state as it was. Another call that changed a
// key this call read, and committed first, makes this call's request
// fail with 503: the client retries it.
//
// A key is 1 to [abi.MaxKVKeyBytes] (512) bytes, any bytes; a value at
// most [abi.MaxKVValueBytes] (1 MiB). The host bounds the number of keys
// and bytes of a plugin and what one call may write.
//
// Outside WebAssembly (native tests) the state is an in-memory map of the
// process, with the same limits and no transactions: writes apply at
// once.

// ErrLimited is matched with errors.Is by a state error when a quota of
// the plugin is reached: its keys, its bytes, or what one call may write.
// Refusing the request with 503 lets the client retry once space is
// freed.
var ErrLimited = errors.New("oso: state quota reached")

// kvError is a failed state host function. It unwraps to the
// [*HostError] and matches [ErrLimited], [ErrNotAllowed] (no state in
// this call: outside an export call, or a host running the call without
// state), [ErrTooLarge] (a key or value over its limit), [ErrBadArgument]
// (an empty key) and [ErrUnavailable] (the host's storage failed).
type kvError struct{ *HostError }

func (e *kvError) Error() string {
	var what string
	switch e.Status {
	case abi.StatusLimited:
		what = ErrLimited.Error()
	case abi.StatusNotAllowed:
		what = "oso: no state in this call"
	case abi.StatusTooLarge:
		what = "oso: state key or value too large"
	case abi.StatusBadArgument:
		what = "oso: invalid state key"
	case abi.StatusUnavailable:
		what = "oso: state storage unavailable"
	default:
		return "oso: " + e.Func + " failed with status " + strconv.Itoa(int(e.Status))
	}
	return what + " (" + e.Func + ")"
}

func (e *kvError) Is(target error) bool {
	if target == ErrLimited {
		return e.Status == abi.StatusLimited
	}
	return e.HostError.Is(target)
}

func (e *kvError) Unwrap() error { return e.HostError }

func kvErr(fn string, st int32) error {
	return &kvError{&HostError{Func: fn, Status: abi.Status(st)}}
}

// kvState holds the buffer the state functions reuse between calls.
type kvState struct {
	buf []byte
}

var kvs kvState

// buffer returns the reusable buffer with at least n bytes.
func (s *kvState) buffer(n int) []byte {
	if len(s.buf) < n {
		s.buf = make([]byte, max(n, 4096))
	}
	return s.buf
}

// kvListMaxBytes bounds the buffer KVList grows to.
const kvListMaxBytes = 1 << 20

// KVGet returns the value of key, a new slice, and whether the key
// exists. An absent key is not an error.
func KVGet(key string) ([]byte, bool, error) {
	buf := kvs.buffer(0)
	for range 4 { // the value may change size between two tries
		n := hostKVGet(key, buf)
		switch {
		case n == int32(abi.StatusNotFound):
			return nil, false, nil
		case n < 0:
			return nil, false, kvErr(abi.ImportKVGet, n)
		case int(n) <= len(buf):
			v := make([]byte, n)
			copy(v, buf)
			return v, true, nil
		case n > abi.MaxKVValueBytes:
			return nil, false, errHostAnswer
		}
		buf = kvs.buffer(int(n))
	}
	return nil, false, errHostAnswer
}

// KVPut sets key to value. value is copied by the host before KVPut
// returns. Errors match [ErrLimited], [ErrTooLarge], [ErrBadArgument],
// [ErrNotAllowed] or [ErrUnavailable].
func KVPut(key string, value []byte) error {
	if n := hostKVPut(key, value); n < 0 {
		return kvErr(abi.ImportKVPut, n)
	}
	return nil
}

// KVDelete removes key and reports whether it existed.
func KVDelete(key string) (bool, error) {
	switch n := hostKVDelete(key); {
	case n == int32(abi.StatusNotFound):
		return false, nil
	case n < 0:
		return false, kvErr(abi.ImportKVDelete, n)
	}
	return true, nil
}

// KVList calls fn with every key that starts with prefix, in byte order,
// until fn returns false. It pages through the keys transparently (the
// host hands them over in pages); fn may call the other state functions,
// including KVDelete on the key it was given. Keys written during the
// listing are seen if they sort after the current key.
func KVList(prefix string, fn func(key string) bool) error {
	size := 4096
	after := ""
	var page []string
	for {
		buf := kvs.buffer(size)
		n := hostKVList(prefix, after, buf)
		if n == int32(abi.StatusTooSmall) && len(buf) < kvListMaxBytes {
			size = min(2*len(buf), kvListMaxBytes)
			continue
		}
		if n < 0 {
			return kvErr(abi.ImportKVList, n)
		}
		if int(n) > len(buf) {
			return errHostAnswer
		}
		r, err := abi.NewKeyListReader(buf[:n])
		if err != nil {
			return errHostAnswer
		}
		page = page[:0]
		for {
			k, ok := r.Next()
			if !ok {
				break
			}
			page = append(page, string(k))
		}
		if r.Err() != nil {
			return errHostAnswer
		}
		if len(page) == 0 {
			return nil
		}
		// The page is copied out: fn may reuse the buffer.
		for _, k := range page {
			if !fn(k) {
				return nil
			}
		}
		after = page[len(page)-1]
	}
}
