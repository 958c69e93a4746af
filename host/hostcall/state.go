package hostcall

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"

	"github.com/tetratelabs/wazero/api"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/host/plugin"
	"github.com/osohost/osohost/host/state"
)

// StateLimits bound the state host functions beyond what each namespace's
// state.Limits bound. Zero values mean the documented default.
type StateLimits struct {
	// MaxListKeys bounds the keys one kv_list call writes, so that one
	// call's work does not grow with the namespace; default 10,000. The
	// guest pages on.
	MaxListKeys int
}

// DefaultMaxListKeys is the default of [StateLimits].MaxListKeys.
const DefaultMaxListKeys = 10_000

// State returns the state host functions of ABI v1.2 (kv_get, kv_put,
// kv_delete, kv_list; abi/SPEC.md §6.12–6.16), for
// [plugin.EngineOptions].HostFunctions. They work on the [state.Txn] that
// the running export call's context carries ([state.TxnFrom] of
// [plugin.CallContext]); without one (no export call running, or a call
// the host runs without state, such as during "init") they answer
// abi.StatusNotAllowed, reads included. A transaction begun read-only
// answers abi.StatusNotAllowed to kv_put and kv_delete. Each function has
// an Extism form too ([plugin.HostFunction].Extism; the contract is in
// extism.go), which finds the transaction in the context it is given,
// with the same limits, logging and statuses.
//
// log receives storage failures (never keys or values), at a bounded
// rate; nil discards them. The functions are safe for concurrent use by
// every instance of every module of the engine.
func State(log *slog.Logger, lim StateLimits) []plugin.HostFunction {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if lim.MaxListKeys <= 0 {
		lim.MaxListKeys = DefaultMaxListKeys
	}
	h := &stateFuncs{maxList: lim.MaxListKeys, limitedLog: newLimitedLog(log)}
	return []plugin.HostFunction{
		withExtism(hostFunction(abi.ImportKVGet, 4, h.get), h.getJSON, extismSmallRequest),
		withExtism(hostFunction(abi.ImportKVPut, 4, h.put), h.putJSON, extismKVPutRequest),
		withExtism(hostFunction(abi.ImportKVDelete, 2, h.delete), h.deleteJSON, extismSmallRequest),
		withExtism(hostFunction(abi.ImportKVList, 6, h.list), h.listJSON, extismSmallRequest),
	}
}

// stateFuncs implements the state host functions.
type stateFuncs struct {
	maxList int
	limitedLog
}

// stateTxn returns the running call's context and transaction.
func stateTxn(ctx context.Context) (context.Context, *state.Txn, abi.Status) {
	rctx := plugin.CallContext(ctx)
	if rctx == nil {
		return nil, nil, abi.StatusNotAllowed
	}
	t := state.TxnFrom(rctx)
	if t == nil {
		return nil, nil, abi.StatusNotAllowed
	}
	return rctx, t, abi.StatusOK
}

// stateKey reads a key argument: at most abi.MaxKVKeyBytes (the namespace may
// allow fewer: the transaction checks), copied.
func stateKey(mem api.Memory, ptr, n uint32) (string, abi.Status) {
	v, st := readPair(mem, ptr, n, abi.MaxKVKeyBytes)
	return string(v), st
}

// get implements oso.kv_get(key_ptr, key_len, out_ptr, out_cap).
func (h *stateFuncs) get(ctx context.Context, mod api.Module, stack []uint64) {
	rctx, t, st := stateTxn(ctx)
	if st != abi.StatusOK {
		ret(stack, int32(st))
		return
	}
	mem := mod.Memory()
	k, st := stateKey(mem, api.DecodeU32(stack[0]), api.DecodeU32(stack[1]))
	if st != abi.StatusOK {
		ret(stack, int32(st))
		return
	}
	outPtr, outCap := api.DecodeU32(stack[2]), api.DecodeU32(stack[3])
	if st := checkOut(mem, outPtr, outCap); st != abi.StatusOK {
		ret(stack, int32(st))
		return
	}
	v, st := h.getValue(rctx, t, k)
	switch {
	case st != abi.StatusOK:
		ret(stack, int32(st))
	case int64(len(v)) > int64(outCap):
		ret(stack, int32(len(v))) // nothing written: the guest retries with this size
	default:
		ret(stack, write(mem, outPtr, v))
	}
}

// getValue is the core of kv_get: the key's length, then the read. The
// value must not be modified.
func (h *stateFuncs) getValue(ctx context.Context, t *state.Txn, k string) ([]byte, abi.Status) {
	if len(k) > abi.MaxKVKeyBytes {
		return nil, abi.StatusTooLarge
	}
	v, ok, err := t.Get(ctx, k)
	switch {
	case err != nil:
		return nil, h.status(ctx, abi.ImportKVGet, err)
	case !ok:
		return nil, abi.StatusNotFound
	}
	return v, abi.StatusOK
}

// put implements oso.kv_put(key_ptr, key_len, val_ptr, val_len).
func (h *stateFuncs) put(ctx context.Context, mod api.Module, stack []uint64) {
	rctx, t, st := stateTxn(ctx)
	if st != abi.StatusOK {
		ret(stack, int32(st))
		return
	}
	mem := mod.Memory()
	k, st := stateKey(mem, api.DecodeU32(stack[0]), api.DecodeU32(stack[1]))
	if st != abi.StatusOK {
		ret(stack, int32(st))
		return
	}
	v, st := readPair(mem, api.DecodeU32(stack[2]), api.DecodeU32(stack[3]), abi.MaxKVValueBytes)
	if st != abi.StatusOK {
		ret(stack, int32(st))
		return
	}
	// Put copies the value before it reads anything: no view of guest
	// memory is held across the store.
	ret(stack, int32(h.putValue(rctx, t, k, v)))
}

// putValue is the core of kv_put: the lengths, then the write. The value
// is copied before anything else is read.
func (h *stateFuncs) putValue(ctx context.Context, t *state.Txn, k string, v []byte) abi.Status {
	if len(k) > abi.MaxKVKeyBytes || len(v) > abi.MaxKVValueBytes {
		return abi.StatusTooLarge
	}
	if err := t.Put(ctx, k, v); err != nil {
		return h.status(ctx, abi.ImportKVPut, err)
	}
	return abi.StatusOK
}

// delete implements oso.kv_delete(key_ptr, key_len).
func (h *stateFuncs) delete(ctx context.Context, mod api.Module, stack []uint64) {
	rctx, t, st := stateTxn(ctx)
	if st != abi.StatusOK {
		ret(stack, int32(st))
		return
	}
	k, st := stateKey(mod.Memory(), api.DecodeU32(stack[0]), api.DecodeU32(stack[1]))
	if st != abi.StatusOK {
		ret(stack, int32(st))
		return
	}
	ret(stack, int32(h.deleteKey(rctx, t, k)))
}

// deleteKey is the core of kv_delete: the key's length, then the delete;
// StatusNotFound when the key was absent.
func (h *stateFuncs) deleteKey(ctx context.Context, t *state.Txn, k string) abi.Status {
	if len(k) > abi.MaxKVKeyBytes {
		return abi.StatusTooLarge
	}
	existed, err := t.Delete(ctx, k)
	switch {
	case err != nil:
		return h.status(ctx, abi.ImportKVDelete, err)
	case !existed:
		return abi.StatusNotFound
	}
	return abi.StatusOK
}

// list implements oso.kv_list(prefix_ptr, prefix_len, after_ptr,
// after_len, out_ptr, out_cap).
func (h *stateFuncs) list(ctx context.Context, mod api.Module, stack []uint64) {
	rctx, t, st := stateTxn(ctx)
	if st != abi.StatusOK {
		ret(stack, int32(st))
		return
	}
	mem := mod.Memory()
	prefix, st := stateKey(mem, api.DecodeU32(stack[0]), api.DecodeU32(stack[1]))
	if st != abi.StatusOK {
		ret(stack, int32(st))
		return
	}
	after, st := stateKey(mem, api.DecodeU32(stack[2]), api.DecodeU32(stack[3]))
	if st != abi.StatusOK {
		ret(stack, int32(st))
		return
	}
	outPtr, outCap := api.DecodeU32(stack[4]), api.DecodeU32(stack[5])
	if st := checkOut(mem, outPtr, outCap); st != abi.StatusOK {
		ret(stack, int32(st))
		return
	}
	if outCap < 4 {
		ret(stack, int32(abi.StatusTooSmall))
		return
	}
	b := make([]byte, 4, min(int(outCap), 64<<10))
	n, tooSmall := 0, false
	st = h.keys(rctx, t, prefix, after, func(k string) bool {
		if n >= h.maxList {
			return false
		}
		if len(b)+4+len(k) > int(outCap) {
			tooSmall = n == 0
			return false
		}
		b = abi.AppendString(b, k)
		n++
		return true
	})
	switch {
	case st != abi.StatusOK:
		ret(stack, int32(st))
	case tooSmall:
		ret(stack, int32(abi.StatusTooSmall))
	default:
		binary.LittleEndian.PutUint32(b, uint32(n))
		ret(stack, write(mem, outPtr, b))
	}
}

// keys is the core of kv_list: the lengths of prefix and after, then the
// listing, which calls fn with each key that starts with prefix and sorts
// after after, in byte order, until fn returns false. Bounding the keys of
// one call is fn's part.
func (h *stateFuncs) keys(ctx context.Context, t *state.Txn, prefix, after string, fn func(k string) bool) abi.Status {
	if len(prefix) > abi.MaxKVKeyBytes || len(after) > abi.MaxKVKeyBytes {
		return abi.StatusTooLarge
	}
	if err := t.Keys(ctx, prefix, after, fn); err != nil {
		return h.status(ctx, abi.ImportKVList, err)
	}
	return abi.StatusOK
}

// status maps a state error to the status the guest sees. Storage
// failures are logged and answered StatusUnavailable.
func (h *stateFuncs) status(ctx context.Context, fn string, err error) abi.Status {
	var le *state.LimitError
	switch {
	case errors.As(err, &le):
		if le.TooLarge {
			return abi.StatusTooLarge
		}
		return abi.StatusLimited
	case errors.Is(err, state.ErrEmptyKey):
		return abi.StatusBadArgument
	case errors.Is(err, state.ErrReadOnly), errors.Is(err, state.ErrDone):
		return abi.StatusNotAllowed
	case ctx.Err() != nil, errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// The call is ending: the runtime reports why itself.
		return abi.StatusUnavailable
	}
	h.logf(ctx, slog.LevelError, "state storage failed", "host_function", fn, "err", err)
	return abi.StatusUnavailable
}
