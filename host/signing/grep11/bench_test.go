package grep11_test

import (
	"testing"
	"time"

	"github.com/osohost/osohost/host/signing"
)

// BenchmarkSigner_Batch100 signs a batch of 100 Ed25519 messages through
// the dev server with 2ms of latency per call, both as the framework did
// (one Sign after another) and with SignMany (concurrent calls over the one
// connection), and reports both times per batch and their ratio.
func BenchmarkSigner_Batch100(b *testing.B) {
	e := newEnv(b)
	dev := e.startDev(b, "--latency", "2ms")
	s := newSigner(b, e.options(dev.addr))
	k, err := s.GenerateKey(b.Context(), signing.Ed25519)
	if err != nil {
		b.Fatal(err)
	}
	reqs := make([]signing.SignRequest, 100)
	for i := range reqs {
		reqs[i] = signing.SignRequest{KeyID: k.ID, Data: testData(signing.Ed25519, i)}
	}
	ctx := b.Context()
	var seq, par time.Duration
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		for _, r := range reqs {
			if _, err := s.Sign(ctx, r.KeyID, r.Data); err != nil {
				b.Fatal(err)
			}
		}
		seq += time.Since(start)

		start = time.Now()
		res, err := s.SignMany(ctx, reqs)
		if err != nil {
			b.Fatal(err)
		}
		par += time.Since(start)
		for _, r := range res {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		}
	}
	n := float64(b.N)
	b.ReportMetric(seq.Seconds()*1e3/n, "ms/sequential-batch")
	b.ReportMetric(par.Seconds()*1e3/n, "ms/parallel-batch")
	b.ReportMetric(float64(seq)/float64(par), "speedup")
	b.ReportMetric(0, "ns/op")
}
