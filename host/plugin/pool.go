package plugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/osohost/osohost/abi"
)

// Errors of [Pool.Call]; see also [*GuestError], [*TrapError],
// [*OutputError] and [*LimitError].
var (
	// ErrCallTimeout: the guest did not return before its deadline; it was
	// stopped and its instance discarded.
	ErrCallTimeout = errors.New("plugin: call deadline exceeded")
	// ErrBusy: no instance became free within the acquire timeout. The
	// call never reached the guest; it may be retried.
	ErrBusy = errors.New("plugin: no free instance")
	// ErrClosed: the pool is closed or closing. The call never reached the
	// guest, or was stopped because [Pool.Close] ran out of time.
	ErrClosed = errors.New("plugin: pool closed")
	// ErrPoolClosed is [ErrClosed].
	//
	// Deprecated: use ErrClosed.
	ErrPoolClosed = ErrClosed
	// ErrUnknownExport: the export name is not one of to_oso, to_isv,
	// status, handle_http, or the module does not export handle_http.
	ErrUnknownExport = errors.New("plugin: unknown export")
)

// GuestError is a failure the guest reported through the error channel
// (oso.error), or a non-zero export result without one (Code 500, empty
// Message). Message is the guest's own text, bounded and cleaned.
type GuestError struct {
	Code    int
	Message string
}

func (e *GuestError) Error() string {
	return fmt.Sprintf("plugin: guest error %d", e.Code)
}

// TrapError is a trap (or an exit) inside the guest. Err holds wazero's
// description, for logs only.
type TrapError struct{ Err error }

func (e *TrapError) Error() string { return "plugin: guest trapped: " + e.Err.Error() }
func (e *TrapError) Unwrap() error { return e.Err }

// OutputError is guest output the host refuses (too large, or malformed
// when decoded by the caller).
type OutputError struct{ Reason string }

func (e *OutputError) Error() string { return "plugin: invalid guest output: " + e.Reason }

// LimitError is an input over a limit.
type LimitError struct {
	What  string
	Limit int
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("plugin: %s exceeds %d bytes", e.What, e.Limit)
}

// Result is what an export handed back through oso.output. Data is owned by
// the caller; Kind is zero when the guest produced no output.
type Result struct {
	Kind abi.OutputKind
	Data []byte
}

// DefaultCallTimeout is the call deadline when [PoolOptions].CallTimeout
// is zero.
const DefaultCallTimeout = 60 * time.Second

// PoolOptions configure a [Pool]. Zero values mean the documented default.
type PoolOptions struct {
	// Size is the number of instances. 0: 1, or GOMAXPROCS when the guest
	// declares itself stateless (its memory then holds nothing that must be
	// seen by the next call).
	Size int
	// CallTimeout bounds each export call (and instance initialisation);
	// default DefaultCallTimeout. A shorter deadline on the caller's
	// context wins.
	CallTimeout time.Duration
	// AcquireTimeout bounds the wait for a free instance when every
	// instance is busy; the call then fails with [ErrBusy]. 0 waits until
	// the caller's context ends.
	AcquireTimeout time.Duration
	// MaxInputBytes bounds the input of one call; default 16 MiB.
	MaxInputBytes int
	// MaxOutputBytes bounds the output of one call; default
	// abi.DefaultMaxOutputBytes.
	MaxOutputBytes int
	// MaxCalls recycles an instance after that many calls: it is closed
	// and a fresh one is made in the background, which bounds what a
	// long-lived instance can accumulate (memory, state). 0 never
	// recycles. An instance that trapped, timed out or was interrupted is
	// always discarded, whatever this setting.
	MaxCalls int
	// OnCall, if set, is called once for every [Pool.Call], with the
	// export name as given, the time the guest ran (zero for a call that
	// never reached an instance: [ErrBusy], [ErrClosed], a context that
	// ended while waiting, [ErrUnknownExport]) and the call's error. It
	// runs on the caller's goroutine, after the instance went back to the
	// pool; it must be cheap and must not block.
	OnCall func(export string, d time.Duration, err error)
	// Logger receives guest log lines and pool events; nil uses the
	// engine's.
	Logger *slog.Logger
}

// Pool is a bounded set of pre-warmed instances of one [Module]. It is safe
// for concurrent use. An instance serves one call at a time; an instance
// that trapped, timed out or was interrupted is discarded and replaced in
// the background, as is one that served [PoolOptions].MaxCalls calls.
type Pool struct {
	mod  *Module
	opts PoolOptions
	log  *slog.Logger
	size int
	// stateless is what the guest's stateless marker answered.
	stateless bool
	// routes is the guest's route table, read once by NewPool; nil
	// without one.
	routes *Routes

	// idle holds the free instances. Its capacity is size and never more
	// than size instances (live ones plus reserved replacements) exist, so
	// a send never blocks. It is never closed.
	idle    chan *instance
	closed  atomic.Bool   // set (under mu) when Close starts
	closing chan struct{} // closed when Close starts

	mu       sync.Mutex
	live     int                    // instances created, or reserved for a replacement, and not yet closed
	insts    map[*instance]struct{} // instances created and not yet closed
	done     chan struct{}          // closed when the pool is closed and live == 0
	doneOnce bool

	bg       context.Context // detached lifetime of background replacements
	cancelBg context.CancelFunc
	wg       sync.WaitGroup // background replacements

	droppedLogs atomic.Int64
	calls       atomic.Int64
	traps       atomic.Int64
	timeouts    atomic.Int64
	replaced    atomic.Int64
	recycled    atomic.Int64
	busy        atomic.Int64
}

// NewPool creates the pool and all its instances before returning, so the
// first request does not pay for instantiation.
func NewPool(ctx context.Context, m *Module, opts PoolOptions) (*Pool, error) {
	if opts.Size < 0 {
		return nil, fmt.Errorf("plugin: pool size %d", opts.Size)
	}
	if opts.MaxCalls < 0 {
		return nil, fmt.Errorf("plugin: max calls per instance %d", opts.MaxCalls)
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = DefaultCallTimeout
	}
	if opts.AcquireTimeout < 0 {
		opts.AcquireTimeout = 0
	}
	if opts.MaxInputBytes <= 0 {
		opts.MaxInputBytes = 16 << 20
	}
	if opts.MaxOutputBytes <= 0 {
		opts.MaxOutputBytes = abi.DefaultMaxOutputBytes
	}
	log := opts.Logger
	if log == nil {
		log = m.engine.log
	}
	p := &Pool{
		mod: m, opts: opts, log: log,
		closing: make(chan struct{}),
		insts:   map[*instance]struct{}{},
		done:    make(chan struct{}),
	}
	p.bg, p.cancelBg = context.WithCancel(context.Background())

	first, err := newInstance(ctx, p)
	if err != nil {
		p.cancelBg()
		return nil, err
	}
	stateless := first.stateless(ctx)
	p.stateless = stateless
	if p.routes, err = first.routeTable(ctx); err == nil && p.routes.Len() > 0 && first.handleHTTP == nil {
		err = &ModuleError{Problems: []string{fmt.Sprintf("routes: the module declares routes but does not export %q", abi.ExportHandleHTTP)}}
	}
	if err != nil {
		first.close(ctx)
		p.cancelBg()
		return nil, err
	}
	p.size = opts.Size
	if p.size == 0 {
		p.size = 1
		if stateless {
			p.size = runtime.GOMAXPROCS(0)
		}
	}
	p.idle = make(chan *instance, p.size)
	p.live = 1
	p.insts[first] = struct{}{}
	p.idle <- first
	for p.live < p.size {
		inst, err := newInstance(ctx, p)
		if err != nil {
			p.Close(ctx)
			return nil, err
		}
		p.mu.Lock()
		p.live++
		p.insts[inst] = struct{}{}
		p.mu.Unlock()
		p.idle <- inst
	}
	return p, nil
}

// Size returns the number of instances the pool keeps.
func (p *Pool) Size() int { return p.size }

// Stateless reports whether the guest declared itself stateless.
func (p *Pool) Stateless() bool { return p.stateless }

// Module returns the module the pool runs.
func (p *Pool) Module() *Module { return p.mod }

// Routes returns the route table the guest declared through its
// oso_routes export when the pool was made; nil (an empty table) without
// one.
func (p *Pool) Routes() *Routes { return p.routes }

// Stats are counters since the pool was created.
type Stats struct {
	// Calls counts calls that reached an instance; Traps and Timeouts
	// those of them that trapped (or exited) and that hit their deadline.
	Calls, Traps, Timeouts int64
	// Replaced counts instances discarded after a failure, Recycled those
	// closed after PoolOptions.MaxCalls calls; both were replaced.
	Replaced, Recycled int64
	// Busy counts calls refused with ErrBusy.
	Busy int64
	// DroppedLogs counts guest log lines over the rate limit.
	DroppedLogs int64
	// Idle is the number of free instances now.
	Idle int
}

// Stats returns the pool's counters.
func (p *Pool) Stats() Stats {
	return Stats{
		Calls: p.calls.Load(), Traps: p.traps.Load(), Timeouts: p.timeouts.Load(),
		Replaced: p.replaced.Load(), Recycled: p.recycled.Load(), Busy: p.busy.Load(),
		DroppedLogs: p.droppedLogs.Load(), Idle: len(p.idle),
	}
}

// Call runs export ([abi.ExportToOSO], [abi.ExportToISV],
// [abi.ExportStatus] or [abi.ExportHandleHTTP]) with input in on a free
// instance. It waits for an instance until ctx ends or the acquire
// timeout passes ([ErrBusy]), then runs the guest under the call
// deadline. Errors: [ErrCallTimeout],
// [*TrapError], [*GuestError], [*OutputError], [*LimitError], [ErrBusy],
// [ErrClosed], [ErrUnknownExport], or the context's cause.
//
// For [abi.ExportHandleHTTP], a [Router] carried by ctx ([WithRouter])
// first chooses the call's context and input from the pool's route table;
// an error it returns is returned unchanged, without an instance taken and
// without OnCall: no guest call was made.
func (p *Pool) Call(ctx context.Context, export string, in []byte) (Result, error) {
	if export == abi.ExportHandleHTTP {
		if route := RouterFrom(ctx); route != nil && !p.closed.Load() {
			var err error
			if ctx, in, err = route(ctx, p.routes); err != nil {
				return Result{}, err
			}
		}
	}
	onCall := p.opts.OnCall
	inst, err := p.acquire(ctx)
	if err != nil {
		if onCall != nil {
			onCall(export, 0, err)
		}
		return Result{}, err
	}
	var fn api.Function
	known := false
	switch export {
	case abi.ExportToOSO:
		fn, known = inst.toOSO, true
	case abi.ExportToISV:
		fn, known = inst.toISV, true
	case abi.ExportStatus:
		fn, known = inst.status, true
	case abi.ExportHandleHTTP:
		fn = inst.handleHTTP
	}
	if fn == nil && !(inst.ext != nil && known) {
		p.release(inst)
		if onCall != nil {
			onCall(export, 0, ErrUnknownExport)
		}
		return Result{}, ErrUnknownExport
	}
	p.calls.Add(1)
	var start time.Time
	if onCall != nil {
		start = time.Now()
	}
	var res Result
	if inst.ext != nil {
		res, err = inst.ext.call(ctx, inst, export, in)
	} else {
		res, err = inst.call(ctx, fn, in)
	}
	p.count(err)
	p.release(inst)
	if onCall != nil {
		onCall(export, time.Since(start), err)
	}
	return res, err
}

// CallAny runs any export of the module, for tools (osohost call), as
// `extism call` does: for an Extism-ABI module, any exported function with
// in as its raw input, the output handed back as JSON-kind data; for a
// native-ABI module, any export of signature (i32,i32)->i32 other than the
// ABI's own, with in and the output as the ABI passes them. Limits, the
// deadline and fault handling are those of [Pool.Call]. Never expose it to
// requests: it reaches exports the ABI does not serve.
func (p *Pool) CallAny(ctx context.Context, export string, in []byte) (Result, error) {
	switch export {
	case abi.ExportToOSO, abi.ExportToISV, abi.ExportStatus:
		if p.mod.ext == nil {
			return p.Call(ctx, export, in)
		}
	}
	inst, err := p.acquire(ctx)
	if err != nil {
		return Result{}, err
	}
	var res Result
	if inst.ext != nil {
		p.calls.Add(1)
		res, err = inst.ext.callAny(ctx, inst, export, in)
	} else {
		fn := inst.mod.ExportedFunction(export)
		switch {
		case fn == nil || slices.Contains(reservedExports, export):
			err = ErrUnknownExport
		case sig(fn.Definition()) != "(i32,i32)->i32":
			err = fmt.Errorf("plugin: export %q has signature %s; osohost call runs (i32,i32)->i32 exports", export, sig(fn.Definition()))
		default:
			p.calls.Add(1)
			res, err = inst.call(ctx, fn, in)
		}
	}
	p.count(err)
	p.release(inst)
	return res, err
}

// reservedExports are native-ABI exports CallAny does not call: the host
// calls them itself, with their own conventions.
var reservedExports = []string{abi.ExportMarker, abi.ExportAlloc, abi.ExportInit, abi.ExportInitialize, abi.ExportStateless, abi.ExportRoutes, abi.ExportHandleHTTP}

// count records a failed call in the pool's counters.
func (p *Pool) count(err error) {
	if err != nil {
		var trap *TrapError
		switch {
		case errors.Is(err, ErrCallTimeout):
			p.timeouts.Add(1)
		case errors.As(err, &trap):
			p.traps.Add(1)
		}
	}
}

func (p *Pool) acquire(ctx context.Context) (*instance, error) {
	if p.closed.Load() {
		return nil, ErrClosed
	}
	select {
	case inst := <-p.idle:
		return inst, nil
	default:
	}
	var expired <-chan time.Time
	if p.opts.AcquireTimeout > 0 {
		t := time.NewTimer(p.opts.AcquireTimeout)
		defer t.Stop()
		expired = t.C
	}
	select {
	case inst := <-p.idle:
		if p.closed.Load() {
			p.closeInstance(inst)
			return nil, ErrClosed
		}
		return inst, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	case <-expired:
		p.busy.Add(1)
		return nil, ErrBusy
	case <-p.closing:
		return nil, ErrClosed
	}
}

// release returns inst to the pool, or discards it (and starts a
// replacement) when it must not be reused.
func (p *Pool) release(inst *instance) {
	if inst.poisoned || p.opts.MaxCalls > 0 && inst.calls >= p.opts.MaxCalls {
		p.discard(inst)
		return
	}
	p.idle <- inst
	// Close sets closed before it drains idle, and this load follows the
	// send: either Close's drain finds inst, or this sees closed.
	if p.closed.Load() {
		p.drainIdle()
	}
}

// discard closes inst and, unless the pool is closing, makes a
// replacement in the background; the replacement takes over inst's place
// in live.
func (p *Pool) discard(inst *instance) {
	p.mu.Lock()
	if p.closed.Load() {
		p.mu.Unlock()
		p.closeInstance(inst)
		return
	}
	p.wg.Add(1) // under mu, with closed unset: Close's Wait comes later
	p.mu.Unlock()
	if inst.poisoned {
		p.replaced.Add(1)
	} else {
		p.recycled.Add(1)
	}
	go p.replace(inst)
}

// replace closes old and creates its replacement, retrying with a bounded
// back-off until it succeeds or the pool closes.
func (p *Pool) replace(old *instance) {
	defer p.wg.Done()
	old.close(context.Background())
	p.mu.Lock()
	delete(p.insts, old)
	p.mu.Unlock()
	backoff := 50 * time.Millisecond
	for {
		inst, err := newInstance(p.bg, p)
		if err == nil {
			p.mu.Lock()
			if !p.closed.Load() {
				p.insts[inst] = struct{}{}
				p.idle <- inst // a place is reserved: never blocks
				p.mu.Unlock()
				return
			}
			p.mu.Unlock()
			inst.close(context.Background())
			p.dropReserved()
			return
		}
		if p.bg.Err() != nil {
			p.dropReserved()
			return
		}
		p.log.Error("plugin instance replacement failed", "err", err, "retry_in", backoff.String())
		t := time.NewTimer(backoff)
		select {
		case <-p.bg.Done():
			t.Stop()
			p.dropReserved()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// closeInstance closes inst and gives up its place.
func (p *Pool) closeInstance(inst *instance) {
	inst.close(context.Background())
	p.mu.Lock()
	delete(p.insts, inst)
	p.mu.Unlock()
	p.dropReserved()
}

func (p *Pool) dropReserved() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.live--
	p.maybeDoneLocked()
}

func (p *Pool) maybeDoneLocked() {
	if p.closed.Load() && p.live == 0 && !p.doneOnce {
		p.doneOnce = true
		close(p.done)
	}
}

// drainIdle closes every free instance.
func (p *Pool) drainIdle() {
	for {
		select {
		case inst := <-p.idle:
			p.closeInstance(inst)
		default:
			return
		}
	}
}

// Close stops the pool. Calls that have not reached an instance yet, and
// every later call, fail with [ErrClosed] at once; calls already running
// finish normally, and their instances are closed as they return. Close
// returns nil once every instance is closed. If ctx ends first, calls
// still running are stopped (they fail with [ErrClosed]) and Close returns
// ctx's cause without waiting for them; their instances are closed as they
// return, and [Pool.Done] tells when that happened. Close is safe to call
// more than once and from several goroutines.
func (p *Pool) Close(ctx context.Context) error {
	p.mu.Lock()
	if !p.closed.Load() {
		p.closed.Store(true)
		close(p.closing)
		p.cancelBg()
		p.maybeDoneLocked()
	}
	p.mu.Unlock()
	for {
		select {
		case inst := <-p.idle:
			p.closeInstance(inst)
		case <-p.done:
			p.wg.Wait()
			return nil
		case <-ctx.Done():
			p.drainIdle()
			p.stopRunning()
			return context.Cause(ctx)
		}
	}
}

// stopRunning interrupts every call running on the pool's instances, and
// makes every instance refuse its next call.
func (p *Pool) stopRunning() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for inst := range p.insts {
		inst.abort(ErrClosed)
	}
}

// Done returns a channel closed once the pool is closed and every one of
// its instances is closed. The [Module] may be closed after that.
func (p *Pool) Done() <-chan struct{} { return p.done }
