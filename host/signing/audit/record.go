package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Bounds on what one Append may carry.
const (
	// MaxFieldBytes bounds each string field of a [Record] given to
	// [Log.Append], in bytes of UTF-8.
	MaxFieldBytes = 256
	// MaxAppendRecords bounds the records of one [Log.Append] or
	// [Log.Enqueue] call.
	MaxAppendRecords = 1024
	// MaxEnqueuedRecords bounds the records handed to [Log.Enqueue] that
	// are not yet durable; beyond it Enqueue fails with [ErrBusy]. At a
	// few hundred bytes a record, that is a few tens of MiB at most.
	MaxEnqueuedRecords = 64 * MaxAppendRecords

	// maxLineBytes bounds one line: seven string fields of MaxFieldBytes,
	// each escaped at worst to six bytes per byte, plus names, seq and hashes.
	maxLineBytes = 7*6*MaxFieldBytes + 512
	// maxBatchRecords bounds one group commit. A batch takes whole Append
	// calls, at least one, up to this many records.
	maxBatchRecords = MaxAppendRecords
	// maxTornBytes bounds what one interrupted group commit can leave after
	// the last durable record; Open repairs at most this much.
	maxTornBytes = maxBatchRecords * maxLineBytes
)

// Record is one signature in the log. The caller of [Log.Append] fills the
// descriptive fields; the log sets Time, Seq, Prev and Hash.
type Record struct {
	Time         time.Time // when the log committed it, UTC
	PluginSHA256 string    // hex SHA-256 of the plugin module
	KeyID        string    // the key's id
	KeyType      string    // SECP256K1 or ED25519
	DataSHA256   string    // hex SHA-256 of the signed data (a digest or a message)
	Caller       string    // the client's fingerprint or principal
	TraceID      string    // the request's trace id
	Seq          uint64    // 1 for the first record, then +1 per record
	Prev         string    // hex SHA-256 of the previous line (64 zeros for the first)
	Hash         string    // hex SHA-256 of this line without its "hash" member
}

// line is the JSON form of a record without its hash member. The field
// order is the order on disk; encoding/json keeps it.
type line struct {
	Time         string `json:"time"`
	PluginSHA256 string `json:"plugin_sha256"`
	KeyID        string `json:"key_id"`
	KeyType      string `json:"key_type"`
	DataSHA256   string `json:"data_sha256"`
	Caller       string `json:"caller"`
	TraceID      string `json:"trace_id"`
	Seq          uint64 `json:"seq"`
	Prev         string `json:"prev"`
}

const hashMember = `,"hash":"`

// zeroPrev is the prev of the first record.
var zeroPrev = strings.Repeat("0", 64)

// Validate checks the fields a caller supplies, as [Log.Append] does: each
// at most [MaxFieldBytes] of valid UTF-8. Its errors match [ErrBadRecord].
func (r *Record) Validate() error {
	for _, f := range [...]struct{ name, v string }{
		{"plugin_sha256", r.PluginSHA256}, {"key_id", r.KeyID}, {"key_type", r.KeyType},
		{"data_sha256", r.DataSHA256}, {"caller", r.Caller}, {"trace_id", r.TraceID},
	} {
		if len(f.v) > MaxFieldBytes {
			return fmt.Errorf("%w: %s longer than %d bytes", ErrBadRecord, f.name, MaxFieldBytes)
		}
		if !utf8.ValidString(f.v) {
			return fmt.Errorf("%w: %s is not valid UTF-8", ErrBadRecord, f.name)
		}
	}
	return nil
}

// appendLine appends the line for r (with seq, prev and time set) and a
// newline to dst. It returns the extended buffer, the line's own hash and
// the SHA-256 of the whole line (the next record's prev).
func appendLine(dst []byte, r *Record) ([]byte, [32]byte, error) {
	body, err := json.Marshal(line{
		Time:         r.Time.UTC().Format(time.RFC3339Nano),
		PluginSHA256: r.PluginSHA256,
		KeyID:        r.KeyID,
		KeyType:      r.KeyType,
		DataSHA256:   r.DataSHA256,
		Caller:       r.Caller,
		TraceID:      r.TraceID,
		Seq:          r.Seq,
		Prev:         r.Prev,
	})
	if err != nil {
		return dst, [32]byte{}, err
	}
	h := sha256.Sum256(body)
	start := len(dst)
	dst = append(dst, body[:len(body)-1]...)
	dst = append(dst, hashMember...)
	dst = hex.AppendEncode(dst, h[:])
	dst = append(dst, '"', '}')
	whole := sha256.Sum256(dst[start:])
	dst = append(dst, '\n')
	return dst, whole, nil
}

// parseLine checks one line (without its newline) on its own: canonical
// JSON of exactly the record's members in order, and a hash that matches.
// It does not check the chain.
func parseLine(b []byte) (Record, error) {
	const suffix = len(hashMember) + 64 + len(`"}`)
	if len(b) < suffix+2 || len(b) > maxLineBytes {
		return Record{}, errors.New("not a record line")
	}
	i := len(b) - suffix
	if string(b[i:i+len(hashMember)]) != hashMember || string(b[len(b)-2:]) != `"}` {
		return Record{}, errors.New(`no final "hash" member`)
	}
	hash := string(b[i+len(hashMember) : len(b)-2])
	if !isHex64(hash) {
		return Record{}, errors.New("hash is not 64 lowercase hex digits")
	}
	body := make([]byte, i+1)
	copy(body, b[:i])
	body[i] = '}'

	var l line
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return Record{}, fmt.Errorf("bad JSON: %v", err)
	}
	if dec.More() {
		return Record{}, errors.New("bad JSON: data after the object")
	}
	if again, err := json.Marshal(l); err != nil || !bytes.Equal(again, body) {
		return Record{}, errors.New("not in canonical form")
	}
	if got := sha256.Sum256(body); hex.EncodeToString(got[:]) != hash {
		return Record{}, errors.New("hash does not match the line")
	}
	t, err := time.Parse(time.RFC3339Nano, l.Time)
	if err != nil || t.UTC().Format(time.RFC3339Nano) != l.Time {
		return Record{}, errors.New("time is not RFC 3339 UTC")
	}
	if !isHex64(l.Prev) {
		return Record{}, errors.New("prev is not 64 lowercase hex digits")
	}
	if l.Seq == 0 {
		return Record{}, errors.New("seq is 0")
	}
	return Record{
		Time: t.UTC(), PluginSHA256: l.PluginSHA256, KeyID: l.KeyID, KeyType: l.KeyType,
		DataSHA256: l.DataSHA256, Caller: l.Caller, TraceID: l.TraceID,
		Seq: l.Seq, Prev: l.Prev, Hash: hash,
	}, nil
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Head names one record of a log: its seq and the hex SHA-256 of its whole
// line (what the next record's prev holds). Kept outside the log (a
// monitoring system, a ticket, a signed note), a Head lets [VerifyHead]
// detect that lines were cut from the end, which the chain alone cannot.
// The zero Head names the empty log.
type Head struct {
	Seq  uint64
	Hash string
}

// String returns "SEQ:HASH", the form [ParseHead] reads.
func (h Head) String() string {
	hash := h.Hash
	if hash == "" {
		hash = zeroPrev
	}
	return strconv.FormatUint(h.Seq, 10) + ":" + hash
}

// ParseHead reads the form [Head.String] writes.
func ParseHead(s string) (Head, error) {
	seq, hash, ok := strings.Cut(s, ":")
	n, err := strconv.ParseUint(seq, 10, 64)
	if !ok || err != nil || !isHex64(hash) {
		return Head{}, fmt.Errorf("audit: head %q is not SEQ:HASH (64 lowercase hex digits)", s)
	}
	return Head{Seq: n, Hash: hash}, nil
}
