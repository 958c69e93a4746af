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
// not be made durable, so the signature was withheld.
var ErrAudit = errors.New("signing: audit record not durable; signature withheld")

// AuditLog makes audit records durable. [*audit.Log] implements it; Append
// returns nil only once every record is durable.
type AuditLog interface {
	Append(ctx context.Context, recs ...audit.Record) (uint64, error)
}

// keyTypeCacheSize bounds the key id → type cache of [Audited].
const keyTypeCacheSize = 4096

// Audited returns a [Signer] that passes every call to s and, for every
// signature s makes, appends one [audit.Record] to log before returning
// it: key id and type, SHA-256 of the signed data, and the [CallerInfo]
// ctx carries (empty fields if none). A signature is returned only after
// its record is durable; if Append fails, Sign returns an error matching
// [ErrAudit] and SignMany returns no results and such an error. Failed
// signatures are not recorded. SignMany appends all of a batch's records
// in one call, so a batch costs one group commit.
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
	if _, err := a.log.Append(ctx, rec); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAudit, err)
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
	for len(recs) > 0 {
		n := min(len(recs), audit.MaxAppendRecords)
		if _, err := a.log.Append(ctx, recs[:n]...); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrAudit, err)
		}
		recs = recs[n:]
	}
	return res, nil
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
