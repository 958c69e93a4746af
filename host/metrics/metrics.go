// Package metrics holds the Prometheus metrics of one osohost server: a
// registry of its own (never the process-wide default), the Go runtime and
// process collectors, and the few methods the rest of the host calls to
// count requests, guest calls, host calls, reloads and signatures.
//
// It sits beside the request path rather than on it: host/api reports each
// request, the plugin pool each guest call (through its OnCall hook), the
// host functions each host call, the reload manager each reload, and the
// signing path each batch of signatures; host/admin serves [Metrics.Handler]
// on GET /metrics.
//
// # Bounded labels
//
// Every label value comes from a closed set written down in this package.
// A value outside its set (an unknown route, export, host function,
// backend or status) is counted as "other", so no caller and no client can
// make the number of series grow. Nothing taken from a request, and no
// secret, fingerprint, path or trace id, is ever a label; the one digest
// exposed, the current plugin's SHA-256 in osohost_plugin_info, has a
// single series at a time.
//
// docs/operations.md lists every metric with its labels and meaning.
package metrics

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/osohost/osohost/abi"
	"github.com/osohost/osohost/host/plugin"
)

// Options configure [New]. The zero value is valid.
type Options struct {
	// Version is the osohost version, exposed as the version label of
	// osohost_build_info; empty means "unknown". Values longer than 64
	// bytes or with characters outside [0-9A-Za-z.+_-] become "unknown".
	Version string
	// Mode is the component mode, "frontend" or "backend", exposed as the
	// mode label of osohost_build_info; anything else becomes "other".
	Mode string
	// MaxScrapes bounds the /metrics requests served at once; more get 503.
	// Default 4.
	MaxScrapes int
	// ScrapeTimeout bounds one /metrics request; default 10s.
	ScrapeTimeout time.Duration
}

// Metrics are the metrics of one server. Create it with [New]. Every method
// is safe for concurrent use, does no I/O and allocates little, and every
// method is a no-op on a nil *Metrics, so callers may hold a nil one when
// metrics are off.
type Metrics struct {
	reg *prometheus.Registry
	opt Options

	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	guestCalls      *prometheus.CounterVec
	guestDuration   *prometheus.HistogramVec
	guestTraps      prometheus.Counter
	hostCalls       *prometheus.CounterVec
	reloads         *prometheus.CounterVec
	reloadDuration  prometheus.Histogram
	pluginInfo      *prometheus.GaugeVec
	pluginLoaded    prometheus.Gauge
	signatures      *prometheus.CounterVec

	mu         sync.Mutex // serialises SetPlugin
	pluginHash string     // label of the one osohost_plugin_info series; guarded by mu

	pool atomic.Pointer[poolFunc]
}

type poolFunc func() (size, inUse, idle int)

// Label values of the closed sets. Callers may use these constants; any
// other value is counted as [Other].
const (
	// Other stands for every value outside a label's closed set.
	Other = "other"

	// Routes of osohost_http_requests_total and
	// osohost_http_request_duration_seconds.
	RouteStatus    = "status"    // GET /api/<mode>/v1alpha1/status
	RouteDocuments = "documents" // GET and POST /api/<mode>/v1alpha1/documents
	RouteISV       = "isv"       // the plugin's own /api/<rule> routes
	RouteInternal  = "internal"  // the plugin's /internal/<rule> routes

	// Outcomes of osohost_guest_calls_total.
	OutcomeOK          = "ok"           // the export returned normally
	OutcomeGuestError  = "guest_error"  // the guest reported an error (plugin.GuestError)
	OutcomeTrap        = "trap"         // the guest trapped or exited (plugin.TrapError)
	OutcomeTimeout     = "timeout"      // the call deadline passed (plugin.ErrCallTimeout)
	OutcomeOutputError = "output_error" // the host refused the guest's output (plugin.OutputError)
	OutcomeLimit       = "limit"        // an input over a limit (plugin.LimitError)
	OutcomeBusy        = "busy"         // no free instance in time (plugin.ErrBusy)
	OutcomeCanceled    = "canceled"     // the caller went away (context.Canceled)

	// Triggers of osohost_plugin_reloads_total.
	TriggerAdmin  = "admin"  // POST /reload on the admin listener
	TriggerWatch  = "file"   // the plugin file changed on disk
	TriggerStart  = "start"  // the first load
	TriggerSignal = "signal" // SIGHUP

	// Signing backends of osohost_signatures_total.
	BackendSoftware = "software"
	BackendGREP11   = "grep11"
)

var (
	routes   = set(RouteStatus, RouteDocuments, RouteISV, RouteInternal)
	methods  = set(http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace)
	exports  = set(abi.ExportToOSO, abi.ExportToISV, abi.ExportStatus, abi.ExportInit, abi.ExportHandleHTTP)
	triggers = set(TriggerAdmin, TriggerWatch, TriggerSignal, TriggerStart)
	backends = set(BackendSoftware, BackendGREP11)
	modes    = set("frontend", "backend")

	// statusNames names the negative abi.Status values; see [Metrics.HostCall].
	statusNames = map[int32]string{
		int32(abi.StatusBadPointer):  "bad_pointer",
		int32(abi.StatusTooLarge):    "too_large",
		int32(abi.StatusBadArgument): "bad_argument",
		int32(abi.StatusNotAllowed):  "not_allowed",
		int32(abi.StatusLimited):     "limited",
		int32(abi.StatusUnavailable): "unavailable",
		int32(abi.StatusNotFound):    "not_found",
		int32(abi.StatusTooSmall):    "too_small",
	}
)

func set(v ...string) map[string]bool {
	m := make(map[string]bool, len(v))
	for _, s := range v {
		m[s] = true
	}
	return m
}

// bounded returns v when it is in the set, else [Other].
func bounded(s map[string]bool, v string) string {
	if s[v] {
		return v
	}
	return Other
}

// Histogram buckets, in seconds.
var (
	// requestBuckets spans a fast status call to the 60s default deadline.
	requestBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
	// guestBuckets starts lower: a bare export call costs well under a
	// microsecond, a 100-document batch a few milliseconds.
	guestBuckets = []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
	// reloadBuckets covers a cached recompile to a cold compile of a large module.
	reloadBuckets = []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
)

// New returns the metrics of one server on a new registry holding the Go
// runtime, process and build-info collectors.
func New(opts Options) *Metrics {
	if opts.MaxScrapes <= 0 {
		opts.MaxScrapes = 4
	}
	if opts.ScrapeTimeout <= 0 {
		opts.ScrapeTimeout = 10 * time.Second
	}
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		opt: opts,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "osohost_http_requests_total",
			Help: "HTTP requests answered on the API listener, by route, method and status code.",
		}, []string{"route", "method", "code"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "osohost_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request on the API listener, by route.",
			Buckets: requestBuckets,
		}, []string{"route"}),
		guestCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "osohost_guest_calls_total",
			Help: "Plugin export calls, by export and outcome.",
		}, []string{"export", "outcome"}),
		guestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "osohost_guest_call_duration_seconds",
			Help:    "Time the guest took in plugin export calls, by export.",
			Buckets: guestBuckets,
		}, []string{"export"}),
		guestTraps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "osohost_guest_traps_total",
			Help: "Plugin export calls that ended in a trap or exit; the instance was discarded.",
		}),
		hostCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "osohost_host_calls_total",
			Help: "Host function calls made by plugins, by function and result (ok or the ABI status name).",
		}, []string{"function", "result"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "osohost_plugin_reloads_total",
			Help: "Plugin reloads, by result (ok or error) and trigger.",
		}, []string{"result", "trigger"}),
		reloadDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "osohost_plugin_reload_duration_seconds",
			Help:    "Time to build and swap in a new plugin generation, failed attempts included.",
			Buckets: reloadBuckets,
		}),
		pluginInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "osohost_plugin_info",
			Help: "Always 1; the sha256 label is the SHA-256 of the plugin module now serving.",
		}, []string{"sha256"}),
		pluginLoaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "osohost_plugin_loaded_timestamp_seconds",
			Help: "Unix time at which the plugin module now serving was loaded.",
		}),
		signatures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "osohost_signatures_total",
			Help: "Signatures requested from the signing backend, by backend and result (ok or error).",
		}, []string{"backend", "result"}),
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "osohost_build_info",
		Help: "Always 1; labels name the osohost version and the component mode.",
	}, []string{"version", "mode"})
	build.WithLabelValues(versionLabel(opts.Version), bounded(modes, opts.Mode)).Set(1)

	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
		build,
		m.requests, m.requestDuration,
		m.guestCalls, m.guestDuration, m.guestTraps,
		m.hostCalls,
		m.reloads, m.reloadDuration, m.pluginInfo, m.pluginLoaded,
		m.signatures,
		poolCollector{m},
	)
	// Series that alerts compute rates of exist from the start, at zero.
	for _, e := range []string{abi.ExportToOSO, abi.ExportToISV, abi.ExportStatus} {
		for _, o := range []string{OutcomeOK, OutcomeGuestError, OutcomeTrap, OutcomeTimeout, OutcomeOutputError, OutcomeLimit, OutcomeBusy} {
			m.guestCalls.WithLabelValues(e, o)
		}
	}
	for _, t := range []string{TriggerAdmin, TriggerWatch, TriggerSignal, TriggerStart} {
		m.reloads.WithLabelValues("ok", t)
		m.reloads.WithLabelValues("error", t)
	}
	return m
}

// versionLabel bounds the version label to one short token.
func versionLabel(v string) string {
	if v == "" || len(v) > 64 {
		return "unknown"
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '.' || c == '+' || c == '_' || c == '-') {
			return "unknown"
		}
	}
	return v
}

// Registerer returns the registry's Registerer, for packages that define
// metrics of their own. On a nil *Metrics it returns a new registry that
// nothing exposes, so callers need no check.
func (m *Metrics) Registerer() prometheus.Registerer {
	if m == nil {
		return prometheus.NewRegistry()
	}
	return m.reg
}

// Gatherer returns the registry's Gatherer. On a nil *Metrics it returns
// an empty registry.
func (m *Metrics) Gatherer() prometheus.Gatherer {
	if m == nil {
		return prometheus.NewRegistry()
	}
	return m.reg
}

// Handler serves the registry in the Prometheus exposition formats. At most
// Options.MaxScrapes requests are served at once (more get 503), each
// within Options.ScrapeTimeout; a collector that fails leaves its metrics
// out rather than failing the scrape, and failures are counted in
// promhttp_metric_handler_errors_total. On a nil *Metrics it answers 404.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		Registry:            m.reg,
		MaxRequestsInFlight: m.opt.MaxScrapes,
		Timeout:             m.opt.ScrapeTimeout,
	})
}

// ObserveRequest records one answered request on the API listener: route
// is one of RouteStatus, RouteDocuments, RouteISV or RouteInternal (any
// other name, such as an unknown path's, counts as [Other]), method the
// request method (non-standard methods count as [Other]), code the status
// written (outside 100..599 counts as [Other]) and d the time to answer.
func (m *Metrics) ObserveRequest(route, method string, code int, d time.Duration) {
	if m == nil {
		return
	}
	route = bounded(routes, route)
	c := Other
	if code >= 100 && code <= 599 {
		c = strconv.Itoa(code)
	}
	m.requests.WithLabelValues(route, bounded(methods, method), c).Inc()
	m.requestDuration.WithLabelValues(route).Observe(seconds(d))
}

// ObserveGuestCall records one export call of the plugin: the export (one
// of to_oso, to_isv, status, init, handle_http, else [Other]), the time the
// guest took and the call's error as [plugin.Pool.Call] returned it. Its
// signature is that of the pool's OnCall hook. The outcome is classified
// with errors.Is and errors.As: see [Outcome]. A trap also counts in
// osohost_guest_traps_total.
func (m *Metrics) ObserveGuestCall(export string, d time.Duration, err error) {
	if m == nil {
		return
	}
	export = bounded(exports, export)
	o := Outcome(err)
	m.guestCalls.WithLabelValues(export, o).Inc()
	m.guestDuration.WithLabelValues(export).Observe(seconds(d))
	if o == OutcomeTrap {
		m.guestTraps.Inc()
	}
}

// Outcome names the result of a guest call for osohost_guest_calls_total:
// [OutcomeOK] for a nil error; [OutcomeTimeout] for plugin.ErrCallTimeout or
// context.DeadlineExceeded; [OutcomeCanceled] for context.Canceled;
// [OutcomeBusy] for plugin.ErrBusy; [OutcomeTrap], [OutcomeGuestError],
// [OutcomeOutputError] and [OutcomeLimit] for a *plugin.TrapError,
// *plugin.GuestError, *plugin.OutputError and *plugin.LimitError; [Other]
// for anything else (a closed pool, an unknown export).
func Outcome(err error) string {
	var (
		guest  *plugin.GuestError
		trap   *plugin.TrapError
		outErr *plugin.OutputError
		limit  *plugin.LimitError
	)
	switch {
	case err == nil:
		return OutcomeOK
	case errors.Is(err, plugin.ErrCallTimeout), errors.Is(err, context.DeadlineExceeded):
		return OutcomeTimeout
	case errors.Is(err, context.Canceled):
		return OutcomeCanceled
	case errors.Is(err, plugin.ErrBusy):
		return OutcomeBusy
	case errors.As(err, &trap):
		return OutcomeTrap
	case errors.As(err, &guest):
		return OutcomeGuestError
	case errors.As(err, &outErr):
		return OutcomeOutputError
	case errors.As(err, &limit):
		return OutcomeLimit
	}
	return Other
}

// HostCall records one host function call made by a guest: name is the
// import name (one of abi.ImportSignatures, else [Other]) and status what
// the function returned to the guest. A status of zero or more counts as
// "ok"; a negative one by its abi.Status name in snake case (bad_pointer,
// too_large, bad_argument, not_allowed, limited, unavailable, not_found,
// too_small), any other negative value as [Other].
func (m *Metrics) HostCall(name string, status int32) {
	if m == nil {
		return
	}
	if _, ok := abi.ImportSignatures[name]; !ok {
		name = Other
	}
	result := "ok"
	if status < 0 {
		result = statusNames[status]
		if result == "" {
			result = Other
		}
	}
	m.hostCalls.WithLabelValues(name, result).Inc()
}

// Reload records one reload attempt: whether the new generation now serves,
// what triggered it (TriggerAdmin, TriggerWatch or TriggerSignal, else
// [Other]) and how long it took. Call [Metrics.SetPlugin] as well after a
// successful one.
func (m *Metrics) Reload(ok bool, trigger string, d time.Duration) {
	if m == nil {
		return
	}
	result := "ok"
	if !ok {
		result = "error"
	}
	m.reloads.WithLabelValues(result, bounded(triggers, trigger)).Inc()
	m.reloadDuration.Observe(seconds(d))
}

// SetPlugin records the plugin module now serving: its SHA-256 as
// lowercase hex (anything else is shown as "invalid") and when it was
// loaded. osohost_plugin_info keeps exactly one series: the previous
// module's is deleted.
func (m *Metrics) SetPlugin(sha256 string, loadedAt time.Time) {
	if m == nil {
		return
	}
	if !isSHA256(sha256) {
		sha256 = "invalid"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pluginHash != "" && m.pluginHash != sha256 {
		m.pluginInfo.DeleteLabelValues(m.pluginHash)
	}
	m.pluginHash = sha256
	m.pluginInfo.WithLabelValues(sha256).Set(1)
	m.pluginLoaded.Set(float64(loadedAt.UnixNano()) / 1e9)
}

func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// PoolFunc sets the function that reports the current instance pool at
// each scrape: its size, and how many instances are in use and idle. It is
// called on the scraping goroutine and must be cheap and safe for
// concurrent use. A later call replaces the function (after a reload, the
// new generation's pool); nil removes the pool metrics from the output.
func (m *Metrics) PoolFunc(f func() (size, inUse, idle int)) {
	if m == nil {
		return
	}
	if f == nil {
		m.pool.Store(nil)
		return
	}
	pf := poolFunc(f)
	m.pool.Store(&pf)
}

// Signatures records n signatures made by backend (BackendSoftware or
// BackendGREP11, else [Other]); a non-nil err counts them as failed. A
// failure with n ≤ 0 counts as one failed signature; a success with n ≤ 0
// counts nothing.
func (m *Metrics) Signatures(backend string, n int, err error) {
	if m == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = "error"
		n = max(n, 1)
	}
	if n <= 0 {
		return
	}
	m.signatures.WithLabelValues(bounded(backends, backend), result).Add(float64(n))
}

func seconds(d time.Duration) float64 {
	return max(d, 0).Seconds()
}

var (
	poolSizeDesc      = prometheus.NewDesc("osohost_pool_size", "Plugin instances the pool of the serving generation holds.", nil, nil)
	poolInstancesDesc = prometheus.NewDesc("osohost_pool_instances", "Plugin instances of the serving generation, by state (in_use or idle).", []string{"state"}, nil)
)

// poolCollector reports the pool through the function set by PoolFunc.
type poolCollector struct{ m *Metrics }

func (c poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- poolSizeDesc
	ch <- poolInstancesDesc
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.m.pool.Load()
	if f == nil {
		return
	}
	size, inUse, idle := (*f)()
	ch <- prometheus.MustNewConstMetric(poolSizeDesc, prometheus.GaugeValue, float64(size))
	ch <- prometheus.MustNewConstMetric(poolInstancesDesc, prometheus.GaugeValue, float64(inUse), "in_use")
	ch <- prometheus.MustNewConstMetric(poolInstancesDesc, prometheus.GaugeValue, float64(idle), "idle")
}
