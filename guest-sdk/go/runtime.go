package oso

import (
	"unsafe"

	"github.com/osohost/osohost/abi"
)

// rt is the module's runtime state. A module serves one plugin and an
// instance runs one call at a time, so one package-level value is enough and
// needs no locking.
var rt runtime

// keepBytes bounds the buffers the runtime keeps between calls; larger ones
// are left to the garbage collector.
const keepBytes = abi.DefaultMaxOutputBytes

// nullJSON is the answer of a to_isv call that set none.
var nullJSON = []byte("null")

type runtime struct {
	plugin Plugin
	opts   options

	in    []byte // input buffer handed out by oso_alloc; len == cap
	buf   []byte // output buffer reused between calls
	docs  Documents
	reply Reply
	list  DocumentList
	sign  signState
}

// alloc returns the input buffer, grown to at least size bytes. Its contents
// are overwritten by the host before the next call; views into the previous
// input see those new bytes.
func (r *runtime) alloc(size int32) []byte {
	if size <= 0 {
		return nil
	}
	if int(size) > len(r.in) {
		r.in = make([]byte, max(int(size), 2*len(r.in)))
	}
	return r.in
}

// input returns the n input bytes the host wrote at ptr, which must be the
// buffer returned by the last alloc.
func (r *runtime) input(ptr uintptr, n int32) ([]byte, bool) {
	if n == 0 {
		return nil, true
	}
	if n < 0 || int(n) > len(r.in) || ptr != uintptr(unsafe.Pointer(unsafe.SliceData(r.in))) {
		return nil, false
	}
	return r.in[:n], true
}

// retain keeps the capacity of out for the next call's output. owned says
// whether out was appended by the SDK (so nobody else holds it).
func (r *runtime) retain(out []byte, owned bool) {
	c := cap(out)
	if c <= cap(r.buf) || c > keepBytes {
		return
	}
	if owned {
		r.buf = out[:0]
	} else {
		r.buf = make([]byte, 0, c)
	}
}

func notRegistered() int32 {
	Log.Error("oso: no plugin registered: call oso.Register from a func init in package main")
	return 1
}

func (r *runtime) initialize() int32 {
	if r.plugin == nil {
		return notRegistered()
	}
	if i, ok := r.plugin.(Initializer); ok {
		if err := i.Init(); err != nil {
			Log.Error("oso: Init failed: " + err.Error())
			return 1
		}
	}
	return 0
}

func (r *runtime) stateless() int32 {
	if r.opts.stateless {
		return 1
	}
	return 0
}

func (r *runtime) badInput(export string) int32 {
	Log.Error("oso: " + export + ": input does not match oso_alloc")
	return 1
}

func (r *runtime) toISV(in []byte) int32 {
	if r.plugin == nil {
		return notRegistered()
	}
	docs, err := NewDocuments(in)
	if err != nil && len(in) != 0 {
		Log.Error("oso: to_isv: malformed document list")
		return 1
	}
	r.docs = docs
	r.reply.reset(r.buf)
	err = r.plugin.ToISV(&r.docs, &r.reply)
	r.docs = Documents{}
	if err != nil {
		r.reply.reset(r.buf)
		return fail("ToISV", err)
	}
	kind, out := r.reply.Output()
	if kind == 0 {
		kind, out = abi.OutputJSON, nullJSON
	}
	res := emit(kind, out)
	if kind == abi.OutputDocumentList && r.reply.out == nil {
		r.retain(out, true)
	} else {
		r.retain(out, false)
	}
	r.reply.reset(r.buf)
	return res
}

func (r *runtime) toOSO() int32 {
	if r.plugin == nil {
		return notRegistered()
	}
	r.list.reset(r.buf)
	if err := r.plugin.ToOSO(&r.list); err != nil {
		return fail("ToOSO", err)
	}
	out := r.list.Bytes()
	res := emit(abi.OutputDocumentList, out)
	r.retain(out, true)
	return res
}

func (r *runtime) status() int32 {
	if r.plugin == nil {
		return notRegistered()
	}
	s, err := r.plugin.Status()
	if err != nil {
		return fail("Status", err)
	}
	out := s.AppendCompact(r.buf[:0])
	res := emit(abi.OutputStatus, out)
	r.retain(out, true)
	return res
}

// emit hands the output to the host, which copies it before returning. A
// refused output fails the call whatever the export returns (abi/SPEC.md).
func emit(kind abi.OutputKind, out []byte) int32 {
	if hostOutput(int32(kind), out) < 0 {
		return 1
	}
	return abi.ResultOK
}
