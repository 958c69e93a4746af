package reload_test

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/host/plugin"
	"github.com/osohost/osohost/host/reload"
)

// BenchmarkReload measures one whole reload, from the request to the
// swap: read, hash, compile, a warmed pool of one instance, the status
// check. module=same reloads the bytes already serving, whose compiled code
// is shared; module=alternate flips between two builds on an engine with a
// compilation cache, so that each reload decodes, instruments and loads
// the other build from the cache (a reload to a module never seen before
// also compiles it: see bench/ op=compile).
func BenchmarkReload(b *testing.B) {
	v1, v2 := guest(b, "v1"), guest(b, "v2")
	for _, mode := range []string{"same", "alternate"} {
		b.Run("module="+mode, func(b *testing.B) {
			ctx := context.Background()
			eng := newEngine(b)
			if mode == "alternate" {
				var err error
				eng, err = plugin.NewEngine(ctx, plugin.EngineOptions{CacheDir: filepath.Join(workDir, "cache")})
				if err != nil {
					b.Fatal(err)
				}
				defer eng.Close(ctx)
			}
			path := filepath.Join(b.TempDir(), "plugin.wasm")
			install(b, path, v1)
			var took atomic.Int64
			m, err := reload.New(ctx, reload.Options{
				Path: path, Engine: eng, Pool: plugin.PoolOptions{Size: 1},
				OnReload: func(ev reload.Event) { took.Add(int64(ev.Duration)) },
			})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close(ctx)
			took.Store(0)
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				if mode == "alternate" {
					b.StopTimer()
					install(b, path, [][]byte{v2, v1}[n%2])
					b.StartTimer()
				}
				if err := m.Reload(ctx, reload.TriggerAdmin); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(n), "ms/reload")
			b.ReportMetric(float64(time.Duration(took.Load()).Milliseconds())/float64(n), "ms-in-load/reload")
		})
	}
}

// BenchmarkCall compares a status call through the Manager (which holds a
// reference to the version for the call) with the same call on a pool.
func BenchmarkCall(b *testing.B) {
	ctx := context.Background()
	m, _ := newManager(b, "v1", reload.Options{Pool: plugin.PoolOptions{Size: 1}})
	mod, err := newEngine(b).Compile(ctx, guest(b, "v1"))
	if err != nil {
		b.Fatal(err)
	}
	defer mod.Close(ctx)
	p, err := plugin.NewPool(ctx, mod, plugin.PoolOptions{Size: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(ctx)
	for _, c := range []struct {
		name string
		c    interface {
			Call(context.Context, string, []byte) (plugin.Result, error)
		}
	}{{"pool", p}, {"manager", m}} {
		b.Run("via="+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.c.Call(ctx, abi.ExportStatus, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCallLatency reports the median and 99th percentile of status
// calls made one after another through a Manager, with no reload and
// while another goroutine reloads as fast as it can (each reload warms a
// new instance and closes the old one). Two instances; the figures are
// reported, not asserted.
func BenchmarkCallLatency(b *testing.B) {
	for _, reloading := range []bool{false, true} {
		name := "reloads=off"
		if reloading {
			name = "reloads=on"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			m, _ := newManager(b, "v1", reload.Options{Pool: plugin.PoolOptions{Size: 2}})
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var reloads atomic.Int64
			if reloading {
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						if err := m.Reload(ctx, reload.TriggerAdmin); err != nil {
							b.Error(err)
							return
						}
						reloads.Add(1)
					}
				})
			}
			lat := make([]time.Duration, 0, 1<<20)
			for b.Loop() {
				start := time.Now()
				if _, err := m.Call(ctx, abi.ExportStatus, nil); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			close(stop)
			wg.Wait()
			slices.Sort(lat)
			pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Nanoseconds()) }
			b.ReportMetric(pct(0.50), "p50-ns")
			b.ReportMetric(pct(0.99), "p99-ns")
			b.ReportMetric(pct(1), "max-ns")
			if reloading {
				b.ReportMetric(float64(reloads.Load())/b.Elapsed().Seconds(), "reloads/s")
			}
		})
	}
}
