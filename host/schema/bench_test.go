package schema_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/osohost/osohost/host/schema"
)

const benchDocs = 100

// benchList is benchDocs documents with a UUID id, about 100 bytes of
// content and a metadata string; with objects set, the metadata is a small
// JSON object instead.
func benchList(objects bool) []byte {
	var sb strings.Builder
	sb.WriteString(`{"documents":[`)
	for i := range benchDocs {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"id":"%08x-8711-4b76-b051-838faa4117a3","content":"transfer %06d units from account 0x9f8e7d6c5b4a to account 0x1a2b3c4d5e6f, memo: batch settlement","metadata":`, i, i)
		if objects {
			fmt.Fprintf(&sb, `{"chain":"eth","nonce":%d,"fee":0.00021,"tags":["a","b"]}}`, i)
		} else {
			fmt.Fprintf(&sb, `"{\"chain\": \"eth\", \"nonce\": %d}"}`, i)
		}
	}
	fmt.Fprintf(&sb, `],"count":%d}`, benchDocs)
	return []byte(sb.String())
}

func reportPerDoc(b *testing.B, loops int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(loops*benchDocs), "ns/doc")
}

func benchDecode(b *testing.B, objects bool) {
	in := benchList(objects)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		l, err := schema.DecodeDocumentList(in, schema.DefaultLimits)
		if err != nil || len(l.Documents) != benchDocs {
			b.Fatal(err)
		}
		n++
	}
	reportPerDoc(b, n)
}

func BenchmarkDecodeDocumentList_100Docs(b *testing.B)                { benchDecode(b, false) }
func BenchmarkDecodeDocumentList_100Docs_MetadataObject(b *testing.B) { benchDecode(b, true) }

func benchDocuments(b *testing.B) []schema.Document {
	l, err := schema.DecodeDocumentList(benchList(false), schema.DefaultLimits)
	if err != nil {
		b.Fatal(err)
	}
	return l.Documents
}

func BenchmarkAppendDocumentListJSON_100Docs(b *testing.B) {
	docs := benchDocuments(b)
	var buf []byte
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		buf = schema.AppendDocumentListJSON(buf[:0], docs)
		n++
	}
	b.SetBytes(int64(len(buf)))
	reportPerDoc(b, n)
}

func BenchmarkAppendCompact_100Docs(b *testing.B) {
	docs := benchDocuments(b)
	var buf []byte
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		buf = schema.AppendCompact(buf[:0], docs)
		n++
	}
	b.SetBytes(int64(len(buf)))
	reportPerDoc(b, n)
}

func BenchmarkDecodeCompactDocumentList_100Docs(b *testing.B) {
	in := schema.AppendCompact(nil, benchDocuments(b))
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if _, err := schema.DecodeCompactDocumentList(in, schema.DefaultLimits); err != nil {
			b.Fatal(err)
		}
		n++
	}
	reportPerDoc(b, n)
}

// BenchmarkRoundTrip_100Docs is the host's share of a request: decode and
// validate the body, encode it for the guest, and write a DocumentList
// back as JSON.
func BenchmarkRoundTrip_100Docs(b *testing.B) {
	in := benchList(false)
	var guest, out []byte
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		l, err := schema.DecodeDocumentList(in, schema.DefaultLimits)
		if err != nil {
			b.Fatal(err)
		}
		guest = schema.AppendCompact(guest[:0], l.Documents)
		out = schema.AppendDocumentListJSON(out[:0], l.Documents)
		n++
	}
	reportPerDoc(b, n)
}

// stdDocument and stdList decode a DocumentList with encoding/json, the
// reference the figures above are compared with.
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

var errStd = errors.New("invalid")

// stdDecodeEncode decodes, validates and re-encodes a DocumentList with
// encoding/json: required fields present, metadata a string or null
// (objects are not normalised here).
func stdDecodeEncode(in []byte) ([]byte, error) {
	var l stdList
	if err := json.Unmarshal(in, &l); err != nil {
		return nil, err
	}
	if l.Count == nil {
		return nil, errStd
	}
	out := stdOutList{Documents: make([]stdOutDocument, len(l.Documents)), Count: len(l.Documents)}
	for i, d := range l.Documents {
		if d.ID == nil || d.Content == nil {
			return nil, errStd
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

func BenchmarkEncodingJSON_RoundTrip_100Docs(b *testing.B) {
	in := benchList(false)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if _, err := stdDecodeEncode(in); err != nil {
			b.Fatal(err)
		}
		n++
	}
	reportPerDoc(b, n)
}

func BenchmarkEncodingJSON_Decode_100Docs(b *testing.B) {
	in := benchList(false)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		var l stdList
		if err := json.Unmarshal(in, &l); err != nil {
			b.Fatal(err)
		}
		n++
	}
	reportPerDoc(b, n)
}
