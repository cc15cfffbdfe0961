// Package api is the operators' HTTP surface: health, Prometheus metrics
// and the REST API under /api/v1.
package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/stream"
)

// API serves /healthz, /metrics and /api/v1.
type API struct {
	Registry *registry.Registry
	Totals   *stream.Totals
	Metrics  *prometheus.Registry
}

// Routes mounts the API's endpoints on r.
func (a *API) Routes(r chi.Router) {
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	r.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(a.Metrics, promhttp.HandlerOpts{}))
	r.Route("/api/v1", func(r chi.Router) {
		r.Get("/streams", a.listStreams)
		r.Delete("/streams/{app}/{stream}", a.kickStream)
	})
}

type publisherJSON struct {
	Remote    string    `json:"remote"`
	Encoder   string    `json:"encoder,omitempty"`
	StartedAt time.Time `json:"started_at"`
}

type streamJSON struct {
	App           string        `json:"app"`
	Name          string        `json:"name"`
	ID            uint64        `json:"id"`
	Players       int           `json:"players"`
	BytesIn       uint64        `json:"bytes_in"`
	DroppedFrames uint64        `json:"dropped_frames"`
	UptimeSeconds float64       `json:"uptime_seconds"`
	Publisher     publisherJSON `json:"publisher"`
}

func (a *API) listStreams(w http.ResponseWriter, _ *http.Request) {
	infos := a.Registry.Streams()
	out := struct {
		Streams []streamJSON `json:"streams"`
	}{Streams: make([]streamJSON, 0, len(infos))}
	now := time.Now()
	for _, s := range infos {
		out.Streams = append(out.Streams, streamJSON{
			App: s.Key.App, Name: s.Key.Name, ID: s.ID, Players: s.Players,
			BytesIn: s.BytesIn, DroppedFrames: s.Dropped,
			UptimeSeconds: now.Sub(s.Started).Seconds(),
			Publisher:     publisherJSON{Remote: s.Publisher.Remote, Encoder: s.Publisher.Encoder, StartedAt: s.Started},
		})
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) kickStream(w http.ResponseWriter, r *http.Request) {
	key, err := registry.NewKey(chi.URLParam(r, "app"), chi.URLParam(r, "stream"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := a.Registry.Kick(key); errors.Is(err, registry.ErrNotFound) {
		writeError(w, http.StatusNotFound, "stream not found")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// NewMetrics returns a Prometheus registry with the Go runtime and process
// collectors and headwater's gauges and counters, read at scrape time so the
// hot path only touches atomics.
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
		gauge("headwater_streams", "Live streams (with a publisher).", func(s registry.Stats) int { return s.Streams }),
		gauge("headwater_publishers", "Connected publishers.", func(s registry.Stats) int { return s.Publishers }),
		gauge("headwater_players", "Connected HTTP-FLV players.", func(s registry.Stats) int { return s.Players }),
		counter("headwater_bytes_in_total", "Media bytes received from publishers.", totals.BytesIn.Load),
		counter("headwater_bytes_out_total", "Bytes written to players.", totals.BytesOut.Load),
		counter("headwater_dropped_frames_total", "Frames dropped for slow players.", totals.FramesDropped.Load),
	)
	m.MustRegister(extra...)
	return m
}

// LimitRefusalsMetric is the counter of refusals for a configured limit,
// labelled limit="..." (http_conns, streams, ...).
const LimitRefusalsMetric = "headwater_limit_refusals_total"

// NewLimitRefusals returns a collector of LimitRefusalsMetric with one
// series per key of counts, read at scrape time (the counters themselves
// are atomics where the limits are enforced).
func NewLimitRefusals(counts map[string]func() uint64) prometheus.Collector {
	c := &limitRefusals{
		desc: prometheus.NewDesc(LimitRefusalsMetric,
			"Connections, publishers and players refused (or, for publish_bitrate, disconnected) because a configured limit was reached.",
			[]string{"limit"}, nil),
		counts: counts,
	}
	for l := range counts {
		c.limits = append(c.limits, l)
	}
	sort.Strings(c.limits)
	return c
}

// limitRefusals is the collector behind NewLimitRefusals; immutable.
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
