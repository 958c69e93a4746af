package signing

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/osohost/osohost/host/signing/audit"
)

// ErrAudit reports that a signature was made but its audit record could
// not be made durable, so the signature was withheld: from the caller of
// Sign or SignMany, or, with an [AuditBatch], from the client and the
// state (the batch's Flush failed).
var ErrAudit = errors.New("signing: audit record not durable; signature withheld")

// AuditLog makes audit records durable. [*audit.Log] implements it.
type AuditLog interface {
	// Append returns nil only once every record is durable. If ctx ends
	// after the records were queued, the error matches
	// [audit.ErrUnconfirmed] (they may still become durable); any other
	// error means nothing was queued.
	Append(ctx context.Context, recs ...audit.Record) (uint64, error)
	// Enqueue queues the records without waiting for them, within a
	// bound of its own; an error means nothing was queued.
	Enqueue(recs ...audit.Record) error
}

// keyTypeCacheSize bounds the key id → type cache of [Audited].
const keyTypeCacheSize = 4096

// Audited returns a [Signer] that passes every call to s and records every
// signature s makes as one [audit.Record] in log: key id and type,
// SHA-256 of the signed data, and the [CallerInfo] ctx carries (empty
// fields if none). Failed signatures are not recorded.
//
// Without an [AuditBatch] in ctx, Sign and SignMany append the records
// and return a signature only once its record is durable; SignMany
// appends all of a batch's records at once, so a batch costs one group
// commit. With an [AuditBatch] in ctx ([WithAuditBatch]), they add the
// records to it and return at once, with no write and no fsync: the
// batch's owner makes them durable before anything of the call is
// released ([AuditBatch.Flush], [AuditedTxn]). A batch that is full
// ([MaxAuditBatchRecords]), closed, or already holding records of another
// Audited signer is passed by: the records are appended at once, as
// without a batch.
//
// Either way, a record that cannot be kept withholds its signature: Sign
// returns an error matching [ErrAudit] (and [audit.ErrBadRecord] for a
// field the log refuses, such as a trace id over [audit.MaxFieldBytes]),
// SignMany returns no results and such an error.
//
// Close closes s, not log: the log's owner closes it after the signer.
func Audited(s Signer, log AuditLog) Signer {
	types, _ := lru.New[string, KeyType](keyTypeCacheSize) // only fails for size <= 0
	return &audited{Signer: s, log: log, types: types}
}

var _ Signer = (*audited)(nil)

type audited struct {
	Signer
	log   AuditLog
	types *lru.Cache[string, KeyType] // ids are never reused, so a type never goes stale
}

func (a *audited) GenerateKey(ctx context.Context, t KeyType) (Key, error) {
	k, err := a.Signer.GenerateKey(ctx, t)
	if err == nil {
		a.types.Add(k.ID, k.Type)
	}
	return k, err
}

func (a *audited) Sign(ctx context.Context, id string, data []byte) ([]byte, error) {
	sig, err := a.Signer.Sign(ctx, id, data)
	if err != nil {
		return nil, err
	}
	rec, err := a.record(ctx, id, data)
	if err != nil {
		return nil, err
	}
	if err := a.keep(ctx, []audit.Record{rec}); err != nil {
		return nil, err
	}
	return sig, nil
}

func (a *audited) SignMany(ctx context.Context, reqs []SignRequest) ([]SignResult, error) {
	res, err := a.Signer.SignMany(ctx, reqs)
	if err != nil {
		return nil, err
	}
	if len(res) != len(reqs) {
		return nil, fmt.Errorf("signing: backend returned %d results for %d requests", len(res), len(reqs))
	}
	recs := make([]audit.Record, 0, len(reqs))
	for i, r := range res {
		if r.Err != nil {
			continue
		}
		rec, err := a.record(ctx, reqs[i].KeyID, reqs[i].Data)
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	if err := a.keep(ctx, recs); err != nil {
		return nil, err
	}
	return res, nil
}

// keep hands recs to the [AuditBatch] ctx carries, or, without one (or
// when it does not take them), appends them and waits until they are
// durable. Errors match [ErrAudit].
func (a *audited) keep(ctx context.Context, recs []audit.Record) error {
	if b := auditBatchFrom(ctx); b != nil {
		for i := range recs {
			// What Append would refuse at Flush is refused now, while the
			// signature can still be withheld from the guest alone.
			if err := recs[i].Validate(); err != nil {
				return fmt.Errorf("%w: %w", ErrAudit, err)
			}
		}
		if b.add(a, recs) {
			return nil
		}
	}
	for len(recs) > 0 {
		n := min(len(recs), audit.MaxAppendRecords)
		if _, err := a.log.Append(ctx, recs[:n]...); err != nil {
			return fmt.Errorf("%w: %w", ErrAudit, err)
		}
		recs = recs[n:]
	}
	return nil
}

// record describes one signature made with key id over data.
func (a *audited) record(ctx context.Context, id string, data []byte) (audit.Record, error) {
	t, ok := a.types.Get(id)
	if !ok {
		k, err := a.Signer.PublicKey(ctx, id)
		if err != nil {
			return audit.Record{}, fmt.Errorf("%w: key type of %s: %w", ErrAudit, id, err)
		}
		t = k.Type
		a.types.Add(id, t)
	}
	ci, _ := CallerInfoFrom(ctx)
	sum := sha256.Sum256(data)
	return audit.Record{
		PluginSHA256: ci.PluginSHA256,
		KeyID:        id,
		KeyType:      string(t),
		DataSHA256:   hex.EncodeToString(sum[:]),
		Caller:       ci.Caller,
		TraceID:      ci.TraceID,
	}, nil
}
