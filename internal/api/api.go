// Package api is the operators' HTTP surface: health, Prometheus metrics
// and the REST API under /api/v1.
package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/relay"
	"github.com/headwater-media/headwater/internal/stream"
)

// API serves /healthz, /metrics and /api/v1.
type API struct {
	Registry *registry.Registry
	Totals   *stream.Totals
	Metrics  *prometheus.Registry
	// Token, when set, is the bearer token /api/v1 requires
	// ("Authorization: Bearer TOKEN"); /healthz and /metrics are open.
	Token string
	// Server describes the process for GET /api/v1/server.
	Server ServerInfo
	// Events serves GET /api/v1/events (not behind Token); nil: 404.
	Events *Events
	// Cluster describes the cluster directory for GET /api/v1/cluster
	// (its JSON); nil: {"enabled": false}.
	Cluster func(ctx context.Context) any
	// HLS reports a stream's HLS muxer for the stream's "hls" field; nil:
	// no HLS.
	HLS HLSMuxers
	// Pushes are the streams' push relays (internal/relay's Manager);
	// nil: no pushes endpoints and no "pushes" in a stream.
	Pushes Pushes
	// Recorder starts, stops and lists recordings; nil: the recording
	// endpoints answer 404.
	Recorder Recorder

	// token and limits, once set by SetToken and SetLimits (SIGHUP),
	// replace Token and Server.Limits; nil until then.
	token  atomic.Pointer[tokenState]
	limits atomic.Pointer[Limits]
}

// HLSMuxers is what the API reads of the HLS muxers.
type HLSMuxers interface {
	// Muxer returns the figures of key's muxer, ok false if it has none.
	Muxer(key registry.Key) (requests uint64, sessions int, ended, ok bool)
}

// HLSInfo is one stream's HLS muxer, as the API shows it.
type HLSInfo struct {
	// Requests counts the HLS requests it has served.
	Requests uint64 `json:"requests"`
	// Sessions counts the distinct clients (address and user agent) that
	// asked within hls.idle_timeout.
	Sessions int `json:"sessions"`
	// Ended: the stream ended; the playlists end with #EXT-X-ENDLIST.
	Ended bool `json:"ended"`
}

// tokenState is a bearer token and its hash; the zero value is no token.
type tokenState struct {
	set  bool
	hash [32]byte
}

func newTokenState(token string) *tokenState {
	if token == "" {
		return &tokenState{}
	}
	return &tokenState{set: true, hash: sha256.Sum256([]byte(token))}
}

// SetToken replaces the bearer token for the requests that follow; ""
// opens the API.
func (a *API) SetToken(token string) { a.token.Store(newTokenState(token)) }

// SetLimits replaces the limits GET /api/v1/server reports.
func (a *API) SetLimits(l Limits) { a.limits.Store(&l) }

func (a *API) currentLimits() Limits {
	if l := a.limits.Load(); l != nil {
		return *l
	}
	return a.Server.Limits
}

// Pushes lists, starts and stops the push relays of live streams.
type Pushes interface {
	// Pushes lists the pushes of key.
	Pushes(key registry.Key) []relay.Status
	// Start pushes key to url (a template); see relay.Manager.Start.
	Start(key registry.Key, url string) (relay.Status, error)
	// Stop ends the push of key with id, or (id 0) to url.
	Stop(key registry.Key, id uint64, url string) error
}

// ServerInfo is what GET /api/v1/server reports besides live counts.
type ServerInfo struct {
	Version string
	Started time.Time
	// ID is the node id; Origins the edge's origins (none: an origin).
	ID      string
	Origins []string
	// Edge: the server pulls streams (edge.origins or edge.directory).
	Edge   bool
	Limits Limits
	// Refusals counts the refusals per limit (as in
	// headwater_limit_refusals_total); nil reports none.
	Refusals map[string]func() uint64
}

// Limits are the configured limits, as GET /api/v1/server reports them;
// 0 is unlimited (or off).
type Limits struct {
	MaxStreams          int   `json:"max_streams"`
	MaxPlayersPerStream int   `json:"max_players_per_stream"`
	MaxConnsPerIP       int   `json:"max_conns_per_ip"`
	MaxPublishBitrate   int64 `json:"max_publish_bitrate"`
	RTMPMaxConns        int   `json:"rtmp_max_conns"`
	HTTPMaxConns        int   `json:"http_max_conns"`
}

// Routes mounts the API's endpoints on r.
func (a *API) Routes(r chi.Router) {
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	r.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(a.Metrics, promhttp.HandlerOpts{}))
	if a.Events != nil {
		// Public like /metrics (what it says is what /metrics says), and
		// an EventSource cannot send an Authorization header anyway.
		r.Method(http.MethodGet, "/api/v1/events", a.Events)
	}
	r.Route("/api/v1", func(r chi.Router) {
		// The token check runs first, for unknown paths too: without the
		// token nothing about the API's shape is revealed.
		r.Use(a.auth)
		r.NotFound(func(w http.ResponseWriter, _ *http.Request) {
			writeError(w, http.StatusNotFound, "no such endpoint")
		})
		r.MethodNotAllowed(func(w http.ResponseWriter, _ *http.Request) {
			writeError(w, http.StatusMethodNotAllowed, "method not allowed")
		})
		r.Get("/server", a.getServer)
		r.Get("/cluster", a.getCluster)
		r.Get("/streams", a.listStreams)
		r.Get("/streams/{app}/{stream}", a.getStream)
		r.Delete("/streams/{app}/{stream}", a.kickStream)
		r.Get("/streams/{app}/{stream}/players", a.listStreamPlayers)
		if a.Pushes != nil {
			r.Get("/streams/{app}/{stream}/pushes", a.listPushes)
			r.Post("/streams/{app}/{stream}/pushes", a.startPush)
			r.Delete("/streams/{app}/{stream}/pushes", a.stopPush)
			r.Delete("/streams/{app}/{stream}/pushes/{id}", a.stopPush)
		}
		r.Post("/streams/{app}/{stream}/record", a.startRecord)
		r.Delete("/streams/{app}/{stream}/record", a.stopRecord)
		r.Get("/recordings", a.listRecordings)
		r.Get("/players", a.listPlayers)
		r.Get("/players/{id}", a.getPlayer)
		r.Delete("/players/{id}", a.kickPlayer)
	})
}

// auth answers 401 unless the request carries the configured bearer
// token. The comparison takes the same time whatever the token sent.
// The token is read per request, so SetToken takes effect at once.
func (a *API) auth(next http.Handler) http.Handler {
	a.token.CompareAndSwap(nil, newTokenState(a.Token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := a.token.Load()
		if !st.set {
			next.ServeHTTP(w, r)
			return
		}
		want := st.hash
		scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		got := sha256.Sum256([]byte(strings.TrimSpace(token)))
		if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="headwater"`)
			writeError(w, http.StatusUnauthorized, "missing or invalid bearer token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// NewMetrics returns a Prometheus registry with the Go runtime and process
// collectors, headwater's gauges and counters and the per-stream series
// (NewStreamCollector), read at scrape time so the hot path only touches
// atomics, and extra (the limit refusals, Histograms).
func NewMetrics(reg *registry.Registry, totals *stream.Totals, extra ...prometheus.Collector) *prometheus.Registry {
	m := prometheus.NewRegistry()
	m.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	gauge := func(name, help string, f func(registry.Stats) int) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
			func() float64 { return float64(f(reg.Stats())) })
	}
	counter := func(name, help string, f func() uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(f()) })
	}
	m.MustRegister(
		gauge("headwater_streams", "Live streams (with a publisher, or waiting in their grace).", func(s registry.Stats) int { return s.Streams }),
		gauge("headwater_publishers", "Connected publishers.", func(s registry.Stats) int { return s.Publishers }),
		gauge("headwater_players", "Connected HTTP-FLV players.", func(s registry.Stats) int { return s.Players }),
		counter("headwater_bytes_in_total", "Media bytes received from publishers.", totals.BytesIn.Load),
		counter("headwater_bytes_out_total", "Bytes written to players.", totals.BytesOut.Load),
		counter("headwater_dropped_frames_total", "Frames dropped for slow players.", totals.FramesDropped.Load),
		counter(TimestampRepairsMetric, "Frames whose timestamps were repaired: a step back, a jump beyond stream.max_ts_jump, a wrap.", totals.TimestampRepairs.Load),
		NewStreamCollector(reg),
		graceCounter(reg),
	)
	m.MustRegister(extra...)
	return m
}

// graceCounter counts the graces of dropped publishers (publish.grace)
// by how they ended.
func graceCounter(reg *registry.Registry) prometheus.Collector {
	counts := map[string]func() uint64{}
	for _, end := range []registry.GraceEnd{registry.GraceResumed, registry.GraceExpired, registry.GraceKicked, registry.GraceShutdown} {
		counts[end.String()] = func() uint64 { return reg.Graces()[end] }
	}
	return NewLabelledCounter("headwater_grace_total",
		"Streams whose publisher dropped and that waited in their grace (publish.grace), by how the grace ended: resumed, expired, kicked, shutdown.",
		"result", counts)
}

// TimestampRepairsMetric counts repaired frame timestamps server-wide.
const TimestampRepairsMetric = "headwater_timestamp_repairs_total"

// LimitRefusalsMetric is the counter of refusals for a configured limit,
// labelled limit="..." (http_conns, streams, ...).
const LimitRefusalsMetric = "headwater_limit_refusals_total"

// NewLimitRefusals returns a collector of LimitRefusalsMetric with one
// series per key of counts, read at scrape time (the counters themselves
// are atomics where the limits are enforced).
func NewLimitRefusals(counts map[string]func() uint64) prometheus.Collector {
	return NewLabelledCounter(LimitRefusalsMetric,
		"Connections, publishers and players refused (or, for publish_bitrate, disconnected) because a configured limit was reached.",
		"limit", counts)
}

// NewLabelledCounter returns a counter collector with one series per key
// of counts, the key as the value of label, read at scrape time.
func NewLabelledCounter(name, help, label string, counts map[string]func() uint64) prometheus.Collector {
	c := &limitRefusals{
		desc:   prometheus.NewDesc(name, help, []string{label}, nil),
		counts: counts,
	}
	for l := range counts {
		c.limits = append(c.limits, l)
	}
	sort.Strings(c.limits)
	return c
}

// limitRefusals is the collector behind NewLabelledCounter; immutable.
type limitRefusals struct {
	desc   *prometheus.Desc
	limits []string
	counts map[string]func() uint64
}

func (c *limitRefusals) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *limitRefusals) Collect(ch chan<- prometheus.Metric) {
	for _, l := range c.limits {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(c.counts[l]()), l)
	}
}

// NewPairCounter exports counts, read at each scrape, as one counter
// with two labels: each key of counts is "value1/value2".
func NewPairCounter(name, help, label1, label2 string, counts func() map[string]uint64) prometheus.Collector {
	return &pairCounter{desc: prometheus.NewDesc(name, help, []string{label1, label2}, nil), counts: counts}
}

// pairCounter is the collector behind NewPairCounter; immutable.
type pairCounter struct {
	desc   *prometheus.Desc
	counts func() map[string]uint64
}

func (c *pairCounter) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *pairCounter) Collect(ch chan<- prometheus.Metric) {
	for k, n := range c.counts() {
		a, b, _ := strings.Cut(k, "/")
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(n), a, b)
	}
}

// NewHLSMetrics exports the HLS muxers: headwater_hls_muxers (running,
// ended ones still serving their last playlists included) and
// headwater_hls_requests_total by stream (a stream's series goes with its
// muxer). muxers is read at each scrape.
func NewHLSMetrics(muxers func() (running int, requests map[registry.Key]uint64)) prometheus.Collector {
	return &hlsMetrics{
		muxers: muxers,
		running: prometheus.NewDesc("headwater_hls_muxers",
			"HLS muxers running: one per stream with an HLS request within hls.idle_timeout (or every live stream with hls.always_remux).", nil, nil),
		requests: prometheus.NewDesc("headwater_hls_requests_total",
			"HLS requests (playlists, segments, parts) served by the stream's current muxer.", []string{"app", "stream"}, nil),
	}
}

// hlsMetrics is NewHLSMetrics' collector; immutable.
type hlsMetrics struct {
	muxers            func() (int, map[registry.Key]uint64)
	running, requests *prometheus.Desc
}

func (c *hlsMetrics) Describe(ch chan<- *prometheus.Desc) { ch <- c.running; ch <- c.requests }

func (c *hlsMetrics) Collect(ch chan<- prometheus.Metric) {
	n, requests := c.muxers()
	ch <- prometheus.MustNewConstMetric(c.running, prometheus.GaugeValue, float64(n))
	for k, v := range requests {
		ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(v), k.App, k.Name)
	}
}
