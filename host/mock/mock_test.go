package mock_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/osohost/osohost/host/frontdoor"
	"github.com/osohost/osohost/host/logging"
	"github.com/osohost/osohost/host/mock"
	"github.com/osohost/osohost/host/pki/pkitest"
	"github.com/osohost/osohost/host/schema"
)

// reply is a canned answer.
type reply struct {
	code int
	body string
}

// component answers the three routes of a component in memory, with
// canned answers where a test sets them. It stands in for components that
// misbehave in ways osohost itself never does (malformed JSON, a missing
// status_code, a huge answer): the end-to-end tests in cmd/osohost run
// the mock against real osohost processes.
type component struct {
	mode string

	mu         sync.Mutex
	docs       []json.RawMessage // queued documents
	statuses   []reply           // consumed in order; the last repeats; none: 200 OK
	get, post  *reply            // override GET/POST documents
	gate       chan struct{}     // if set, GET documents waits for it
	stall      bool              // status never answers
	entered    chan struct{}     // if set, GET documents signals it first
	statusHits int
	getHits    int
	postHits   int
	protos     []string
	traces     []string
}

func (c *component) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	c.mu.Lock()
	c.protos = append(c.protos, r.Proto)
	c.traces = append(c.traces, r.Header.Get("X-Trace-ID"))
	c.mu.Unlock()
	base := "/api/" + c.mode + "/v1alpha1"
	switch {
	case r.URL.Path == base+"/status" && r.Method == http.MethodGet:
		if c.stall {
			<-r.Context().Done()
			return
		}
		c.mu.Lock()
		c.statusHits++
		rep := reply{200, `{"status_code": 200, "status": "OK", "errors": []}`}
		if len(c.statuses) > 0 {
			rep = c.statuses[0]
			if len(c.statuses) > 1 {
				c.statuses = c.statuses[1:]
			}
		}
		c.mu.Unlock()
		write(w, rep)
	case r.URL.Path == base+"/documents" && r.Method == http.MethodGet:
		if c.entered != nil {
			c.entered <- struct{}{}
		}
		if c.gate != nil {
			select {
			case <-c.gate:
			case <-r.Context().Done():
				return
			}
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		c.getHits++
		if c.get != nil {
			write(w, *c.get)
			return
		}
		b, _ := json.Marshal(map[string]any{"documents": append([]json.RawMessage{}, c.docs...), "count": len(c.docs)})
		c.docs = nil
		write(w, reply{200, string(b)})
	case r.URL.Path == base+"/documents" && r.Method == http.MethodPost:
		body, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		defer c.mu.Unlock()
		c.postHits++
		if c.post != nil {
			write(w, *c.post)
			return
		}
		var l struct{ Documents []json.RawMessage }
		if err := json.Unmarshal(body, &l); err != nil {
			write(w, reply{400, `{"code": 400, "name": "Bad Request", "description": "invalid body"}`})
			return
		}
		c.docs = append(c.docs, l.Documents...)
		write(w, reply{200, fmt.Sprintf(`{"accepted": %d}`, len(l.Documents))})
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func write(w http.ResponseWriter, r reply) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(r.code)
	io.WriteString(w, r.body)
}

func (c *component) counts() (status, get, post int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.statusHits, c.getHits, c.postHits
}

func (c *component) queued() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []string
	for _, d := range c.docs {
		var doc struct{ ID string }
		json.Unmarshal(d, &doc)
		ids = append(ids, doc.ID)
	}
	return ids
}

// serve starts c behind the front door (TLS 1.3, HTTP/3 on) and returns
// its base URL.
func serve(t *testing.T, pk *pkitest.PKI, c *component) string {
	t.Helper()
	srv, err := frontdoor.Listen(frontdoor.Options{
		Addr:        "127.0.0.1:0",
		Certificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &pk.Server.TLS, nil },
		Handler:     c,
		HTTP3:       true,
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	})
	return "https://" + srv.Addr().String() + "/api/" + c.mode + "/v1alpha1"
}

// lines collects the JSON log lines of a logger and lets a test wait for
// one.
type lines struct {
	mu  sync.Mutex
	all []map[string]any
	ch  chan map[string]any
}

func (l *lines) Write(p []byte) (int, error) {
	var m map[string]any
	if err := json.Unmarshal(p, &m); err != nil {
		return 0, err
	}
	l.mu.Lock()
	l.all = append(l.all, m)
	l.mu.Unlock()
	if l.ch != nil {
		l.ch <- m
	}
	return len(p), nil
}

func (l *lines) find(event string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, m := range l.all {
		if m["event"] == event {
			out = append(out, m)
		}
	}
	return out
}

// await returns the next line with the event, from l.ch.
func (l *lines) await(t *testing.T, event string) map[string]any {
	t.Helper()
	return l.awaitAny(t, event)
}

// awaitAny returns the next line with one of the events, from l.ch.
func (l *lines) awaitAny(t *testing.T, events ...string) map[string]any {
	t.Helper()
	for {
		select {
		case m := <-l.ch:
			for _, e := range events {
				if m["event"] == e {
					return m
				}
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no %q log line", events)
		}
	}
}

type setup struct {
	pk           *pkitest.PKI
	fe, be       *component
	opts         mock.Options
	log          *lines
	feURL, beURL string
}

// newSetup serves a frontend and a backend and prepares mock options for
// them; edit may then change the components and the options.
func newSetup(t *testing.T, http3 bool, edit func(*setup)) *setup {
	t.Helper()
	s := &setup{pk: pkitest.New(t), fe: &component{mode: "frontend"}, be: &component{mode: "backend"}, log: &lines{}}
	s.feURL, s.beURL = serve(t, s.pk, s.fe), serve(t, s.pk, s.be)
	cfg := s.pk.ClientTLS(&s.pk.Client)
	cfg.ServerName = "localhost"
	s.opts = mock.Options{
		Frontend: s.feURL, Backend: s.beURL, TLS: cfg, HTTP3: http3,
		RetryDelay: time.Millisecond, RequestTimeout: 30 * time.Second,
		Logger: logging.New(s.log, slog.LevelDebug, "mock-test").With("logger", "osohost.mock"),
	}
	if edit != nil {
		edit(s)
	}
	return s
}

func (s *setup) mock(t *testing.T) *mock.Mock {
	t.Helper()
	m, err := mock.New(s.opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func docs(ids ...string) []json.RawMessage {
	var out []json.RawMessage
	for _, id := range ids {
		out = append(out, json.RawMessage(fmt.Sprintf(`{"id": %q, "content": "c-%s", "metadata": ""}`, id, id)))
	}
	return out
}

func TestMock_Run_BothWays(t *testing.T) {
	for _, h3 := range []bool{false, true} {
		proto := map[bool]string{false: "HTTP/2.0", true: "HTTP/3.0"}[h3]
		t.Run(proto, func(t *testing.T) {
			s := newSetup(t, h3, nil)
			s.fe.docs = docs("a", "b", "c")
			m := s.mock(t)

			r, err := m.Run(t.Context(), mock.ToBackend)
			if err != nil {
				t.Fatal(err)
			}
			if r.Documents != 3 || r.SourceAttempts != 1 || r.TargetAttempts != 1 || r.Proto != proto || r.Bytes == 0 {
				t.Fatalf("phase 1 result %+v", r)
			}
			if got := strings.Join(s.be.queued(), ","); got != "a,b,c" || len(s.fe.queued()) != 0 {
				t.Fatalf("backend holds %q after phase 1", got)
			}
			r, err = m.Run(t.Context(), mock.ToFrontend)
			if err != nil || r.Documents != 3 {
				t.Fatalf("phase 2: %+v, %v", r, err)
			}
			if got := strings.Join(s.fe.queued(), ","); got != "a,b,c" {
				t.Fatalf("frontend holds %q after phase 2", got)
			}
			for _, c := range []*component{s.fe, s.be} {
				c.mu.Lock()
				for i, p := range c.protos {
					if p != proto || !strings.HasPrefix(c.traces[i], "mock-p") {
						t.Errorf("%s request %d: %s, trace %q", c.mode, i, p, c.traces[i])
					}
				}
				c.mu.Unlock()
			}
			done := s.log.find("phase done")
			if len(done) != 2 || done[0]["documents"] != float64(3) || done[0]["phase"] != float64(1) ||
				done[0]["from"] != "frontend" || done[0]["to"] != "backend" || done[0]["logger"] != "osohost.mock" {
				t.Fatalf("summary lines %v", done)
			}
			for _, k := range []string{"duration_ms", "fetch_ms", "post_ms", "source_attempts", "target_attempts", "trace_id"} {
				if _, ok := done[1][k]; !ok {
					t.Errorf("summary lacks %s: %v", k, done[1])
				}
			}
		})
	}
}

func TestMock_Run_NoDocuments(t *testing.T) {
	s := newSetup(t, false, nil)
	r, err := s.mock(t).Run(t.Context(), mock.ToBackend)
	if err != nil || r.Documents != 0 {
		t.Fatalf("%+v, %v", r, err)
	}
	if _, _, posts := s.be.counts(); posts != 0 {
		t.Fatalf("%d POSTs of an empty list", posts)
	}
	if len(s.log.find("no documents to move: POST skipped")) != 1 || len(s.log.find("phase done")) != 1 {
		t.Fatalf("log: %v", s.log.all)
	}
}

func TestMock_Run_StatusRetries(t *testing.T) {
	s := newSetup(t, false, func(s *setup) {
		s.be.statuses = []reply{
			{503, `{"code": 503, "name": "Service Unavailable", "description": "starting"}`},
			{200, `{"status_code": 500, "status": "Internal Server Error", "errors": [{"code": "1", "message": "signing backend unavailable"}]}`},
			{200, `{"status": "OK"}`}, // no status_code: the HTTP status counts
		}
		s.fe.docs = docs("x")
	})
	r, err := s.mock(t).Run(t.Context(), mock.ToBackend)
	if err != nil {
		t.Fatal(err)
	}
	if r.TargetAttempts != 3 || r.Documents != 1 {
		t.Fatalf("%+v", r)
	}
	warns := s.log.find("status check failed")
	if len(warns) != 2 || !strings.Contains(warns[1]["err"].(string), "signing backend unavailable") {
		t.Fatalf("warnings %v", warns)
	}
}

// failureCases run one phase 1 that must fail.
func TestMock_Run_Failures(t *testing.T) {
	tests := []struct {
		name       string
		edit       func(*setup)
		wantErr    error  // errors.Is
		wantText   string // in the error and the log line
		wantStatus int    // status checks of the failing component
		wantGets   int    // GETs of the frontend's documents
		wantPosts  int    // POSTs to the backend
	}{
		{
			name: "backend never ready",
			edit: func(s *setup) {
				s.be.statuses = []reply{{503, `{"code": 503, "name": "Service Unavailable", "description": "down"}`}}
				s.fe.docs = docs("a")
			},
			wantErr: mock.ErrNotReady, wantText: "check the backend's status", wantStatus: 3,
		},
		{
			name:    "status not JSON",
			edit:    func(s *setup) { s.be.statuses = []reply{{200, `<html>`}} },
			wantErr: mock.ErrInvalidJSON, wantText: "not valid JSON", wantStatus: 1,
		},
		{
			name:    "status not a ComponentStatus",
			edit:    func(s *setup) { s.be.statuses = []reply{{200, `{"status_code": 200}`}} },
			wantErr: schema.ErrInvalid, wantText: "status", wantStatus: 1,
		},
		{
			name:    "documents malformed JSON",
			edit:    func(s *setup) { s.fe.get = &reply{200, `{"documents": [`} },
			wantErr: schema.ErrInvalid, wantText: "invalid DocumentList: schema: documents[0]: invalid JSON", wantStatus: 1, wantGets: 1,
		},
		{
			name:    "document without id",
			edit:    func(s *setup) { s.fe.get = &reply{200, `{"documents": [{"content": "c"}], "count": 1}`} },
			wantErr: schema.ErrInvalid, wantText: "documents[0].id", wantStatus: 1, wantGets: 1,
		},
		{
			name: "documents HTTP error",
			edit: func(s *setup) {
				s.fe.get = &reply{500, `{"code": 500, "name": "Internal Server Error", "description": "plugin failed"}`}
			},
			wantErr: mock.ErrHTTPStatus, wantText: `500 Internal Server Error: "plugin failed"`, wantStatus: 1, wantGets: 1,
		},
		{
			name:    "redirect not followed",
			edit:    func(s *setup) { s.fe.get = &reply{307, ``} },
			wantErr: mock.ErrHTTPStatus, wantText: "307", wantStatus: 1, wantGets: 1,
		},
		{
			name: "answer not JSON",
			edit: func(s *setup) {
				s.fe.docs = docs("a")
				s.be.post = &reply{200, `signed!`}
			},
			wantErr: mock.ErrInvalidJSON, wantText: "post 1 documents to the backend", wantStatus: 1, wantGets: 1, wantPosts: 1,
		},
		{
			name: "answer 413",
			edit: func(s *setup) {
				s.fe.docs = docs("a", "b")
				s.be.post = &reply{413, `{"code": 413, "name": "Request Entity Too Large", "description": "The data value transmitted exceeds the capacity limit."}`}
			},
			wantErr: mock.ErrHTTPStatus, wantText: "413", wantStatus: 1, wantGets: 1, wantPosts: 1,
		},
		{
			name: "answer too large",
			edit: func(s *setup) {
				s.fe.docs = docs("a")
				s.be.post = &reply{200, `"` + strings.Repeat("x", 2000) + `"`}
				s.opts.MaxResponseBytes = 1000
			},
			wantErr: mock.ErrTooLarge, wantText: "more than 1000 bytes", wantStatus: 1, wantGets: 1, wantPosts: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSetup(t, false, tt.edit)
			_, err := s.mock(t).Run(t.Context(), mock.ToBackend)
			var e *mock.Error
			if !errors.As(err, &e) || !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("error %v, want %v containing %q", err, tt.wantErr, tt.wantText)
			}
			if e.Phase != mock.ToBackend || e.URL == "" || e.Step == "" {
				t.Fatalf("error fields %+v", e)
			}
			failed := s.log.find("phase failed")
			if len(failed) != 1 || !strings.Contains(failed[0]["err"].(string), tt.wantText) && !strings.Contains(failed[0]["step"].(string), tt.wantText) {
				t.Fatalf("log %v", failed)
			}
			failing := s.be
			if tt.wantGets > 0 && tt.wantPosts == 0 {
				failing = s.fe
			}
			if st, _, _ := failing.counts(); st != tt.wantStatus {
				t.Errorf("%d status checks of the %s, want %d", st, failing.mode, tt.wantStatus)
			}
			if _, gets, _ := s.fe.counts(); gets != tt.wantGets {
				t.Errorf("%d GETs of the frontend's documents, want %d", gets, tt.wantGets)
			}
			if _, _, posts := s.be.counts(); posts != tt.wantPosts {
				t.Errorf("%d POSTs to the backend, want %d", posts, tt.wantPosts)
			}
		})
	}
}

// TestMock_Run_Down checks a component that does not listen: every
// attempt fails, then the phase.
func TestMock_Run_Down(t *testing.T) {
	for _, h3 := range []bool{false, true} {
		s := newSetup(t, h3, nil)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := "https://" + ln.Addr().String() + "/api/backend/v1alpha1"
		ln.Close()
		s.opts.Backend = dead
		s.opts.RequestTimeout = 2 * time.Second // a QUIC handshake to nobody ends on this
		r, err := s.mock(t).Run(t.Context(), mock.ToBackend)
		if !errors.Is(err, mock.ErrNotReady) || !strings.Contains(err.Error(), "after 3 attempts") || r.TargetAttempts != 3 {
			t.Fatalf("http3=%v: %+v, %v", h3, r, err)
		}
		if _, gets, _ := s.fe.counts(); gets != 0 {
			t.Fatalf("the frontend's documents were fetched while the backend was down")
		}
	}
}

// TestMock_Run_RequestTimeout checks that a component that never answers
// ends in the request deadline.
func TestMock_Run_RequestTimeout(t *testing.T) {
	s := newSetup(t, false, func(s *setup) { s.fe.stall = true })
	s.opts.RequestTimeout = 200 * time.Millisecond
	s.opts.MaxRetries = 1
	_, err := s.mock(t).Run(t.Context(), mock.ToBackend)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, mock.ErrNotReady) || !strings.Contains(err.Error(), "check the frontend's status") {
		t.Fatalf("%v", err)
	}
}

func TestMock_Serve(t *testing.T) {
	gate, entered := make(chan struct{}), make(chan struct{}, 1)
	s := newSetup(t, false, func(s *setup) {
		s.fe.gate, s.fe.entered = gate, entered
		s.fe.docs = docs("a")
	})
	s.log.ch = make(chan map[string]any, 100)
	m := s.mock(t)
	ctx, cancel := context.WithCancel(t.Context())
	triggers := make(chan mock.Phase)
	served := make(chan error, 1)
	go func() { served <- m.Serve(ctx, triggers) }()

	triggers <- mock.ToBackend
	<-entered // phase 1 is fetching
	triggers <- mock.ToFrontend
	ignored := s.log.await(t, "phase requested while another runs: ignored")
	if ignored["requested"] != float64(2) || ignored["running"] != float64(1) {
		t.Fatalf("%v", ignored)
	}
	close(gate)
	if done := s.log.await(t, "phase done"); done["phase"] != float64(1) || done["documents"] != float64(1) {
		t.Fatalf("%v", done)
	}
	// Phase 2 runs once Serve has seen phase 1 end; a trigger that
	// arrives just before that is ignored, and sent again.
	for attempt := 1; ; attempt++ {
		triggers <- mock.ToFrontend
		m := s.log.awaitAny(t, "phase done", "phase requested while another runs: ignored")
		if m["event"] == "phase done" {
			if m["phase"] != float64(2) || m["documents"] != float64(1) {
				t.Fatalf("%v", m)
			}
			break
		}
		if attempt == 100 {
			t.Fatal("phase 2 ignored 100 times after phase 1 ended")
		}
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.fe.queued(), ","); got != "a" {
		t.Fatalf("frontend holds %q", got)
	}
}

func TestNew_Errors(t *testing.T) {
	pk := pkitest.New(t)
	tests := []struct {
		name string
		opts mock.Options
		want string
	}{
		{"nothing", mock.Options{}, "frontend endpoint: not set"},
		{"bad scheme", mock.Options{Frontend: "ftp://x/api/frontend/v1alpha1", Backend: "https://x/api/backend/v1alpha1", TLS: pk.ClientTLS(nil)}, "not an http or https URL"},
		{"query", mock.Options{Frontend: "https://x/api/frontend/v1alpha1", Backend: "https://x/api/backend/v1alpha1?a=1", TLS: pk.ClientTLS(nil)}, "must not have a query"},
		{"no TLS", mock.Options{Frontend: "https://x/api/frontend/v1alpha1", Backend: "https://x/api/backend/v1alpha1"}, "TLS client configuration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := mock.New(tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("%v, want %q", err, tt.want)
			}
		})
	}
}

func TestPhase_String(t *testing.T) {
	if s := mock.ToBackend.String(); s != "phase 1 (frontend → backend)" {
		t.Fatal(s)
	}
	if s := mock.ToFrontend.String(); s != "phase 2 (backend → frontend)" {
		t.Fatal(s)
	}
	if s := mock.Phase(7).String(); s != "phase 7" {
		t.Fatal(s)
	}
	var buf bytes.Buffer
	fmt.Fprint(&buf, mock.ToBackend)
	if buf.String() != "phase 1 (frontend → backend)" {
		t.Fatal(buf.String())
	}
}
