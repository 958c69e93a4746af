package credentials

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Defaults for the zero values of [CacheOptions].
const (
	DefaultRefreshBefore = 30 * time.Second
	DefaultMaxTTL        = 5 * time.Minute
	DefaultMaxEntries    = 1024
	DefaultFetchTimeout  = 10 * time.Second
)

// CacheOptions configure [NewCache]. The zero value grants nothing.
type CacheOptions struct {
	// Allowed lists the credential names the plugin may resolve. Empty
	// grants none: a plugin has no credential unless the operator names
	// it. Every name must be valid ([ValidName]).
	Allowed []string
	// RefreshBefore is how long before its expiry a credential is
	// fetched again. Zero means DefaultRefreshBefore.
	RefreshBefore time.Duration
	// MaxTTL bounds how long any credential, expiring or not, is served
	// from the cache before it is fetched again, so that a rotated or
	// revoked token stops being used within MaxTTL. Zero means
	// DefaultMaxTTL.
	MaxTTL time.Duration
	// MaxEntries bounds the cached credentials; the least recently used
	// one is dropped first. Zero means DefaultMaxEntries.
	MaxEntries int
	// FetchTimeout bounds one fetch from the provider, whoever waits for
	// it. Zero means DefaultFetchTimeout.
	FetchTimeout time.Duration
	// Logger receives refresh failures (names, never tokens). Nil
	// discards them.
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now. Tests set it.
	Now func() time.Time
}

// Cache is a [Provider] in front of another, for one plugin. It is safe
// for concurrent use.
//
// Resolve first checks the name against the allowlist (a name not granted
// fails with [ErrNotAllowed] before anything else happens). A cached
// credential is served until RefreshBefore before its expiry, or MaxTTL
// after it was fetched, whichever comes first; then the next Resolve
// fetches it again. Concurrent requests for a name that must be fetched
// share one call of the provider (single flight), which runs under
// FetchTimeout and is not cut short when the caller that started it gives
// up; each caller waits at most until its own context ends.
//
// Failures are not cached: each Resolve after one asks the provider again
// (one call at a time per name). When a refresh fails with ErrUnavailable
// but the cached credential has an expiry that has not passed, that
// credential is served and the failure logged, so a driver restart does
// not interrupt plugins. A credential the provider answers already expired
// is refused with ErrUnavailable; one inside its refresh window is handed
// out but not cached.
type Cache struct {
	p       Provider
	opts    CacheOptions // with defaults
	allowed map[string]bool
	lru     *lru.Cache[string, cacheEntry]

	mu         sync.Mutex
	flights    map[string]*flight
	closed     bool
	lastWarn   time.Time // of the last stale-credential warning
	suppressed int       // warnings not written since

	bg     context.Context // cancelled by Close: stops fetches in flight
	stopBg context.CancelFunc
	wg     sync.WaitGroup
}

var _ Provider = (*Cache)(nil)

type cacheEntry struct {
	cred      Credential
	refreshAt time.Time
}

// flight is one fetch from the provider that callers wait for.
type flight struct {
	done chan struct{} // closed when cred and err are set
	cred Credential
	err  error
}

// NewCache returns a Cache over p. It fails on invalid options: an
// invalid name in Allowed, a negative duration or size.
func NewCache(p Provider, opts CacheOptions) (*Cache, error) {
	if p == nil {
		return nil, errors.New("credentials: cache: a provider is required")
	}
	switch {
	case opts.RefreshBefore < 0, opts.MaxTTL < 0, opts.FetchTimeout < 0:
		return nil, errors.New("credentials: cache: durations must not be negative")
	case opts.MaxEntries < 0:
		return nil, errors.New("credentials: cache: MaxEntries must not be negative")
	}
	if opts.RefreshBefore == 0 {
		opts.RefreshBefore = DefaultRefreshBefore
	}
	if opts.MaxTTL == 0 {
		opts.MaxTTL = DefaultMaxTTL
	}
	if opts.MaxEntries == 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	if opts.FetchTimeout == 0 {
		opts.FetchTimeout = DefaultFetchTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	allowed := make(map[string]bool, len(opts.Allowed))
	var errs []error
	for _, n := range opts.Allowed {
		if !ValidName(n) {
			errs = append(errs, fmt.Errorf("credentials: cache: allowed name %s is not 1 to %d characters of [A-Za-z0-9._-]", quoteName(n), MaxNameBytes))
		}
		allowed[n] = true
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	l, err := lru.New[string, cacheEntry](opts.MaxEntries)
	if err != nil {
		return nil, fmt.Errorf("credentials: cache: %w", err)
	}
	bg, stop := context.WithCancel(context.Background()) // detached: fetches outlive the caller that starts them, not the Cache
	return &Cache{
		p:       p,
		opts:    opts,
		allowed: allowed,
		lru:     l,
		flights: map[string]*flight{},
		bg:      bg,
		stopBg:  stop,
	}, nil
}

// Allowed reports whether the allowlist grants name.
func (c *Cache) Allowed(name string) bool { return c.allowed[name] }

// Resolve returns the named credential: from the cache while it is fresh,
// else from the provider. A name not granted fails with [ErrNotAllowed]
// before anything else; a caller whose context ends while it waits gets an
// error matching [ErrUnavailable].
func (c *Cache) Resolve(ctx context.Context, name string) (Credential, error) {
	if !c.allowed[name] {
		return Credential{}, fmt.Errorf("%w: %s", ErrNotAllowed, quoteName(name))
	}
	if e, ok := c.lru.Get(name); ok && c.opts.Now().Before(e.refreshAt) {
		return e.cred, nil
	}
	f, err := c.join(ctx, name)
	if err != nil {
		return Credential{}, err
	}
	select {
	case <-f.done:
		return f.cred, f.err
	case <-ctx.Done():
		return Credential{}, fmt.Errorf("credentials: resolve %s: %w: %w", quoteName(name), ErrUnavailable, context.Cause(ctx))
	}
}

// join returns the fetch in flight for name, starting one if there is
// none.
func (c *Cache) join(ctx context.Context, name string) (*flight, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, fmt.Errorf("%w: cache closed", ErrUnavailable)
	}
	if f, ok := c.flights[name]; ok {
		return f, nil
	}
	f := &flight{done: make(chan struct{})}
	c.flights[name] = f
	c.wg.Add(1)
	// The fetch keeps the values of the context that started it (trace
	// ids), not its cancellation: others may be waiting for it.
	go c.fetch(context.WithoutCancel(ctx), name, f)
	return f, nil
}

// fetch asks the provider, updates the cache and completes f.
func (c *Cache) fetch(ctx context.Context, name string, f *flight) {
	defer c.wg.Done()
	ctx, cancel := context.WithTimeout(ctx, c.opts.FetchTimeout)
	defer cancel()
	defer context.AfterFunc(c.bg, cancel)()

	cred, err := c.p.Resolve(ctx, name)
	now := c.opts.Now()
	if err == nil && !cred.ExpiresAt.IsZero() && !now.Before(cred.ExpiresAt) {
		err = fmt.Errorf("credentials: resolve %s: the provider answered a credential that expired at %s: %w",
			quoteName(name), cred.ExpiresAt.UTC().Format(time.RFC3339), ErrUnavailable)
		cred = Credential{}
	}
	switch {
	case err == nil:
		if at := c.refreshAt(cred, now); now.Before(at) {
			c.lru.Add(name, cacheEntry{cred: cred, refreshAt: at})
		} else {
			c.lru.Remove(name)
		}
	case errors.Is(err, ErrUnavailable):
		if old, ok := c.lru.Peek(name); ok && !old.cred.ExpiresAt.IsZero() && now.Before(old.cred.ExpiresAt) {
			c.warnStale(name, old.cred.ExpiresAt, now, err)
			cred, err = old.cred, nil
		} else {
			c.lru.Remove(name)
		}
	default:
		// Gone or no longer granted: forget it.
		c.lru.Remove(name)
	}
	f.cred, f.err = cred, err
	c.mu.Lock()
	delete(c.flights, name)
	c.mu.Unlock()
	close(f.done)
}

// staleLogInterval is the least time between two "serving the cached
// credential" warnings of one Cache; those in between are counted.
const staleLogInterval = 10 * time.Second

// warnStale logs that a refresh failed and the cached credential is
// served, at most once per staleLogInterval.
func (c *Cache) warnStale(name string, expiresAt, now time.Time, err error) {
	c.mu.Lock()
	if !c.lastWarn.IsZero() && now.Sub(c.lastWarn) < staleLogInterval {
		c.suppressed++
		c.mu.Unlock()
		return
	}
	c.lastWarn = now
	n := c.suppressed
	c.suppressed = 0
	c.mu.Unlock()
	c.opts.Logger.Warn("credential refresh failed; serving the cached credential until it expires",
		"credential", name, "expires_at", expiresAt, "err", err, "suppressed_warnings", n)
}

// refreshAt returns when a credential fetched at now must be fetched
// again.
func (c *Cache) refreshAt(cred Credential, now time.Time) time.Time {
	at := now.Add(c.opts.MaxTTL)
	if !cred.ExpiresAt.IsZero() {
		if r := cred.ExpiresAt.Add(-c.opts.RefreshBefore); r.Before(at) {
			at = r
		}
	}
	return at
}

// List returns the provider's credentials that the allowlist grants.
func (c *Cache) List(ctx context.Context) ([]Info, error) {
	all, err := c.p.List(ctx)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, in := range all {
		if c.allowed[in.Name] {
			out = append(out, in)
		}
	}
	return out, nil
}

// Invalidate drops the cached credential of that name, if any, so that
// the next Resolve fetches it.
func (c *Cache) Invalidate(name string) { c.lru.Remove(name) }

// Len returns the number of cached credentials.
func (c *Cache) Len() int { return c.lru.Len() }

// Close stops the fetches in flight, waits for them and empties the cache.
// It does not close the provider, which several caches may share. Resolve
// after Close fails with ErrUnavailable.
func (c *Cache) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.stopBg()
	c.wg.Wait()
	c.lru.Purge()
	return nil
}
