package schema

import (
	"strconv"
	"unicode/utf8"

	"github.com/osohost/osohost/abi"
)

// Document is one V1_3 Document. Metadata is always a string: "" when the
// client sent none or null, the normalised text when it sent an object.
type Document struct {
	ID, Content, Metadata string
}

// DocumentList is a V1_3 DocumentList.
type DocumentList struct {
	// Documents is nil when the list is empty.
	Documents []Document
	// Count is the count the client sent. It is not compared with
	// len(Documents); a caller may log a mismatch. See [DecodeDocumentList]
	// for the forms accepted.
	Count int64
}

// DecodeDocumentList parses and validates a V1_3 DocumentList in JSON, from
// a client request or from a guest that hands its list back as JSON text.
//
// The input must be one RFC 8259 JSON object, UTF-8 without a byte order
// mark, with nothing but whitespace after it. NaN and Infinity are refused,
// as are unpaired surrogate escapes (\ud800).
//
// Members: "documents" is an array of Document objects (absent: empty;
// null: an error); "count" is required and accepts the framework's lax
// integers (42, 42.0, 1e3, true, "42", " 4_2 "), clamped to the int64
// range. In each document "id" and "content" are required strings;
// "metadata" is a string, kept as it is, null or absent (both ""), or an
// object, replaced by the text Python's json.dumps gives for it. Other
// members are validated as JSON and dropped. A repeated member name keeps
// the last value, at every level.
//
// Errors are a [*ValidationError] or a [*LimitError]; see [Limits] for the
// bounds. b is not retained. The returned strings are copied from b once
// and share one backing array: retaining any of them retains the decoded
// text of the whole list. DecodeDocumentList is safe for concurrent use.
func DecodeDocumentList(b []byte, lim Limits) (DocumentList, error) {
	lim = lim.withDefaults()
	if len(b) > lim.MaxBodyBytes {
		return DocumentList{}, &LimitError{Limit: lim.MaxBodyBytes, Unit: "bytes"}
	}
	d := listDecoder{
		s:   scanner{b: b, maxDepth: lim.MaxDepth, pyInts: true, at: path{idx: -1}},
		lim: lim,
		out: make([]byte, 0, len(b)),
	}
	return d.decode()
}

type listDecoder struct {
	s        scanner
	lim      Limits
	out      []byte     // decoded strings, sealed once decoding is done
	docs     []docSpans // pointer-free while decoding: no write barriers, no scanning
	docsErr  error      // first schema error in the current "documents" value
	count    int64
	countSet bool
	countErr error // schema error in the current "count" value
}

var root = path{idx: -1}

func (d *listDecoder) decode() (DocumentList, error) {
	s := &d.s
	if err := s.start(); err != nil {
		return DocumentList{}, err
	}
	if s.peek() != '{' {
		if err := s.skip(); err != nil {
			return DocumentList{}, err
		}
		if err := s.end(); err != nil {
			return DocumentList{}, err
		}
		return DocumentList{}, invalid(root, "must be a JSON object")
	}
	if err := s.enter(); err != nil {
		return DocumentList{}, err
	}
	if !s.empty('}') {
		for {
			s.at = root
			key, err := s.key()
			if err != nil {
				return DocumentList{}, err
			}
			if err := s.colon(); err != nil {
				return DocumentList{}, err
			}
			switch string(key) {
			case "documents":
				err = d.documents()
			case "count":
				err = d.countValue()
			default:
				err = s.skip()
			}
			if err != nil {
				return DocumentList{}, err
			}
			s.at = root
			more, err := s.next('}')
			if err != nil {
				return DocumentList{}, err
			}
			if !more {
				break
			}
		}
	}
	if err := s.end(); err != nil {
		return DocumentList{}, err
	}
	switch {
	case d.docsErr != nil:
		return DocumentList{}, d.docsErr
	case d.countErr != nil:
		return DocumentList{}, d.countErr
	case !d.countSet:
		return DocumentList{}, invalid(path{top: "count", idx: -1}, "is required")
	}
	l := DocumentList{Count: d.count}
	if len(d.docs) > 0 {
		all := seal(d.out)
		l.Documents = make([]Document, len(d.docs))
		for i, x := range d.docs {
			l.Documents[i] = Document{
				ID:       all[x.id.a:x.id.b],
				Content:  all[x.content.a:x.content.b],
				Metadata: all[x.metadata.a:x.metadata.b],
			}
		}
	}
	return l, nil
}

// documents decodes the value of "documents"; a repeated member replaces
// the list decoded before.
func (d *listDecoder) documents() error {
	s := &d.s
	s.at = path{top: "documents", idx: -1}
	d.docs = d.docs[:0]
	d.docsErr = nil
	switch s.peek() {
	case '[':
	case 'n':
		if err := s.literal("null"); err != nil {
			return err
		}
		d.docsErr = invalid(s.at, "must be an array, not null")
		return nil
	default:
		if err := s.skip(); err != nil {
			return err
		}
		d.docsErr = invalid(s.at, "must be an array")
		return nil
	}
	if err := s.enter(); err != nil {
		return err
	}
	if s.empty(']') {
		return nil
	}
	for i := 0; ; i++ {
		if i >= d.lim.MaxDocuments {
			return &LimitError{Field: "documents", Limit: d.lim.MaxDocuments, Unit: "documents"}
		}
		s.at = path{top: "documents", idx: i}
		if err := d.document(); err != nil {
			return err
		}
		more, err := s.next(']')
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
	}
}

// Field states within one document.
const (
	absent = iota
	present
	wrongType
)

func (d *listDecoder) document() error {
	s := &d.s
	if s.peek() != '{' {
		if err := s.skip(); err != nil {
			return err
		}
		d.fail("", "must be an object")
		return nil
	}
	if err := s.enter(); err != nil {
		return err
	}
	var x docSpans
	var id, content, meta int
	if !s.empty('}') {
		for {
			key, err := s.key()
			if err != nil {
				return err
			}
			if err := s.colon(); err != nil {
				return err
			}
			switch string(key) {
			case "id":
				s.at.sub = "id"
				x.id, id, err = d.stringValue(d.lim.MaxIDBytes)
			case "content":
				s.at.sub = "content"
				x.content, content, err = d.stringValue(d.lim.MaxContentBytes)
			case "metadata":
				s.at.sub = "metadata"
				x.metadata, meta, err = d.metadataValue()
			default:
				err = s.skip()
			}
			if err != nil {
				return err
			}
			s.at.sub = ""
			more, err := s.next('}')
			if err != nil {
				return err
			}
			if !more {
				break
			}
		}
	}
	switch {
	case id == absent:
		d.fail("id", "is required")
	case id == wrongType:
		d.fail("id", "must be a string")
	case content == absent:
		d.fail("content", "is required")
	case content == wrongType:
		d.fail("content", "must be a string")
	case meta == wrongType:
		d.fail("metadata", "must be a string, an object or null")
	}
	d.docs = append(d.docs, x)
	return nil
}

// fail records the first schema error of the current documents value.
func (d *listDecoder) fail(sub, reason string) {
	if d.docsErr == nil {
		p := d.s.at
		p.sub = sub
		d.docsErr = invalid(p, reason)
	}
}

// span is a range of the decoder's output buffer.
type span struct{ a, b int }

type docSpans struct{ id, content, metadata span }

func (d *listDecoder) stringValue(max int) (span, int, error) {
	s := &d.s
	if s.peek() != '"' {
		return span{}, wrongType, s.skip()
	}
	a := len(d.out)
	var err error
	if d.out, err = s.str(d.out, strRaw); err != nil {
		return span{}, 0, err
	}
	if len(d.out)-a > max {
		return span{}, 0, &LimitError{Field: s.at.String(), Limit: max, Unit: "bytes"}
	}
	return span{a, len(d.out)}, present, nil
}

func (d *listDecoder) metadataValue() (span, int, error) {
	s := &d.s
	var err error
	a := len(d.out)
	switch s.peek() {
	case '"':
		d.out, err = s.str(d.out, strRaw)
	case '{':
		d.out, err = s.pyObject(d.out)
	case 'n':
		return span{}, present, s.literal("null")
	default:
		return span{}, wrongType, s.skip()
	}
	if err != nil {
		return span{}, 0, err
	}
	if len(d.out)-a > d.lim.MaxMetadataBytes {
		return span{}, 0, &LimitError{Field: s.at.String(), Limit: d.lim.MaxMetadataBytes, Unit: "bytes"}
	}
	return span{a, len(d.out)}, present, nil
}

// countValue decodes the value of "count"; see count.go for the rules.
func (d *listDecoder) countValue() error {
	s := &d.s
	s.at = path{top: "count", idx: -1}
	d.countSet, d.countErr, d.count = true, nil, 0
	reason := ""
	switch c := s.peek(); {
	case c == '"':
		var err error
		if s.keybuf, err = s.str(s.keybuf[:0], strRaw); err != nil {
			return err
		}
		v, ok := countFromString(string(s.keybuf))
		if !ok {
			reason = "must be an integer"
		}
		d.count = v
	case c == 't':
		d.count = 1
		if err := s.literal("true"); err != nil {
			return err
		}
	case c == 'f':
		if err := s.literal("false"); err != nil {
			return err
		}
	case c == '-' || isDigit(c):
		lit, isFloat, err := s.number()
		if err != nil {
			return err
		}
		d.count, reason = countFromNumber(lit, isFloat)
	default:
		if err := s.skip(); err != nil {
			return err
		}
		reason = "must be an integer"
	}
	if reason != "" {
		d.countErr = invalid(s.at, reason)
	}
	return nil
}

// AppendDocumentListJSON appends docs as a compact V1_3 DocumentList,
// {"documents":[{"id":…,"content":…,"metadata":…},…],"count":len(docs)},
// and returns the extended buffer. Strings keep their UTF-8 as it is;
// '"', '\\', control characters and U+2028/U+2029 are escaped, and invalid
// UTF-8 (never present in documents this package decoded) becomes U+FFFD.
// Metadata is always written as a string.
func AppendDocumentListJSON(dst []byte, docs []Document) []byte {
	n := len(`{"documents":[],"count":}`) + 20
	for i := range docs {
		n += len(`{"id":"","content":"","metadata":""},`) + len(docs[i].ID) + len(docs[i].Content) + len(docs[i].Metadata)
	}
	dst = grow(dst, n)
	dst = append(dst, `{"documents":[`...)
	for i := range docs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"id":`...)
		dst = appendJSONString(dst, docs[i].ID)
		dst = append(dst, `,"content":`...)
		dst = appendJSONString(dst, docs[i].Content)
		dst = append(dst, `,"metadata":`...)
		dst = appendJSONString(dst, docs[i].Metadata)
		dst = append(dst, '}')
	}
	dst = append(dst, `],"count":`...)
	dst = strconv.AppendInt(dst, int64(len(docs)), 10)
	return append(dst, '}')
}

// AppendCompact appends docs in the compact DocumentList encoding of the
// abi package, the form a guest receives, and returns the extended buffer.
func AppendCompact(dst []byte, docs []Document) []byte {
	n := 4
	for i := range docs {
		n += 12 + len(docs[i].ID) + len(docs[i].Content) + len(docs[i].Metadata)
	}
	dst = grow(dst, n)
	dst = abi.AppendDocumentListHeader(dst, len(docs))
	for i := range docs {
		dst = abi.AppendDocument(dst, docs[i].ID, docs[i].Content, docs[i].Metadata)
	}
	return dst
}

// DecodeCompactDocumentList validates a DocumentList a guest handed back in
// the compact encoding and returns copies of its documents: nil when it is
// empty, otherwise strings sharing one allocation; b is not retained.
// Every string must be valid UTF-8; the input length and the document
// count and sizes are bounded by lim, with MaxMetadataBytes applying to
// the metadata as given. Metadata is any string: it is not required to be
// JSON.
//
// A malformed encoding is a [*ValidationError] that also matches
// abi.ErrMalformed; a bound exceeded is a [*LimitError].
func DecodeCompactDocumentList(b []byte, lim Limits) ([]Document, error) {
	lim = lim.withDefaults()
	if len(b) > lim.MaxBodyBytes {
		return nil, &LimitError{Limit: lim.MaxBodyBytes, Unit: "bytes"}
	}
	r, err := abi.NewDocumentReader(b)
	if err != nil {
		return nil, &ValidationError{Reason: "malformed compact encoding", err: err}
	}
	n := r.Len()
	if n > lim.MaxDocuments {
		return nil, &LimitError{Field: "documents", Limit: lim.MaxDocuments, Unit: "documents"}
	}
	if n == 0 {
		return nil, nil
	}
	docs := make([]Document, 0, n)
	// The strings are sealed in place: out is sized exactly, never grows,
	// and no byte is written twice.
	out := make([]byte, 0, len(b)-4-12*n)
	for i := 0; ; i++ {
		v, ok := r.Next()
		if !ok {
			break
		}
		var x Document
		var err error
		if x.ID, out, err = compactField(out, v.ID, i, "id", lim.MaxIDBytes); err != nil {
			return nil, err
		}
		if x.Content, out, err = compactField(out, v.Content, i, "content", lim.MaxContentBytes); err != nil {
			return nil, err
		}
		if x.Metadata, out, err = compactField(out, v.Metadata, i, "metadata", lim.MaxMetadataBytes); err != nil {
			return nil, err
		}
		docs = append(docs, x)
	}
	if err := r.Err(); err != nil {
		p := path{top: "documents", idx: len(docs)}
		if len(docs) == n {
			p = root // every document read: trailing bytes
		}
		return nil, &ValidationError{Field: p.String(), Reason: "malformed compact encoding", err: err}
	}
	return docs, nil
}

func compactField(out, v []byte, i int, name string, max int) (string, []byte, error) {
	if len(v) > max {
		return "", out, &LimitError{Field: path{"documents", i, name}.String(), Limit: max, Unit: "bytes"}
	}
	if !utf8.Valid(v) {
		return "", out, &ValidationError{Field: path{"documents", i, name}.String(), Reason: "invalid UTF-8"}
	}
	a := len(out)
	out = append(out, v...)
	return seal(out[a:]), out, nil
}

// grow makes room for n more bytes in dst.
func grow(dst []byte, n int) []byte {
	if cap(dst)-len(dst) < n {
		nd := make([]byte, len(dst), len(dst)+n)
		copy(nd, dst)
		return nd
	}
	return dst
}
