package audit_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/osohost/osohost/host/signing/audit"
)

func rec(i int) audit.Record {
	sum := sha256.Sum256([]byte(strconv.Itoa(i)))
	return audit.Record{
		PluginSHA256: strings.Repeat("ab", 32),
		KeyID:        "0b9f7c5e-1d2a-4e3b-8c4d-5e6f7a8b9c0d",
		KeyType:      "ED25519",
		DataSHA256:   hex.EncodeToString(sum[:]),
		Caller:       "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU",
		TraceID:      "trace-" + strconv.Itoa(i),
	}
}

func openLog(t testing.TB, dir string, opts audit.Options) *audit.Log {
	t.Helper()
	l, err := audit.Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// writeLog makes a log of n records in a new directory and returns the
// directory and the log's head.
func writeLog(t *testing.T, n int) (string, audit.Head) {
	t.Helper()
	dir := t.TempDir()
	l := openLog(t, dir, audit.Options{})
	for i := 1; i <= n; i++ {
		if _, err := l.Append(t.Context(), rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	h := l.Head()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, h
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.SplitAfter(string(b), "\n")[:bytes.Count(b, []byte{'\n'})]
}

func verifyFile(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n, err := audit.Verify(f)
	if err != nil {
		t.Fatalf("Verify: %v (after %d records)", err, n)
	}
	return n
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// rehash recomputes a line's own hash the way the format documents it.
func rehash(line string) string {
	line = strings.TrimSuffix(line, "\n")
	i := strings.LastIndex(line, `,"hash":"`)
	body := line[:i] + "}"
	return body[:len(body)-1] + `,"hash":"` + sha(body) + `"}` + "\n"
}

func TestLog_Append(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "audit")
	now := time.Date(2026, 11, 23, 10, 0, 0, 123456789, time.FixedZone("X", 3600))
	l := openLog(t, dir, audit.Options{Now: func() time.Time { return now }})
	for i := 1; i <= 5; i++ {
		seq, err := l.Append(t.Context(), rec(i))
		if err != nil || seq != uint64(i) {
			t.Fatalf("Append %d = %d, %v", i, seq, err)
		}
	}
	if seq, err := l.Append(t.Context(), rec(6), rec(7), rec(8)); err != nil || seq != 6 {
		t.Fatalf("Append of three = %d, %v; want 6", seq, err)
	}
	if seq, err := l.Append(t.Context()); err != nil || seq != 0 {
		t.Fatalf("empty Append = %d, %v", seq, err)
	}
	head := l.Head()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	for path, want := range map[string]os.FileMode{dir: 0o700, l.Path(): 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, %v; want %04o", path, fi.Mode().Perm(), err, want)
		}
	}
	lines := readLines(t, l.Path())
	if len(lines) != 8 || verifyFile(t, l.Path()) != 8 {
		t.Fatalf("%d lines, want 8", len(lines))
	}
	// The documented format, checked independently of the package.
	prev := strings.Repeat("0", 64)
	for i, line := range lines {
		want := fmt.Sprintf(`{"time":"2026-11-23T09:00:00.123456789Z","plugin_sha256":"%s","key_id":"0b9f7c5e-1d2a-4e3b-8c4d-5e6f7a8b9c0d","key_type":"ED25519","data_sha256":"%s","caller":"SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU","trace_id":"trace-%d","seq":%d,"prev":"%s"`,
			strings.Repeat("ab", 32), rec(i+1).DataSHA256, i+1, i+1, prev)
		if !strings.HasPrefix(line, want+`,"hash":"`) {
			t.Fatalf("line %d:\n got %s\nwant %s,\"hash\":…", i+1, line, want)
		}
		if line != rehash(line) {
			t.Errorf("line %d: hash is not SHA-256 of the line without it", i+1)
		}
		prev = sha(strings.TrimSuffix(line, "\n"))
	}
	if head.Seq != 8 || head.Hash != prev {
		t.Errorf("Head = %v, want 8:%s", head, prev)
	}

	l2 := openLog(t, dir, audit.Options{})
	if got := l2.Head(); got != head {
		t.Errorf("Head after reopen = %v, want %v", got, head)
	}
	if l2.Path() != l.Path() {
		t.Errorf("Path = %s, want %s", l2.Path(), l.Path())
	}
	if r := l2.Recovered(); r != (audit.Recovery{}) {
		t.Errorf("Recovered = %+v on a clean log", r)
	}
	if seq, err := l2.Append(t.Context(), rec(9)); err != nil || seq != 9 {
		t.Fatalf("Append after reopen = %d, %v", seq, err)
	}
	l2.Close()
	if n := verifyFile(t, l.Path()); n != 9 {
		t.Errorf("Verify = %d, want 9", n)
	}
}

func TestOpen_FileName(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, audit.Options{FileName: "signatures.log"})
	if _, err := l.Append(t.Context(), rec(1)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if l.Path() != filepath.Join(dir, "signatures.log") || verifyFile(t, l.Path()) != 1 {
		t.Errorf("Path = %s", l.Path())
	}
}

func TestVerify_Tamper(t *testing.T) {
	dir, head := writeLog(t, 6)
	orig := readLines(t, filepath.Join(dir, audit.FileName))
	editKey := func(line string) string {
		return strings.Replace(line, `"key_id":"0b9f7c5e`, `"key_id":"1b9f7c5e`, 1)
	}
	tests := []struct {
		name     string
		edit     func(l []string) []string
		wantLine int
	}{
		{"edit a field", func(l []string) []string { l[2] = editKey(l[2]); return l }, 3},
		{"edit a field and its hash", func(l []string) []string { l[2] = rehash(editKey(l[2])); return l }, 4},
		{"edit the last line and its hash", func(l []string) []string { l[5] = rehash(editKey(l[5])); return l }, 0},
		{"delete a line", func(l []string) []string { return append(l[:2], l[3:]...) }, 3},
		{"delete the first line", func(l []string) []string { return l[1:] }, 1},
		{"reorder two lines", func(l []string) []string { l[2], l[3] = l[3], l[2]; return l }, 3},
		{"duplicate a line", func(l []string) []string { return append(l[:3], l[2:]...) }, 4},
		{"cut in the middle of the last line", func(l []string) []string { l[5] = l[5][:40]; return l }, 6},
		{"cut the final newline", func(l []string) []string { l[5] = strings.TrimSuffix(l[5], "\n"); return l }, 6},
		{"duplicate member", func(l []string) []string {
			l[2] = rehash(strings.Replace(l[2], `"key_type"`, `"key_id":"x","key_type"`, 1))
			return l
		}, 3},
		{"whitespace", func(l []string) []string { l[2] = rehash(strings.Replace(l[2], `","seq"`, `", "seq"`, 1)); return l }, 3},
		{"unknown member", func(l []string) []string { l[2] = rehash(strings.Replace(l[2], `{`, `{"x":1,`, 1)); return l }, 3},
		{"member name in another case", func(l []string) []string { l[2] = rehash(strings.Replace(l[2], `"caller"`, `"Caller"`, 1)); return l }, 3},
		{"time not in UTC", func(l []string) []string { l[0] = rehash(strings.Replace(l[0], `Z"`, `+00:00"`, 1)); return l }, 1},
		{"empty line", func(l []string) []string { return append(l[:3], append([]string{"\n"}, l[3:]...)...) }, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := tt.edit(append([]string(nil), orig...))
			data := strings.Join(lines, "")
			n, err := audit.Verify(strings.NewReader(data))
			if tt.wantLine == 0 { // undetectable by the chain alone: the anchor catches it
				if err != nil {
					t.Fatalf("Verify = %d, %v; want no error", n, err)
				}
				if _, err := audit.VerifyHead(strings.NewReader(data), head); !errors.Is(err, audit.ErrCorrupt) {
					t.Fatalf("VerifyHead = %v, want ErrCorrupt", err)
				}
				return
			}
			var ve *audit.VerifyError
			if !errors.As(err, &ve) || !errors.Is(err, audit.ErrCorrupt) {
				t.Fatalf("Verify = %d, %v; want a *VerifyError", n, err)
			}
			if ve.Line != tt.wantLine || n != tt.wantLine-1 {
				t.Errorf("Verify = %d, %v; want line %d", n, err, tt.wantLine)
			}
		})
	}
}

func TestVerifyHead(t *testing.T) {
	dir, head := writeLog(t, 5)
	data, err := os.ReadFile(filepath.Join(dir, audit.FileName))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	mid := audit.Head{Seq: 3, Hash: sha(strings.TrimSuffix(lines[2], "\n"))}
	parsed, err := audit.ParseHead(head.String())
	if err != nil || parsed != head {
		t.Fatalf("ParseHead(%q) = %v, %v", head.String(), parsed, err)
	}
	tests := []struct {
		name   string
		data   string
		anchor audit.Head
		ok     bool
	}{
		{"no anchor", string(data), audit.Head{}, true},
		{"anchor at the end", string(data), head, true},
		{"anchor in the middle", string(data), mid, true},
		{"log grew past the anchor", string(data), mid, true},
		{"last line cut off", strings.Join(lines[:4], ""), head, false},
		{"empty log", "", head, false},
		{"anchor hash differs", string(data), audit.Head{Seq: 3, Hash: head.Hash}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := audit.VerifyHead(strings.NewReader(tt.data), tt.anchor)
			if (err == nil) != tt.ok {
				t.Fatalf("VerifyHead = %v, %v; want ok=%v", got, err, tt.ok)
			}
			if tt.ok && got != head {
				t.Errorf("VerifyHead returned head %v, want %v", got, head)
			}
		})
	}
	for _, bad := range []string{"", "3", "x:" + head.Hash, "3:" + strings.ToUpper(head.Hash), "3:abc"} {
		if _, err := audit.ParseHead(bad); err == nil {
			t.Errorf("ParseHead(%q) succeeded", bad)
		}
	}
}

func TestOpen_RepairsTornTail(t *testing.T) {
	otherDir, _ := writeLog(t, 3) // a foreign chain: its lines are intact but do not chain
	foreign := readLines(t, filepath.Join(otherDir, audit.FileName))
	tests := []struct {
		name     string
		keep     int // records of the original 8 kept in the file (before the tail)
		tail     func(lines []string) string
		wantHead uint64
	}{
		{"partial line", 8, func(l []string) string { return `{"time":"2026-11-23T` }, 8},
		{"half of a real line", 8, func(l []string) string { return rehash(l[0])[:50] }, 8},
		{"zeros", 8, func([]string) string { return string(make([]byte, 4096)) }, 8},
		{"a garbage line", 8, func([]string) string { return "garbage\n" }, 8},
		{"an intact line that does not chain", 8, func([]string) string { return foreign[2] }, 8},
		{"a hole in the last commit", 5, func(l []string) string {
			return string(make([]byte, len(l[5]))) + l[6] + l[7] // line 6 lost, 7 and 8 intact
		}, 5},
		{"a torn first commit", 0, func(l []string) string { return l[0][:30] }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, _ := writeLog(t, 8)
			path := filepath.Join(dir, audit.FileName)
			lines := readLines(t, path)
			tail := tt.tail(lines)
			if err := os.WriteFile(path, []byte(strings.Join(lines[:tt.keep], "")+tail), 0o600); err != nil {
				t.Fatal(err)
			}
			l := openLog(t, dir, audit.Options{})
			r := l.Recovered()
			if r.TornBytes != int64(len(tail)) {
				t.Errorf("TornBytes = %d, want %d", r.TornBytes, len(tail))
			}
			if saved, err := os.ReadFile(r.SavedTo); err != nil || string(saved) != tail {
				t.Errorf("saved tail %q, %v; want %q", saved, err, tail)
			}
			if got := l.Head().Seq; got != tt.wantHead {
				t.Errorf("Head().Seq = %d, want %d", got, tt.wantHead)
			}
			if seq, err := l.Append(t.Context(), rec(99)); err != nil || seq != tt.wantHead+1 {
				t.Fatalf("Append = %d, %v; want %d", seq, err, tt.wantHead+1)
			}
			l.Close()
			if n := verifyFile(t, path); n != int(tt.wantHead)+1 {
				t.Errorf("Verify = %d, want %d", n, tt.wantHead+1)
			}
		})
	}
}

func TestOpen_Errors(t *testing.T) {
	t.Run("damage beyond one commit", func(t *testing.T) {
		dir, _ := writeLog(t, 3)
		path := filepath.Join(dir, audit.FileName)
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(strings.Repeat("garbage\n", audit.MaxAppendRecords+2))
		f.Close()
		before, _ := os.ReadFile(path)
		if _, err := audit.Open(dir, audit.Options{}); !errors.Is(err, audit.ErrCorrupt) {
			t.Fatalf("Open = %v, want ErrCorrupt", err)
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
			t.Error("Open changed a log it refused")
		}
	})
	t.Run("in use", func(t *testing.T) {
		if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
			t.Skip("no flock")
		}
		dir := t.TempDir()
		openLog(t, dir, audit.Options{})
		if _, err := audit.Open(dir, audit.Options{}); !errors.Is(err, audit.ErrInUse) {
			t.Fatalf("second Open = %v, want ErrInUse", err)
		}
	})
	t.Run("file name with a directory", func(t *testing.T) {
		for _, name := range []string{"../x.log", "a/b.log", ".", ".."} {
			if _, err := audit.Open(t.TempDir(), audit.Options{FileName: name}); err == nil {
				t.Errorf("Open with FileName %q succeeded", name)
			}
		}
	})
	t.Run("dir is a file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "f")
		os.WriteFile(path, nil, 0o600)
		if _, err := audit.Open(path, audit.Options{}); err == nil {
			t.Fatal("Open of a file succeeded")
		}
	})
}

func TestLog_Append_Errors(t *testing.T) {
	l := openLog(t, t.TempDir(), audit.Options{})
	long := rec(1)
	long.TraceID = strings.Repeat("x", audit.MaxFieldBytes+1)
	badUTF8 := rec(1)
	badUTF8.Caller = "\xff"
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		recs []audit.Record
		want error
	}{
		{"field too long", t.Context(), []audit.Record{rec(1), long}, audit.ErrBadRecord},
		{"not UTF-8", t.Context(), []audit.Record{badUTF8}, audit.ErrBadRecord},
		{"too many records", t.Context(), make([]audit.Record, audit.MaxAppendRecords+1), audit.ErrBadRecord},
		{"context ended", cancelled, []audit.Record{rec(1)}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := l.Append(tt.ctx, tt.recs...); !errors.Is(err, tt.want) {
				t.Fatalf("Append = %v, want %v", err, tt.want)
			}
		})
	}
	if st := l.Stats(); st.Records != 0 || st.Pending != 0 {
		t.Errorf("Stats = %+v after refused appends", st)
	}
	l.Close()
	if _, err := l.Append(t.Context(), rec(1)); !errors.Is(err, audit.ErrClosed) {
		t.Errorf("Append after Close = %v, want ErrClosed", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

// TestLog_GroupCommit holds the first fsync until every other append is
// queued: they must then share one write and one fsync.
func TestLog_GroupCommit(t *testing.T) {
	const n = 32
	release := make(chan struct{})
	var syncs atomic.Int32
	opts := audit.WithSyncHook(audit.Options{}, func(f *os.File) error {
		if syncs.Add(1) == 1 {
			<-release
		}
		return f.Sync()
	})
	l := openLog(t, t.TempDir(), opts)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := l.Append(t.Context(), rec(i))
			errs <- err
		})
	}
	waitFor(t, func() bool { return syncs.Load() == 1 && l.Stats().Pending == n })
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	st := l.Stats()
	if st.Records != n || st.Syncs != 2 || st.Pending != 0 {
		t.Fatalf("Stats = %+v, want %d records in 2 fsyncs", st, n)
	}
	l.Close()
	if got := verifyFile(t, l.Path()); got != n {
		t.Errorf("Verify = %d, want %d", got, n)
	}
}

// waitFor polls cond until it holds; the bound only stops a hang.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestLog_FailClosed(t *testing.T) {
	injected := errors.New("injected fsync failure")
	var fail atomic.Bool
	fail.Store(true)
	opts := audit.WithSyncHook(audit.Options{}, func(f *os.File) error {
		if fail.Load() {
			return injected
		}
		return f.Sync()
	})
	dir := t.TempDir()
	l := openLog(t, dir, opts)
	if _, err := l.Append(t.Context(), rec(1)); !errors.Is(err, injected) {
		t.Fatalf("Append = %v, want the fsync failure", err)
	}
	fail.Store(false)
	if _, err := l.Append(t.Context(), rec(2)); !errors.Is(err, injected) {
		t.Fatalf("Append after a failure = %v, want the sticky failure", err)
	}
	if st := l.Stats(); st.Records != 0 {
		t.Errorf("Stats().Records = %d after failures", st.Records)
	}
	l.Close()
	l2 := openLog(t, dir, audit.Options{})
	if _, err := l2.Append(t.Context(), rec(3)); err != nil {
		t.Fatalf("Append after reopen: %v", err)
	}
	l2.Close()
	verifyFile(t, l2.Path())
}

// TestLog_CloseWhileAppending: every Append that returned nil is in the
// file, and nothing else is.
func TestLog_CloseWhileAppending(t *testing.T) {
	l := openLog(t, t.TempDir(), audit.Options{})
	var ok atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				_, err := l.Append(t.Context(), rec(i))
				if errors.Is(err, audit.ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				ok.Add(1)
			}
		})
	}
	waitFor(t, func() bool { return ok.Load() >= 200 })
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if n := verifyFile(t, l.Path()); int64(n) != ok.Load() {
		t.Errorf("file holds %d records, %d appends succeeded", n, ok.Load())
	}
}

const crashDirEnv = "OSOHOST_TEST_AUDIT_CRASH_DIR"

// TestLog_CrashHelper is the child of TestLog_Crash: it appends from
// several goroutines and prints "ack FIRST COUNT" for every Append that
// returned, until it is killed.
func TestLog_CrashHelper(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper process for TestLog_Crash")
	}
	l, err := audit.Open(dir, audit.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				recs := []audit.Record{rec(i)}
				if g%2 == 1 {
					recs = append(recs, rec(i), rec(i)) // multi-record appends too
				}
				first, err := l.Append(context.Background(), recs...)
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "ack %d %d\n", first, len(recs))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// TestLog_Crash kills a child process with SIGKILL while it appends, then
// checks that every record the child saw acknowledged is in the log and
// that the chain verifies; three rounds, each reopening the killed log.
func TestLog_Crash(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("needs SIGKILL")
	}
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dir := t.TempDir()
	var maxAcked uint64
	for round := 1; round <= 3; round++ {
		acked := crashRound(t, dir, 300)
		for _, a := range acked {
			maxAcked = max(maxAcked, a)
		}
		l, err := audit.Open(dir, audit.Options{})
		if err != nil {
			t.Fatalf("round %d: Open after SIGKILL: %v", round, err)
		}
		head, rep := l.Head(), l.Recovered()
		l.Close()
		n := verifyFile(t, filepath.Join(dir, audit.FileName))
		t.Logf("round %d: %d records acknowledged (last seq %d), log holds %d, tail repaired %d bytes", round, len(acked), maxAcked, n, rep.TornBytes)
		if uint64(n) < maxAcked || head.Seq != uint64(n) {
			t.Fatalf("round %d: log holds %d records (head %d); seq %d was acknowledged", round, n, head.Seq, maxAcked)
		}
	}
}

// crashRound runs the helper until it has acknowledged at least min
// appends, kills it, and returns the last seq of every acknowledged append.
func crashRound(t *testing.T, dir string, min int) []uint64 {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestLog_CrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	timer := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() }) // a hang guard, not an assertion
	defer timer.Stop()
	var acked []uint64
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var first, count uint64
		if _, err := fmt.Sscanf(sc.Text(), "ack %d %d", &first, &count); err != nil {
			continue
		}
		acked = append(acked, first+count-1)
		if len(acked) == min && !killed {
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
			killed = true
		}
	}
	io.Copy(io.Discard, out)
	cmd.Wait()
	if !killed {
		t.Fatalf("helper stopped after %d acknowledgements: %s", len(acked), stderr.String())
	}
	return acked
}

func BenchmarkLog_Append(b *testing.B) {
	for _, conc := range []int{1, 32} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			l := openLog(b, b.TempDir(), audit.Options{})
			r := rec(1)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ReportAllocs()
			b.ResetTimer()
			for range conc {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						if _, err := l.Append(context.Background(), r); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			st := l.Stats()
			b.ReportMetric(float64(st.Syncs)/float64(st.Records), "fsyncs/record")
			b.ReportMetric(float64(st.Records)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// FuzzVerify: Verify never reads past a problem, and what it accepts it
// accepts again against its own head.
func FuzzVerify(f *testing.F) {
	dir := f.TempDir()
	l, err := audit.Open(dir, audit.Options{})
	if err != nil {
		f.Fatal(err)
	}
	for i := range 3 {
		l.Append(context.Background(), rec(i))
	}
	l.Close()
	valid, _ := os.ReadFile(filepath.Join(dir, audit.FileName))
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add([]byte("{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		head, err := audit.VerifyHead(bytes.NewReader(data), audit.Head{})
		if head.Seq > uint64(bytes.Count(data, []byte{'\n'})) {
			t.Fatalf("%d records verified in %d lines", head.Seq, bytes.Count(data, []byte{'\n'}))
		}
		if err != nil {
			if !errors.Is(err, audit.ErrCorrupt) {
				t.Fatalf("error %v does not match ErrCorrupt", err)
			}
			return
		}
		if len(data) > 0 && data[len(data)-1] != '\n' {
			t.Fatal("accepted a log whose last line has no newline")
		}
		if head.Seq > 0 {
			if _, err := audit.VerifyHead(bytes.NewReader(data), head); err != nil {
				t.Fatalf("a verified log fails against its own head: %v", err)
			}
		}
	})
}
