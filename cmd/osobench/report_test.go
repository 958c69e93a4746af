package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReplaceSection(t *testing.T) {
	doc := "# Title\n\nhand-written\n"
	once := replaceSection(doc, "generated 1\n")
	if !strings.HasPrefix(once, doc) || !strings.Contains(once, "generated 1\n"+endMarker) {
		t.Fatalf("appended:\n%s", once)
	}
	twice := replaceSection(once+"\n## After\n", "generated 2\n")
	if strings.Contains(twice, "generated 1") || !strings.Contains(twice, "generated 2") ||
		!strings.HasPrefix(twice, doc) || !strings.HasSuffix(twice, "## After\n") || strings.Count(twice, beginMarker) != 1 {
		t.Fatalf("replaced:\n%s", twice)
	}
}

func TestParseBench(t *testing.T) {
	out := `goos: linux
BenchmarkSign/key=ED25519/path=native-2   	    3556	     32717 ns/op	     19386 cpu-ns/sig	       0 B/op	       0 allocs/op
BenchmarkSign/key=ED25519/path=native-2   	    3000	     30000 ns/op	     19000 cpu-ns/sig	       0 B/op	       0 allocs/op
BenchmarkDeadline/work=spin/mode=interrupt-2 	 10	 1000 ns/op	 1.83 x-none
--- FAIL: BenchmarkX
PASS`
	r := parseBench(out)
	if len(r) != 2 || r[0].Name != "BenchmarkSign/key=ED25519/path=native" || len(r[0].Values["ns/op"]) != 2 ||
		med(r[0].Values["cpu-ns/sig"]) != 19193 || r[1].Values["x-none"][0] != 1.83 {
		t.Fatalf("%+v", r)
	}
	if strings.Join(r[0].Units, ",") != "ns/op,cpu-ns/sig,B/op,allocs/op" {
		t.Errorf("units %v", r[0].Units)
	}
}

func TestParseStraceSummary(t *testing.T) {
	f := filepath.Join(t.TempDir(), "s.txt")
	os.WriteFile(f, []byte(`% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 80.60    0.000162         162        12           fsync
 19.40    0.000039          39         7         1 fdatasync
------ ----------- ----------- --------- --------- ----------------
100.00    0.000201         100        19         1 total
`), 0o644)
	c, err := parseStraceSummary(f)
	if err != nil || c["fsync"] != 12 || c["fdatasync"] != 7 || len(c) != 2 {
		t.Fatalf("%v, %v", c, err)
	}
	if got := fsyncPerRequest(fsyncPoint{Requests: 3, Syscalls: c, Baseline: map[string]int64{"fsync": 1, "fdatasync": 3}}); got != 5 {
		t.Errorf("per request %v", got)
	}
}

func TestRun_Usage(t *testing.T) {
	var out, errs strings.Builder
	if code := run(t.Context(), nil, &out, &errs); code != 2 || !strings.Contains(errs.String(), "osobench load") {
		t.Errorf("no arguments: %d, %q", code, errs.String())
	}
	if code := run(t.Context(), []string{"nope"}, &out, &errs); code != 2 {
		t.Errorf("unknown command: %d", code)
	}
	errs.Reset()
	if code := run(t.Context(), []string{"load", "--pubkey", "x"}, &out, &errs); code != 2 {
		t.Errorf("load without certificates: %d, %q", code, errs.String())
	}
	if code := run(t.Context(), []string{"suite", "--phases", "nope"}, &out, &errs); code != 2 || !strings.Contains(errs.String(), "unknown phase") {
		t.Errorf("unknown phase: %d, %q", code, errs.String())
	}
}
