package state

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// committer applies queued commits in batches, one backend Apply (one
// fsync) per batch. Commits queued while a batch is written form the
// next one: there is no timer, so a lone commit is written at once.
type committer struct {
	s *Store

	mu      sync.Mutex
	queue   []*Txn
	closed  bool
	wake    chan struct{} // capacity 1
	stopped chan struct{}

	nextBatch uint64 // owned by run
}

func newCommitter(s *Store) *committer {
	c := &committer{s: s, wake: make(chan struct{}, 1), stopped: make(chan struct{})}
	go c.run()
	return c
}

// enqueue queues t for the next batch.
func (c *committer) enqueue(t *Txn) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if len(c.queue) >= c.s.opts.MaxQueuedCommits {
		return ErrBusy
	}
	c.queue = append(c.queue, t)
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return nil
}

// queued returns the number of queued commits.
func (c *committer) queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

// withdraw removes t from the queue if no batch took it yet.
func (c *committer) withdraw(t *Txn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i := slices.Index(c.queue, t); i >= 0 {
		c.queue = slices.Delete(c.queue, i, i+1)
		return true
	}
	return false
}

// close stops accepting commits and waits until the queued ones are
// written.
func (c *committer) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	<-c.stopped
}

func (c *committer) run() {
	defer close(c.stopped)
	for range c.wake {
		for {
			batch := c.take()
			if len(batch) == 0 {
				break
			}
			c.apply(batch)
		}
		c.mu.Lock()
		done := c.closed && len(c.queue) == 0
		c.mu.Unlock()
		if done {
			return
		}
	}
}

// take removes the next batch from the queue.
func (c *committer) take() []*Txn {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, size := 0, int64(0)
	for n < len(c.queue) && n < c.s.opts.MaxBatchTxns {
		t := c.queue[n]
		t.mu.Lock()
		b := t.wbytes
		t.mu.Unlock()
		if n > 0 && size+b > c.s.opts.MaxBatchBytes {
			break
		}
		size += b
		n++
	}
	batch := slices.Clone(c.queue[:n])
	c.queue = slices.Delete(c.queue, 0, n)
	return batch
}

// apply writes one batch and finishes its transactions.
func (c *committer) apply(batch []*Txn) {
	c.nextBatch++
	id := c.nextBatch
	sets := make([]*ChangeSet, 0, len(batch))
	for _, t := range batch {
		t.batch = id
		cs, err := t.changeSet(id)
		if err != nil {
			t.fail(err)
			continue
		}
		t.cs = cs
		sets = append(sets, cs)
	}
	if len(sets) == 0 {
		return
	}
	// A batch once started is written to the end, whatever happens to the
	// requests that queued it: a detached lifetime.
	err := c.s.b.Apply(context.Background(), sets)
	c.s.stats.batches.Add(1)
	for _, cs := range sets {
		t := cs.txn
		switch {
		case err != nil:
			t.fail(fmt.Errorf("state: commit: %w", err))
		case cs.Err != nil:
			t.fail(cs.Err)
		default:
			n := t.ns
			n.mu.Lock()
			n.usage = cs.Usage
			n.mu.Unlock()
			c.s.stats.commits.Add(1)
			t.end(txnCommitting, nil, cs.Version)
		}
	}
}

// changeSet builds what t commits, in batch id. It fails with ErrConflict
// when a transaction t read from did not commit.
func (t *Txn) changeSet(id uint64) (*ChangeSet, error) {
	t.mu.Lock()
	cs := &ChangeSet{Namespace: t.ns.name, MaxKeys: t.lim.MaxKeys, MaxBytes: t.lim.MaxBytes, txn: t}
	cs.Writes = make([]Write, 0, len(t.writes))
	for k, w := range t.writes {
		cs.Writes = append(cs.Writes, Write{Key: k, Value: w.value, Delete: w.del})
	}
	reads := make([]readOf, 0, len(t.reads))
	for k, e := range t.reads {
		reads = append(reads, readOf{k, e})
	}
	deps := make([]*Txn, 0, len(t.deps))
	for d := range t.deps {
		deps = append(deps, d)
	}
	t.mu.Unlock()
	slices.SortFunc(cs.Writes, func(a, b Write) int { return strings.Compare(a.Key, b.Key) })

	// resolve returns how d is referred to: committed (its version), or
	// in this batch (its change set). d.batch and d.cs belong to the
	// committer, which runs this.
	resolve := func(d *Txn) (uint64, *ChangeSet, bool) {
		if v := d.committedVersion(); v != 0 {
			return v, nil, true
		}
		if d.batch == id && d.cs != nil {
			return 0, d.cs, true
		}
		return 0, nil, false
	}
	for _, r := range reads {
		x := Expectation{Key: r.key, Version: r.e.version}
		if r.e.after != nil {
			v, dcs, ok := resolve(r.e.after)
			if !ok {
				return nil, ErrConflict
			}
			x.Version, x.After, x.Absent = v, dcs, r.e.absent
			if r.e.absent {
				x.Version = 0
			}
		}
		cs.Expect = append(cs.Expect, x)
	}
	for _, d := range deps {
		_, dcs, ok := resolve(d)
		if !ok {
			return nil, ErrConflict
		}
		if dcs != nil {
			// A listing's dependency has no key: only its commit counts.
			cs.Expect = append(cs.Expect, Expectation{After: dcs})
		}
	}
	return cs, nil
}

type readOf struct {
	key string
	e   expect
}
