package state

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/osohost/osohost/abi"
)

// Errors. Besides these, operations fail with a [*LimitError], with the
// context's error, or with a wrapped storage error.
var (
	// ErrClosed: the store is closed.
	ErrClosed = errors.New("state: store closed")
	// ErrDone: the transaction already committed or rolled back, or its
	// writes are frozen because its export call ended.
	ErrDone = errors.New("state: transaction finished")
	// ErrReadOnly: a write in a transaction begun with
	// [Namespace.BeginReadOnly].
	ErrReadOnly = errors.New("state: read-only transaction")
	// ErrConflict: Commit found that a key the transaction read was
	// changed by a transaction that committed first, or that a pending
	// transaction it read from did not commit. Nothing was applied;
	// running the request again may succeed.
	ErrConflict = errors.New("state: transaction conflicts with a concurrent one")
	// ErrBusy: too many commits are waiting for the disk. Nothing was
	// applied.
	ErrBusy = errors.New("state: too many commits waiting")
	// ErrEmptyKey: a key of zero bytes.
	ErrEmptyKey = errors.New("state: empty key")
	// ErrCorrupt: the state file is damaged (truncated, bad checksums,
	// inconsistent pages or usage records). The host must not start on it;
	// restore it from a backup.
	ErrCorrupt = errors.New("state: state file is corrupt")
	// ErrForeign: the file is not an osohost state file (another program's
	// database, or a newer format).
	ErrForeign = errors.New("state: not an osohost state file")
	// ErrLocked: another process holds the state file.
	ErrLocked = errors.New("state: state file is in use by another process")
)

// LimitError is an operation over one of the [Limits]. TooLarge is set
// when a single key or value is over its size limit (the guest sees
// abi.StatusTooLarge), and clear for quotas (abi.StatusLimited).
type LimitError struct {
	What     string // "key", "value", "keys", "bytes", "writes per transaction", …
	Limit    int64
	TooLarge bool
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("state: %s limit of %d reached", e.What, e.Limit)
}

// Limits bound one namespace and each transaction on it. Zero fields mean
// the documented default; key and value sizes are capped at the ABI's
// limits.
type Limits struct {
	// MaxKeys bounds the keys of the namespace; default 100,000.
	MaxKeys int64
	// MaxBytes bounds the sum of the sizes of keys and values of the
	// namespace; default 256 MiB.
	MaxBytes int64
	// MaxKeyBytes bounds one key; default and maximum abi.MaxKVKeyBytes.
	MaxKeyBytes int
	// MaxValueBytes bounds one value; default and maximum
	// abi.MaxKVValueBytes.
	MaxValueBytes int
	// MaxTxnWrites bounds the distinct keys one transaction writes or
	// deletes; default 10,000.
	MaxTxnWrites int
	// MaxTxnBytes bounds the key and value bytes one transaction buffers;
	// default 32 MiB.
	MaxTxnBytes int64
	// MaxTxnReads bounds the distinct keys one transaction reads (each is
	// remembered for the conflict check); default 100,000.
	MaxTxnReads int
}

// Defaults of [Limits].
const (
	DefaultMaxKeys      = 100_000
	DefaultMaxBytes     = 256 << 20
	DefaultMaxTxnWrites = 10_000
	DefaultMaxTxnBytes  = 32 << 20
	DefaultMaxTxnReads  = 100_000
)

// withDefaults returns l with zero fields set to their defaults and sizes
// capped at the ABI's limits.
func (l Limits) withDefaults() Limits {
	if l.MaxKeys <= 0 {
		l.MaxKeys = DefaultMaxKeys
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxKeyBytes <= 0 || l.MaxKeyBytes > abi.MaxKVKeyBytes {
		l.MaxKeyBytes = abi.MaxKVKeyBytes
	}
	if l.MaxValueBytes <= 0 || l.MaxValueBytes > abi.MaxKVValueBytes {
		l.MaxValueBytes = abi.MaxKVValueBytes
	}
	if l.MaxTxnWrites <= 0 {
		l.MaxTxnWrites = DefaultMaxTxnWrites
	}
	if l.MaxTxnBytes <= 0 {
		l.MaxTxnBytes = DefaultMaxTxnBytes
	}
	if l.MaxTxnReads <= 0 {
		l.MaxTxnReads = DefaultMaxTxnReads
	}
	return l
}

// Usage is what a namespace holds: its keys, and the sum of the sizes of
// its keys and values.
type Usage struct {
	Keys, Bytes int64
}

// Options configure a [Store]. Zero values mean the documented default.
type Options struct {
	// MaxQueuedCommits bounds the commits waiting for the committer;
	// beyond it Commit fails with [ErrBusy]. Default 4096.
	MaxQueuedCommits int
	// MaxBatchTxns bounds the transactions of one batch (one storage
	// transaction, synced to disk once); default 1024.
	MaxBatchTxns int
	// MaxBatchBytes bounds the key and value bytes of one batch; a single
	// transaction larger than it forms a batch of its own. Default 64 MiB.
	MaxBatchBytes int64

	// Options of the bbolt backend ([OpenBolt], [Open]).

	// LockTimeout bounds the wait for the file lock when another process
	// holds the file; default 5s, then [ErrLocked].
	LockTimeout time.Duration
	// SkipCheck skips the consistency check of the whole file at open
	// (time proportional to the file's size). The header, the size and
	// the format are always checked.
	SkipCheck bool
}

func (o Options) withDefaults() Options {
	if o.MaxQueuedCommits <= 0 {
		o.MaxQueuedCommits = 4096
	}
	if o.MaxBatchTxns <= 0 {
		o.MaxBatchTxns = 1024
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = 64 << 20
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = 5 * time.Second
	}
	return o
}

// Store holds the state of every plugin of a host: one [Namespace] each,
// over one [Backend], with one committer goroutine that groups concurrent
// commits. It is safe for concurrent use. Close it after the last
// transaction finished.
type Store struct {
	b    Backend
	opts Options
	c    *committer

	mu     sync.Mutex
	nss    map[string]*Namespace
	closed bool

	stats storeStats
}

// storeStats are the counters behind [Stats].
type storeStats struct {
	commits, readOnly, rollbacks, conflicts, limited, failed, batches atomic.Int64
}

// Stats are counters since the store was opened, for metrics.
type Stats struct {
	// Commits counts transactions whose writes were applied.
	Commits int64
	// ReadOnlyCommits counts commits of transactions without writes
	// (no disk write).
	ReadOnlyCommits int64
	// Rollbacks counts transactions rolled back.
	Rollbacks int64
	// Conflicts counts commits that failed with ErrConflict.
	Conflicts int64
	// Limited counts commits that failed a quota.
	Limited int64
	// Failed counts commits that failed otherwise (storage errors, ErrBusy,
	// closed store, cancelled context).
	Failed int64
	// Batches counts storage transactions written (one fsync group each).
	Batches int64
	// Queued is the number of commits waiting for the committer now.
	Queued int
}

// New returns a Store over b and starts its committer. The Store owns b:
// Close closes it.
func New(b Backend, opts Options) *Store {
	opts = opts.withDefaults()
	s := &Store{b: b, opts: opts, nss: map[string]*Namespace{}}
	s.c = newCommitter(s)
	return s
}

// Open opens (creating it if needed, with its directory) the bbolt state
// file at path and returns a Store over it. See [OpenBolt] for the errors.
func Open(path string, opts Options) (*Store, error) {
	b, err := OpenBolt(path, opts)
	if err != nil {
		return nil, err
	}
	return New(b, opts), nil
}

// MaxNamespaceBytes bounds a namespace name.
const MaxNamespaceBytes = 255

// validNamespace reports whether name is 1..MaxNamespaceBytes of UTF-8
// without control characters.
func validNamespace(name string) bool {
	if name == "" || len(name) > MaxNamespaceBytes || !utf8.ValidString(name) {
		return false
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// Namespace returns the namespace called name (for example the component
// name), creating it in the backend if needed, with limits lim. Asking
// again for the same name returns the same *Namespace and replaces its
// limits (transactions begun earlier keep theirs). name is 1 to
// [MaxNamespaceBytes] bytes of UTF-8 without control characters.
func (s *Store) Namespace(ctx context.Context, name string, lim Limits) (*Namespace, error) {
	if !validNamespace(name) {
		return nil, fmt.Errorf("state: invalid namespace name %q", name)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	ns := s.nss[name]
	s.mu.Unlock()
	l := lim.withDefaults()
	if ns != nil {
		ns.lim.Store(&l)
		return ns, nil
	}
	u, err := s.b.Namespace(ctx, name)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if ns = s.nss[name]; ns != nil { // created meanwhile
		ns.lim.Store(&l)
		return ns, nil
	}
	ns = &Namespace{s: s, name: name, usage: u}
	ns.lim.Store(&l)
	s.nss[name] = ns
	return ns, nil
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	st := &s.stats
	return Stats{
		Commits: st.commits.Load(), ReadOnlyCommits: st.readOnly.Load(), Rollbacks: st.rollbacks.Load(),
		Conflicts: st.conflicts.Load(), Limited: st.limited.Load(), Failed: st.failed.Load(), Batches: st.batches.Load(),
		Queued: s.c.queued(),
	}
}

// Close stops accepting commits, writes those already queued, and closes
// the backend. Transactions still open then fail with [ErrClosed] on
// Commit. It is safe to call more than once.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.c.close()
	return s.b.Close()
}

// Namespace is the state of one plugin. Its methods are safe for
// concurrent use.
type Namespace struct {
	s    *Store
	name string
	lim  atomic.Pointer[Limits]

	mu      sync.Mutex
	pending []*Txn // transactions with writes, not finished, in order of their first write
	usage   Usage  // committed
}

// Name returns the namespace's name.
func (n *Namespace) Name() string { return n.name }

// Limits returns the namespace's limits, defaults applied.
func (n *Namespace) Limits() Limits { return *n.lim.Load() }

// Usage returns what the namespace holds, as of the last commit.
func (n *Namespace) Usage() Usage {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.usage
}

// Begin starts a transaction for one export call. Finish it with exactly
// one Commit or Rollback (Rollback after Commit does nothing, so
// `defer txn.Rollback()` is the safe pattern): a pending transaction that
// is never finished makes the transactions that read from it wait until
// their context ends.
func (n *Namespace) Begin() *Txn {
	return newTxn(n, false)
}

// BeginReadOnly starts a transaction that reads but cannot write (writes
// fail with [ErrReadOnly]): for export calls outside a request, such as
// the status check of a reload.
func (n *Namespace) BeginReadOnly() *Txn {
	return newTxn(n, true)
}

// txnKey carries the *Txn of an export call in a context.
type txnKey struct{}

// WithTxn returns a context carrying t, for the export call it belongs to.
func WithTxn(ctx context.Context, t *Txn) context.Context {
	return context.WithValue(ctx, txnKey{}, t)
}

// TxnFrom returns the transaction ctx carries, or nil (also for a nil
// ctx).
func TxnFrom(ctx context.Context) *Txn {
	if ctx == nil {
		return nil
	}
	t, _ := ctx.Value(txnKey{}).(*Txn)
	return t
}
