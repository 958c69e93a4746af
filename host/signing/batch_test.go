package signing_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/osohost/osohost/host/signing"
	"github.com/osohost/osohost/host/signing/audit"
	"github.com/osohost/osohost/host/state"
)

// waitFor polls cond until it holds; the bound only stops a hang.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

func manyReqs(id string, n, tag int) []signing.SignRequest {
	reqs := make([]signing.SignRequest, n)
	for i := range reqs {
		reqs[i] = signing.SignRequest{KeyID: id, Data: fmt.Appendf(nil, "doc %d/%d", tag, i)}
	}
	return reqs
}

// TestAuditBatch_Sign: with a batch, Sign and SignMany return signatures
// without touching the log; Flush makes every record durable, in order.
func TestAuditBatch_Sign(t *testing.T) {
	f := newFixture(t)
	k, _ := f.s.GenerateKey(t.Context(), signing.Ed25519)
	ctx, b := signing.WithAuditBatch(signing.WithCallerInfo(t.Context(), signing.CallerInfo{TraceID: "batch-1"}))
	before, head := f.log.Stats(), f.log.Head()

	sig, err := f.s.Sign(ctx, k.ID, []byte("one"))
	if err != nil || len(sig) != 64 {
		t.Fatalf("Sign = %x, %v", sig, err)
	}
	reqs := manyReqs(k.ID, 10, 0)
	reqs[4].KeyID = "0b9f7c5e-1d2a-4e3b-8c4d-5e6f7a8b9c0d" // unknown: fails, not recorded
	res, err := f.s.SignMany(ctx, reqs)
	if err != nil || len(res) != 10 || res[4].Err == nil || res[3].Err != nil {
		t.Fatalf("SignMany = %v, %v", res, err)
	}
	if st := f.log.Stats(); st.Records != before.Records || st.Syncs != before.Syncs || st.Pending != 0 || f.log.Head() != head {
		t.Fatalf("the log moved before Flush: %+v", st)
	}
	if b.Len() != 10 {
		t.Fatalf("batch holds %d records, want 10", b.Len())
	}

	if err := b.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	st := f.log.Stats()
	if st.Records-before.Records != 10 || st.Syncs-before.Syncs != 1 || b.Len() != 0 {
		t.Fatalf("after Flush: %+v, batch %d; want 10 records in one fsync and an empty batch", st, b.Len())
	}
	if err := b.Flush(t.Context()); err != nil || f.log.Stats().Syncs != st.Syncs {
		t.Fatalf("Flush of an empty batch = %v, %d fsyncs", err, f.log.Stats().Syncs-st.Syncs)
	}
	recs := f.records(t)
	want := []string{hexSHA([]byte("one"))}
	for i, r := range reqs {
		if i != 4 {
			want = append(want, hexSHA(r.Data))
		}
	}
	if len(recs) != len(want) {
		t.Fatalf("%d records, want %d", len(recs), len(want))
	}
	for i, w := range want {
		if recs[i]["data_sha256"] != w || recs[i]["trace_id"] != "batch-1" || recs[i]["key_type"] != "ED25519" {
			t.Errorf("record %d = %v, want data %s", i+1, recs[i], w)
		}
	}

	// A record the log would refuse withholds the signature now, not at Flush.
	long := signing.WithCallerInfo(ctx, signing.CallerInfo{TraceID: string(make([]byte, audit.MaxFieldBytes+1))})
	if sig, err := f.s.Sign(long, k.ID, []byte("m")); !errors.Is(err, signing.ErrAudit) || !errors.Is(err, audit.ErrBadRecord) || sig != nil {
		t.Fatalf("Sign with an oversized trace id = %x, %v", sig, err)
	}
	if b.Len() != 0 {
		t.Fatalf("a refused record was kept")
	}
}

// TestAuditBatch_GroupCommit: the flushes of concurrent requests share
// group commits.
func TestAuditBatch_GroupCommit(t *testing.T) {
	const requests, perRequest = 32, 4
	f := newFixture(t)
	k, _ := f.s.GenerateKey(t.Context(), signing.Ed25519)
	before := f.log.Stats()
	start := make(chan struct{})
	var signed, wg sync.WaitGroup
	signed.Add(requests)
	errs := make(chan error, requests)
	for r := range requests {
		wg.Go(func() {
			ctx, b := signing.WithAuditBatch(t.Context())
			_, err := f.s.SignMany(ctx, manyReqs(k.ID, perRequest, r))
			signed.Done()
			if err != nil {
				errs <- err
				return
			}
			<-start
			errs <- b.Flush(ctx)
		})
	}
	signed.Wait()
	if st := f.log.Stats(); st.Records != before.Records || st.Syncs != before.Syncs {
		t.Fatalf("the log moved before the flushes: %+v", st)
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	st := f.log.Stats()
	records, syncs := st.Records-before.Records, st.Syncs-before.Syncs
	t.Logf("%d requests, %d records, %d fsyncs", requests, records, syncs)
	if records != requests*perRequest || syncs >= requests {
		t.Fatalf("%d records in %d fsyncs; want %d records in fewer than %d fsyncs", records, syncs, requests*perRequest, requests)
	}
}

// TestAuditBatch_Concurrent: signatures added while the batch is being
// flushed are neither lost nor recorded twice.
func TestAuditBatch_Concurrent(t *testing.T) {
	const workers, each = 8, 40
	f := newFixture(t)
	k, _ := f.s.GenerateKey(t.Context(), signing.Ed25519)
	ctx, b := signing.WithAuditBatch(t.Context())
	stop := make(chan struct{})
	var flusher, wg sync.WaitGroup
	flusher.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := b.Flush(t.Context()); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if i%2 == 0 {
					if _, err := f.s.Sign(ctx, k.ID, fmt.Appendf(nil, "%d/%d", w, i)); err != nil {
						t.Error(err)
					}
				} else if _, err := f.s.SignMany(ctx, manyReqs(k.ID, 2, w*1000+i)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	flusher.Wait()
	if err := b.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := workers * (each/2 + each/2*2)
	if recs := f.records(t); len(recs) != want {
		t.Fatalf("%d records, want %d", len(recs), want)
	}
}

// TestAuditBatch_Full: past MaxAuditBatchRecords the signer appends at
// once, as without a batch.
func TestAuditBatch_Full(t *testing.T) {
	if testing.Short() {
		t.Skip("signs MaxAuditBatchRecords times")
	}
	f := newFixture(t)
	k, _ := f.s.GenerateKey(t.Context(), signing.Ed25519)
	ctx, b := signing.WithAuditBatch(t.Context())
	if _, err := f.s.SignMany(ctx, manyReqs(k.ID, 10, 0)); err != nil {
		t.Fatal(err)
	}
	before := f.log.Stats()
	if _, err := f.s.SignMany(ctx, manyReqs(k.ID, signing.MaxAuditBatchRecords, 1)); err != nil {
		t.Fatal(err)
	}
	if got := f.log.Stats().Records - before.Records; got != signing.MaxAuditBatchRecords || b.Len() != 10 {
		t.Fatalf("%d records appended at once, batch holds %d; want %d and 10", got, b.Len(), signing.MaxAuditBatchRecords)
	}
	if err := b.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(f.records(t)); n != signing.MaxAuditBatchRecords+10 {
		t.Fatalf("%d records", n)
	}
}

// TestAuditBatch_Enqueue: the records of a failed call land without
// anyone waiting; afterwards the batch no longer defers records.
func TestAuditBatch_Enqueue(t *testing.T) {
	f := newFixture(t)
	k, _ := f.s.GenerateKey(t.Context(), signing.Ed25519)
	ctx, b := signing.WithAuditBatch(t.Context())
	if _, err := f.s.SignMany(ctx, manyReqs(k.ID, 5, 0)); err != nil {
		t.Fatal(err)
	}
	before := f.log.Stats()
	if err := b.Enqueue(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return f.log.Stats().Records == before.Records+5 })
	// A signature made after Enqueue (a late host call) is appended at once.
	if _, err := f.s.Sign(ctx, k.ID, []byte("late")); err != nil {
		t.Fatal(err)
	}
	if got := f.log.Stats().Records - before.Records; got != 6 || b.Len() != 0 {
		t.Fatalf("%d records after a late Sign, batch %d; want 6 and 0", got, b.Len())
	}
	if err := b.Enqueue(); err != nil {
		t.Fatalf("second Enqueue = %v", err)
	}
	// A closed log: the records are dropped and the error says so.
	ctx2, b2 := signing.WithAuditBatch(t.Context())
	if _, err := f.s.Sign(ctx2, k.ID, []byte("m")); err != nil {
		t.Fatal(err)
	}
	f.log.Close()
	if err := b2.Enqueue(); !errors.Is(err, signing.ErrAudit) || !errors.Is(err, audit.ErrClosed) {
		t.Fatalf("Enqueue on a closed log = %v", err)
	}
}

// stateFixture is a real state store with one namespace.
func stateFixture(t *testing.T) *state.Namespace {
	t.Helper()
	st, err := state.Open(filepath.Join(t.TempDir(), "state.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ns, err := st.Namespace(t.Context(), "test", state.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

func stateHas(t *testing.T, ns *state.Namespace, key string) bool {
	t.Helper()
	txn := ns.Begin()
	defer txn.Rollback()
	_, ok, err := txn.Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// call runs what a request's guest call does: a state write and n
// signatures, under the request's transaction.
func call(t *testing.T, f *fixture, ns *state.Namespace, key string, n int) signing.Txn {
	t.Helper()
	ctx := t.Context()
	var st signing.Txn
	if ns != nil {
		s := ns.Begin()
		if err := s.Put(ctx, key, []byte("signed")); err != nil {
			t.Fatal(err)
		}
		st = s
	}
	ctx, b := signing.WithAuditBatch(ctx)
	k, err := f.s.GenerateKey(ctx, signing.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.SignMany(ctx, manyReqs(k.ID, n, 0)); err != nil {
		t.Fatal(err)
	}
	return signing.AuditedTxn(b, st, nil)
}

func TestAuditedTxn(t *testing.T) {
	t.Run("commit", func(t *testing.T) {
		f, ns := newFixture(t), stateFixture(t)
		txn := call(t, f, ns, "k", 3)
		if f.log.Stats().Records != 0 {
			t.Fatal("records appended during the call")
		}
		if err := txn.Commit(t.Context()); err != nil {
			t.Fatal(err)
		}
		txn.Rollback() // deferred in the handler: nothing more
		if st := f.log.Stats(); st.Records != 3 || !stateHas(t, ns, "k") {
			t.Fatalf("after Commit: %+v, state has k: %v", st, stateHas(t, ns, "k"))
		}
	})
	t.Run("commit without state", func(t *testing.T) {
		f := newFixture(t)
		txn := call(t, f, nil, "", 3)
		if err := txn.Commit(t.Context()); err != nil || f.log.Stats().Records != 3 {
			t.Fatalf("Commit = %v, %+v", err, f.log.Stats())
		}
	})
	t.Run("rollback", func(t *testing.T) {
		f, ns := newFixture(t), stateFixture(t)
		txn := call(t, f, ns, "k", 3)
		txn.Rollback()
		if stateHas(t, ns, "k") {
			t.Fatal("a rolled-back call's write is in the state")
		}
		waitFor(t, func() bool { return f.log.Stats().Records == 3 })
		if n := len(f.records(t)); n != 3 {
			t.Fatalf("%d records", n)
		}
	})
	t.Run("audit log fails", func(t *testing.T) {
		f, ns := newFixture(t), stateFixture(t)
		txn := call(t, f, ns, "k", 3)
		f.log.Close()
		err := txn.Commit(t.Context())
		if !errors.Is(err, signing.ErrAudit) || !errors.Is(err, audit.ErrClosed) {
			t.Fatalf("Commit = %v, want ErrAudit", err)
		}
		if stateHas(t, ns, "k") {
			t.Fatal("the state was committed although the audit records were not durable")
		}
		txn.Rollback()
	})
	t.Run("context ended", func(t *testing.T) {
		f, ns := newFixture(t), stateFixture(t)
		txn := call(t, f, ns, "k", 3)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := txn.Commit(ctx); !errors.Is(err, signing.ErrAudit) || !errors.Is(err, context.Canceled) {
			t.Fatalf("Commit = %v", err)
		}
		if stateHas(t, ns, "k") {
			t.Fatal("state committed")
		}
		// The signatures were made: their records land anyway, once.
		waitFor(t, func() bool { return f.log.Stats().Records == 3 })
		txn.Rollback()
		if n := len(f.records(t)); n != 3 {
			t.Fatalf("%d records, want 3", n)
		}
	})
}
