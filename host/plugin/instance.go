package plugin

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/host/plugin/interrupt"
)

// instance is one guest instance. It runs one call at a time and is owned by
// whoever took it from the pool; only interrupt runs on another goroutine.
type instance struct {
	pool *Pool
	mod  api.Module
	mem  api.Memory
	ctx  context.Context // detached: carries instanceKey for host functions, never cancelled

	alloc, toOSO, toISV, status api.Function
	handleHTTP                  api.Function // nil when not exported
	stack                       []uint64

	flag  api.MutableGlobal // interrupt flag (DeadlineInterrupt only)
	timer *time.Timer

	mu          sync.Mutex // guards the fields below up to cancelCall, and flag.Set
	running     bool
	seq         uint64
	interrupted bool
	cause       error              // why the call was interrupted
	aborted     error              // set by abort: every later call fails with it
	cancelCall  context.CancelFunc // DeadlineContext: ends the call's context

	// Per-call deadline state, owned by the calling goroutine (arm..disarm).
	callCtx    context.Context
	reqCtx     context.Context // the caller's context, for host functions
	deadline   time.Time       // when the armed call's deadline passes
	hostCtx    context.Context // reqCtx bounded by deadline, made on first use
	hostCancel context.CancelFunc
	timerArmed bool
	stopCancel func() bool

	calls    int
	poisoned bool // must not be reused

	state    callState
	logLimit rateLimiter

	// ext is the instance of an Extism-ABI module; the wazero fields
	// above are then unused.
	ext *extismInstance
}

// callState is what host functions record during one export call.
type callState struct {
	active bool
	// routes is set while oso_routes runs: only output, error and log
	// work then (CallContext is nil, so no other host function does).
	routes  bool
	kind    abi.OutputKind
	out     []byte // reused between calls
	outSet  bool
	refused string // why an output was refused; sticky for the call
	errSet  bool
	errCode int
	errMsg  string
}

func newInstance(ctx context.Context, p *Pool) (*instance, error) {
	m := p.mod
	inst := &instance{pool: p, stack: make([]uint64, 4)}
	inst.logLimit = rateLimiter{rate: 50, burst: 200}
	if m.ext != nil {
		if err := newExtismInstance(ctx, p, inst); err != nil {
			return nil, err
		}
		return inst, nil
	}
	inst.ctx = context.WithValue(context.Background(), instanceKey{}, inst)
	cfg := guestModuleConfig(inst).
		WithName("").
		WithStartFunctions() // "_initialize" runs below, under a deadline
	mod, err := m.engine.rt.InstantiateModule(ctx, m.compiled, cfg)
	if err != nil {
		return nil, fmt.Errorf("plugin: instantiate: %w", err)
	}
	inst.mod = mod
	inst.mem = mod.Memory()
	inst.alloc = mod.ExportedFunction(abi.ExportAlloc)
	inst.toOSO = mod.ExportedFunction(abi.ExportToOSO)
	inst.toISV = mod.ExportedFunction(abi.ExportToISV)
	inst.status = mod.ExportedFunction(abi.ExportStatus)
	inst.handleHTTP = mod.ExportedFunction(abi.ExportHandleHTTP)
	if inst.mem == nil || inst.alloc == nil || inst.toOSO == nil || inst.toISV == nil || inst.status == nil {
		inst.close(ctx)
		return nil, &ModuleError{Problems: []string{"required export missing at instantiation"}}
	}
	if m.engine.opts.Deadline == DeadlineInterrupt {
		g, ok := mod.ExportedGlobal(interrupt.GlobalExport).(api.MutableGlobal)
		if !ok {
			inst.close(ctx)
			return nil, errors.New("plugin: instrumented module lacks its interrupt flag")
		}
		inst.flag = g
	}
	inst.timer = time.AfterFunc(time.Hour, inst.interruptOnDeadline)
	inst.timer.Stop()

	if fn := mod.ExportedFunction(abi.ExportInitialize); fn != nil {
		if err := inst.invoke(ctx, fn, p.opts.CallTimeout); err != nil {
			inst.close(ctx)
			return nil, fmt.Errorf("plugin: %s: %w", abi.ExportInitialize, err)
		}
	}
	if fn := mod.ExportedFunction(abi.ExportMarker); fn != nil {
		if err := inst.invoke(ctx, fn, p.opts.CallTimeout); err != nil {
			inst.close(ctx)
			return nil, fmt.Errorf("plugin: %s: %w", abi.ExportMarker, err)
		}
		if minor := api.DecodeI32(inst.stack[0]); minor < 0 || minor > abi.Minor {
			inst.close(ctx)
			return nil, &ModuleError{Problems: []string{fmt.Sprintf("module was built for ABI v%d.%d; this host implements v%d.%d", abi.Version, minor, abi.Version, abi.Minor)}}
		}
	}
	if fn := mod.ExportedFunction(abi.ExportInit); fn != nil {
		if err := inst.invoke(ctx, fn, p.opts.CallTimeout); err != nil {
			inst.close(ctx)
			return nil, fmt.Errorf("plugin: %s: %w", abi.ExportInit, err)
		}
		if r := api.DecodeI32(inst.stack[0]); r != abi.ResultOK {
			inst.close(ctx)
			return nil, fmt.Errorf("plugin: %s returned %d", abi.ExportInit, r)
		}
	}
	return inst, nil
}

// guestModuleConfig is the WASI surface of every guest, whatever its ABI:
// real clocks and randomness, stdout and stderr into the host log
// (bounded and rate-limited), and nothing else: no files, environment,
// arguments or sockets.
func guestModuleConfig(inst *instance) wazero.ModuleConfig {
	return wazero.NewModuleConfig().
		WithSysWalltime().
		WithSysNanotime().
		WithSysNanosleep().
		WithRandSource(rand.Reader).
		WithStdout(&guestWriter{inst: inst, level: slog.LevelInfo, stream: "stdout"}).
		WithStderr(&guestWriter{inst: inst, level: slog.LevelWarn, stream: "stderr"})
}

// stateless asks the guest's optional stateless marker.
func (inst *instance) stateless(ctx context.Context) bool {
	if inst.ext != nil {
		return inst.ext.stateless(ctx, inst)
	}
	fn := inst.mod.ExportedFunction(abi.ExportStateless)
	if fn == nil {
		return false
	}
	if err := inst.invoke(ctx, fn, inst.pool.opts.CallTimeout); err != nil {
		inst.poisoned = true
		return false
	}
	return api.DecodeI32(inst.stack[0]) != 0
}

// routeTable calls the guest's optional oso_routes export and parses the
// table it hands over; nil without the export or without output. Only
// output, error and log work during the call.
func (inst *instance) routeTable(ctx context.Context) (*Routes, error) {
	if inst.ext != nil {
		return nil, nil // Compile refuses Extism modules that declare routes
	}
	fn := inst.mod.ExportedFunction(abi.ExportRoutes)
	if fn == nil {
		return nil, nil
	}
	inst.state.routes = true
	calls := inst.calls
	res, err := inst.call(ctx, fn, nil)
	inst.state.routes = false
	inst.calls = calls // not a served call: PoolOptions.MaxCalls counts those
	if err != nil {
		return nil, fmt.Errorf("plugin: %s: %w", abi.ExportRoutes, err)
	}
	switch res.Kind {
	case 0:
		return nil, nil
	case abi.OutputJSON:
		return ParseRoutes(res.Data)
	}
	return nil, &ModuleError{Problems: []string{fmt.Sprintf("routes: %s handed over output kind %d, want JSON (%d)", abi.ExportRoutes, res.Kind, abi.OutputJSON)}}
}

func (inst *instance) close(ctx context.Context) {
	if inst.ext != nil {
		inst.ext.close(ctx)
		return
	}
	if inst.timer != nil {
		inst.timer.Stop()
	}
	if inst.mod != nil {
		_ = inst.mod.Close(ctx)
	}
}

// interruptOnDeadline runs on the timer's goroutine and stops the running
// call. A timer that fires after its call ended finds running false; one
// that fired while the call was ending makes Stop report false in disarm,
// which discards the instance, so a late timer never stops a later call.
func (inst *instance) interruptOnDeadline() {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	if inst.running {
		inst.stopLocked(ErrCallTimeout)
	}
}

// interruptSeq stops call number seq if it is still running: its context
// ended before the call deadline.
func (inst *instance) interruptSeq(ctx context.Context, seq uint64) {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	if inst.running && inst.seq == seq {
		cause := ErrCallTimeout
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			cause = fmt.Errorf("plugin: call stopped: %w", context.Cause(ctx))
		}
		inst.stopLocked(cause)
	}
}

// abort stops the running call, if any, and makes every later call on
// the instance fail with cause: the pool is closing and ran out of time.
func (inst *instance) abort(cause error) {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	inst.aborted = cause
	if inst.running {
		inst.stopLocked(cause)
	}
}

func (inst *instance) stopLocked(cause error) {
	inst.interrupted = true
	inst.cause = cause
	if inst.flag != nil {
		// The compiled guest reads the flag from the instance's global
		// storage at every function entry and loop header; the mutex
		// orders this store with the host's other accesses.
		inst.flag.Set(1)
	}
	if inst.cancelCall != nil {
		inst.cancelCall() // DeadlineContext: wazero closes the module
	}
}

// arm starts the deadline of one call: timeout, or the context's deadline if
// earlier. Every guest function run until disarm is covered by it.
func (inst *instance) arm(ctx context.Context, timeout time.Duration) error {
	d := timeout
	if dl, ok := ctx.Deadline(); ok {
		if r := time.Until(dl); r < d {
			d = r
		}
	}
	if d <= 0 {
		return ErrCallTimeout
	}
	mode := inst.pool.mod.engine.opts.Deadline
	inst.callCtx = inst.ctx
	var cancel context.CancelFunc
	if mode == DeadlineContext {
		var c context.Context
		c, cancel = context.WithTimeoutCause(ctx, d, ErrCallTimeout)
		inst.callCtx = context.WithValue(c, instanceKey{}, inst)
	}
	inst.reqCtx = ctx
	inst.deadline = time.Now().Add(d)
	inst.mu.Lock()
	if err := inst.aborted; err != nil {
		inst.mu.Unlock()
		if cancel != nil {
			cancel()
		}
		inst.callCtx, inst.reqCtx = nil, nil
		inst.poisoned = true
		return err
	}
	inst.seq++
	seq := inst.seq
	inst.running = true
	inst.cancelCall = cancel
	inst.mu.Unlock()
	if mode == DeadlineInterrupt {
		inst.timer.Reset(d)
		inst.timerArmed = true
		if ctx.Done() != nil {
			inst.stopCancel = context.AfterFunc(ctx, func() { inst.interruptSeq(ctx, seq) })
		}
	}
	return nil
}

// disarm ends the deadline started by arm.
func (inst *instance) disarm() {
	if inst.stopCancel != nil {
		inst.stopCancel()
		inst.stopCancel = nil
	}
	if inst.timerArmed {
		inst.timerArmed = false
		if !inst.timer.Stop() {
			inst.poisoned = true // the timer fired: see interruptOnDeadline
		}
	}
	inst.mu.Lock()
	if inst.cancelCall != nil {
		inst.cancelCall()
		inst.cancelCall = nil
	}
	inst.running = false
	if inst.interrupted {
		inst.poisoned = true // the flag is set: every later call would trap
	}
	inst.mu.Unlock()
	inst.callCtx = nil
	inst.reqCtx = nil
	if inst.hostCancel != nil {
		inst.hostCancel()
		inst.hostCancel, inst.hostCtx = nil, nil
	}
}

// run calls fn with the parameters in inst.stack, under the armed deadline,
// and classifies its failure.
func (inst *instance) run(fn api.Function) error {
	err := fn.CallWithStack(inst.callCtx, inst.stack)
	if err == nil {
		return nil
	}
	inst.poisoned = true
	inst.mu.Lock()
	interrupted, cause := inst.interrupted, inst.cause
	inst.mu.Unlock()
	switch {
	case interrupted:
		return cause
	case inst.cancelCall != nil && inst.callCtx.Err() != nil: // DeadlineContext
		if c := context.Cause(inst.callCtx); errors.Is(c, ErrCallTimeout) || errors.Is(c, context.DeadlineExceeded) {
			return ErrCallTimeout
		}
		return fmt.Errorf("plugin: call stopped: %w", context.Cause(inst.callCtx))
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		return &TrapError{Err: fmt.Errorf("guest exited with code %d", exit.ExitCode())}
	}
	return &TrapError{Err: err}
}

// invoke runs one guest function under its own deadline.
func (inst *instance) invoke(ctx context.Context, fn api.Function, timeout time.Duration) error {
	if err := inst.arm(ctx, timeout); err != nil {
		return err
	}
	defer inst.disarm()
	return inst.run(fn)
}

// call runs one export with input in and returns the guest's output.
func (inst *instance) call(ctx context.Context, fn api.Function, in []byte) (Result, error) {
	p := inst.pool
	if len(in) > p.opts.MaxInputBytes {
		return Result{}, &LimitError{What: "input", Limit: p.opts.MaxInputBytes}
	}
	s := &inst.state
	s.active, s.outSet, s.errSet = true, false, false
	s.refused = ""
	s.errMsg = ""
	defer func() { s.active = false }()
	inst.calls++

	if err := inst.arm(ctx, p.opts.CallTimeout); err != nil {
		return Result{}, err
	}
	defer inst.disarm()
	ptr := uint32(0)
	if len(in) > 0 {
		inst.stack[0] = api.EncodeI32(int32(len(in)))
		if err := inst.run(inst.alloc); err != nil {
			return Result{}, err
		}
		ptr = api.DecodeU32(inst.stack[0])
		if ptr == 0 || !inst.mem.Write(ptr, in) {
			inst.poisoned = true
			return Result{}, &TrapError{Err: fmt.Errorf("%s(%d) returned an unusable buffer", abi.ExportAlloc, len(in))}
		}
	}
	inst.stack[0] = api.EncodeU32(ptr)
	inst.stack[1] = api.EncodeU32(uint32(len(in)))
	if err := inst.run(fn); err != nil {
		return Result{}, err
	}
	if s.refused != "" {
		return Result{}, &OutputError{Reason: s.refused}
	}
	if r := api.DecodeI32(inst.stack[0]); r != abi.ResultOK {
		if s.errSet {
			return Result{}, &GuestError{Code: s.errCode, Message: s.errMsg}
		}
		return Result{}, &GuestError{Code: 500}
	}
	if !s.outSet {
		return Result{}, nil
	}
	res := Result{Kind: s.kind, Data: bytes.Clone(s.out)}
	if cap(s.out) > 1<<20 {
		s.out = nil // do not pin a large buffer between calls
	}
	return res, nil
}

// guestWriter turns a guest's stdout or stderr into bounded, rate-limited
// log lines.
type guestWriter struct {
	inst   *instance
	level  slog.Level
	stream string
	line   []byte
}

func (w *guestWriter) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			room := abi.MaxLogLineBytes - len(w.line)
			if len(b) > room {
				w.line = append(w.line, b[:room]...)
				w.flush()
				b = b[room:]
				continue
			}
			w.line = append(w.line, b...)
			break
		}
		chunk := b[:i]
		if room := abi.MaxLogLineBytes - len(w.line); len(chunk) > room {
			chunk = chunk[:room]
		}
		w.line = append(w.line, chunk...)
		w.flush()
		b = b[i+1:]
	}
	return n, nil
}

func (w *guestWriter) flush() {
	p := w.inst.pool
	if len(w.line) > 0 {
		if w.inst.logLimit.allow() {
			p.log.Log(context.Background(), w.level, cleanText(w.line), "source", w.stream)
		} else {
			p.droppedLogs.Add(1)
		}
	}
	w.line = w.line[:0]
}

// guestLog logs one line from the guest, bounded, cleaned and
// rate-limited like every guest line.
func (inst *instance) guestLog(level slog.Level, source, msg string) {
	p := inst.pool
	if !p.log.Enabled(context.Background(), level) {
		return
	}
	if !inst.logLimit.allow() {
		p.droppedLogs.Add(1)
		return
	}
	p.log.Log(context.Background(), level, cleanText(cutUTF8([]byte(msg), abi.MaxLogLineBytes)), "source", source)
}

// rateLimiter is a token bucket; it is used by one instance at a time.
type rateLimiter struct {
	rate, burst float64
	tokens      float64
	last        time.Time
}

func (r *rateLimiter) allow() bool {
	now := time.Now()
	if r.last.IsZero() {
		r.tokens = r.burst
	} else {
		r.tokens = min(r.burst, r.tokens+now.Sub(r.last).Seconds()*r.rate)
	}
	r.last = now
	if r.tokens < 1 {
		return false
	}
	r.tokens--
	return true
}
