// Package metrics exposes scimdesk's Prometheus metrics: SCIM requests counted and timed
// as the server answers them (Metrics is the server's scimserver.RequestObserver), and the
// state of the database (users, groups, tokens, setup codes, the writer, file sizes) read
// when Prometheus scrapes. Everything lives in a registry of its own, served on a listener
// of its own (see Listen), never on the SCIM port.
package metrics

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"scimdesk/db"
	"scimdesk/scimserver"
)

// Metrics is scimdesk's set of metrics over one database.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	cells    [len(resources)][len(methods)]cell
	handler  http.Handler
	db       *dbCollector
}

var _ scimserver.RequestObserver = (*Metrics)(nil)

// Options tune how the database is read at scrape time; the zero value is the default.
type Options struct {
	// CacheFor is how long database counts are reused between scrapes (default 5s), so
	// that several Prometheus servers, or a scrape storm, cost one set of queries. On a
	// large database they are reused longer, so that counting stays cheap (see
	// defaultCostFactor).
	CacheFor time.Duration
	// Timeout bounds the queries of one scrape (default 5s); past it the counts are left
	// out of the scrape and scimdesk_db_stats_ok is 0.
	Timeout time.Duration
}

// New makes the metrics of store. Set it as scimserver.Config.Observer to count requests,
// and serve Handler (or Listen) for Prometheus.
func New(store *db.DB, opts Options) *Metrics {
	if opts.CacheFor <= 0 {
		opts.CacheFor = 5 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "scimdesk_http_requests_total",
		Help: "Requests answered by the SCIM server, by resource (" + strings.Join(scimserver.Resources, ", ") + "), method and status code.",
	}, []string{"resource", "method", "code"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "scimdesk_http_request_duration_seconds",
		Help:    "Time from a request's arrival at the handler to its answer, by resource and method.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"resource", "method"})
	m.db = newDBCollector(store, opts)
	m.reg.MustRegister(m.requests, m.latency, m.db,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		// A failing collector must not hide the rest: the scrape still answers, and
		// scimdesk_db_stats_ok says what is missing.
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	})
	return m
}

// Registry is the registry holding every metric, for tests and for adding more.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in Prometheus' text format (or what the scraper negotiates).
func (m *Metrics) Handler() http.Handler { return m.handler }

// ObserveRequest counts and times one answered request. Values outside the fixed sets
// are folded into "other", so that the number of series stays bounded whoever calls it.
func (m *Metrics) ObserveRequest(resource, method string, status int, elapsed time.Duration) {
	if status < 100 || status >= len(statusLabels) {
		status = 0 // "other"
	}
	count, latency := m.cells[resourceIndex(resource)][methodIndex(method)].series(m, resource, method, status)
	count.Inc()
	latency.Observe(elapsed.Seconds())
}

// resources and methods are the values of the resource and method labels.
var (
	resources = [...]string{scimserver.ResourceUsers, scimserver.ResourceGroups, scimserver.ResourceSearch,
		scimserver.ResourceDiscovery, scimserver.ResourceSetup, scimserver.ResourceOther}
	methods = [...]string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, scimserver.MethodOther}
)

func resourceIndex(r string) int {
	for i, known := range resources[:len(resources)-1] {
		if r == known {
			return i
		}
	}
	return len(resources) - 1
}

func methodIndex(m string) int {
	for i, known := range methods[:len(methods)-1] {
		if m == known {
			return i
		}
	}
	return len(methods) - 1
}

// cell holds the series of one resource and method once they are made: finding a series
// by its label values hashes them, which costs ten times what counting does, on every
// request. Lookups take no lock; the first request with a new status makes a new table.
type cell struct {
	mu    sync.Mutex
	table atomic.Pointer[cellTable]
}

// cellTable is never changed once published.
type cellTable struct {
	latency prometheus.Observer
	codes   []codeCounter // a handful: the statuses this resource and method have answered
}

type codeCounter struct {
	status int
	count  prometheus.Counter
}

func (c *cell) series(m *Metrics, resource, method string, status int) (prometheus.Counter, prometheus.Observer) {
	if t := c.table.Load(); t != nil {
		for _, cc := range t.codes {
			if cc.status == status {
				return cc.count, t.latency
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.table.Load()
	t := &cellTable{}
	if old != nil {
		for _, cc := range old.codes {
			if cc.status == status {
				return cc.count, old.latency
			}
		}
		t.latency, t.codes = old.latency, append(t.codes, old.codes...)
	} else {
		t.latency = m.latency.WithLabelValues(resources[resourceIndex(resource)], methods[methodIndex(method)])
	}
	cc := codeCounter{status: status, count: m.requests.WithLabelValues(resources[resourceIndex(resource)],
		methods[methodIndex(method)], statusLabel(status))}
	t.codes = append(t.codes, cc)
	c.table.Store(t)
	return cc.count, t.latency
}

// statusLabels are the code label's values, made once so that counting allocates nothing.
var statusLabels = func() (s [600]string) {
	for i := 100; i < len(s); i++ {
		s[i] = strconv.Itoa(i)
	}
	return s
}()

func statusLabel(status int) string {
	if status < 100 || status >= len(statusLabels) {
		return "other"
	}
	return statusLabels[status]
}
