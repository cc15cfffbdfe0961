package soak

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

func TestLeastSquares(t *testing.T) {
	xs := []float64{0, 10, 20, 30}
	ys := []float64{5, 7, 9, 11}
	f, ok := leastSquares(xs, ys)
	if !ok || math.Abs(f.A-5) > 1e-9 || math.Abs(f.B-0.2) > 1e-9 {
		t.Fatalf("fit = %+v, %v; want a=5 b=0.2", f, ok)
	}
	if _, ok := leastSquares([]float64{1, 1}, []float64{1, 2}); ok {
		t.Fatal("fit with one distinct x succeeded")
	}
}

func TestParseMetrics(t *testing.T) {
	body := []byte(`# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 42
go_gc_duration_seconds{quantile="0"} 1.5e-05
process_resident_memory_bytes 2.3318528e+07
process_open_fds 17
headwater_streams 3
headwater_players{app="x"} 99
headwater_players 12
`)
	m := parseMetrics(body, metricNames)
	want := map[string]float64{"go_goroutines": 42, "process_resident_memory_bytes": 23318528,
		"process_open_fds": 17, "headwater_streams": 3, "headwater_players": 12}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	if _, ok := m["headwater_publishers"]; ok {
		t.Error("absent metric reported")
	}
}

// soakSamples returns samples every 10 s for 30 min, with v(t) values.
func soakSamples(v func(el float64, i int) float64) []sample {
	var out []sample
	for i := 0; i <= 180; i++ {
		el := float64(i * 10)
		phase := phaseSoak
		if el < 120 {
			phase = phaseWarmup
		}
		x := v(el, i)
		out = append(out, sample{Elapsed: el, Phase: phase, RSS: x * (1 << 20), Goroutines: x, FDs: x,
			Streams: 3, Publishers: 3, Players: 30, VmRSS: x * (1 << 20)})
	}
	return out
}

func TestTrendRule(t *testing.T) {
	cases := []struct {
		name     string
		v        func(el float64, i int) float64
		rss, gor bool // want pass
	}{
		{"flat", func(el float64, i int) float64 { return 100 }, true, true},
		{"noisy churn, no trend", func(el float64, i int) float64 { return 100 + float64((i*37)%41) - 20 }, true, true},
		// 100 -> 130 over the window: growth 30 > 10% of median (~115) and > 20;
		// for RSS 30 MiB > 8 MiB.
		{"leak", func(el float64, i int) float64 { return 100 + 30*(el-120)/1680 }, false, false},
		// growth 15 > 10% of 100 but below the floor of 20; RSS 15 MiB > 8 MiB.
		{"small growth", func(el float64, i int) float64 { return 100 + 15*(el-120)/1680 }, false, true},
		// warm-up growth is ignored.
		{"warm-up ramp", func(el float64, i int) float64 { return min(100, 20+el) }, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := trendWindow(soakSamples(tc.v), 120)
			rss := analyze(seriesRSS, w)
			gor := analyze(seriesGoroutines, w)
			if rss.Pass != tc.rss {
				t.Errorf("RSS pass = %v (%s growth %s limit %s), want %v", rss.Pass, rss.Verdict, rss.fmt(rss.Growth), rss.fmt(rss.Limit), tc.rss)
			}
			if gor.Pass != tc.gor {
				t.Errorf("goroutines pass = %v (%s growth %s limit %s), want %v", gor.Pass, gor.Verdict, gor.fmt(gor.Growth), gor.fmt(gor.Limit), tc.gor)
			}
		})
	}
}

func TestResultChecksAndOutputs(t *testing.T) {
	r := &result{
		opts:    Options{Duration: 30 * time.Minute, Warmup: 2 * time.Minute, Interval: 10 * time.Second, Publishers: 3, Players: 40},
		samples: soakSamples(func(el float64, i int) float64 { return 100 }),
		load:    snapshot{PubStarts: 3, PlaysStarted: 10, BytesRead: 1000},
		drainOK: true, termOK: true, loadStopped: 1800,
	}
	if !r.pass() {
		t.Fatalf("flat run failed: %s", r.verdictText())
	}
	var png bytes.Buffer
	if err := r.writeChart(&png); err != nil || !bytes.HasPrefix(png.Bytes(), []byte("\x89PNG")) {
		t.Fatalf("chart: %v (%d bytes)", err, png.Len())
	}
	if s := r.summary(); !strings.Contains(s, "# headwater soak: PASS") {
		t.Fatalf("summary:\n%s", s)
	}

	r.drainOK = false
	if r.pass() {
		t.Fatal("run with undrained gauges passed")
	}
	r.drainOK, r.crashed = true, true
	if r.pass() {
		t.Fatal("run with a crashed server passed")
	}
}
