// Package loadgen is the load generator of the signing-path benchmark:
// keep-alive mTLS clients (HTTP/1.1, HTTP/2 or HTTP/3) that POST
// DocumentLists to a backend such as examples/signer served by osohost,
// check every answer (status, count, ids, contents, the signer's metadata
// and a signature that verifies), and report requests/s, documents/s,
// latency percentiles, errors, and the CPU time the server's process tree
// and the generator itself used per signed document, read from /proc.
package loadgen

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// Protocols the generator speaks.
const (
	HTTP1 = "h1"
	HTTP2 = "h2"
	HTTP3 = "h3"
)

// Config is one load run.
type Config struct {
	// URL is the full URL of the documents route, e.g.
	// https://127.0.0.1:4000/api/backend/v1alpha1/documents.
	URL string
	// Proto is HTTP1, HTTP2 or HTTP3.
	Proto string
	// TLS holds the client certificate and the CA to trust.
	TLS *tls.Config
	// Concurrency is the number of clients, each with one request in
	// flight at a time.
	Concurrency int
	// Conns is the number of connections the clients share (HTTP/2 and
	// HTTP/3; HTTP/1.1 always uses one connection per client). 0 means 1.
	Conns int
	// Batch is the number of documents per request.
	Batch int
	// Warmup runs before the measured Duration; nothing of it is counted.
	Warmup, Duration time.Duration
	// Keys resolves the key ids named in the answers.
	Keys *Keyring
	// VerifyAll verifies every signature; otherwise one per answer (a
	// different place in each request) and the shape of all.
	VerifyAll bool
	// ServerPIDs are the roots of the server's process tree whose CPU time
	// is read from /proc; none means no server figures.
	ServerPIDs []int
	// Timeout bounds one request; 0 means 60 s.
	Timeout time.Duration
	// During, when set, runs alongside the measured window (for example to
	// reload the server) and must return when its context ends.
	During func(ctx context.Context)
}

// Result is what one run measured, within the measured window only.
type Result struct {
	Proto       string        `json:"proto"`
	Concurrency int           `json:"concurrency"`
	Conns       int           `json:"conns"`
	Batch       int           `json:"batch"`
	Window      time.Duration `json:"window_ns"`
	Requests    int64         `json:"requests"`
	// Answered counts every checked answer of the run, warm-up and the
	// end included.
	Answered    int64         `json:"answered"`
	Docs        int64         `json:"docs"`
	Verified    int64         `json:"verified"`
	Errors      int64         `json:"errors"`
	ErrorSample []string      `json:"error_sample,omitempty"`
	ReqPerSec   float64       `json:"requests_per_s"`
	DocsPerSec  float64       `json:"docs_per_s"`
	P50         time.Duration `json:"p50_ns"`
	P90         time.Duration `json:"p90_ns"`
	P99         time.Duration `json:"p99_ns"`
	Max         time.Duration `json:"max_ns"`
	// ServerCPU is the CPU time of the server's process tree in the
	// window, ServerCPUPerDoc that divided by the documents signed.
	ServerCPU       time.Duration `json:"server_cpu_ns"`
	ServerCPUPerDoc time.Duration `json:"server_cpu_per_doc_ns"`
	ServerRSS       int64         `json:"server_rss_bytes"`
	// ClientCPU is this process's CPU time in the window.
	ClientCPU       time.Duration `json:"client_cpu_ns"`
	ClientCPUPerDoc time.Duration `json:"client_cpu_per_doc_ns"`
	LoadAverage     string        `json:"loadavg"`
}

// String is a one-line summary.
func (r Result) String() string {
	s := fmt.Sprintf("%s c=%d b=%d: %.0f req/s, %.0f docs/s, p50 %s p90 %s p99 %s max %s, %d errors",
		r.Proto, r.Concurrency, r.Batch, r.ReqPerSec, r.DocsPerSec,
		round(r.P50), round(r.P90), round(r.P99), round(r.Max), r.Errors)
	if r.ServerCPU > 0 {
		s += fmt.Sprintf(", server CPU %.1f µs/doc", us(r.ServerCPUPerDoc))
	}
	s += fmt.Sprintf(", client CPU %.1f µs/doc, load %s", us(r.ClientCPUPerDoc), r.LoadAverage)
	return s
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func round(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	case d >= 100*time.Microsecond:
		return d.Round(time.Microsecond)
	}
	return d
}

// NewClients returns n HTTP clients of the protocol, each with its own
// transport (and so its own connections), and a function that closes them.
func NewClients(proto string, cfg *tls.Config, n int, timeout time.Duration) ([]*http.Client, func(), error) {
	if n < 1 {
		n = 1
	}
	var clients []*http.Client
	var closers []func()
	for range n {
		var rt http.RoundTripper
		switch proto {
		case HTTP1, HTTP2:
			p := new(http.Protocols)
			if proto == HTTP1 {
				p.SetHTTP1(true)
			} else {
				p.SetHTTP2(true)
			}
			t := &http.Transport{
				TLSClientConfig:     cfg.Clone(),
				Protocols:           p,
				MaxIdleConns:        4096,
				MaxIdleConnsPerHost: 4096,
				IdleConnTimeout:     90 * time.Second,
				DisableCompression:  true,
				ForceAttemptHTTP2:   proto == HTTP2,
			}
			rt = t
			closers = append(closers, t.CloseIdleConnections)
		case HTTP3:
			t := &http3.Transport{
				TLSClientConfig: cfg.Clone(),
				QUICConfig:      &quic.Config{MaxIdleTimeout: 90 * time.Second, KeepAlivePeriod: 10 * time.Second},
			}
			rt = t
			closers = append(closers, func() { t.Close() })
		default:
			return nil, nil, fmt.Errorf("loadgen: unknown protocol %q (h1, h2 or h3)", proto)
		}
		clients = append(clients, &http.Client{Transport: rt, Timeout: timeout})
	}
	return clients, func() {
		for _, c := range closers {
			c()
		}
	}, nil
}

// HTTP3URL returns the URL to reach u's server over HTTP/3: it asks the
// server once over HTTPS and takes the UDP port from the Alt-Svc header
// ("h3"). It fails when the server does not offer HTTP/3.
func HTTP3URL(ctx context.Context, cfg *tls.Config, u string) (string, error) {
	clients, done, err := NewClients(HTTP2, cfg, 1, 10*time.Second)
	if err != nil {
		return "", err
	}
	defer done()
	pu, err := url.Parse(u)
	if err != nil {
		return "", err
	}
	status := *pu
	status.Path = strings.TrimSuffix(pu.Path, "/documents") + "/status"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, status.String(), nil)
	if err != nil {
		return "", err
	}
	resp, err := clients[0].Do(req)
	if err != nil {
		return "", err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	port := altSvcH3Port(resp.Header.Values("Alt-Svc"))
	if port == "" {
		return "", errors.New("loadgen: the server does not offer HTTP/3 (no h3 in Alt-Svc)")
	}
	host := pu.Hostname()
	pu.Host = net.JoinHostPort(host, port)
	return pu.String(), nil
}

// altSvcH3Port returns the port of an `h3=":443"` entry, or "".
func altSvcH3Port(values []string) string {
	for _, v := range values {
		for e := range strings.SplitSeq(v, ",") {
			e = strings.TrimSpace(e)
			proto, rest, ok := strings.Cut(e, "=")
			if !ok || strings.TrimSpace(proto) != http3.NextProtoH3 {
				continue
			}
			rest, _, _ = strings.Cut(rest, ";")
			rest = strings.Trim(strings.TrimSpace(rest), `"`)
			if i := strings.LastIndexByte(rest, ':'); i >= 0 {
				if _, err := strconv.Atoi(rest[i+1:]); err == nil {
					return rest[i+1:]
				}
			}
		}
	}
	return ""
}

// worker state shared with Run.
type runState struct {
	measuring atomic.Bool
	mu        sync.Mutex
	lat       []time.Duration
	requests  atomic.Int64
	answered  atomic.Int64
	docs      atomic.Int64
	verified  atomic.Int64
	errors    atomic.Int64
	samples   []string
}

func (s *runState) fail(err error) {
	s.errors.Add(1)
	s.mu.Lock()
	if len(s.samples) < 5 {
		s.samples = append(s.samples, err.Error())
	}
	s.mu.Unlock()
}

// Run runs the load and returns what the measured window saw. Errors in
// answers are counted (with a few samples kept), not returned; Run fails
// only when the run cannot start.
func Run(ctx context.Context, c Config) (Result, error) {
	if c.Concurrency < 1 || c.Batch < 0 || c.Duration <= 0 {
		return Result{}, errors.New("loadgen: concurrency ≥ 1, batch ≥ 0 and duration > 0 are required")
	}
	if c.Keys == nil {
		return Result{}, errors.New("loadgen: no keyring to verify signatures with")
	}
	if c.Timeout == 0 {
		c.Timeout = time.Minute
	}
	target := c.URL
	if c.Proto == HTTP3 {
		u, err := HTTP3URL(ctx, c.TLS, c.URL)
		if err != nil {
			return Result{}, err
		}
		target = u
	}
	conns := c.Conns
	if c.Proto == HTTP1 || conns < 1 {
		conns = 1 // one transport; it keeps one connection per client
	}
	clients, closeClients, err := NewClients(c.Proto, c.TLS, conns, c.Timeout)
	if err != nil {
		return Result{}, err
	}
	defer closeClients()

	st := &runState{}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	for w := range c.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			worker(runCtx, st, clients[w%len(clients)], target, c, w)
		}()
	}
	select {
	case <-time.After(c.Warmup):
	case <-ctx.Done():
	}
	var server0 Usage
	if len(c.ServerPIDs) > 0 {
		if server0, err = TreeUsage(c.ServerPIDs...); err != nil {
			stop()
			wg.Wait()
			return Result{}, err
		}
	}
	self0 := SelfCPU()
	t0 := time.Now()
	st.measuring.Store(true)
	duringDone := make(chan struct{})
	duringCtx, stopDuring := context.WithCancel(runCtx)
	go func() {
		defer close(duringDone)
		if c.During != nil {
			c.During(duringCtx)
		}
	}()
	select {
	case <-time.After(c.Duration):
	case <-ctx.Done():
	}
	st.measuring.Store(false)
	window := time.Since(t0)
	self1 := SelfCPU()
	var server1 Usage
	if len(c.ServerPIDs) > 0 {
		server1, _ = TreeUsage(c.ServerPIDs...)
	}
	stopDuring()
	<-duringDone
	stop()
	wg.Wait()

	r := Result{
		Proto: c.Proto, Concurrency: c.Concurrency, Conns: conns, Batch: c.Batch,
		Window:   window,
		Requests: st.requests.Load(), Answered: st.answered.Load(), Docs: st.docs.Load(), Verified: st.verified.Load(),
		Errors: st.errors.Load(), ErrorSample: st.samples,
		ClientCPU:   self1 - self0,
		LoadAverage: LoadAverage(),
	}
	if c.Proto == HTTP1 {
		r.Conns = c.Concurrency
	}
	r.ReqPerSec = float64(r.Requests) / window.Seconds()
	r.DocsPerSec = float64(r.Docs) / window.Seconds()
	if len(c.ServerPIDs) > 0 {
		r.ServerCPU = server1.CPU - server0.CPU
		r.ServerRSS = server1.RSS
	}
	if r.Docs > 0 {
		r.ServerCPUPerDoc = r.ServerCPU / time.Duration(r.Docs)
		r.ClientCPUPerDoc = r.ClientCPU / time.Duration(r.Docs)
	}
	lat := st.lat
	slices.Sort(lat)
	if n := len(lat); n > 0 {
		r.P50, r.P90, r.P99, r.Max = pct(lat, 50), pct(lat, 90), pct(lat, 99), lat[n-1]
	}
	return r, nil
}

// pct is the nearest-rank percentile of sorted values.
func pct(sorted []time.Duration, p float64) time.Duration {
	i := int(float64(len(sorted))*p/100+0.999999) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

// worker sends one request at a time until ctx ends.
func worker(ctx context.Context, st *runState, client *http.Client, target string, c Config, id int) {
	docs := make([]Doc, c.Batch)
	var body []byte
	var lat []time.Duration
	defer func() {
		st.mu.Lock()
		st.lat = append(st.lat, lat...)
		st.mu.Unlock()
	}()
	var respBuf bytes.Buffer
	for seq := uint64(0); ctx.Err() == nil; seq++ {
		MakeDocs(docs, id, seq)
		body = AppendBody(body[:0], docs)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
		if err != nil {
			st.fail(err)
			return
		}
		req.Header.Set("Content-Type", "application/json")
		t0 := time.Now()
		resp, err := client.Do(req)
		if err == nil {
			respBuf.Reset()
			_, err = respBuf.ReadFrom(resp.Body)
			resp.Body.Close()
		}
		d := time.Since(t0)
		if ctx.Err() != nil {
			return // the run ended during this request: not counted
		}
		// A request counts in the window when it ends in it, as the
		// server's CPU time of the window is mostly spent on those.
		measured := st.measuring.Load()
		if err != nil {
			if measured {
				st.fail(err)
			}
			// A refused or broken connection fails at once: do not spin.
			select {
			case <-ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		n, err := Check(resp.StatusCode, respBuf.Bytes(), docs, c.Keys, int(seq), c.VerifyAll)
		if err == nil {
			st.answered.Add(1)
		}
		if !measured {
			continue
		}
		if err != nil {
			st.fail(err)
			continue
		}
		st.requests.Add(1)
		st.docs.Add(int64(c.Batch))
		st.verified.Add(int64(n))
		lat = append(lat, d)
	}
}
