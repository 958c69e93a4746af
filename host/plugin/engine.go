package plugin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	extism "github.com/extism/go-sdk"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/host/plugin/interrupt"
)

// DeadlineMode selects how a per-call deadline stops a running guest.
type DeadlineMode int

const (
	// DeadlineInterrupt (the default) instruments the module so that every
	// function entry and loop header tests an interrupt flag that a
	// per-instance timer sets.
	DeadlineInterrupt DeadlineMode = iota
	// DeadlineContext uses wazero's close-on-context-done mode: a goroutine
	// per call and a check through the Go runtime at every loop header.
	DeadlineContext
	// DeadlineNone enforces no deadline inside the guest. It exists only to
	// measure the cost of the other modes; a guest that never returns then
	// holds its instance forever. Never use it to serve requests.
	DeadlineNone
)

// String returns the mode's configuration name.
func (m DeadlineMode) String() string {
	switch m {
	case DeadlineInterrupt:
		return "interrupt"
	case DeadlineContext:
		return "context"
	case DeadlineNone:
		return "none"
	}
	return fmt.Sprintf("DeadlineMode(%d)", int(m))
}

// EngineOptions configure an [Engine]. The zero value is usable.
type EngineOptions struct {
	// CacheDir holds wazero's compilation cache; "" disables the cache.
	CacheDir string
	// MemoryLimitPages caps every instance's linear memory, in 64 KiB pages;
	// 0 means DefaultMemoryLimitPages.
	MemoryLimitPages uint32
	// MaxModuleBytes bounds the size of a module; 0 means DefaultMaxModuleBytes.
	MaxModuleBytes int
	// Deadline selects the deadline mechanism.
	Deadline DeadlineMode
	// Logger receives guest output and runtime events; nil discards them.
	Logger *slog.Logger
	// HostFunctions are added to the "oso" import module (signing,
	// credentials, state). Their names and signatures must be listed in
	// abi.ImportSignatures.
	HostFunctions []HostFunction
}

// Defaults for [EngineOptions].
const (
	DefaultMemoryLimitPages = 2048     // 128 MiB
	DefaultMaxModuleBytes   = 64 << 20 // 64 MiB
)

// Engine owns one wazero runtime, with its host modules and compilation
// cache. It is safe for concurrent use. Close it after every [Pool] made
// from its modules is closed.
type Engine struct {
	rt    wazero.Runtime
	opts  EngineOptions
	log   *slog.Logger
	cache wazero.CompilationCache // nil without EngineOptions.CacheDir

	mu       sync.Mutex
	compiled map[moduleKey]*compiledModule // modules in use, by digest of their bytes
}

// compiledModule is a compiled module shared by every [Module] compiled
// from the same bytes while one of them is open: compiling a module that is
// already in use (a reload of the same file, a flip back to the previous
// version) costs one hash.
type compiledModule struct {
	cm  wazero.CompiledModule  // native ABI
	ext *extism.CompiledPlugin // Extism ABI
	// extInterrupt: the Extism module is instrumented and its component
	// exports are watched (see compileExtism).
	extInterrupt bool
	info         Info
	refs         int // open Modules; guarded by Engine.mu
}

func (c *compiledModule) close(ctx context.Context) error {
	if c.ext != nil {
		return c.ext.Close(ctx)
	}
	return c.cm.Close(ctx)
}

// NewEngine creates a runtime with the "oso" host module and a WASI module
// that grants no files, environment, arguments or sockets.
func NewEngine(ctx context.Context, opts EngineOptions) (*Engine, error) {
	if opts.MemoryLimitPages == 0 {
		opts.MemoryLimitPages = DefaultMemoryLimitPages
	}
	if opts.MemoryLimitPages > 65536 {
		return nil, fmt.Errorf("plugin: memory limit %d pages exceeds 4 GiB", opts.MemoryLimitPages)
	}
	if opts.MaxModuleBytes <= 0 {
		opts.MaxModuleBytes = DefaultMaxModuleBytes
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg := wazero.NewRuntimeConfigCompiler().
		WithMemoryLimitPages(opts.MemoryLimitPages).
		WithCloseOnContextDone(opts.Deadline == DeadlineContext)
	var cache wazero.CompilationCache
	if opts.CacheDir != "" {
		var err error
		if cache, err = wazero.NewCompilationCacheWithDir(opts.CacheDir); err != nil {
			return nil, fmt.Errorf("plugin: compilation cache: %w", err)
		}
		cfg = cfg.WithCompilationCache(cache)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, cfg)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("plugin: wasi: %w", err)
	}
	if err := instantiateHostModule(ctx, rt, opts.HostFunctions); err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("plugin: host module: %w", err)
	}
	// Extism modules log through go-sdk, whose level is process-wide and
	// off by default; each instance's logger then bounds what it passes on.
	extismLogLevel.Do(func() { extism.SetLogLevel(extism.LogLevelInfo) })
	return &Engine{rt: rt, opts: opts, log: log, cache: cache, compiled: map[moduleKey]*compiledModule{}}, nil
}

var extismLogLevel sync.Once

// providesExtism reports whether the engine offers the Extism form of the
// host function named (without ExtismPrefix).
func (e *Engine) providesExtism(name string) bool {
	for _, f := range e.opts.HostFunctions {
		if f.Name == name && f.Extism != nil {
			return true
		}
	}
	return false
}

// provides reports whether the engine's "oso" module has the function.
func (e *Engine) provides(name string) bool {
	switch name {
	case abi.ImportOutput, abi.ImportError, abi.ImportLog:
		return true
	}
	for _, f := range e.opts.HostFunctions {
		if f.Name == name {
			return true
		}
	}
	return false
}

// Logger returns the engine's logger: what [PoolOptions].Logger defaults to.
func (e *Engine) Logger() *slog.Logger { return e.log }

// Close releases the runtime and every module compiled by it.
func (e *Engine) Close(ctx context.Context) error {
	return e.rt.Close(ctx)
}

// Module is a checked, compiled guest module. It is immutable and safe for
// concurrent use; instances are made from it by [NewPool].
type Module struct {
	engine    *Engine
	shared    *compiledModule
	compiled  wazero.CompiledModule  // native ABI
	ext       *extism.CompiledPlugin // Extism ABI
	extIntr   bool                   // see compiledModule.extInterrupt
	info      Info
	key       moduleKey
	loadedAt  time.Time
	closeOnce sync.Once
}

// Info returns what [Inspect] found in the module.
func (m *Module) Info() Info { return m.info }

// LoadedAt returns when the module was compiled.
func (m *Module) LoadedAt() time.Time { return m.loadedAt }

// Close releases the compiled code once no other Module compiled from the
// same bytes is open. Close it only after every [Pool] made from it is
// done ([Pool.Done]); the engine's Close releases it too. It is safe to
// call more than once.
func (m *Module) Close(ctx context.Context) error {
	var err error
	m.closeOnce.Do(func() {
		e := m.engine
		e.mu.Lock()
		m.shared.refs--
		last := m.shared.refs == 0
		if last {
			delete(e.compiled, m.key)
		}
		e.mu.Unlock()
		if last {
			err = m.shared.close(ctx)
		}
	})
	return err
}

// ModuleError reports a module that cannot be served. Problems lists every
// reason, each one line.
type ModuleError struct {
	Problems []string
}

func (e *ModuleError) Error() string {
	return "plugin: module rejected: " + strings.Join(e.Problems, "; ")
}

// Compile checks the module against its ABI and compiles it: a native-ABI
// module is instrumented for the engine's deadline mode; an Extism-ABI
// module (see docs/abi-extism.md) is compiled by extism/go-sdk with the
// engine's limits and the Extism forms of its host functions. It fails
// with a [*ModuleError] listing every problem when the module is neither a
// native-ABI v1 reactor nor a servable Extism module, and with a wrapped
// wazero error when the binary is invalid. Bytes identical to those of a
// Module still open share its compiled code.
func (e *Engine) Compile(ctx context.Context, wasm []byte) (*Module, error) {
	return e.compile(ctx, wasm, false)
}

// CompileAny is Compile for tools (osohost call), which run any export of
// any Extism plugin, as `extism call` does: a module that is not a
// native-ABI module is compiled for the Extism path even when it imports
// nothing from Extism's kernel, need not export to_oso, to_isv and status,
// and may be a WASI command. Imports are checked as by Compile. Never
// serve requests with such a module: its component exports were not
// checked.
func (e *Engine) CompileAny(ctx context.Context, wasm []byte) (*Module, error) {
	return e.compile(ctx, wasm, true)
}

// moduleKey identifies compiled code: the module's digest, and whether it
// was checked for serving.
type moduleKey struct {
	sum [sha256.Size]byte
	any bool
}

func (e *Engine) compile(ctx context.Context, wasm []byte, anyExports bool) (*Module, error) {
	if len(wasm) > e.opts.MaxModuleBytes {
		return nil, &ModuleError{Problems: []string{fmt.Sprintf("module is %d bytes, the limit is %d", len(wasm), e.opts.MaxModuleBytes)}}
	}
	key := moduleKey{sha256.Sum256(wasm), anyExports}
	if m := e.share(key, nil); m != nil {
		return m, nil
	}
	bin, err := e.instrument(wasm, key.sum)
	if err != nil {
		return nil, err
	}
	cm, err := e.rt.CompileModule(ctx, bin)
	if err != nil {
		return nil, fmt.Errorf("plugin: not a valid WebAssembly module: %w", err)
	}
	info := describe(cm, wasm)
	p := info.Problems()
	if anyExports && info.ABI != ABINative && info.otherMarker() == "" {
		info.ABI = ABIExtism
		p = info.extismImportProblems()
	}
	for _, imp := range info.Imports {
		if imp.Module == abi.ImportModule && imp.Known && !e.provides(imp.Name) {
			p = append(p, fmt.Sprintf("import %s.%s: this host function is not enabled here (for signing: SIGNING__BACKEND)", imp.Module, imp.Name))
		}
		if info.ABI == ABIExtism && imp.Module == ExtismNamespace && imp.Known && !e.providesExtism(strings.TrimPrefix(imp.Name, ExtismPrefix)) {
			p = append(p, fmt.Sprintf("import %s.%s: this host function is not enabled here (for signing: SIGNING__BACKEND)", imp.Module, imp.Name))
		}
	}
	if len(p) > 0 {
		cm.Close(ctx)
		return nil, &ModuleError{Problems: p}
	}
	if info.ABI == ABIExtism {
		cm.Close(ctx)
		ext, interruptible, err := e.compileExtism(ctx, wasm, bin, anyExports)
		if err != nil {
			return nil, err
		}
		return e.share(key, &compiledModule{ext: ext, extInterrupt: interruptible, info: info}), nil
	}
	return e.share(key, &compiledModule{cm: cm, info: info}), nil
}

// instrument returns the bytes to compile: wasm instrumented for the
// deadline mode, or wasm itself in the other modes. Instrument also
// validates: its decoder bounds every count before wazero allocates by it,
// so wazero never sees a module it rejected.
//
// With a cache directory the instrumented module is kept there, keyed by
// the module's digest and interrupt.Version and sealed with a digest of
// its own, so that a warm start neither decodes nor rewrites the module
// again: it was validated when it was written.
func (e *Engine) instrument(wasm []byte, key [sha256.Size]byte) ([]byte, error) {
	path := ""
	if e.opts.CacheDir != "" && e.opts.Deadline == DeadlineInterrupt {
		path = filepath.Join(e.opts.CacheDir, instrumentedDir, hex.EncodeToString(key[:])+"-v"+interrupt.Version+".wasm")
		if b, ok := readSealed(path, len(wasm)); ok {
			return b, nil
		}
	}
	bin, err := interrupt.Instrument(wasm)
	if err != nil {
		return nil, moduleError(err)
	}
	if e.opts.Deadline != DeadlineInterrupt {
		return wasm, nil
	}
	if path != "" {
		if err := writeSealed(path, bin); err != nil {
			e.log.Warn("cannot cache the instrumented module; the next start instruments it again", "err", err)
		}
	}
	return bin, nil
}

// instrumentedDir is the cache directory's subdirectory of instrumented
// modules.
const instrumentedDir = "osohost-instrumented"

// readSealed reads a file written by writeSealed for a module of n bytes:
// its content, if the digest it starts with matches. Instrumenting adds a
// few bytes per function, so a file far larger than the module is refused
// before it is read.
func readSealed(path string, n int) ([]byte, bool) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	limit := int64(sha256.Size + 2*n + 1<<20)
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil || int64(len(b)) > limit || len(b) < sha256.Size {
		return nil, false
	}
	sum := sha256.Sum256(b[sha256.Size:])
	if !bytes.Equal(sum[:], b[:sha256.Size]) {
		return nil, false
	}
	return b[sha256.Size:], true
}

// writeSealed writes the digest of b, then b, atomically.
func writeSealed(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	sum := sha256.Sum256(b)
	_, err = tmp.Write(append(sum[:], b...))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// share returns a new Module on the compiled module in use for key, if
// there is one; else, with c non-nil, it records c for key and returns a
// Module on it. A c that lost a race with another Compile of the same bytes
// is closed.
func (e *Engine) share(key moduleKey, c *compiledModule) *Module {
	e.mu.Lock()
	shared := e.compiled[key]
	switch {
	case shared != nil:
	case c != nil:
		shared, c = c, nil
		e.compiled[key] = shared
	default:
		e.mu.Unlock()
		return nil
	}
	shared.refs++
	e.mu.Unlock()
	if c != nil {
		c.close(context.Background())
	}
	return &Module{engine: e, shared: shared, compiled: shared.cm, ext: shared.ext, extIntr: shared.extInterrupt, info: shared.info, key: key, loadedAt: time.Now()}
}

// Info describes a module: what [Inspect] reads from its import and export
// sections, without running it.
type Info struct {
	SHA256  string   // hex digest of the module bytes
	Size    int      // bytes
	ABI     string   // "oso-v1", "extism" or "unknown"
	Exports []Export // functions, memories and globals, sorted by name
	Imports []Import // functions, sorted by module and name
	// Reactor is true when the module exports "_initialize" (or neither
	// "_initialize" nor "_start").
	Reactor bool
}

// Export is one export of a module.
type Export struct {
	Name string
	Kind string // "func", "memory", "global"
	Sig  string // for functions: "(i32,i32)->i32"
}

// Import is one imported function.
type Import struct {
	Module, Name string
	Sig          string
	// Known is false when the host provides no function of that name and
	// signature; instantiation would fail.
	Known bool
}

// expected signatures of the native ABI.
var (
	exportSigs = map[string]string{
		abi.ExportMarker:     "()->i32",
		abi.ExportAlloc:      "(i32)->i32",
		abi.ExportToOSO:      "(i32,i32)->i32",
		abi.ExportToISV:      "(i32,i32)->i32",
		abi.ExportStatus:     "(i32,i32)->i32",
		abi.ExportInit:       "()->i32",
		abi.ExportHandleHTTP: "(i32,i32)->i32",
		abi.ExportRoutes:     "()->i32",
		abi.ExportStateless:  "()->i32",
		abi.ExportInitialize: "()->",
	}
)

// Inspect reads a module's imports and exports and classifies its ABI. It
// fails only when the bytes are not a valid WebAssembly module; a module
// that cannot be served is described by [Info.Problems].
func Inspect(ctx context.Context, wasm []byte) (Info, error) {
	if _, err := interrupt.Instrument(wasm); err != nil {
		return Info{}, moduleError(err) // bounded pre-validation, see Compile
	}
	// A throwaway interpreter runtime decodes and validates quickly.
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	cm, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		return Info{}, fmt.Errorf("plugin: not a valid WebAssembly module: %w", err)
	}
	defer cm.Close(ctx)
	return describe(cm, wasm), nil
}

// describe reads a compiled module's imports and exports. Function and
// memory exports are listed; the interrupt flag (a global) is not.
func describe(cm wazero.CompiledModule, wasm []byte) Info {
	sum := sha256.Sum256(wasm)
	info := Info{SHA256: hex.EncodeToString(sum[:]), Size: len(wasm), ABI: "unknown"}
	wasiKnown := wasiFunctions()
	for _, f := range cm.ImportedFunctions() {
		mod, name, _ := f.Import()
		imp := Import{Module: mod, Name: name, Sig: sig(f)}
		switch mod {
		case abi.ImportModule:
			imp.Known = abi.ImportSignatures[name] == imp.Sig
		case abi.WASIModule:
			_, imp.Known = wasiKnown[name]
		default:
			imp.Known = knownExtismImport(mod, name, imp.Sig)
		}
		info.Imports = append(info.Imports, imp)
	}
	slices.SortFunc(info.Imports, func(a, b Import) int {
		return strings.Compare(a.Module+"\x00"+a.Name, b.Module+"\x00"+b.Name)
	})
	for name, f := range cm.ExportedFunctions() {
		info.Exports = append(info.Exports, Export{Name: name, Kind: "func", Sig: sig(f)})
	}
	for name := range cm.ExportedMemories() {
		info.Exports = append(info.Exports, Export{Name: name, Kind: "memory"})
	}
	slices.SortFunc(info.Exports, func(a, b Export) int { return strings.Compare(a.Name, b.Name) })
	fns := cm.ExportedFunctions()
	_, hasInit := fns[abi.ExportInitialize]
	_, hasStart := fns["_start"]
	info.Reactor = hasInit || !hasStart
	switch {
	case fns[abi.ExportMarker] != nil:
		info.ABI = ABINative
	case isExtism(info.Imports):
		info.ABI = ABIExtism
	}
	return info
}

// moduleError explains why interrupt.Instrument refused a module.
func moduleError(err error) error {
	if errors.Is(err, interrupt.ErrAlreadyInstrumented) {
		return &ModuleError{Problems: []string{fmt.Sprintf("export %q is reserved for the host", interrupt.GlobalExport)}}
	}
	return fmt.Errorf("plugin: not a valid WebAssembly module: %w", err)
}

// Problems lists why the module cannot be served by the native-ABI runtime;
// empty means it can.
func (i Info) Problems() []string {
	var p []string
	switch i.ABI {
	case ABINative:
	case ABIExtism:
		return i.extismProblems()
	default:
		if other := i.otherMarker(); other != "" {
			return []string{fmt.Sprintf("module declares %s; this host implements %s", other, abi.ExportMarker)}
		}
		p = append(p, fmt.Sprintf("missing export %q: not a native OSO ABI v%d module (docs/abi.md)", abi.ExportMarker, abi.Version))
	}
	have := map[string]Export{}
	for _, e := range i.Exports {
		have[e.Name] = e
	}
	for _, name := range abi.RequiredExports {
		e, ok := have[name]
		switch {
		case !ok:
			p = append(p, fmt.Sprintf("missing export %q", name))
		case name == abi.ExportMemory:
			if e.Kind != "memory" {
				p = append(p, fmt.Sprintf("export %q is not a memory", name))
			}
		case e.Sig != exportSigs[name]:
			p = append(p, fmt.Sprintf("export %q has signature %s, want %s", name, e.Sig, exportSigs[name]))
		}
	}
	for _, name := range []string{abi.ExportInit, abi.ExportHandleHTTP, abi.ExportRoutes, abi.ExportStateless, abi.ExportInitialize} {
		if e, ok := have[name]; ok && e.Kind == "func" && e.Sig != exportSigs[name] {
			p = append(p, fmt.Sprintf("export %q has signature %s, want %s", name, e.Sig, exportSigs[name]))
		}
	}
	if !i.Reactor {
		p = append(p, `module is a command (exports "_start" without "_initialize"); build it as a reactor (Go: -buildmode=c-shared; C: -mexec-model=reactor)`)
	}
	if _, ok := have[interrupt.GlobalExport]; ok {
		p = append(p, fmt.Sprintf("export %q is reserved for the host", interrupt.GlobalExport))
	}
	for _, imp := range i.Imports {
		switch {
		case imp.Module != abi.ImportModule && imp.Module != abi.WASIModule:
			p = append(p, fmt.Sprintf("import %s.%s: module %q is not provided (only %q and %q are)", imp.Module, imp.Name, imp.Module, abi.ImportModule, abi.WASIModule))
		case !imp.Known:
			p = append(p, fmt.Sprintf("import %s.%s%s is not provided by this host", imp.Module, imp.Name, imp.Sig))
		}
	}
	return p
}

func (i Info) otherMarker() string {
	for _, e := range i.Exports {
		if strings.HasPrefix(e.Name, "oso_abi_v") && e.Name != abi.ExportMarker {
			return e.Name
		}
	}
	return ""
}

func isExtism(imps []Import) bool {
	for _, imp := range imps {
		if strings.HasPrefix(imp.Module, "extism:") || imp.Module == "extism" || imp.Module == "env" && strings.HasPrefix(imp.Name, "extism_") {
			return true
		}
	}
	return false
}

func sig(f api.FunctionDefinition) string {
	var b strings.Builder
	b.WriteByte('(')
	for i, t := range f.ParamTypes() {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(api.ValueTypeName(t))
	}
	b.WriteString(")->")
	for i, t := range f.ResultTypes() {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(api.ValueTypeName(t))
	}
	return b.String()
}

// wasiFunctions lists the WASI functions wazero implements. The capability
// they expose is decided by the module configuration (see newInstance): no
// preopened directories, no environment, no arguments, no sockets.
var wasiFunctions = sync.OnceValue(func() map[string]struct{} {
	ctx := context.Background() // detached: a short-lived private runtime
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		return nil
	}
	mod := rt.Module(wasi_snapshot_preview1.ModuleName)
	out := map[string]struct{}{}
	for name := range mod.ExportedFunctionDefinitions() {
		out[name] = struct{}{}
	}
	return out
})

// ReadModule reads a .wasm file, refusing files over DefaultMaxModuleBytes
// before reading them whole.
func ReadModule(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("plugin: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, DefaultMaxModuleBytes+1))
	if err != nil {
		return nil, fmt.Errorf("plugin: read %s: %w", path, err)
	}
	if len(b) > DefaultMaxModuleBytes {
		return nil, fmt.Errorf("plugin: %s is larger than %d bytes", path, DefaultMaxModuleBytes)
	}
	return b, nil
}
