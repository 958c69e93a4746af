//go:build !wasip1

package oso

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unsafe"

	"github.com/osohost/osohost/abi"
)

// testPlugin answers according to its fields.
type testPlugin struct {
	status Status
	err    error
	isv    func(in *Documents, out *Reply) error
	oso    []Document
	inits  int
}

func (p *testPlugin) Status() (Status, error) { return p.status, p.err }

func (p *testPlugin) ToOSO(out *DocumentList) error {
	for _, d := range p.oso {
		out.Add(d)
	}
	return p.err
}

func (p *testPlugin) ToISV(in *Documents, out *Reply) error {
	if p.isv != nil {
		return p.isv(in, out)
	}
	return p.err
}

func (p *testPlugin) Init() error {
	p.inits++
	return p.err
}

func echo(in *Documents, out *Reply) error {
	l := out.Documents()
	for d := range in.All() {
		l.Add(d)
	}
	return nil
}

// withPlugin installs p as the registered plugin for one test.
func withPlugin(t *testing.T, p Plugin, opts ...Option) {
	t.Helper()
	saved := rt
	rt = runtime{}
	Register(p, opts...)
	t.Cleanup(func() { rt = saved })
}

// call writes in through alloc/input as the host does and runs to_isv.
func callToISV(t testing.TB, in []byte) int32 {
	t.Helper()
	buf := rt.alloc(int32(len(in)))
	copy(buf, in)
	ptr := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	got, ok := rt.input(ptr, int32(len(in)))
	if !ok {
		t.Fatal("input() refused the buffer from alloc()")
	}
	return rt.toISV(got)
}

func TestRuntime_ToISV(t *testing.T) {
	list := encodeList(sampleDocs...)
	tests := []struct {
		name     string
		isv      func(in *Documents, out *Reply) error
		wantKind abi.OutputKind
		wantOut  []byte
	}{
		{"echo", echo, abi.OutputDocumentList, list},
		{"nothing set is null", func(*Documents, *Reply) error { return nil }, abi.OutputJSON, []byte("null")},
		{"JSON string", func(_ *Documents, out *Reply) error {
			out.SetJSONString(`["a"]`)
			return nil
		}, abi.OutputJSON, []byte(`["a"]`)},
		{"JSON in Buffer", func(in *Documents, out *Reply) error {
			o := NewJSONObject(out.Buffer())
			o.Int("received", int64(in.Len()))
			out.SetJSON(o.End())
			return nil
		}, abi.OutputJSON, []byte(`{"received":3}`)},
		{"last setter wins", func(in *Documents, out *Reply) error {
			out.SetJSONString("1")
			echo(in, out)
			out.SetJSONString("2")
			return nil
		}, abi.OutputJSON, []byte("2")},
		{"raw", func(_ *Documents, out *Reply) error {
			out.SetRaw(abi.OutputDocumentList, []byte{1})
			return nil
		}, abi.OutputDocumentList, []byte{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			withPlugin(t, &testPlugin{isv: tt.isv})
			s := withSink(t)
			for range 2 { // the second call reuses the buffers
				if got := callToISV(t, list); got != abi.ResultOK {
					t.Fatalf("toISV() = %d, logs %q", got, s.logs)
				}
				if abi.OutputKind(s.kind) != tt.wantKind || !bytes.Equal(s.out, tt.wantOut) {
					t.Errorf("output (%d, %q), want (%d, %q)", s.kind, s.out, tt.wantKind, tt.wantOut)
				}
			}
		})
	}
}

func TestRuntime_ToISV_Errors(t *testing.T) {
	tests := []struct {
		name     string
		plugin   Plugin // nil: none registered
		in       []byte
		refused  bool // the host refuses the output
		wantCode int32
	}{
		{"no plugin", nil, encodeList(), false, 0},
		{"malformed input", &testPlugin{}, []byte{1, 0, 0, 0}, false, 0},
		{"Error", &testPlugin{err: Error{Code: 503, Message: "full"}}, encodeList(), false, 503},
		{"other error", &testPlugin{err: errors.New("x")}, encodeList(), false, 0},
		{"output refused", &testPlugin{}, encodeList(), true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			saved := rt
			rt = runtime{plugin: tt.plugin}
			t.Cleanup(func() { rt = saved })
			s := withSink(t)
			if tt.refused {
				s.status = int32(abi.StatusTooLarge)
			}
			if got := callToISV(t, tt.in); got == abi.ResultOK {
				t.Fatalf("toISV() = ResultOK")
			}
			if s.code != tt.wantCode {
				t.Errorf("error code %d, want %d", s.code, tt.wantCode)
			}
		})
	}
}

func TestRuntime_ToISV_EmptyInput(t *testing.T) {
	withPlugin(t, &testPlugin{isv: echo})
	s := withSink(t)
	if got := rt.toISV(nil); got != abi.ResultOK {
		t.Fatalf("toISV(nil) = %d", got)
	}
	if !bytes.Equal(s.out, encodeList()) {
		t.Errorf("output %v, want an empty list", s.out)
	}
}

func TestRuntime_Input_Errors(t *testing.T) {
	saved := rt
	rt = runtime{}
	t.Cleanup(func() { rt = saved })
	buf := rt.alloc(16)
	ptr := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	tests := []struct {
		name string
		ptr  uintptr
		n    int32
	}{
		{"other pointer", ptr + 1, 4},
		{"too long", ptr, int32(len(buf) + 1)},
		{"negative", ptr, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := rt.input(tt.ptr, tt.n); ok {
				t.Errorf("input(%d, %d) accepted", tt.ptr, tt.n)
			}
		})
	}
}

func TestRuntime_Alloc(t *testing.T) {
	saved := rt
	rt = runtime{}
	t.Cleanup(func() { rt = saved })
	if b := rt.alloc(0); b != nil {
		t.Errorf("alloc(0) = %d bytes", len(b))
	}
	a := rt.alloc(100)
	b := rt.alloc(50)
	if unsafe.SliceData(a) != unsafe.SliceData(b) || len(b) < 50 {
		t.Errorf("alloc(50) after alloc(100) did not reuse the buffer")
	}
	if c := rt.alloc(1000); len(c) < 1000 {
		t.Errorf("alloc(1000) = %d bytes", len(c))
	}
}

func TestRuntime_ToOSO(t *testing.T) {
	withPlugin(t, &testPlugin{oso: sampleDocs})
	s := withSink(t)
	for range 2 {
		if got := rt.toOSO(); got != abi.ResultOK {
			t.Fatalf("toOSO() = %d", got)
		}
		if abi.OutputKind(s.kind) != abi.OutputDocumentList || !bytes.Equal(s.out, encodeList(sampleDocs...)) {
			t.Errorf("output (%d, %v)", s.kind, s.out)
		}
	}
}

func TestRuntime_Status(t *testing.T) {
	st := Status{
		Code:   503,
		Status: "degraded",
		Errors: []StatusError{{Code: "hsm", Message: "unreachable"}},
		Extra:  []byte(`{"queued":3}`),
	}
	withPlugin(t, &testPlugin{status: st})
	s := withSink(t)
	if got := rt.status(); got != abi.ResultOK {
		t.Fatalf("status() = %d", got)
	}
	if abi.OutputKind(s.kind) != abi.OutputStatus {
		t.Fatalf("kind %d", s.kind)
	}
	v, err := abi.DecodeStatus(s.out)
	if err != nil {
		t.Fatal(err)
	}
	if v.Code != 503 || string(v.Status) != "degraded" || len(v.Errors) != 1 ||
		string(v.Errors[0].Code) != "hsm" || string(v.Errors[0].Message) != "unreachable" ||
		string(v.Extra) != `{"queued":3}` {
		t.Errorf("decoded %+v", v)
	}
	if ok := OK(); ok.Code != 200 || ok.Status != "OK" || ok.Errors != nil || ok.Extra != nil {
		t.Errorf("OK() = %+v", ok)
	}
}

func TestRuntime_Initialize(t *testing.T) {
	p := &testPlugin{}
	withPlugin(t, p)
	if got := rt.initialize(); got != abi.ResultOK || p.inits != 1 {
		t.Errorf("initialize() = %d, Init called %d times", got, p.inits)
	}
	p.err = errors.New("no config")
	s := withSink(t)
	if got := rt.initialize(); got == abi.ResultOK || len(s.logs) != 1 {
		t.Errorf("initialize() = %d with a failing Init, logs %q", got, s.logs)
	}
	rt.plugin = nil
	if got := rt.initialize(); got == abi.ResultOK || !strings.Contains(s.logs[len(s.logs)-1], "oso.Register") {
		t.Errorf("initialize() = %d without a plugin, logs %q", got, s.logs)
	}
}

func TestRegister(t *testing.T) {
	withPlugin(t, &testPlugin{})
	if rt.stateless() != 0 {
		t.Errorf("stateless() = 1 without the option")
	}
	rt = runtime{}
	Register(&testPlugin{}, Stateless())
	if rt.stateless() != 1 {
		t.Errorf("stateless() = 0 with Stateless()")
	}
}

func TestRegister_Errors(t *testing.T) {
	tests := []struct {
		name  string
		setup func()
	}{
		{"nil", func() { Register(nil) }},
		{"twice", func() { Register(&testPlugin{}); Register(&testPlugin{}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			saved := rt
			rt = runtime{}
			t.Cleanup(func() { rt = saved })
			defer func() {
				if recover() == nil {
					t.Errorf("Register did not panic")
				}
			}()
			tt.setup()
		})
	}
}

// The document path must not allocate once the buffers have grown: no
// reflection, no JSON, no copies.
func TestRuntime_ToISV_NoAllocs(t *testing.T) {
	withPlugin(t, &testPlugin{isv: echo})
	withSink(t).status = 0
	sink = nil // the test sink copies; run without it
	docs := make([]Document, 100)
	for i := range docs {
		docs[i] = Document{ID: "doc", Content: strings.Repeat("c", 128), Metadata: `{"k": 1}`}
	}
	in := encodeList(docs...)
	callToISV(t, in)
	if n := testing.AllocsPerRun(100, func() { callToISV(t, in) }); n != 0 {
		t.Errorf("to_isv echo of 100 documents allocates %v times per call", n)
	}
}

func BenchmarkRuntime_ToISV_Echo100(b *testing.B) {
	saved := rt
	rt = runtime{}
	defer func() { rt = saved }()
	Register(&testPlugin{isv: echo})
	docs := make([]Document, 100)
	for i := range docs {
		docs[i] = Document{ID: "doc", Content: strings.Repeat("c", 128), Metadata: `{"k": 1}`}
	}
	in := encodeList(docs...)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		callToISV(b, in)
		n++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*100), "ns/doc")
}
