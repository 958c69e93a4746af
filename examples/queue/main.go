// Command queue is a frontend plugin for osohost: it keeps the documents the
// OSO posts in a queue in the host's durable state and hands them back,
// oldest first, when the OSO asks for documents.
//
// Build it as a WASI reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o build/guests/queue.wasm ./examples/queue
package main

import (
	"encoding/binary"
	"errors"
	"strconv"

	"github.com/osohost/osohost/abi"
	oso "github.com/osohost/osohost/guest-sdk/go"
)

// Bounds of the queue. A batch that would exceed either is refused whole
// with 503, so the OSO can retry it later.
const (
	maxDocs  = 10000
	maxBytes = 64 << 20 // id, content and metadata bytes
	// maxBatchBytes bounds one to_oso answer (compact encoding), well under
	// the host's default output limit; what does not fit waits for the
	// next call.
	maxBatchBytes = 4 << 20
)

// State layout. Every queued document is one key, docPrefix followed by
// its sequence number in 20 decimal digits, so that keys sort in arrival
// order; its value is the document as a one-document compact DocumentList.
// metaKey holds three little-endian u64: the next sequence number, the
// number of queued documents and their bytes.
const (
	docPrefix = "doc/"
	metaKey   = "meta"
)

// meta is the queue's bookkeeping, read and written in each call's
// transaction.
type meta struct {
	next, count, bytes uint64
}

func loadMeta() (meta, error) {
	v, ok, err := oso.KVGet(metaKey)
	if err != nil || !ok {
		return meta{}, err
	}
	if len(v) != 24 {
		return meta{}, errors.New("queue: malformed bookkeeping record")
	}
	return meta{binary.LittleEndian.Uint64(v), binary.LittleEndian.Uint64(v[8:]), binary.LittleEndian.Uint64(v[16:])}, nil
}

func (m meta) save() error {
	b := make([]byte, 0, 24)
	b = binary.LittleEndian.AppendUint64(b, m.next)
	b = binary.LittleEndian.AppendUint64(b, m.count)
	b = binary.LittleEndian.AppendUint64(b, m.bytes)
	return oso.KVPut(metaKey, b)
}

func docKey(seq uint64) string {
	s := strconv.FormatUint(seq, 10)
	return docPrefix + "00000000000000000000"[len(s):] + s
}

// queue is the plugin. It keeps nothing in memory but reusable buffers; it
// is not declared stateless only so that the host runs one instance by
// default: concurrent calls would conflict on the bookkeeping record and
// one of them would be answered 503 (see README.md).
type queue struct {
	val   []byte // reused buffer for a stored document
	extra []byte // reused buffer for the status extras
}

func docSize(d oso.Document) int {
	return len(d.ID) + len(d.Content) + len(d.Metadata)
}

// stateFailure turns a state error into the request's answer: 503 when
// the queue's quota is reached or the host's storage failed (the OSO may
// retry), a generic 500 otherwise.
func stateFailure(err error) error {
	switch {
	case errors.Is(err, oso.ErrLimited):
		oso.Log.Warn("queue: state quota reached: " + err.Error())
		return oso.Error{Code: 503, Message: "queue full, retry later"}
	case errors.Is(err, oso.ErrUnavailable):
		oso.Log.Warn("queue: " + err.Error())
		return oso.Error{Code: 503, Message: "queue storage unavailable, retry later"}
	}
	return err
}

// ToISV queues the posted documents and answers {"accepted":N,"queued":M}.
// The host has already validated them, and commits them (or nothing) when
// the call succeeded.
func (q *queue) ToISV(in *oso.Documents, out *oso.Reply) error {
	m, err := loadMeta()
	if err != nil {
		return stateFailure(err)
	}
	size := 0
	for d := range in.All() {
		size += docSize(d)
	}
	if m.count+uint64(in.Len()) > maxDocs || m.bytes+uint64(size) > maxBytes {
		oso.Log.Warnf("queue full: refused %d documents, %d queued", in.Len(), m.count)
		return oso.Errorf(503, "queue full: %d documents queued, retry later", m.count)
	}
	for d := range in.All() {
		v := abi.AppendDocumentListHeader(q.val[:0], 1)
		v = abi.AppendDocument(v, d.ID, d.Content, d.Metadata)
		q.val = v
		if len(v) > abi.MaxKVValueBytes {
			return oso.Errorf(413, "document %s is too large to queue", d.ID)
		}
		if err := oso.KVPut(docKey(m.next), v); err != nil {
			return stateFailure(err)
		}
		m.next++
	}
	m.count += uint64(in.Len())
	m.bytes += uint64(size)
	if err := m.save(); err != nil {
		return stateFailure(err)
	}
	o := oso.NewJSONObject(out.Buffer())
	o.Int("accepted", int64(in.Len()))
	o.Int("queued", int64(m.count))
	out.SetJSON(o.End())
	return nil
}

// ToOSO hands over the queued documents, oldest first, up to maxBatchBytes
// per call, and deletes them in the same transaction: they leave the queue
// only when the host commits this call, before it sends the answer.
func (q *queue) ToOSO(out *oso.DocumentList) error {
	m, err := loadMeta()
	if err != nil {
		return stateFailure(err)
	}
	n, size, docBytes := 0, 0, 0
	var failed error
	err = oso.KVList(docPrefix, func(k string) bool {
		v, ok, err := oso.KVGet(k)
		if err != nil || !ok {
			failed = err
			return false
		}
		docs, err := oso.NewDocuments(v)
		if err != nil || docs.Len() != 1 {
			failed = errors.New("queue: malformed queued document " + k)
			return false
		}
		s := len(v) - 4
		if n > 0 && size+s > maxBatchBytes {
			return false
		}
		for d := range docs.All() {
			out.Add(d)
			docBytes += docSize(d)
		}
		if _, err := oso.KVDelete(k); err != nil {
			failed = err
			return false
		}
		n++
		size += s
		return true
	})
	if err == nil {
		err = failed
	}
	if err != nil {
		return stateFailure(err)
	}
	if n == 0 {
		return nil // nothing written: the commit costs no disk write
	}
	m.count -= min(m.count, uint64(n))
	m.bytes -= min(m.bytes, uint64(docBytes))
	return stateFailure(m.save())
}

// Status reports 200 OK with the queue depth as an extra member (without
// it when the host runs the call without state, as a reload's check may),
// or 500 with an error item when the state cannot be read.
func (q *queue) Status() (oso.Status, error) {
	m, err := loadMeta()
	if errors.Is(err, oso.ErrNotAllowed) {
		return oso.OK(), nil
	}
	if err != nil {
		oso.Log.Error("queue: status: " + err.Error())
		return oso.Status{
			Code:   500,
			Status: "Internal Server Error",
			Errors: []oso.StatusError{{Code: "state", Message: "queue storage unavailable"}},
		}, nil
	}
	o := oso.NewJSONObject(q.extra[:0])
	o.Int("queued", int64(m.count))
	q.extra = o.End()
	s := oso.OK()
	s.Extra = q.extra
	return s, nil
}

func init() {
	oso.Register(&queue{})
}

// main is never called: a -buildmode=c-shared module only runs package
// initialisers (see init above) before the host calls its exports.
func main() {}
