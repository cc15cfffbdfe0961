package rtmp

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/headwater-media/headwater/internal/cluster"
	"github.com/headwater-media/headwater/internal/cluster/redistest"
	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/stream"
)

// BenchmarkPublishStart: what a publish costs between the publish
// command and Publish.Start (OnPublish), alone and in a cluster (a real
// redis-server on loopback: the claim's SET NX PX), and what its end
// costs (OnClose: the compare-and-delete). p50 and p99 are reported in
// µs; the difference between the two is the claim's latency.
func BenchmarkPublishStart(b *testing.B) {
	for _, withCluster := range []bool{false, true} {
		name := "local"
		if withCluster {
			name = "cluster"
		}
		b.Run(name, func(b *testing.B) {
			reg := registry.New(stream.DefaultConfig())
			var opts []Option
			if withCluster {
				r := redistest.Start(b)
				cfg := cluster.DefaultConfig()
				cfg.Redis, cfg.NodeURL = r.URL(), "http://node1:8080"
				d, err := cluster.New(cfg, zerolog.Nop())
				if err != nil {
					b.Fatal(err)
				}
				d.Start()
				defer d.Close()
				opts = append(opts, WithClaimer(d))
			}
			srv := NewServer(DefaultConfig(), reg, zerolog.Nop(), opts...)
			starts := make([]time.Duration, 0, b.N)
			ends := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				h := newTestHandler(b, reg)
				h.srv = srv
				if err := connect(b, h, "live"); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				t0 := time.Now()
				if err := publish(h, fmt.Sprintf("s%d", i)); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				h.OnClose()
				ends = append(ends, time.Since(t1))
				starts = append(starts, t1.Sub(t0))
			}
			b.StopTimer()
			b.ReportMetric(pct(starts, 50), "start-p50-µs")
			b.ReportMetric(pct(starts, 99), "start-p99-µs")
			b.ReportMetric(pct(ends, 50), "end-p50-µs")
		})
	}
}

func pct(ds []time.Duration, p int) float64 {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return float64(ds[(len(ds)-1)*p/100].Microseconds())
}
