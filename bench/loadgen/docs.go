package loadgen

import (
	"fmt"
	"strconv"
	"strings"
)

// Doc is one document of a request.
type Doc struct {
	ID, Content, Metadata string
}

// ContentBytes is the size of every document's content, as in the bench
// package's fixtures: a transaction-like text padded to 128 bytes.
const ContentBytes = 128

// MakeDocs fills docs with the documents of one request: UUID-shaped ids
// unique per (client, request, place), 128 bytes of content and a metadata
// string of about 40 bytes, as the OSO sends them.
func MakeDocs(docs []Doc, client int, seq uint64) {
	for i := range docs {
		c := fmt.Sprintf("transfer %06d units from account 0x9f8e7d6c5b4a to account 0x1a2b3c4d5e6f, memo: %08d/%d ", i, seq, client)
		if len(c) < ContentBytes {
			c += strings.Repeat("x", ContentBytes-len(c))
		}
		docs[i] = Doc{
			ID:       fmt.Sprintf("%08x-%04x-4b76-b051-%012x", seq&0xffffffff, client&0xffff, i),
			Content:  c[:ContentBytes],
			Metadata: fmt.Sprintf(`{"chain":"eth","nonce":1%05d,"fee":21}`, i%100000),
		}
	}
}

// AppendBody appends the JSON DocumentList of docs, as a POST body.
func AppendBody(dst []byte, docs []Doc) []byte {
	dst = append(dst, `{"documents":[`...)
	for i, d := range docs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"id":`...)
		dst = strconv.AppendQuote(dst, d.ID)
		dst = append(dst, `,"content":`...)
		dst = strconv.AppendQuote(dst, d.Content)
		dst = append(dst, `,"metadata":`...)
		dst = strconv.AppendQuote(dst, d.Metadata)
		dst = append(dst, '}')
	}
	dst = append(dst, `],"count":`...)
	dst = strconv.AppendInt(dst, int64(len(docs)), 10)
	return append(dst, '}')
}
