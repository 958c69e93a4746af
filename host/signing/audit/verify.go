package audit

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// VerifyError reports where and why a log fails verification. It matches
// [ErrCorrupt] with errors.Is.
type VerifyError struct {
	Line   int    // 1-based line number; for a missing anchor, the line after the last
	Reason string // what is wrong, safe to show
}

func (e *VerifyError) Error() string {
	return fmt.Sprintf("audit: line %d: %s", e.Line, e.Reason)
}

// Is reports whether target is [ErrCorrupt].
func (e *VerifyError) Is(target error) bool { return target == ErrCorrupt }

// Verify reads a whole log and checks every line and the chain: each line
// is canonical, its hash matches, its seq is one more than the previous
// line's, and its prev is the SHA-256 of the previous line. It returns the
// number of records that verified before the first problem, and a
// [*VerifyError] describing that problem, if any. A final line without a
// newline (a torn write, or a truncated file) is an error.
//
// An edited, removed, inserted or reordered line is always detected, and
// so is a log cut in the middle of a line. A log cut cleanly after some
// line is a valid shorter log: detect that with [VerifyHead] and a [Head]
// recorded elsewhere.
func Verify(r io.Reader) (n int, err error) {
	h, err := VerifyHead(r, Head{})
	return int(h.Seq), err
}

// VerifyHead is [Verify], and also requires the log to contain the record
// that anchor names, unchanged (same seq, same line hash). A zero anchor
// requires nothing. It returns the [Head] of the last record that verified.
func VerifyHead(r io.Reader, anchor Head) (Head, error) {
	br := bufio.NewReaderSize(r, maxLineBytes+1)
	prev := zeroPrev
	var seq uint64
	anchored := anchor.Seq == 0
	for lineNo := 1; ; lineNo++ {
		b, err := br.ReadSlice('\n')
		switch {
		case err == io.EOF && len(b) == 0:
			if !anchored {
				return Head{seq, prev}, &VerifyError{lineNo, fmt.Sprintf("log ends at seq %d, before the anchored record %d: lines were removed from the end", seq, anchor.Seq)}
			}
			return Head{seq, prev}, nil
		case err == io.EOF:
			return Head{seq, prev}, &VerifyError{lineNo, "final line has no newline: the log was cut or a write was torn"}
		case errors.Is(err, bufio.ErrBufferFull):
			return Head{seq, prev}, &VerifyError{lineNo, fmt.Sprintf("line longer than %d bytes", maxLineBytes)}
		case err != nil:
			return Head{seq, prev}, fmt.Errorf("audit: read line %d: %w", lineNo, err)
		}
		b = bytes.TrimSuffix(b, []byte{'\n'})
		rec, perr := parseLine(b)
		if perr != nil {
			return Head{seq, prev}, &VerifyError{lineNo, perr.Error()}
		}
		if rec.Seq != seq+1 {
			return Head{seq, prev}, &VerifyError{lineNo, fmt.Sprintf("seq %d follows seq %d: a record was removed, inserted or moved", rec.Seq, seq)}
		}
		if rec.Prev != prev {
			return Head{seq, prev}, &VerifyError{lineNo, "prev is not the hash of the previous line: a line was edited, removed or moved"}
		}
		sum := sha256.Sum256(b)
		seq, prev = rec.Seq, hex.EncodeToString(sum[:])
		if seq == anchor.Seq {
			if prev != anchor.Hash {
				return Head{seq - 1, rec.Prev}, &VerifyError{lineNo, fmt.Sprintf("record %d differs from the anchored one", seq)}
			}
			anchored = true
		}
	}
}
