package plugin

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/osohost/osohost/abi"
)

// instanceKey carries the *instance a host function runs for.
type instanceKey struct{}

// instantiateHostModule defines the "oso" import module. Each function finds
// its instance through the context given to the export call and answers
// faults with a negative [abi.Status]; none of them panics or calls back
// into the guest.
func instantiateHostModule(ctx context.Context, rt wazero.Runtime, extra []HostFunction) error {
	i32 := api.ValueTypeI32
	three := []api.ValueType{i32, i32, i32}
	one := []api.ValueType{i32}
	b := rt.NewHostModuleBuilder(abi.ImportModule)
	for _, f := range extra {
		b.NewFunctionBuilder().WithGoModuleFunction(f.Fn, f.Params, f.Results).Export(f.Name)
	}
	_, err := b.
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(hostOutput), three, one).
		WithParameterNames("kind", "ptr", "len").Export(abi.ImportOutput).
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(hostError), three, one).
		WithParameterNames("code", "ptr", "len").Export(abi.ImportError).
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(hostLog), three, one).
		WithParameterNames("level", "ptr", "len").Export(abi.ImportLog).
		Instantiate(ctx)
	return err
}

// callingInstance returns the instance whose export call is running, or nil
// outside to_oso, to_isv and status.
func callingInstance(ctx context.Context) *instance {
	inst, _ := ctx.Value(instanceKey{}).(*instance)
	if inst == nil || !inst.state.active {
		return nil
	}
	return inst
}

// HostFunction is a host function added to the "oso" import module by
// another package (host/hostcall). Fn runs on the calling goroutine while
// the guest waits; it must bound and check every (ptr, len) pair it reads,
// answer faults with a negative abi.Status, never panic, and never call
// into the guest. [CallContext] gives it the context of the running call.
type HostFunction struct {
	Name    string
	Params  []api.ValueType
	Results []api.ValueType
	Fn      api.GoModuleFunction
}

// CallContext returns the context of the export call that is running on
// the instance a host function was called from: the request's context,
// with its values and cancellation, bounded by the call's deadline. It
// returns nil when no export call runs (during "_initialize" or "init")
// and while "oso_routes" runs; host functions then refuse with
// abi.StatusNotAllowed.
func CallContext(ctx context.Context) context.Context {
	inst := callingInstance(ctx)
	if inst == nil || inst.state.routes {
		return nil
	}
	if inst.hostCtx == nil {
		inst.hostCtx, inst.hostCancel = context.WithDeadlineCause(inst.reqCtx, inst.deadline, ErrCallTimeout)
	}
	return inst.hostCtx
}

func ret(stack []uint64, s abi.Status) { stack[0] = api.EncodeI32(int32(s)) }

// read returns a view of guest memory for a (ptr, len) pair, or a status.
// The view is only valid until the guest runs again.
func read(mod api.Module, ptr, n uint32, limit int) ([]byte, abi.Status) {
	if int64(n) > int64(limit) {
		return nil, abi.StatusTooLarge
	}
	b, ok := mod.Memory().Read(ptr, n)
	if !ok {
		return nil, abi.StatusBadPointer
	}
	return b, abi.StatusOK
}

// hostOutput implements oso.output(kind, ptr, len) -> status.
func hostOutput(ctx context.Context, mod api.Module, stack []uint64) {
	inst := callingInstance(ctx)
	if inst == nil {
		ret(stack, abi.StatusNotAllowed)
		return
	}
	kind := abi.OutputKind(api.DecodeI32(stack[0]))
	ptr, n := api.DecodeU32(stack[1]), api.DecodeU32(stack[2])
	if kind != abi.OutputJSON && kind != abi.OutputDocumentList && kind != abi.OutputStatus && kind != abi.OutputHTTP {
		// A refused output is sticky: the call ends with 502 whatever the
		// guest does next (abi/SPEC.md).
		inst.state.refused = "output kind out of range"
		ret(stack, abi.StatusBadArgument)
		return
	}
	b, st := read(mod, ptr, n, inst.pool.opts.MaxOutputBytes)
	if st != abi.StatusOK {
		if st == abi.StatusTooLarge {
			inst.state.refused = fmt.Sprintf("output exceeds %d bytes", inst.pool.opts.MaxOutputBytes)
		} else {
			inst.state.refused = "output outside linear memory"
		}
		ret(stack, st)
		return
	}
	s := &inst.state
	s.out = append(s.out[:0], b...)
	s.kind = kind
	s.outSet = true
	ret(stack, abi.StatusOK)
}

// hostError implements oso.error(code, ptr, len) -> status.
func hostError(ctx context.Context, mod api.Module, stack []uint64) {
	inst := callingInstance(ctx)
	if inst == nil {
		ret(stack, abi.StatusNotAllowed)
		return
	}
	code := int(api.DecodeI32(stack[0]))
	ptr, n := api.DecodeU32(stack[1]), api.DecodeU32(stack[2])
	b, st := read(mod, ptr, n, math.MaxInt32)
	if st != abi.StatusOK {
		ret(stack, st)
		return
	}
	if code < 400 || code > 599 {
		code = 500
	}
	s := &inst.state
	s.errSet = true
	s.errCode = code
	s.errMsg = cleanText(cutUTF8(b, abi.MaxErrorMessageBytes))
	ret(stack, abi.StatusOK)
}

// hostLog implements oso.log(level, ptr, len) -> status. It works at any
// time, "_initialize" and "init" included. Lines over abi.MaxLogLineBytes
// are cut at a UTF-8 boundary; lines over the instance's rate are dropped
// and counted.
func hostLog(ctx context.Context, mod api.Module, stack []uint64) {
	inst, _ := ctx.Value(instanceKey{}).(*instance)
	if inst == nil {
		ret(stack, abi.StatusNotAllowed)
		return
	}
	level := abi.LogLevel(api.DecodeI32(stack[0]))
	ptr, n := api.DecodeU32(stack[1]), api.DecodeU32(stack[2])
	var sl slog.Level
	switch level {
	case abi.LogDebug:
		sl = slog.LevelDebug
	case abi.LogInfo:
		sl = slog.LevelInfo
	case abi.LogWarn:
		sl = slog.LevelWarn
	case abi.LogError:
		sl = slog.LevelError
	default:
		ret(stack, abi.StatusBadArgument)
		return
	}
	b, st := read(mod, ptr, n, math.MaxInt32)
	if st != abi.StatusOK {
		ret(stack, st)
		return
	}
	if !inst.logLimit.allow() {
		inst.pool.droppedLogs.Add(1)
		ret(stack, abi.StatusLimited)
		return
	}
	log := inst.pool.log
	if log.Enabled(ctx, sl) {
		log.Log(ctx, sl, cleanText(cutUTF8(b, abi.MaxLogLineBytes)), "source", "guest")
	}
	ret(stack, abi.StatusOK)
}

// cutUTF8 returns at most n bytes of b, cut at a UTF-8 boundary.
func cutUTF8(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	b = b[:n]
	for i := 0; i < utf8.UTFMax && len(b) > 0; i++ {
		r, size := utf8.DecodeLastRune(b)
		if r != utf8.RuneError || size > 1 {
			break
		}
		b = b[:len(b)-1]
	}
	return b
}

// cleanText copies guest bytes into a string that is valid UTF-8 without
// control characters other than tab.
func cleanText(b []byte) string {
	ok := utf8.Valid(b)
	if ok {
		for _, c := range b {
			if c < 0x20 && c != '\t' || c == 0x7f {
				ok = false
				break
			}
		}
	}
	if ok {
		return string(b)
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(string(b), "\uFFFD"))
}
