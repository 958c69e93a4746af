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
	if got := drain(t, q); len(got) != 0 || q.bytes != 0 {
		t.Errorf("second drain = %q, bytes %d", got, q.bytes)
	}
}

func TestQueue_ToOSO_Batches(t *testing.T) {
	q := &queue{}
	big := strings.Repeat("x", 1<<20)
	for i := range 6 {
		if err := q.ToISV(list(t, oso.Document{ID: fmt.Sprint(i), Content: big}), &oso.Reply{}); err != nil {
			t.Fatal(err)
		}
	}
	first := drain(t, q)
	if len(first) == 0 || len(first) >= 6 {
		t.Fatalf("first batch has %d documents, want between 1 and 5", len(first))
	}
	rest := drain(t, q)
	if len(first)+len(rest) != 6 || rest[0].ID != fmt.Sprint(len(first)) {
		t.Errorf("batches of %d and %d documents, rest starts at %q", len(first), len(rest), rest[0].ID)
	}
}

func TestQueue_ToISV_Errors(t *testing.T) {
	tests := []struct {
		name  string
		fill  int // documents queued before
		bytes int // bytes queued before
		batch []oso.Document
	}{
		{"too many documents", maxDocs, 0, []oso.Document{{ID: "x"}}},
		{"too many bytes", 1, maxBytes - 4, []oso.Document{{ID: "x", Content: "abcd"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := &queue{docs: make([]oso.Document, tt.fill), bytes: tt.bytes}
			err := q.ToISV(list(t, tt.batch...), &oso.Reply{})
			var e oso.Error
			if !errors.As(err, &e) || e.Code != 503 {
				t.Fatalf("ToISV() = %v, want a 503 oso.Error", err)
			}
			if len(q.docs) != tt.fill {
				t.Errorf("refused batch changed the queue to %d documents", len(q.docs))
			}
		})
	}
}
