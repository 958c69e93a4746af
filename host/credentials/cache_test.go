package credentials_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/osohost/osohost/host/credentials"
)

// provider wraps a real Static set and counts the calls of Resolve; a
// test may swap the set, make calls fail, or hold them at a gate.
type provider struct {
	mu    sync.Mutex
	set   *credentials.Static
	err   error         // when set, Resolve fails with it
	gate  chan struct{} // when set, Resolve waits for it to close
	calls atomic.Int64
}

func newProvider(t testing.TB, src string) *provider {
	t.Helper()
	p := &provider{}
	p.swap(t, src)
	return p
}

func (p *provider) swap(t testing.TB, src string) {
	t.Helper()
	s, err := credentials.ParseStatic([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.set = s
	p.mu.Unlock()
}

func (p *provider) fail(err error) {
	p.mu.Lock()
	p.err = err
	p.mu.Unlock()
}

func (p *provider) hold() chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gate = make(chan struct{})
	return p.gate
}

func (p *provider) Resolve(ctx context.Context, name string) (credentials.Credential, error) {
	p.calls.Add(1)
	p.mu.Lock()
	set, err, gate := p.set, p.err, p.gate
	p.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return credentials.Credential{}, fmt.Errorf("%w: %w", credentials.ErrUnavailable, ctx.Err())
		}
	}
	if err != nil {
		return credentials.Credential{}, err
	}
	return set.Resolve(ctx, name)
}

func (p *provider) List(ctx context.Context) ([]credentials.Info, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.set.List(ctx)
}

func (p *provider) Close() error { return nil }

// entry returns a credentials file of one credential.
func entry(name, token string, expires time.Time) string {
	ms := int64(0)
	if !expires.IsZero() {
		ms = expires.UnixMilli()
	}
	return fmt.Sprintf(`{%q: {"token": %q, "token_type": "Bearer", "expires_at_ms": %d}}`, name, token, ms)
}

func newCache(t testing.TB, p credentials.Provider, opts credentials.CacheOptions) *credentials.Cache {
	t.Helper()
	c, err := credentials.NewCache(p, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func resolve(t testing.TB, c *credentials.Cache, name string) string {
	t.Helper()
	cred, err := c.Resolve(context.Background(), name)
	if err != nil {
		t.Fatalf("Resolve(%s): %v", name, err)
	}
	return cred.Token.Reveal()
}

func TestCache_Allowlist(t *testing.T) {
	p := newProvider(t, `{"a": {"token": "ta", "scopes": ["x"]}, "b": {"token": "tb"}}`)
	t.Run("empty grants nothing", func(t *testing.T) {
		c := newCache(t, p, credentials.CacheOptions{})
		for _, n := range []string{"a", "b", "", "a b"} {
			if _, err := c.Resolve(t.Context(), n); !errors.Is(err, credentials.ErrNotAllowed) {
				t.Errorf("Resolve(%q): %v, want ErrNotAllowed", n, err)
			}
		}
		if infos, err := c.List(t.Context()); err != nil || len(infos) != 0 {
			t.Errorf("List = %v, %v", infos, err)
		}
		if p.calls.Load() != 0 {
			t.Errorf("the provider was asked %d times for names not granted", p.calls.Load())
		}
	})
	t.Run("granted names only", func(t *testing.T) {
		c := newCache(t, p, credentials.CacheOptions{Allowed: []string{"a", "missing"}})
		if got := resolve(t, c, "a"); got != "ta" {
			t.Errorf("a = %q", got)
		}
		if _, err := c.Resolve(t.Context(), "b"); !errors.Is(err, credentials.ErrNotAllowed) {
			t.Errorf("b: %v, want ErrNotAllowed", err)
		}
		if _, err := c.Resolve(t.Context(), "missing"); !errors.Is(err, credentials.ErrNotFound) {
			t.Errorf("missing: %v, want ErrNotFound", err)
		}
		infos, err := c.List(t.Context())
		if err != nil || len(infos) != 1 || infos[0].Name != "a" || infos[0].Scopes[0] != "x" {
			t.Errorf("List = %+v, %v", infos, err)
		}
		if !c.Allowed("a") || c.Allowed("b") {
			t.Error("Allowed disagrees with the allowlist")
		}
	})
}

func TestNewCache_Errors(t *testing.T) {
	p := newProvider(t, `{}`)
	tests := []struct {
		name string
		p    credentials.Provider
		opts credentials.CacheOptions
		want string
	}{
		{"no provider", nil, credentials.CacheOptions{}, "provider is required"},
		{"invalid name", p, credentials.CacheOptions{Allowed: []string{"ok", "not ok"}}, `"not ok"`},
		{"name too long", p, credentials.CacheOptions{Allowed: []string{strings.Repeat("a", 129)}}, "allowed name"},
		{"negative refresh", p, credentials.CacheOptions{RefreshBefore: -1}, "negative"},
		{"negative ttl", p, credentials.CacheOptions{MaxTTL: -1}, "negative"},
		{"negative entries", p, credentials.CacheOptions{MaxEntries: -1}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := credentials.NewCache(tt.p, tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestCache_Refresh: a credential is served from the cache until
// RefreshBefore before its expiry, then fetched again.
func TestCache_Refresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		p := newProvider(t, entry("a", "old", start.Add(10*time.Minute)))
		c := newCache(t, p, credentials.CacheOptions{Allowed: []string{"a"}, RefreshBefore: 30 * time.Second, MaxTTL: time.Hour})
		if got := resolve(t, c, "a"); got != "old" {
			t.Fatalf("first: %q", got)
		}
		p.swap(t, entry("a", "new", start.Add(time.Hour)))
		time.Sleep(10*time.Minute - 30*time.Second - time.Millisecond)
		if got := resolve(t, c, "a"); got != "old" || p.calls.Load() != 1 {
			t.Fatalf("just before the refresh window: %q after %d calls", got, p.calls.Load())
		}
		time.Sleep(time.Millisecond)
		if got := resolve(t, c, "a"); got != "new" || p.calls.Load() != 2 {
			t.Fatalf("in the refresh window: %q after %d calls", got, p.calls.Load())
		}
		if got := resolve(t, c, "a"); got != "new" || p.calls.Load() != 2 {
			t.Fatalf("after the refresh: %q after %d calls", got, p.calls.Load())
		}
	})
}

// TestCache_MaxTTL: a credential without expiry is fetched again after
// MaxTTL, and so is one that expires later than that.
func TestCache_MaxTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newProvider(t, `{"a": {"token": "t1"}, "b": {"token": "u1", "expires_at_ms": 4102444800000}}`)
		c := newCache(t, p, credentials.CacheOptions{Allowed: []string{"a", "b"}, MaxTTL: 5 * time.Minute})
		resolve(t, c, "a")
		resolve(t, c, "b")
		p.swap(t, `{"a": {"token": "t2"}, "b": {"token": "u2", "expires_at_ms": 4102444800000}}`)
		time.Sleep(5*time.Minute - time.Nanosecond)
		if resolve(t, c, "a") != "t1" || resolve(t, c, "b") != "u1" || p.calls.Load() != 2 {
			t.Fatalf("refetched before MaxTTL (%d calls)", p.calls.Load())
		}
		time.Sleep(time.Nanosecond)
		if resolve(t, c, "a") != "t2" || resolve(t, c, "b") != "u2" || p.calls.Load() != 4 {
			t.Fatalf("not refetched at MaxTTL (%d calls)", p.calls.Load())
		}
	})
}

// TestCache_SingleFlight: a burst of requests for a name that must be
// fetched causes one call of the provider.
func TestCache_SingleFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newProvider(t, entry("a", "ta", time.Time{}))
		c := newCache(t, p, credentials.CacheOptions{Allowed: []string{"a"}})
		gate := p.hold()
		const n = 64
		var wg sync.WaitGroup
		results := make([]string, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				cred, err := c.Resolve(context.Background(), "a")
				results[i], errs[i] = cred.Token.Reveal(), err
			})
		}
		synctest.Wait() // every caller is waiting for the one fetch
		if got := p.calls.Load(); got != 1 {
			t.Fatalf("%d provider calls for a burst of %d", got, n)
		}
		close(gate)
		wg.Wait()
		for i := range n {
			if errs[i] != nil || results[i] != "ta" {
				t.Fatalf("caller %d: %q, %v", i, results[i], errs[i])
			}
		}
		if p.calls.Load() != 1 {
			t.Fatalf("%d provider calls", p.calls.Load())
		}
	})
}

// TestCache_CallerGivesUp: a caller whose context ends stops waiting with
// ErrUnavailable, but the fetch it started completes for the others and
// fills the cache.
func TestCache_CallerGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newProvider(t, entry("a", "ta", time.Time{}))
		c := newCache(t, p, credentials.CacheOptions{Allowed: []string{"a"}, FetchTimeout: time.Hour})
		gate := p.hold()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := c.Resolve(ctx, "a")
		if !errors.Is(err, credentials.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("caller past its deadline: %v", err)
		}
		close(gate)
		synctest.Wait()
		if got := resolve(t, c, "a"); got != "ta" || p.calls.Load() != 1 {
			t.Fatalf("after the fetch completed: %q after %d calls", got, p.calls.Load())
		}
	})
}

// TestCache_FetchTimeout: a provider that hangs is cut off after
// FetchTimeout, and waiting callers get ErrUnavailable.
func TestCache_FetchTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newProvider(t, entry("a", "ta", time.Time{}))
		c := newCache(t, p, credentials.CacheOptions{Allowed: []string{"a"}, FetchTimeout: 3 * time.Second})
		p.hold()
		start := time.Now()
		_, err := c.Resolve(context.Background(), "a")
		if !errors.Is(err, credentials.ErrUnavailable) || time.Since(start) != 3*time.Second {
			t.Fatalf("hung provider: %v after %v", err, time.Since(start))
		}
	})
}

// TestCache_ErrorsNotCached: a failure is not remembered; the next call
// asks the provider again.
func TestCache_ErrorsNotCached(t *testing.T) {
	p := newProvider(t, entry("a", "ta", time.Time{}))
	c := newCache(t, p, credentials.CacheOptions{Allowed: []string{"a"}})
	p.fail(fmt.Errorf("driver down: %w", credentials.ErrUnavailable))
	for range 3 {
		if _, err := c.Resolve(t.Context(), "a"); !errors.Is(err, credentials.ErrUnavailable) {
			t.Fatalf("failing provider: %v", err)
		}
	}
	p.fail(nil)
	if got := resolve(t, c, "a"); got != "ta" || p.calls.Load() != 4 {
		t.Fatalf("after recovery: %q after %d calls", got, p.calls.Load())
	}
}

// TestCache_StaleWhileUnavailable: when a refresh fails because the
// provider is unavailable, the cached credential is served until it
// expires, and the failure is logged without the token.
func TestCache_StaleWhileUnavailable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		start := time.Now()
		p := newProvider(t, entry("a", "tok-stale", start.Add(time.Minute)))
		c := newCache(t, p, credentials.CacheOptions{
			Allowed: []string{"a"}, RefreshBefore: 30 * time.Second,
			Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		})
		resolve(t, c, "a")
		p.fail(fmt.Errorf("driver down: %w", credentials.ErrUnavailable))
		time.Sleep(40 * time.Second) // in the refresh window, not expired
		if got := resolve(t, c, "a"); got != "tok-stale" || p.calls.Load() != 2 {
			t.Fatalf("refresh failed: %q after %d calls", got, p.calls.Load())
		}
		if !strings.Contains(logs.String(), "serving the cached credential") || strings.Contains(logs.String(), "tok-stale") {
			t.Fatalf("log: %s", logs.String())
		}
		time.Sleep(20 * time.Second) // expired
		if _, err := c.Resolve(context.Background(), "a"); !errors.Is(err, credentials.ErrUnavailable) {
			t.Fatalf("expired and unavailable: %v", err)
		}
		// A credential the provider no longer has is not served stale.
		p.fail(nil)
		p.swap(t, entry("a", "tok-2", time.Now().Add(time.Minute)))
		resolve(t, c, "a")
		p.swap(t, `{}`)
		time.Sleep(40 * time.Second)
		if _, err := c.Resolve(context.Background(), "a"); !errors.Is(err, credentials.ErrNotFound) {
			t.Fatalf("removed credential: %v", err)
		}
	})
}

// TestCache_ProviderAnswersExpired: an expired answer is refused; one
// inside its refresh window is handed out but not cached.
func TestCache_ProviderAnswersExpired(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		now := time.Now()
		p := newProvider(t, entry("a", "ta", now.Add(-time.Millisecond)))
		c := newCache(t, p, credentials.CacheOptions{Allowed: []string{"a"}, RefreshBefore: 30 * time.Second})
		if _, err := c.Resolve(context.Background(), "a"); !errors.Is(err, credentials.ErrUnavailable) || !strings.Contains(err.Error(), "expired") {
			t.Fatalf("expired answer: %v", err)
		}
		p.swap(t, entry("a", "tb", now.Add(10*time.Second)))
		for range 2 {
			if got := resolve(t, c, "a"); got != "tb" {
				t.Fatalf("answer in the refresh window: %q", got)
			}
		}
		if p.calls.Load() != 3 || c.Len() != 0 {
			t.Fatalf("answer in the refresh window was cached (%d calls, %d cached)", p.calls.Load(), c.Len())
		}
	})
}

// TestCache_Bounded: at most MaxEntries credentials are kept.
func TestCache_Bounded(t *testing.T) {
	src := "{"
	var names []string
	for i := range 10 {
		if i > 0 {
			src += ","
		}
		n := fmt.Sprintf("n%d", i)
		names = append(names, n)
		src += fmt.Sprintf(`%q: {"token": "t%d"}`, n, i)
	}
	p := newProvider(t, src+"}")
	c := newCache(t, p, credentials.CacheOptions{Allowed: names, MaxEntries: 3})
	for _, n := range names {
		resolve(t, c, n)
	}
	if c.Len() != 3 {
		t.Fatalf("%d entries cached, want 3", c.Len())
	}
	c.Invalidate("n9")
	if c.Len() != 2 {
		t.Fatalf("Invalidate: %d entries", c.Len())
	}
}

// TestCache_Close: Close stops a fetch in flight; later calls fail.
func TestCache_Close(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newProvider(t, entry("a", "ta", time.Time{}))
		c, err := credentials.NewCache(p, credentials.CacheOptions{Allowed: []string{"a"}, FetchTimeout: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		p.hold()
		done := make(chan error, 1)
		go func() {
			_, err := c.Resolve(context.Background(), "a")
			done <- err
		}()
		synctest.Wait()
		c.Close()
		if err := <-done; !errors.Is(err, credentials.ErrUnavailable) {
			t.Fatalf("fetch in flight at Close: %v", err)
		}
		if _, err := c.Resolve(context.Background(), "a"); !errors.Is(err, credentials.ErrUnavailable) {
			t.Fatalf("after Close: %v", err)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestCache_Hammer: concurrent resolves, invalidations and rotations of
// several names never return a wrong token (run with -race).
func TestCache_Hammer(t *testing.T) {
	const names, workers, rounds = 4, 8, 300
	gen := func(v int) string {
		src := "{"
		for i := range names {
			if i > 0 {
				src += ","
			}
			src += fmt.Sprintf(`"n%d": {"token": "n%d-v%d"}`, i, i, v)
		}
		return src + "}"
	}
	p := newProvider(t, gen(0))
	allowed := []string{"n0", "n1", "n2", "n3"}
	c := newCache(t, p, credentials.CacheOptions{Allowed: allowed, MaxEntries: 2})
	var version atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				n := allowed[(w+r)%names]
				switch r % 50 {
				case 7:
					c.Invalidate(n)
				case 13:
					if w == 0 {
						v := version.Add(1)
						p.swap(t, gen(int(v)))
					}
				}
				cred, err := c.Resolve(t.Context(), n)
				if err != nil {
					t.Error(err)
					return
				}
				if !strings.HasPrefix(cred.Token.Reveal(), n+"-v") {
					t.Errorf("%s resolved to %s", n, cred.Token.Reveal())
					return
				}
			}
		})
	}
	wg.Wait()
}
