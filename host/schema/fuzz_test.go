package schema_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/host/schema"
)

// roomy lets outputs grow past their input: normalised metadata and escaped
// output may be longer than what was decoded.
var roomy = schema.Limits{MaxBodyBytes: 64 << 20, MaxIDBytes: 64 << 20, MaxContentBytes: 64 << 20, MaxMetadataBytes: 64 << 20}

// addSeeds adds every file of testdata/dir, and the metadata objects of the
// golden file wrapped in a list.
func addSeeds(f *testing.F, dir string) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds in %s: %v", dir, err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add([]byte(`{"documents":[` + string(b) + `],"count":1}`))
	}
	g, err := os.Open(filepath.Join("testdata", metadataGolden))
	if err != nil {
		f.Fatal(err)
	}
	defer g.Close()
	sc := bufio.NewScanner(g)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e goldenEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err == nil && len(e.In) < 2000 {
			f.Add([]byte(`{"documents":[{"id":"a","content":"b","metadata":` + e.In + `}],"count":"1"}`))
		}
	}
}

// checkTyped fails unless err is one of the package's error types with a
// message that cannot carry input: short, printable ASCII.
func checkTyped(t *testing.T, err error) *schema.ValidationError {
	t.Helper()
	var ve *schema.ValidationError
	var le *schema.LimitError
	if !errors.As(err, &ve) && !errors.As(err, &le) {
		t.Fatalf("untyped error %T: %v", err, err)
	}
	msg := err.Error()
	if len(msg) > 160 {
		t.Fatalf("message too long: %q", msg)
	}
	for _, c := range []byte(msg) {
		if c < 0x20 || c >= 0x7f {
			t.Fatalf("message has byte %#x: %q", c, msg)
		}
	}
	return ve
}

func FuzzDecodeDocumentList(f *testing.F) {
	addSeeds(f, "v1.3")
	for _, s := range []string{
		`{"count":"1_0"}`, `{"count":1e3,"documents":[]}`, `{"count":true}`,
		`{"documents":[{"id":"\ud83c\udf89","content":"\u2028\u0000","metadata":null}],"count":-0}`,
		`{"documents":[{"id":"a","content":"b","metadata":{"a":1,"b":[1.5e300,-0,1e-7],"a":{"x":"é"}}}],"count":1}`,
		`{"documents":null,"count":0}`, `{"count":"\ud800"}`, "\xef\xbb\xbf{}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := schema.DecodeDocumentList(b, schema.DefaultLimits)
		if err != nil {
			ve := checkTyped(t, err)
			// encoding/json does not check UTF-8; everything else it
			// accepts is refused only for an unpaired surrogate.
			if ve != nil && strings.HasPrefix(ve.Reason, "invalid JSON") && json.Valid(b) && utf8.Valid(b) &&
				!strings.Contains(ve.Reason, "surrogate") {
				t.Fatalf("valid JSON refused as invalid: %v", err)
			}
			return
		}
		if !json.Valid(b) || !utf8.Valid(b) {
			t.Fatalf("accepted invalid JSON %q", b)
		}
		out := schema.AppendDocumentListJSON(nil, l.Documents)
		again, err := schema.DecodeDocumentList(out, roomy)
		if err != nil {
			t.Fatalf("output does not decode: %v\n%s", err, out)
		}
		want := schema.DocumentList{Documents: l.Documents, Count: int64(len(l.Documents))}
		if !reflect.DeepEqual(again, want) {
			t.Fatalf("output decodes to %#v, want %#v", again, want)
		}
		docs, err := schema.DecodeCompactDocumentList(schema.AppendCompact(nil, l.Documents), roomy)
		if err != nil || !reflect.DeepEqual(docs, l.Documents) {
			t.Fatalf("compact round trip: %v, %#v", err, docs)
		}
	})
}

func FuzzDecodeCompact(f *testing.F) {
	f.Add(schema.AppendCompact(nil, nil))
	f.Add(schema.AppendCompact(nil, []schema.Document{{ID: "64dd0bce-8711-4b76-b051-838faa4117a3", Content: "content1", Metadata: `{"name": "name1"}`}}))
	f.Add(schema.AppendCompact(nil, []schema.Document{{ID: "a"}, {Content: "é\x00\u2028"}, {Metadata: "\xff"}}))
	f.Add([]byte{1, 0, 0, 0, 1, 0, 0, 0, 'a'})
	f.Fuzz(func(t *testing.T, b []byte) {
		docs, err := schema.DecodeCompactDocumentList(b, schema.DefaultLimits)
		if err != nil {
			checkTyped(t, err)
			return
		}
		// The encoding is canonical: what decodes re-encodes to the same bytes.
		if again := schema.AppendCompact(nil, docs); !bytes.Equal(again, b) {
			t.Fatalf("re-encoded %x, want %x", again, b)
		}
		out := schema.AppendDocumentListJSON(nil, docs)
		l, err := schema.DecodeDocumentList(out, roomy)
		if err != nil {
			t.Fatalf("JSON output does not decode: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(l.Documents, docs) || l.Count != int64(len(docs)) {
			t.Fatalf("JSON output decodes to %#v, want %#v", l, docs)
		}
	})
}

func FuzzValidateJSON(f *testing.F) {
	for _, s := range []string{`null`, `[1,2.5e-3,"x",{"a":[true,false]}]`, `"\ud83c\udf89"`, `"\ud800"`, `01`, `[1,]`, "\"\x7f\"", `-0.0E+1`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := schema.ValidateJSON(b, 16)
		if err == nil {
			if !json.Valid(b) || !utf8.Valid(b) {
				t.Fatalf("accepted invalid JSON %q", b)
			}
			return
		}
		ve := checkTyped(t, err)
		if json.Valid(b) && utf8.Valid(b) && ve != nil && !strings.Contains(ve.Reason, "surrogate") {
			t.Fatalf("refused valid JSON: %v", err)
		}
	})
}

func FuzzDecodeStatusJSON(f *testing.F) {
	f.Add([]byte(`{"status_code":200,"status":"OK","errors":[{"code":"abc","message":"ABC Error"}],"x":{"a" : [1]}}`))
	f.Add([]byte(`{"status_code":2e2,"status":"","errors":[],"status":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := schema.DecodeStatusJSON(b, schema.DefaultLimits)
		if err != nil {
			checkTyped(t, err)
			return
		}
		if !json.Valid(b) || !utf8.Valid(b) {
			t.Fatalf("accepted invalid JSON %q", b)
		}
		out := schema.AppendStatusJSON(nil, s)
		again, err := schema.DecodeStatusJSON(out, roomy)
		if err != nil || !reflect.DeepEqual(again, s) {
			t.Fatalf("round trip: %v\n%s\n%#v\n%#v", err, out, again, s)
		}
		if len(s.Extra) > 0 {
			extra := schema.AppendStatusJSON(nil, schema.Status{Extra: s.Extra})
			// {"status_code":0,"status":"","errors":[], + members + }
			obj := "{" + string(extra[len(`{"status_code":0,"status":"","errors":[],`):])
			v, err := abi.DecodeStatus(abi.AppendStatus(nil, s.Code, s.Status, nil, obj))
			if err != nil {
				t.Fatal(err)
			}
			fromCompact, err := schema.StatusFromCompact(v)
			if err != nil || !reflect.DeepEqual(fromCompact.Extra, s.Extra) {
				t.Fatalf("extra through the compact form: %v, %#v", err, fromCompact.Extra)
			}
		}
	})
}
