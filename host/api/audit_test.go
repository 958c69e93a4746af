package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/osohost/osohost/host/hostcall"
	"github.com/osohost/osohost/host/plugin"
	"github.com/osohost/osohost/host/plugin/plugintest"
	"github.com/osohost/osohost/host/signing"
	"github.com/osohost/osohost/host/signing/audit"
	"github.com/osohost/osohost/host/signing/soft"
	"github.com/osohost/osohost/host/state"
	"github.com/osohost/osohost/internal/syncbuf"
)

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer = syncbuf.Buffer

// TestHandler_AuditBeforeCommit serves examples/signer with a real
// software signer, audit log and state store, wired as the host wires
// them: a request's audit records are durable before its state and its
// response, and when they cannot be made durable the request fails with
// a generic 500 and keeps nothing in the state.
func TestHandler_AuditBeforeCommit(t *testing.T) {
	ctx := context.Background()
	backend, err := soft.New(soft.Options{Dir: t.TempDir(), KEK: make([]byte, soft.KEKSize)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { backend.Close() })
	alog, err := audit.Open(t.TempDir(), audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { alog.Close() })
	st, err := state.Open(filepath.Join(t.TempDir(), "state.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ns, err := st.Namespace(ctx, "signer", state.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	fns := append(hostcall.Signing(signing.Audited(backend, alog), nil, hostcall.Policy{}), hostcall.State(nil, hostcall.StateLimits{})...)
	eng, err := plugin.NewEngine(ctx, plugin.EngineOptions{HostFunctions: fns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(ctx) })
	mod, err := eng.Compile(ctx, plugintest.Read(t, "signer"))
	if err != nil {
		t.Fatal(err)
	}
	pool, err := plugin.NewPool(ctx, mod, plugin.PoolOptions{Size: 1, CallTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close(ctx) })
	var logs lockedBuffer
	h, err := New(Options{
		Mode: "backend", Pool: func() Caller { return pool }, Auth: allowAll{},
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		Begin: func(ctx context.Context) (context.Context, Txn) {
			txn := ns.Begin()
			ctx, b := signing.WithAuditBatch(state.WithTxn(ctx, txn))
			return ctx, signing.AuditedTxn(b, txn, nil)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	post := func(n int) *httptest.ResponseRecorder {
		var docs []string
		for i := range n {
			docs = append(docs, fmt.Sprintf(`{"id":"d%d","content":"c%d","metadata":""}`, i, i))
		}
		body := fmt.Sprintf(`{"count":%d,"documents":[%s]}`, n, strings.Join(docs, ","))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/api/backend/v1alpha1/documents", strings.NewReader(body)))
		return w
	}

	if w := post(5); w.Code != 200 {
		t.Fatalf("POST: %d %s", w.Code, w.Body)
	}
	if got, keys := alog.Stats().Records, ns.Usage().Keys; got != 5 || keys != 5 {
		t.Fatalf("after a 200: %d audit records, %d state keys; want 5 and 5", got, keys)
	}

	// The audit log fails (closed): the request's signatures must reach
	// neither the client nor the state.
	alog.Close()
	w := post(3)
	if w.Code != http.StatusInternalServerError || strings.Contains(w.Body.String(), "audit") || !strings.Contains(w.Body.String(), descInternal) {
		t.Fatalf("POST with a failed audit log: %d %s, want a generic 500", w.Code, w.Body)
	}
	if keys := ns.Usage().Keys; keys != 5 {
		t.Fatalf("%d state keys after the failed request, want 5: its documents were kept", keys)
	}
	if l := logs.String(); !strings.Contains(l, `"status":500`) || !strings.Contains(l, "audit: log closed") {
		t.Fatalf("the cause was not logged:\n%s", l)
	}
}
