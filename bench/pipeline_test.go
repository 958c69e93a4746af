package bench

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/host/api"
	"github.com/osohost/osohost/host/plugin"
	"github.com/osohost/osohost/host/schema"
)

// postBody returns the JSON body of a POST of docs, as the OSO sends it.
func postBody(tb testing.TB, docs []schema.Document) []byte {
	tb.Helper()
	type doc struct {
		ID       string `json:"id"`
		Content  string `json:"content"`
		Metadata string `json:"metadata"`
	}
	l := struct {
		Documents []doc `json:"documents"`
		Count     int   `json:"count"`
	}{Count: len(docs)}
	for _, d := range docs {
		l.Documents = append(l.Documents, doc(d))
	}
	b, err := json.Marshal(l)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// BenchmarkPipeline100 is the host's whole handling of a 100-document POST
// without transport, per document, against plain Go.
//
// path=osohost is api.EncodeInput (decode, validate, compact encoding),
// Pool.Call of to_isv on the echo guest (DeadlineInterrupt, a context with
// a deadline as a request has) and api.EncodeOutput (validate the guest's
// DocumentList, write JSON). path=host is the same without the guest:
// EncodeInput and EncodeOutput of a result taken beforehand.
// path=encodingjson is the native reference: encoding/json decodes the
// body into structs, checks the required members and encodes the list
// again.
func BenchmarkPipeline100(b *testing.B) {
	docs := documents(listDocs)
	body := postBody(b, docs)
	lim := api.Limits()
	want := schema.AppendDocumentListJSON(nil, docs)
	// Every path runs while the pool exists, so that all three see the same
	// heap (an instance's memory is part of the Go heap and so moves the
	// garbage collector's target).
	p := newPool(b, "echoguest", plugin.DeadlineInterrupt)
	b.Run("path=osohost", func(b *testing.B) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		run := func() (int, []byte, error) {
			in, err := api.EncodeInput(body, lim, nil)
			if err != nil {
				return 0, nil, err
			}
			res, err := p.Call(ctx, abi.ExportToISV, in)
			if err != nil {
				return 0, nil, err
			}
			return api.EncodeOutput(abi.ExportToISV, res, lim)
		}
		measurePipeline(b, body, want, run)
	})
	b.Run("path=host", func(b *testing.B) {
		res := plugin.Result{Kind: abi.OutputDocumentList, Data: schema.AppendCompact(nil, docs)}
		run := func() (int, []byte, error) {
			if _, err := api.EncodeInput(body, lim, nil); err != nil {
				return 0, nil, err
			}
			return api.EncodeOutput(abi.ExportToISV, res, lim)
		}
		measurePipeline(b, body, want, run)
	})
	b.Run("path=encodingjson", func(b *testing.B) {
		out, err := stdDecodeEncode(body)
		if err != nil {
			b.Fatal(err)
		}
		var back stdList
		if err := json.Unmarshal(out, &back); err != nil || len(back.Documents) != listDocs {
			b.Fatalf("encoding/json round trip: %d documents, %v", len(back.Documents), err)
		}
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			if _, err := stdDecodeEncode(body); err != nil {
				b.Fatal(err)
			}
			n++
		}
		perDoc(b, n, listDocs)
	})
}

// stdDocument and stdList decode a DocumentList with encoding/json: the
// pointers tell a missing member from an empty one.
type stdDocument struct {
	ID       *string         `json:"id"`
	Content  *string         `json:"content"`
	Metadata json.RawMessage `json:"metadata,omitempty"`
}

type stdList struct {
	Documents []stdDocument `json:"documents"`
	Count     *int64        `json:"count"`
}

type stdOutDocument struct {
	ID       string `json:"id"`
	Content  string `json:"content"`
	Metadata string `json:"metadata"`
}

type stdOutList struct {
	Documents []stdOutDocument `json:"documents"`
	Count     int              `json:"count"`
}

var errMissing = errors.New("missing member")

// stdDecodeEncode decodes, validates and encodes a DocumentList with
// encoding/json alone: count, id and content required, metadata a string
// or null.
func stdDecodeEncode(in []byte) ([]byte, error) {
	var l stdList
	if err := json.Unmarshal(in, &l); err != nil {
		return nil, err
	}
	if l.Count == nil {
		return nil, errMissing
	}
	out := stdOutList{Documents: make([]stdOutDocument, len(l.Documents)), Count: len(l.Documents)}
	for i, d := range l.Documents {
		if d.ID == nil || d.Content == nil {
			return nil, errMissing
		}
		out.Documents[i] = stdOutDocument{ID: *d.ID, Content: *d.Content}
		if len(d.Metadata) > 0 && string(d.Metadata) != "null" {
			if err := json.Unmarshal(d.Metadata, &out.Documents[i].Metadata); err != nil {
				return nil, err
			}
		}
	}
	return json.Marshal(out)
}

// measurePipeline checks that run answers 200 with want, then times run
// per document.
func measurePipeline(b *testing.B, body, want []byte, run func() (int, []byte, error)) {
	code, out, err := run()
	if err != nil || code != http.StatusOK || string(out) != string(want) {
		b.Fatalf("status %d, %d bytes, %v", code, len(out), err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if _, _, err := run(); err != nil {
			b.Fatal(err)
		}
		n++
	}
	perDoc(b, n, listDocs)
}
