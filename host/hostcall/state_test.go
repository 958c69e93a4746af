package hostcall_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/host/hostcall"
	"github.com/osohost/osohost/host/plugin"
	"github.com/osohost/osohost/host/plugin/plugintest"
	"github.com/osohost/osohost/host/state"
)

// stateEnv is a guest pool with the state (and signing) host functions
// over a real state file.
type stateEnv struct {
	store *state.Store
	ns    *state.Namespace
	eng   *plugin.Engine
	pool  *plugin.Pool
	path  string
}

type stateOpts struct {
	lim  state.Limits
	size int // instances; 0: 1
	log  *slog.Logger
	path string // state file; "": a new one
}

func newStateEnv(t testing.TB, guest string, o stateOpts) *stateEnv {
	t.Helper()
	ctx := context.Background()
	if o.path == "" {
		o.path = filepath.Join(t.TempDir(), "state", state.FileName)
	}
	st, err := state.Open(o.path, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ns, err := st.Namespace(ctx, "plugin", o.lim)
	if err != nil {
		t.Fatal(err)
	}
	fns := append(hostcall.Signing(newSigner(t), o.log, hostcall.Policy{}), hostcall.State(o.log, hostcall.StateLimits{})...)
	eng, err := plugin.NewEngine(ctx, plugin.EngineOptions{CacheDir: cacheDir, Logger: o.log, HostFunctions: fns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(ctx) })
	mod, err := eng.Compile(ctx, plugintest.Read(t, guest))
	if err != nil {
		t.Fatal(err)
	}
	p, err := plugin.NewPool(ctx, mod, plugin.PoolOptions{Size: max(o.size, 1), CallTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(ctx) })
	return &stateEnv{store: st, ns: ns, eng: eng, pool: p, path: o.path}
}

// request runs one export call as host/api does: in its own transaction,
// committed when the call succeeded, rolled back otherwise.
func (e *stateEnv) request(ctx context.Context, export string, in []byte) (plugin.Result, error) {
	txn := e.ns.Begin()
	defer txn.Rollback()
	res, err := e.pool.Call(state.WithTxn(ctx, txn), export, in)
	if err != nil {
		return res, err
	}
	return res, txn.Commit(ctx)
}

// ops runs the operations in one to_isv request and returns their
// outcomes.
func (e *stateEnv) ops(t testing.TB, ops ...op) []string {
	t.Helper()
	txn := e.ns.Begin()
	defer txn.Rollback()
	out := run(t, state.WithTxn(t.Context(), txn), e.pool, ops...)
	if err := txn.Commit(t.Context()); err != nil {
		t.Fatalf("commit: %v", err)
	}
	return out
}

func (e *stateEnv) op1(t testing.TB, name, arg string) string {
	t.Helper()
	return e.ops(t, op{name, arg})[0]
}

// committed reads key from the committed state.
func (e *stateEnv) committed(t testing.TB, key string) (string, bool) {
	t.Helper()
	x := e.ns.BeginReadOnly()
	defer x.Rollback()
	v, ok, err := x.Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	return string(v), ok
}

// seed commits keys directly.
func (e *stateEnv) seed(t testing.TB, kv ...string) {
	t.Helper()
	x := e.ns.Begin()
	for i := 0; i < len(kv); i += 2 {
		if err := x.Put(t.Context(), kv[i], []byte(kv[i+1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := x.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func keyList(keys ...string) string {
	return hex.EncodeToString(abi.AppendKeyList(nil, keys...))
}

// TestState_HostFunctions calls each host function with raw arguments
// and checks the result and what was written.
func TestState_HostFunctions(t *testing.T) {
	e := newStateEnv(t, "stateguest", stateOpts{lim: state.Limits{MaxValueBytes: 64 << 10}})
	e.seed(t, "a", "alpha", "b/1", "", "b/2", "two", "c", "gamma")
	long := strings.Repeat("k", abi.MaxKVKeyBytes+1)
	tests := []struct {
		name, op, arg, want string
	}{
		{"get", "raw:kv_get", "s=a out=16", "5 " + hex.EncodeToString([]byte("alpha"))},
		{"get exact buffer", "raw:kv_get", "s=a out=5", "5 " + hex.EncodeToString([]byte("alpha"))},
		{"get small buffer", "raw:kv_get", "s=a out=4", "5 untouched"},
		{"get no buffer", "raw:kv_get", "s=a 0 0", "5"},
		{"get empty value", "raw:kv_get", "s=b/1 out=8", "0"},
		{"get absent", "raw:kv_get", "s=zz out=8", "-7 untouched"},
		{"get empty key", "raw:kv_get", "0 0 out=8", "-3 untouched"},
		{"get key too large", "raw:kv_get", "s=" + long + " out=8", "-2 untouched"},
		{"get key too large, bad pointer", "raw:kv_get", badPtr + " 600 0 0", "-2"},
		{"get key outside memory", "raw:kv_get", badPtr + " 4 0 0", "-1"},
		{"get negative length", "raw:kv_get", "0 -1 0 0", "-1"},
		{"get out outside memory", "raw:kv_get", "s=a " + badPtr + " 16", "-1"},
		{"put", "raw:kv_put", "s=new x=0102", "0"},
		{"put empty value", "raw:kv_put", "s=new2 0 0", "0"},
		{"put empty key", "raw:kv_put", "0 0 x=01", "-3"},
		{"put key too large", "raw:kv_put", "s=" + long + " x=01", "-2"},
		{"put value over the namespace's limit", "raw:kv_put", "s=k big=65537", "-2"},
		{"put value over the ABI's limit", "raw:kv_put", fmt.Sprintf("s=k %s %d", badPtr, abi.MaxKVValueBytes+1), "-2"},
		{"put value outside memory", "raw:kv_put", "s=k " + badPtr + " 4", "-1"},
		{"delete", "raw:kv_delete", "s=c", "0"},
		{"delete absent", "raw:kv_delete", "s=zz", "-7"},
		{"delete empty key", "raw:kv_delete", "0 0", "-3"},
		{"delete key outside memory", "raw:kv_delete", badPtr + " 1", "-1"},
		{"list all", "raw:kv_list", "0 0 0 0 out=256", fmt.Sprintf("%d %s", 4+4*4+1+3+3+1, keyList("a", "b/1", "b/2", "c"))},
		{"list prefix", "raw:kv_list", "s=b/ 0 0 out=256", fmt.Sprintf("%d %s", 4+2*7, keyList("b/1", "b/2"))},
		{"list after", "raw:kv_list", "s=b/ s=b/1 out=256", fmt.Sprintf("%d %s", 4+7, keyList("b/2"))},
		{"list after, no prefix", "raw:kv_list", "0 0 s=b out=256", fmt.Sprintf("%d %s", 4+2*7+5, keyList("b/1", "b/2", "c"))},
		{"list end", "raw:kv_list", "s=b/ s=b/2 out=256", "4 00000000"},
		{"list as many as fit", "raw:kv_list", "0 0 0 0 out=16", fmt.Sprintf("%d %s", 4+5+7, keyList("a", "b/1"))},
		{"list buffer for no key", "raw:kv_list", "0 0 0 0 out=8", "-8 untouched"},
		{"list buffer below a header", "raw:kv_list", "s=zz 0 0 out=3", "-8 untouched"},
		{"list empty into a header", "raw:kv_list", "s=zz 0 0 out=4", "4 00000000"},
		{"list prefix too large", "raw:kv_list", "s=" + long + " 0 0 out=64", "-2 untouched"},
		{"list after too large", "raw:kv_list", "0 0 s=" + long + " out=64", "-2 untouched"},
		{"list out outside memory", "raw:kv_list", "0 0 0 0 " + badPtr + " 64", "-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			txn := e.ns.Begin()
			defer txn.Rollback() // every case sees the seeded state
			if got := run(t, state.WithTxn(t.Context(), txn), e.pool, op{tt.op, tt.arg})[0]; got != tt.want {
				t.Fatalf("%s(%s) = %q, want %q", tt.op, tt.arg, got, tt.want)
			}
		})
	}
}

// TestState_SDK: what one request writes, the next reads; the SDK pages
// through listings.
func TestState_SDK(t *testing.T) {
	e := newStateEnv(t, "stateguest", stateOpts{})
	got := e.ops(t,
		op{"sdk:get", "k"},
		op{"sdk:put", "k 68656c6c6f"},
		op{"sdk:get", "k"},
		op{"sdk:putn", "doc/ 1500 10"},
		op{"sdk:count", "doc/"},
		op{"sdk:delete", "doc/000007"},
		op{"sdk:delete", "doc/000007"},
		op{"sdk:count", "doc/"},
		op{"sdk:put", "big " + strings.Repeat("ab", 70000)},
	)
	want := []string{"absent", "ok", "68656c6c6f", "ok", "1500", "true", "false", "1499", "ok"}
	if !slices.Equal(got, want) {
		t.Fatalf("first request: %q", got)
	}
	got = e.ops(t, op{"sdk:get", "k"}, op{"sdk:count", ""}, op{"sdk:list", "doc/00000"}, op{"sdk:get", "big"})
	if got[0] != "68656c6c6f" || got[1] != "1501" || got[2] != "doc/000000,doc/000001,doc/000002,doc/000003,doc/000004,doc/000005,doc/000006,doc/000008,doc/000009" || got[3] != strings.Repeat("ab", 70000) {
		t.Fatalf("second request: %q", got)
	}
	if u := e.ns.Usage(); u.Keys != 1501 {
		t.Fatalf("usage %+v", u)
	}
	// to_oso and status read state too.
	e.op1(t, "sdk:put", "status 6f6b")
	res, err := e.request(t.Context(), abi.ExportStatus, nil)
	if err != nil || !strings.Contains(string(res.Data), `{"status": "ok"}`) {
		t.Fatalf("status: %q, %v", res.Data, err)
	}
}

// TestState_RolledBack: a call that traps or fails, or whose request is
// rolled back, leaves nothing; the instance that trapped is replaced.
func TestState_RolledBack(t *testing.T) {
	e := newStateEnv(t, "stateguest", stateOpts{})
	ctx := t.Context()
	e.seed(t, "keep", "1")
	in := func(ops ...op) []byte {
		b := abi.AppendDocumentListHeader(nil, len(ops))
		for _, o := range ops {
			b = abi.AppendDocument(b, o.name, o.arg, "")
		}
		return b
	}
	writes := []op{{"sdk:put", "w 01"}, {"sdk:delete", "keep"}, {"sdk:putn", "many/ 100 100"}}

	_, err := e.request(ctx, abi.ExportToISV, in(append(writes, op{"trap", ""})...))
	var trap *plugin.TrapError
	if !errors.As(err, &trap) {
		t.Fatalf("trap: %v", err)
	}
	_, err = e.request(ctx, abi.ExportToISV, in(append(writes, op{"fail", ""})...))
	var ge *plugin.GuestError
	if !errors.As(err, &ge) || ge.Code != 503 {
		t.Fatalf("fail: %v", err)
	}
	// A call that succeeded but whose answer the host refuses.
	txn := e.ns.Begin()
	if got := run(t, state.WithTxn(ctx, txn), e.pool, writes...); got[0] != "ok" {
		t.Fatalf("writes: %q", got)
	}
	txn.Rollback()

	for _, k := range []string{"w", "many/000000"} {
		if _, ok := e.committed(t, k); ok {
			t.Fatalf("%s was committed", k)
		}
	}
	if v, ok := e.committed(t, "keep"); !ok || v != "1" {
		t.Fatalf("keep = %q %v", v, ok)
	}
	if u := e.ns.Usage(); u.Keys != 1 {
		t.Fatalf("usage %+v", u)
	}
	if st := e.pool.Stats(); st.Traps != 1 {
		t.Fatalf("pool stats %+v", st)
	}
}

// TestState_NotAllowed: no transaction (outside an export call, or a call
// the host runs without state) refuses all four functions; a read-only
// transaction refuses writes.
func TestState_NotAllowed(t *testing.T) {
	e := newStateEnv(t, "stateguest", stateOpts{})
	e.seed(t, "k", "v")
	raws := []op{
		{"raw:kv_get", "s=k out=8"},
		{"raw:kv_put", "s=k x=01"},
		{"raw:kv_delete", "s=k"},
		{"raw:kv_list", "0 0 0 0 out=64"},
	}
	got := run(t, t.Context(), e.pool, raws...)
	if !slices.Equal(got, []string{"-4 untouched", "-4", "-4", "-4 untouched"}) {
		t.Fatalf("without a transaction: %q", got)
	}
	ro := e.ns.BeginReadOnly()
	got = run(t, state.WithTxn(t.Context(), ro), e.pool, raws...)
	if want := []string{"1 76", "-4", "-4", "9 " + keyList("k")}; !slices.Equal(got, want) {
		t.Fatalf("read-only: %q, want %q", got, want)
	}
	if err := ro.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	// During package initialisation and Init there is no export call.
	if got := e.op1(t, "outside", ""); got != "-4 -4" {
		t.Fatalf("outside an export call: %q", got)
	}
	// A transaction already finished (a host bug) refuses everything.
	done := e.ns.Begin()
	done.Rollback()
	got = run(t, state.WithTxn(t.Context(), done), e.pool, raws...)
	if !slices.Equal(got, []string{"-4 untouched", "-4", "-4", "-4 untouched"}) {
		t.Fatalf("finished transaction: %q", got)
	}
}

func TestState_Quota(t *testing.T) {
	e := newStateEnv(t, "stateguest", stateOpts{lim: state.Limits{MaxKeys: 10, MaxBytes: 1000, MaxTxnWrites: 20}})
	if got := e.op1(t, "sdk:putn", "a/ 11 1"); got != "err -5" {
		t.Fatalf("11 keys: %q", got)
	}
	if got := e.op1(t, "sdk:putn", "a/ 10 1"); got != "ok" {
		t.Fatalf("10 keys: %q", got)
	}
	if got := e.op1(t, "sdk:put", "b 01"); got != "err -5" {
		t.Fatalf("an eleventh key: %q", got)
	}
	// Replacing a key is fine; growing past the bytes is not.
	if got := e.ops(t, op{"sdk:put", "a/000000 " + strings.Repeat("00", 900)}, op{"sdk:put", "a/000001 " + strings.Repeat("00", 100)}); !slices.Equal(got, []string{"ok", "err -5"}) {
		t.Fatalf("bytes: %q", got)
	}
	// Deleting frees room.
	if got := e.ops(t, op{"sdk:delete", "a/000009"}, op{"sdk:put", "b 01"}); !slices.Equal(got, []string{"true", "ok"}) {
		t.Fatalf("delete then put: %q", got)
	}
	if u := e.ns.Usage(); u.Keys != 10 || u.Bytes > 1000 {
		t.Fatalf("usage %+v", u)
	}
}

// TestState_SingleInstance: with one instance, a request's call reads
// what the previous call wrote even before that call's commit, and both
// commit, in order, whatever order the host commits them in.
func TestState_SingleInstance(t *testing.T) {
	e := newStateEnv(t, "stateguest", stateOpts{})
	ctx := t.Context()
	var txns []*state.Txn
	for i := 1; i <= 3; i++ {
		x := e.ns.Begin()
		if got := run(t, state.WithTxn(ctx, x), e.pool, op{"sdk:incr", "n"})[0]; got != strconv.Itoa(i) {
			t.Fatalf("call %d read %s", i, got)
		}
		txns = append(txns, x)
	}
	errs := make([]error, len(txns))
	var wg sync.WaitGroup
	for i := len(txns) - 1; i >= 0; i-- {
		wg.Go(func() { errs[i] = txns[i].Commit(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("commit %d: %v", i+1, err)
		}
	}
	if v, _ := e.committed(t, "n"); v != "3" {
		t.Fatalf("n = %s", v)
	}
	// A call whose predecessor is rolled back fails to commit.
	a := e.ns.Begin()
	run(t, state.WithTxn(ctx, a), e.pool, op{"sdk:incr", "n"})
	b := e.ns.Begin()
	if got := run(t, state.WithTxn(ctx, b), e.pool, op{"sdk:incr", "n"})[0]; got != "5" {
		t.Fatalf("b read %s", got)
	}
	a.Rollback()
	if err := b.Commit(ctx); !errors.Is(err, state.ErrConflict) {
		t.Fatalf("b: %v", err)
	}
	if v, _ := e.committed(t, "n"); v != "3" {
		t.Fatalf("n = %s", v)
	}
}

// TestState_Hammer runs read-modify-write requests from many goroutines on
// several instances; conflicting requests are retried, as a client
// retries a 503.
func TestState_Hammer(t *testing.T) {
	e := newStateEnv(t, "stateguest", stateOpts{size: 3})
	ctx := t.Context()
	const workers, each = 8, 15
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				in := abi.AppendDocumentListHeader(nil, 2)
				in = abi.AppendDocument(in, "sdk:incr", "counter", "")
				in = abi.AppendDocument(in, "sdk:put", fmt.Sprintf("w%d/%02d 01", w, i), "")
				for attempt := 0; ; attempt++ {
					_, err := e.request(ctx, abi.ExportToISV, in)
					if err == nil {
						break
					}
					if !errors.Is(err, state.ErrConflict) || attempt > 500 {
						t.Errorf("request: %v", err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if v, _ := e.committed(t, "counter"); v != strconv.Itoa(workers*each) {
		t.Fatalf("counter = %s, want %d", v, workers*each)
	}
	st := e.store.Stats()
	t.Logf("store: %+v", st)
	if u := e.ns.Usage(); u.Keys != workers*each+1 {
		t.Fatalf("usage %+v", u)
	}
}

// TestState_Durable: what a request committed is there after the host
// restarts.
func TestState_Durable(t *testing.T) {
	path := filepath.Join(t.TempDir(), state.FileName)
	e := newStateEnv(t, "stateguest", stateOpts{path: path})
	e.op1(t, "sdk:putn", "d/ 50 100")
	ctx := context.Background()
	e.pool.Close(ctx)
	e.store.Close()
	e2 := newStateEnv(t, "stateguest", stateOpts{path: path})
	if got := e2.op1(t, "sdk:count", "d/"); got != "50" {
		t.Fatalf("after a restart: %s keys", got)
	}
}

// TestState_ImportSignatures: every function is declared in the ABI's
// table with the signature it has.
func TestState_ImportSignatures(t *testing.T) {
	fns := hostcall.State(nil, hostcall.StateLimits{})
	if len(fns) != 4 {
		t.Fatalf("%d functions", len(fns))
	}
	for _, f := range fns {
		sig := "("
		for i, p := range f.Params {
			if i > 0 {
				sig += ","
			}
			sig += api.ValueTypeName(p)
		}
		sig += ")->" + api.ValueTypeName(f.Results[0])
		if want := abi.ImportSignatures[f.Name]; want != sig {
			t.Errorf("%s%s: abi.ImportSignatures has %q", f.Name, sig, want)
		}
	}
}

// TestState_StorageFailure: a store closed under a running plugin answers
// StatusUnavailable, and the failure is logged without keys or values.
func TestState_StorageFailure(t *testing.T) {
	var logs logBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	e := newStateEnv(t, "stateguest", stateOpts{log: log})
	e.seed(t, "secret-key", "secret-value")
	txn := e.ns.Begin()
	defer txn.Rollback()
	e.store.Close()
	got := run(t, state.WithTxn(t.Context(), txn), e.pool, op{"sdk:get", "secret-key"}, op{"sdk:put", "other-key 01"})
	if !slices.Equal(got, []string{"err -6", "err -6"}) {
		t.Fatalf("on a closed store: %q", got)
	}
	out := logs.String()
	if !strings.Contains(out, `"state storage failed"`) || !strings.Contains(out, `"host_function":"kv_get"`) {
		t.Fatalf("failure not logged:\n%s", out)
	}
	for _, secret := range []string{"secret-key", "secret-value", "other-key"} {
		if strings.Contains(out, secret) {
			t.Fatalf("log holds %q:\n%s", secret, out)
		}
	}
}

// documentsOf decodes a compact DocumentList answer.
func documentsOf(t testing.TB, res plugin.Result) [][3]string {
	t.Helper()
	if res.Kind != abi.OutputDocumentList {
		t.Fatalf("answer kind %d: %q", res.Kind, res.Data)
	}
	r, err := abi.NewDocumentReader(res.Data)
	if err != nil {
		t.Fatal(err)
	}
	var out [][3]string
	for {
		d, ok := r.Next()
		if !ok {
			break
		}
		out = append(out, [3]string{string(d.ID), string(d.Content), string(d.Metadata)})
	}
	if r.Err() != nil {
		t.Fatal(r.Err())
	}
	return out
}

func docList(docs ...[3]string) []byte {
	b := abi.AppendDocumentListHeader(nil, len(docs))
	for _, d := range docs {
		b = abi.AppendDocument(b, d[0], d[1], d[2])
	}
	return b
}

// TestExampleQueue_State runs examples/queue on the host: documents stay
// queued until a to_oso request commits, across a restart.
func TestExampleQueue_State(t *testing.T) {
	path := filepath.Join(t.TempDir(), state.FileName)
	e := newStateEnv(t, "queue", stateOpts{path: path})
	ctx := t.Context()
	posted := [][3]string{{"1", "one", `{"k": 1}`}, {"2", "two", ""}}
	res, err := e.request(ctx, abi.ExportToISV, docList(posted...))
	if err != nil || string(res.Data) != `{"accepted":2,"queued":2}` {
		t.Fatalf("to_isv: %q, %v", res.Data, err)
	}
	res, err = e.request(ctx, abi.ExportToISV, docList([3]string{"3", "three", ""}))
	if err != nil || string(res.Data) != `{"accepted":1,"queued":3}` {
		t.Fatalf("to_isv: %q, %v", res.Data, err)
	}
	want := append(posted, [3]string{"3", "three", ""})

	// A to_oso whose answer is lost before its commit (the host rolls it
	// back) leaves the documents queued.
	txn := e.ns.Begin()
	res, err = e.pool.Call(state.WithTxn(ctx, txn), abi.ExportToOSO, nil)
	if err != nil || !slices.Equal(documentsOf(t, res), want) {
		t.Fatalf("to_oso: %v", err)
	}
	txn.Rollback()

	// A restart keeps them.
	e.pool.Close(context.Background())
	e.store.Close()
	e = newStateEnv(t, "queue", stateOpts{path: path})
	res, err = e.request(ctx, abi.ExportStatus, nil)
	if err != nil || !strings.Contains(string(res.Data), `{"queued":3}`) {
		t.Fatalf("status after restart: %q, %v", res.Data, err)
	}
	res, err = e.request(ctx, abi.ExportToOSO, nil)
	if err != nil || !slices.Equal(documentsOf(t, res), want) {
		t.Fatalf("to_oso after restart: %v", err)
	}
	res, err = e.request(ctx, abi.ExportToOSO, nil)
	if err != nil || len(documentsOf(t, res)) != 0 {
		t.Fatalf("second to_oso: %v", err)
	}
	if u := e.ns.Usage(); u.Keys != 1 { // the queue's counters
		t.Fatalf("usage %+v", u)
	}
}

// TestExampleSigner_State runs examples/signer on the host: the signed
// documents wait in state until a to_oso request collects them.
func TestExampleSigner_State(t *testing.T) {
	e := newStateEnv(t, "signer", stateOpts{size: 2})
	ctx := t.Context()
	var posted [][3]string
	for i := range 5 {
		posted = append(posted, [3]string{fmt.Sprint("doc-", i), fmt.Sprint("transaction ", i), ""})
	}
	res, err := e.request(ctx, abi.ExportToISV, docList(posted[:3]...))
	if err != nil || len(documentsOf(t, res)) != 3 {
		t.Fatalf("to_isv: %v", err)
	}
	if _, err := e.request(ctx, abi.ExportToISV, docList(posted[3:]...)); err != nil {
		t.Fatalf("to_isv: %v", err)
	}
	// A failed signing request keeps nothing.
	txn := e.ns.Begin()
	if _, err := e.pool.Call(state.WithTxn(ctx, txn), abi.ExportToISV, docList(posted[0])); err != nil {
		t.Fatal(err)
	}
	txn.Rollback()

	meta := regexp.MustCompile(`^\{"key_id": "[0-9a-f-]{36}", "signature": "[0-9a-f]{128}", "algorithm": "ED25519"\}$`)
	txn = e.ns.Begin()
	res, err = e.pool.Call(state.WithTxn(ctx, txn), abi.ExportToOSO, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := documentsOf(t, res)
	txn.Rollback() // answer lost: still there
	res, err = e.request(ctx, abi.ExportToOSO, nil)
	if err != nil || !slices.Equal(documentsOf(t, res), got) {
		t.Fatalf("to_oso after a lost answer: %v", err)
	}
	if len(got) != len(posted) {
		t.Fatalf("to_oso answered %d documents", len(got))
	}
	for i, d := range got {
		if d[0] != posted[i][0] || d[1] != posted[i][1] || !meta.MatchString(d[2]) {
			t.Fatalf("document %d: %q", i, d)
		}
	}
	res, err = e.request(ctx, abi.ExportToOSO, nil)
	if err != nil || len(documentsOf(t, res)) != 0 {
		t.Fatalf("second to_oso: %v", err)
	}
	if u := e.ns.Usage(); u.Keys != 0 {
		t.Fatalf("usage %+v", u)
	}

	// Without state in the call (outside a request) the documents are
	// answered, not kept.
	res, err = e.pool.Call(ctx, abi.ExportToISV, docList(posted...))
	if err != nil || len(documentsOf(t, res)) != len(posted) {
		t.Fatalf("to_isv without state: %v", err)
	}
	if res, err = e.pool.Call(ctx, abi.ExportToOSO, nil); err != nil || len(documentsOf(t, res)) != 0 {
		t.Fatalf("to_oso without state: %v", err)
	}
	if u := e.ns.Usage(); u.Keys != 0 {
		t.Fatalf("usage %+v", u)
	}
}

// TestExampleSigner_Quota: when too many signed documents wait, a new
// batch is refused with 503 and nothing of it is kept.
func TestExampleSigner_Quota(t *testing.T) {
	e := newStateEnv(t, "signer", stateOpts{lim: state.Limits{MaxKeys: 4}})
	ctx := t.Context()
	doc := func(i int) [3]string { return [3]string{fmt.Sprint(i), "tx", ""} }
	if _, err := e.request(ctx, abi.ExportToISV, docList(doc(1), doc(2), doc(3))); err != nil {
		t.Fatal(err)
	}
	_, err := e.request(ctx, abi.ExportToISV, docList(doc(4), doc(5)))
	var ge *plugin.GuestError
	if !errors.As(err, &ge) || ge.Code != 503 || !strings.Contains(ge.Message, "waiting for collection") {
		t.Fatalf("over the quota: %v", err)
	}
	if u := e.ns.Usage(); u.Keys != 3 {
		t.Fatalf("usage %+v", u)
	}
}

// TestExampleQueue_NoState: without state in the call the queue refuses
// documents (it cannot keep them) but reports itself healthy.
func TestExampleQueue_NoState(t *testing.T) {
	e := newStateEnv(t, "queue", stateOpts{})
	ctx := t.Context()
	_, err := e.pool.Call(ctx, abi.ExportToISV, docList([3]string{"1", "x", ""}))
	var ge *plugin.GuestError
	if !errors.As(err, &ge) || ge.Code != 500 {
		t.Fatalf("to_isv without state: %v", err)
	}
	res, err := e.pool.Call(ctx, abi.ExportStatus, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := abi.DecodeStatus(res.Data); err != nil || st.Code != 200 || len(st.Extra) != 0 {
		t.Fatalf("status without state: %+v, %v", st, err)
	}
}

// BenchmarkState_KVGet measures one kv_get of a 128-byte value through
// the guest (the Go SDK's KVGet: one host call, one copy out of the
// host, one allocation in the guest), 1000 per to_isv call, against a
// committed key; and the same read called natively on the transaction.
func BenchmarkState_KVGet(b *testing.B) {
	e := newStateEnv(b, "stateguest", stateOpts{})
	e.seed(b, "k", strings.Repeat("v", 128))
	ctx := b.Context()
	b.Run("guest", func(b *testing.B) {
		const n = 1000
		in := abi.AppendDocumentListHeader(nil, 1)
		in = abi.AppendDocument(in, "bench:get", fmt.Sprintf("k %d", n), "")
		gets := 0
		b.ReportAllocs()
		for b.Loop() {
			x := e.ns.BeginReadOnly()
			res, err := e.pool.Call(state.WithTxn(ctx, x), abi.ExportToISV, in)
			x.Rollback()
			if err != nil || !strings.Contains(string(res.Data), "ok") {
				b.Fatalf("%q, %v", res.Data, err)
			}
			gets += n
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(gets), "ns/get")
	})
	b.Run("native", func(b *testing.B) {
		x := e.ns.BeginReadOnly()
		defer x.Rollback()
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := x.Get(ctx, "k"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkState_PutCommit measures whole requests that write one
// 128-byte value through the guest and commit it durably (fsync), from 1
// and from 16 concurrent clients on a pool of 2 instances: with group
// commit, concurrent requests share fsyncs.
func BenchmarkState_PutCommit(b *testing.B) {
	for _, clients := range []int{1, 16} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			e := newStateEnv(b, "stateguest", stateOpts{size: 2, lim: state.Limits{MaxKeys: 1 << 30, MaxBytes: 1 << 40}})
			ctx := b.Context()
			value := strings.Repeat("ab", 128)
			var mu sync.Mutex
			seq := 0
			request := func() {
				mu.Lock()
				seq++
				k := seq
				mu.Unlock()
				in := abi.AppendDocumentListHeader(nil, 1)
				in = abi.AppendDocument(in, "sdk:put", fmt.Sprintf("k%012d %s", k, value), "")
				if _, err := e.request(ctx, abi.ExportToISV, in); err != nil {
					b.Fatal(err)
				}
			}
			before := e.store.Stats()
			if clients == 1 {
				for b.Loop() {
					request()
				}
			} else {
				b.SetParallelism((clients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						request()
					}
				})
			}
			st := e.store.Stats()
			n := st.Commits - before.Commits
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "requests/s")
			b.ReportMetric(float64(n)/float64(st.Batches-before.Batches), "commits/batch")
		})
	}
}
