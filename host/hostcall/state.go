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
// answers abi.StatusNotAllowed to kv_put and kv_delete.
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
		hostFunction(abi.ImportKVGet, 4, h.get),
		hostFunction(abi.ImportKVPut, 4, h.put),
		hostFunction(abi.ImportKVDelete, 2, h.delete),
		hostFunction(abi.ImportKVList, 6, h.list),
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
	v, ok, err := t.Get(rctx, k)
	switch {
	case err != nil:
		ret(stack, int32(h.status(rctx, abi.ImportKVGet, err)))
	case !ok:
		ret(stack, int32(abi.StatusNotFound))
	case int64(len(v)) > int64(outCap):
		ret(stack, int32(len(v))) // nothing written: the guest retries with this size
	default:
		ret(stack, write(mem, outPtr, v))
	}
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
	if err := t.Put(rctx, k, v); err != nil {
		ret(stack, int32(h.status(rctx, abi.ImportKVPut, err)))
		return
	}
	ret(stack, int32(abi.StatusOK))
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
	existed, err := t.Delete(rctx, k)
	switch {
	case err != nil:
		ret(stack, int32(h.status(rctx, abi.ImportKVDelete, err)))
	case !existed:
		ret(stack, int32(abi.StatusNotFound))
	default:
		ret(stack, int32(abi.StatusOK))
	}
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
	err := t.Keys(rctx, prefix, after, func(k string) bool {
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
	case err != nil:
		ret(stack, int32(h.status(rctx, abi.ImportKVList, err)))
	case tooSmall:
		ret(stack, int32(abi.StatusTooSmall))
	default:
		binary.LittleEndian.PutUint32(b, uint32(n))
		ret(stack, write(mem, outPtr, b))
	}
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
