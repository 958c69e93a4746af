package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/osohost/osohost/host/auth"
	"github.com/osohost/osohost/host/auth/routetoken"
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

func TestHandler_RouteTokenGate(t *testing.T) {
	pool := testPool(t)
	secret := []byte("route-token-secret-0123")
	ring, err := routetoken.NewKeyRing("a", routetoken.Key{ID: "a", Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_900_000_000, 0)
	v, err := routetoken.New(routetoken.Options{Keys: ring, ID: "oso-frontend", Port: 4000, Mode: routetoken.ModeShort,
		Carrier: routetoken.CarrierPath, MaxFailures: 2, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	h, err := New(Options{Mode: "frontend", Pool: func() Caller { return pool }, Auth: allowAll{}, Gate: v,
		Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	token, err := routetoken.SignShort(secret, "a", routetoken.ShortClaims{ID: "oso-frontend", Port: 4000, Expires: uint64(now.Unix()) + 60})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path, remote string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.RemoteAddr = remote
		h.ServeHTTP(w, r)
		return w
	}
	if w := get("/"+token+"/api/frontend/v1alpha1/status", "192.0.2.1:1000"); w.Code != 200 {
		t.Fatalf("signed path: %d %s", w.Code, w.Body)
	}
	if w := get("/api/frontend/v1alpha1/status", "192.0.2.1:1000"); w.Code != 401 {
		t.Fatalf("no token: %d, want 401", w.Code)
	}
	forged := token[:len(token)-3] + "000"
	forged = forged[:len(forged)-1] + "a"
	for i, want := range []int{401, 401, 429} {
		w := get("/"+forged+"/api/frontend/v1alpha1/status", "192.0.2.2:1000")
		if w.Code != want {
			t.Fatalf("forged token, attempt %d: %d %s, want %d", i+1, w.Code, w.Body, want)
		}
		if want == 429 && w.Header().Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
		var body map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body["code"] != float64(want) {
			t.Fatalf("error body %s", w.Body)
		}
	}
	if w := get("/"+token+"/api/frontend/v1alpha1/status", "192.0.2.3:1000"); w.Code != 200 {
		t.Fatalf("another client is not throttled: %d", w.Code)
	}
	if strings.Contains(logs.String(), token) || strings.Contains(logs.String(), forged) {
		t.Fatal("a route token reached the log")
	}
	if !strings.Contains(logs.String(), `"path":"/api/frontend/v1alpha1/status"`) {
		t.Fatalf("the log lacks the stripped path:\n%s", logs.String())
	}
}
