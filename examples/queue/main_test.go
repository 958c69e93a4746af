package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/osohost/osohost/abi"
	oso "github.com/osohost/osohost/guest-sdk/go"
)

func list(t *testing.T, docs ...oso.Document) *oso.Documents {
	t.Helper()
	b := abi.AppendDocumentListHeader(nil, len(docs))
	for _, d := range docs {
		b = abi.AppendDocument(b, d.ID, d.Content, d.Metadata)
	}
	in, err := oso.NewDocuments(b)
	if err != nil {
		t.Fatal(err)
	}
	return &in
}

// reset empties the state, which outside WebAssembly is an in-memory map
// of the test process.
func reset(t *testing.T) {
	t.Helper()
	clear := func() {
		var keys []string
		if err := oso.KVList("", func(k string) bool { keys = append(keys, k); return true }); err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if _, err := oso.KVDelete(k); err != nil {
				t.Fatal(err)
			}
		}
	}
	clear()
	t.Cleanup(clear)
}

func queued(t *testing.T) meta {
	t.Helper()
	m, err := loadMeta()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func drain(t *testing.T, q *queue) []oso.Document {
	t.Helper()
	var out oso.DocumentList
	if err := q.ToOSO(&out); err != nil {
		t.Fatal(err)
	}
	in, err := oso.NewDocuments(out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	var docs []oso.Document
	for d := range in.All() {
		docs = append(docs, d.Clone())
	}
	return docs
}

func TestQueue(t *testing.T) {
	reset(t)
	q := &queue{}
	var reply oso.Reply
	if err := q.ToISV(list(t, oso.Document{ID: "a", Content: "1"}, oso.Document{ID: "b", Content: "2", Metadata: `{"k": 1}`}), &reply); err != nil {
		t.Fatal(err)
	}
	if kind, out := reply.Output(); kind != abi.OutputJSON || string(out) != `{"accepted":2,"queued":2}` {
		t.Errorf("ToISV answered (%d, %s)", kind, out)
	}
	st, err := q.Status()
	if err != nil || st.Code != 200 || string(st.Extra) != `{"queued":2}` {
		t.Errorf("Status() = %+v, %v", st, err)
	}
	got := drain(t, q)
	if len(got) != 2 || got[0].ID != "a" || got[1].Metadata != `{"k": 1}` {
		t.Errorf("drained %q", got)
	}
	if got, m := drain(t, q), queued(t); len(got) != 0 || m.count != 0 || m.bytes != 0 || m.next != 2 {
		t.Errorf("second drain = %q, bookkeeping %+v", got, m)
	}
	// Only the bookkeeping record is left.
	var keys []string
	oso.KVList("", func(k string) bool { keys = append(keys, k); return true })
	if len(keys) != 1 || keys[0] != metaKey {
		t.Errorf("keys left: %q", keys)
	}
}

// TestQueue_Order: documents come back in arrival order, also across more
// than 10 of them (keys sort as numbers).
func TestQueue_Order(t *testing.T) {
	reset(t)
	q := &queue{}
	for i := range 25 {
		if err := q.ToISV(list(t, oso.Document{ID: fmt.Sprint(i)}), &oso.Reply{}); err != nil {
			t.Fatal(err)
		}
	}
	got := drain(t, q)
	if len(got) != 25 {
		t.Fatalf("%d documents", len(got))
	}
	for i, d := range got {
		if d.ID != fmt.Sprint(i) {
			t.Fatalf("document %d is %q", i, d.ID)
		}
	}
}

func TestQueue_StateErrors(t *testing.T) {
	reset(t)
	q := &queue{}
	oso.KVPut(metaKey, []byte("garbage"))
	if err := q.ToISV(list(t, oso.Document{ID: "x"}), &oso.Reply{}); err == nil {
		t.Fatal("ToISV on a malformed bookkeeping record succeeded")
	}
	if st, _ := q.Status(); st.Code != 500 || len(st.Errors) != 1 {
		t.Fatalf("Status() = %+v", st)
	}
}

func TestQueue_ToOSO_Batches(t *testing.T) {
	reset(t)
	q := &queue{}
	big := strings.Repeat("x", 700<<10) // each one state value
	for i := range 8 {
		if err := q.ToISV(list(t, oso.Document{ID: fmt.Sprint(i), Content: big}), &oso.Reply{}); err != nil {
			t.Fatal(err)
		}
	}
	first := drain(t, q)
	if len(first) == 0 || len(first) >= 8 {
		t.Fatalf("first batch has %d documents, want between 1 and 7", len(first))
	}
	rest := drain(t, q)
	if len(first)+len(rest) != 8 || rest[0].ID != fmt.Sprint(len(first)) {
		t.Errorf("batches of %d and %d documents, rest starts at %q", len(first), len(rest), rest[0].ID)
	}
}

func TestQueue_ToISV_Errors(t *testing.T) {
	tests := []struct {
		name  string
		fill  int // documents queued before
		bytes int // bytes queued before
		batch []oso.Document
		code  int
	}{
		{"too many documents", maxDocs, 0, []oso.Document{{ID: "x"}}, 503},
		{"too many bytes", 1, maxBytes - 4, []oso.Document{{ID: "x", Content: "abcd"}}, 503},
		{"document too large to queue", 0, 0, []oso.Document{{ID: "x", Content: strings.Repeat("x", abi.MaxKVValueBytes)}}, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reset(t)
			before := meta{next: 7, count: uint64(tt.fill), bytes: uint64(tt.bytes)}
			if err := before.save(); err != nil {
				t.Fatal(err)
			}
			q := &queue{}
			err := q.ToISV(list(t, tt.batch...), &oso.Reply{})
			var e oso.Error
			if !errors.As(err, &e) || e.Code != tt.code {
				t.Fatalf("ToISV() = %v, want a %d oso.Error", err, tt.code)
			}
			// On the host the call's writes are rolled back; natively the
			// refusal happens before any write.
			if m := queued(t); m != before {
				t.Errorf("refused batch changed the bookkeeping to %+v", m)
			}
			if docs := drain(t, q); len(docs) != 0 {
				t.Errorf("refused batch queued %d documents", len(docs))
			}
		})
	}
}
