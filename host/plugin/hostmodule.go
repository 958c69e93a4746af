package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"strconv"
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

	// Extism, if set, offers the function to Extism-ABI modules too, as
	// "extism:host/user" "oso_<Name>": (i64) -> i64 (see [ExtismFunc]).
	Extism ExtismFunc
	// ExtismMaxRequest bounds the request JSON of the Extism form, in
	// bytes; 0 means DefaultExtismMaxRequest. A longer request is answered
	// with a "too_large" error object without calling Extism.
	ExtismMaxRequest int
}

// ExtismNamespace is the import module of the host functions offered to
// Extism-ABI modules: the namespace every Extism PDK uses for host
// functions when none is named.
const ExtismNamespace = "extism:host/user"

// ExtismPrefix prefixes the name of every host function offered to
// Extism-ABI modules, so that it cannot clash with another host's.
const ExtismPrefix = "oso_"

// DefaultExtismMaxRequest is the default bound on the request JSON of a
// host function's Extism form.
const DefaultExtismMaxRequest = 64 << 10

// ExtismFunc serves one call of a host function from an Extism-ABI module.
// The module passes the offset of an Extism memory block holding the
// request, a JSON object; the host copies it out (bounded by
// ExtismMaxRequest) and calls the function, which returns the response, a
// JSON object, that the host writes into a new block whose offset the
// module receives. A failure is answered, never trapped, as
//
//	{"error":{"status":-7,"name":"not_found","message":"..."}}
//
// with status and name those of the native [abi.Status] the same failure
// gives (see [ExtismError]); the message must be safe to show to the
// plugin and never holds a secret.
//
// ctx is the running export call's context, what [CallContext] returns to
// a native host function: the request's values, bounded by the call's
// deadline. The host answers "not_allowed" itself, without calling the
// function, when no export call runs. The function must not keep req.
type ExtismFunc func(ctx context.Context, req []byte) []byte

// ExtismError returns the error object of an Extism host function's
// response for status s (negative), with message msg.
func ExtismError(s abi.Status, msg string) []byte {
	b := []byte(`{"error":{"status":`)
	b = strconv.AppendInt(b, int64(s), 10)
	b = append(b, `,"name":`...)
	b = strconv.AppendQuote(b, StatusName(s))
	b = append(b, `,"message":`...)
	b = appendJSONString(b, msg)
	return append(b, "}}"...)
}

// StatusName returns the snake_case name of a native status, as Extism
// host functions report it: "bad_pointer", "too_large", "bad_argument",
// "not_allowed", "limited", "unavailable", "not_found", "too_small";
// "error" for any other value.
func StatusName(s abi.Status) string {
	switch s {
	case abi.StatusBadPointer:
		return "bad_pointer"
	case abi.StatusTooLarge:
		return "too_large"
	case abi.StatusBadArgument:
		return "bad_argument"
	case abi.StatusNotAllowed:
		return "not_allowed"
	case abi.StatusLimited:
		return "limited"
	case abi.StatusUnavailable:
		return "unavailable"
	case abi.StatusNotFound:
		return "not_found"
	case abi.StatusTooSmall:
		return "too_small"
	}
	return "error"
}

// appendJSONString appends s as a JSON string, with invalid UTF-8 replaced.
func appendJSONString(b []byte, s string) []byte {
	v, _ := json.Marshal(strings.ToValidUTF8(s, "\uFFFD"))
	return append(b, v...)
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
