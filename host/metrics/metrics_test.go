package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/host/metrics"
	"github.com/osohost/osohost/host/plugin"
)

// gather returns the registry's families by name.
func gather(t *testing.T, m *metrics.Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	out := make(map[string]*dto.MetricFamily, len(fams))
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

// value returns the value of the series of family name whose labels are
// exactly labels (name=value pairs), and whether it exists.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		if len(m.GetLabel())*2 != len(labels) {
			continue
		}
		for i, l := range m.GetLabel() {
			if l.GetName() != labels[2*i] || l.GetValue() != labels[2*i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// labelValues returns the set of values label takes in family name.
func labelValues(fams map[string]*dto.MetricFamily, name, label string) map[string]bool {
	out := map[string]bool{}
	for _, m := range fams[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label {
				out[l.GetValue()] = true
			}
		}
	}
	return out
}

func TestMetrics_ObserveRequest(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Options{})
	m.ObserveRequest(metrics.RouteDocuments, http.MethodPost, 200, 3*time.Millisecond)
	m.ObserveRequest(metrics.RouteDocuments, http.MethodPost, 200, 4*time.Millisecond)
	m.ObserveRequest(metrics.RouteStatus, http.MethodGet, 503, time.Millisecond)
	m.ObserveRequest("unknown", "BREW", 999, -time.Second)

	fams := gather(t, m)
	tests := []struct {
		name   string
		metric string
		labels []string
		want   float64
	}{
		{"documents 200", "osohost_http_requests_total", []string{"code", "200", "method", "POST", "route", "documents"}, 2},
		{"status 503", "osohost_http_requests_total", []string{"code", "503", "method", "GET", "route", "status"}, 1},
		{"unknown route, method and code", "osohost_http_requests_total", []string{"code", "other", "method", "other", "route", "other"}, 1},
		{"documents histogram", "osohost_http_request_duration_seconds", []string{"route", "documents"}, 2},
		{"other histogram", "osohost_http_request_duration_seconds", []string{"route", "other"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := value(fams, tt.metric, tt.labels...)
			if !ok || got != tt.want {
				t.Errorf("%s%v = %v (present %v), want %v", tt.metric, tt.labels, got, ok, tt.want)
			}
		})
	}
}

func TestOutcome(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, metrics.OutcomeOK},
		{"call timeout", plugin.ErrCallTimeout, metrics.OutcomeTimeout},
		{"context deadline", fmt.Errorf("acquire: %w", context.DeadlineExceeded), metrics.OutcomeTimeout},
		{"canceled", context.Canceled, metrics.OutcomeCanceled},
		{"busy", plugin.ErrBusy, metrics.OutcomeBusy},
		{"trap", &plugin.TrapError{Err: errors.New("unreachable")}, metrics.OutcomeTrap},
		{"wrapped guest error", fmt.Errorf("call: %w", &plugin.GuestError{Code: 400, Message: "no"}), metrics.OutcomeGuestError},
		{"output", &plugin.OutputError{Reason: "too large"}, metrics.OutcomeOutputError},
		{"limit", &plugin.LimitError{What: "input", Limit: 10}, metrics.OutcomeLimit},
		{"pool closed", plugin.ErrClosed, metrics.Other},
		{"anything else", errors.New("boom"), metrics.Other},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := metrics.Outcome(tt.err); got != tt.want {
				t.Errorf("Outcome(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

func TestMetrics_ObserveGuestCall(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Options{})
	fams := gather(t, m)
	if v, ok := value(fams, "osohost_guest_calls_total", "export", abi.ExportToISV, "outcome", metrics.OutcomeTrap); !ok || v != 0 {
		t.Errorf("trap series before any call = %v (present %v), want 0 present", v, ok)
	}

	m.ObserveGuestCall(abi.ExportToISV, time.Millisecond, nil)
	m.ObserveGuestCall(abi.ExportToISV, time.Millisecond, &plugin.TrapError{Err: errors.New("unreachable")})
	m.ObserveGuestCall(abi.ExportStatus, time.Millisecond, plugin.ErrCallTimeout)
	m.ObserveGuestCall("../../etc/passwd", time.Millisecond, nil)

	fams = gather(t, m)
	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"export", "to_isv", "outcome", "ok"}, 1},
		{[]string{"export", "to_isv", "outcome", "trap"}, 1},
		{[]string{"export", "status", "outcome", "timeout"}, 1},
		{[]string{"export", "other", "outcome", "ok"}, 1},
	} {
		if v, _ := value(fams, "osohost_guest_calls_total", c.labels...); v != c.want {
			t.Errorf("osohost_guest_calls_total%v = %v, want %v", c.labels, v, c.want)
		}
	}
	if v, _ := value(fams, "osohost_guest_traps_total"); v != 1 {
		t.Errorf("osohost_guest_traps_total = %v, want 1", v)
	}
	if v, _ := value(fams, "osohost_guest_call_duration_seconds", "export", "to_isv"); v != 2 {
		t.Errorf("to_isv duration count = %v, want 2", v)
	}
}

func TestMetrics_HostCall(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		function     string
		status       int32
		wantFunction string
		wantResult   string
	}{
		{"ok", abi.ImportSign, 64, "sign", "ok"},
		{"zero", abi.ImportKVPut, 0, "kv_put", "ok"},
		{"bad pointer", abi.ImportSign, int32(abi.StatusBadPointer), "sign", "bad_pointer"},
		{"too large", abi.ImportSignMany, int32(abi.StatusTooLarge), "sign_many", "too_large"},
		{"bad argument", abi.ImportKeyGenerate, int32(abi.StatusBadArgument), "key_generate", "bad_argument"},
		{"not allowed", abi.ImportCredential, int32(abi.StatusNotAllowed), "credential", "not_allowed"},
		{"limited", abi.ImportLog, int32(abi.StatusLimited), "log", "limited"},
		{"unavailable", abi.ImportSign, int32(abi.StatusUnavailable), "sign", "unavailable"},
		{"not found", abi.ImportKVGet, int32(abi.StatusNotFound), "kv_get", "not_found"},
		{"too small", abi.ImportKeyList, int32(abi.StatusTooSmall), "key_list", "too_small"},
		{"unknown status", abi.ImportSign, -1000, "sign", "other"},
		{"unknown function", "open_socket", 0, "other", "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := metrics.New(metrics.Options{})
			m.HostCall(tt.function, tt.status)
			if v, ok := value(gather(t, m), "osohost_host_calls_total", "function", tt.wantFunction, "result", tt.wantResult); !ok || v != 1 {
				t.Errorf("osohost_host_calls_total{function=%q,result=%q} = %v (present %v), want 1", tt.wantFunction, tt.wantResult, v, ok)
			}
		})
	}
}

func TestMetrics_ReloadAndSetPlugin(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Options{})
	first := strings.Repeat("a", 64)
	second := strings.Repeat("b", 64)
	m.SetPlugin(first, time.Unix(1000, 0))
	m.Reload(false, metrics.TriggerWatch, 2*time.Second)
	m.Reload(true, metrics.TriggerAdmin, time.Second)
	m.Reload(true, "cron", time.Second)
	m.SetPlugin(second, time.Unix(2000, 500_000_000))

	fams := gather(t, m)
	if got := labelValues(fams, "osohost_plugin_info", "sha256"); len(got) != 1 || !got[second] {
		t.Errorf("osohost_plugin_info sha256 labels = %v, want only the current module", got)
	}
	if v, _ := value(fams, "osohost_plugin_loaded_timestamp_seconds"); v != 2000.5 {
		t.Errorf("osohost_plugin_loaded_timestamp_seconds = %v, want 2000.5", v)
	}
	for _, c := range []struct {
		result, trigger string
		want            float64
	}{
		{"error", "file", 1}, {"ok", "admin", 1}, {"ok", "other", 1}, {"ok", "signal", 0},
	} {
		if v, ok := value(fams, "osohost_plugin_reloads_total", "result", c.result, "trigger", c.trigger); !ok || v != c.want {
			t.Errorf("reloads{result=%q,trigger=%q} = %v (present %v), want %v", c.result, c.trigger, v, ok, c.want)
		}
	}
	if v, _ := value(fams, "osohost_plugin_reload_duration_seconds"); v != 3 {
		t.Errorf("reload duration count = %v, want 3", v)
	}

	m.SetPlugin("not a digest", time.Unix(3000, 0))
	if got := labelValues(gather(t, m), "osohost_plugin_info", "sha256"); len(got) != 1 || !got["invalid"] {
		t.Errorf("after a malformed digest, sha256 labels = %v, want only \"invalid\"", got)
	}
}

func TestMetrics_PoolFunc(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Options{})
	if _, ok := gather(t, m)["osohost_pool_size"]; ok {
		t.Fatal("osohost_pool_size exported before PoolFunc")
	}
	m.PoolFunc(func() (int, int, int) { return 4, 1, 3 })
	fams := gather(t, m)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"osohost_pool_size", nil, 4},
		{"osohost_pool_instances", []string{"state", "in_use"}, 1},
		{"osohost_pool_instances", []string{"state", "idle"}, 3},
	} {
		if v, ok := value(fams, c.name, c.labels...); !ok || v != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, v, ok, c.want)
		}
	}
	m.PoolFunc(func() (int, int, int) { return 2, 2, 0 })
	if v, _ := value(gather(t, m), "osohost_pool_size"); v != 2 {
		t.Errorf("after replacing the function, osohost_pool_size = %v, want 2", v)
	}
	m.PoolFunc(nil)
	if _, ok := gather(t, m)["osohost_pool_size"]; ok {
		t.Error("osohost_pool_size still exported after PoolFunc(nil)")
	}
}

func TestMetrics_Signatures(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Options{})
	m.Signatures(metrics.BackendSoftware, 100, nil)
	m.Signatures(metrics.BackendGREP11, 3, errors.New("hsm down"))
	m.Signatures(metrics.BackendGREP11, 0, errors.New("hsm down"))
	m.Signatures("pkcs11", 1, nil)
	m.Signatures(metrics.BackendSoftware, 0, nil)

	fams := gather(t, m)
	for _, c := range []struct {
		backend, result string
		want            float64
	}{
		{"software", "ok", 100}, {"grep11", "error", 4}, {"other", "ok", 1},
	} {
		if v, _ := value(fams, "osohost_signatures_total", "backend", c.backend, "result", c.result); v != c.want {
			t.Errorf("signatures{backend=%q,result=%q} = %v, want %v", c.backend, c.result, v, c.want)
		}
	}
}

func TestMetrics_BuildInfo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		opts          metrics.Options
		version, mode string
	}{
		{"set", metrics.Options{Version: "v1.2.3", Mode: "backend"}, "v1.2.3", "backend"},
		{"empty", metrics.Options{}, "unknown", "other"},
		{"garbage", metrics.Options{Version: "v1 {evil=\"x\"}", Mode: "sideways"}, "unknown", "other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := metrics.New(tt.opts)
			if v, ok := value(gather(t, m), "osohost_build_info", "mode", tt.mode, "version", tt.version); !ok || v != 1 {
				t.Errorf("osohost_build_info{mode=%q,version=%q} = %v (present %v), want 1", tt.mode, tt.version, v, ok)
			}
		})
	}
}

// TestMetrics_BoundedLabels feeds every method names no caller should use
// and checks that the series stay within the closed sets.
func TestMetrics_BoundedLabels(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Options{})
	for i := range 2000 {
		junk := fmt.Sprintf("/api/x/%d?trace=%x", i, i*7919)
		m.ObserveRequest(junk, junk, 1000+i, time.Duration(i))
		m.ObserveGuestCall(junk, time.Duration(i), fmt.Errorf("error %d", i))
		m.HostCall(junk, int32(-100-i))
		m.Reload(i%2 == 0, junk, time.Duration(i))
		m.Signatures(junk, 1, nil)
		m.SetPlugin(fmt.Sprintf("%064x", i), time.Unix(int64(i), 0))
	}
	fams := gather(t, m)
	limits := map[string]int{
		"osohost_http_requests_total":           1,
		"osohost_http_request_duration_seconds": 1,
		"osohost_guest_calls_total":             21 + 1, // the zero series, plus other/other
		"osohost_guest_call_duration_seconds":   1,
		"osohost_host_calls_total":              1,
		"osohost_plugin_reloads_total":          8 + 2,
		"osohost_signatures_total":              1,
		"osohost_plugin_info":                   1,
	}
	for name, limit := range limits {
		if n := len(fams[name].GetMetric()); n > limit {
			t.Errorf("%s has %d series after junk input, want at most %d", name, n, limit)
		}
	}
	for _, name := range []string{"osohost_http_requests_total", "osohost_host_calls_total", "osohost_signatures_total"} {
		for _, m := range fams[name].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() != metrics.Other && l.GetName() != "result" {
					t.Errorf("%s: label %s=%q from junk input", name, l.GetName(), l.GetValue())
				}
			}
		}
	}
	all, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(all).Lint()
	if err != nil {
		t.Errorf("lint: %v", err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "osohost_") {
			t.Errorf("lint %s: %s", p.Metric, p.Text)
		}
	}
}

// TestMetrics_Concurrent runs every method from several goroutines (under
// -race) while the registry is scraped, then checks the totals.
func TestMetrics_Concurrent(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Options{})
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	const workers, each = 8, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				m.ObserveRequest(metrics.RouteStatus, http.MethodGet, 200, time.Microsecond)
				m.ObserveGuestCall(abi.ExportStatus, time.Microsecond, nil)
				m.HostCall(abi.ImportSign, 0)
				m.Signatures(metrics.BackendSoftware, 1, nil)
				m.PoolFunc(func() (int, int, int) { return w, i, 0 })
				m.SetPlugin(fmt.Sprintf("%064x", w), time.Unix(int64(i), 0))
			}
		})
	}
	wg.Go(func() {
		for range 5 {
			resp, err := http.Get(srv.URL)
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	wg.Wait()
	fams := gather(t, m)
	if v, _ := value(fams, "osohost_http_requests_total", "code", "200", "method", "GET", "route", "status"); v != workers*each {
		t.Errorf("requests = %v, want %d", v, workers*each)
	}
	if v, _ := value(fams, "osohost_guest_calls_total", "export", "status", "outcome", "ok"); v != workers*each {
		t.Errorf("guest calls = %v, want %d", v, workers*each)
	}
	if n := len(fams["osohost_plugin_info"].GetMetric()); n != 1 {
		t.Errorf("osohost_plugin_info has %d series, want 1", n)
	}
}

// TestMetrics_Handler scrapes the handler over a real connection and parses
// the text exposition.
func TestMetrics_Handler(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Options{Version: "v0.1.0", Mode: "frontend"})
	m.ObserveRequest(metrics.RouteStatus, http.MethodGet, 200, time.Millisecond)
	m.ObserveGuestCall(abi.ExportStatus, time.Millisecond, nil)
	m.PoolFunc(func() (int, int, int) { return 1, 0, 1 })
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()

	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse exposition: %v", err)
	}
	for _, name := range []string{
		"osohost_http_requests_total", "osohost_guest_calls_total", "osohost_pool_size",
		"osohost_build_info", "go_goroutines", "go_build_info",
	} {
		if _, ok := fams[name]; !ok {
			t.Errorf("%s missing from the exposition", name)
		}
	}
	if _, ok := fams["process_start_time_seconds"]; !ok && processMetrics() {
		t.Error("process_start_time_seconds missing from the exposition")
	}
	if v, _ := value(fams, "osohost_http_requests_total", "code", "200", "method", "GET", "route", "status"); v != 1 {
		t.Errorf("osohost_http_requests_total{route=status} = %v, want 1", v)
	}
}

func TestMetrics_Nil(t *testing.T) {
	t.Parallel()
	var m *metrics.Metrics
	m.ObserveRequest(metrics.RouteStatus, http.MethodGet, 200, time.Second)
	m.ObserveGuestCall(abi.ExportStatus, time.Second, nil)
	m.HostCall(abi.ImportSign, 0)
	m.Reload(true, metrics.TriggerAdmin, time.Second)
	m.SetPlugin(strings.Repeat("a", 64), time.Now())
	m.PoolFunc(func() (int, int, int) { return 1, 1, 1 })
	m.Signatures(metrics.BackendSoftware, 1, nil)
	if m.Registerer() == nil || m.Gatherer() == nil {
		t.Error("nil *Metrics returned a nil registry")
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("nil *Metrics handler answered %d, want 404", rec.Code)
	}
}

// processMetrics reports whether the process collector has data here.
func processMetrics() bool { return runtime.GOOS == "linux" }
