package soak

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Trend rule: a checked series fails when the least-squares growth over
// the post-warm-up window exceeds relLimit x its post-warm-up median AND
// its absolute floor.
const (
	relLimit        = 0.10
	rssFloorBytes   = 8 << 20
	countFloor      = 20 // goroutines, open FDs
	minTrendSamples = 5
)

// series describes one column of the samples.
type series struct {
	key     string
	title   string
	unit    string  // for display
	scale   float64 // divide raw values by this for display
	floor   float64 // absolute growth floor in raw units; 0: not trend-checked
	get     func(sample) float64
	checked bool
}

var (
	seriesRSS        = series{key: "rss", title: "RSS", unit: "MiB", scale: 1 << 20, floor: rssFloorBytes, checked: true, get: func(s sample) float64 { return s.RSS }}
	seriesGoroutines = series{key: "goroutines", title: "goroutines", scale: 1, floor: countFloor, checked: true, get: func(s sample) float64 { return s.Goroutines }}
	seriesFDs        = series{key: "fds", title: "open FDs", scale: 1, floor: countFloor, checked: true, get: func(s sample) float64 { return s.FDs }}
	seriesStreams    = series{key: "streams", title: "streams", scale: 1, get: func(s sample) float64 { return s.Streams }}
	seriesPublishers = series{key: "publishers", title: "publishers", scale: 1, get: func(s sample) float64 { return s.Publishers }}
	seriesPlayers    = series{key: "players", title: "players", scale: 1, get: func(s sample) float64 { return s.Players }}
	seriesVmRSS      = series{key: "vmrss", title: "VmRSS (/proc)", unit: "MiB", scale: 1 << 20, get: func(s sample) float64 { return s.VmRSS }}
	allSeries        = []series{seriesRSS, seriesGoroutines, seriesFDs, seriesStreams, seriesPublishers, seriesPlayers, seriesVmRSS}
)

// fit is a least-squares line y = a + b x.
type fit struct {
	A, B float64
	N    int
}

// leastSquares fits y = a + b x; it needs two distinct x values.
func leastSquares(xs, ys []float64) (fit, bool) {
	n := len(xs)
	if n < 2 || len(ys) != n {
		return fit{}, false
	}
	var mx, my float64
	for i := range xs {
		mx += xs[i]
		my += ys[i]
	}
	mx /= float64(n)
	my /= float64(n)
	var sxy, sxx float64
	for i := range xs {
		dx := xs[i] - mx
		sxy += dx * (ys[i] - my)
		sxx += dx * dx
	}
	if sxx == 0 {
		return fit{}, false
	}
	b := sxy / sxx
	return fit{A: my - b*mx, B: b, N: n}, true
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// stat is the post-warm-up analysis of one series.
type stat struct {
	s                series
	N                int
	Min, Median, Max float64
	Fit              fit
	FitOK            bool
	X0, X1           float64 // the fitted window, seconds
	Growth           float64 // fitted growth over [X0, X1], raw units
	Limit            float64 // growth limit, raw units (checked series)
	Pass             bool
	Verdict          string // PASS, FAIL, report, n/a
}

// trendWindow returns the post-warm-up samples of the soak phase.
func trendWindow(samples []sample, warmup float64) []sample {
	var out []sample
	for _, s := range samples {
		if s.Phase == phaseSoak && s.Elapsed >= warmup {
			out = append(out, s)
		}
	}
	return out
}

// analyze computes the statistics and the trend verdict of one series.
func analyze(sr series, window []sample) stat {
	st := stat{s: sr, Min: math.NaN(), Median: math.NaN(), Max: math.NaN(), Verdict: "report", Pass: true}
	var xs, ys []float64
	for _, smp := range window {
		if v := sr.get(smp); !math.IsNaN(v) {
			xs = append(xs, smp.Elapsed)
			ys = append(ys, v)
		}
	}
	st.N = len(ys)
	if st.N == 0 {
		if sr.checked {
			st.Pass, st.Verdict = false, "FAIL (no samples)"
		}
		return st
	}
	st.Min, st.Max = slices.Min(ys), slices.Max(ys)
	st.Median = median(ys)
	st.X0, st.X1 = xs[0], xs[len(xs)-1]
	st.Fit, st.FitOK = leastSquares(xs, ys)
	if st.FitOK {
		st.Growth = st.Fit.B * (st.X1 - st.X0)
	}
	if !sr.checked {
		return st
	}
	st.Limit = max(relLimit*st.Median, sr.floor)
	switch {
	case st.N < minTrendSamples || !st.FitOK:
		st.Pass, st.Verdict = false, fmt.Sprintf("FAIL (only %d samples after warm-up, need %d)", st.N, minTrendSamples)
	case st.Growth > st.Limit:
		st.Pass, st.Verdict = false, "FAIL"
	default:
		st.Verdict = "PASS"
	}
	return st
}

// check is one line of the verdict.
type check struct {
	Name   string
	Pass   bool
	Detail string
}

// stats returns the analysis of every series.
func (r *result) stats() []stat {
	w := trendWindow(r.samples, r.opts.Warmup.Seconds())
	out := make([]stat, len(allSeries))
	for i, sr := range allSeries {
		out[i] = analyze(sr, w)
	}
	return out
}

// checks returns every pass/fail check, trend checks included.
func (r *result) checks() []check {
	var cs []check
	switch {
	case r.interrupted:
		cs = append(cs, check{"run completed", false, fmt.Sprintf("interrupted after %.0f s of %v", r.loadStopped, r.opts.Duration)})
	case r.crashed:
		cs = append(cs, check{"run completed", false, fmt.Sprintf("stopped after %.0f s of %v: the server exited", r.loadStopped, r.opts.Duration)})
	default:
		cs = append(cs, check{"run completed", true, fmt.Sprintf("load ran for the full %v", r.opts.Duration)})
	}
	if r.crashed {
		cs = append(cs, check{"server alive until SIGTERM", false, "exited during the soak: " + r.crashText})
	} else {
		cs = append(cs, check{"server alive until SIGTERM", true, fmt.Sprintf("%d scrape failures", r.scrapeFails)})
	}
	l := r.load
	loadOK := l.PubStarts > 0 && l.PlaysStarted > 0 && l.BytesRead > 0
	cs = append(cs, check{"load ran", loadOK, fmt.Sprintf("%d publisher starts, %d plays, %s read",
		l.PubStarts, l.PlaysStarted, fmtBytes(float64(l.BytesRead)))})
	for _, st := range r.stats() {
		if !st.s.checked {
			continue
		}
		detail := fmt.Sprintf("fitted growth %s, limit %s", st.fmtSigned(st.Growth), st.fmt(st.Limit))
		if strings.HasPrefix(st.Verdict, "FAIL (") {
			detail = strings.TrimPrefix(st.Verdict, "FAIL ")
		}
		cs = append(cs, check{"no upward trend: " + st.s.title, st.Pass, detail})
	}
	cs = append(cs, check{"gauges 0 within " + drainWithin.String() + " of stopping the load", r.drainOK, r.drainText})
	cs = append(cs, check{"SIGTERM: exit 0 within " + termWithin.String(), r.termOK, r.termText})
	return cs
}

func (r *result) pass() bool {
	for _, c := range r.checks() {
		if !c.Pass {
			return false
		}
	}
	return true
}

func (r *result) verdictText() string {
	var failed []string
	for _, c := range r.checks() {
		if !c.Pass {
			failed = append(failed, c.Name+" ("+c.Detail+")")
		}
	}
	if len(failed) == 0 {
		return "hwsoak: PASS"
	}
	return "hwsoak: FAIL: " + strings.Join(failed, "; ")
}

// fmt formats a raw value in the series' display unit.
func (st stat) fmt(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	if st.s.unit != "" {
		return fmt.Sprintf("%.1f %s", v/st.s.scale, st.s.unit)
	}
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

func (st stat) fmtSigned(v float64) string {
	s := st.fmt(v)
	if v >= 0 && !math.IsNaN(v) {
		s = "+" + s
	}
	return s
}

// slopePerHour formats the fitted slope in display units per hour.
func (st stat) slopePerHour() string {
	if !st.FitOK {
		return "n/a"
	}
	v := st.Fit.B * 3600 / st.s.scale
	if st.s.unit != "" {
		return fmt.Sprintf("%+.2f %s/h", v, st.s.unit)
	}
	return fmt.Sprintf("%+.1f /h", v)
}
