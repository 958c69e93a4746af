package plugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	extism "github.com/extism/go-sdk"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/host/plugin/interrupt"
	"github.com/osohost/osohost/host/schema"
)

// The Extism compatibility path serves modules built with Extism's PDKs
// through extism/go-sdk. Such a module exports to_oso, to_isv and status
// as Extism functions (no parameters, an i32 result, input and output
// through the Extism kernel), takes and returns JSON, and reaches the
// host calls as the Extism forms of the host functions ([ExtismFunc]).
// It runs in the same pool as a native module: same memory cap, call
// deadline, input and output bounds, instance recycling and discarding,
// reload and fault handling. docs/abi-extism.md is the user's contract.

// ABIExtism and ABINative name the two ABIs in [Info].ABI.
const (
	ABINative = "oso-v1"
	ABIExtism = "extism"
)

// ExtismEnvModule is the import module of Extism's kernel functions.
const ExtismEnvModule = "extism:host/env"

// extismEnvFunctions are the functions extism/go-sdk's kernel module
// provides, with their signatures.
var extismEnvFunctions = map[string]string{
	"alloc": "(i64)->i64", "free": "(i64)->", "length": "(i64)->i64", "length_unsafe": "(i64)->i64",
	"load_u8": "(i64)->i32", "load_u64": "(i64)->i64", "store_u8": "(i64,i32)->", "store_u64": "(i64,i64)->",
	"input_load_u8": "(i64)->i32", "input_load_u64": "(i64)->i64", "input_length": "()->i64", "input_offset": "()->i64",
	"input_set": "(i64,i64)->", "output_set": "(i64,i64)->", "output_length": "()->i64", "output_offset": "()->i64",
	"reset": "()->", "error_set": "(i64)->", "error_get": "()->i64", "memory_bytes": "()->i64",
	"config_get": "(i64)->i64", "var_get": "(i64)->i64", "var_set": "(i64,i64)->",
	"http_request": "(i64,i64)->i64", "http_status_code": "()->i32", "http_headers": "()->i64",
	"get_log_level": "()->i32",
	"log_trace":     "(i64)->", "log_debug": "(i64)->", "log_info": "(i64)->", "log_warn": "(i64)->", "log_error": "(i64)->",
}

// extismExportSig is the signature of an Extism export.
const extismExportSig = "()->i32"

// extismHostSig is the signature of a host function's Extism form.
const extismHostSig = "(i64)->i64"

// extismPreflightBytes is the input size from which an Extism call checks
// that the kernel can allocate the input. Each call starts by freeing
// every block of the kernel, whose memory never shrinks, so a smaller
// input always fits once a call has run.
const extismPreflightBytes = 64 << 10

// extismVarBytes bounds what an Extism instance keeps with var_set.
const extismVarBytes = 1 << 20

// extismProblems lists why an Extism-ABI module cannot be served; empty
// means it can, provided the engine offers every oso_ function it imports.
func (i Info) extismProblems() []string {
	var p []string
	have := map[string]Export{}
	for _, e := range i.Exports {
		have[e.Name] = e
	}
	for _, name := range []string{abi.ExportToOSO, abi.ExportToISV, abi.ExportStatus} {
		e, ok := have[name]
		switch {
		case !ok:
			p = append(p, fmt.Sprintf("missing export %q", name))
		case e.Kind != "func" || e.Sig != extismExportSig:
			p = append(p, fmt.Sprintf("export %q has signature %s, want %s (an Extism function)", name, e.Sig, extismExportSig))
		}
	}
	if e, ok := have[abi.ExportStateless]; ok && e.Sig != extismExportSig {
		p = append(p, fmt.Sprintf("export %q has signature %s, want %s", abi.ExportStateless, e.Sig, extismExportSig))
	}
	for _, name := range []string{abi.ExportRoutes, abi.ExportHandleHTTP} {
		if _, ok := have[name]; ok {
			p = append(p, fmt.Sprintf("export %q: plugin routes are served to native-ABI modules only (docs/abi.md §17)", name))
		}
	}
	if !i.Reactor {
		p = append(p, `module is a command (exports "_start" without "_initialize"); build it as a reactor`)
	}
	return append(p, i.extismImportProblems()...)
}

// extismImportProblems lists the imports of an Extism module the host
// cannot provide.
func (i Info) extismImportProblems() []string {
	var p []string
	for _, imp := range i.Imports {
		switch {
		case imp.Module != ExtismEnvModule && imp.Module != ExtismNamespace && imp.Module != abi.WASIModule:
			p = append(p, fmt.Sprintf("import %s.%s: module %q is not provided (only %q, %q and %q are)", imp.Module, imp.Name, imp.Module, ExtismEnvModule, ExtismNamespace, abi.WASIModule))
		case !imp.Known:
			p = append(p, fmt.Sprintf("import %s.%s%s is not provided by this host", imp.Module, imp.Name, imp.Sig))
		}
	}
	return p
}

// knownExtismImport reports whether the host can provide an import of an
// Extism module (the engine may still not enable an oso_ function).
func knownExtismImport(mod, name, sig string) bool {
	switch mod {
	case ExtismEnvModule:
		return extismEnvFunctions[name] == sig
	case ExtismNamespace:
		base, ok := strings.CutPrefix(name, ExtismPrefix)
		_, native := abi.ImportSignatures[base]
		return ok && native && sig == extismHostSig && base != abi.ImportOutput && base != abi.ImportError && base != abi.ImportLog
	}
	return false
}

// compileExtism compiles an Extism-ABI module with extism/go-sdk, in a
// runtime of its own that shares the engine's memory cap and compilation
// cache, with the engine's host functions in their Extism form.
//
// With the engine's interrupt deadline, a module compiled for serving is
// compiled from its instrumented bytes (bin) and each instance's interrupt
// flag is found when its first component export starts (a function
// listener on those exports only); deadlines then cost what they cost on
// the native path. go-sdk's own mechanism, wazero's close-on-context-done
// mode, makes compiled code leave for Go at every loop header of the guest
// and of Extism's kernel, which a PDK enters for every 8 bytes it moves;
// it remains for modules compiled by CompileAny (tools) and in the
// engine's DeadlineContext mode. interruptible reports which applies.
func (e *Engine) compileExtism(ctx context.Context, wasm, bin []byte, anyExports bool) (cp *extism.CompiledPlugin, interruptible bool, err error) {
	interruptible = e.opts.Deadline == DeadlineInterrupt && !anyExports
	cfg := wazero.NewRuntimeConfigCompiler().
		WithMemoryLimitPages(e.opts.MemoryLimitPages).
		WithCloseOnContextDone(!interruptible && e.opts.Deadline != DeadlineNone)
	if e.cache != nil {
		cfg = cfg.WithCompilationCache(e.cache)
	}
	code := wasm
	if interruptible {
		code = bin
		ctx = experimental.WithFunctionListenerFactory(ctx, extismEntries{})
	}
	var fns []extism.HostFunction
	for _, f := range e.opts.HostFunctions {
		if f.Extism == nil {
			continue
		}
		hf := extism.NewHostFunctionWithStack(ExtismPrefix+f.Name, extismHost(f), []extism.ValueType{extism.ValueTypeI64}, []extism.ValueType{extism.ValueTypeI64})
		hf.SetNamespace(ExtismNamespace)
		fns = append(fns, hf)
	}
	manifest := extism.Manifest{
		Wasm:   []extism.Wasm{extism.WasmData{Data: code}},
		Memory: &extism.ManifestMemory{MaxPages: e.opts.MemoryLimitPages, MaxHttpResponseBytes: 0, MaxVarBytes: extismVarBytes},
		// No AllowedHosts: http_request is refused (the call traps). No
		// AllowedPaths: no files. No Config. No Timeout: the pool sets
		// each call's deadline.
	}
	cp, err = extism.NewCompiledPlugin(ctx, manifest, extism.PluginConfig{RuntimeConfig: cfg, EnableWasi: true}, fns)
	if err != nil {
		return nil, false, fmt.Errorf("plugin: extism: %w", err)
	}
	return cp, interruptible, nil
}

// extismEntries puts a listener on the exports of an Extism module: when
// one starts, the instance learns its interrupt flag. The kernel, compiled
// in the same runtime, exports functions the module calls for every 8
// bytes it moves: those are left alone, and so are module exports of the
// same names, which callAny refuses.
type extismEntries struct{}

func (extismEntries) NewFunctionListener(def api.FunctionDefinition) experimental.FunctionListener {
	names := def.ExportNames()
	if len(names) == 0 {
		return nil
	}
	for _, name := range names {
		if extismKernelExport(name) {
			return nil
		}
	}
	return experimental.FunctionListenerFunc(extismEntered)
}

// extismKernelExport reports whether Extism's kernel exports a function
// of that name.
func extismKernelExport(name string) bool {
	switch name {
	case "alloc", "free", "length_unsafe", "length", "load_u8", "load_u64", "input_load_u8", "input_load_u64",
		"store_u8", "store_u64", "input_set", "output_set", "input_length", "input_offset", "output_length",
		"output_offset", "reset", "error_set", "error_get", "memory_bytes", "extism_context":
		return true
	}
	return false
}

// extismEntered runs as a component export of an Extism module starts.
func extismEntered(ctx context.Context, mod api.Module, _ api.FunctionDefinition, _ []uint64, _ experimental.StackIterator) {
	x, _ := ctx.Value(extismInstKey{}).(*extismInstance)
	if x == nil {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.flag != nil {
		return
	}
	g, ok := mod.ExportedGlobal(interrupt.GlobalExport).(api.MutableGlobal)
	if !ok {
		return
	}
	x.flag = g
	if x.interrupted {
		g.Set(1) // the deadline passed before the export started
	}
}

// extismInstKey carries the *extismInstance a call runs on.
type extismInstKey struct{}

// extismHost adapts a host function's Extism form to extism/go-sdk: it
// reads the request block (bounded), calls the function with the running
// call's context and writes the response into a new block.
func extismHost(f HostFunction) extism.HostFunctionStackCallback {
	limit := f.ExtismMaxRequest
	if limit <= 0 {
		limit = DefaultExtismMaxRequest
	}
	name := ExtismPrefix + f.Name
	return func(ctx context.Context, cp *extism.CurrentPlugin, stack []uint64) {
		resp := extismServe(ctx, cp, stack[0], limit, f.Extism)
		off, err := cp.WriteBytes(resp)
		if err != nil {
			// The kernel could not allocate the answer: the guest is
			// out of memory. Trap; the instance is discarded.
			panic(fmt.Errorf("%s: cannot allocate the response: %w", name, err))
		}
		stack[0] = off
	}
}

func extismServe(ctx context.Context, cp *extism.CurrentPlugin, off uint64, limit int, fn ExtismFunc) []byte {
	call, _ := ctx.Value(extismCallKey{}).(context.Context)
	if call == nil {
		return ExtismError(abi.StatusNotAllowed, "no export call is running")
	}
	n, err := cp.Length(off)
	if err != nil || n == 0 || off > 1<<32 {
		return ExtismError(abi.StatusBadPointer, "the request is not an Extism memory block")
	}
	if n > uint64(limit) {
		return ExtismError(abi.StatusTooLarge, fmt.Sprintf("the request is %d bytes, the limit is %d", n, limit))
	}
	b, ok := cp.Memory().Read(uint32(off), uint32(n))
	if !ok {
		return ExtismError(abi.StatusBadPointer, "the request block lies outside memory")
	}
	return fn(call, slices.Clone(b))
}

// extismCallKey carries, in the context of an Extism call, the context host
// functions run under.
type extismCallKey struct{}

// extismInstance is one instance of an Extism-ABI module.
type extismInstance struct {
	p             *extism.Plugin
	interruptible bool // see compileExtism

	mu          sync.Mutex
	flag        api.MutableGlobal // the module's interrupt flag, once an export started
	interrupted bool              // the flag is (to be) set: the instance is done
}

// interrupt stops the running call and every later one.
func (x *extismInstance) interrupt() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.interrupted = true
	if x.flag != nil {
		x.flag.Set(1)
	}
}

// newExtismInstance creates an instance of an Extism-ABI module: the
// kernel, the module and their WASI surface (the same as a native
// module's: clocks, randomness, bounded stdout and stderr, nothing else).
func newExtismInstance(ctx context.Context, p *Pool, inst *instance) error {
	ep, err := p.mod.ext.Instance(ctx, extism.PluginInstanceConfig{ModuleConfig: guestModuleConfig(inst)})
	if err != nil {
		return fmt.Errorf("plugin: instantiate: %w", err)
	}
	ep.SetLogger(func(level extism.LogLevel, msg string) {
		var l slog.Level
		switch level {
		case extism.LogLevelInfo:
			l = slog.LevelInfo
		case extism.LogLevelWarn:
			l = slog.LevelWarn
		case extism.LogLevelError:
			l = slog.LevelError
		default:
			return // trace, debug, and go-sdk's own messages
		}
		inst.guestLog(l, "guest", msg)
	})
	inst.ext = &extismInstance{p: ep, interruptible: p.mod.extIntr}
	return nil
}

// stateless asks an Extism module's optional stateless marker.
func (x *extismInstance) stateless(ctx context.Context, inst *instance) bool {
	if !x.p.FunctionExists(abi.ExportStateless) {
		return false
	}
	rc, _, err := x.run(ctx, inst, abi.ExportStateless, nil)
	if err != nil {
		inst.poisoned = true
		return false
	}
	return rc != 0
}

// call runs one export of an Extism module. For to_isv the compact input is
// handed over as DocumentList JSON; output is JSON.
func (x *extismInstance) call(ctx context.Context, inst *instance, export string, in []byte) (Result, error) {
	p := inst.pool
	if len(in) > p.opts.MaxInputBytes {
		return Result{}, &LimitError{What: "input", Limit: p.opts.MaxInputBytes}
	}
	if !x.p.FunctionExists(export) {
		return Result{}, ErrUnknownExport // a module compiled by CompileAny
	}
	inst.calls++
	if export == abi.ExportToISV {
		// The input is the host's own encoding of a validated request:
		// its size is already bounded, so only its shape is checked.
		n := max(len(in), 1)
		docs, err := schema.DecodeCompactDocumentList(in, schema.Limits{MaxBodyBytes: n, MaxDocuments: n, MaxIDBytes: n, MaxContentBytes: n, MaxMetadataBytes: n, MaxDepth: 1})
		if err != nil {
			return Result{}, fmt.Errorf("plugin: %s input is not a compact DocumentList: %w", export, err)
		}
		in = schema.AppendDocumentListJSON(make([]byte, 0, len(in)+32*len(docs)+32), docs)
	}
	rc, out, err := x.exec(ctx, inst, export, in)
	if err != nil {
		return Result{}, err
	}
	if rc != 0 {
		return Result{}, &GuestError{Code: 500}
	}
	if len(out) > p.opts.MaxOutputBytes {
		return Result{}, &OutputError{Reason: fmt.Sprintf("output of %d bytes exceeds the limit of %d", len(out), p.opts.MaxOutputBytes)}
	}
	if len(out) == 0 {
		return Result{}, nil
	}
	return Result{Kind: abi.OutputJSON, Data: out}, nil
}

// callAny runs any export of an Extism module with raw input and output,
// as `extism call` does.
func (x *extismInstance) callAny(ctx context.Context, inst *instance, export string, in []byte) (Result, error) {
	p := inst.pool
	if len(in) > p.opts.MaxInputBytes {
		return Result{}, &LimitError{What: "input", Limit: p.opts.MaxInputBytes}
	}
	if !x.p.FunctionExists(export) {
		return Result{}, ErrUnknownExport
	}
	if x.interruptible && extismKernelExport(export) {
		return Result{}, fmt.Errorf("plugin: export %q has the name of an Extism kernel function; osohost call runs it", export)
	}
	inst.calls++
	rc, out, err := x.exec(ctx, inst, export, in)
	if err != nil {
		return Result{}, err
	}
	if rc != 0 {
		return Result{}, &GuestError{Code: 500, Message: "exit code " + strconv.FormatUint(uint64(rc), 10)}
	}
	if len(out) > p.opts.MaxOutputBytes {
		return Result{}, &OutputError{Reason: fmt.Sprintf("output of %d bytes exceeds the limit of %d", len(out), p.opts.MaxOutputBytes)}
	}
	return Result{Kind: abi.OutputJSON, Data: out}, nil
}

// exec runs one call and classifies its failure: a guest error (Extism's
// error_set) is a *GuestError whose code is the leading HTTP status of
// the message ("503 retry later"), 500 without one; a trap or exit is a
// *TrapError; the deadline is ErrCallTimeout. A call that failed other
// than by a guest error discards the instance.
func (x *extismInstance) exec(ctx context.Context, inst *instance, export string, in []byte) (uint32, []byte, error) {
	rc, out, err := x.run(ctx, inst, export, in)
	if err == nil || errors.Is(err, ErrCallTimeout) {
		return rc, out, err
	}
	var te *TrapError
	if errors.As(err, &te) {
		return rc, out, err
	}
	// err is the guest's error message (go-sdk's errors.New of it). A
	// leading HTTP status makes the rest the client's description; any
	// other message may be an exception's text, which is logged and
	// never sent.
	msg := err.Error()
	if len(msg) >= 4 && msg[3] == ' ' {
		if c, perr := strconv.Atoi(msg[:3]); perr == nil && c >= 400 && c <= 599 {
			return rc, nil, &GuestError{Code: c, Message: cleanText(cutUTF8([]byte(msg[4:]), abi.MaxErrorMessageBytes))}
		}
	}
	inst.guestLog(slog.LevelWarn, "guest", export+" failed: "+msg)
	return rc, nil, &GuestError{Code: 500}
}

// run calls export under the pool's deadline. Errors other than the
// guest's own message are ErrCallTimeout, *TrapError, or a stopped call.
func (x *extismInstance) run(ctx context.Context, inst *instance, export string, in []byte) (uint32, []byte, error) {
	d := inst.pool.opts.CallTimeout
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, time.Until(dl))
	}
	if d <= 0 {
		return 0, nil, ErrCallTimeout
	}
	cctx, cancel := context.WithTimeoutCause(ctx, d, ErrCallTimeout)
	defer cancel()
	cctx = context.WithValue(cctx, extismCallKey{}, context.Context(cctx))
	var stop func() bool
	if x.interruptible {
		// The deadline, or the caller's context ending, sets the
		// instance's interrupt flag; wazero does not watch the context.
		cctx = context.WithValue(cctx, extismInstKey{}, x)
		stop = context.AfterFunc(cctx, x.interrupt)
		defer stop()
	}
	if len(in) > extismPreflightBytes {
		// go-sdk ignores a failed allocation of the input, and the guest
		// would then read an empty one: allocate it once here to find
		// out (the call's own reset frees it). Like a native guest whose
		// oso_alloc fails, the instance is discarded. The kernel's
		// allocator is trusted code, run without the deadline's
		// per-call goroutines.
		ptr, err := x.p.SetInputWithContext(context.WithoutCancel(cctx), in)
		if err != nil || ptr == 0 {
			inst.poisoned = true
			return 0, nil, &TrapError{Err: fmt.Errorf("the Extism kernel cannot allocate the %d-byte input", len(in))}
		}
	}
	rc, out, err := x.p.CallWithContext(cctx, export, in)
	if stop != nil && !stop() {
		inst.poisoned = true // its flag is set: every later call would trap
		if c := context.Cause(cctx); errors.Is(c, ErrCallTimeout) || errors.Is(c, context.DeadlineExceeded) {
			return rc, nil, ErrCallTimeout
		}
		return rc, nil, fmt.Errorf("plugin: call stopped: %w", context.Cause(cctx))
	}
	if err == nil {
		return rc, out, nil
	}
	if cctx.Err() != nil {
		inst.poisoned = true // wazero closed the module
		if c := context.Cause(cctx); errors.Is(c, ErrCallTimeout) || errors.Is(c, context.DeadlineExceeded) {
			return rc, nil, ErrCallTimeout
		}
		return rc, nil, fmt.Errorf("plugin: call stopped: %w", context.Cause(cctx))
	}
	// go-sdk returns the guest's error message as a plain error once the
	// export returned; anything else failed inside the call.
	if msg := x.guestError(cctx, inst); msg != "" && msg == err.Error() {
		return rc, nil, err
	}
	inst.poisoned = true
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		return rc, nil, &TrapError{Err: fmt.Errorf("guest exited with code %d", exit.ExitCode())}
	}
	return rc, nil, &TrapError{Err: err}
}

// guestError reads the error the guest set in the last call, "" if none.
// A trapped kernel makes it fail; the instance is discarded then anyway.
func (x *extismInstance) guestError(ctx context.Context, inst *instance) (msg string) {
	defer func() {
		if recover() != nil {
			msg = ""
		}
	}()
	return x.p.GetErrorWithContext(ctx)
}

func (x *extismInstance) close(ctx context.Context) {
	_ = x.p.Close(ctx)
}
