package bench

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/host/hostcall"
	"github.com/osohost/osohost/host/plugin"
	"github.com/osohost/osohost/host/schema"
	"github.com/osohost/osohost/host/state"
)

// checkEcho fails the benchmark unless res is the DocumentList docs.
func checkEcho(b *testing.B, res plugin.Result, docs []schema.Document) {
	b.Helper()
	got, err := schema.DecodeCompactDocumentList(res.Data, schema.DefaultLimits)
	if err != nil || res.Kind != abi.OutputDocumentList || len(got) != len(docs) {
		b.Fatalf("echo: kind %d, %d documents, %v", res.Kind, len(got), err)
	}
	for i := range docs {
		if got[i] != docs[i] {
			b.Fatalf("echo: document %d is %+v, want %+v", i, got[i], docs[i])
		}
	}
}

// BenchmarkToISV100 hands a 100-document list (36-byte ids, 128 bytes of
// content, about 40 bytes of metadata) to a Go SDK guest through the pool,
// with deadline enforcement on (DeadlineInterrupt), and reports the time
// per document: guest work plus the boundary.
//
// guest=echo answers the documents back as a DocumentList. guest=queue is
// examples/queue, which keeps its queue in the host's state: to_isv
// queues the documents and answers JSON, then to_oso drains them as a
// DocumentList, so the queue never fills; each call in its own state
// transaction, committed (to a store on tmpfs when there is one); ns/doc
// covers both calls, isv-ns/doc and oso-ns/doc each.
func BenchmarkToISV100(b *testing.B) {
	docs := documents(listDocs)
	in := schema.AppendCompact(nil, docs)
	ctx := context.Background()
	b.Run("guest=echo", func(b *testing.B) {
		p := newPool(b, "echoguest", plugin.DeadlineInterrupt)
		res, err := p.Call(ctx, abi.ExportToISV, in)
		if err != nil {
			b.Fatal(err)
		}
		checkEcho(b, res, docs)
		b.SetBytes(int64(len(in)))
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			if _, err := p.Call(ctx, abi.ExportToISV, in); err != nil {
				b.Fatal(err)
			}
			n++
		}
		perDoc(b, n, listDocs)
	})
	b.Run("guest=queue", func(b *testing.B) {
		p, ns := newStatePool(b, "queue", plugin.DeadlineInterrupt)
		// Each call runs in its own state transaction, committed after it
		// as a request's is; the store is on tmpfs when there is one, so
		// that the commit's sync does not wait for a device (the load runs
		// of cmd/osobench measure the disk).
		call := func(export string, in []byte) (plugin.Result, error) {
			txn := ns.Begin()
			defer txn.Rollback()
			res, err := p.Call(state.WithTxn(ctx, txn), export, in)
			if err != nil {
				return res, err
			}
			return res, txn.Commit(ctx)
		}
		cycle := func() (isv, oso time.Duration, res plugin.Result, err error) {
			t0 := time.Now()
			if _, err = call(abi.ExportToISV, in); err != nil {
				return
			}
			t1 := time.Now()
			res, err = call(abi.ExportToOSO, nil)
			return t1.Sub(t0), time.Since(t1), res, err
		}
		_, _, res, err := cycle()
		if err != nil {
			b.Fatal(err)
		}
		checkEcho(b, res, docs)
		b.SetBytes(int64(len(in)))
		b.ReportAllocs()
		n := 0
		var isv, oso time.Duration
		for b.Loop() {
			di, do, _, err := cycle()
			if err != nil {
				b.Fatal(err)
			}
			isv += di
			oso += do
			n++
		}
		perDoc(b, n, listDocs)
		b.ReportMetric(float64(isv.Nanoseconds())/float64(n*listDocs), "isv-ns/doc")
		b.ReportMetric(float64(oso.Nanoseconds())/float64(n*listDocs), "oso-ns/doc")
	})
}

// newStatePool compiles guest with the state host functions and returns a
// pool of one instance and the namespace of a new state store (bbolt, on
// /dev/shm when there is one, else in the benchmark's temporary
// directory), both closed when it ends.
func newStatePool(b *testing.B, guest string, mode plugin.DeadlineMode) (*plugin.Pool, *state.Namespace) {
	b.Helper()
	ctx := context.Background()
	dir := b.TempDir()
	if d, err := os.MkdirTemp("/dev/shm", "osohost-bench-"); err == nil {
		dir = d
		b.Cleanup(func() { os.RemoveAll(d) })
	}
	st, err := state.Open(filepath.Join(dir, state.FileName), state.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	ns, err := st.Namespace(ctx, "plugin", state.Limits{})
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	eng, err := plugin.NewEngine(ctx, plugin.EngineOptions{CacheDir: cacheDir(), Deadline: mode, Logger: log,
		HostFunctions: hostcall.State(log, hostcall.StateLimits{})})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { eng.Close(ctx) })
	mod, err := eng.Compile(ctx, readGuest(b, guest))
	if err != nil {
		b.Fatal(err)
	}
	p, err := plugin.NewPool(ctx, mod, plugin.PoolOptions{Size: 1, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close(ctx) })
	return p, ns
}

// spinCount is the number of loop iterations of work=spin.
const spinCount = 1_000_000

// BenchmarkDeadline runs the same guest work under each deadline mode:
// mode=none (no enforcement, the reference), mode=interrupt (the default:
// an instrumented tick count at every function entry and loop header, with
// a test of the interrupt flag every few thousand ticks) and mode=context
// (wazero's close-on-context-done). Every mode but none also
// reports x-none, its time per operation divided by the median of mode=none
// runs of the same work in this process.
//
// work=echo100 is BenchmarkToISV100/guest=echo. work=hash100 hashes every
// byte of the same 100 documents in the guest (FNV-1a, one loop iteration
// per byte, about 210 per document). work=spin is a tight counting loop of
// one million iterations (ns/iter).
func BenchmarkDeadline(b *testing.B) {
	docs := documents(listDocs)
	list := schema.AppendCompact(nil, docs)
	spin := schema.AppendCompact(nil, []schema.Document{{ID: "spin", Content: strconv.Itoa(spinCount)}})
	ctx := context.Background()
	for _, w := range []struct {
		name, guest string
		in          []byte
		units       int
		unit        string
	}{
		{"echo100", "echoguest", list, listDocs, "ns/doc"},
		{"hash100", "workguest", list, listDocs, "ns/doc"},
		{"spin", "workguest", spin, spinCount, "ns/iter"},
	} {
		for _, mode := range modes {
			b.Run("work="+w.name+"/mode="+mode.String(), func(b *testing.B) {
				p := newPool(b, w.guest, mode)
				if _, err := p.Call(ctx, abi.ExportToISV, w.in); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				n := 0
				for b.Loop() {
					if _, err := p.Call(ctx, abi.ExportToISV, w.in); err != nil {
						b.Fatal(err)
					}
					n++
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*w.units), w.unit)
				reportMode(b, w.name, mode, n)
			})
		}
	}
}
