package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/osohost/osohost/host/hostcall"
	"github.com/osohost/osohost/host/plugin"
	"github.com/osohost/osohost/host/plugin/plugintest"
	"github.com/osohost/osohost/host/schema"
)

// workDir holds the guests built by this package and the compilation
// cache shared by its benchmarks, so each guest is compiled once per
// deadline mode.
var workDir string

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "osohost-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	workDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

func cacheDir() string { return filepath.Join(workDir, "cache") }

// goGuests maps the name of each Go guest the benchmarks run to its
// package, relative to the module root.
var goGuests = map[string]string{
	"echoguest": "bench/testdata/echoguest",
	"rawguest":  "bench/testdata/rawguest",
	"workguest": "bench/testdata/workguest",
	"queue":     "examples/queue",
	"signer":    "examples/signer",
	"signguest": "host/hostcall/testdata/signguest",
}

var (
	buildMu sync.Mutex
	built   = map[string]string{}
)

// moduleRoot returns the module's root directory.
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..")
}

// guestPath returns the .wasm of the named guest: from OSOHOST_GUESTS when
// it holds one, else built from source once per process. A guest that
// cannot be built skips the benchmark, or fails it when
// OSOHOST_REQUIRE_GUESTS=1.
func guestPath(tb testing.TB, name string) string {
	tb.Helper()
	if name == "status-c" {
		return plugintest.Path(tb, name)
	}
	dir, ok := goGuests[name]
	if !ok {
		tb.Fatalf("bench: unknown guest %q", name)
	}
	if d := os.Getenv("OSOHOST_GUESTS"); d != "" {
		p := filepath.Join(d, name+".wasm")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := built[name]; ok {
		return p
	}
	out := filepath.Join(workDir, "guests", name+".wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-o", out, "./"+dir)
	cmd.Dir = moduleRoot()
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		why := fmt.Sprintf("%v\n%s", err, b)
		if os.Getenv("OSOHOST_REQUIRE_GUESTS") == "1" {
			tb.Fatalf("bench: guest %s cannot be built: %s", name, why)
		}
		tb.Skipf("guest %s cannot be built here: %s", name, why)
	}
	built[name] = out
	return out
}

func readGuest(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(guestPath(tb, name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// newEngine returns an engine with the package's compilation cache, closed
// when the benchmark ends.
func newEngine(tb testing.TB, mode plugin.DeadlineMode) *plugin.Engine {
	tb.Helper()
	ctx := context.Background()
	eng, err := plugin.NewEngine(ctx, plugin.EngineOptions{CacheDir: cacheDir(), Deadline: mode,
		HostFunctions: hostcall.State(nil, hostcall.StateLimits{})})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { eng.Close(ctx) })
	return eng
}

// newPool compiles the named guest for mode and returns a pool of one
// instance, closed when the benchmark ends.
func newPool(tb testing.TB, guest string, mode plugin.DeadlineMode) *plugin.Pool {
	tb.Helper()
	ctx := context.Background()
	mod, err := newEngine(tb, mode).Compile(ctx, readGuest(tb, guest))
	if err != nil {
		tb.Fatal(err)
	}
	p, err := plugin.NewPool(ctx, mod, plugin.PoolOptions{Size: 1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Close(ctx) })
	return p
}

// modes are the deadline modes in the order the benchmarks run them:
// DeadlineNone first, so that the others can report their ratio to it.
var modes = []plugin.DeadlineMode{plugin.DeadlineNone, plugin.DeadlineInterrupt, plugin.DeadlineContext}

// Documents of the benchmarks: a UUID-shaped id of 36 bytes, 128 bytes of
// content and a metadata string of about 40 bytes, as the OSO sends them.
const (
	listDocs     = 100
	contentBytes = 128
)

// document returns the i-th benchmark document.
func document(i int) schema.Document {
	content := fmt.Sprintf("transfer %06d units from account 0x9f8e7d6c5b4a to account 0x1a2b3c4d5e6f, memo: batch settlement ", i)
	content += strings.Repeat("x", contentBytes-len(content))
	return schema.Document{
		ID:       fmt.Sprintf("%08x-8711-4b76-b051-838faa4117a3", i),
		Content:  content,
		Metadata: fmt.Sprintf(`{"chain":"eth","nonce":1%05d,"fee":21}`, i),
	}
}

// documents returns the first n benchmark documents.
func documents(n int) []schema.Document {
	docs := make([]schema.Document, n)
	for i := range docs {
		docs[i] = document(i)
	}
	return docs
}

// oneKiB is one document whose compact DocumentList is exactly 1024 bytes.
func oneKiB() []byte {
	d := document(0)
	d.Content = strings.Repeat("c", 1024-4-12-len(d.ID)-len(d.Metadata))
	return schema.AppendCompact(nil, []schema.Document{d})
}

// perDoc reports the time per document of a benchmark that handled docs
// documents per loop, over loops loops.
func perDoc(b *testing.B, loops, docs int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(loops*docs), "ns/doc")
}

// ratios remembers the time per operation of each DeadlineNone benchmark
// run in this process, so that the other modes can report their ratio to
// the median of those runs.
var (
	ratioMu sync.Mutex
	ratios  = map[string][]float64{}
)

// reportMode records (mode none) or reports (other modes) the ratio of this
// run's time per operation to DeadlineNone's for the same work.
func reportMode(b *testing.B, work string, mode plugin.DeadlineMode, loops int) {
	nsop := float64(b.Elapsed().Nanoseconds()) / float64(loops)
	ratioMu.Lock()
	defer ratioMu.Unlock()
	if mode == plugin.DeadlineNone {
		ratios[work] = append(ratios[work], nsop)
		return
	}
	if none := median(ratios[work]); none > 0 {
		b.ReportMetric(nsop/none, "x-none")
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
