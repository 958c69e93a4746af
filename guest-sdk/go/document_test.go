package oso

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/osohost/osohost/abi"
)

func encodeList(docs ...Document) []byte {
	b := abi.AppendDocumentListHeader(nil, len(docs))
	for _, d := range docs {
		b = abi.AppendDocument(b, d.ID, d.Content, d.Metadata)
	}
	return b
}

var sampleDocs = []Document{
	{ID: "a", Content: "hello", Metadata: ""},
	{ID: "", Content: "", Metadata: `{"k": "v"}`},
	{ID: "é\u00e9", Content: "x\x00y", Metadata: "m"},
}

func TestNewDocuments(t *testing.T) {
	tests := []struct {
		name string
		docs []Document
	}{
		{"empty", nil},
		{"one", sampleDocs[:1]},
		{"three", sampleDocs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := NewDocuments(encodeList(tt.docs...))
			if err != nil {
				t.Fatal(err)
			}
			if d.Len() != len(tt.docs) {
				t.Errorf("Len() = %d, want %d", d.Len(), len(tt.docs))
			}
			for pass := range 2 { // All restarts from the first document
				got := slices.Collect(d.All())
				if !slices.Equal(got, tt.docs) {
					t.Errorf("pass %d: All() = %q, want %q", pass, got, tt.docs)
				}
			}
		})
	}
}

func TestNewDocuments_Errors(t *testing.T) {
	valid := encodeList(sampleDocs...)
	tests := []struct {
		name string
		b    []byte
	}{
		{"nil", nil},
		{"short header", []byte{1, 0}},
		{"truncated", valid[:len(valid)-1]},
		{"trailing bytes", append(slices.Clone(valid), 0)},
		{"empty list with trailing bytes", []byte{0, 0, 0, 0, 0}},
		{"count too large", append([]byte{9, 0, 0, 0}, valid[4:]...)},
		{"string past end", []byte{1, 0, 0, 0, 200, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewDocuments(tt.b); !errors.Is(err, abi.ErrMalformed) {
				t.Errorf("NewDocuments(%v) error = %v, want ErrMalformed", tt.b, err)
			}
			if err := abiCheck(tt.b); !errors.Is(err, abi.ErrMalformed) {
				t.Errorf("abi.DocumentReader on %v: error = %v, want ErrMalformed", tt.b, err)
			}
		})
	}
}

func TestDocuments_All_Break(t *testing.T) {
	d, err := NewDocuments(encodeList(sampleDocs...))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for range d.All() {
		n++
		break
	}
	if n != 1 {
		t.Errorf("iterations after break = %d, want 1", n)
	}
	var zero Documents
	for doc := range zero.All() {
		t.Errorf("zero Documents yielded %q", doc)
	}
}

func TestDocument_Clone(t *testing.T) {
	b := encodeList(sampleDocs...)
	d, err := NewDocuments(b)
	if err != nil {
		t.Fatal(err)
	}
	var kept []Document
	for doc := range d.All() {
		kept = append(kept, doc.Clone())
	}
	clear(b) // the next call overwrites the input buffer
	if !slices.Equal(kept, sampleDocs) {
		t.Errorf("clones changed with the input: %q, want %q", kept, sampleDocs)
	}
	if got := (Document{}).Clone(); got != (Document{}) {
		t.Errorf("zero Clone() = %q", got)
	}
}

func TestDocumentList(t *testing.T) {
	var zero DocumentList
	if got := zero.Bytes(); !bytes.Equal(got, []byte{0, 0, 0, 0}) {
		t.Errorf("zero Bytes() = %v, want an empty list", got)
	}

	var l DocumentList
	l.reset(make([]byte, 3, 64)) // a dirty reused buffer
	for _, d := range sampleDocs {
		l.Add(d)
	}
	if l.Len() != len(sampleDocs) {
		t.Errorf("Len() = %d", l.Len())
	}
	if got, want := l.Bytes(), encodeList(sampleDocs...); !bytes.Equal(got, want) {
		t.Errorf("Bytes() = %v, want %v", got, want)
	}

	var z DocumentList
	z.Append("i", "c", "m")
	if got, want := z.Bytes(), encodeList(Document{"i", "c", "m"}); !bytes.Equal(got, want) {
		t.Errorf("zero-value Append: Bytes() = %v, want %v", got, want)
	}
}

// abiCheck reads b with the abi package's reader, which the host uses.
func abiCheck(b []byte) error {
	r, err := abi.NewDocumentReader(b)
	if err != nil {
		return err
	}
	for {
		if _, ok := r.Next(); !ok {
			return r.Err()
		}
	}
}

func FuzzNewDocuments(f *testing.F) {
	f.Add(encodeList())
	f.Add(encodeList(sampleDocs...))
	f.Add([]byte{0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := NewDocuments(b)
		if abiErr := abiCheck(b); (err == nil) != (abiErr == nil) {
			t.Fatalf("NewDocuments error %v, abi.DocumentReader error %v", err, abiErr)
		}
		if err != nil {
			return
		}
		var l DocumentList
		for doc := range d.All() {
			l.Add(doc)
		}
		if l.Len() != d.Len() {
			t.Fatalf("All() yielded %d documents, Len() = %d", l.Len(), d.Len())
		}
		if !bytes.Equal(l.Bytes(), b) {
			t.Fatalf("accepted list does not re-encode to the same bytes")
		}
	})
}
