package oso

import (
	"encoding/binary"
	"iter"
	"slices"
	"unsafe"

	"github.com/osohost/osohost/abi"
)

// Document is one V1_3 document. Metadata is always a string: the host turns
// a JSON object into its text and an absent or null metadata into "".
//
// Documents yielded by [Documents.All] are views into the call's input: see
// [Document.Clone].
type Document struct {
	ID, Content, Metadata string
}

// Clone returns a copy of d that does not alias the input buffer, made with a
// single allocation. Use it to keep a document after the method returns.
func (d Document) Clone() Document {
	n := len(d.ID) + len(d.Content) + len(d.Metadata)
	if n == 0 {
		return Document{}
	}
	b := make([]byte, 0, n)
	b = append(b, d.ID...)
	b = append(b, d.Content...)
	b = append(b, d.Metadata...)
	s := unsafe.String(unsafe.SliceData(b), n)
	i, c := len(d.ID), len(d.ID)+len(d.Content)
	return Document{ID: s[:i], Content: s[i:c], Metadata: s[c:]}
}

// Documents is the DocumentList given to [Plugin.ToISV], in the compact
// encoding. Its documents are views into the input buffer, valid until the
// method returns. The zero value is an empty list.
type Documents struct {
	b []byte
	n int
}

// NewDocuments checks a compact DocumentList ([abi.AppendDocument]) and
// returns it as Documents aliasing b. It fails with [abi.ErrMalformed]. The
// SDK calls it for each to_isv call; tests use it to call a plugin natively.
func NewDocuments(b []byte) (Documents, error) {
	n, ok := checkList(b)
	if !ok {
		return Documents{}, abi.ErrMalformed
	}
	return Documents{b: b, n: n}, nil
}

// checkList walks a compact DocumentList once, without calls (function calls
// are expensive in Go's WebAssembly port), and returns its document count.
func checkList(b []byte) (int, bool) {
	if len(b) < 4 {
		return 0, false
	}
	n := u32(b, 0)
	if uint64(n)*12 > uint64(len(b)-4) { // three lengths per document
		return 0, false
	}
	i := 4
	for k := 3 * int(n); k > 0; k-- {
		if len(b)-i < 4 {
			return 0, false
		}
		l := u32(b, i)
		i += 4
		if uint64(l) > uint64(len(b)-i) {
			return 0, false
		}
		i += int(l)
	}
	return int(n), i == len(b)
}

// u32 reads a little-endian u32 at b[i:i+4].
func u32(b []byte, i int) uint32 {
	b = b[i : i+4 : i+4]
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// field returns the length-prefixed string at b[i:] as a view, and the
// index after it. b must have been checked by checkList.
func field(b []byte, i int) (string, int) {
	l := int(u32(b, i))
	i += 4
	if l == 0 { // no pointer one past the end of b
		return "", i
	}
	return unsafe.String(&b[i], l), i + l
}

// Len returns the number of documents.
func (d *Documents) Len() int { return d.n }

// All returns an iterator over the documents, in order. Each call starts
// from the first document. The yielded strings alias the input buffer.
func (d *Documents) All() iter.Seq[Document] {
	b, n := d.b, d.n
	return func(yield func(Document) bool) {
		i := 4
		for range n {
			var doc Document
			doc.ID, i = field(b, i)
			doc.Content, i = field(b, i)
			doc.Metadata, i = field(b, i)
			if !yield(doc) {
				return
			}
		}
	}
}

// view returns b as a string without copying; the string is valid as long as
// b is and must not outlive writes to it.
func view(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// DocumentList builds a DocumentList in the compact encoding, appending to a
// buffer the SDK reuses between calls. The zero value is an empty list; it
// is not safe for concurrent use.
type DocumentList struct {
	b []byte // u32 count placeholder, then the documents
	n uint32
}

// reset empties l and makes it append to buf.
func (l *DocumentList) reset(buf []byte) {
	l.b = append(buf[:0], 0, 0, 0, 0)
	l.n = 0
}

// Add appends d. The strings are copied, so views are fine.
func (l *DocumentList) Add(d Document) {
	l.Append(d.ID, d.Content, d.Metadata)
}

// Append appends the document (id, content, metadata).
func (l *DocumentList) Append(id, content, metadata string) {
	b := l.b
	if len(b) == 0 {
		b = append(b, 0, 0, 0, 0)
	}
	b = slices.Grow(b, 12+len(id)+len(content)+len(metadata))
	b = appendField(b, id)
	b = appendField(b, content)
	l.b = appendField(b, metadata)
	l.n++
}

// AppendWithMetadata appends the document (id, content, metadata) with the
// metadata given as bytes, typically JSON built in a buffer the plugin
// reuses: the bytes are copied, without the allocation a string
// conversion would cost.
func (l *DocumentList) AppendWithMetadata(id, content string, metadata []byte) {
	l.Append(id, content, view(metadata))
}

// appendField appends s as a length-prefixed string.
func appendField(b []byte, s string) []byte {
	n := uint32(len(s))
	b = append(b, byte(n), byte(n>>8), byte(n>>16), byte(n>>24))
	return append(b, s...)
}

// Len returns the number of documents appended so far.
func (l *DocumentList) Len() int { return int(l.n) }

// Bytes returns the compact encoding of the list. It aliases the list's
// buffer: valid until the next change to l, and in a plugin until the method
// returns.
func (l *DocumentList) Bytes() []byte {
	if len(l.b) == 0 {
		l.b = append(l.b, 0, 0, 0, 0)
	}
	binary.LittleEndian.PutUint32(l.b, l.n)
	return l.b
}
