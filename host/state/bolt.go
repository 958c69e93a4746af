package state

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync/atomic"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// FileName is the state file's name under its directory
// (<APP__ROOT>/state/state.db by default).
const FileName = "state.db"

// Layout of the bbolt file:
//
//	bucket "osohost-state"  key "format" = "osohost-state/1"
//	bucket "usage"          key <namespace> = u64 keys, u64 bytes, u64 seq (little-endian)
//	bucket "ns/<namespace>" key <key> = u64 version, value
//
// seq is the namespace's last version; bytes counts keys and values, not
// the version prefixes.
const (
	formatBucket = "osohost-state"
	formatKey    = "format"
	formatValue  = "osohost-state/1"
	usageBucket  = "usage"
	nsPrefix     = "ns/"
	versionBytes = 8
	usageBytes   = 24
)

// Bolt is the default [Backend]: one bbolt file, written with fsync at
// every Apply. Only one process may open the file at a time. It is safe
// for concurrent use.
type Bolt struct {
	db   *bbolt.DB
	path string
	// broken is set when bbolt panicked or faulted on the file: every
	// later operation fails with ErrCorrupt.
	broken atomic.Bool
}

var _ Backend = (*Bolt)(nil)

// OpenBolt opens the bbolt state file at path, creating it (and its
// directory, mode 0700; the file 0600) if it does not exist. Unless
// opts.SkipCheck is set it checks the whole file: every page, and the
// usage record of every namespace against its keys.
//
// It fails with [ErrLocked] when another process holds the file past
// opts.LockTimeout, with [ErrForeign] when the file is a bbolt file of
// another program (or a newer format), and with [ErrCorrupt] when the
// file is not a database, is truncated, or fails the check.
func OpenBolt(path string, opts Options) (*Bolt, error) {
	opts = opts.withDefaults()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	var db *bbolt.DB
	err := guard(func() error {
		var err error
		db, err = bbolt.Open(path, 0o600, &bbolt.Options{
			Timeout:      opts.LockTimeout,
			FreelistType: bbolt.FreelistMapType,
			NoStatistics: true, // statistics cost a lock per read transaction
		})
		return err
	})
	switch {
	case err == nil:
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("%w: %s", ErrLocked, path)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum):
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	default:
		if errors.Is(err, os.ErrPermission) || errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("state: open %s: %w", path, err)
		}
		// bbolt reports unreadable headers with ad-hoc errors.
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	b := &Bolt{db: db, path: path}
	if err := b.check(!opts.SkipCheck); err != nil {
		db.Close()
		return nil, err
	}
	return b, nil
}

// panicError is a bbolt panic, or a memory fault on the mapped file (a
// file truncated underneath), caught by guard. It matches ErrCorrupt.
type panicError struct{ v any }

func (e panicError) Error() string        { return fmt.Sprint(e.v) }
func (e panicError) Is(target error) bool { return target == ErrCorrupt }

// guard runs fn, turning a panic into a panicError.
func guard(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = panicError{r}
		}
	}()
	return fn()
}

// run is guard for an open file: it refuses a broken file, and marks the
// file broken when fn finds it corrupt.
func (b *Bolt) run(fn func() error) error {
	if b.broken.Load() {
		return fmt.Errorf("%w: %s", ErrCorrupt, b.path)
	}
	err := guard(fn)
	if err != nil && errors.Is(err, ErrCorrupt) {
		b.broken.Store(true)
		var pe panicError
		if errors.As(err, &pe) {
			err = fmt.Errorf("%w: %s: %v", ErrCorrupt, b.path, pe)
		}
	}
	return err
}

// check verifies the file's size and format, initialises a new file, and
// with full checks every page and usage record.
func (b *Bolt) check(full bool) error {
	fi, err := os.Stat(b.path)
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	var foreign, fresh bool
	err = b.run(func() error {
		return b.db.View(func(tx *bbolt.Tx) error {
			if need := tx.Size(); fi.Size() < need {
				return fmt.Errorf("%w: %s is truncated: %d bytes, its pages need %d", ErrCorrupt, b.path, fi.Size(), need)
			}
			fb := tx.Bucket([]byte(formatBucket))
			if fb == nil {
				n := 0
				tx.ForEach(func([]byte, *bbolt.Bucket) error { n++; return nil })
				foreign, fresh = n > 0, n == 0
				return nil
			}
			if v := fb.Get([]byte(formatKey)); string(v) != formatValue {
				return fmt.Errorf("%w: %s has format %q, this host reads %q", ErrForeign, b.path, v, formatValue)
			}
			if tx.Bucket([]byte(usageBucket)) == nil {
				return fmt.Errorf("%w: %s has no usage records", ErrCorrupt, b.path)
			}
			return nil
		})
	})
	switch {
	case err != nil:
		return err
	case foreign:
		return fmt.Errorf("%w: %s is a bbolt file of another program", ErrForeign, b.path)
	case fresh:
		return b.run(func() error {
			return b.db.Update(func(tx *bbolt.Tx) error {
				fb, err := tx.CreateBucket([]byte(formatBucket))
				if err != nil {
					return err
				}
				if err := fb.Put([]byte(formatKey), []byte(formatValue)); err != nil {
					return err
				}
				_, err = tx.CreateBucket([]byte(usageBucket))
				return err
			})
		})
	}
	if !full {
		return nil
	}
	return b.run(func() error {
		return b.db.View(func(tx *bbolt.Tx) error {
			var first error
			for err := range tx.Check() { // drain: the checker stops when nobody reads
				if first == nil {
					first = err
				}
			}
			if first != nil {
				return fmt.Errorf("%w: %s: %v", ErrCorrupt, b.path, first)
			}
			return recount(tx, b.path)
		})
	})
}

// recount compares every namespace's usage record with its keys.
func recount(tx *bbolt.Tx, path string) error {
	ub := tx.Bucket([]byte(usageBucket))
	return tx.ForEach(func(name []byte, bk *bbolt.Bucket) error {
		ns, ok := strings.CutPrefix(string(name), nsPrefix)
		if !ok {
			return nil
		}
		rec, ok := decodeUsage(ub.Get([]byte(ns)))
		if !ok {
			return fmt.Errorf("%w: %s: namespace %q has no valid usage record", ErrCorrupt, path, ns)
		}
		var got Usage
		err := bk.ForEach(func(k, v []byte) error {
			if v == nil || len(v) < versionBytes {
				return fmt.Errorf("%w: %s: namespace %q holds a malformed value", ErrCorrupt, path, ns)
			}
			if binary.LittleEndian.Uint64(v) > rec.seq {
				return fmt.Errorf("%w: %s: namespace %q holds a version after its sequence number", ErrCorrupt, path, ns)
			}
			got.Keys++
			got.Bytes += int64(len(k) + len(v) - versionBytes)
			return nil
		})
		if err != nil {
			return err
		}
		if got != rec.usage {
			return fmt.Errorf("%w: %s: namespace %q holds %d keys and %d bytes, its usage record says %d and %d",
				ErrCorrupt, path, ns, got.Keys, got.Bytes, rec.usage.Keys, rec.usage.Bytes)
		}
		return nil
	})
}

// nsMeta is a namespace's usage record.
type nsMeta struct {
	usage Usage
	seq   uint64
}

func decodeUsage(b []byte) (nsMeta, bool) {
	if len(b) != usageBytes {
		return nsMeta{}, false
	}
	return nsMeta{
		usage: Usage{Keys: int64(binary.LittleEndian.Uint64(b)), Bytes: int64(binary.LittleEndian.Uint64(b[8:]))},
		seq:   binary.LittleEndian.Uint64(b[16:]),
	}, true
}

func (m nsMeta) encode() []byte {
	b := make([]byte, 0, usageBytes)
	b = binary.LittleEndian.AppendUint64(b, uint64(m.usage.Keys))
	b = binary.LittleEndian.AppendUint64(b, uint64(m.usage.Bytes))
	return binary.LittleEndian.AppendUint64(b, m.seq)
}

func bucketName(ns string) []byte { return []byte(nsPrefix + ns) }

// Namespace implements [Backend].
func (b *Bolt) Namespace(ctx context.Context, ns string) (Usage, error) {
	var m nsMeta
	found := false
	err := b.run(func() error {
		return b.db.View(func(tx *bbolt.Tx) error {
			rec := tx.Bucket([]byte(usageBucket)).Get([]byte(ns))
			if rec == nil {
				return nil
			}
			var ok bool
			if m, ok = decodeUsage(rec); !ok || tx.Bucket(bucketName(ns)) == nil {
				return fmt.Errorf("%w: %s: namespace %q has a malformed usage record", ErrCorrupt, b.path, ns)
			}
			found = true
			return nil
		})
	})
	if err != nil || found {
		return m.usage, err
	}
	err = b.run(func() error {
		return b.db.Update(func(tx *bbolt.Tx) error {
			if _, err := tx.CreateBucketIfNotExists(bucketName(ns)); err != nil {
				return err
			}
			ub := tx.Bucket([]byte(usageBucket))
			if ub.Get([]byte(ns)) != nil {
				return nil
			}
			return ub.Put([]byte(ns), nsMeta{}.encode())
		})
	})
	return Usage{}, err
}

// Get implements [Backend].
func (b *Bolt) Get(ctx context.Context, ns, key string) ([]byte, uint64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, context.Cause(ctx)
	}
	var val []byte
	var ver uint64
	err := b.run(func() error {
		return b.db.View(func(tx *bbolt.Tx) error {
			bk := tx.Bucket(bucketName(ns))
			if bk == nil {
				return nil
			}
			v := bk.Get([]byte(key))
			if v == nil {
				return nil
			}
			if len(v) < versionBytes {
				return fmt.Errorf("%w: %s: malformed value in namespace %q", ErrCorrupt, b.path, ns)
			}
			ver = binary.LittleEndian.Uint64(v)
			val = bytes.Clone(v[versionBytes:])
			if val == nil {
				val = []byte{}
			}
			return nil
		})
	})
	return val, ver, err
}

// Scan implements [Backend].
func (b *Bolt) Scan(ctx context.Context, ns, prefix, after string, fn func(key string) bool) error {
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	return b.run(func() error {
		return b.db.View(func(tx *bbolt.Tx) error {
			bk := tx.Bucket(bucketName(ns))
			if bk == nil {
				return nil
			}
			c := bk.Cursor()
			start := prefix
			if after > prefix {
				start = after
			}
			p := []byte(prefix)
			for k, _ := c.Seek([]byte(start)); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
				if string(k) == after {
					continue
				}
				if !fn(string(k)) {
					return nil
				}
			}
			return nil
		})
	})
}

// version returns the version of a stored value; 0 for an absent key.
func version(v []byte) (uint64, bool) {
	if v == nil {
		return 0, true
	}
	if len(v) < versionBytes {
		return 0, false
	}
	return binary.LittleEndian.Uint64(v), true
}

// Check implements [Backend].
func (b *Bolt) Check(ctx context.Context, ns string, expect []Expectation) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, context.Cause(ctx)
	}
	ok := true
	err := b.run(func() error {
		return b.db.View(func(tx *bbolt.Tx) error {
			bk := tx.Bucket(bucketName(ns))
			for _, e := range expect {
				var v []byte
				if bk != nil {
					v = bk.Get([]byte(e.Key))
				}
				cur, valid := version(v)
				if !valid {
					return fmt.Errorf("%w: %s: malformed value in namespace %q", ErrCorrupt, b.path, ns)
				}
				if cur != e.Version {
					ok = false
					return nil
				}
			}
			return nil
		})
	})
	return ok && err == nil, err
}

// applied is the outcome of one change set within an Apply attempt.
type applied struct {
	version uint64
	usage   Usage
	err     error // ErrConflict or *LimitError: skipped
	ok      bool
}

// Apply implements [Backend]: one bbolt read-write transaction, committed
// with fsync. A change set whose writes bbolt refuses is dropped with its
// error and the others are applied in a new attempt, as bbolt's own Batch
// does.
func (b *Bolt) Apply(_ context.Context, sets []*ChangeSet) error {
	idx := make(map[*ChangeSet]int, len(sets))
	for i, cs := range sets {
		idx[cs] = i
	}
	dropped := make([]bool, len(sets))
	for {
		res := make([]applied, len(sets))
		failed := -1
		err := b.run(func() error {
			return b.db.Update(func(tx *bbolt.Tx) error {
				ub := tx.Bucket([]byte(usageBucket))
				metas := map[string]*nsMeta{}
				for i, cs := range sets {
					if dropped[i] {
						continue
					}
					m := metas[cs.Namespace]
					if m == nil {
						rec, ok := decodeUsage(ub.Get([]byte(cs.Namespace)))
						if !ok && ub.Get([]byte(cs.Namespace)) != nil {
							return fmt.Errorf("%w: %s: namespace %q has a malformed usage record", ErrCorrupt, b.path, cs.Namespace)
						}
						m = &rec
						metas[cs.Namespace] = m
					}
					bk, err := tx.CreateBucketIfNotExists(bucketName(cs.Namespace))
					if err != nil {
						return err
					}
					r, err := b.applyOne(bk, m, cs, idx, res)
					if err != nil {
						failed = i
						return err
					}
					res[i] = r
				}
				for ns, m := range metas {
					if err := ub.Put([]byte(ns), m.encode()); err != nil {
						return err
					}
				}
				return nil
			})
		})
		if err == nil {
			for i, cs := range sets {
				if dropped[i] {
					continue
				}
				r := res[i]
				cs.Version, cs.Usage, cs.Err = r.version, r.usage, r.err
			}
			return nil
		}
		if failed < 0 || errors.Is(err, ErrCorrupt) {
			return err
		}
		sets[failed].Err = fmt.Errorf("state: %w", err)
		dropped[failed] = true
	}
}

// applyOne checks one change set's expectations and quotas and writes it.
// A failed check is the set's outcome; an error fails the attempt.
func (b *Bolt) applyOne(bk *bbolt.Bucket, m *nsMeta, cs *ChangeSet, idx map[*ChangeSet]int, res []applied) (applied, error) {
	for _, e := range cs.Expect {
		want := e.Version
		if e.After != nil {
			j, ok := idx[e.After]
			if !ok || !res[j].ok {
				return applied{err: ErrConflict}, nil
			}
			want = res[j].version
			if e.Absent {
				want = 0
			}
		}
		if e.Key == "" {
			continue
		}
		cur, valid := version(bk.Get([]byte(e.Key)))
		if !valid {
			return applied{}, fmt.Errorf("%w: %s: malformed value in namespace %q", ErrCorrupt, b.path, cs.Namespace)
		}
		if cur != want {
			return applied{err: ErrConflict}, nil
		}
	}
	u := m.usage
	for _, w := range cs.Writes {
		if old := bk.Get([]byte(w.Key)); old != nil {
			u.Keys--
			u.Bytes -= int64(len(w.Key) + len(old) - versionBytes)
		}
		if !w.Delete {
			u.Keys++
			u.Bytes += int64(len(w.Key) + len(w.Value))
		}
	}
	if cs.MaxKeys > 0 && u.Keys > cs.MaxKeys && u.Keys > m.usage.Keys {
		return applied{err: &LimitError{What: "keys", Limit: cs.MaxKeys}}, nil
	}
	if cs.MaxBytes > 0 && u.Bytes > cs.MaxBytes && u.Bytes > m.usage.Bytes {
		return applied{err: &LimitError{What: "bytes", Limit: cs.MaxBytes}}, nil
	}
	m.seq++
	for _, w := range cs.Writes {
		var err error
		if w.Delete {
			err = bk.Delete([]byte(w.Key))
		} else {
			v := make([]byte, versionBytes+len(w.Value))
			binary.LittleEndian.PutUint64(v, m.seq)
			copy(v[versionBytes:], w.Value)
			err = bk.Put([]byte(w.Key), v)
		}
		if err != nil {
			m.seq--
			return applied{}, err
		}
	}
	m.usage = u
	return applied{version: m.seq, usage: u, ok: true}, nil
}

// Close implements [Backend].
func (b *Bolt) Close() error {
	return b.db.Close()
}
