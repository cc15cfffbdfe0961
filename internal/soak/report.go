package soak

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/headwater-media/headwater/internal/hwbench"
)

// writeOutputs writes soak.png and summary.md next to soak.csv (which the
// run has written row by row).
func writeOutputs(o Options, r *result) error {
	var png bytes.Buffer
	if err := r.writeChart(&png); err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	if err := os.WriteFile(filepath.Join(o.Out, "soak.png"), png.Bytes(), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(o.Out, "summary.md"), []byte(r.summary()), 0o644)
}

// commandLine renders hwsoak's command line, quoting where needed.
func commandLine(args []string) string {
	parts := []string{"hwsoak"}
	if len(os.Args) > 0 {
		parts[0] = os.Args[0]
	}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\"'$\\") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// hostInfo describes the machine: CPU model, memory, kernel.
func hostInfo() string {
	h := hwbench.ReadHostInfo()
	var parts []string
	if h.CPUModel != "" {
		parts = append(parts, h.CPUModel)
	}
	if h.MemBytes > 0 {
		parts = append(parts, fmt.Sprintf("%.1f GiB RAM", float64(h.MemBytes)/(1<<30)))
	}
	if h.Kernel != "" {
		parts = append(parts, "Linux "+h.Kernel)
	}
	return strings.Join(parts, ", ")
}

func (r *result) summary() string {
	var b strings.Builder
	o := r.opts
	pf := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	verdict := "PASS"
	if !r.pass() {
		verdict = "FAIL"
	}
	pf("# headwater soak: %s\n\n", verdict)
	pf("![soak chart](soak.png)\n\n")
	pf("| | |\n|---|---|\n")
	pf("| command | `%s` |\n", commandLine(o.Args))
	if via := os.Getenv("HWSOAK_VIA"); via != "" {
		pf("| run via | `%s` |\n", via)
	}
	pf("| date | %s to %s |\n", r.started.UTC().Format("2006-01-02 15:04:05"), r.ended.UTC().Format("15:04:05 MST"))
	pf("| duration | %v of load (%s), warm-up %v, sample every %v |\n", o.Duration,
		map[bool]string{true: fmt.Sprintf("interrupted after %.0f s", r.loadStopped), false: "complete"}[r.interrupted],
		o.Warmup, o.Interval)
	pf("| host | nproc %d, %s/%s, %s |\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, hostInfo())
	pf("| server | `%s` (%s), %s |\n", o.Bin, r.serverVersion, r.serverAddrs)
	pf("| ffmpeg | %s |\n", r.ffmpegVersion)
	pf("| load | %d ffmpeg publishers (live %v-%v, stopped alternately by SIGINT and SIGKILL, restarted after %v-%v); "+
		"%d Go players (stay %v-%v, %d%% blips, %d%% stalls of %v-%v, %d%% requests for an absent key, pause %v-%v); seed %d |\n",
		o.Publishers, pubLifeMin, pubLifeMax, pubPauseMin, pubPauseMax,
		o.Players, playStayMin, playStayMax, blipPercent, stallPercent, stallMin, stallMax, absentPercent, playPauseMin, playPauseMax, o.Seed)
	w := trendWindow(r.samples, o.Warmup.Seconds())
	pf("| samples | %d (%d in the trend window after warm-up) |\n\n", len(r.samples), len(w))

	pf("## Checks\n\n| check | result | detail |\n|---|---|---|\n")
	for _, c := range r.checks() {
		pf("| %s | %s | %s |\n", c.Name, map[bool]string{true: "PASS", false: "**FAIL**"}[c.Pass], mdEscape(c.Detail))
	}

	pf("\n## Series after warm-up\n\n")
	pf("Least-squares fit over the trend window (%.0f s to %.0f s); growth = slope x window.\n\n", firstElapsed(w), lastElapsed(w))
	pf("| series | min | median | max | slope | fitted growth | limit | result |\n|---|---|---|---|---|---|---|---|\n")
	for _, st := range r.stats() {
		limit := "-"
		if st.s.checked {
			limit = st.fmt(st.Limit)
		}
		name := st.s.title
		if st.s.unit != "" {
			name += " (" + st.s.unit + ")"
		}
		res := st.Verdict
		if st.s.key == "vmrss" {
			res = "cross-check of RSS"
		}
		if strings.HasPrefix(res, "FAIL") {
			res = "**" + res + "**"
		}
		pf("| %s | %s | %s | %s | %s | %s | %s | %s |\n", name, st.fmt(st.Min), st.fmt(st.Median), st.fmt(st.Max),
			st.slopePerHour(), st.fmtSigned(st.Growth), limit, res)
	}
	if d := maxRSSDiff(r.samples); !math.IsNaN(d) {
		pf("\nRSS cross-check: /metrics and /proc/PID/status VmRSS differ by at most %.1f MiB across all samples.\n", d/(1<<20))
	}

	pf("\n## Before and after the load\n\n")
	pf("| | RSS | goroutines | open FDs | streams | publishers | players |\n|---|---|---|---|---|---|---|\n")
	for _, s := range r.samples {
		if s.Phase == phaseIdle || s.Phase == phaseDrain {
			label := "idle, before load"
			if s.Phase == phaseDrain {
				label = fmt.Sprintf("drained, %.0f s", s.Elapsed)
			}
			pf("| %s | %s | %s | %s | %s | %s | %s |\n", label, fmtMiB(s.RSS), fmtNum(s.Goroutines), fmtNum(s.FDs),
				fmtNum(s.Streams), fmtNum(s.Publishers), fmtNum(s.Players))
		}
	}
	pf("\n(Informational: goroutines and FDs back near the idle baseline after the drain suggest nothing is held per connection.)\n")

	l := r.load
	pf("\n## Load\n\n")
	pf("| counter | value |\n|---|---|\n")
	pf("| plays started (200) | %d |\n", l.PlaysStarted)
	pf("| plays ended cleanly (own close, blip, or end of stream) | %d |\n", l.PlaysClean)
	pf("| plays that stalled (stopped reading %v-%v) / of them cut by the server | %d / %d |\n", stallMin, stallMax, l.Stalls, l.StallCuts)
	pf("| 404 (key not live) | %d |\n", l.NotFound)
	pf("| player errors | %d |\n", l.PlayErrors)
	pf("| bytes read | %s (%d) |\n", fmtBytes(float64(l.BytesRead)), l.BytesRead)
	pf("| FLV tags parsed | %d |\n", l.TagsRead)
	pf("| publisher starts | %d |\n", l.PubStarts)
	pf("| publisher stops: SIGINT / SIGKILL | %d / %d |\n", l.PubCleanStops, l.PubKills)
	pf("| publisher early exits | %d |\n", l.PubFailures)
	if len(r.topErrors) > 0 {
		pf("\nMost frequent errors (load side):\n\n")
		for _, e := range r.topErrors {
			pf("- %d x `%s`\n", e.Count, strings.ReplaceAll(e.Text, "`", "'"))
		}
	}
	pf("\nServer log (`logs/headwater.log`, level warn):")
	if len(r.logCounts) == 0 {
		pf(" empty.\n")
	} else {
		for _, k := range []string{"warn", "error", "fatal", "other", "non-JSON", "panic"} {
			if n := r.logCounts[k]; n > 0 {
				pf(" %s %d;", k, n)
			}
		}
		pf("\n")
	}

	pf("\n## Rule\n\n")
	pf("After warm-up, a least-squares line is fitted to RSS, goroutines and open FDs. A series fails when the fitted growth over the window "+
		"exceeds both %.0f%% of its post-warm-up median and a floor (RSS %d MiB; goroutines and FDs %d): churn moves goroutines and FDs by tens "+
		"between samples, the floor keeps that noise from failing a run and the relative limit scales with the load. Streams, publishers and "+
		"players follow the churn and are reported only. The run also fails if the server exits early, no load ran, the gauges are not 0 "+
		"within %v of stopping the load, the server does not exit 0 within %v of SIGTERM, or the run was interrupted.\n\n",
		relLimit*100, rssFloorBytes>>20, countFloor, drainWithin, termWithin)
	pf("Files: `soak.csv` (one row per sample: %s), `soak.png`, this file; `logs/` has the server and ffmpeg logs.\n",
		strings.Join(csvHeader, ", "))
	return b.String()
}

func firstElapsed(w []sample) float64 {
	if len(w) == 0 {
		return math.NaN()
	}
	return w[0].Elapsed
}

func lastElapsed(w []sample) float64 {
	if len(w) == 0 {
		return math.NaN()
	}
	return w[len(w)-1].Elapsed
}

func maxRSSDiff(samples []sample) float64 {
	d := math.NaN()
	for _, s := range samples {
		if math.IsNaN(s.RSS) || math.IsNaN(s.VmRSS) {
			continue
		}
		if v := math.Abs(s.RSS - s.VmRSS); math.IsNaN(d) || v > d {
			d = v
		}
	}
	return d
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
