package state

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
)

// errRolledBack is the outcome of a rolled-back transaction.
var errRolledBack = errors.New("state: transaction rolled back")

type txnState uint8

const (
	txnOpen       txnState = iota
	txnCommitting          // Commit called: frozen, waiting for the committer
	txnCommitted
	txnAborted // rolled back, withdrawn or failed
)

// Txn is the transaction of one export call on a [Namespace]: reads see
// the committed state, the writes of pending transactions (see the
// package documentation) and its own writes, buffered in memory until
// Commit.
//
// A Txn serves one export call: its reads and writes run on the goroutine
// of that call, one at a time. Commit and Rollback may run on another
// goroutine once the call returned. Values returned by Get must not be
// modified; they stay valid.
type Txn struct {
	ns       *Namespace
	s        *Store
	lim      Limits
	readOnly bool

	mu         sync.Mutex
	st         txnState
	writes     map[string]*write
	wbytes     int64 // Σ len(key)+len(value) over writes
	delta      Usage // what the writes change in the namespace's usage
	reads      map[string]expect
	doomed     bool // a key read twice gave two answers
	deps       map[*Txn]struct{}
	callDone   <-chan struct{} // Done of the context of the first write
	exposed    bool            // another transaction read its writes
	registered bool            // in ns.pending
	version    uint64          // when committed
	err        error           // when aborted

	enq     chan struct{} // closed once queued for commit, or finished
	enqOnce sync.Once
	done    chan struct{} // closed once finished

	// Owned by the committer.
	batch uint64 // the batch that took it; 0 while queued
	cs    *ChangeSet
}

// write is one buffered write: a value, or a deletion.
type write struct {
	value []byte
	del   bool
	base  int64 // size (key+value) of the key before the transaction; -1: absent
}

// size is the key's size after the write; -1 for a deletion.
func (w *write) size(key string) int64 {
	if w.del {
		return -1
	}
	return int64(len(key) + len(w.value))
}

// expect is what a read found: a committed version, or the write of a
// pending transaction (a deletion when absent).
type expect struct {
	version uint64
	after   *Txn
	absent  bool
}

func newTxn(n *Namespace, readOnly bool) *Txn {
	return &Txn{
		ns: n, s: n.s, lim: n.Limits(), readOnly: readOnly,
		enq: make(chan struct{}), done: make(chan struct{}),
	}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// visibleLocked reports whether other transactions read t's writes: t is
// committing, or its export call has ended. t.mu is held.
func (t *Txn) visibleLocked() bool {
	switch t.st {
	case txnCommitting:
		return true
	case txnOpen:
		return t.callDone != nil && isClosed(t.callDone)
	}
	return false
}

// usable checks that an operation may run: the transaction is open and
// ctx is not done.
func (t *Txn) usable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.st != txnOpen {
		return ErrDone
	}
	return nil
}

// writableLocked checks that t may still write. t.mu is held.
func (t *Txn) writableLocked(ctx context.Context) error {
	if t.readOnly {
		return ErrReadOnly
	}
	if t.st != txnOpen || t.exposed || t.callDone != nil && isClosed(t.callDone) {
		return ErrDone
	}
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	return nil
}

func (t *Txn) checkKey(key string) error {
	if key == "" {
		return ErrEmptyKey
	}
	if len(key) > t.lim.MaxKeyBytes {
		return &LimitError{What: "key size", Limit: int64(t.lim.MaxKeyBytes), TooLarge: true}
	}
	return nil
}

// Get returns the value of key, and whether it exists. The value must not
// be modified.
func (t *Txn) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if err := t.usable(ctx); err != nil {
		return nil, false, err
	}
	if err := t.checkKey(key); err != nil {
		return nil, false, err
	}
	t.mu.Lock()
	if w, ok := t.writes[key]; ok {
		t.mu.Unlock()
		if w.del {
			return nil, false, nil
		}
		return w.value, true, nil
	}
	t.mu.Unlock()
	v, ok, e, err := t.read(ctx, key, true)
	if err != nil {
		return nil, false, err
	}
	if err := t.remember(key, e); err != nil {
		return nil, false, err
	}
	return v, ok, nil
}

// read returns key's value outside t: from the newest visible pending
// transaction that wrote it, else from the committed state. With expose,
// a pending transaction read from can no longer write.
func (t *Txn) read(ctx context.Context, key string, expose bool) ([]byte, bool, expect, error) {
	if src, w, ok := t.ns.overlay(t, key, expose); ok {
		if w.del {
			return nil, false, expect{after: src, absent: true}, nil
		}
		return w.value, true, expect{after: src}, nil
	}
	v, ver, err := t.s.b.Get(ctx, t.ns.name, key)
	if err != nil {
		return nil, false, expect{}, err
	}
	return v, ver != 0, expect{version: ver}, nil
}

// overlay finds the newest visible pending transaction other than self
// that wrote key.
func (n *Namespace) overlay(self *Txn, key string, expose bool) (*Txn, write, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := len(n.pending) - 1; i >= 0; i-- {
		a := n.pending[i]
		if a == self {
			continue
		}
		a.mu.Lock()
		if a.visibleLocked() {
			if w, ok := a.writes[key]; ok {
				if expose {
					a.exposed = true
				}
				c := *w
				a.mu.Unlock()
				return a, c, true
			}
		}
		a.mu.Unlock()
	}
	return nil, write{}, false
}

// remember records what a read of key found, for the conflict check.
func (t *Txn) remember(key string, e expect) error {
	t.mu.Lock()
	prev, seen := t.reads[key]
	t.mu.Unlock()
	if seen {
		// No lock held: sameRead locks the pending transaction.
		if prev != e && !sameRead(prev, e) {
			t.mu.Lock()
			t.doomed = true // a later read saw another write: Commit fails
			t.mu.Unlock()
		}
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.reads) >= t.lim.MaxTxnReads {
		return &LimitError{What: "reads per transaction", Limit: int64(t.lim.MaxTxnReads)}
	}
	if t.reads == nil {
		t.reads = map[string]expect{}
	}
	t.reads[key] = e
	if e.after != nil {
		t.addDep(e.after)
	}
	return nil
}

// sameRead reports whether a read of a pending write and a later read of
// the committed state saw the same write: the pending transaction
// committed in between.
func sameRead(pending, now expect) bool {
	if pending.after == nil || now.after != nil {
		return false
	}
	v := pending.after.committedVersion()
	if v == 0 {
		return false
	}
	if pending.absent {
		return now.version == 0
	}
	return now.version == v
}

func (t *Txn) addDep(d *Txn) {
	if t.deps == nil {
		t.deps = map[*Txn]struct{}{}
	}
	t.deps[d] = struct{}{}
}

// register adds t to its namespace's pending transactions, at its first
// write; from then on t is visible to others once ctx is done.
func (t *Txn) register(ctx context.Context) {
	t.mu.Lock()
	reg := t.registered
	t.mu.Unlock()
	if reg {
		return
	}
	n := t.ns
	n.mu.Lock()
	defer n.mu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.registered && t.st == txnOpen {
		t.registered = true
		t.callDone = ctx.Done()
		n.pending = append(n.pending, t)
	}
}

// Put sets key to value in the transaction. value is copied first. It fails with
// a *LimitError when the key or value is too large, when the transaction
// writes too much, or when the namespace's quota would be exceeded (an
// estimate; Commit checks exactly).
func (t *Txn) Put(ctx context.Context, key string, value []byte) error {
	if t.readOnly {
		return ErrReadOnly
	}
	if err := t.usable(ctx); err != nil {
		return err
	}
	if err := t.checkKey(key); err != nil {
		return err
	}
	if len(value) > t.lim.MaxValueBytes {
		return &LimitError{What: "value size", Limit: int64(t.lim.MaxValueBytes), TooLarge: true}
	}
	v := bytes.Clone(value) // before anything else: value may be a view of guest memory
	if v == nil {
		v = []byte{}
	}
	t.mu.Lock()
	_, had := t.writes[key]
	t.mu.Unlock()
	base := int64(-1)
	if !had {
		old, ok, _, err := t.read(ctx, key, false)
		if err != nil {
			return err
		}
		if ok {
			base = int64(len(key) + len(old))
		}
	}
	used := t.ns.Usage()
	t.register(ctx)
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.writableLocked(ctx); err != nil {
		return err
	}
	w := t.writes[key]
	size := int64(len(key) + len(value))
	prev := base
	buffered := int64(0)
	if w != nil {
		prev = w.size(key)
		buffered = int64(len(key) + len(w.value))
	} else if len(t.writes) >= t.lim.MaxTxnWrites {
		return &LimitError{What: "writes per transaction", Limit: int64(t.lim.MaxTxnWrites)}
	}
	if t.wbytes-buffered+size > t.lim.MaxTxnBytes {
		return &LimitError{What: "bytes per transaction", Limit: t.lim.MaxTxnBytes}
	}
	d := t.delta
	if prev < 0 {
		d.Keys++
		prev = 0
	}
	d.Bytes += size - prev
	if err := t.quota(used, d); err != nil {
		return err
	}
	if w == nil {
		if t.writes == nil {
			t.writes = map[string]*write{}
		}
		t.writes[key] = &write{value: v, base: base}
	} else {
		w.value, w.del = v, false
	}
	t.wbytes += size - buffered
	t.delta = d
	return nil
}

// quota checks the namespace's usage after a change of the transaction's
// delta from t.delta to d: growing past a quota fails. t.mu is held.
func (t *Txn) quota(used, d Usage) error {
	if d.Keys > t.delta.Keys && used.Keys+d.Keys > t.lim.MaxKeys {
		return &LimitError{What: "keys", Limit: t.lim.MaxKeys}
	}
	if d.Bytes > t.delta.Bytes && used.Bytes+d.Bytes > t.lim.MaxBytes {
		return &LimitError{What: "bytes", Limit: t.lim.MaxBytes}
	}
	return nil
}

// Delete removes key in the transaction and reports whether it existed.
func (t *Txn) Delete(ctx context.Context, key string) (bool, error) {
	if t.readOnly {
		return false, ErrReadOnly
	}
	if err := t.usable(ctx); err != nil {
		return false, err
	}
	if err := t.checkKey(key); err != nil {
		return false, err
	}
	t.mu.Lock()
	w := t.writes[key]
	if w != nil {
		defer t.mu.Unlock()
		if err := t.writableLocked(ctx); err != nil {
			return false, err
		}
		if w.del {
			return false, nil
		}
		t.wbytes -= int64(len(w.value))
		t.delta.Keys--
		t.delta.Bytes -= int64(len(key) + len(w.value))
		w.value, w.del = nil, true
		return true, nil
	}
	t.mu.Unlock()
	v, ok, e, err := t.read(ctx, key, true)
	if err != nil {
		return false, err
	}
	if err := t.remember(key, e); err != nil {
		return false, err
	}
	if !ok {
		return false, nil
	}
	t.register(ctx)
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.writableLocked(ctx); err != nil {
		return false, err
	}
	if len(t.writes) >= t.lim.MaxTxnWrites {
		return false, &LimitError{What: "writes per transaction", Limit: int64(t.lim.MaxTxnWrites)}
	}
	if t.wbytes+int64(len(key)) > t.lim.MaxTxnBytes {
		return false, &LimitError{What: "bytes per transaction", Limit: t.lim.MaxTxnBytes}
	}
	base := int64(len(key) + len(v))
	if t.writes == nil {
		t.writes = map[string]*write{}
	}
	t.writes[key] = &write{del: true, base: base}
	t.wbytes += int64(len(key))
	t.delta.Keys--
	t.delta.Bytes -= base
	return true, nil
}

// Keys calls fn with the keys that start with prefix and sort after after
// (from the first when after is empty), in byte order, as the transaction
// sees them, until fn returns false. fn must not use the transaction.
func (t *Txn) Keys(ctx context.Context, prefix, after string, fn func(key string) bool) error {
	if err := t.usable(ctx); err != nil {
		return err
	}
	if len(prefix) > t.lim.MaxKeyBytes || len(after) > t.lim.MaxKeyBytes {
		return &LimitError{What: "key size", Limit: int64(t.lim.MaxKeyBytes), TooLarge: true}
	}
	in := func(k string) bool { return strings.HasPrefix(k, prefix) && k > after }
	// The writes of visible pending transactions, oldest first so that
	// newer ones win, then t's own.
	over := map[string]bool{} // key → exists
	var from []*Txn
	n := t.ns
	n.mu.Lock()
	for _, a := range n.pending {
		if a == t {
			continue
		}
		a.mu.Lock()
		if a.visibleLocked() {
			used := false
			for k, w := range a.writes {
				if in(k) {
					over[k] = !w.del
					used = true
				}
			}
			if used {
				a.exposed = true
				from = append(from, a)
			}
		}
		a.mu.Unlock()
	}
	n.mu.Unlock()
	t.mu.Lock()
	for k, w := range t.writes {
		if in(k) {
			over[k] = !w.del
		}
	}
	for _, a := range from {
		t.addDep(a)
	}
	t.mu.Unlock()
	keys := make([]string, 0, len(over))
	for k := range over {
		keys = append(keys, k)
	}
	slices.Sort(keys)

	i, stopped := 0, false
	emit := func(k string) bool {
		if !fn(k) {
			stopped = true
			return false
		}
		return true
	}
	err := t.s.b.Scan(ctx, n.name, prefix, after, func(k string) bool {
		for ; i < len(keys) && keys[i] < k; i++ {
			if over[keys[i]] && !emit(keys[i]) {
				i++
				return false
			}
		}
		if i < len(keys) && keys[i] == k {
			i++
			if !over[k] {
				return true // deleted
			}
		}
		return emit(k)
	})
	if err != nil || stopped {
		return err
	}
	for ; i < len(keys); i++ {
		if over[keys[i]] && !emit(keys[i]) {
			return nil
		}
	}
	return nil
}

// Commit applies the transaction's writes at once and returns after they
// reached the disk. It fails, and applies nothing, with [ErrConflict],
// a quota [*LimitError], [ErrBusy], [ErrClosed], ctx's error (while the
// commit waits its turn; once the write started, Commit waits for it), or
// a storage error; with [ErrDone] when the transaction already finished.
// A transaction without writes costs no disk write: Commit waits for the
// pending transactions it read from to commit, and checks that what it
// read is still current.
func (t *Txn) Commit(ctx context.Context) error {
	s := t.s
	t.mu.Lock()
	if t.st != txnOpen {
		t.mu.Unlock()
		return ErrDone
	}
	if t.doomed {
		t.mu.Unlock()
		s.stats.conflicts.Add(1)
		t.end(txnOpen, ErrConflict, 0)
		return ErrConflict
	}
	t.st = txnCommitting
	writes := len(t.writes) > 0
	deps := make([]*Txn, 0, len(t.deps))
	for d := range t.deps {
		deps = append(deps, d)
	}
	t.mu.Unlock()
	if !writes {
		return t.commitReadOnly(ctx, deps)
	}
	// The transactions t read from go first, into the same batch or an
	// earlier one.
	for _, d := range deps {
		select {
		case <-d.enq:
		case <-ctx.Done():
			return t.fail(context.Cause(ctx))
		}
		if d.aborted() {
			return t.fail(ErrConflict)
		}
	}
	if err := s.c.enqueue(t); err != nil {
		return t.fail(err)
	}
	t.enqOnce.Do(func() { close(t.enq) })
	select {
	case <-t.done:
	case <-ctx.Done():
		if s.c.withdraw(t) {
			return t.fail(context.Cause(ctx))
		}
		<-t.done // being written: wait for the outcome
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// commitReadOnly finishes a transaction without writes.
func (t *Txn) commitReadOnly(ctx context.Context, deps []*Txn) error {
	for _, d := range deps {
		select {
		case <-d.done:
		case <-ctx.Done():
			return t.fail(context.Cause(ctx))
		}
		if d.aborted() {
			return t.fail(ErrConflict)
		}
	}
	t.mu.Lock()
	reads := make([]readOf, 0, len(t.reads))
	for k, e := range t.reads {
		reads = append(reads, readOf{k, e})
	}
	t.mu.Unlock()
	exp := make([]Expectation, 0, len(reads))
	for _, r := range reads {
		v := r.e.version
		if r.e.after != nil && !r.e.absent {
			v = r.e.after.committedVersion() // committed: waited for above
		}
		exp = append(exp, Expectation{Key: r.key, Version: v})
	}
	if len(exp) > 0 {
		ok, err := t.s.b.Check(ctx, t.ns.name, exp)
		if err != nil {
			return t.fail(err)
		}
		if !ok {
			return t.fail(ErrConflict)
		}
	}
	t.s.stats.readOnly.Add(1)
	t.end(txnCommitting, nil, 0)
	return nil
}

// fail ends a committing transaction with err, counts it, and returns err.
func (t *Txn) fail(err error) error {
	t.s.count(err)
	t.end(txnCommitting, err, 0)
	return err
}

// count adds a failed commit to the store's counters.
func (s *Store) count(err error) {
	var le *LimitError
	switch {
	case errors.Is(err, ErrConflict):
		s.stats.conflicts.Add(1)
	case errors.As(err, &le):
		s.stats.limited.Add(1)
	default:
		s.stats.failed.Add(1)
	}
}

// aborted reports whether t finished without committing.
func (t *Txn) aborted() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.st == txnAborted
}

// committedVersion returns t's version once committed, else 0.
func (t *Txn) committedVersion() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.st != txnCommitted {
		return 0
	}
	return t.version
}

// Rollback discards the transaction's writes. It does nothing once Commit
// was called, and may be called more than once.
func (t *Txn) Rollback() {
	if t.end(txnOpen, errRolledBack, 0) {
		t.s.stats.rollbacks.Add(1)
	}
}

// end finishes t if it is in state from: committed when err is nil (with
// version), aborted otherwise. It reports whether it did.
func (t *Txn) end(from txnState, err error, version uint64) bool {
	n := t.ns
	n.mu.Lock()
	t.mu.Lock()
	if t.st != from {
		t.mu.Unlock()
		n.mu.Unlock()
		return false
	}
	if err == nil {
		t.st, t.version = txnCommitted, version
	} else {
		t.st, t.err = txnAborted, err
	}
	if t.registered {
		if i := slices.Index(n.pending, t); i >= 0 {
			n.pending = slices.Delete(n.pending, i, i+1)
		}
	}
	t.mu.Unlock()
	n.mu.Unlock()
	t.enqOnce.Do(func() { close(t.enq) })
	close(t.done)
	return true
}
