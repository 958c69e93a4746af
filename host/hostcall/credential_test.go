//go:build unix

package hostcall_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/host/credentials"
	"github.com/osohost/osohost/host/credentials/credtest"
	"github.com/osohost/osohost/host/hostcall"
	"github.com/osohost/osohost/host/plugin"
	"github.com/osohost/osohost/host/plugin/plugintest"
)

// credPool returns a pool of the credguest module on an engine whose
// credential host function resolves through p.
func credPool(t testing.TB, p credentials.Provider, log *slog.Logger) *plugin.Pool {
	t.Helper()
	ctx := context.Background()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	eng, err := plugin.NewEngine(ctx, plugin.EngineOptions{
		CacheDir:      cacheDir,
		Logger:        log,
		HostFunctions: hostcall.Credentials(p, log),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(ctx) })
	mod, err := eng.Compile(ctx, plugintest.Read(t, "credguest"))
	if err != nil {
		t.Fatal(err)
	}
	pool, err := plugin.NewPool(ctx, mod, plugin.PoolOptions{Size: 1, CallTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close(ctx) })
	return pool
}

// credCache returns a Cache over p granting allowed.
func credCache(t testing.TB, p credentials.Provider, opts credentials.CacheOptions) *credentials.Cache {
	t.Helper()
	c, err := credentials.NewCache(p, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// jsonLog returns a debug-level JSON logger writing to a new buffer.
func jsonLog() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// clock is a settable time source for a Cache.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Set(t time.Time)         { c.ns.Store(t.UnixNano()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
func credentialOp(name string) op        { return op{"sdk:credential", name} }
func resolveVia(t testing.TB, p *plugin.Pool, name string) string {
	return run(t, t.Context(), p, credentialOp(name))[0]
}

// noTokens fails if any of the tokens appears in any of the logs.
func noTokens(t testing.TB, tokens []string, logs ...string) {
	t.Helper()
	for _, l := range logs {
		for _, tok := range tokens {
			if strings.Contains(l, tok) {
				t.Fatalf("token %q appears in a log:\n%s", tok, l)
			}
		}
	}
}

const staticCreds = `{
	"api":     {"token": "tok-static-api", "token_type": "Bearer", "expires_at_ms": 4102444800000, "scopes": ["read"]},
	"plain":   {"token": "tok-static-plain"},
	"hidden":  {"token": "tok-static-hidden"}
}`

var staticTokens = []string{"tok-static-api", "tok-static-plain", "tok-static-hidden"}

func TestCredential_Static(t *testing.T) {
	set, err := credentials.ParseStatic([]byte(staticCreds))
	if err != nil {
		t.Fatal(err)
	}
	log, logs := jsonLog()
	cache := credCache(t, set, credentials.CacheOptions{Allowed: []string{"api", "plain", "missing"}, Logger: log})
	p := credPool(t, cache, log)

	if got := resolveVia(t, p, "api"); got != "tok-static-api Bearer 4102444800000" {
		t.Errorf("api: %q", got)
	}
	if got := resolveVia(t, p, "plain"); got != "tok-static-plain - 0" {
		t.Errorf("plain: %q", got)
	}

	// The raw encoding, in a buffer that fits exactly.
	want := abi.AppendCredential(nil, "tok-static-api", "Bearer", 4102444800000)
	got := run1(t, p, "raw:credential", fmt.Sprintf("s=api out=%d", len(want)))
	if got != fmt.Sprintf("%d %x", len(want), want) {
		t.Errorf("raw: %q, want %d %x", got, len(want), want)
	}
	r, h, _ := strings.Cut(run1(t, p, "raw:credential", fmt.Sprintf("s=plain out=%d", abi.MaxCredentialBytes)), " ")
	b, _ := hex.DecodeString(h)
	tok, typ, exp, err := abi.DecodeCredential(b)
	if r != fmt.Sprint(len(b)) || err != nil || string(tok) != "tok-static-plain" || len(typ) != 0 || exp != 0 {
		t.Errorf("raw plain: %s %q %q %d %v", r, tok, typ, exp, err)
	}

	if got := run1(t, p, "outside", ""); got != fmt.Sprintf("%d %d", abi.StatusNotAllowed, abi.StatusNotAllowed) {
		t.Errorf("outside an export call: %q", got)
	}
	if got := run1(t, p, "sdk:error", "missing"); got != `oso: credential "missing": not found` {
		t.Errorf("error text: %q", got)
	}
	if got := run1(t, p, "sdk:log", "api"); got != "logged" {
		t.Errorf("sdk:log: %q", got)
	}
	if !strings.Contains(logs.String(), "REDACTED") {
		t.Errorf("the guest's log line of a Token is missing:\n%s", logs)
	}
	noTokens(t, staticTokens, logs.String())
}

func TestCredential_Errors(t *testing.T) {
	set, err := credentials.ParseStatic([]byte(staticCreds))
	if err != nil {
		t.Fatal(err)
	}
	log, logs := jsonLog()
	cache := credCache(t, set, credentials.CacheOptions{Allowed: []string{"api", "missing"}, Logger: log})
	p := credPool(t, cache, log)
	long := strings.Repeat("a", abi.MaxCredentialNameBytes+1)
	full := fmt.Sprintf("out=%d", abi.MaxCredentialBytes)
	need := len(abi.AppendCredential(nil, "tok-static-api", "Bearer", 1))

	tests := []struct {
		name, op, arg, want string
	}{
		{"not granted", "raw:credential", "s=hidden " + full, "-4 untouched"},
		{"invalid name", "raw:credential", "s=a/b " + full, "-4 untouched"},
		{"empty name", "raw:credential", "0 0 " + full, "-4 untouched"},
		{"granted but unknown", "raw:credential", "s=missing " + full, "-7 untouched"},
		{"name too long", "raw:credential", "s=" + long + " " + full, "-2 untouched"},
		{"name too long, not even in memory", "raw:credential", badPtr + " 1000 " + full, "-2 untouched"},
		{"name outside memory", "raw:credential", badPtr + " 3 " + full, "-1 untouched"},
		{"negative name length", "raw:credential", "0 -5 " + full, "-1 untouched"},
		{"buffer too small", "raw:credential", fmt.Sprintf("s=api out=%d", need-1), "-8 untouched"},
		{"no buffer", "raw:credential", "s=api 0 0", "-8"},
		{"buffer outside memory", "raw:credential", "s=api " + badPtr + " 100", "-1"},
		{"negative capacity", "raw:credential", "s=api 0 -1", "-1"},
		{"sdk: not granted", "sdk:credential", "hidden", "err -4"},
		{"sdk: unknown", "sdk:credential", "missing", "err -7"},
		{"sdk: name too long", "sdk:credential", long, "err -2"},
	}
	ops := make([]op, len(tests))
	for i, tt := range tests {
		ops[i] = op{tt.op, tt.arg}
	}
	got := run(t, t.Context(), p, ops...)
	for i, tt := range tests {
		if got[i] != tt.want {
			t.Errorf("%s: %s(%.60s) = %q, want %q", tt.name, tt.op, tt.arg, got[i], tt.want)
		}
	}
	// The instance survived every refusal.
	if _, err := p.Call(t.Context(), abi.ExportStatus, nil); err != nil || p.Stats().Traps != 0 {
		t.Errorf("after the refusals: %v, stats %+v", err, p.Stats())
	}
	l := logs.String()
	for _, want := range []string{`"credential":"hidden"`, "not granted", "not found", `"level":"WARN"`} {
		if !strings.Contains(l, want) {
			t.Errorf("log lacks %s:\n%s", want, l)
		}
	}
	noTokens(t, staticTokens, l)
}

// TestCredential_NoProvider: without credentials configured, every name is
// refused and the module still loads.
func TestCredential_NoProvider(t *testing.T) {
	p := credPool(t, nil, nil)
	if got := resolveVia(t, p, "api"); got != "err -4" {
		t.Fatalf("no provider: %q", got)
	}
}

// driverSetup is a credentials file and socket for the reference driver.
type driverSetup struct {
	file, socket string
}

func newDriverSetup(t *testing.T, creds map[string]credtest.Entry) driverSetup {
	t.Helper()
	s := driverSetup{file: filepath.Join(t.TempDir(), "creds.json"), socket: credtest.SocketPath(t)}
	credtest.WriteFile(t, s.file, creds)
	return s
}

func (s driverSetup) start(t *testing.T, args ...string) *credtest.Driver {
	t.Helper()
	return credtest.Start(t, s.socket, append([]string{"--from", s.file, "--log-level", "debug"}, args...)...)
}

func dialDriver(t *testing.T, opts credentials.DriverOptions) *credentials.Driver {
	t.Helper()
	d, err := credentials.Dial(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// TestCredential_Driver runs the guest against the reference driver,
// osohost-credentials, as a separate process.
func TestCredential_Driver(t *testing.T) {
	t.Run("started after the host", func(t *testing.T) {
		creds := map[string]credtest.Entry{"api": {Token: "tok-late-1", TokenType: "Bearer"}}
		s := newDriverSetup(t, creds)
		log, logs := jsonLog()
		type dialed struct {
			d   *credentials.Driver
			err error
		}
		ch := make(chan dialed, 1)
		go func() {
			d, err := credentials.Dial(t.Context(), credentials.DriverOptions{Socket: s.socket, ConnectTimeout: credtest.ReadyTimeout, FailFast: true, Logger: log})
			ch <- dialed{d, err}
		}()
		drv := s.start(t)
		r := <-ch
		if r.err != nil {
			t.Fatal(r.err)
		}
		defer r.d.Close()
		p := credPool(t, credCache(t, r.d, credentials.CacheOptions{Allowed: []string{"api"}, Logger: log}), log)
		if got := resolveVia(t, p, "api"); got != "tok-late-1 Bearer 0" {
			t.Fatalf("api: %q", got)
		}
		noTokens(t, []string{"tok-late-1"}, logs.String(), drv.Stderr())
	})

	t.Run("killed and restarted", func(t *testing.T) {
		creds := map[string]credtest.Entry{"api": {Token: "tok-kill-1"}, "b": {Token: "tok-kill-b"}}
		s := newDriverSetup(t, creds)
		drv := s.start(t)
		log, logs := jsonLog()
		d := dialDriver(t, credentials.DriverOptions{Socket: s.socket, CallTimeout: 2 * time.Second, Logger: log})
		clk := newClock()
		cache := credCache(t, d, credentials.CacheOptions{Allowed: []string{"api", "b"}, MaxTTL: time.Minute, Now: clk.Now, Logger: log})
		p := credPool(t, cache, log)
		if got := resolveVia(t, p, "api"); got != "tok-kill-1 - 0" {
			t.Fatalf("api: %q", got)
		}
		drv.Kill(t)
		// Still cached: the plugin is not disturbed.
		if got := resolveVia(t, p, "api"); got != "tok-kill-1 - 0" {
			t.Fatalf("api, cached, driver killed: %q", got)
		}
		// Not cached, or due for a refresh: unavailable, not a hang.
		if got := resolveVia(t, p, "b"); got != "err -6" {
			t.Fatalf("b, driver killed: %q", got)
		}
		clk.Advance(2 * time.Minute)
		if got := resolveVia(t, p, "api"); got != "err -6" {
			t.Fatalf("api, refresh due, driver killed: %q", got)
		}
		rotated := map[string]credtest.Entry{"api": {Token: "tok-kill-2"}}
		credtest.WriteFile(t, s.file, rotated)
		drv2 := s.start(t) // same socket; the stale file is replaced
		credtest.Await(t, "the restarted driver serves the plugin", func() bool {
			return resolveVia(t, p, "api") == "tok-kill-2 - 0"
		})
		drv2.Stop(t)
		if !strings.Contains(logs.String(), "credential unavailable") {
			t.Errorf("unavailability not logged:\n%s", logs)
		}
		noTokens(t, []string{"tok-kill-1", "tok-kill-b", "tok-kill-2"}, logs.String(), drv.Stderr(), drv2.Stderr())
	})

	t.Run("expiry and rotation", func(t *testing.T) {
		now := time.Now()
		expA := now.Add(time.Hour)
		creds := map[string]credtest.Entry{"api": {Token: "tok-exp-A", TokenType: "Bearer", ExpiresAtMS: expA.UnixMilli()}}
		s := newDriverSetup(t, creds)
		drv := s.start(t)
		log, logs := jsonLog()
		d := dialDriver(t, credentials.DriverOptions{Socket: s.socket, Logger: log})
		clk := newClock()
		clk.Set(now)
		cache := credCache(t, d, credentials.CacheOptions{Allowed: []string{"api"}, RefreshBefore: 30 * time.Second, MaxTTL: 24 * time.Hour, Now: clk.Now, Logger: log})
		p := credPool(t, cache, log)
		wantA := fmt.Sprintf("tok-exp-A Bearer %d", expA.UnixMilli())
		if got := resolveVia(t, p, "api"); got != wantA {
			t.Fatalf("first: %q", got)
		}
		expB := now.Add(2 * time.Hour)
		rotated := map[string]credtest.Entry{"api": {Token: "tok-exp-B", TokenType: "Bearer", ExpiresAtMS: expB.UnixMilli()}}
		credtest.WriteFile(t, s.file, rotated)
		drv.Reload(t)
		clk.Set(expA.Add(-31 * time.Second))
		if got := resolveVia(t, p, "api"); got != wantA {
			t.Fatalf("before the refresh window: %q", got)
		}
		clk.Set(expA.Add(-30 * time.Second))
		wantB := fmt.Sprintf("tok-exp-B Bearer %d", expB.UnixMilli())
		if got := resolveVia(t, p, "api"); got != wantB {
			t.Fatalf("in the refresh window: %q", got)
		}
		noTokens(t, []string{"tok-exp-A", "tok-exp-B"}, logs.String(), drv.Stderr())
	})

	t.Run("short real expiry", func(t *testing.T) {
		// The real clock: a token that enters its refresh window a
		// moment from now is replaced by the rotated one, without any
		// signal but time passing.
		exp := time.Now().Add(1500 * time.Millisecond)
		creds := map[string]credtest.Entry{"api": {Token: "tok-short-A", ExpiresAtMS: exp.UnixMilli()}}
		s := newDriverSetup(t, creds)
		drv := s.start(t)
		d := dialDriver(t, credentials.DriverOptions{Socket: s.socket})
		cache := credCache(t, d, credentials.CacheOptions{Allowed: []string{"api"}, RefreshBefore: time.Second})
		p := credPool(t, cache, nil)
		first := resolveVia(t, p, "api")
		if !strings.HasPrefix(first, "tok-short-A ") && first != "err -6" { // -6: the machine was slower than the window
			t.Fatalf("first: %q", first)
		}
		credtest.WriteFile(t, s.file, map[string]credtest.Entry{"api": {Token: "tok-short-B"}})
		drv.Reload(t)
		credtest.Await(t, "the rotated token after the old one's refresh point", func() bool {
			return resolveVia(t, p, "api") == "tok-short-B - 0"
		})
	})

	t.Run("slow driver", func(t *testing.T) {
		creds := map[string]credtest.Entry{"api": {Token: "tok-slow"}}
		s := newDriverSetup(t, creds)
		drv := s.start(t, "--delay", "1h")
		log, logs := jsonLog()
		d := dialDriver(t, credentials.DriverOptions{Socket: s.socket, CallTimeout: 300 * time.Millisecond, Logger: log})
		p := credPool(t, credCache(t, d, credentials.CacheOptions{Allowed: []string{"api"}, Logger: log}), log)
		if got := resolveVia(t, p, "api"); got != "err -6" {
			t.Fatalf("slow driver: %q", got)
		}
		if !strings.Contains(logs.String(), "DeadlineExceeded") {
			t.Errorf("the deadline is not logged:\n%s", logs)
		}
		noTokens(t, []string{"tok-slow"}, logs.String(), drv.Stderr())
	})
}

// BenchmarkCredentialCached: a Go guest calls oso.Credential 1000 times
// per export call for a cached credential: one host call, an allowlist
// check, an LRU hit and the encoding each, and the SDK's decoding. It
// reports wall time (ns/credential) and CPU time of the whole process
// (cpu-ns/credential).
func BenchmarkCredentialCached(b *testing.B) {
	const perCall = 1000
	set, err := credentials.ParseStatic([]byte(staticCreds))
	if err != nil {
		b.Fatal(err)
	}
	cache := credCache(b, set, credentials.CacheOptions{Allowed: []string{"api"}})
	p := credPool(b, cache, nil)
	arg := fmt.Sprintf("api %d", perCall)
	run(b, b.Context(), p, op{"bench:credential", arg})
	b.ReportAllocs()
	cpu0 := cpuTime()
	n := 0
	for b.Loop() {
		if got := run(b, b.Context(), p, op{"bench:credential", arg}); got[0] != "ok" {
			b.Fatal(got[0])
		}
		n += perCall
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/credential")
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(n), "cpu-ns/credential")
}
