package state_test

import (
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/osohost/osohost/host/state"
)

// BenchmarkCommit measures durable commits of one 128-byte kv_put each
// (fsync included: the file is on the test's temporary directory), from
// one committer and from 16 concurrent ones: with group commit the latter
// share fsyncs. commits/s is the throughput, commits/batch the commits per
// storage transaction (one fsync group).
func BenchmarkCommit(b *testing.B) {
	for _, committers := range []int{1, 16} {
		b.Run(fmt.Sprintf("committers=%d", committers), func(b *testing.B) {
			s, err := state.Open(filepath.Join(b.TempDir(), state.FileName), state.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ns := namespace(b, s, "bench", state.Limits{MaxKeys: 100_000_000, MaxBytes: 1 << 40})
			value := make([]byte, 128)
			var seq atomic.Int64
			commit := func() {
				x := ns.Begin()
				if err := x.Put(b.Context(), fmt.Sprintf("k%012d", seq.Add(1)), value); err != nil {
					b.Fatal(err)
				}
				if err := x.Commit(b.Context()); err != nil {
					b.Fatal(err)
				}
			}
			before := s.Stats()
			b.ReportAllocs()
			if committers == 1 {
				for b.Loop() {
					commit()
				}
			} else {
				b.SetParallelism((committers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						commit()
					}
				})
			}
			st := s.Stats()
			n := st.Commits - before.Commits
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "commits/s")
			b.ReportMetric(float64(n)/float64(st.Batches-before.Batches), "commits/batch")
		})
	}
}
