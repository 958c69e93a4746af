package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/osohost/osohost/bench/loadgen"
	"github.com/osohost/osohost/bench/native"
	"github.com/osohost/osohost/host/pki"
	"github.com/osohost/osohost/internal/syncbuf"
)

// The systems under load.
const (
	sysOsohost = "osohost"
	sysPython  = "python"
	// sysFramework is the Python peer as the framework ships: a new TLS
	// connection for every request.
	sysFramework = "framework"
)

// phases in the order the suite runs them.
var allPhases = []string{"floor", "peers", "concurrency", "proto", "reload", "durability", "rss", "cold", "fsync", "profile", "micro"}

// suite is one run of the whole benchmark.
type suite struct {
	quick        bool
	repo         string
	work         string // temporary directory of this run
	appRoot      string // osohost's APP__ROOT: keystore, compilation cache, state
	peerKeystore string // the Python peer's public key, in the keystore layout
	osohost      string
	signerWasm   string
	guests       string
	cores        int

	tls                                          *tls.Config
	caPEM, serverCertPEM, serverKeyPEM, clientFP string
	keys                                         *loadgen.Keyring

	warmup, dur time.Duration
	reps        int
	batches     []int
	concs       []int
	conc        int // the concurrency of the batch sweep and the other phases
	pools       []int
	benchCount  int
	benchTime   string

	extraEnv    []string
	peer        *server
	res         *results
	resultsFile string
	log         io.Writer
	verbose     bool
}

// envList collects repeated KEY=VALUE flags.
type envList []string

func (e *envList) String() string { return strings.Join(*e, " ") }

func (e *envList) Set(v string) error {
	if !strings.Contains(v, "=") {
		return fmt.Errorf("want KEY=VALUE, not %q", v)
	}
	*e = append(*e, v)
	return nil
}

// results is everything a suite run measured; it is saved as JSON so that
// the report can be written again (--from) without measuring.
type results struct {
	Started     time.Time `json:"started"`
	Finished    time.Time `json:"finished"`
	Quick       bool      `json:"quick"`
	Commit      string    `json:"commit"`
	Go          string    `json:"go"`
	CPU         string    `json:"cpu"`
	Cores       int       `json:"cores"`
	LoadStart   string    `json:"load_start"`
	LoadEnd     string    `json:"load_end"`
	Warmup      float64   `json:"warmup_s"`
	Duration    float64   `json:"duration_s"`
	Reps        int       `json:"reps"`
	Conc        int       `json:"concurrency"`
	PeerVersion string    `json:"peer_version,omitempty"`
	PeerSkipped string    `json:"peer_skipped,omitempty"`
	Notes       []string  `json:"notes,omitempty"`
	OsohostEnv  []string  `json:"osohost_env,omitempty"`
	// FsyncMS are the p50, p90 and p99 of an fsync after a 200-byte
	// append in the directory osohost's state and audit log live in,
	// measured at the start (200 syncs).
	FsyncMS []float64 `json:"fsync_ms,omitempty"`

	Floor      *floorResult    `json:"floor,omitempty"`
	Points     []*point        `json:"points,omitempty"`
	RSS        []rssPoint      `json:"rss,omitempty"`
	Cold       *coldResult     `json:"cold,omitempty"`
	Fsync      []fsyncPoint    `json:"fsync,omitempty"`
	Profiles   []profileResult `json:"profiles,omitempty"`
	Micro      []microResult   `json:"micro,omitempty"`
	MicroCmd   string          `json:"micro_cmd,omitempty"`
	MicroError string          `json:"micro_error,omitempty"`
}

// floorResult: native Go on the same cores.
type floorResult struct {
	// SignCPU1 and SignCPUAll are CPU ns per Ed25519 signature of a
	// 128-byte message, one goroutine and one per core; SignRateAll the
	// signatures per second with one goroutine per core.
	SignCPU1    []float64 `json:"sign_cpu_ns_1"`
	SignCPUAll  []float64 `json:"sign_cpu_ns_all"`
	SignRateAll []float64 `json:"sign_rate_all"`
	// Request maps a batch size to CPU ns per document of the whole
	// request in native Go (decode, validate, sign, encode), and
	// RequestRate to documents per second with one goroutine per core.
	Request     map[int][]float64 `json:"request_cpu_ns"`
	RequestRate map[int][]float64 `json:"request_rate"`
}

// point is one load configuration, measured reps times.
type point struct {
	Phase   string           `json:"phase"`
	System  string           `json:"system"`
	Proto   string           `json:"proto"`
	Batch   int              `json:"batch"`
	Conc    int              `json:"concurrency"`
	Variant string           `json:"variant,omitempty"`
	Runs    []loadgen.Result `json:"runs"`
	Reloads []int            `json:"reloads,omitempty"`
	Error   string           `json:"error,omitempty"`
}

type rssPoint struct {
	Pool   int     `json:"pool"`
	Idle   []int64 `json:"idle_bytes"`
	Loaded []int64 `json:"loaded_bytes"`
}

type coldResult struct {
	Warm    []float64 `json:"warm_ms"`     // exec to first 200 on status, warm compilation cache
	Cold    []float64 `json:"cold_ms"`     // the same with an empty cache
	WarmCPU []float64 `json:"warm_cpu_ms"` // CPU time of the process by then
	ColdCPU []float64 `json:"cold_cpu_ms"`
}

type fsyncPoint struct {
	Batch    int              `json:"batch"`
	Conc     int              `json:"concurrency"`
	Requests int64            `json:"requests"`
	Syscalls map[string]int64 `json:"syscalls"` // whole run, start-up included
	Baseline map[string]int64 `json:"baseline"` // start-up, one status, shutdown
	Error    string           `json:"error,omitempty"`
}

func cmdSuite(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("suite", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "short runs (a few minutes in all): 3 repetitions of 1.5 s after 0.5 s of warm-up")
	phases := fs.String("phases", strings.Join(allPhases, ","), "phases to run, comma-separated: "+strings.Join(allPhases, ", "))
	repo := fs.String("repo", ".", "the osohost module's root")
	bin := fs.String("osohost", "build/osohost", "the osohost binary (built into the temporary directory when missing)")
	guests := fs.String("guests", "build/guests", "directory of the built guests (signer.wasm is built when missing)")
	doc := fs.String("doc", "docs/bench.md", "Markdown file whose generated section is rewritten; empty: none")
	charts := fs.String("charts", "docs/bench", "directory of the SVG charts; empty: none")
	out := fs.String("results", "build/bench/results.json", "where the raw results are saved as JSON")
	from := fs.String("from", "", "write the report from this results file instead of measuring")
	reps := fs.Int("reps", 0, "repetitions of every point (default 3, or 5 in full mode)")
	dur := fs.Duration("d", 0, "measured duration of a load run (default 1.5 s quick, 8 s full)")
	verbose := fs.Bool("v", false, "print every run")
	var extraEnv envList
	fs.Var(&extraEnv, "osohost-env", "KEY=VALUE added to the environment of every osohost run (repeatable), e.g. POOL__SIZE=8")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *from != "" {
		b, err := os.ReadFile(*from)
		if err != nil {
			fmt.Fprintln(stderr, "osobench:", err)
			return 1
		}
		var r results
		if err := json.Unmarshal(b, &r); err != nil {
			fmt.Fprintln(stderr, "osobench:", err)
			return 1
		}
		if err := writeReport(&r, *doc, *charts, stdout); err != nil {
			fmt.Fprintln(stderr, "osobench:", err)
			return 1
		}
		return 0
	}
	s := &suite{quick: *quick, log: stderr, verbose: *verbose, cores: runtime.NumCPU(), extraEnv: extraEnv}
	s.repo, _ = filepath.Abs(*repo)
	s.warmup, s.dur, s.reps = 2*time.Second, 8*time.Second, 5
	s.batches, s.concs, s.conc, s.pools = []int{1, 10, 100, 1000}, []int{1, 2, 4, 8, 32}, 8, []int{1, 2, 4, 8, 16, 32}
	s.benchCount, s.benchTime = 5, "1s"
	if s.quick {
		s.warmup, s.dur, s.reps = 500*time.Millisecond, 1500*time.Millisecond, 3
		s.pools = []int{1, 2, 4, 8, 16}
		s.benchCount, s.benchTime = 3, "100ms"
	}
	if *reps > 0 {
		s.reps = *reps
	}
	if *dur > 0 {
		s.dur = *dur
	}
	want := map[string]bool{}
	for p := range strings.SplitSeq(*phases, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !slices.Contains(allPhases, p) {
			fmt.Fprintf(stderr, "osobench: unknown phase %q (%s)\n", p, strings.Join(allPhases, ", "))
			return 2
		}
		want[p] = true
	}
	s.resultsFile = *out
	if s.resultsFile == "" {
		s.resultsFile = filepath.Join(os.TempDir(), "osobench-results.json")
	}
	os.MkdirAll(filepath.Dir(s.resultsFile), 0o755)
	r, err := s.run(ctx, want, *bin, *guests)
	if r != nil && *out != "" {
		os.MkdirAll(filepath.Dir(*out), 0o755)
		b, _ := json.MarshalIndent(r, "", " ")
		if werr := os.WriteFile(*out, b, 0o644); werr != nil {
			fmt.Fprintln(stderr, "osobench:", werr)
		} else {
			fmt.Fprintf(s.log, "results saved in %s\n", *out)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "osobench:", err)
		return 1
	}
	if err := writeReport(r, *doc, *charts, stdout); err != nil {
		fmt.Fprintln(stderr, "osobench:", err)
		return 1
	}
	return 0
}

func (s *suite) logf(format string, args ...any) {
	fmt.Fprintf(s.log, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// run sets the suite up, runs the phases wanted and returns what they
// measured. A phase that fails is noted in the results; the others run.
func (s *suite) run(ctx context.Context, want map[string]bool, bin, guests string) (*results, error) {
	var err error
	if s.work, err = os.MkdirTemp("", "osobench-"); err != nil {
		return nil, err
	}
	os.Chmod(s.work, 0o755)
	defer os.RemoveAll(s.work)
	s.appRoot = filepath.Join(s.work, "osohost")
	s.peerKeystore = filepath.Join(s.work, "peer-keystore")
	r := &results{Started: time.Now().UTC(), Quick: s.quick, Go: runtime.Version(), Cores: s.cores,
		CPU: cpuModel(), Commit: gitDescribe(s.repo), LoadStart: loadgen.LoadAverage(),
		Warmup: s.warmup.Seconds(), Duration: s.dur.Seconds(), Reps: s.reps, Conc: s.conc, OsohostEnv: s.extraEnv}
	s.res = r
	s.logf("osobench suite: %s mode, load average %s, work in %s", map[bool]string{true: "quick", false: "full"}[s.quick], r.LoadStart, s.work)

	if err := s.setup(ctx, bin, guests); err != nil {
		return r, err
	}
	r.FsyncMS = fsyncProbe(s.work)
	if len(r.FsyncMS) == 3 {
		s.logf("fsync of a small append here: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms", r.FsyncMS[0], r.FsyncMS[1], r.FsyncMS[2])
	}
	needPeer := want["peers"] || want["concurrency"] || want["proto"]
	if needPeer {
		t, err := findPeerTools()
		if err != nil {
			r.PeerSkipped = err.Error()
			s.logf("Python peer skipped: %v", err)
		} else {
			r.PeerVersion = t.versions()
			if s.peer, err = s.startPeer(ctx, t); err != nil {
				r.PeerSkipped = "the peer did not start: " + firstLine(err.Error())
				s.logf("Python peer skipped: %v", err)
			} else {
				defer s.peer.stop()
			}
		}
	}
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"floor", s.phaseFloor},
		{"peers", s.phasePeers},
		{"concurrency", s.phaseConcurrency},
		{"proto", s.phaseProto},
		{"reload", s.phaseReload},
		{"durability", s.phaseDurability},
		{"rss", s.phaseRSS},
		{"cold", s.phaseCold},
		{"fsync", s.phaseFsync},
		{"profile", s.phaseProfile},
		{"micro", s.phaseMicro},
	}
	for _, st := range steps {
		if !want[st.name] {
			continue
		}
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
		s.logf("phase %s (load average %s)", st.name, loadgen.LoadAverage())
		if err := st.fn(ctx); err != nil {
			r.Notes = append(r.Notes, fmt.Sprintf("phase %s failed: %s", st.name, firstLine(err.Error())))
			s.logf("phase %s failed: %v", st.name, err)
		}
	}
	r.LoadEnd = loadgen.LoadAverage()
	r.Finished = time.Now().UTC()
	s.logf("done, load average %s", r.LoadEnd)
	return r, nil
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// setup finds or builds the binary and the signer, writes the development
// PKI, and starts osohost once so that the signer creates its key and the
// compilation cache is warm.
func (s *suite) setup(ctx context.Context, bin, guests string) error {
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(s.repo, p)
	}
	s.osohost = abs(bin)
	if _, err := os.Stat(s.osohost); err != nil {
		s.osohost = filepath.Join(s.work, "osohost-bin")
		s.logf("building osohost")
		if err := goBuild(s.repo, nil, s.osohost, "./cmd/osohost"); err != nil {
			return err
		}
	}
	s.guests = abs(guests)
	s.signerWasm = filepath.Join(s.guests, "signer.wasm")
	if _, err := os.Stat(s.signerWasm); err != nil {
		s.signerWasm = filepath.Join(s.work, "signer.wasm")
		s.logf("building examples/signer")
		if err := goBuild(s.repo, []string{"GOOS=wasip1", "GOARCH=wasm"}, s.signerWasm, "-buildmode=c-shared", "./examples/signer"); err != nil {
			return err
		}
	}
	dev, err := pki.GenerateDev(filepath.Join(s.work, "pki"), pki.DevOptions{})
	if err != nil {
		return err
	}
	read := func(p string) string { b, _ := os.ReadFile(p); return string(b) }
	s.caPEM, s.serverCertPEM, s.serverKeyPEM = read(dev.CACert), read(dev.ServerCert), read(dev.ServerKey)
	s.clientFP = pki.FormatFingerprint(dev.ClientFingerprint)
	if s.tls, err = clientTLS(dev.CACert, dev.ClientCert, dev.ClientKey, "localhost"); err != nil {
		return err
	}
	s.keys = loadgen.NewKeyring(filepath.Join(s.appRoot, "keystore"), s.peerKeystore)
	s.logf("first start of osohost (compiles the signer into the cache)")
	srv, d, err := s.startOsohost(ctx, osohostOptions{})
	if err != nil {
		return err
	}
	defer srv.stop()
	s.logf("osohost ready in %s", d.Round(time.Millisecond))
	// One request creates the signing key; it is checked like every other.
	res, err := loadgen.Run(ctx, loadgen.Config{URL: srv.url, Proto: loadgen.HTTP1, TLS: s.tls, Concurrency: 1, Batch: 10,
		Duration: 300 * time.Millisecond, Keys: s.keys, VerifyAll: true})
	if err != nil {
		return err
	}
	if res.Errors > 0 || res.Requests == 0 {
		return fmt.Errorf("osobench: the first requests to osohost failed: %v", res.ErrorSample)
	}
	return nil
}

// fsyncProbe times 200 fsyncs, each after a 200-byte append, of a file
// in dir, and returns their p50, p90 and p99 in milliseconds.
func fsyncProbe(dir string) []float64 {
	f, err := os.CreateTemp(dir, "fsync-probe-")
	if err != nil {
		return nil
	}
	defer os.Remove(f.Name())
	defer f.Close()
	rec := bytes.Repeat([]byte("x"), 200)
	var lat []float64
	for range 200 {
		if _, err := f.Write(rec); err != nil {
			return nil
		}
		t0 := time.Now()
		if err := f.Sync(); err != nil {
			return nil
		}
		lat = append(lat, float64(time.Since(t0).Microseconds())/1e3)
	}
	slices.Sort(lat)
	return []float64{lat[99], lat[179], lat[197]}
}

func goBuild(dir string, env []string, out string, args ...string) error {
	cmd := exec.Command("go", append([]string{"build", "-trimpath", "-o", out}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %v: %v\n%s", args, err, b)
	}
	return nil
}

func gitDescribe(dir string) string {
	out, err := exec.Command("git", "-C", dir, "describe", "--tags", "--always", "--dirty").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for l := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// phaseFloor measures native Go on the same cores: the Ed25519 signature
// alone, and the whole request without transport.
func (s *suite) phaseFloor(ctx context.Context) error {
	f := &floorResult{Request: map[int][]float64{}, RequestRate: map[int][]float64{}}
	s.res.Floor = f
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	msg := make([]byte, loadgen.ContentBytes)
	for i := range msg {
		msg[i] = byte(i)
	}
	d := 3 * time.Second // per figure and repetition; CPU per unit settles fast
	if s.quick {
		d = time.Second
	}
	for range s.reps {
		n, cpu := native.SignLoop(priv, msg, 1, d)
		f.SignCPU1 = append(f.SignCPU1, float64(cpu.Nanoseconds())/float64(n))
		n, cpu = native.SignLoop(priv, msg, s.cores, d)
		f.SignCPUAll = append(f.SignCPUAll, float64(cpu.Nanoseconds())/float64(n))
		f.SignRateAll = append(f.SignRateAll, float64(n)/d.Seconds())
		for _, b := range s.batches {
			docs := make([]loadgen.Doc, b)
			loadgen.MakeDocs(docs, 0, 1)
			body := loadgen.AppendBody(nil, docs)
			out, err := native.Request(body, "native", priv)
			if err != nil {
				return err
			}
			if _, err := loadgen.Check(200, out, docs, nativeKeyring(priv), 0, true); err != nil {
				return fmt.Errorf("native request: %v", err)
			}
			var total atomic.Int64
			var stop atomic.Bool
			var wg sync.WaitGroup
			cpu0 := loadgen.SelfCPU()
			for range s.cores {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for !stop.Load() {
						native.Request(body, "native", priv)
						total.Add(int64(b))
					}
				}()
			}
			time.Sleep(d)
			stop.Store(true)
			wg.Wait()
			cpu := loadgen.SelfCPU() - cpu0
			f.Request[b] = append(f.Request[b], float64(cpu.Nanoseconds())/float64(total.Load()))
			f.RequestRate[b] = append(f.RequestRate[b], float64(total.Load())/d.Seconds())
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	s.logf("floor: Ed25519 %.1f µs CPU/signature (1 goroutine), %.1f µs (%d), %.0f signatures/s",
		med(f.SignCPU1)/1e3, med(f.SignCPUAll)/1e3, s.cores, med(f.SignRateAll))
	return nil
}

// nativeKeyring holds the public key of priv under the id "native".
func nativeKeyring(priv ed25519.PrivateKey) *loadgen.Keyring {
	k := loadgen.NewKeyring()
	dir, _ := os.MkdirTemp("", "osobench-native-")
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "native.pem")
	der, _ := marshalPub(priv.Public().(ed25519.PublicKey))
	os.WriteFile(p, der, 0o600)
	k.AddPEM("native", p)
	return k
}

// runOne measures one run of a point: a fresh osohost (state and audit
// log emptied) or the running Python peer.
func (s *suite) runOne(ctx context.Context, p *point, opts osohostOptions, during func(srv *server) func(context.Context)) error {
	var srv *server
	switch p.System {
	case sysOsohost:
		var err error
		if srv, _, err = s.startOsohost(ctx, opts); err != nil {
			return err
		}
		defer srv.stop()
	case sysPython, sysFramework:
		if s.peer == nil {
			return errors.New("the Python peer is not running")
		}
		srv = s.peer
	}
	url := srv.url
	if p.System == sysFramework {
		url = srv.closeURL
	}
	cfg := loadgen.Config{URL: url, Proto: p.Proto, TLS: s.tls, Concurrency: p.Conc, Batch: p.Batch,
		Warmup: s.warmup, Duration: s.dur, Keys: s.keys, ServerPIDs: srv.pids()}
	if p.Phase == "reload" {
		cfg.Duration = 2 * s.dur
	}
	if during != nil {
		cfg.During = during(srv)
	}
	res, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if p.Variant == "reload" && srv.name == sysOsohost {
		p.Reloads = append(p.Reloads, countReloads(srv.logs[0].Name()))
	}
	p.Runs = append(p.Runs, res)
	if s.verbose || res.Errors > 0 {
		s.logf("  %s %s: %s", p.System, p.Variant, res.String())
		for _, e := range res.ErrorSample {
			s.logf("    error: %s", e)
		}
	}
	return nil
}

// countReloads counts the successful reloads in an osohost log.
func countReloads(file string) int {
	f, err := os.Open(file)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if bytes.Contains(sc.Bytes(), []byte(`"plugin reloaded"`)) {
			n++
		}
	}
	return n
}

// sweep measures the points, interleaving systems within each repetition.
func (s *suite) sweep(ctx context.Context, pts []*point, opts func(*point) osohostOptions, during func(*point) func(srv *server) func(context.Context)) {
	for rep := range s.reps {
		for _, p := range pts {
			if ctx.Err() != nil {
				return
			}
			if (p.System == sysPython || p.System == sysFramework) && s.peer == nil {
				continue
			}
			var o osohostOptions
			if opts != nil {
				o = opts(p)
			}
			var d func(srv *server) func(context.Context)
			if during != nil {
				d = during(p)
			}
			if err := s.runOne(ctx, p, o, d); err != nil {
				p.Error = firstLine(err.Error())
				s.logf("  %s %s b=%d c=%d rep %d: %v", p.System, p.Proto, p.Batch, p.Conc, rep+1, err)
			}
		}
	}
	for _, p := range pts {
		if len(p.Runs) > 0 {
			s.logf("  %-8s %s %-7s b=%-4d c=%-3d %8.0f docs/s  server %7.1f µs/doc  p99 %s",
				p.System, p.Proto, p.Variant, p.Batch, p.Conc, medRuns(p.Runs, docsPerSec), medRuns(p.Runs, serverUS), time.Duration(medRuns(p.Runs, p99ns)).Round(10*time.Microsecond))
		}
		s.res.Points = append(s.res.Points, p)
	}
}

func (s *suite) systems() []string {
	return []string{sysOsohost, sysPython}
}

func (s *suite) phasePeers(ctx context.Context) error {
	var pts []*point
	for _, b := range s.batches {
		for _, sys := range s.systems() {
			pts = append(pts, &point{Phase: "peers", System: sys, Proto: loadgen.HTTP1, Batch: b, Conc: s.conc})
		}
		if b <= 100 {
			pts = append(pts, &point{Phase: "peers", System: sysFramework, Proto: loadgen.HTTP1, Batch: b, Conc: s.conc})
		}
	}
	s.sweep(ctx, pts, nil, nil)
	return nil
}

func (s *suite) phaseConcurrency(ctx context.Context) error {
	var pts []*point
	batches := []int{100}
	if !s.quick {
		batches = []int{1, 100}
	}
	for _, b := range batches {
		for _, c := range s.concs {
			for _, sys := range s.systems() {
				pts = append(pts, &point{Phase: "concurrency", System: sys, Proto: loadgen.HTTP1, Batch: b, Conc: c})
			}
		}
	}
	s.sweep(ctx, pts, nil, nil)
	return nil
}

func (s *suite) phaseProto(ctx context.Context) error {
	var pts []*point
	for _, proto := range []string{loadgen.HTTP1, loadgen.HTTP2, loadgen.HTTP3} {
		pts = append(pts, &point{Phase: "proto", System: sysOsohost, Proto: proto, Batch: 10, Conc: s.conc})
		if proto != loadgen.HTTP3 { // NGINX 1.22 has no HTTP/3
			pts = append(pts, &point{Phase: "proto", System: sysPython, Proto: proto, Batch: 10, Conc: s.conc})
		}
	}
	s.sweep(ctx, pts, nil, nil)
	return nil
}

// phaseReload compares latency under the same load with and without a
// hot reload (SIGHUP) every 250 ms.
func (s *suite) phaseReload(ctx context.Context) error {
	pts := []*point{
		{Phase: "reload", System: sysOsohost, Proto: loadgen.HTTP1, Batch: 10, Conc: s.conc, Variant: "steady"},
		{Phase: "reload", System: sysOsohost, Proto: loadgen.HTTP1, Batch: 10, Conc: s.conc, Variant: "reload"},
	}
	during := func(p *point) func(srv *server) func(context.Context) {
		if p.Variant != "reload" {
			return nil
		}
		return func(srv *server) func(context.Context) {
			return func(ctx context.Context) {
				t := time.NewTicker(250 * time.Millisecond)
				defer t.Stop()
				for {
					select {
					case <-ctx.Done():
						return
					case <-t.C:
						srv.signal(syscall.SIGHUP)
					}
				}
			}
		}
	}
	s.sweep(ctx, pts, nil, during)
	return nil
}

// phaseDurability shows what durability costs: the same load with the
// state and the audit log on disk (the default), on tmpfs (/dev/shm, where
// fsync does not wait for a device), and without state (the audit log on
// disk; the signer then answers without keeping the documents, and logs
// a warning per request).
func (s *suite) phaseDurability(ctx context.Context) error {
	shm := "/dev/shm"
	if fi, err := os.Stat(shm); err != nil || !fi.IsDir() {
		shm = ""
	}
	var pts []*point
	for _, b := range []int{1, 100} {
		for _, v := range []string{"disk", "tmpfs", "no state"} {
			if v == "tmpfs" && shm == "" {
				continue
			}
			pts = append(pts, &point{Phase: "durability", System: sysOsohost, Proto: loadgen.HTTP1, Batch: b, Conc: s.conc, Variant: v})
		}
	}
	var dir string
	if shm != "" {
		d, err := os.MkdirTemp(shm, "osobench-")
		if err != nil {
			return err
		}
		dir = d
		defer os.RemoveAll(dir)
	}
	opts := func(p *point) osohostOptions {
		switch p.Variant {
		case "tmpfs":
			os.RemoveAll(filepath.Join(dir, "state"))
			os.RemoveAll(filepath.Join(dir, "audit"))
			return osohostOptions{env: []string{"STATE__PATH=" + filepath.Join(dir, "state", "state.db"), "SIGNING__AUDIT_FILE=" + filepath.Join(dir, "audit", "audit.log")}}
		case "no state":
			return osohostOptions{env: []string{"STATE__BACKEND=none"}}
		}
		return osohostOptions{}
	}
	s.sweep(ctx, pts, opts, nil)
	return nil
}

// phaseRSS measures the resident memory of osohost by pool size, idle
// after start and after a load that keeps every instance busy.
func (s *suite) phaseRSS(ctx context.Context) error {
	for _, n := range s.pools {
		rp := rssPoint{Pool: n}
		for range s.reps {
			srv, _, err := s.startOsohost(ctx, osohostOptions{env: []string{"POOL__SIZE=" + strconv.Itoa(n)}})
			if err != nil {
				return err
			}
			time.Sleep(200 * time.Millisecond)
			u, err := loadgen.TreeUsage(srv.pids()...)
			if err == nil {
				rp.Idle = append(rp.Idle, u.RSS)
			}
			res, err := loadgen.Run(ctx, loadgen.Config{URL: srv.url, Proto: loadgen.HTTP1, TLS: s.tls, Concurrency: max(n, 2),
				Batch: 10, Warmup: s.warmup / 2, Duration: s.dur / 2, Keys: s.keys, ServerPIDs: srv.pids()})
			srv.stop()
			if err != nil {
				return err
			}
			if res.Errors > 0 {
				return fmt.Errorf("pool %d: %d errors: %v", n, res.Errors, res.ErrorSample)
			}
			rp.Loaded = append(rp.Loaded, res.ServerRSS)
		}
		s.logf("  pool %d: RSS idle %.1f MiB, loaded %.1f MiB", n, medInt(rp.Idle)/(1<<20), medInt(rp.Loaded)/(1<<20))
		s.res.RSS = append(s.res.RSS, rp)
	}
	return nil
}

// phaseCold measures `osohost run` to the first 200 on status, with the
// compilation cache warm (as after any earlier start) and empty.
func (s *suite) phaseCold(ctx context.Context) error {
	c := &coldResult{}
	s.res.Cold = c
	n := max(s.reps, 5)
	for i := range n {
		srv, d, err := s.startOsohost(ctx, osohostOptions{})
		if err != nil {
			return err
		}
		srv.stop()
		c.Warm = append(c.Warm, float64(d.Microseconds())/1e3)
		c.WarmCPU = append(c.WarmCPU, float64(srv.startCPU.Microseconds())/1e3)
		if i < s.reps {
			os.RemoveAll(filepath.Join(s.appRoot, "cache"))
			srv, d, err := s.startOsohost(ctx, osohostOptions{})
			if err != nil {
				return err
			}
			srv.stop()
			c.Cold = append(c.Cold, float64(d.Microseconds())/1e3)
			c.ColdCPU = append(c.ColdCPU, float64(srv.startCPU.Microseconds())/1e3)
		}
	}
	s.logf("  cold start: %.0f ms with a warm cache, %.0f ms without", med(c.Warm), med(c.Cold))
	return nil
}

// phaseFsync counts the fsyncs osohost makes per request, under
// strace -f -c (only the sync system calls are traced, through seccomp,
// so the server runs at nearly full speed), less those of a run without
// load.
func (s *suite) phaseFsync(ctx context.Context) error {
	if _, err := exec.LookPath("strace"); err != nil {
		s.res.Notes = append(s.res.Notes, "fsyncs per request not measured: strace is not installed (apt-get install -y strace)")
		return nil
	}
	run := func(batch int) (map[string]int64, int64, error) {
		out := filepath.Join(s.work, fmt.Sprintf("strace-%d.txt", batch))
		srv, _, err := s.startOsohost(ctx, osohostOptions{strace: out})
		if err != nil {
			return nil, 0, err
		}
		var answered int64
		if batch > 0 {
			res, err := loadgen.Run(ctx, loadgen.Config{URL: srv.url, Proto: loadgen.HTTP1, TLS: s.tls, Concurrency: s.conc,
				Batch: batch, Warmup: s.warmup, Duration: s.dur, Keys: s.keys})
			if err != nil {
				srv.stop()
				return nil, 0, err
			}
			if res.Errors > 0 {
				srv.stop()
				return nil, 0, fmt.Errorf("%d errors: %v", res.Errors, res.ErrorSample)
			}
			answered = res.Answered
		}
		srv.stop()
		calls, err := parseStraceSummary(out)
		return calls, answered, err
	}
	base, _, err := run(0)
	if err != nil {
		return err
	}
	for _, b := range []int{1, 100} {
		fp := fsyncPoint{Batch: b, Conc: s.conc, Baseline: base}
		calls, n, err := run(b)
		if err != nil {
			fp.Error = firstLine(err.Error())
		}
		fp.Syscalls, fp.Requests = calls, n
		s.res.Fsync = append(s.res.Fsync, fp)
		if n > 0 {
			s.logf("  batch %d: %.2f fsync+fdatasync per request (%d requests)", b, fsyncPerRequest(fp), n)
		}
	}
	return nil
}

// parseStraceSummary reads the table of strace -c: calls per system call.
func parseStraceSummary(file string) (map[string]int64, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	calls := map[string]int64{}
	for l := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(l)
		// % time, seconds, usecs/call, calls, [errors,] syscall
		if len(f) < 5 || f[len(f)-1] == "total" || f[len(f)-1] == "syscall" {
			continue
		}
		n, err := strconv.ParseInt(f[3], 10, 64)
		if err != nil {
			continue
		}
		calls[f[len(f)-1]] = n
	}
	return calls, nil
}

func fsyncPerRequest(fp fsyncPoint) float64 {
	if fp.Requests == 0 {
		return 0
	}
	n := 0.0
	for _, c := range []string{"fsync", "fdatasync"} {
		n += float64(fp.Syscalls[c] - fp.Baseline[c])
	}
	return n / float64(fp.Requests)
}

// phaseMicro runs the Go benchmarks of bench/ and keeps their figures.
func (s *suite) phaseMicro(ctx context.Context) error {
	args := []string{"test", "-run", "^$", "-bench", ".", "-benchmem", "-count", strconv.Itoa(s.benchCount), "-benchtime", s.benchTime, "-timeout", "60m", "./bench/"}
	s.res.MicroCmd = "go " + strings.Join(args, " ")
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = s.repo
	cmd.Env = append(os.Environ(), "OSOHOST_GUESTS="+s.guests)
	buf := &lockedBuffer{}
	cmd.Stdout = io.MultiWriter(buf, &lineWriter{w: s.log})
	cmd.Stderr = buf
	err := cmd.Run()
	out := buf.String()
	s.res.Micro = parseBench(out)
	os.WriteFile(filepath.Join(filepath.Dir(s.resultsFile), "micro.txt"), []byte(out), 0o644)
	if err != nil {
		s.res.MicroError = firstLine(err.Error())
		return fmt.Errorf("go test -bench: %v\n%s", err, tail([]byte(out), 3000))
	}
	return nil
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer = syncbuf.Buffer

// lineWriter shows the benchmark result lines of a go test run as they
// come, whole lines only.
type lineWriter struct {
	w       io.Writer
	pending []byte
}

func (p *lineWriter) Write(b []byte) (int, error) {
	p.pending = append(p.pending, b...)
	for {
		i := bytes.IndexByte(p.pending, '\n')
		if i < 0 {
			return len(b), nil
		}
		l := string(p.pending[:i])
		p.pending = p.pending[i+1:]
		if f := strings.Fields(l); len(f) > 2 && strings.HasPrefix(f[0], "Benchmark") {
			fmt.Fprintln(p.w, "  "+l)
		}
	}
}

// profileResult is a CPU profile summary of osohost under one load.
type profileResult struct {
	Batch   int           `json:"batch"` // 0: start-up
	Conc    int           `json:"concurrency"`
	Samples int64         `json:"samples"`
	Kernel  float64       `json:"kernel_percent"`
	Top     []profileLine `json:"top"`
	// Parts is the inclusive share (self and callees, kernel included) of
	// a few functions that mark where a request's time goes.
	Parts []profilePart `json:"parts"`
	Error string        `json:"error,omitempty"`
}

type profilePart struct {
	Name    string  `json:"name"`
	Pattern string  `json:"pattern"`
	Percent float64 `json:"percent"`
}

// profileParts are the functions whose inclusive share the profile
// summary gives: the largest share among the symbols that contain the
// pattern, in any case (nested matches are not added up).
type profilePattern struct{ name, pattern string }

var profileParts = []profilePattern{
	{"HTTP connection, whole request (net/http conn.serve)", "net/http.(*conn).serve"},
	{"TLS record reads and writes", "crypto/tls.(*Conn).Read"},
	{"TLS writes", "crypto/tls.(*Conn).Write"},
	{"DocumentList decode and validation", "host/schema.DecodeDocumentList"},
	{"guest call (Pool.Call, host calls included)", "host/plugin.(*Pool).Call"},
	{"Ed25519 signing", "ed25519.sign"},
	{"sign_many host call", "host/hostcall.(*signer).signMany"},
	{"audit log", "host/signing/audit.(*Log)"},
	{"state commit (bbolt Tx.Commit)", "bbolt.(*Tx).Commit"},
	{"fsync system calls", "syscall.Fsync"},
	{"fdatasync system calls", "syscall.Fdatasync"},
	{"answer encoding (api.EncodeOutput)", "host/api.EncodeOutput"},
	{"structured logging (slog)", "log/slog.(*Logger).log"},
	{"garbage collector (background mark)", "runtime.gcBgMarkWorker"},
	{"scheduler (findRunnable)", "runtime.findRunnable"},
}

// startParts are the functions the start-up profile is summarised by.
var startParts = []profilePattern{
	{"package initialisation (runtime.doInit)", "runtime.doInit"},
	{"configuration and certificates (config.Load)", "host/config.Load"},
	{"host.New, everything before serving", "host.New"},
	{"signing backend and audit log (openSigning)", "host.(*Server).openSigning"},
	{"state store (openState)", "host.(*Server).openState"},
	{"plugin load and pool (reload.New)", "host/reload.New"},
	{"Engine.Compile (instrument, compile or load from cache)", "host/plugin.(*Engine).Compile"},
	{"instrumentation (interrupt.Instrument)", "interrupt.Instrument"},
	{"wazero CompileModule", "wazero.(*runtime).CompileModule"},
	{"NewPool (instantiate the instances)", "host/plugin.NewPool"},
	{"wazero InstantiateModule", "wazero.(*runtime).InstantiateModule"},
	{"TLS handshakes", "crypto/tls.(*Conn).HandshakeContext"},
	{"garbage collector (background mark)", "runtime.gcBgMarkWorker"},
}

type profileLine struct {
	Percent float64 `json:"percent"`
	Where   string  `json:"where"` // "k" kernel, "." user
	Symbol  string  `json:"symbol"`
}

// phaseProfile records where osohost's CPU time goes (perf record of the
// server's process during the measured window) at batch 1 and batch 100,
// the two load goals. It needs perf and a binary with symbols; the
// Makefile's binary is stripped, so an unstripped one is built.
func (s *suite) phaseProfile(ctx context.Context) error {
	if _, err := exec.LookPath("perf"); err != nil {
		s.res.Notes = append(s.res.Notes, "no CPU profile: perf is not installed (apt-get install -y linux-perf)")
		return nil
	}
	bin := filepath.Join(s.work, "osohost-symbols")
	s.logf("  building osohost with symbols for perf")
	if err := goBuild(s.repo, nil, bin, "./cmd/osohost"); err != nil {
		return err
	}
	saved := s.osohost
	s.osohost = bin
	defer func() { s.osohost = saved }()
	// Start-up: exec to the first 200 on status (then a graceful stop),
	// with a warm compilation cache.
	for range 1 {
		pr := profileResult{Batch: 0}
		data := filepath.Join(s.work, "perf-start.data")
		srv, d, err := s.startOsohost(ctx, osohostOptions{perf: data})
		if err == nil {
			srv.stop()
			s.logf("  profiled start-up: first 200 after %s", d.Round(time.Millisecond))
			err = parsePerfReport(data, &pr, startParts)
		}
		if err != nil {
			pr.Error = firstLine(err.Error())
		}
		s.res.Profiles = append(s.res.Profiles, pr)
	}
	for _, b := range []int{1, 100} {
		pr := profileResult{Batch: b, Conc: s.conc}
		data := filepath.Join(s.work, fmt.Sprintf("perf-%d.data", b))
		err := func() error {
			srv, _, err := s.startOsohost(ctx, osohostOptions{})
			if err != nil {
				return err
			}
			defer srv.stop()
			var perfErr error
			res, err := loadgen.Run(ctx, loadgen.Config{URL: srv.url, Proto: loadgen.HTTP1, TLS: s.tls, Concurrency: s.conc, Batch: b,
				Warmup: s.warmup, Duration: s.dur, Keys: s.keys, ServerPIDs: srv.pids(),
				During: func(ctx context.Context) {
					perf := exec.Command("perf", "record", "-F", "1999", "-g", "-o", data, "-p", strconv.Itoa(srv.pids()[0]))
					var out bytes.Buffer
					perf.Stdout, perf.Stderr = &out, &out
					if perfErr = perf.Start(); perfErr != nil {
						return
					}
					<-ctx.Done()
					perf.Process.Signal(os.Interrupt)
					if err := perf.Wait(); err != nil && !strings.Contains(out.String(), "Captured") {
						perfErr = fmt.Errorf("perf record: %v: %s", err, tail(out.Bytes(), 500))
					}
				}})
			if err != nil {
				return err
			}
			if perfErr != nil {
				return perfErr
			}
			if res.Errors > 0 {
				return fmt.Errorf("%d errors: %v", res.Errors, res.ErrorSample)
			}
			s.logf("  profiled batch %d: %.1f µs server CPU per document", b, serverUS(res))
			return nil
		}()
		if err == nil {
			err = parsePerfReport(data, &pr, profileParts)
		}
		if err != nil {
			pr.Error = firstLine(err.Error())
		}
		s.res.Profiles = append(s.res.Profiles, pr)
	}
	return nil
}

// parsePerfReport summarises a perf.data file: the symbols with the most
// samples (self time) and the kernel's share.
func parsePerfReport(data string, pr *profileResult, parts []profilePattern) error {
	out, err := exec.Command("perf", "report", "-i", data, "--stdio", "--no-children", "-g", "none",
		"--sort", "symbol", "--percent-limit", "0.01").Output()
	if err != nil {
		return fmt.Errorf("perf report: %v", err)
	}
	for l := range strings.SplitSeq(string(out), "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "# Samples:") {
			f := strings.Fields(l)
			if len(f) >= 3 {
				n, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSuffix(f[2], "K"), "M"), 64)
				switch {
				case strings.HasSuffix(f[2], "K"):
					n *= 1e3
				case strings.HasSuffix(f[2], "M"):
					n *= 1e6
				}
				pr.Samples = int64(n)
			}
			continue
		}
		if l == "" || l[0] == '#' {
			continue
		}
		f := strings.Fields(l)
		if len(f) < 3 || !strings.HasSuffix(f[0], "%") {
			continue
		}
		pct, err := strconv.ParseFloat(strings.TrimSuffix(f[0], "%"), 64)
		if err != nil {
			continue
		}
		where := strings.Trim(f[1], "[]")
		if where == "k" {
			pr.Kernel += pct
		}
		if len(pr.Top) < 25 {
			sym := strings.TrimSpace(strings.TrimSuffix(strings.Join(f[2:], " "), " - -"))
			pr.Top = append(pr.Top, profileLine{Percent: pct, Where: where, Symbol: sym})
		}
	}
	if pr.Samples == 0 && len(pr.Top) == 0 {
		return errors.New("perf report found no samples")
	}
	out, err = exec.Command("perf", "report", "-i", data, "--stdio", "--children", "-g", "none",
		"--sort", "symbol", "--percent-limit", "0.1").Output()
	if err != nil {
		return fmt.Errorf("perf report --children: %v", err)
	}
	best := make([]float64, len(parts))
	for l := range strings.SplitSeq(string(out), "\n") {
		f := strings.Fields(strings.TrimSpace(l))
		// children%  self%  [x]  symbol
		if len(f) < 4 || !strings.HasSuffix(f[0], "%") || !strings.HasSuffix(f[1], "%") {
			continue
		}
		pct, err := strconv.ParseFloat(strings.TrimSuffix(f[0], "%"), 64)
		if err != nil {
			continue
		}
		sym := strings.Join(f[3:], " ")
		for i, p := range parts {
			if strings.Contains(strings.ToLower(sym), strings.ToLower(p.pattern)) && pct > best[i] {
				best[i] = pct
			}
		}
	}
	for i, p := range parts {
		pr.Parts = append(pr.Parts, profilePart{Name: p.name, Pattern: p.pattern, Percent: best[i]})
	}
	return nil
}
