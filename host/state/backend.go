package state

import "context"

// Backend is the durable storage under a [Store]. The Store does the
// buffering, the visibility of pending transactions, the limits of each
// operation and the grouping of commits; a Backend stores committed keys
// and applies groups of change sets atomically. [Bolt] is the default
// implementation; another one (for example over PostgreSQL, for replicas
// sharing their state) implements the same methods.
//
// Every key of a namespace carries a version: the sequence number of the
// change set that last wrote it, unique and increasing per namespace;
// version 0 means the key is absent. Methods are called concurrently,
// except Apply, which the Store calls from one goroutine at a time.
type Backend interface {
	// Namespace creates the namespace if it does not exist and returns
	// what it holds.
	Namespace(ctx context.Context, ns string) (Usage, error)
	// Get returns a committed value and its version; version 0 and a nil
	// value when the key is absent. The value belongs to the caller.
	Get(ctx context.Context, ns, key string) (value []byte, version uint64, err error)
	// Scan calls fn with the committed keys of ns that start with prefix
	// and sort after after (all of them when after is empty), in byte
	// order, until fn returns false or the keys run out.
	Scan(ctx context.Context, ns, prefix, after string, fn func(key string) bool) error
	// Check reports whether every expectation holds in the committed
	// state; expectations have no After.
	Check(ctx context.Context, ns string, expect []Expectation) (bool, error)
	// Apply applies each change set atomically, in order, all in one
	// durable write: when Apply returns nil the applied sets are on
	// disk. A set whose expectations or quotas fail is skipped, with
	// ErrConflict or a *LimitError in its Err, and does not fail the
	// others. An applied set gets its Version and the namespace's Usage
	// after it. Apply returns an error, and applies nothing, when the
	// write as a whole fails.
	Apply(ctx context.Context, sets []*ChangeSet) error
	// Close releases the storage.
	Close() error
}

// ChangeSet is what one transaction commits.
type ChangeSet struct {
	Namespace string
	// Writes are sorted by key, one per key.
	Writes []Write
	// Expect lists the versions that keys must have for the set to apply.
	Expect []Expectation
	// MaxKeys and MaxBytes are the namespace's quotas: the set is refused
	// with a *LimitError when, after it, the namespace would hold more
	// keys or bytes than allowed and more than before it (a set that
	// shrinks an over-quota namespace is allowed).
	MaxKeys, MaxBytes int64

	// Results, set by Apply.
	Version uint64
	Usage   Usage
	Err     error

	txn *Txn
}

// Write is one key of a [ChangeSet]: its new value, or its deletion.
type Write struct {
	Key    string
	Value  []byte
	Delete bool
}

// Expectation is one key's expected version. When After is set, the
// expected version is the Version After receives, earlier in the same
// Apply call (0 with Absent: After deleted the key); if After is not
// applied, the expectation fails. An Expectation with an empty Key only
// requires After to be applied.
type Expectation struct {
	Key     string
	Version uint64
	After   *ChangeSet
	Absent  bool
}
