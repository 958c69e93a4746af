package conformance

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/host/api"
	"github.com/osohost/osohost/host/auth"
	"github.com/osohost/osohost/host/hostcall"
	"github.com/osohost/osohost/host/plugin"
	"github.com/osohost/osohost/host/plugin/plugintest"
	"github.com/osohost/osohost/host/signing"
	"github.com/osohost/osohost/host/signing/soft"
	"github.com/osohost/osohost/host/state"
)

// languages are the signers under test; the first is the reference.
var languages = []struct {
	lang, module, target string
}{
	{"go", "signer", "guests"},
	{"c", "signer-c", "examples-c"},
	{"rust", "signer-rust", "examples-rust"},
	{"assemblyscript", "signer-as", "examples-as"},
	// The same signer built with Extism's AssemblyScript PDK, served
	// through the Extism compatibility path.
	{"extism-assemblyscript", "signer-extism", "examples-signer-extism"},
}

// cacheDir is a compilation cache shared by the package's tests.
var cacheDir string

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "osohost-conformance-cache-")
	if err != nil {
		panic(err)
	}
	cacheDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

// module returns the bytes of a signer module; see the package doc.
func module(t testing.TB, name, target string) []byte {
	t.Helper()
	if dir := os.Getenv("OSOHOST_GUESTS"); dir != "" {
		if b, err := os.ReadFile(filepath.Join(dir, name+".wasm")); err == nil {
			return b
		}
	}
	if name == "signer" {
		return plugintest.Read(t, name)
	}
	why := fmt.Sprintf("%s.wasm is not built: run `make %s` and set OSOHOST_GUESTS to build/guests", name, target)
	if os.Getenv("OSOHOST_REQUIRE_GUESTS") == "1" {
		t.Fatal(why)
	}
	t.Skip(why)
	return nil
}

// allowAll authenticates every request: these tests are about what the
// plugins answer (host/auth has its own tests).
type allowAll struct{}

func (allowAll) Authenticate(*http.Request, string) (auth.Principal, error) {
	return auth.Principal{Method: "test", Subject: "CN=conformance"}, nil
}

// faultySigner wraps the software backend and fails on request.
type faultySigner struct {
	signing.Signer
	signErr error // every signature fails with it
	listErr error // ListKeys fails with it
}

func (f *faultySigner) ListKeys(ctx context.Context, t signing.KeyType) ([]string, error) {
	if f.listErr != nil {
		return nil, f.listErr
	}
	return f.Signer.ListKeys(ctx, t)
}

func (f *faultySigner) Sign(ctx context.Context, id string, data []byte) ([]byte, error) {
	if f.signErr != nil {
		return nil, f.signErr
	}
	return f.Signer.Sign(ctx, id, data)
}

func (f *faultySigner) SignMany(ctx context.Context, reqs []signing.SignRequest) ([]signing.SignResult, error) {
	if f.signErr != nil {
		res := make([]signing.SignResult, len(reqs))
		for i := range res {
			res[i].Err = f.signErr
		}
		return res, nil
	}
	return f.Signer.SignMany(ctx, reqs)
}

// envOpts vary the host a scenario runs on.
type envOpts struct {
	signErr, listErr error
	policy           hostcall.Policy
	limits           state.Limits
	memoryPages      uint32 // 0: the engine's default
	maxInput         int    // 0: the pool's default
	keys             int    // ED25519 keys generated before the plugin starts
}

// env is one plugin served as osohost serves it: a pool with the signing
// and state host functions, the software backend over a fresh keystore, a
// fresh state file, and the API handler that commits each request's state.
type env struct {
	soft  *soft.Signer
	ns    *state.Namespace
	pool  *plugin.Pool
	h     *api.Handler
	keyID string            // the key the plugin signed with, once known
	pub   ed25519.PublicKey // its public key
	wasm  []byte
}

func newEnv(t testing.TB, wasm []byte, o envOpts) *env {
	t.Helper()
	ctx := context.Background()
	kek := make([]byte, 32)
	rand.Read(kek)
	s, err := soft.New(soft.Options{Dir: t.TempDir(), KEK: kek})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for range o.keys {
		if _, err := s.GenerateKey(ctx, signing.Ed25519); err != nil {
			t.Fatal(err)
		}
	}
	st, err := state.Open(filepath.Join(t.TempDir(), state.FileName), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ns, err := st.Namespace(ctx, "signer", o.limits)
	if err != nil {
		t.Fatal(err)
	}
	var signer signing.Signer = s
	if o.signErr != nil || o.listErr != nil {
		signer = &faultySigner{Signer: s, signErr: o.signErr, listErr: o.listErr}
	}
	fns := append(hostcall.Signing(signer, nil, o.policy), hostcall.State(nil, hostcall.StateLimits{})...)
	eng, err := plugin.NewEngine(ctx, plugin.EngineOptions{CacheDir: cacheDir, MemoryLimitPages: o.memoryPages, HostFunctions: fns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(ctx) })
	mod, err := eng.Compile(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	p, err := plugin.NewPool(ctx, mod, plugin.PoolOptions{Size: 1, CallTimeout: time.Minute, MaxInputBytes: o.maxInput})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(ctx) })
	h, err := api.New(api.Options{
		Mode: "backend",
		Pool: func() api.Caller { return p },
		Auth: allowAll{},
		Begin: func(ctx context.Context) (context.Context, api.Txn) {
			txn := ns.Begin()
			return state.WithTxn(ctx, txn), txn
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &env{soft: s, ns: ns, pool: p, h: h, wasm: wasm}
}

// step is one observable answer: what was asked, the HTTP status and the
// body with key ids and signatures replaced by placeholders.
type step struct {
	What string
	Code int
	Body string
}

// do sends one request through the API handler.
func (e *env) do(t *testing.T, method, route, body string) (int, []byte) {
	t.Helper()
	r := httptest.NewRequestWithContext(t.Context(), method, "/api/backend/v1alpha1/"+route, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w.Code, w.Body.Bytes()
}

// step sends one request and checks every signature in the answer.
func (e *env) step(t *testing.T, what, method, route, body string) step {
	t.Helper()
	code, b := e.do(t, method, route, body)
	return e.record(t, what, code, b)
}

var (
	// metadataRE is the exact metadata text examples/signer writes.
	metadataRE = regexp.MustCompile(`^\{"key_id": "([0-9a-f-]{36})", "signature": "([0-9a-f]{128})", "algorithm": "ED25519"\}$`)
	hexSigRE   = regexp.MustCompile(`[0-9a-f]{128}`)
)

// documentList is a DocumentList as the host writes it.
type documentList struct {
	Documents []struct {
		ID       string `json:"id"`
		Content  string `json:"content"`
		Metadata string `json:"metadata"`
	} `json:"documents"`
	Count int `json:"count"`
}

// verify checks the signed documents of a DocumentList answer: each
// metadata exactly as examples/signer writes it, every signature valid
// for the content and the key, one key for the whole environment. It
// returns the documents.
func (e *env) verify(t *testing.T, what string, code int, b []byte) documentList {
	t.Helper()
	var l documentList
	if code != http.StatusOK || !strings.HasPrefix(string(b), `{"documents":`) {
		return l
	}
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	for i, d := range l.Documents {
		m := metadataRE.FindStringSubmatch(d.Metadata)
		if m == nil {
			t.Fatalf("%s: document %d: metadata %q", what, i, d.Metadata)
		}
		if e.keyID == "" {
			k, err := e.soft.PublicKey(t.Context(), m[1])
			if err != nil {
				t.Fatalf("%s: key %s: %v", what, m[1], err)
			}
			pub, err := x509.ParsePKIXPublicKey(k.PublicKey)
			if err != nil {
				t.Fatal(err)
			}
			e.keyID, e.pub = m[1], pub.(ed25519.PublicKey)
		}
		if m[1] != e.keyID {
			t.Fatalf("%s: document %d signed with %s, earlier ones with %s", what, i, m[1], e.keyID)
		}
		sig, _ := hex.DecodeString(m[2])
		if !ed25519.Verify(e.pub, []byte(d.Content), sig) {
			t.Fatalf("%s: document %d: the signature does not verify", what, i)
		}
	}
	return l
}

// record verifies the answer (see verify) and returns it with the key id
// and signatures replaced.
func (e *env) record(t *testing.T, what string, code int, b []byte) step {
	t.Helper()
	e.verify(t, what, code, b)
	s := string(b)
	if e.keyID != "" {
		s = strings.ReplaceAll(s, e.keyID, "<key>")
	}
	return step{What: what, Code: code, Body: hexSigRE.ReplaceAllString(s, "<sig>")}
}

// call runs an export on the pool directly, outside a request (no state
// transaction unless ctx has one), and renders it as the API would.
func (e *env) call(t *testing.T, ctx context.Context, what, export string, in []byte) step {
	t.Helper()
	res, err := e.pool.Call(ctx, export, in)
	if err != nil {
		return step{What: what, Code: errorClass(err), Body: errorKind(err)}
	}
	code, body, err := api.EncodeOutput(export, res, api.Limits())
	if err != nil {
		t.Fatalf("%s: output: %v", what, err)
	}
	return e.record(t, what, code, body)
}

// errorClass is the HTTP status the API answers for a pool error.
func errorClass(err error) int {
	var ge *plugin.GuestError
	switch {
	case errors.As(err, &ge):
		return ge.Code
	case errors.Is(err, plugin.ErrCallTimeout):
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// errorKind names a pool error, without its text (which differs between
// language runtimes).
func errorKind(err error) string {
	var ge *plugin.GuestError
	var te *plugin.TrapError
	switch {
	case errors.As(err, &ge):
		return "guest error: " + ge.Message
	case errors.As(err, &te):
		return "trap"
	}
	return "error: " + err.Error()
}

func (e *env) usage(t *testing.T) int64 {
	t.Helper()
	return e.ns.Usage().Keys
}

// body encodes a DocumentList request body.
func body(docs ...[3]string) string {
	var b strings.Builder
	b.WriteString(`{"documents":[`)
	for i, d := range docs {
		if i > 0 {
			b.WriteByte(',')
		}
		id, _ := json.Marshal(d[0])
		content, _ := json.Marshal(d[1])
		meta, _ := json.Marshal(d[2])
		fmt.Fprintf(&b, `{"id":%s,"content":%s,"metadata":%s}`, id, content, meta)
	}
	fmt.Fprintf(&b, `],"count":%d}`, len(docs))
	return b.String()
}

// compact encodes documents as to_isv receives them.
func compact(docs ...[3]string) []byte {
	b := abi.AppendDocumentListHeader(nil, len(docs))
	for _, d := range docs {
		b = abi.AppendDocument(b, d[0], d[1], d[2])
	}
	return b
}

func mustStep(t *testing.T, s step, code int, body string) {
	t.Helper()
	if s.Code != code || (body != "" && s.Body != body) {
		t.Fatalf("%s: %d %s, want %d %s", s.What, s.Code, s.Body, code, body)
	}
}

const (
	emptyList      = `{"documents":[],"count":0}`
	internalError  = `{"code": 500, "name": "Internal Server Error", "description": "The server encountered an internal error and was unable to complete your request. Either the server is overloaded or there is an error in the application."}`
	backendDown    = `{"code": 503, "name": "Service Unavailable", "description": "signing backend unavailable, retry later"}`
	tooManyWaiting = `{"code": 503, "name": "Service Unavailable", "description": "too many signed documents waiting for collection, retry later"}`
)

// compactStep starts the name of a step that hands the plugin compact
// input directly, which only native-ABI plugins take.
const compactStep = "compact "

// scenario is one sequence of requests; its steps must be the same for
// every language.
type scenario struct {
	name string
	opts envOpts
	run  func(t *testing.T, e *env) []step
}

var scenarios = []scenario{
	{
		// The whole life of signed documents: status, an empty batch (no
		// key generated), the framework's sample list, a second batch
		// signed with the same key, collection in posting order, and an
		// empty queue afterwards.
		name: "sign and collect",
		run: func(t *testing.T, e *env) []step {
			sample, err := os.ReadFile("testdata/valid-DocumentList-0.json")
			if err != nil {
				t.Fatal(err)
			}
			var out []step
			s := e.step(t, "status, no key", "GET", "status", "")
			mustStep(t, s, 200, `{"status_code":200,"status":"OK","errors":[],"keys":0}`)
			out = append(out, s)
			s = e.step(t, "post an empty list", "POST", "documents", emptyList)
			mustStep(t, s, 200, emptyList)
			out = append(out, s)
			if ids, _ := e.soft.ListKeys(t.Context(), signing.Ed25519); len(ids) != 0 {
				t.Fatalf("keys after an empty batch: %q", ids)
			}
			s = e.step(t, "collect nothing", "GET", "documents", "")
			mustStep(t, s, 200, emptyList)
			out = append(out, s)

			first := e.step(t, "post the sample list", "POST", "documents", string(sample))
			mustStep(t, first, 200, `{"documents":[`+
				`{"id":"64dd0bce-8711-4b76-b051-838faa4117a3","content":"content1","metadata":"{\"key_id\": \"<key>\", \"signature\": \"<sig>\", \"algorithm\": \"ED25519\"}"},`+
				`{"id":"4db24570-aa0d-4eb4-8179-66971ff2cff1","content":"content2","metadata":"{\"key_id\": \"<key>\", \"signature\": \"<sig>\", \"algorithm\": \"ED25519\"}"}`+
				`],"count":2}`)
			out = append(out, first)
			s = e.step(t, "status, one key", "GET", "status", "")
			mustStep(t, s, 200, `{"status_code":200,"status":"OK","errors":[],"keys":1}`)
			out = append(out, s)

			second := e.step(t, "post a second batch", "POST", "documents", body(
				[3]string{"a\"b\\c", "héllo \u2028 wörld \U0001F600", ""},
				[3]string{"", "", `{"k": [1, 2.5, "x"]}`},
				[3]string{"3", "line\nbreak\ttab\u0001", "plain"},
			))
			mustStep(t, second, 200, "")
			out = append(out, second)
			if ids, _ := e.soft.ListKeys(t.Context(), signing.Ed25519); !slices.Equal(ids, []string{e.keyID}) {
				t.Fatalf("keys %q, want only %s", ids, e.keyID)
			}
			code, b := e.do(t, "GET", "documents", "")
			collected := e.record(t, "collect", code, b)
			want := strings.TrimSuffix(first.Body, `],"count":2}`) + "," +
				strings.TrimPrefix(strings.TrimSuffix(second.Body, `],"count":3}`), `{"documents":[`) + `],"count":5}`
			mustStep(t, collected, 200, want)
			out = append(out, collected)
			s = e.step(t, "collect again", "GET", "documents", "")
			mustStep(t, s, 200, emptyList)
			out = append(out, s)
			if n := e.usage(t); n != 0 {
				t.Fatalf("%d keys left in state", n)
			}
			return out
		},
	},
	{
		// With keys on the host, the first in sorted order signs and no
		// key is generated.
		name: "first key",
		opts: envOpts{keys: 3},
		run: func(t *testing.T, e *env) []step {
			ids, _ := e.soft.ListKeys(t.Context(), signing.Ed25519)
			s := e.step(t, "post", "POST", "documents", body([3]string{"1", "tx", ""}))
			mustStep(t, s, 200, "")
			if e.keyID != ids[0] {
				t.Fatalf("signed with %s, want %s (first of %q)", e.keyID, ids[0], ids)
			}
			if after, _ := e.soft.ListKeys(t.Context(), signing.Ed25519); len(after) != 3 {
				t.Fatalf("%d keys after signing, want 3", len(after))
			}
			st := e.step(t, "status", "GET", "status", "")
			mustStep(t, st, 200, `{"status_code":200,"status":"OK","errors":[],"keys":3}`)
			return []step{s, st}
		},
	},
	{
		// A batch over several kv_list pages and over the SDKs' first
		// buffers.
		name: "large batch",
		run: func(t *testing.T, e *env) []step {
			docs := make([][3]string, 300)
			for i := range docs {
				docs[i] = [3]string{fmt.Sprint("doc-", i), fmt.Sprintf("transaction %d %s", i, strings.Repeat("x", i%50)), ""}
			}
			s := e.step(t, "post 300 documents", "POST", "documents", body(docs...))
			mustStep(t, s, 200, "")
			c := e.step(t, "collect them", "GET", "documents", "")
			mustStep(t, c, 200, s.Body)
			return []step{s, c}
		},
	},
	{
		// One GET hands over at most 4 MiB of documents; the rest waits.
		name: "collection in batches",
		run: func(t *testing.T, e *env) []step {
			var out []step
			for i := range 5 {
				s := e.step(t, "post a large document", "POST", "documents",
					body([3]string{fmt.Sprint(i), strings.Repeat(string(rune('p'+i)), 900_000), ""}))
				mustStep(t, s, 200, "")
			}
			var got []int
			n := 0
			for range 3 {
				code, b := e.do(t, "GET", "documents", "")
				if code != 200 {
					t.Fatalf("collect: %d %.200s", code, b)
				}
				l := e.verify(t, "collect", code, b)
				// The answer, a few MiB, is summarised: ids and sizes.
				var sum strings.Builder
				for i, d := range l.Documents {
					if d.ID != fmt.Sprint(n+i) {
						t.Fatalf("collected document %q out of order", d.ID)
					}
					fmt.Fprintf(&sum, "%s:%d ", d.ID, len(d.Content))
				}
				got = append(got, len(l.Documents))
				n += len(l.Documents)
				out = append(out, step{What: "collect", Code: code, Body: sum.String()})
			}
			if !slices.Equal(got, []int{4, 1, 0}) {
				t.Fatalf("collected %v documents per GET, want [4 1 0]", got)
			}
			return out
		},
	},
	{
		// The signing backend is down: the batch fails with 503 and none
		// of it is kept.
		name: "backend unavailable",
		opts: envOpts{signErr: fmt.Errorf("hsm down: %w", signing.ErrUnavailable)},
		run: func(t *testing.T, e *env) []step {
			s := e.step(t, "post", "POST", "documents", body([3]string{"1", "a", ""}, [3]string{"2", "b", ""}))
			mustStep(t, s, 503, backendDown)
			c := e.step(t, "collect", "GET", "documents", "")
			mustStep(t, c, 200, emptyList)
			return []step{s, c}
		},
	},
	{
		// The backend cannot list keys: status reports it, a batch fails.
		name: "status unavailable",
		opts: envOpts{listErr: fmt.Errorf("hsm down: %w", signing.ErrUnavailable)},
		run: func(t *testing.T, e *env) []step {
			s := e.step(t, "status", "GET", "status", "")
			mustStep(t, s, 500, `{"status_code":500,"status":"Internal Server Error","errors":[{"code":"1","message":"signing backend unavailable"}]}`)
			p := e.step(t, "post", "POST", "documents", body([3]string{"1", "a", ""}))
			mustStep(t, p, 503, backendDown)
			return []step{s, p}
		},
	},
	{
		// The host's policy refuses ED25519 keys.
		name: "ED25519 refused",
		opts: envOpts{policy: hostcall.Policy{AllowedTypes: []signing.KeyType{signing.Secp256k1}}},
		run: func(t *testing.T, e *env) []step {
			s := e.step(t, "status", "GET", "status", "")
			mustStep(t, s, 500, `{"status_code":500,"status":"Internal Server Error","errors":[{"code":"1","message":"signing with ED25519 keys is not allowed by the host"}]}`)
			p := e.step(t, "post", "POST", "documents", body([3]string{"1", "a", ""}))
			mustStep(t, p, 500, internalError)
			return []step{s, p}
		},
	},
	{
		// Too many signed documents wait: a batch is refused with 503 and
		// nothing of it is kept.
		name: "state quota",
		opts: envOpts{limits: state.Limits{MaxKeys: 4}},
		run: func(t *testing.T, e *env) []step {
			doc := func(i int) [3]string { return [3]string{fmt.Sprint(i), "tx", ""} }
			a := e.step(t, "post 3", "POST", "documents", body(doc(1), doc(2), doc(3)))
			mustStep(t, a, 200, "")
			b := e.step(t, "post 2 more", "POST", "documents", body(doc(4), doc(5)))
			mustStep(t, b, 503, tooManyWaiting)
			if n := e.usage(t); n != 3 {
				t.Fatalf("%d keys in state, want 3", n)
			}
			c := e.step(t, "collect", "GET", "documents", "")
			mustStep(t, c, 200, a.Body)
			return []step{a, b, c}
		},
	},
	{
		// An answer lost before its commit leaves the documents for the
		// next GET.
		name: "lost answer",
		run: func(t *testing.T, e *env) []step {
			a := e.step(t, "post", "POST", "documents", body([3]string{"1", "one", ""}, [3]string{"2", "two", ""}))
			mustStep(t, a, 200, "")
			txn := e.ns.Begin()
			lost := e.call(t, state.WithTxn(t.Context(), txn), "collect, rolled back", abi.ExportToOSO, nil)
			txn.Rollback()
			mustStep(t, lost, 200, a.Body)
			c := e.step(t, "collect", "GET", "documents", "")
			mustStep(t, c, 200, a.Body)
			d := e.step(t, "collect again", "GET", "documents", "")
			mustStep(t, d, 200, emptyList)
			return []step{a, lost, c, d}
		},
	},
	{
		// Outside a request (no state in the call) the documents are
		// answered and not kept, and there is nothing to collect.
		name: "no state",
		run: func(t *testing.T, e *env) []step {
			a := e.call(t, t.Context(), "to_isv without state", abi.ExportToISV, compact([3]string{"1", "one", ""}))
			mustStep(t, a, 200, "")
			b := e.call(t, t.Context(), "to_oso without state", abi.ExportToOSO, nil)
			mustStep(t, b, 200, emptyList)
			c := e.call(t, t.Context(), "status without state", abi.ExportStatus, nil)
			mustStep(t, c, 200, `{"status_code":200,"status":"OK","errors":[],"keys":1}`)
			if n := e.usage(t); n != 0 {
				t.Fatalf("%d keys in state", n)
			}
			return []step{a, b, c}
		},
	},
	{
		// Bad documents: the host refuses invalid bodies with 400 before
		// the plugin runs; a malformed compact list (which the host never
		// sends) is answered with a generic 500 by the plugin, which is
		// kept and goes on serving. Extism-ABI plugins take JSON the host
		// wrote and have no compact input: the compact steps are for
		// native plugins only.
		name: "bad documents",
		run: func(t *testing.T, e *env) []step {
			var out []step
			for _, b := range []string{
				`{"documents":[{"content":"x"}],"count":1}`,
				`{"documents":null,"count":0}`,
				`{"documents":[{"id":"1","content":"x","metadata":7}],"count":1}`,
				`not json`,
			} {
				s := e.step(t, "post "+b, "POST", "documents", b)
				mustStep(t, s, 400, "")
				out = append(out, s)
			}
			good := compact([3]string{"1", "x", ""})
			native := e.pool.Module().Info().ABI == plugin.ABINative
			for _, in := range [][]byte{
				{1, 0, 0, 0},
				append(slices.Clone(good), 0),
				good[:len(good)-1],
				{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0},
			} {
				if !native {
					break
				}
				s := e.call(t, t.Context(), fmt.Sprintf(compactStep+"to_isv % x", in), abi.ExportToISV, in)
				mustStep(t, s, 500, "guest error: ")
				out = append(out, s)
			}
			if st := e.pool.Stats(); st.Traps != 0 || st.Replaced != 0 {
				t.Fatalf("the plugin trapped on malformed input: %+v", st)
			}
			s := e.step(t, "post after", "POST", "documents", body([3]string{"1", "x", ""}))
			mustStep(t, s, 200, "")
			return append(out, s)
		},
	},
	{
		// An input the instance cannot hold (memory capped at 32 MiB)
		// traps or fails its allocation: the host answers 500, discards
		// the instance, and the next request runs on a fresh one.
		name: "trap recovery",
		opts: envOpts{memoryPages: 512, maxInput: 64 << 20},
		run: func(t *testing.T, e *env) []step {
			a := e.step(t, "post", "POST", "documents", body([3]string{"1", "before", ""}))
			mustStep(t, a, 200, "")
			big := compact([3]string{"big", strings.Repeat("x", 33<<20), ""})
			trap := e.call(t, t.Context(), "to_isv of 33 MiB", abi.ExportToISV, big)
			mustStep(t, trap, 500, "trap")
			if st := e.pool.Stats(); st.Traps != 1 {
				t.Fatalf("pool stats after the trap: %+v", st)
			}
			b := e.step(t, "post after", "POST", "documents", body([3]string{"2", "after", ""}))
			mustStep(t, b, 200, "")
			c := e.step(t, "collect", "GET", "documents", "")
			mustStep(t, c, 200, "")
			if st := e.pool.Stats(); st.Replaced != 1 {
				t.Fatalf("pool stats: %+v, want one instance replaced", st)
			}
			return []step{a, trap, b, c}
		},
	},
}

// TestConformance runs every scenario on every language's signer and
// compares each answer with the Go signer's.
func TestConformance(t *testing.T) {
	got := map[string]map[string][]step{} // language → scenario → steps
	abis := map[string]string{}           // language → the module's ABI
	for _, l := range languages {
		t.Run(l.lang, func(t *testing.T) {
			wasm := module(t, l.module, l.target)
			got[l.lang] = map[string][]step{}
			info, err := plugin.Inspect(t.Context(), wasm)
			if err != nil {
				t.Fatal(err)
			}
			if p := info.Problems(); len(p) > 0 {
				t.Fatalf("%s.wasm: %q", l.module, p)
			}
			abis[l.lang] = info.ABI
			for _, sc := range scenarios {
				t.Run(sc.name, func(t *testing.T) {
					e := newEnv(t, wasm, sc.opts)
					if !e.pool.Stateless() {
						t.Error("the signer does not declare itself stateless")
					}
					got[l.lang][sc.name] = sc.run(t, e)
				})
			}
		})
	}
	ref := got[languages[0].lang]
	if ref == nil {
		return // the reference did not run (-run selected other languages)
	}
	for _, l := range languages[1:] {
		steps := got[l.lang]
		if steps == nil {
			continue
		}
		t.Run(l.lang+" matches go", func(t *testing.T) {
			for _, sc := range scenarios {
				want, have := ref[sc.name], steps[sc.name]
				if abis[l.lang] != plugin.ABINative {
					want = slices.DeleteFunc(slices.Clone(want), func(s step) bool { return strings.HasPrefix(s.What, compactStep) })
				}
				if want == nil || have == nil {
					continue // failed above
				}
				if len(want) != len(have) {
					t.Errorf("%s: %d steps, go %d", sc.name, len(have), len(want))
					continue
				}
				for i := range want {
					if want[i] != have[i] {
						t.Errorf("%s: step %d (%s):\n%s: %d %.300s\ngo: %d %.300s",
							sc.name, i, want[i].What, l.lang, have[i].Code, have[i].Body, want[i].Code, want[i].Body)
					}
				}
			}
		})
	}
}

// BenchmarkSigner_ToISV_100Docs measures one POST of 100 documents on each
// language's signer, to_isv through the pool: state=none without a state
// transaction (the documents are signed and answered, not kept: the
// signing path), state=kept with one committed to disk per call (collected
// by a to_oso every 100 calls, outside the timing).
func BenchmarkSigner_ToISV_100Docs(b *testing.B) {
	docs := make([][3]string, 100)
	for i := range docs {
		docs[i] = [3]string{fmt.Sprint("doc-", i), fmt.Sprintf("transaction %d: %s", i, strings.Repeat("x", 100)), ""}
	}
	in := compact(docs...)
	for _, kept := range []bool{false, true} {
		for _, l := range languages {
			name := "state=none/lang=" + l.lang
			if kept {
				name = "state=kept/lang=" + l.lang
			}
			b.Run(name, func(b *testing.B) {
				e := newEnv(b, module(b, l.module, l.target), envOpts{})
				ctx := b.Context()
				n := 0
				b.ReportAllocs()
				for b.Loop() {
					if !kept {
						if _, err := e.pool.Call(ctx, abi.ExportToISV, in); err != nil {
							b.Fatal(err)
						}
						n++
						continue
					}
					txn := e.ns.Begin()
					if _, err := e.pool.Call(state.WithTxn(ctx, txn), abi.ExportToISV, in); err != nil {
						b.Fatal(err)
					}
					if err := txn.Commit(ctx); err != nil {
						b.Fatal(err)
					}
					n++
					if n%100 == 0 {
						b.StopTimer()
						collect(b, e)
						b.StartTimer()
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*len(docs)), "ns/doc")
				b.ReportMetric(float64(len(e.wasm)), "module-bytes")
			})
		}
	}
}

// collect empties the signer's state with to_oso calls.
func collect(b *testing.B, e *env) {
	for e.ns.Usage().Keys > 0 {
		txn := e.ns.Begin()
		if _, err := e.pool.Call(state.WithTxn(b.Context(), txn), abi.ExportToOSO, nil); err != nil {
			b.Fatal(err)
		}
		if err := txn.Commit(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}
