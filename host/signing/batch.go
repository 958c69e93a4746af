package signing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/osohost/osohost/host/signing/audit"
)

// MaxAuditBatchRecords bounds the records one [AuditBatch] holds. Past it,
// the [Audited] signer appends a signature's record at once and waits for
// it, as without a batch, so a guest call that signs without end cannot
// grow the host's memory (a record takes a few hundred bytes).
const MaxAuditBatchRecords = 16 * audit.MaxAppendRecords

// AuditBatch collects the audit records of the signatures made during one
// guest call, so that they become durable together, when the call's
// outcome is committed, instead of one fsync at a time inside the call
// while it holds a plugin instance.
//
// The guarantee is kept by whoever owns the batch, and [AuditedTxn] keeps
// it for a request: a signature reaches the client (the response) or the
// state only after its audit record is durable ([AuditBatch.Flush] before
// either); a signature made in a call that fails is recorded too, without
// waiting ([AuditBatch.Enqueue]). The owner must therefore end every
// batch with Flush or Enqueue, and release nothing of the call before a
// Flush returned nil.
//
// An AuditBatch is safe for concurrent use: signatures may be added while
// it is flushed (they wait for the next Flush, or for Enqueue). Its
// records go to the log of the first [Audited] signer that adds some; the
// zero value is not usable, make one with [WithAuditBatch].
type AuditBatch struct {
	mu     sync.Mutex
	owner  *audited // whose log the records go to; set by the first add
	recs   []audit.Record
	closed bool // Enqueue ran: later records are appended by the signer at once
}

type auditBatchKey struct{}

// WithAuditBatch returns a copy of ctx carrying a new, empty [AuditBatch],
// and the batch. An [Audited] signer given that context (or one derived
// from it) adds its records to the batch instead of appending them.
func WithAuditBatch(ctx context.Context) (context.Context, *AuditBatch) {
	b := &AuditBatch{}
	return context.WithValue(ctx, auditBatchKey{}, b), b
}

// auditBatchFrom returns the batch ctx carries, or nil.
func auditBatchFrom(ctx context.Context) *AuditBatch {
	b, _ := ctx.Value(auditBatchKey{}).(*AuditBatch)
	return b
}

// Len returns the number of records waiting in b.
func (b *AuditBatch) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.recs)
}

// add takes recs (valid records) for a's log and reports whether it did:
// not when b is closed, full, or holds records for another signer.
func (b *AuditBatch) add(a *audited, recs []audit.Record) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.owner != nil && b.owner != a || len(b.recs)+len(recs) > MaxAuditBatchRecords {
		return false
	}
	b.owner = a
	b.recs = append(b.recs, recs...)
	return true
}

// take empties b and returns what it held.
func (b *AuditBatch) take(closing bool) (*audited, []audit.Record) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if closing {
		b.closed = true
	}
	recs := b.recs
	b.recs = nil
	return b.owner, recs
}

// restore puts back records a failed Flush did not hand to the log, ahead
// of those added meanwhile. It reports false when b was closed meanwhile:
// the caller must enqueue them itself.
func (b *AuditBatch) restore(recs []audit.Record) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.recs = slices.Concat(recs, b.recs)
	return true
}

// Flush appends every record in b to its log, at most
// [audit.MaxAppendRecords] per Append (each a group commit shared with
// concurrent appends), and returns nil once all are durable; b is then
// empty. An empty batch costs nothing.
//
// On error (matching [ErrAudit], and the log's or ctx's error) the
// signatures must not be released. The records the log has not taken
// stay in b, for a later Flush or for [AuditBatch.Enqueue]; those it took
// before ctx ended become durable unless the log fails, and are not kept
// twice.
func (b *AuditBatch) Flush(ctx context.Context) error {
	a, recs := b.take(false)
	for len(recs) > 0 {
		n := min(len(recs), audit.MaxAppendRecords)
		if _, err := a.log.Append(ctx, recs[:n]...); err != nil {
			rest := recs
			if errors.Is(err, audit.ErrUnconfirmed) {
				rest = recs[n:] // queued: the log keeps them
			}
			err = fmt.Errorf("%w: %w", ErrAudit, err)
			if len(rest) > 0 && !b.restore(rest) {
				if eerr := enqueue(a, rest); eerr != nil {
					err = errors.Join(err, eerr)
				}
			}
			return err
		}
		recs = recs[n:]
	}
	return nil
}

// Enqueue hands every record in b to its log without waiting for them to
// be durable, and closes b: records the signer makes afterwards with b's
// context are appended at once, as without a batch. It is how a call that
// failed keeps its records: its signatures reach neither the client nor
// the state, and are recorded all the same. Enqueue may be called more
// than once; after a successful Flush it has nothing to hand over.
//
// The log bounds the records waiting this way ([audit.MaxEnqueuedRecords])
// and commits them before its Close returns. What it refuses (that bound
// reached, a closed or failed log) is not recorded: the error, matching
// [ErrAudit], says how many records were dropped, and the caller should
// log it.
func (b *AuditBatch) Enqueue() error {
	a, recs := b.take(true)
	return enqueue(a, recs)
}

// enqueue hands recs to a's log in chunks, without waiting.
func enqueue(a *audited, recs []audit.Record) error {
	dropped, total := 0, len(recs)
	var first error
	for len(recs) > 0 {
		n := min(len(recs), audit.MaxAppendRecords)
		if err := a.log.Enqueue(recs[:n]...); err != nil {
			dropped += n
			if first == nil {
				first = err
			}
		}
		recs = recs[n:]
	}
	if first != nil {
		return fmt.Errorf("%w: %d of %d records dropped: %w", ErrAudit, dropped, total, first)
	}
	return nil
}

// Txn is a transaction that must not commit before the audit records of
// its call are durable: the state transaction of a guest call
// (*state.Txn implements it).
type Txn interface {
	// Commit makes the transaction's writes durable, all or none.
	Commit(ctx context.Context) error
	// Rollback discards them; it is a no-op after Commit.
	Rollback()
}

// AuditedTxn returns the transaction of one request whose guest call ran
// with b ([WithAuditBatch]) and, if t is not nil, with the state
// transaction t.
//
// Commit flushes b first ([AuditBatch.Flush]) and commits t only once the
// records are durable, so a signature kept in the state is never durable
// without its record; the caller writes the response only after Commit
// returned nil. If the flush fails, t is rolled back, the records the log
// did not take are enqueued, and Commit returns the flush's error
// (matching [ErrAudit]); if t's Commit fails, its error is returned (the
// records stay: the signatures were made).
//
// Rollback rolls t back and hands b's records to the log without waiting
// ([AuditBatch.Enqueue]): a signature made in a failed call is recorded
// too. Records the log refuses are logged at error level on log (nil
// discards). Rollback after Commit does nothing more than close b, so
// `defer txn.Rollback()` is the safe pattern.
func AuditedTxn(b *AuditBatch, t Txn, log *slog.Logger) Txn {
	return &auditedTxn{b: b, t: t, log: log}
}

type auditedTxn struct {
	b   *AuditBatch
	t   Txn // nil without state
	log *slog.Logger
}

func (x *auditedTxn) Commit(ctx context.Context) error {
	if err := x.b.Flush(ctx); err != nil {
		x.Rollback()
		return err
	}
	if x.t != nil {
		return x.t.Commit(ctx)
	}
	return nil
}

func (x *auditedTxn) Rollback() {
	if x.t != nil {
		x.t.Rollback()
	}
	if err := x.b.Enqueue(); err != nil && x.log != nil {
		x.log.Error("audit records dropped", "err", err)
	}
}
