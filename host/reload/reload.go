package reload

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/host/plugin"
)

// Triggers name what requested a reload; they appear in [Event] and in
// logs. Any other string is accepted.
const (
	TriggerStart  = "start"  // the first load, in New
	TriggerFile   = "file"   // the watched file changed
	TriggerSignal = "signal" // SIGHUP
	TriggerAdmin  = "admin"  // an administrative request
)

// DefaultDebounce is the quiet time the watcher waits after the last file
// event before it reloads.
const DefaultDebounce = 250 * time.Millisecond

// errUnchanged ends a file-triggered reload whose file holds the module
// already serving.
var errUnchanged = errors.New("reload: module unchanged")

// Options configure a [Manager].
type Options struct {
	// Path is the .wasm file; required.
	Path string
	// Engine compiles every version; required. The Manager does not close
	// it: close it after the Manager.
	Engine *plugin.Engine
	// Pool configures the pool of every version. Its Logger (default: the
	// engine's) gets a "generation" attribute per version.
	Pool plugin.PoolOptions
	// Read reads the module file; default plugin.ReadModule. A wrapper can
	// verify the bytes (integrity, signature) and fail the reload.
	Read func(path string) ([]byte, error)
	// Check accepts or refuses a new version before it serves: it runs on
	// the new, warmed pool, which no request sees yet. Default
	// [CheckStatus]. Its context is New's for the first load, then one
	// that ends when the Manager closes; the pool's call deadline bounds
	// each of its calls.
	Check func(ctx context.Context, p *plugin.Pool) error
	// Watch reloads when the file changes (see [TriggerFile]).
	Watch bool
	// Debounce is the quiet time after the last file event before a
	// reload; default DefaultDebounce.
	Debounce time.Duration
	// DrainTimeout bounds how long a replaced version waits for its calls
	// in flight; calls still running then are stopped and fail with
	// plugin.ErrClosed. Default: the pool's call timeout plus its acquire
	// timeout.
	DrainTimeout time.Duration
	// Logger receives reload events; nil discards them.
	Logger *slog.Logger
	// OnReload, if set, is called after every load attempt, successful or
	// not, on the Manager's reload goroutine (in New for the first load).
	// It must not block and must not wait for a Reload.
	OnReload func(Event)
	// CallContext, if set, derives the context of every [Manager.Call]
	// from the version that serves it, named by its module's SHA-256
	// (hex): a call that started just before a swap runs on, and is
	// attributed to, the old version. It must be cheap.
	CallContext func(ctx context.Context, sha256 string) context.Context
}

// Event reports one load attempt.
type Event struct {
	// OK is true when the new version serves; Err says why not.
	OK  bool
	Err error
	// Trigger is what requested the reload (see the Trigger constants).
	// A reload serving several requests has the trigger of the first,
	// except that any other trigger wins over TriggerFile.
	Trigger string
	// SHA256 is the hex digest of the module read ("" when it could not be
	// read), the new version's when OK.
	SHA256 string
	// Generation is that of the version serving after the attempt.
	Generation uint64
	// LoadedAt is when the attempt ended: the new version's load time when
	// OK.
	LoadedAt time.Time
	// Duration is the time the attempt took: read, compile, warm, check.
	Duration time.Duration
}

// Version describes the version serving.
type Version struct {
	// Generation counts the versions loaded: 1 for the first.
	Generation uint64
	// SHA256 is the hex digest of the module file's bytes.
	SHA256 string
	// Size is the module's size in bytes.
	Size int
	// LoadedAt is when the version started serving.
	LoadedAt time.Time
	// Trigger is what loaded it.
	Trigger string
	// PoolSize and Stateless describe its pool.
	PoolSize  int
	Stateless bool
	// Stats are its pool's counters.
	Stats plugin.Stats
}

// version is one loaded module with its pool. refs counts calls holding
// it; once retired (no longer current) it is closed when refs reaches 0.
type version struct {
	pool     *plugin.Pool
	mod      *plugin.Module
	sha256   string
	size     int
	loadedAt time.Time
	gen      uint64
	trigger  string

	refs      atomic.Int64
	retired   atomic.Bool
	drainOnce sync.Once
	drained   chan struct{} // closed when retired and refs == 0
}

func (v *version) markDrained() { v.drainOnce.Do(func() { close(v.drained) }) }

func (v *version) release() {
	if v.refs.Add(-1) == 0 && v.retired.Load() {
		v.markDrained()
	}
}

// run is one reload, shared by every request it serves.
type run struct {
	trigger string
	done    chan struct{}
	err     error // set before done is closed
}

// Manager serves the current version of a plugin module and replaces it
// on request. It is safe for concurrent use.
type Manager struct {
	opts Options
	log  *slog.Logger

	cur atomic.Pointer[version] // nil once closing

	// ctx is the detached lifetime of reloads and of the watcher; Close
	// cancels it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // reload goroutine, watcher, draining versions

	mu      sync.Mutex
	closing bool
	next    *run // requested, not started
	gen     uint64

	kick      chan struct{} // wakes the reload goroutine; capacity 1
	abort     chan struct{} // closed when Close runs out of time
	abortOnce sync.Once
	closeOnce sync.Once
	closed    chan struct{} // closed when every goroutine ended
}

// New loads the module at opts.Path and returns a Manager serving it. An
// error means the first version could not be loaded or the file cannot
// be watched; ctx bounds that first load.
func New(ctx context.Context, opts Options) (*Manager, error) {
	if opts.Path == "" {
		return nil, errors.New("reload: no module path")
	}
	if opts.Engine == nil {
		return nil, errors.New("reload: no engine")
	}
	if opts.Read == nil {
		opts.Read = plugin.ReadModule
	}
	if opts.Check == nil {
		opts.Check = CheckStatus
	}
	if opts.Debounce <= 0 {
		opts.Debounce = DefaultDebounce
	}
	if opts.DrainTimeout <= 0 {
		call := opts.Pool.CallTimeout
		if call <= 0 {
			call = plugin.DefaultCallTimeout
		}
		opts.DrainTimeout = call + max(opts.Pool.AcquireTimeout, 0)
	}
	if opts.Pool.Logger == nil {
		opts.Pool.Logger = opts.Engine.Logger()
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Manager{
		opts:   opts,
		log:    log.With("plugin", opts.Path),
		kick:   make(chan struct{}, 1),
		abort:  make(chan struct{}),
		closed: make(chan struct{}),
	}
	// Detached: reloads outlive the request that asked for one, until Close.
	m.ctx, m.cancel = context.WithCancel(context.Background())

	// Watch before the first read, so that no change after it is missed.
	var w *fsnotify.Watcher
	if opts.Watch {
		var err error
		if w, err = newWatcher(opts.Path); err != nil {
			m.cancel()
			return nil, err
		}
	}
	if err := m.reload(ctx, TriggerStart); err != nil {
		if w != nil {
			w.Close()
		}
		m.cancel()
		m.wg.Wait() // a version refused by its check is being closed
		return nil, err
	}
	m.wg.Add(1)
	go m.loop()
	if w != nil {
		m.wg.Add(1)
		go m.watch(w)
	}
	return m, nil
}

// Call runs export on the current version (see [plugin.Pool.Call]). The
// version stays open until the call returns, even if a reload replaces it
// meanwhile. After Close it fails with plugin.ErrClosed.
func (m *Manager) Call(ctx context.Context, export string, in []byte) (plugin.Result, error) {
	v := m.acquire()
	if v == nil {
		return plugin.Result{}, plugin.ErrClosed
	}
	if f := m.opts.CallContext; f != nil {
		ctx = f(ctx, v.sha256)
	}
	res, err := v.pool.Call(ctx, export, in)
	v.release()
	return res, err
}

// acquire returns the current version with a reference held, or nil once
// the Manager is closing. A version seen current after the reference was
// taken cannot have been drained: it is retired only after it stopped
// being current, and drained only when refs is 0 after that.
func (m *Manager) acquire() *version {
	for {
		v := m.cur.Load()
		if v == nil {
			return nil
		}
		v.refs.Add(1)
		if m.cur.Load() == v {
			return v
		}
		v.release() // replaced meanwhile: take the new one
	}
}

// Current describes the version serving; the zero Version once closed.
func (m *Manager) Current() Version {
	v := m.cur.Load()
	if v == nil {
		return Version{}
	}
	return Version{
		Generation: v.gen, SHA256: v.sha256, Size: v.size, LoadedAt: v.loadedAt, Trigger: v.trigger,
		PoolSize: v.pool.Size(), Stateless: v.pool.Stateless(), Stats: v.pool.Stats(),
	}
}

// Reload loads the module file again and, if it passes the check,
// replaces the serving version; trigger says what asked (see the Trigger
// constants). It returns when a reload that started after this request
// ended, with that reload's error, or when ctx ends (the reload goes on).
// A failed reload leaves the old version serving. A reload with
// [TriggerFile] does nothing when the file holds the version serving.
func (m *Manager) Reload(ctx context.Context, trigger string) error {
	r := m.request(trigger)
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// request asks the reload goroutine for a reload and returns the run that
// will serve the request: the pending one if there is one.
func (m *Manager) request(trigger string) *run {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closing {
		r := &run{trigger: trigger, done: make(chan struct{}), err: plugin.ErrClosed}
		close(r.done)
		return r
	}
	if m.next == nil {
		m.next = &run{trigger: trigger, done: make(chan struct{})}
		select {
		case m.kick <- struct{}{}:
		default: // already kicked
		}
	} else if m.next.trigger == TriggerFile && trigger != TriggerFile {
		m.next.trigger = trigger // an explicit request reloads even unchanged bytes
	}
	return m.next
}

// loop runs the requested reloads one at a time.
func (m *Manager) loop() {
	defer m.wg.Done()
	for {
		select {
		case <-m.kick:
		case <-m.ctx.Done():
			return
		}
		m.mu.Lock()
		r := m.next
		m.next = nil
		m.mu.Unlock()
		if r == nil {
			continue
		}
		r.err = m.reload(m.ctx, r.trigger)
		close(r.done)
	}
}

// reload loads a new version and swaps it in, reporting the attempt.
func (m *Manager) reload(ctx context.Context, trigger string) error {
	start := time.Now()
	v, sha, err := m.load(ctx, trigger)
	if errors.Is(err, errUnchanged) {
		m.log.Debug("plugin file event: module unchanged", "trigger", trigger, "plugin_sha256", sha)
		return nil
	}
	var old *version
	if err == nil {
		m.mu.Lock()
		if m.closing {
			err = plugin.ErrClosed
		} else {
			m.gen = v.gen
			v.loadedAt = time.Now()
			old = m.cur.Swap(v)
		}
		m.mu.Unlock()
		if err != nil {
			m.dispose(v, false)
		}
	}
	end := time.Now()
	ev := Event{OK: err == nil, Err: err, Trigger: trigger, SHA256: sha, LoadedAt: end, Duration: end.Sub(start)}
	if cur := m.cur.Load(); cur != nil {
		ev.Generation = cur.gen
	}
	switch {
	case err == nil && old == nil:
		ev.LoadedAt = v.loadedAt
		m.log.Info("plugin loaded", "trigger", trigger, "generation", v.gen, "plugin_sha256", v.sha256,
			"abi", v.mod.Info().ABI, "pool_size", v.pool.Size(), "stateless", v.pool.Stateless(), "duration", ev.Duration)
	case err == nil:
		ev.LoadedAt = v.loadedAt
		m.log.Info("plugin reloaded", "trigger", trigger, "generation", v.gen, "plugin_sha256", v.sha256,
			"previous_sha256", old.sha256, "abi", v.mod.Info().ABI, "pool_size", v.pool.Size(), "duration", ev.Duration)
		m.retire(old)
	case trigger != TriggerStart:
		m.log.Warn("plugin reload failed; the previous version keeps serving", "trigger", trigger,
			"generation", ev.Generation, "plugin_sha256", sha, "err", err, "duration", ev.Duration)
	}
	if m.opts.OnReload != nil {
		m.opts.OnReload(ev)
	}
	return err
}

// load reads, compiles, warms and checks a new version. sha is the digest
// of the bytes read, also on failure.
func (m *Manager) load(ctx context.Context, trigger string) (v *version, sha string, err error) {
	wasm, err := m.opts.Read(m.opts.Path)
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(wasm)
	sha = hex.EncodeToString(sum[:])
	if trigger == TriggerFile {
		if cur := m.cur.Load(); cur != nil && cur.sha256 == sha {
			return nil, sha, errUnchanged
		}
	}
	// The generation is only read and written by the one goroutine that
	// reloads (New, then loop), and under mu.
	m.mu.Lock()
	gen := m.gen + 1
	m.mu.Unlock()
	mod, err := m.opts.Engine.Compile(ctx, wasm)
	if err != nil {
		return nil, sha, err
	}
	po := m.opts.Pool
	po.Logger = po.Logger.With("generation", gen)
	pool, err := plugin.NewPool(ctx, mod, po)
	if err != nil {
		mod.Close(context.Background())
		return nil, sha, err
	}
	v = &version{pool: pool, mod: mod, sha256: sha, size: len(wasm), gen: gen, trigger: trigger, drained: make(chan struct{})}
	if err := m.opts.Check(ctx, pool); err != nil {
		m.dispose(v, false)
		return nil, sha, fmt.Errorf("reload: check refused the module: %w", err)
	}
	return v, sha, nil
}

// CheckStatus is the default check: the module's status export must answer
// a well-formed ComponentStatus (whatever its status code: a plugin may
// report a dependency down and still be the right version).
func CheckStatus(ctx context.Context, p *plugin.Pool) error {
	res, err := p.Call(ctx, abi.ExportStatus, nil)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	if res.Kind != abi.OutputStatus {
		return fmt.Errorf("status: output kind %d, want a ComponentStatus", res.Kind)
	}
	if _, err := abi.DecodeStatus(res.Data); err != nil {
		return fmt.Errorf("status: %w", err)
	}
	return nil
}

// retire makes v, no longer current, close once its last call returned.
func (m *Manager) retire(v *version) {
	v.retired.Store(true)
	if v.refs.Load() == 0 {
		v.markDrained()
	}
	m.dispose(v, true)
}

// dispose closes v's pool, then its module, on a goroutine of the
// Manager's. With drain, it first waits for v's calls to return, at most
// DrainTimeout (or until Close runs out of time), and stops the calls
// still running then.
func (m *Manager) dispose(v *version, drain bool) {
	m.wg.Add(1) // the caller is one of m's goroutines, or New: never at zero during Wait
	go func() {
		defer m.wg.Done()
		ctx := context.Background()
		if drain {
			t := time.NewTimer(m.opts.DrainTimeout)
			select {
			case <-v.drained:
			case <-t.C:
				m.log.Warn("calls still running on a replaced plugin version after the drain timeout; stopping them",
					"generation", v.gen, "plugin_sha256", v.sha256, "drain_timeout", m.opts.DrainTimeout)
				ctx = stopped()
			case <-m.abort:
				ctx = stopped()
			}
			t.Stop()
		}
		if err := v.pool.Close(ctx); err == nil {
			m.log.Debug("plugin version closed", "generation", v.gen, "plugin_sha256", v.sha256)
		}
		<-v.pool.Done() // stopped calls return promptly; host calls are bounded by the call deadline
		v.mod.Close(context.Background())
	}()
}

// stopped returns an ended context: Close then stops what still runs.
func stopped() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// Close stops the watcher and the reload goroutine, makes every later
// Call and Reload fail with plugin.ErrClosed, lets calls in flight finish
// and closes every version. If ctx ends first, calls still running are
// stopped and Close returns ctx's cause without waiting for them. It does
// not close the engine. It is safe to call more than once.
func (m *Manager) Close(ctx context.Context) error {
	m.closeOnce.Do(func() {
		m.mu.Lock()
		m.closing = true
		old := m.cur.Swap(nil)
		next := m.next
		m.next = nil
		m.mu.Unlock()
		if next != nil {
			next.err = plugin.ErrClosed
			close(next.done)
		}
		m.cancel()
		if old != nil {
			m.retire(old)
		}
		go func() {
			m.wg.Wait()
			close(m.closed)
		}()
	})
	select {
	case <-m.closed:
		return nil
	case <-ctx.Done():
		m.abortOnce.Do(func() { close(m.abort) })
		return context.Cause(ctx)
	}
}
