package schema_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/osohost/osohost/host/schema"
)

var update = flag.Bool("update", false, "regenerate testdata/metadata.golden (needs python3)")

const metadataGolden = "metadata.golden"

// pyDumps is what the framework does to a metadata object: Python's
// json.loads, then json.dumps with default arguments. Each input line is a
// JSON string holding the metadata text; each output line a JSON object
// {"in": text, "out": json.dumps(json.loads(text))}.
const pyDumps = `
import json, sys
for line in sys.stdin:
    text = json.loads(line)
    print(json.dumps({"in": text, "out": json.dumps(json.loads(text))}))
`

// metadataInputs are the metadata objects of the golden file: rules written
// out, then generated floats, integers and strings.
func metadataInputs() []string {
	in := []string{
		`{}`,
		`{"name":"name1"}`,
		`{ "a" : [ 1 , 2 ] , "b" : { } , "c" : [ ] }`,
		`{"t":true,"f":false,"n":null}`,
		`{"nested":{"a":[1,[2,[3,{"b":[]}]]]}}`,
		// duplicate names: first position, last value
		`{"a":1,"b":2,"a":3}`,
		`{"a":1,"a":2,"a":3}`,
		`{"a":{"x":1,"x":2},"b":0,"a":{"y":[1,{"z":1,"z":[2]}]}}`,
		`{"\u0061":1,"a":2}`,
		`{"é":1,"\u00e9":2,"\u00E9":3}`,
		`{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"k16":16,"k17":17,"k3":"x","k18":18,"k16":"y","k0":"z"}`,
		// strings: ensure_ascii
		`{"é":"日本語","emoji":"🎉😀","escaped":"\ud83c\udf89"}`,
		`{"ctl":"\u0000\u0001\u001f\u007f\u0080\u009f","short":"\b\f\n\r\t","q":"\"\\\/"}`,
		`{"sep":"\u2028\u2029","bom":"\ufeff","max":"\uffff","replacement":"\ufffd","astral":"\udbff\udfff"}`,
		"{\"raw\":\"\x7f\u00a0\u0800\U00010000\U0010ffff\"}",
		`{"<>&":"<>&'"}`,
		// integers
		`{"i":[0,-0,1,-1,42,9007199254740993,9223372036854775807,9223372036854775808,-9223372036854775809]}`,
		`{"big":123456789012345678901234567890,"neg":-123456789012345678901234567890}`,
		`{"huge":` + strings.Repeat("7", 4300) + `}`,
		// floats
		`{"f":[0.0,-0.0,1.0,-1.5,1E2,1e+2,1e-2,0.1,100.0,1.0e0,0e0,-0e-0]}`,
		`{"f":[1e15,1e16,1e-4,1e-5,0.0001,0.00001,123e-20,1e22,1e100,1.5e300]}`,
		`{"f":[5e-324,2.4703282292062328e-324,2.4703282292062327e-324,1e-400,-1e-400]}`,
		`{"f":[1.7976931348623157e308,1.7976931348623158e308,1e400,-1e400,1e999999999999]}`,
		`{"f":[2.2250738585072011e-308,2.2250738585072012e-308,9007199254740993.0,0.1e1]}`,
		`{"f":[1.00000000000000011102230246251565404236316680908203125]}`,
		`{"f":[` + strings.Repeat("1", 400) + `.5,0.` + strings.Repeat("0", 400) + `1,1` + strings.Repeat("0", 400) + `e-400]}`,
	}
	r := rand.New(rand.NewPCG(1, 2))
	var fs []string
	for len(fs) < 400 {
		var lit string
		switch len(fs) % 4 {
		case 0: // any finite float64, shortest form
			f := math.Float64frombits(r.Uint64())
			if math.IsNaN(f) || math.IsInf(f, 0) {
				continue
			}
			lit = strconv.FormatFloat(f, 'e', -1, 64)
		case 1: // a value of moderate size, with more digits than needed
			f := r.Float64() * math.Pow(10, float64(r.IntN(40)-20))
			lit = strconv.FormatFloat(f, 'e', r.IntN(25), 64)
		case 2: // a decimal literal with random digits
			lit = fmt.Sprintf("%d.%de%d", r.Uint64N(1<<r.UintN(60)), r.Uint64(), r.IntN(660)-340)
		case 3: // positional, around the switch to scientific notation
			f := float64(r.Uint64N(1<<53)) * math.Pow(10, float64(r.IntN(30)-25))
			lit = strconv.FormatFloat(f, 'f', -1, 64)
			if !strings.Contains(lit, ".") {
				lit += ".0"
			}
		}
		fs = append(fs, lit)
	}
	for i := 0; i < len(fs); i += 20 {
		in = append(in, `{"f":[`+strings.Join(fs[i:i+20], ",")+`]}`)
	}
	for range 40 {
		var sb strings.Builder
		for range 1 + r.IntN(12) {
			switch r.IntN(4) {
			case 0:
				sb.WriteRune(rune(r.IntN(0x80)))
			case 1:
				sb.WriteRune(rune(0x80 + r.IntN(0x780)))
			case 2:
				c := rune(0x800 + r.IntN(0x10000-0x800))
				if c >= 0xd800 && c < 0xe000 {
					c = 0xfffd
				}
				sb.WriteRune(c)
			default:
				sb.WriteRune(rune(0x10000 + r.IntN(0x100000)))
			}
		}
		k, _ := json.Marshal(sb.String()) // escapes control characters, < > & and U+2028/9
		in = append(in, `{`+string(k)+`:`+string(k)+`,"n":`+strconv.Itoa(r.IntN(1000)-500)+`}`)
	}
	return in
}

type goldenEntry struct {
	In  string `json:"in"`
	Out string `json:"out"`
}

func regenerateGolden(t *testing.T) {
	var stdin bytes.Buffer
	for _, s := range metadataInputs() {
		b, _ := json.Marshal(s)
		stdin.Write(b)
		stdin.WriteByte('\n')
	}
	cmd := exec.CommandContext(t.Context(), "python3", "-c", pyDumps)
	cmd.Stdin = &stdin
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	if err := os.WriteFile(filepath.Join("testdata", metadataGolden), out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDecodeDocumentList_MetadataGolden checks metadata normalisation
// against the text CPython's json.dumps wrote for the same objects
// (testdata/metadata.golden; go test -run MetadataGolden -update rewrites it).
func TestDecodeDocumentList_MetadataGolden(t *testing.T) {
	if *update {
		regenerateGolden(t)
	}
	f, err := os.Open(filepath.Join("testdata", metadataGolden))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		var e goldenEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		n++
		body := `{"documents":[{"id":"a","content":"b","metadata":` + e.In + `}],"count":1}`
		l, err := schema.DecodeDocumentList([]byte(body), schema.DefaultLimits)
		if err != nil {
			t.Errorf("line %d: %v", n, err)
			continue
		}
		if got := l.Documents[0].Metadata; got != e.Out {
			t.Errorf("line %d: metadata %.200s\n got  %.300s\n want %.300s", n, e.In, got, e.Out)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if want := len(metadataInputs()); n != want {
		t.Errorf("golden file has %d entries, the inputs %d: run with -update", n, want)
	}
}
