package oso

import (
	"unsafe"

	"github.com/osohost/osohost/abi"
)

// Reply is the answer of [Plugin.ToISV]: either a JSON value or a
// DocumentList. The last of [Reply.SetJSON], [Reply.SetJSONString],
// [Reply.Documents] and [Reply.SetRaw] called wins. Nothing set answers JSON
// null. The zero value is an empty reply.
type Reply struct {
	buf  []byte // the SDK's reusable buffer, lent by Buffer and Documents
	kind abi.OutputKind
	out  []byte
	list DocumentList
}

// reset empties r and lends it buf for this call.
func (r *Reply) reset(buf []byte) {
	r.buf = buf[:0]
	r.kind = 0
	r.out = nil
	r.list = DocumentList{}
}

// Buffer returns an empty buffer, reused from call to call, to append a JSON
// answer to before passing it to [Reply.SetJSON]:
//
//	o := oso.NewJSONObject(out.Buffer())
//	o.Int("accepted", n)
//	out.SetJSON(o.End())
//
// Buffer and [Reply.Documents] share one buffer: use one of them per call.
func (r *Reply) Buffer() []byte { return r.buf[:0] }

// SetJSON answers the JSON text. text is not copied: do not change it before
// the method returns. The host checks that it is one valid JSON value.
func (r *Reply) SetJSON(text []byte) {
	r.kind, r.out = abi.OutputJSON, text
}

// SetJSONString answers the JSON text, for constant answers.
func (r *Reply) SetJSONString(text string) {
	r.SetJSON(unsafe.Slice(unsafe.StringData(text), len(text)))
}

// Documents makes the answer a DocumentList and returns it empty, for the
// plugin to append to; the host writes it as DocumentList JSON.
func (r *Reply) Documents() *DocumentList {
	r.list.reset(r.buf)
	r.kind, r.out = abi.OutputDocumentList, nil
	return &r.list
}

// SetRaw answers b as output kind, unchecked by the SDK; the host validates
// it as usual. It exists for plugins that produce an encoding themselves.
func (r *Reply) SetRaw(kind abi.OutputKind, b []byte) {
	r.kind, r.out = kind, b
}

// Output returns what the reply hands to the host: the output kind (0 when
// nothing was set) and the bytes, which alias the reply's buffers.
func (r *Reply) Output() (abi.OutputKind, []byte) {
	if r.kind == abi.OutputDocumentList && r.out == nil {
		return r.kind, r.list.Bytes()
	}
	return r.kind, r.out
}
