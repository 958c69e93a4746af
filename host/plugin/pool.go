package plugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
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
	// ErrBusy: no instance became free within the acquire timeout.
	ErrBusy = errors.New("plugin: no free instance")
	// ErrPoolClosed: the pool is closed.
	ErrPoolClosed = errors.New("plugin: pool closed")
	// ErrUnknownExport: the export name is not one of to_oso, to_isv, status.
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

// PoolOptions configure a [Pool]. Zero values mean the documented default.
type PoolOptions struct {
	// Size is the number of instances. 0: 1, or GOMAXPROCS when the guest
	// declares itself stateless (its memory then holds nothing that must be
	// seen by the next call).
	Size int
	// CallTimeout bounds each export call (and instance initialisation);
	// default 60s. A shorter deadline on the caller's context wins.
	CallTimeout time.Duration
	// AcquireTimeout bounds the wait for a free instance; default 10s.
	AcquireTimeout time.Duration
	// MaxInputBytes bounds the input of one call; default 16 MiB.
	MaxInputBytes int
	// MaxOutputBytes bounds the output of one call; default
	// abi.DefaultMaxOutputBytes.
	MaxOutputBytes int
	// MaxCallsPerInstance recycles an instance after that many calls;
	// 0 never recycles.
	MaxCallsPerInstance int
	// Logger receives guest log lines and pool events; nil uses the
	// engine's.
	Logger *slog.Logger
}

// Pool is a bounded set of pre-warmed instances of one [Module]. It is safe
// for concurrent use. An instance serves one call at a time; an instance
// that trapped, timed out or was interrupted is discarded and replaced in
// the background.
type Pool struct {
	mod  *Module
	opts PoolOptions
	log  *slog.Logger
	size int
	// stateless is what the guest's stateless marker answered.
	stateless bool

	idle chan *instance

	mu     sync.Mutex
	closed bool
	live   int           // instances created and not yet closed
	done   chan struct{} // closed when the pool is closed and live == 0

	bg       context.Context // detached lifetime of background replacements
	cancelBg context.CancelFunc
	wg       sync.WaitGroup

	droppedLogs atomic.Int64
	calls       atomic.Int64
	traps       atomic.Int64
	timeouts    atomic.Int64
	replaced    atomic.Int64
}

// NewPool creates the pool and all its instances before returning, so the
// first request does not pay for instantiation.
func NewPool(ctx context.Context, m *Module, opts PoolOptions) (*Pool, error) {
	if opts.Size < 0 {
		return nil, fmt.Errorf("plugin: pool size %d", opts.Size)
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 60 * time.Second
	}
	if opts.AcquireTimeout <= 0 {
		opts.AcquireTimeout = 10 * time.Second
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
	p := &Pool{mod: m, opts: opts, log: log, done: make(chan struct{})}
	p.bg, p.cancelBg = context.WithCancel(context.Background())

	first, err := newInstance(ctx, p)
	if err != nil {
		p.cancelBg()
		return nil, err
	}
	stateless := first.stateless(ctx)
	p.stateless = stateless
	p.size = opts.Size
	if p.size == 0 {
		p.size = 1
		if stateless {
			p.size = runtime.GOMAXPROCS(0)
		}
	}
	p.idle = make(chan *instance, p.size)
	p.live = 1
	p.idle <- first
	for p.live < p.size {
		inst, err := newInstance(ctx, p)
		if err != nil {
			p.Close(ctx)
			return nil, err
		}
		p.live++
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

// Stats are counters since the pool was created.
type Stats struct {
	Calls, Traps, Timeouts, Replaced, DroppedLogs int64
	Idle                                          int
}

// Stats returns the pool's counters.
func (p *Pool) Stats() Stats {
	return Stats{
		Calls: p.calls.Load(), Traps: p.traps.Load(), Timeouts: p.timeouts.Load(),
		Replaced: p.replaced.Load(), DroppedLogs: p.droppedLogs.Load(), Idle: len(p.idle),
	}
}

// Call runs export ([abi.ExportToOSO], [abi.ExportToISV] or
// [abi.ExportStatus]) with input in on a free instance. It waits for an
// instance until ctx ends or the acquire timeout passes ([ErrBusy]), then
// runs the guest under the call deadline. Errors: [ErrCallTimeout],
// [*TrapError], [*GuestError], [*OutputError], [*LimitError], [ErrBusy],
// [ErrPoolClosed], [ErrUnknownExport], or the context's cause.
func (p *Pool) Call(ctx context.Context, export string, in []byte) (Result, error) {
	inst, err := p.acquire(ctx)
	if err != nil {
		return Result{}, err
	}
	var fn api.Function
	switch export {
	case abi.ExportToOSO:
		fn = inst.toOSO
	case abi.ExportToISV:
		fn = inst.toISV
	case abi.ExportStatus:
		fn = inst.status
	default:
		p.release(inst)
		return Result{}, ErrUnknownExport
	}
	p.calls.Add(1)
	res, err := inst.call(ctx, fn, in)
	if err != nil {
		var trap *TrapError
		switch {
		case errors.Is(err, ErrCallTimeout):
			p.timeouts.Add(1)
		case errors.As(err, &trap):
			p.traps.Add(1)
		}
	}
	p.release(inst)
	return res, err
}

func (p *Pool) acquire(ctx context.Context) (*instance, error) {
	select {
	case inst := <-p.idle:
		return inst, nil
	default:
	}
	if p.isClosed() {
		return nil, ErrPoolClosed
	}
	t := time.NewTimer(p.opts.AcquireTimeout)
	defer t.Stop()
	select {
	case inst, ok := <-p.idle:
		if !ok {
			return nil, ErrPoolClosed
		}
		return inst, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	case <-t.C:
		return nil, ErrBusy
	case <-p.done:
		return nil, ErrPoolClosed
	}
}

func (p *Pool) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// release returns inst to the pool, or discards it (and starts a
// replacement) when it must not be reused.
func (p *Pool) release(inst *instance) {
	recycle := p.opts.MaxCallsPerInstance > 0 && inst.calls >= p.opts.MaxCallsPerInstance
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if !inst.poisoned && !recycle && !closed {
		p.idle <- inst
		return
	}
	inst.close(p.bg)
	p.mu.Lock()
	p.live--
	if p.closed {
		if p.live == 0 {
			close(p.done)
		}
		p.mu.Unlock()
		return
	}
	p.live++ // reserved for the replacement
	p.wg.Add(1)
	p.mu.Unlock()
	if inst.poisoned {
		p.replaced.Add(1)
	}
	go p.replace()
}

// replace creates an instance in the background, retrying with a bounded
// back-off until it succeeds or the pool closes.
func (p *Pool) replace() {
	defer p.wg.Done()
	backoff := 50 * time.Millisecond
	for {
		inst, err := newInstance(p.bg, p)
		if err == nil {
			p.mu.Lock()
			if !p.closed {
				p.idle <- inst // capacity is reserved: never blocks
				p.mu.Unlock()
				return
			}
			p.mu.Unlock()
			inst.close(p.bg)
			p.dropReserved()
			return
		}
		p.log.Error("plugin instance replacement failed", "err", err, "retry_in", backoff.String())
		select {
		case <-p.bg.Done():
			p.dropReserved()
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (p *Pool) dropReserved() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.live--
	if p.closed && p.live == 0 {
		close(p.done)
	}
}

// Close stops accepting calls, lets calls in flight finish (until ctx ends),
// and closes every instance. It is safe to call more than once.
func (p *Pool) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	p.cancelBg()
	for {
		p.mu.Lock()
		n := p.live
		p.mu.Unlock()
		if n == 0 {
			break
		}
		select {
		case inst := <-p.idle:
			inst.close(ctx)
			p.dropReserved()
		case <-p.done:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	p.wg.Wait()
	return nil
}
