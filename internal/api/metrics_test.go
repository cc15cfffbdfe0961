package api

import (
	"context"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
)

func contextDone() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx, cancel
}

// gather returns the metric families of the API's Prometheus registry by
// name.
func gather(t *testing.T, f *fixture) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := f.api.Metrics.Gather()
	require.NoError(t, err)
	out := make(map[string]*dto.MetricFamily, len(mfs))
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// perStream returns the value of a per-stream metric by "app/stream".
func perStream(mf *dto.MetricFamily) map[string]float64 {
	out := make(map[string]float64)
	if mf == nil {
		return out
	}
	for _, m := range mf.GetMetric() {
		var app, name string
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "app":
				app = l.GetValue()
			case "stream":
				name = l.GetValue()
			}
		}
		v := m.GetGauge().GetValue()
		if m.GetCounter() != nil {
			v = m.GetCounter().GetValue()
		}
		out[app+"/"+name] = v
	}
	return out
}

func TestPerStreamMetricsFollowTheLiveStreams(t *testing.T) {
	f := newFixture(t, "")
	m := gather(t, f)
	require.Equal(t, map[string]float64{"live/a": 2, "live/b": 1}, perStream(m[StreamPlayersMetric]))
	require.Equal(t, map[string]float64{"live/a": 300, "live/b": 300}, perStream(m[StreamBytesOutMetric]))
	require.Equal(t, map[string]float64{"live/a": 0, "live/b": 0}, perStream(m[StreamDroppedMetric]))
	for _, name := range []string{StreamBitrateMetric, StreamBytesInMetric} {
		vals := perStream(m[name])
		require.Len(t, vals, 2, name)
		for k, v := range vals {
			require.Positive(t, v, "%s %s", name, k)
		}
	}

	// live/a ends: its series go; live/b's stay.
	f.pubs[0].Release()
	m = gather(t, f)
	for _, name := range []string{StreamPlayersMetric, StreamBitrateMetric, StreamBytesInMetric, StreamBytesOutMetric, StreamDroppedMetric} {
		vals := perStream(m[name])
		require.Len(t, vals, 1, name)
		require.Contains(t, vals, "live/b", name)
	}
	f.pubs[1].Release()
	m = gather(t, f)
	require.Nil(t, m[StreamPlayersMetric], "no live stream, no series")
}

func TestHistograms(t *testing.T) {
	f := newFixture(t, "")
	m := gather(t, f)
	require.Zero(t, m[TTFFMetric].GetMetric()[0].GetHistogram().GetSampleCount())
	require.Zero(t, m[PublishDurationMetric].GetMetric()[0].GetHistogram().GetSampleCount())
	for _, p := range f.players {
		p.FirstFrame()
		p.FirstFrame()
	}
	f.pubs[0].Release()
	m = gather(t, f)
	ttff := m[TTFFMetric].GetMetric()[0]
	require.Empty(t, ttff.GetLabel(), "no per-stream labels")
	require.Equal(t, uint64(3), ttff.GetHistogram().GetSampleCount(), "one per player")
	require.Less(t, ttff.GetHistogram().GetSampleSum(), time.Minute.Seconds())
	require.Equal(t, uint64(1), m[PublishDurationMetric].GetMetric()[0].GetHistogram().GetSampleCount())
}
