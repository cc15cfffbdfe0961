package hwbench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// Result is everything a run measured; it is what -json writes.
// Durations are in milliseconds (_ms) or seconds (_s), sizes in MiB or KiB.
type Result struct {
	Label   string    `json:"label,omitempty"`
	Command string    `json:"command,omitempty"`
	Started time.Time `json:"started"`
	Host    *HostInfo `json:"host,omitempty"`

	Publish          string     `json:"publish,omitempty"`
	Play             string     `json:"play,omitempty"`
	Input            *InputInfo `json:"input,omitempty"`
	Streams          int        `json:"streams"`
	PlayersPerStream int        `json:"players_per_stream"`
	Players          int        `json:"players"`
	RampS            float64    `json:"ramp_s"`
	WarmupS          float64    `json:"warmup_s"`
	ChurnS           float64    `json:"churn_s,omitempty"`
	StallMs          float64    `json:"stall_threshold_ms"`

	// Window is what happened in the measured window.
	Window Window `json:"window"`
	// Errors counts every player and publisher error of the whole run
	// (ramp and warm-up included), by kind.
	Errors       uint64            `json:"errors"`
	ErrorsByKind map[string]uint64 `json:"errors_by_kind,omitempty"`
	// ErrorSamples holds the first message of each error kind.
	ErrorSamples map[string]string `json:"error_samples,omitempty"`

	// Latency is publisher send → player receive of stamped video frames
	// in the window; nil when no frame carried a stamp.
	Latency *Percentiles `json:"latency,omitempty"`
	// TTFB and TTFF cover every connection of the run: connect start →
	// first response byte, and → first complete video key frame.
	TTFB *Percentiles `json:"ttfb,omitempty"`
	TTFF *Percentiles `json:"ttff,omitempty"`
	// FrameGap is the time between consecutive video frames of a player.
	FrameGap *Percentiles `json:"frame_gap,omitempty"`

	Server *ServerStats `json:"server,omitempty"`
	Client ClientStats  `json:"client"`
	// MachineCPUPercent is the whole machine's CPU use in the window, in
	// percent of one core; OtherCPUPercent is the part neither the server
	// (-pid) nor hwbench used: other load that competed with the run.
	MachineCPUPercent float64 `json:"machine_cpu_percent,omitempty"`
	OtherCPUPercent   float64 `json:"other_cpu_percent,omitempty"`
}

// HostInfo describes the machine (filled in by the command).
type HostInfo struct {
	Hostname string `json:"hostname,omitempty"`
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpu_model,omitempty"`
	Kernel   string `json:"kernel,omitempty"`
	MemBytes int64  `json:"mem_bytes,omitempty"` // MemTotal
}

// ReadHostInfo describes this machine from /proc (empty fields where it
// is missing).
func ReadHostInfo() *HostInfo {
	h := &HostInfo{CPUs: runtime.NumCPU()}
	h.Hostname, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range bytes.SplitSeq(b, []byte("\n")) {
			if v, ok := bytes.CutPrefix(line, []byte("model name")); ok {
				_, m, _ := bytes.Cut(v, []byte(":"))
				h.CPUModel = strings.TrimSpace(string(m))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range bytes.SplitSeq(b, []byte("\n")) {
			if v, ok := bytes.CutPrefix(line, []byte("MemTotal:")); ok {
				h.MemBytes = kib(v) << 10
				break
			}
		}
	}
	return h
}

// InputInfo describes what hwbench published.
type InputInfo struct {
	Path    string  `json:"path,omitempty"`
	Codec   string  `json:"codec"`
	Width   int     `json:"width,omitempty"`
	Height  int     `json:"height,omitempty"`
	Mbps    float64 `json:"mbps"`
	LoopS   float64 `json:"loop_s"`
	GOPS    float64 `json:"gop_s"`
	Stamped bool    `json:"latency_stamped"`
}

// Window holds the counters of the measured window.
type Window struct {
	Seconds     float64 `json:"seconds"`
	PlayersAvg  float64 `json:"players_connected_avg"`
	PlayersMin  int     `json:"players_connected_min"`
	Bytes       uint64  `json:"bytes"`
	Mbps        float64 `json:"mbps"`
	Tags        uint64  `json:"tags"`
	VideoFrames uint64  `json:"video_frames"`
	AudioFrames uint64  `json:"audio_frames"`
	Keyframes   uint64  `json:"keyframes"`
	// Stamped frames are the latency samples; Cached frames carried a
	// stamp older than the response to the player's request (the join
	// burst from the server's GOP cache).
	Stamped uint64 `json:"stamped_frames"`
	Cached  uint64 `json:"cached_frames"`
	// Stalls counts gaps between frames above the threshold, plus players
	// that were waiting longer than that when the window ended.
	Stalls       uint64  `json:"stalls"`
	StallSeconds float64 `json:"stall_seconds"`
	Connects     uint64  `json:"connects"`
	ChurnCloses  uint64  `json:"churn_closes"`
	Errors       uint64  `json:"errors"`
	// PublishedMbps is what hwbench's publishers sent (payload bytes).
	PublishedMbps float64 `json:"published_mbps,omitempty"`
}

// Percentiles summarises a histogram, in milliseconds.
type Percentiles struct {
	Samples uint64  `json:"samples"`
	P50     float64 `json:"p50_ms"`
	P95     float64 `json:"p95_ms"`
	P99     float64 `json:"p99_ms"`
	Max     float64 `json:"max_ms"`
	Mean    float64 `json:"mean_ms"`
}

func percentiles(s *HistSnapshot) *Percentiles {
	if s.N == 0 {
		return nil
	}
	return &Percentiles{Samples: s.N, P50: ms(s.Quantile(0.5)), P95: ms(s.Quantile(0.95)),
		P99: ms(s.Quantile(0.99)), Max: ms(time.Duration(s.Max) * time.Microsecond), Mean: ms(s.Mean())}
}

// ServerStats is the server process over the measured window (-pid).
type ServerStats struct {
	PID        int     `json:"pid"`
	CPUPercent float64 `json:"cpu_percent"` // of one core
	// CPUMsPerPlayerSecond is server CPU time per second of one
	// connected player (the average connected count is the divisor).
	CPUMsPerPlayerSecond float64 `json:"cpu_ms_per_player_second,omitempty"`
	IdleRSSMiB           float64 `json:"idle_rss_mib"` // before the players connected
	PeakRSSMiB           float64 `json:"peak_rss_mib"`
	// PeakFromHWM tells whether the peak is VmHWM reset at the window's
	// start (exact) or the highest of the per-second samples.
	PeakFromHWM     bool    `json:"peak_from_vmhwm"`
	RSSPerPlayerKiB float64 `json:"rss_per_player_kib,omitempty"` // (peak - idle) / players
	Samples         int     `json:"samples"`
	Error           string  `json:"error,omitempty"`
}

// ClientStats is hwbench's own process over the window.
type ClientStats struct {
	CPUPercent float64 `json:"cpu_percent"`
	PeakRSSMiB float64 `json:"peak_rss_mib"`
	// SchedLag is how late a 10 ms ticker fired in the window: when its
	// p99 reaches milliseconds, hwbench is short of CPU and latencies and
	// stalls are partly its own.
	SchedLag *Percentiles `json:"sched_lag,omitempty"`
	// PublishLagMaxMs is the worst lateness of a publisher send against
	// its schedule, over the run.
	PublishLagMaxMs float64 `json:"publish_lag_max_ms,omitempty"`
}

// fill computes the Result from the monitor's snapshots.
func (m *monitor) fill(r *Result) {
	b := m.b
	w := m.winC1.sub(m.winC0)
	secs := m.winSecs
	r.Window = Window{Seconds: round(secs, 3), PlayersMin: m.connMin,
		Bytes: w.c[CBytes], Mbps: round(float64(w.c[CBytes])*8/secs/1e6, 2),
		Tags: w.c[CTags], VideoFrames: w.c[CVideoFrames], AudioFrames: w.c[CAudioFrames],
		Keyframes: w.c[CKeyframes], Stamped: w.c[CStamped], Cached: w.c[CCached],
		Stalls:       w.c[CStalls] + m.openStalls,
		StallSeconds: round(float64(w.c[CStallMicros])/1e6, 3),
		Connects:     w.c[CConnects], ChurnCloses: w.c[CChurnCloses], Errors: w.errors()}
	if m.connTicks > 0 {
		r.Window.PlayersAvg = round(m.connSum/float64(m.connTicks), 1)
	}
	if len(b.players) == 0 {
		r.Window.PlayersMin = 0
	}
	if len(b.publishers) > 0 {
		r.Window.PublishedMbps = round(float64(w.c[CPublishedBytes])*8/secs/1e6, 2)
	}
	all := b.stats.counters()
	r.Errors = all.errors()
	for k, v := range all.e {
		if v > 0 {
			if r.ErrorsByKind == nil {
				r.ErrorsByKind = map[string]uint64{}
			}
			r.ErrorsByKind[ErrorKind(k).String()] = v
		}
	}
	b.errMu.Lock()
	for k, v := range b.errSamples {
		if r.ErrorSamples == nil {
			r.ErrorSamples = map[string]string{}
		}
		r.ErrorSamples[k.String()] = v
	}
	b.errMu.Unlock()
	r.Latency = percentiles(&m.winLat)
	r.FrameGap = percentiles(&m.winGap)
	r.TTFB = percentiles(b.stats.snapshot(ttfbOf))
	r.TTFF = percentiles(b.stats.snapshot(ttffOf))
	if b.cfg.PID > 0 {
		s := &ServerStats{PID: b.cfg.PID, CPUPercent: round(m.srv.cpuPercent(), 1),
			IdleRSSMiB: round(float64(m.idle.RSSKiB)/1024, 1), PeakRSSMiB: round(float64(m.srv.peak())/1024, 1),
			PeakFromHWM: m.srv.hwmReset, Samples: m.srv.samples}
		if m.srv.err != nil {
			s.Error = m.srv.err.Error()
		}
		if p := r.Window.PlayersAvg; p > 0 {
			s.CPUMsPerPlayerSecond = round(m.srv.cpuPercent()*10/p, 3)
			s.RSSPerPlayerKiB = round(float64(m.srv.peak()-m.idle.RSSKiB)/p, 1)
		}
		r.Server = s
	}
	if m.machErr == nil && !m.mach.At.IsZero() {
		busy := busyPercent(m.mach0, m.mach)
		r.MachineCPUPercent = round(busy, 1)
		other := busy - m.self.cpuPercent()
		if r.Server != nil {
			other -= r.Server.CPUPercent
		}
		r.OtherCPUPercent = round(max(other, 0), 1)
	}
	r.Client = ClientStats{CPUPercent: round(m.self.cpuPercent(), 1),
		PeakRSSMiB:      round(float64(max(m.self.peakKiB, m.self.last.HWMKiB))/1024, 1),
		SchedLag:        percentiles(&m.winLag),
		PublishLagMaxMs: round(float64(all.c[CPublishLagMicros])/1e3, 2)}
}

func round(v float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	if v < 0 {
		return -float64(int64(-v*p+0.5)) / p
	}
	return float64(int64(v*p+0.5)) / p
}

// WriteJSON writes r as indented JSON to path.
func (r *Result) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadResult reads a JSON file written by WriteJSON.
func ReadResult(path string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

func pct(p *Percentiles, f func(*Percentiles) float64) string {
	if p == nil {
		return "n/a"
	}
	return fmtNum(f(p))
}

// fmtNum prints 3 significant digits, without exponent.
func fmtNum(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// WriteSummary prints a human-readable summary.
func (r *Result) WriteSummary(w io.Writer) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	title := "hwbench"
	if r.Label != "" {
		title += " — " + r.Label
	}
	p("%s\n", title)
	if r.Input != nil {
		size := ""
		if r.Input.Width > 0 {
			size = fmt.Sprintf("%dx%d ", r.Input.Width, r.Input.Height)
		}
		p("  input      %s%s, %.2f Mbit/s, loop %.1f s, GOP %.1f s\n", size, r.Input.Codec, r.Input.Mbps, r.Input.LoopS, r.Input.GOPS)
	}
	if r.Publish != "" {
		p("  publish    %s", r.Publish)
		if r.Window.PublishedMbps > 0 {
			p("  (%.2f Mbit/s sent in the window)", r.Window.PublishedMbps)
		}
		p("\n")
	}
	if r.Players > 0 {
		p("  play       %s\n", r.Play)
		p("  players    %d (%d stream(s) x %d), ramp %.0f s, warm-up %.0f s", r.Players, r.Streams, r.PlayersPerStream, r.RampS, r.WarmupS)
		if r.ChurnS > 0 {
			p(", churn ~%.0f s", r.ChurnS)
		}
		p("\n")
		ww := r.Window
		p("  window     %.1f s, connected avg %.1f min %d, %.1f Mbit/s received, %d connections opened in it\n",
			ww.Seconds, ww.PlayersAvg, ww.PlayersMin, ww.Mbps, ww.Connects)
		p("  frames     %d video (%d key, %d stamped live, %d from the GOP cache), %d audio\n", ww.VideoFrames, ww.Keyframes, ww.Stamped, ww.Cached, ww.AudioFrames)
		if l := r.Latency; l != nil {
			p("  latency    p50 %s  p95 %s  p99 %s  max %s ms (%d frames)\n", fmtNum(l.P50), fmtNum(l.P95), fmtNum(l.P99), fmtNum(l.Max), l.Samples)
		} else {
			p("  latency    n/a (no stamped frames: hwbench stamps only legacy H.264 it publishes itself)\n")
		}
		for _, x := range []struct {
			name string
			p    *Percentiles
		}{{"TTFB", r.TTFB}, {"TTFF", r.TTFF}} {
			if x.p != nil {
				p("  %-10s p50 %s  p95 %s  p99 %s  max %s ms (%d connections)\n", x.name, fmtNum(x.p.P50), fmtNum(x.p.P95), fmtNum(x.p.P99), fmtNum(x.p.Max), x.p.Samples)
			}
		}
		p("  stalls     %d (> %.0f ms between frames, %.1f s in total)", ww.Stalls, r.StallMs, ww.StallSeconds)
		if g := r.FrameGap; g != nil {
			p("; frame gap p99 %s max %s ms", fmtNum(g.P99), fmtNum(g.Max))
		}
		p("\n")
	}
	p("  errors     %d", r.Errors)
	if len(r.ErrorsByKind) > 0 {
		var parts []string
		for _, k := range errorKindNames {
			if v := r.ErrorsByKind[k]; v > 0 {
				s := fmt.Sprintf("%s %d", k, v)
				if msg := r.ErrorSamples[k]; msg != "" {
					s += fmt.Sprintf(" (first: %s)", msg)
				}
				parts = append(parts, s)
			}
		}
		p(": %s", strings.Join(parts, "; "))
	}
	p("\n")
	if s := r.Server; s != nil {
		p("  server     pid %d: CPU %.1f%% of a core", s.PID, s.CPUPercent)
		if s.CPUMsPerPlayerSecond > 0 {
			p(" (%.3f ms per player-second)", s.CPUMsPerPlayerSecond)
		}
		p(", RSS idle %.1f MiB, peak %.1f MiB", s.IdleRSSMiB, s.PeakRSSMiB)
		if s.RSSPerPlayerKiB != 0 {
			p(" (%.1f KiB per player)", s.RSSPerPlayerKiB)
		}
		if s.Error != "" {
			p(" [sampling: %s]", s.Error)
		}
		p("\n")
	}
	c := r.Client
	p("  hwbench    CPU %.1f%%, peak RSS %.1f MiB", c.CPUPercent, c.PeakRSSMiB)
	if c.SchedLag != nil {
		p(", scheduling lag p99 %s max %s ms", fmtNum(c.SchedLag.P99), fmtNum(c.SchedLag.Max))
	}
	if c.PublishLagMaxMs > 0 {
		p(", publisher late by up to %s ms", fmtNum(c.PublishLagMaxMs))
	}
	p("\n")
	if r.MachineCPUPercent > 0 {
		p("  machine    CPU %.1f%% of a core in the window, %.1f%% of it neither the server nor hwbench\n", r.MachineCPUPercent, r.OtherCPUPercent)
	}
}

// TableHeader is the header of the markdown table WriteTableRow fills.
// The last three columns tell whether the measurement was clean:
// hwbench's own CPU, its scheduling lag p99 (milliseconds rather than
// microseconds mean the latencies of that row are partly the client's) and
// the CPU used by other processes during the window.
const TableHeader = "| run | server | players | server CPU % | CPU ms / player-s | peak RSS MiB | RSS / player KiB | TTFF p50 / p95 ms | latency p50 / p99 ms | stalls | errors | Mbit/s | hwbench CPU % | hwbench lag p99 ms | other CPU % |\n" +
	"|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"

// WriteTableRow writes r as one row of the TableHeader table.
func (r *Result) WriteTableRow(w io.Writer, run int) {
	label := r.Label
	if label == "" {
		label = r.Play
	}
	players := fmt.Sprint(r.Players)
	if r.Streams > 1 {
		players = fmt.Sprintf("%d × %d", r.Streams, r.PlayersPerStream)
	}
	if avg := r.Window.PlayersAvg; avg < 0.99*float64(r.Players) {
		players += fmt.Sprintf(" (avg %.0f connected)", avg)
	}
	srvCPU, perPlayer, peak, rssPer := "n/a", "n/a", "n/a", "n/a"
	if s := r.Server; s != nil {
		srvCPU = fmt.Sprintf("%.1f", s.CPUPercent)
		perPlayer = fmt.Sprintf("%.3f", s.CPUMsPerPlayerSecond)
		peak = fmt.Sprintf("%.1f", s.PeakRSSMiB)
		rssPer = fmt.Sprintf("%.1f", s.RSSPerPlayerKiB)
	}
	ttff := pct(r.TTFF, func(p *Percentiles) float64 { return p.P50 }) + " / " + pct(r.TTFF, func(p *Percentiles) float64 { return p.P95 })
	lat := pct(r.Latency, func(p *Percentiles) float64 { return p.P50 }) + " / " + pct(r.Latency, func(p *Percentiles) float64 { return p.P99 })
	other := "n/a"
	if r.MachineCPUPercent > 0 {
		other = fmt.Sprintf("%.1f", r.OtherCPUPercent)
	}
	fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %s | %s | %s | %s | %d | %d | %.1f | %.1f | %s | %s |\n",
		run, label, players, srvCPU, perPlayer, peak, rssPer, ttff, lat, r.Window.Stalls, r.Errors, r.Window.Mbps,
		r.Client.CPUPercent, pct(r.Client.SchedLag, func(p *Percentiles) float64 { return p.P99 }), other)
}
