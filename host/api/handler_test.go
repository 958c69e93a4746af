package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/osohost/osohost/host/auth"
	"github.com/osohost/osohost/host/plugin"
	"github.com/osohost/osohost/host/plugin/plugintest"
	"github.com/osohost/osohost/host/schema"
)

// allowAll authenticates every request: these tests are about what
// happens after authentication (host/auth/mtls has its own).
type allowAll struct{}

func (allowAll) Authenticate(*http.Request, string) (auth.Principal, error) {
	return auth.Principal{Method: "test", Subject: "CN=test"}, nil
}

// recordingTxn records what the handler did with a call's transaction.
type recordingTxn struct {
	mu         sync.Mutex
	committed  bool
	rolledBack bool
	commitErr  error
}

func (t *recordingTxn) Commit(context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.commitErr != nil {
		return t.commitErr
	}
	t.committed = true
	return nil
}

func (t *recordingTxn) Rollback() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.committed {
		t.rolledBack = true
	}
}

func testPool(t *testing.T) *plugin.Pool {
	t.Helper()
	ctx := context.Background()
	wasm, err := plugin.ReadModule(plugintest.Path(t, "testguest"))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := plugin.NewEngine(ctx, plugin.EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(ctx) })
	mod, err := eng.Compile(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	p, err := plugin.NewPool(ctx, mod, plugin.PoolOptions{Size: 1, CallTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(ctx) })
	return p
}

func post(t *testing.T, h http.Handler, ids ...string) *httptest.ResponseRecorder {
	t.Helper()
	var docs []string
	for _, id := range ids {
		docs = append(docs, `{"id":"`+id+`","content":"c","metadata":""}`)
	}
	body := `{"count":` + strconv.Itoa(len(ids)) + `,"documents":[` + strings.Join(docs, ",") + `]}`
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/api/frontend/v1alpha1/documents", strings.NewReader(body)))
	return w
}

func TestHandler_TransactionCommittedOnlyOnSuccess(t *testing.T) {
	pool := testPool(t)
	var (
		mu   sync.Mutex
		txns []*recordingTxn
		fail error
	)
	h, err := New(Options{
		Mode: "frontend", Pool: func() Caller { return pool }, Auth: allowAll{},
		Begin: func(ctx context.Context) (context.Context, Txn) {
			mu.Lock()
			defer mu.Unlock()
			txn := &recordingTxn{commitErr: fail}
			txns = append(txns, txn)
			return ctx, txn
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	last := func() *recordingTxn {
		mu.Lock()
		defer mu.Unlock()
		return txns[len(txns)-1]
	}

	if w := post(t, h, "echo"); w.Code != 200 {
		t.Fatalf("echo: %d %s", w.Code, w.Body)
	}
	if tx := last(); !tx.committed || tx.rolledBack {
		t.Fatalf("a successful call: committed=%v rolledBack=%v, want committed", tx.committed, tx.rolledBack)
	}
	for _, id := range []string{"trap", "badjson", "error:409"} {
		w := post(t, h, id)
		if w.Code == 200 {
			t.Fatalf("%s: 200", id)
		}
		if tx := last(); tx.committed || !tx.rolledBack {
			t.Fatalf("%s (%d): committed=%v rolledBack=%v, want rolled back", id, w.Code, tx.committed, tx.rolledBack)
		}
	}

	mu.Lock()
	fail = errors.New("disk full")
	mu.Unlock()
	w := post(t, h, "echo")
	if w.Code != http.StatusInternalServerError || strings.Contains(w.Body.String(), "disk full") {
		t.Fatalf("failed commit: %d %s, want a 500 that does not show the cause", w.Code, w.Body)
	}
}

func TestHandler_StatusExtraAndObserve(t *testing.T) {
	pool := testPool(t)
	type obs struct {
		route, method string
		status        int
	}
	var seen []obs
	h, err := New(Options{
		Mode: "frontend", Pool: func() Caller { return pool }, Auth: allowAll{},
		StatusExtra: func() []schema.ExtraField {
			return []schema.ExtraField{{Key: "plugin", Value: json.RawMessage(`{"sha256":"ab"}`)}}
		},
		Observe: func(route, method string, status int, _ time.Duration) {
			seen = append(seen, obs{route, method, status})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/frontend/v1alpha1/status", nil))
	var st map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil || w.Code != 200 {
		t.Fatalf("status: %d %s %v", w.Code, w.Body, err)
	}
	if p, _ := st["plugin"].(map[string]any); p["sha256"] != "ab" {
		t.Fatalf("status lacks the extra member: %s", w.Body)
	}
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/nope", nil))
	want := []obs{{"status", "GET", 200}, {"unknown", "GET", 404}}
	if len(seen) != len(want) || seen[0] != want[0] || seen[1] != want[1] {
		t.Fatalf("observed %v, want %v", seen, want)
	}
}
