// Command queue is a frontend plugin for osohost: it keeps the documents the
// OSO posts in an in-memory queue and hands them back, oldest first, when the
// OSO asks for documents.
//
// Build it as a WASI reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o build/guests/queue.wasm ./examples/queue
package main

import (
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

// queue is the plugin. It keeps state in memory, so it is registered without
// oso.Stateless and the host runs a single instance of it.
type queue struct {
	docs  []oso.Document // oldest first; owned copies, not views
	bytes int            // sum of docSize over docs
	extra []byte         // reused buffer for the status extras
}

func docSize(d oso.Document) int {
	return len(d.ID) + len(d.Content) + len(d.Metadata)
}

// ToISV queues the posted documents and answers {"accepted":N,"queued":M}.
// The host has already validated them.
func (q *queue) ToISV(in *oso.Documents, out *oso.Reply) error {
	size := 0
	for d := range in.All() {
		size += docSize(d)
	}
	if len(q.docs)+in.Len() > maxDocs || q.bytes+size > maxBytes {
		oso.Log.Warnf("queue full: refused %d documents, %d queued", in.Len(), len(q.docs))
		return oso.Errorf(503, "queue full: %d documents queued, retry later", len(q.docs))
	}
	for d := range in.All() {
		q.docs = append(q.docs, d.Clone()) // the views die with the call
	}
	q.bytes += size

	o := oso.NewJSONObject(out.Buffer())
	o.Int("accepted", int64(in.Len()))
	o.Int("queued", int64(len(q.docs)))
	out.SetJSON(o.End())
	return nil
}

// ToOSO drains the queue, oldest first, up to maxBatchBytes per call.
func (q *queue) ToOSO(out *oso.DocumentList) error {
	n, size := 0, 0
	for _, d := range q.docs {
		s := docSize(d) + 12 // three length prefixes
		if n > 0 && size+s > maxBatchBytes {
			break
		}
		out.Add(d)
		n++
		size += s
	}
	for _, d := range q.docs[:n] {
		q.bytes -= docSize(d)
	}
	rest := copy(q.docs, q.docs[n:])
	clear(q.docs[rest:]) // let the collector free the drained documents
	q.docs = q.docs[:rest]
	return nil
}

// Status reports 200 OK with the queue depth as an extra member.
func (q *queue) Status() (oso.Status, error) {
	o := oso.NewJSONObject(q.extra[:0])
	o.Int("queued", int64(len(q.docs)))
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
