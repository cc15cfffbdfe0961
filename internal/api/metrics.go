package api

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/headwater-media/headwater/internal/registry"
)

// Per-stream metric names. Each has the labels app and stream.
const (
	StreamPlayersMetric   = "headwater_stream_players"
	StreamBitrateMetric   = "headwater_stream_bitrate_in_bits_per_second"
	StreamBytesInMetric   = "headwater_stream_bytes_in_total"
	StreamBytesOutMetric  = "headwater_stream_bytes_out_total"
	StreamDroppedMetric   = "headwater_stream_dropped_frames_total"
	StreamRepairsMetric   = "headwater_stream_timestamp_repairs_total"
	TTFFMetric            = "headwater_player_time_to_first_frame_seconds"
	PublishDurationMetric = "headwater_publisher_session_duration_seconds"
)

// streamCollector exports one series per live stream and metric, read
// from the registry at scrape time. Nothing is kept between scrapes: a
// stream's series disappear with it, so the cardinality is the number of
// live streams (at most limits.max_streams) times six. Immutable.
type streamCollector struct {
	reg                                                 *registry.Registry
	players, bitrate, bytesIn, bytesOut, drops, repairs *prometheus.Desc
}

// NewStreamCollector returns the per-stream collector over reg.
func NewStreamCollector(reg *registry.Registry) prometheus.Collector {
	labels := []string{"app", "stream"}
	return &streamCollector{
		reg:      reg,
		players:  prometheus.NewDesc(StreamPlayersMetric, "HTTP-FLV players of a live stream.", labels, nil),
		bitrate:  prometheus.NewDesc(StreamBitrateMetric, "Input bitrate of a live stream (FLV tags, audio+video+data), averaged over the last 5 s.", labels, nil),
		bytesIn:  prometheus.NewDesc(StreamBytesInMetric, "Media bytes received from a live stream's publisher (resets when it publishes again).", labels, nil),
		bytesOut: prometheus.NewDesc(StreamBytesOutMetric, "Bytes written to a live stream's players (resets when it publishes again).", labels, nil),
		drops:    prometheus.NewDesc(StreamDroppedMetric, "Frames dropped for a live stream's slow players (resets when it publishes again).", labels, nil),
		repairs:  prometheus.NewDesc(StreamRepairsMetric, "Frames of a live stream whose timestamps were repaired (resets when it publishes again).", labels, nil),
	}
}

func (c *streamCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.players
	ch <- c.bitrate
	ch <- c.bytesIn
	ch <- c.bytesOut
	ch <- c.drops
	ch <- c.repairs
}

func (c *streamCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.reg.Streams() {
		app, name := s.Key.App, s.Key.Name
		ch <- prometheus.MustNewConstMetric(c.players, prometheus.GaugeValue, float64(s.Players), app, name)
		ch <- prometheus.MustNewConstMetric(c.bitrate, prometheus.GaugeValue, float64(s.Media.BitrateIn), app, name)
		ch <- prometheus.MustNewConstMetric(c.bytesIn, prometheus.CounterValue, float64(s.BytesIn), app, name)
		ch <- prometheus.MustNewConstMetric(c.bytesOut, prometheus.CounterValue, float64(s.BytesOut), app, name)
		ch <- prometheus.MustNewConstMetric(c.drops, prometheus.CounterValue, float64(s.Dropped), app, name)
		ch <- prometheus.MustNewConstMetric(c.repairs, prometheus.CounterValue, float64(s.TimestampRepairs), app, name)
	}
}

// Histograms are the session-duration histograms. They implement
// registry.Observer (pass them to registry.WithObserver) and
// prometheus.Collector (register them with NewMetrics). No per-stream
// labels: their cardinality is fixed.
type Histograms struct {
	ttff    prometheus.Histogram
	publish prometheus.Histogram
}

var _ registry.Observer = (*Histograms)(nil)

// NewHistograms returns empty histograms.
func NewHistograms() *Histograms {
	return &Histograms{
		ttff: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    TTFFMetric,
			Help:    "Time from a player's subscription to the write of its first audio or video frame.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}),
		publish: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    PublishDurationMetric,
			Help:    "How long publishers published, observed when they stop.",
			Buckets: []float64{1, 10, 30, 60, 300, 900, 1800, 3600, 7200, 14400, 43200, 86400},
		}),
	}
}

// FirstFrame implements registry.Observer.
func (h *Histograms) FirstFrame(d time.Duration) { h.ttff.Observe(d.Seconds()) }

// PublishEnded implements registry.Observer.
func (h *Histograms) PublishEnded(d time.Duration) { h.publish.Observe(d.Seconds()) }

// Describe implements prometheus.Collector.
func (h *Histograms) Describe(ch chan<- *prometheus.Desc) {
	h.ttff.Describe(ch)
	h.publish.Describe(ch)
}

// Collect implements prometheus.Collector.
func (h *Histograms) Collect(ch chan<- prometheus.Metric) {
	h.ttff.Collect(ch)
	h.publish.Collect(ch)
}
