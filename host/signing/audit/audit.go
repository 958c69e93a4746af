package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// FileName is the log file's name inside the directory given to [Open]
// when [Options.FileName] is empty.
const FileName = "audit.log"

// Errors reported by this package, comparable with errors.Is.
var (
	ErrClosed    = errors.New("audit: log closed")
	ErrCorrupt   = errors.New("audit: log corrupt")
	ErrInUse     = errors.New("audit: log in use by another process")
	ErrBadRecord = errors.New("audit: invalid record")
	// ErrBusy: [Log.Enqueue] found [MaxEnqueuedRecords] records already
	// queued without a waiter. Nothing was queued.
	ErrBusy = errors.New("audit: too many records queued")
	// ErrUnconfirmed: the context of [Log.Append] ended after the records
	// were queued. They become durable unless the log fails, but Append
	// did not wait to confirm it. The error also matches the context's.
	ErrUnconfirmed = errors.New("audit: append not confirmed")
)

// Options configure [Open]. The zero value is ready to use.
type Options struct {
	// FileName is the log file's name inside the directory; empty means
	// [FileName]. It must be a plain name, without a directory.
	FileName string
	// Now stamps records; nil means time.Now. Records of one group commit
	// share one time.
	Now func() time.Time
	// Logger receives one warning when Open repairs a torn tail, and one
	// error for every group commit that fails while it holds records
	// handed to [Log.Enqueue] (nobody else would hear of their loss); nil
	// discards them. Nothing else is logged, and never a record's content.
	Logger *slog.Logger

	// syncHook, when set, runs in place of fsync (tests only).
	syncHook func(*os.File) error
}

// Recovery reports what [Open] repaired.
type Recovery struct {
	// TornBytes is how many bytes followed the last intact record and were
	// cut off: a group commit interrupted by a crash (never acknowledged)
	// or, if not that, damage an operator should look at. 0 if none.
	TornBytes int64
	// SavedTo is the file holding those bytes, beside the log ("" if none).
	SavedTo string
}

// Stats counts a log's work since [Open].
type Stats struct {
	Records uint64 // records made durable
	Syncs   uint64 // fsync calls (one per group commit)
	Pending int    // records queued and not yet durable, now
	// Lost counts records handed to [Log.Enqueue] that a failed write or
	// fsync kept from becoming durable.
	Lost uint64
}

// Log is an open audit log. Its methods are safe for concurrent use. A Log
// holds an exclusive lock on its file, so one process appends at a time.
//
// Once a write or fsync fails, the Log fails every later Append (the state
// of the file is then unknown): close it and [Open] it again, which repairs
// the tail.
type Log struct {
	path     string
	f        *os.File
	now      func() time.Time
	sync     func(*os.File) error
	logger   *slog.Logger // nil: discard
	recovery Recovery

	mu       sync.Mutex
	queue    []*request
	closed   bool
	err      error    // sticky: set on the first failed write or fsync
	waitless int      // records queued by Enqueue, not yet committed
	seq      uint64   // seq of the last durable record
	prev     [32]byte // SHA-256 of the last durable line
	stats    Stats
	wake     chan struct{} // capacity 1: work is queued
	stop     chan struct{} // closed by Close
	stopped  chan struct{} // closed by the writer on exit

	buf []byte // the writer's encoding buffer
}

type request struct {
	recs  []Record
	first uint64
	done  chan error // capacity 1; nil for Enqueue, which does not wait
}

// Open opens the log in dir (created with mode 0700 if missing; the file is
// [Options.FileName], mode 0600), locks it, and finds the chain's head: the last
// intact line. Anything after that line, up to the size of one group
// commit, is moved to a side file and cut off, and reported by
// [Log.Recovered]; more than that is [ErrCorrupt]. Open checks only the
// last record; [Verify] checks the whole chain.
func Open(dir string, opts Options) (*Log, error) {
	name := opts.FileName
	if name == "" {
		name = FileName
	}
	if name != filepath.Base(name) || name == "." || name == ".." {
		return nil, fmt.Errorf("audit: file name %q is not a plain name", name)
	}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		if err := syncDir(filepath.Dir(dir)); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	path := filepath.Join(dir, name)
	_, statErr := os.Lstat(path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if errors.Is(statErr, os.ErrNotExist) {
		if err := syncDir(dir); err != nil {
			f.Close()
			return nil, fmt.Errorf("audit: %w", err)
		}
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s: %v", ErrInUse, path, err)
	}
	l := &Log{
		path:    path,
		f:       f,
		now:     opts.Now,
		sync:    opts.syncHook,
		logger:  opts.Logger,
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.sync == nil {
		l.sync = (*os.File).Sync
	}
	if err := l.recoverTail(); err != nil {
		f.Close()
		return nil, err
	}
	if opts.Logger != nil && l.recovery.TornBytes > 0 {
		opts.Logger.Warn("audit log tail repaired", "path", path, "torn_bytes", l.recovery.TornBytes, "saved_to", l.recovery.SavedTo)
	}
	go l.run()
	return l, nil
}

// Recovered reports what [Open] repaired.
func (l *Log) Recovered() Recovery { return l.recovery }

// Path returns the log file's path.
func (l *Log) Path() string { return l.path }

// Head returns the last durable record's [Head].
func (l *Log) Head() Head {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Head{Seq: l.seq, Hash: hex.EncodeToString(l.prev[:])}
}

// Stats returns the log's counters.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stats
}

// Append adds recs to the log and returns once they are durable (written
// and fsynced), with the seq given to recs[0]; the others follow it
// without gaps. Concurrent calls share one write and one fsync. Append
// fills Time, Seq, Prev and Hash and ignores what recs held there; it
// does not keep recs.
//
// Errors: [ErrBadRecord] (a field over [MaxFieldBytes] or not UTF-8, more
// than [MaxAppendRecords] records), [ErrClosed], the write or fsync
// failure (then and afterwards), or a context error. If ctx had ended
// before Append queued recs, that is ctx's error (context.Cause) and
// nothing was queued; if ctx ends while Append waits, the error matches
// both [ErrUnconfirmed] and ctx's error, and the records become durable
// unless the log fails. On any error the caller must act as if nothing
// was recorded yet: a signature whose record Append did not confirm must
// not be released.
func (l *Log) Append(ctx context.Context, recs ...Record) (uint64, error) {
	if len(recs) == 0 {
		return 0, nil
	}
	if err := checkRecords(recs); err != nil {
		return 0, err
	}
	if err := context.Cause(ctx); err != nil {
		return 0, err
	}
	req := &request{recs: append([]Record(nil), recs...), done: make(chan error, 1)}
	if err := l.enqueue(req); err != nil {
		return 0, err
	}
	select {
	case err := <-req.done:
		if err != nil {
			return 0, err
		}
		return req.first, nil
	case <-ctx.Done():
		return 0, fmt.Errorf("%w: %w", ErrUnconfirmed, context.Cause(ctx))
	}
}

// Enqueue queues recs for the next group commit and returns without
// waiting for them: for records that must be kept although nobody waits
// for them, such as those of a signature made in a request that failed.
// They become durable with the next group commit unless the log fails
// first; [Log.Close] commits them before it returns. A failed commit of
// such records is counted in [Stats].Lost and logged ([Options.Logger]).
// Enqueue fills the same fields as Append and does not keep recs.
//
// At most [MaxEnqueuedRecords] records wait this way at once, so a slow
// or stuck disk cannot make them grow without bound. Errors, with nothing
// queued: [ErrBadRecord] as for Append, [ErrBusy] over that bound,
// [ErrClosed], or the log's earlier write or fsync failure.
func (l *Log) Enqueue(recs ...Record) error {
	if len(recs) == 0 {
		return nil
	}
	if err := checkRecords(recs); err != nil {
		return err
	}
	return l.enqueue(&request{recs: append([]Record(nil), recs...)})
}

// checkRecords checks what one Append or Enqueue carries.
func checkRecords(recs []Record) error {
	if len(recs) > MaxAppendRecords {
		return fmt.Errorf("%w: %d records in one append, more than %d", ErrBadRecord, len(recs), MaxAppendRecords)
	}
	for i := range recs {
		if err := recs[i].Validate(); err != nil {
			return err
		}
	}
	return nil
}

// enqueue adds req to the queue and wakes the writer.
func (l *Log) enqueue(req *request) error {
	l.mu.Lock()
	switch {
	case l.closed:
		l.mu.Unlock()
		return ErrClosed
	case l.err != nil:
		err := l.err
		l.mu.Unlock()
		return err
	case req.done == nil && l.waitless+len(req.recs) > MaxEnqueuedRecords:
		l.mu.Unlock()
		return fmt.Errorf("%w: %d records waiting, at most %d", ErrBusy, l.waitless, MaxEnqueuedRecords)
	}
	l.queue = append(l.queue, req)
	l.stats.Pending += len(req.recs)
	if req.done == nil {
		l.waitless += len(req.recs)
	}
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return nil
}

// Close commits what is queued (including what [Log.Enqueue] queued, so it
// waits for those records), stops the writer and closes the file. Later
// calls of Append and Enqueue fail with [ErrClosed]; Close is idempotent.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	close(l.stop)
	<-l.stopped
	if err := l.f.Close(); err != nil {
		return fmt.Errorf("audit: close: %w", err)
	}
	return nil
}

// run is the writer: it owns the file's end and commits queued requests
// in groups until Close.
func (l *Log) run() {
	defer close(l.stopped)
	for {
		select {
		case <-l.wake:
		case <-l.stop:
		}
		for {
			batch := l.take()
			if len(batch) == 0 {
				break
			}
			l.commit(batch)
		}
		select {
		case <-l.stop:
			// Close set closed before closing stop: nothing more can be
			// queued, so one last drain empties the queue for good.
			for batch := l.take(); len(batch) > 0; batch = l.take() {
				l.commit(batch)
			}
			return
		default:
		}
	}
}

// take removes whole requests from the queue, up to maxBatchRecords
// records (at least one request).
func (l *Log) take() []*request {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, records := 0, 0
	for n < len(l.queue) && (n == 0 || records+len(l.queue[n].recs) <= maxBatchRecords) {
		records += len(l.queue[n].recs)
		n++
	}
	batch := append([]*request(nil), l.queue[:n]...)
	l.queue = l.queue[n:]
	if len(l.queue) == 0 {
		l.queue = nil
	}
	return batch
}

// commit writes one group with one write and one fsync, then answers
// every request of the group.
func (l *Log) commit(batch []*request) {
	l.mu.Lock()
	err, seq, prev := l.err, l.seq, l.prev
	l.mu.Unlock()

	records := 0
	if err == nil {
		now := l.now().UTC()
		buf := l.buf[:0]
		for _, req := range batch {
			req.first = seq + 1
			for i := range req.recs {
				r := &req.recs[i]
				seq++
				r.Time, r.Seq, r.Prev = now, seq, hex.EncodeToString(prev[:])
				if buf, prev, err = appendLine(buf, r); err != nil {
					break
				}
				records++
			}
		}
		if cap(buf) <= 4<<20 {
			l.buf = buf
		}
		if err == nil {
			_, err = l.f.Write(buf)
		}
		if err == nil {
			err = l.sync(l.f)
			l.mu.Lock()
			l.stats.Syncs++
			l.mu.Unlock()
		}
		if err != nil {
			err = fmt.Errorf("audit: commit: %w", err)
		}
	}

	lost := 0
	l.mu.Lock()
	if err != nil {
		if l.err == nil {
			l.err = err
		}
	} else {
		l.seq, l.prev = seq, prev
		l.stats.Records += uint64(records)
	}
	for _, req := range batch {
		l.stats.Pending -= len(req.recs)
		if req.done == nil {
			l.waitless -= len(req.recs)
			if err != nil {
				lost += len(req.recs)
			}
		}
	}
	l.stats.Lost += uint64(lost)
	l.mu.Unlock()
	for _, req := range batch {
		if req.done != nil {
			req.done <- err
		}
	}
	if lost > 0 && l.logger != nil {
		l.logger.Error("audit records lost", "path", l.path, "records", lost, "err", err)
	}
}

// recoverTail finds the last intact line and cuts off what follows.
func (l *Log) recoverTail() error {
	fi, err := l.f.Stat()
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	size := fi.Size()
	end, last, err := findHead(l.f, size)
	if err != nil {
		return err
	}
	if last != nil {
		rec, _ := parseLine(last)
		l.seq, l.prev = rec.Seq, sha256.Sum256(last)
	}
	if end == size {
		return nil
	}
	torn := make([]byte, size-end)
	if _, err := l.f.ReadAt(torn, end); err != nil {
		return fmt.Errorf("audit: read torn tail: %w", err)
	}
	side := fmt.Sprintf("%s.torn-%s", l.path, time.Now().UTC().Format("20060102T150405.000000000Z"))
	if err := writeSync(side, torn); err != nil {
		return fmt.Errorf("audit: save torn tail: %w", err)
	}
	if err := syncDir(filepath.Dir(l.path)); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if err := l.f.Truncate(end); err != nil {
		return fmt.Errorf("audit: cut torn tail: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("audit: cut torn tail: %w", err)
	}
	l.recovery = Recovery{TornBytes: size - end, SavedTo: side}
	return nil
}

// findHead returns the offset just past the last record of the intact
// chain at the end of f, and that record's line (nil for none).
//
// Every group commit is one write of at most maxBatchRecords lines followed
// by an fsync, and the next starts only after that fsync, so a crash can
// damage only the last group. findHead therefore reads the last
// maxBatchRecords+1 complete lines (at least one of them durable, if the
// file holds that many), keeps the longest prefix of them that chains, and
// declares the rest torn. More than one group's worth of damage is
// [ErrCorrupt].
func findHead(f *os.File, size int64) (end int64, last []byte, err error) {
	if size == 0 {
		return 0, nil, nil
	}
	const wantLines = maxBatchRecords + 1
	limit := int64(wantLines+1) * maxLineBytes
	var buf []byte
	var off int64
	for window := int64(64 << 10); ; window *= 4 {
		w := min(window, size, limit)
		off = size - w
		buf = make([]byte, w)
		if _, err := f.ReadAt(buf, off); err != nil {
			return 0, nil, fmt.Errorf("audit: read tail: %w", err)
		}
		if off == 0 || w == limit || bytes.Count(buf, []byte{'\n'}) > wantLines {
			break
		}
	}
	start := 0
	if off > 0 { // the window may begin inside a line
		start = bytes.IndexByte(buf, '\n') + 1
		if start == 0 {
			return 0, nil, fmt.Errorf("%w: no line end in the last %d bytes of %s", ErrCorrupt, len(buf), f.Name())
		}
	}
	var lines [][]byte
	var starts []int
	for i := start; i < len(buf); {
		j := bytes.IndexByte(buf[i:], '\n')
		if j < 0 {
			break // a final line without its newline: torn
		}
		lines, starts = append(lines, buf[i:i+j]), append(starts, i)
		i += j + 1
	}
	if len(lines) > wantLines {
		drop := len(lines) - wantLines
		start, lines = starts[drop], lines[drop:]
	}

	end = off + int64(start)
	var prevSeq uint64
	var prevSum [32]byte
	kept := 0
	for k, ln := range lines {
		rec, perr := parseLine(ln)
		ok := perr == nil
		switch {
		case !ok:
		case k > 0:
			ok = rec.Seq == prevSeq+1 && rec.Prev == hex.EncodeToString(prevSum[:])
		case off == 0 && start == 0:
			ok = rec.Seq == 1 && rec.Prev == zeroPrev
		}
		if !ok {
			break
		}
		prevSeq, prevSum = rec.Seq, sha256.Sum256(ln)
		end += int64(len(ln)) + 1
		last = ln
		kept++
	}
	if torn := len(lines) - kept; torn > maxBatchRecords || size-end > maxTornBytes || (last == nil && end > 0) {
		return 0, nil, fmt.Errorf("%w: the chain breaks %d lines (%d bytes) before the end of %s, more than one interrupted commit can leave", ErrCorrupt, torn, size-end, f.Name())
	}
	if last != nil {
		last = append([]byte(nil), last...)
	}
	return end, last, nil
}

func writeSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
