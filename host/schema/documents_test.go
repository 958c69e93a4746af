package schema_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/host/schema"
)

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeDocumentList_Samples(t *testing.T) {
	t.Parallel()
	// The framework's own sample files. Its Document samples are wrapped
	// in a list here.
	wrap := func(doc []byte) []byte {
		return []byte(`{"documents":[` + string(doc) + `],"count":1}`)
	}
	tests := []struct {
		name string
		in   []byte
		want schema.DocumentList
	}{
		{"DocumentList-0", readFile(t, "v1.3/valid-DocumentList-0.json"), schema.DocumentList{
			Documents: []schema.Document{
				{ID: "64dd0bce-8711-4b76-b051-838faa4117a3", Content: "content1", Metadata: `{"name": "name1"}`},
				{ID: "4db24570-aa0d-4eb4-8179-66971ff2cff1", Content: "content2"},
			},
			Count: 2,
		}},
		{"Document-withMetadata", wrap(readFile(t, "v1.3/valid-Document-withMetadata.json")), schema.DocumentList{
			Documents: []schema.Document{{ID: "64dd0bce-8711-4b76-b051-838faa4117a3", Content: "content1", Metadata: `{"name": "name1"}`}},
			Count:     1,
		}},
		{"Document-withoutMetadata", wrap(readFile(t, "v1.3/valid-Document-withoutMetadata.json")), schema.DocumentList{
			Documents: []schema.Document{{ID: "64dd0bce-8711-4b76-b051-838faa4117a3", Content: "content1"}},
			Count:     1,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := schema.DecodeDocumentList(tt.in, schema.DefaultLimits)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestDecodeDocumentList(t *testing.T) {
	t.Parallel()
	doc := func(id, content, metadata string) schema.Document {
		return schema.Document{ID: id, Content: content, Metadata: metadata}
	}
	list := func(count int64, docs ...schema.Document) schema.DocumentList {
		return schema.DocumentList{Documents: docs, Count: count}
	}
	tests := []struct {
		name string
		in   string
		want schema.DocumentList
	}{
		// documents
		{"documents absent", `{"count":0}`, list(0)},
		{"documents empty", `{"documents":[],"count":0}`, list(0)},
		{"count before documents", `{"count":1,"documents":[{"id":"a","content":"b"}]}`, list(1, doc("a", "b", ""))},
		{"whitespace everywhere", " \t\r\n{ \"documents\" : [ { \"id\" : \"a\" , \"content\" : \"b\" } ] , \"count\" : 1 } \n", list(1, doc("a", "b", ""))},
		{"empty strings", `{"documents":[{"id":"","content":""}],"count":1}`, list(1, doc("", "", ""))},
		{"count not compared with length", `{"documents":[{"id":"a","content":"b"}],"count":7}`, list(7, doc("a", "b", ""))},

		// metadata
		{"metadata string kept", `{"documents":[{"id":"a","content":"b","metadata":"{\"x\":1}"}],"count":1}`, list(1, doc("a", "b", `{"x":1}`))},
		{"metadata null", `{"documents":[{"id":"a","content":"b","metadata":null}],"count":1}`, list(1, doc("a", "b", ""))},
		{"metadata object", `{"documents":[{"id":"a","content":"b","metadata":{"k":[1,2.5,{"z":null}],"e":"é"}}],"count":1}`,
			list(1, doc("a", "b", `{"k": [1, 2.5, {"z": null}], "e": "\u00e9"}`))},
		{"metadata empty object", `{"documents":[{"id":"a","content":"b","metadata":{}}],"count":1}`, list(1, doc("a", "b", `{}`))},

		// unknown members
		{"unknown members dropped", `{"x":{"y":[1,"z",null,true,false,-1.5e3]},"documents":[{"id":"a","extra":{},"content":"b","n":1}],"count":1,"z":"w"}`,
			list(1, doc("a", "b", ""))},

		// duplicate members: the last value wins, at every level
		{"duplicate count", `{"count":"x","count":2}`, list(2)},
		{"duplicate documents", `{"documents":[{"id":5}],"documents":[{"id":"a","content":"b"}],"count":1}`, list(1, doc("a", "b", ""))},
		{"duplicate id", `{"documents":[{"id":5,"content":"b","id":"a"}],"count":1}`, list(1, doc("a", "b", ""))},
		{"duplicate metadata", `{"documents":[{"id":"a","content":"b","metadata":5,"metadata":"m"}],"count":1}`, list(1, doc("a", "b", "m"))},
		{"duplicate metadata key", `{"documents":[{"id":"a","content":"b","metadata":{"x":1,"y":2,"x":3}}],"count":1}`, list(1, doc("a", "b", `{"x": 3, "y": 2}`))},
		{"escaped member names", `{"documents":[{"\u0069d":"a","c\u006Fntent":"b"}],"\u0063ount":1}`, list(1, doc("a", "b", ""))},

		// strings
		{"escapes", `{"documents":[{"id":"\"\\\/\b\f\n\r\t","content":"\u0000\u001f\u00e9\u20AC"}],"count":1}`, list(1, doc("\"\\/\b\f\n\r\t", "\x00\x1f\u00e9\u20ac", ""))},
		{"surrogate pair", `{"documents":[{"id":"\ud83c\udf89","content":"🎉"}],"count":1}`, list(1, doc("🎉", "🎉", ""))},
		{"raw UTF-8 and DEL", "{\"documents\":[{\"id\":\"日本語\x7f\",\"content\":\"\u2028\"}],\"count\":1}", list(1, doc("日本語\x7f", "\u2028", ""))},
		{"U+FFFD encoded", `{"documents":[{"id":"` + "\uFFFD" + `","content":"\ufffd"}],"count":1}`, list(1, doc("\uFFFD", "\uFFFD", ""))},
		{"long ASCII", `{"documents":[{"id":"` + strings.Repeat("abcdefgh", 100) + `x","content":"` + strings.Repeat("0123456789", 33) + `"}],"count":1}`,
			list(1, doc(strings.Repeat("abcdefgh", 100)+"x", strings.Repeat("0123456789", 33), ""))},

		// count (the framework's lax integers)
		{"count zero", `{"count":0}`, list(0)},
		{"count negative", `{"count":-3}`, list(-3)},
		{"count minus zero", `{"count":-0}`, list(0)},
		{"count float", `{"count":3.0}`, list(3)},
		{"count exponent", `{"count":1e3}`, list(1000)},
		{"count exponent upper", `{"count":1E+2}`, list(100)},
		{"count negative zero float", `{"count":-0.0}`, list(0)},
		{"count underflow", `{"count":1e-400}`, list(0)},
		{"count below 2^63", `{"count":9223372036854774784.0}`, list(9223372036854774784)},
		{"count true", `{"count":true}`, list(1)},
		{"count false", `{"count":false}`, list(0)},
		{"count string", `{"count":"3"}`, list(3)},
		{"count string spaces", `{"count":" \t3\n"}`, list(3)},
		{"count string unicode spaces", `{"count":"\u00a0\u30003\u2007"}`, list(3)},
		{"count string plus", `{"count":"+3"}`, list(3)},
		{"count string minus", `{"count":"-3"}`, list(-3)},
		{"count string zeros", `{"count":"007"}`, list(7)},
		{"count string underscores", `{"count":"1_000_0"}`, list(10000)},
		{"count string fraction zeros", `{"count":"3.000"}`, list(3)},
		{"count string underscores and fraction", `{"count":"1_000.0"}`, list(1000)},
		{"count string escaped", `{"count":"\u0033"}`, list(3)},
		{"count big int clamped", `{"count":123456789012345678901234567890}`, list(math.MaxInt64)},
		{"count big negative clamped", `{"count":-123456789012345678901234567890}`, list(math.MinInt64)},
		{"count int64 max", `{"count":9223372036854775807}`, list(math.MaxInt64)},
		{"count int64 min", `{"count":-9223372036854775808}`, list(math.MinInt64)},
		{"count string big clamped", `{"count":"99999999999999999999"}`, list(math.MaxInt64)},
		{"count string -2^63", `{"count":"-9223372036854775808"}`, list(math.MinInt64)},
		{"count string 4300 digits", `{"count":"` + strings.Repeat("1", 4300) + `"}`, list(math.MaxInt64)},
		{"count string leading zeros not counted", `{"count":"` + strings.Repeat("0", 5000) + `1"}`, list(1)},
		{"count 4300-character integer", `{"count":` + strings.Repeat("1", 4300) + `}`, list(math.MaxInt64)},
		{"count negative 4300-character integer", `{"count":-` + strings.Repeat("1", 4299) + `}`, list(math.MinInt64)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := schema.DecodeDocumentList([]byte(tt.in), schema.DefaultLimits)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

// secret is planted in failing inputs; no error message may repeat it.
const secret = "S3CR3T"

func TestDecodeDocumentList_Errors(t *testing.T) {
	t.Parallel()
	d := func(members string) string { return `{"documents":[` + members + `],"count":1}` }
	tests := []struct {
		name      string
		in        string
		lim       schema.Limits
		field     string
		tooLarge  bool   // a *LimitError rather than a *ValidationError
		reasonHas string // a fragment of the reason
	}{
		// not JSON, or not strict JSON
		{"empty", ``, schema.Limits{}, "", false, "unexpected end"},
		{"whitespace only", " \n", schema.Limits{}, "", false, "unexpected end"},
		{"byte order mark", "\xef\xbb\xbf{\"count\":0}", schema.Limits{}, "", false, "byte order mark"},
		{"trailing data", `{"count":0} {"` + secret + `":1}`, schema.Limits{}, "", false, "after the value"},
		{"trailing comma in object", `{"count":0,}`, schema.Limits{}, "", false, "member name"},
		{"trailing comma in array", d(`{"id":"a","content":"b"},`), schema.Limits{}, "documents[1]", false, "expected a value"},
		{"single quotes", `{'count':0}`, schema.Limits{}, "", false, "member name"},
		{"leading zero", `{"count":01}`, schema.Limits{}, "count", false, "leading zero"},
		{"plus sign", `{"count":+1}`, schema.Limits{}, "count", false, "expected a value"},
		{"bare fraction", `{"count":.5}`, schema.Limits{}, "count", false, "expected a value"},
		{"dot without digits", `{"count":1.}`, schema.Limits{}, "count", false, "invalid number"},
		{"exponent without digits", `{"count":1e}`, schema.Limits{}, "count", false, "invalid number"},
		{"minus alone", `{"count":-}`, schema.Limits{}, "count", false, "invalid number"},
		{"NaN", `{"count":NaN}`, schema.Limits{}, "count", false, "expected a value"},
		{"Infinity in metadata", d(`{"id":"a","content":"b","metadata":{"x":Infinity}}`), schema.Limits{}, "documents[0].metadata", false, "expected a value"},
		{"bad literal", `{"count":tru}`, schema.Limits{}, "count", false, "invalid literal"},
		{"control character", d(`{"id":"` + secret + "\x01" + `","content":"b"}`), schema.Limits{}, "documents[0].id", false, "control character"},
		{"raw newline", d(`{"id":"a","content":"` + secret + "\n" + `"}`), schema.Limits{}, "documents[0].content", false, "control character"},
		{"invalid UTF-8", d(`{"id":"a","content":"` + secret + "\xff" + `"}`), schema.Limits{}, "documents[0].content", false, "invalid UTF-8"},
		{"overlong UTF-8", d("{\"id\":\"a\",\"content\":\"\xc0\xaf\"}"), schema.Limits{}, "documents[0].content", false, "invalid UTF-8"},
		{"UTF-8 surrogate", d("{\"id\":\"a\",\"content\":\"\xed\xa0\x80\"}"), schema.Limits{}, "documents[0].content", false, "invalid UTF-8"},
		{"truncated UTF-8", d("{\"id\":\"a\",\"content\":\"\xe6\x97\"}"), schema.Limits{}, "documents[0].content", false, "invalid UTF-8"},
		{"invalid UTF-8 outside strings", "{\"count\":0\xff}", schema.Limits{}, "", false, "expected ','"},
		{"lone high surrogate", d(`{"id":"\ud800` + secret + `","content":"b"}`), schema.Limits{}, "documents[0].id", false, "unpaired surrogate"},
		{"lone low surrogate", d(`{"id":"\udc00","content":"b"}`), schema.Limits{}, "documents[0].id", false, "unpaired surrogate"},
		{"high then non-surrogate", d(`{"id":"\ud800\u0041","content":"b"}`), schema.Limits{}, "documents[0].id", false, "unpaired surrogate"},
		{"two high surrogates", d(`{"id":"\ud800\ud800","content":"b"}`), schema.Limits{}, "documents[0].id", false, "unpaired surrogate"},
		{"lone surrogate in metadata key", d(`{"id":"a","content":"b","metadata":{"\udfff":1}}`), schema.Limits{}, "documents[0].metadata", false, "unpaired surrogate"},
		{"lone surrogate in unknown member", `{"count":0,"x":"\ud800"}`, schema.Limits{}, "", false, "unpaired surrogate"},
		{"bad escape", d(`{"id":"\x","content":"b"}`), schema.Limits{}, "documents[0].id", false, "invalid escape"},
		{"short unicode escape", d(`{"id":"\u12","content":"b"}`), schema.Limits{}, "documents[0].id", false, "\\u escape"},
		{"unterminated string", `{"count":"1`, schema.Limits{}, "count", false, "unexpected end"},
		{"unterminated object", `{"count":1`, schema.Limits{}, "", false, "unexpected end"},
		{"unterminated array", `{"documents":[`, schema.Limits{}, "documents[0]", false, "unexpected end"},
		{"missing colon", `{"count" 1}`, schema.Limits{}, "", false, "':'"},
		{"missing comma", `{"count":1 "documents":[]}`, schema.Limits{}, "", false, "expected ','"},
		{"integer part too long", `{"count":` + strings.Repeat("1", 4301) + `}`, schema.Limits{}, "count", false, "out of range"},
		{"negative integer part too long", `{"count":0,"x":-` + strings.Repeat("1", 4300) + `.5}`, schema.Limits{}, "", false, "out of range"},

		// not a DocumentList
		{"array", `[1]`, schema.Limits{}, "", false, "JSON object"},
		{"string", `"` + secret + `"`, schema.Limits{}, "", false, "JSON object"},
		{"null", `null`, schema.Limits{}, "", false, "JSON object"},
		{"count missing", `{"documents":[]}`, schema.Limits{}, "count", false, "required"},
		{"count null", `{"count":null}`, schema.Limits{}, "count", false, "integer"},
		{"count array", `{"count":[1]}`, schema.Limits{}, "count", false, "integer"},
		{"count fraction", `{"count":3.5}`, schema.Limits{}, "count", false, "fraction"},
		{"count infinite", `{"count":1e400}`, schema.Limits{}, "count", false, "finite"},
		{"count 1e19", `{"count":1e19}`, schema.Limits{}, "count", false, "out of range"},
		{"count 2^63 float", `{"count":9223372036854775807.0}`, schema.Limits{}, "count", false, "out of range"},
		{"count -2^63 float", `{"count":-9223372036854775808.0}`, schema.Limits{}, "count", false, "out of range"},
		{"count string word", `{"count":"` + secret + `"}`, schema.Limits{}, "count", false, "integer"},
		{"count string empty", `{"count":""}`, schema.Limits{}, "count", false, "integer"},
		{"count string exponent", `{"count":"1e3"}`, schema.Limits{}, "count", false, "integer"},
		{"count string fraction", `{"count":"3.5"}`, schema.Limits{}, "count", false, "integer"},
		{"count string dot", `{"count":"3."}`, schema.Limits{}, "count", false, "integer"},
		{"count string leading dot", `{"count":".0"}`, schema.Limits{}, "count", false, "integer"},
		{"count string double underscore", `{"count":"1__0"}`, schema.Limits{}, "count", false, "integer"},
		{"count string leading underscore", `{"count":"_1"}`, schema.Limits{}, "count", false, "integer"},
		{"count string trailing underscore", `{"count":"1_"}`, schema.Limits{}, "count", false, "integer"},
		{"count string underscore in fraction", `{"count":"1.0_0"}`, schema.Limits{}, "count", false, "integer"},
		{"count string two signs", `{"count":"+-3"}`, schema.Limits{}, "count", false, "integer"},
		{"count string inner space", `{"count":"3 .0"}`, schema.Limits{}, "count", false, "integer"},
		{"count string hex", `{"count":"0x10"}`, schema.Limits{}, "count", false, "integer"},
		{"count string non-ASCII digit", `{"count":"٣"}`, schema.Limits{}, "count", false, "integer"},
		{"count string not white space", `{"count":"\u200b3"}`, schema.Limits{}, "count", false, "integer"},
		{"count string control", `{"count":"\u001c3"}`, schema.Limits{}, "count", false, "integer"},
		{"count string true", `{"count":"true"}`, schema.Limits{}, "count", false, "integer"},
		{"count string 4301 digits", `{"count":"` + strings.Repeat("1", 4301) + `"}`, schema.Limits{}, "count", false, "integer"},
		{"count string negative 4300 digits", `{"count":"-` + strings.Repeat("1", 4300) + `"}`, schema.Limits{}, "count", false, "integer"},
		{"documents null", `{"documents":null,"count":0}`, schema.Limits{}, "documents", false, "not null"},
		{"documents object", `{"documents":{"id":"` + secret + `"},"count":0}`, schema.Limits{}, "documents", false, "array"},
		{"documents overridden by null", `{"documents":[],"documents":null,"count":0}`, schema.Limits{}, "documents", false, "not null"},
		{"document not an object", d(`{"id":"a","content":"b"},"` + secret + `"`), schema.Limits{}, "documents[1]", false, "object"},
		{"id missing", d(`{"content":"` + secret + `"}`), schema.Limits{}, "documents[0].id", false, "required"},
		{"id number", d(`{"id":12345,"content":"b"}`), schema.Limits{}, "documents[0].id", false, "string"},
		{"id null", d(`{"id":null,"content":"b"}`), schema.Limits{}, "documents[0].id", false, "string"},
		{"content missing", d(`{"id":"` + secret + `"}`), schema.Limits{}, "documents[0].content", false, "required"},
		{"content object", d(`{"id":"a","content":{"` + secret + `":1}}`), schema.Limits{}, "documents[0].content", false, "string"},
		{"metadata array", d(`{"id":"a","content":"b","metadata":["` + secret + `"]}`), schema.Limits{}, "documents[0].metadata", false, "string"},
		{"metadata number", d(`{"id":"a","content":"b","metadata":5}`), schema.Limits{}, "documents[0].metadata", false, "string"},
		{"metadata true", d(`{"id":"a","content":"b","metadata":true}`), schema.Limits{}, "documents[0].metadata", false, "string"},
		{"first bad document reported", d(`{"id":"a","content":"b"},{"id":"a"},{"content":"b"}`), schema.Limits{}, "documents[1].content", false, "required"},
		{"syntax error after a schema error", d(`{"id":1,"content":"b"}`) + `x`, schema.Limits{}, "", false, "after the value"},
		{"integer part too long in metadata", d(`{"id":"a","content":"b","metadata":{"n":` + strings.Repeat("9", 4301) + `}}`), schema.Limits{}, "documents[0].metadata", false, "out of range"},

		// limits
		{"body", `{"count":0}    `, schema.Limits{MaxBodyBytes: 12}, "", true, ""},
		{"documents", d(`{"id":"a","content":"b"},{"id":"a","content":"b"},{"id":"a","content":"b"}`), schema.Limits{MaxDocuments: 2}, "documents", true, ""},
		{"id bytes", d(`{"id":"` + secret + `","content":"b"}`), schema.Limits{MaxIDBytes: 5}, "documents[0].id", true, ""},
		{"id bytes after unescaping", d(`{"id":"\u00e9\u00e9\u00e9","content":"b"}`), schema.Limits{MaxIDBytes: 5}, "documents[0].id", true, ""},
		{"content bytes", d(`{"id":"a","content":"` + secret + `"}`), schema.Limits{MaxContentBytes: 5}, "documents[0].content", true, ""},
		{"metadata string bytes", d(`{"id":"a","content":"b","metadata":"` + secret + `"}`), schema.Limits{MaxMetadataBytes: 5}, "documents[0].metadata", true, ""},
		{"metadata object bytes after normalising", d(`{"id":"a","content":"b","metadata":{"a":1e15}}`), schema.Limits{MaxMetadataBytes: 20}, "documents[0].metadata", true, ""},
		{"depth in metadata", d(`{"id":"a","content":"b","metadata":{"a":[[[["` + secret + `"]]]]}}`), schema.Limits{MaxDepth: 7}, "documents[0].metadata", true, ""},
		{"depth in unknown member", `{"count":0,"x":[[[[]]]]}`, schema.Limits{MaxDepth: 4}, "", true, ""},
		{"depth default", `{"count":0,"x":` + strings.Repeat("[", 64) + strings.Repeat("]", 64) + `}`, schema.Limits{}, "", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := schema.DecodeDocumentList([]byte(tt.in), tt.lim)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if strings.Contains(msg, secret) {
				t.Errorf("message %q repeats input", msg)
			}
			if !strings.HasPrefix(msg, "schema: ") {
				t.Errorf("message %q lacks the package prefix", msg)
			}
			if tt.tooLarge {
				var le *schema.LimitError
				if !errors.As(err, &le) || !errors.Is(err, schema.ErrTooLarge) || errors.Is(err, schema.ErrInvalid) {
					t.Fatalf("got %T %v, want a *LimitError", err, err)
				}
				if le.Field != tt.field {
					t.Errorf("field %q, want %q (%v)", le.Field, tt.field, err)
				}
				return
			}
			var ve *schema.ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, schema.ErrInvalid) || errors.Is(err, schema.ErrTooLarge) {
				t.Fatalf("got %T %v, want a *ValidationError", err, err)
			}
			if ve.Field != tt.field {
				t.Errorf("field %q, want %q (%v)", ve.Field, tt.field, err)
			}
			if !strings.Contains(ve.Reason, tt.reasonHas) {
				t.Errorf("reason %q does not mention %q", ve.Reason, tt.reasonHas)
			}
		})
	}
}

func TestDecodeDocumentList_Depth(t *testing.T) {
	t.Parallel()
	// The metadata object of a list sits at depth 4.
	nest := func(n int) string {
		return `{"documents":[{"id":"a","content":"b","metadata":{"a":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}}],"count":1}`
	}
	if _, err := schema.DecodeDocumentList([]byte(nest(60)), schema.DefaultLimits); err != nil {
		t.Errorf("depth 64: %v", err)
	}
	if _, err := schema.DecodeDocumentList([]byte(nest(61)), schema.DefaultLimits); !errors.Is(err, schema.ErrTooLarge) {
		t.Errorf("depth 65: got %v, want a limit error", err)
	}
}

func TestDecodeDocumentList_ZeroLimits(t *testing.T) {
	t.Parallel()
	in := readFile(t, "v1.3/valid-DocumentList-0.json")
	a, err := schema.DecodeDocumentList(in, schema.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := schema.DecodeDocumentList(in, schema.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Error("zero Limits differ from DefaultLimits")
	}
}

func TestAppendDocumentListJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		docs []schema.Document
		want string
	}{
		{"empty", nil, `{"documents":[],"count":0}`},
		{"one", []schema.Document{{ID: "a", Content: "b", Metadata: `{"x": 1}`}},
			`{"documents":[{"id":"a","content":"b","metadata":"{\"x\": 1}"}],"count":1}`},
		{"two, empty metadata", []schema.Document{{ID: "a", Content: "b"}, {ID: "c", Content: "d"}},
			`{"documents":[{"id":"a","content":"b","metadata":""},{"id":"c","content":"d","metadata":""}],"count":2}`},
		{"escaping", []schema.Document{{ID: "\"\\/\b\f\n\r\t\x00\x1f\x7f", Content: "<>&é日本🎉\u2028\u2029", Metadata: "bad\xffutf8"}},
			`{"documents":[{"id":"\"\\/\b\f\n\r\t\u0000\u001f` + "\x7f" + `","content":"<>&é日本🎉\u2028\u2029","metadata":"bad\ufffdutf8"}],"count":1}`},
		{"long", []schema.Document{{ID: strings.Repeat("x", 40) + "\"", Content: strings.Repeat("0123456789", 10)}},
			`{"documents":[{"id":"` + strings.Repeat("x", 40) + `\"","content":"` + strings.Repeat("0123456789", 10) + `","metadata":""}],"count":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := schema.AppendDocumentListJSON([]byte("prefix"), tt.docs)
			if string(got) != "prefix"+tt.want {
				t.Errorf("got  %s\nwant prefix%s", got, tt.want)
			}
			if !json.Valid(got[len("prefix"):]) {
				t.Error("output is not valid JSON")
			}
		})
	}
}

func TestAppendDocumentListJSON_RoundTrip(t *testing.T) {
	t.Parallel()
	in := readFile(t, "v1.3/valid-DocumentList-0.json")
	l, err := schema.DecodeDocumentList(in, schema.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	out := schema.AppendDocumentListJSON(nil, l.Documents)
	want := `{"documents":[{"id":"64dd0bce-8711-4b76-b051-838faa4117a3","content":"content1","metadata":"{\"name\": \"name1\"}"},` +
		`{"id":"4db24570-aa0d-4eb4-8179-66971ff2cff1","content":"content2","metadata":""}],"count":2}`
	if string(out) != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
	again, err := schema.DecodeDocumentList(out, schema.DefaultLimits)
	if err != nil || !reflect.DeepEqual(again, l) {
		t.Errorf("round trip: %v, %#v", err, again)
	}
	// encoding/json reads the same values.
	var std struct {
		Documents []struct{ ID, Content, Metadata string }
		Count     int
	}
	if err := json.Unmarshal(out, &std); err != nil {
		t.Fatal(err)
	}
	for i, d := range std.Documents {
		if d.ID != l.Documents[i].ID || d.Content != l.Documents[i].Content || d.Metadata != l.Documents[i].Metadata {
			t.Errorf("document %d: encoding/json read %#v", i, d)
		}
	}
}

func TestAppendCompact(t *testing.T) {
	t.Parallel()
	docs := []schema.Document{{ID: "a", Content: "bc", Metadata: ""}, {ID: "", Content: "é", Metadata: "{}"}}
	got := schema.AppendCompact([]byte{9}, docs)
	want := []byte{9,
		2, 0, 0, 0,
		1, 0, 0, 0, 'a', 2, 0, 0, 0, 'b', 'c', 0, 0, 0, 0,
		0, 0, 0, 0, 2, 0, 0, 0, 0xc3, 0xa9, 2, 0, 0, 0, '{', '}',
	}
	if !bytes.Equal(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
	back, err := schema.DecodeCompactDocumentList(got[1:], schema.DefaultLimits)
	if err != nil || !reflect.DeepEqual(back, docs) {
		t.Errorf("round trip: %v, %#v", err, back)
	}
	if got := schema.AppendCompact(nil, nil); !bytes.Equal(got, []byte{0, 0, 0, 0}) {
		t.Errorf("empty list: %v", got)
	}
}

func TestDecodeCompactDocumentList(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		docs []schema.Document
	}{
		{"empty", nil},
		{"one", []schema.Document{{ID: "id", Content: "content", Metadata: "not json at all"}}},
		{"unicode", []schema.Document{{ID: "日本", Content: "🎉\x00\x7f", Metadata: `{"a": 1}`}, {}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := schema.AppendCompact(nil, tt.docs)
			got, err := schema.DecodeCompactDocumentList(b, schema.DefaultLimits)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.docs) {
				t.Errorf("got %#v, want %#v", got, tt.docs)
			}
		})
	}
}

func TestDecodeCompactDocumentList_Errors(t *testing.T) {
	t.Parallel()
	one := func(id, content, metadata string) []byte {
		return schema.AppendCompact(nil, []schema.Document{{ID: "ok", Content: "ok"}, {ID: id, Content: content, Metadata: metadata}})
	}
	good := one("a", "b", "c")
	tests := []struct {
		name      string
		in        []byte
		lim       schema.Limits
		field     string
		tooLarge  bool
		malformed bool
	}{
		{"empty input", nil, schema.Limits{}, "", false, true},
		{"short header", []byte{1, 0}, schema.Limits{}, "", false, true},
		{"count beyond the bytes", []byte{200, 0, 0, 0, 0, 0, 0, 0}, schema.Limits{}, "", false, true},
		{"truncated document", good[:len(good)-1], schema.Limits{}, "documents[1]", false, true},
		{"trailing bytes", append(append([]byte{}, good...), 0), schema.Limits{}, "", false, true},
		{"invalid UTF-8 id", one("\xff"+secret, "b", "c"), schema.Limits{}, "documents[1].id", false, false},
		{"invalid UTF-8 content", one("a", secret+"\xed\xa0\x80", "c"), schema.Limits{}, "documents[1].content", false, false},
		{"invalid UTF-8 metadata", one("a", "b", "\xc0\xaf"), schema.Limits{}, "documents[1].metadata", false, false},
		{"body", good, schema.Limits{MaxBodyBytes: len(good) - 1}, "", true, false},
		{"documents", good, schema.Limits{MaxDocuments: 1}, "documents", true, false},
		{"id bytes", one(secret, "b", "c"), schema.Limits{MaxIDBytes: 3}, "documents[1].id", true, false},
		{"content bytes", one("a", secret, "c"), schema.Limits{MaxContentBytes: 3}, "documents[1].content", true, false},
		{"metadata bytes", one("a", "b", secret), schema.Limits{MaxMetadataBytes: 3}, "documents[1].metadata", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := schema.DecodeCompactDocumentList(tt.in, tt.lim)
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("message %q repeats input", err)
			}
			if tt.tooLarge {
				var le *schema.LimitError
				if !errors.As(err, &le) || le.Field != tt.field {
					t.Fatalf("got %v, want a *LimitError for %q", err, tt.field)
				}
				return
			}
			var ve *schema.ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.field {
				t.Fatalf("got %v, want a *ValidationError for %q", err, tt.field)
			}
			if got := errors.Is(err, abi.ErrMalformed); got != tt.malformed {
				t.Errorf("errors.Is(err, abi.ErrMalformed) = %v", got)
			}
		})
	}
}
