package soak

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Phases of a sample.
const (
	phaseIdle   = "idle"   // before the load starts
	phaseWarmup = "warmup" // load running, excluded from the trend check
	phaseSoak   = "soak"   // load running, trend-checked
	phaseDrain  = "drain"  // after the load stopped and the gauges settled
)

// drainWithin is how long the gauges get to return to 0 after the load stops.
const drainWithin = 10 * time.Second

// termWithin is how long the server gets to exit after SIGTERM.
const termWithin = 5 * time.Second

// sample is one row of soak.csv. Server values are NaN when unknown.
type sample struct {
	Elapsed    float64 // seconds since the load started
	Phase      string
	RSS        float64 // process_resident_memory_bytes
	Goroutines float64
	FDs        float64
	Streams    float64
	Publishers float64
	Players    float64
	VmRSS      float64 // /proc/PID/status, bytes
	Load       snapshot
}

var csvHeader = []string{
	"elapsed_s", "rss_bytes", "goroutines", "open_fds", "streams", "publishers", "players",
	"plays_started", "plays_clean", "plays_404", "play_errors", "bytes_read",
	"stalls", "stall_cuts", "tags_read", "players_active", "publisher_starts", "publisher_failures", "publishers_live",
	"vmrss_bytes", "phase",
}

func (s sample) csvRow() []string {
	num := func(v float64) string {
		if math.IsNaN(v) {
			return ""
		}
		return fmt.Sprintf("%.0f", v)
	}
	u := func(v uint64) string { return fmt.Sprint(v) }
	l := s.Load
	return []string{
		fmt.Sprintf("%.1f", s.Elapsed), num(s.RSS), num(s.Goroutines), num(s.FDs),
		num(s.Streams), num(s.Publishers), num(s.Players),
		u(l.PlaysStarted), u(l.PlaysClean), u(l.NotFound), u(l.PlayErrors), u(l.BytesRead),
		u(l.Stalls), u(l.StallCuts), u(l.TagsRead), fmt.Sprint(l.PlayersActive), u(l.PubStarts), u(l.PubFailures),
		fmt.Sprint(l.PubLive), num(s.VmRSS), s.Phase,
	}
}

// result is everything the outputs are made from.
type result struct {
	opts        Options
	started     time.Time
	ended       time.Time
	loadStopped float64 // elapsed seconds when the load was told to stop
	samples     []sample
	load        snapshot
	topErrors   []errCount
	scrapeFails int

	serverVersion string
	ffmpegVersion string
	serverAddrs   string

	crashed     bool   // the server exited before the end
	crashText   string // how it exited
	interrupted bool
	drainOK     bool
	drainTook   time.Duration
	drainText   string
	termOK      bool
	termText    string
	logCounts   map[string]int // server log lines by level, plus "panic"
}

// runner is one soak run: it owns the server process, the load and the
// sampling, and returns the result.
type runner struct {
	o      Options
	stderr io.Writer
	tty    bool
	c      counters
	csv    *csv.Writer
	csvF   *os.File
	res    *result
	last   sample
}

func newRunner(o Options, stderr io.Writer) *runner {
	tty := false
	if f, ok := stderr.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &runner{o: o, stderr: stderr, tty: tty}
}

// run drives the whole soak. It returns an error only for setup failures
// (exit 2); everything after the server is up ends in a result.
func (s *runner) run(ctx context.Context) (*result, error) {
	o := s.o
	res := &result{opts: o, started: time.Now(), drainOK: false}
	s.res = res
	res.serverVersion = firstLine(exec.Command(o.Bin, "-version").Output())
	res.ffmpegVersion = firstLine(exec.Command(o.FFmpeg, "-hide_banner", "-version").Output())

	csvF, err := os.Create(filepath.Join(o.Out, "soak.csv"))
	if err != nil {
		return nil, err
	}
	defer csvF.Close()
	s.csvF, s.csv = csvF, csv.NewWriter(csvF)
	if err := s.csv.Write(csvHeader); err != nil {
		return nil, err
	}

	logPath := filepath.Join(o.Out, "logs", "headwater.log")
	slog, err := openLog(logPath)
	if err != nil {
		return nil, err
	}
	defer slog.Close()
	srv, err := startServer(o.Bin, slog)
	if err != nil {
		return nil, fmt.Errorf("%w (log: %s)", err, logPath)
	}
	defer srv.kill()
	res.serverAddrs = fmt.Sprintf("rtmp %s, http %s", srv.rtmpAddr, srv.httpAddr)
	fmt.Fprintf(s.stderr, "hwsoak: headwater pid %d (%s); %d publishers, %d players for %v, warm-up %v, every %v, seed %d\n",
		srv.pid(), res.serverAddrs, o.Publishers, o.Players, o.Duration, o.Warmup, o.Interval, o.Seed)

	// Baseline before any load.
	time.Sleep(time.Second)
	s.record(ctx, srv, 0, phaseIdle)

	// Start the load.
	loadCtx, stopLoad := context.WithCancel(context.Background())
	defer stopLoad()
	var wg sync.WaitGroup
	keys := make([]string, o.Publishers)
	for i := range o.Publishers {
		keys[i] = fmt.Sprintf("live/soak%d", i)
		f, err := openLog(filepath.Join(o.Out, "logs", fmt.Sprintf("ffmpeg-%d.log", i)))
		if err != nil {
			return nil, err
		}
		defer f.Close()
		p := &publisher{id: i, ffmpeg: o.FFmpeg, url: "rtmp://" + srv.rtmpAddr + "/" + keys[i], log: f,
			rng: rand.New(rand.NewPCG(o.Seed, uint64(i))), c: &s.c}
		wg.Go(func() { p.run(loadCtx) })
	}
	client, stallClient := newPlayerClient(0), newPlayerClient(stallRcvBuf)
	for i := range o.Players {
		p := &player{id: i, base: "http://" + srv.httpAddr, keys: keys, client: client, stallClient: stallClient,
			rng: rand.New(rand.NewPCG(o.Seed, uint64(1000+i))), c: &s.c}
		wg.Go(func() { p.run(loadCtx) })
	}
	start := time.Now()

	// Sample every interval until the duration is over, the server dies or
	// the user interrupts.
	progress := time.NewTicker(time.Second)
	defer progress.Stop()
	next := 1
loop:
	for {
		due := start.Add(time.Duration(next) * o.Interval)
		if d := time.Duration(next) * o.Interval; d > o.Duration {
			due = start.Add(o.Duration)
		}
		timer := time.NewTimer(time.Until(due))
		select {
		case <-timer.C:
			el := time.Since(start).Seconds()
			phase := phaseSoak
			if el < o.Warmup.Seconds() {
				phase = phaseWarmup
			}
			s.record(ctx, srv, el, phase)
			s.progress(start, true)
			if el >= o.Duration.Seconds()-0.001 {
				break loop
			}
			next++
		case <-progress.C:
			timer.Stop()
			s.progress(start, false)
		case <-srv.done:
			timer.Stop()
			res.crashed, res.crashText = true, srv.exitText()
			break loop
		case <-ctx.Done():
			timer.Stop()
			res.interrupted = true
			break loop
		}
	}
	res.loadStopped = time.Since(start).Seconds()
	if s.tty {
		fmt.Fprintln(s.stderr)
	}
	fmt.Fprintf(s.stderr, "hwsoak: stopping the load\n")
	stopLoad()
	wg.Wait()
	res.load = s.c.snapshot()

	if !srv.exited() {
		s.drain(srv, start)
	}
	if !srv.exited() {
		took, err := srv.terminate(termWithin)
		switch {
		case err != nil:
			res.termText = err.Error()
		case srv.state.Success():
			res.termOK = true
			res.termText = fmt.Sprintf("exit status 0 after %v", took.Round(time.Millisecond))
		default:
			res.termText = fmt.Sprintf("%s after %v", srv.exitText(), took.Round(time.Millisecond))
		}
	} else if !res.crashed {
		res.crashed, res.crashText = true, srv.exitText()
	}
	if res.crashed {
		res.termText = "server had already exited: " + res.crashText
		if res.drainText == "" {
			res.drainText = "server had exited"
		}
	}
	res.ended = time.Now()
	res.topErrors = s.c.topErrors(10)
	_ = slog.Sync()
	res.logCounts = countLogLevels(logPath)
	s.csv.Flush()
	return res, s.csv.Error()
}

// drain waits up to drainWithin for streams, publishers and players to
// read 0 and records the last reading as the "drain" sample.
func (s *runner) drain(srv *server, start time.Time) {
	res := s.res
	t0 := time.Now()
	var m map[string]float64
	var err error
	for {
		m, err = srv.scrape(context.Background())
		if err == nil && m["headwater_streams"] == 0 && m["headwater_publishers"] == 0 && m["headwater_players"] == 0 {
			res.drainOK = true
			res.drainTook = time.Since(t0)
			res.drainText = fmt.Sprintf("all 0 after %v", res.drainTook.Round(10*time.Millisecond))
			if res.drainTook < 10*time.Millisecond {
				res.drainText = "all 0 at the first scrape"
			}
			break
		}
		if time.Since(t0) >= drainWithin {
			if err != nil {
				res.drainText = "cannot scrape: " + err.Error()
			} else {
				res.drainText = fmt.Sprintf("after %v: streams %g, publishers %g, players %g", drainWithin,
					m["headwater_streams"], m["headwater_publishers"], m["headwater_players"])
			}
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	// Let the server settle (closed connections, exiting goroutines) so that
	// the drain sample compares with the idle baseline.
	time.Sleep(time.Second)
	s.record(context.Background(), srv, time.Since(start).Seconds(), phaseDrain)
}

// record scrapes the server, appends a sample and writes its CSV row.
func (s *runner) record(ctx context.Context, srv *server, elapsed float64, phase string) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	m, err := srv.scrape(sctx)
	nan := math.NaN()
	get := func(name string) float64 {
		if v, ok := m[name]; ok {
			return v
		}
		return nan
	}
	if err != nil {
		s.res.scrapeFails++
		s.c.noteError("scrape /metrics", err)
	}
	smp := sample{
		Elapsed: elapsed, Phase: phase,
		RSS: get("process_resident_memory_bytes"), Goroutines: get("go_goroutines"), FDs: get("process_open_fds"),
		Streams: get("headwater_streams"), Publishers: get("headwater_publishers"), Players: get("headwater_players"),
		VmRSS: vmRSS(srv.pid()), Load: s.c.snapshot(),
	}
	s.res.samples = append(s.res.samples, smp)
	s.last = smp
	_ = s.csv.Write(smp.csvRow())
	s.csv.Flush()
}

// progress prints the live status line: in place on a terminal, one line
// per sample otherwise.
func (s *runner) progress(start time.Time, sampled bool) {
	if !s.tty && !sampled {
		return
	}
	el := time.Since(start).Round(time.Second)
	l := s.c.snapshot()
	v := s.last
	phase := ""
	if el < s.o.Warmup {
		phase = " [warm-up]"
	}
	line := fmt.Sprintf("%v/%v%s rss %s gor %s fds %s | streams %s pub %s players %s (client %d) | plays %d ok %d 404 %d err %d cut %d | %s read, pub starts %d fails %d",
		el, s.o.Duration, phase, fmtMiB(v.RSS), fmtNum(v.Goroutines), fmtNum(v.FDs),
		fmtNum(v.Streams), fmtNum(v.Publishers), fmtNum(v.Players), l.PlayersActive,
		l.PlaysStarted, l.PlaysClean, l.NotFound, l.PlayErrors, l.StallCuts,
		fmtBytes(float64(l.BytesRead)), l.PubStarts, l.PubFailures)
	if s.tty {
		fmt.Fprintf(s.stderr, "\r\x1b[K%s", line)
	} else {
		fmt.Fprintln(s.stderr, line)
	}
}

func fmtNum(v float64) string {
	if math.IsNaN(v) {
		return "?"
	}
	return fmt.Sprintf("%.0f", v)
}

func fmtMiB(v float64) string {
	if math.IsNaN(v) {
		return "?"
	}
	return fmt.Sprintf("%.1fMiB", v/(1<<20))
}

func fmtBytes(v float64) string {
	switch {
	case v >= 1<<30:
		return fmt.Sprintf("%.2f GiB", v/(1<<30))
	case v >= 1<<20:
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	default:
		return fmt.Sprintf("%.0f KiB", v/(1<<10))
	}
}

func firstLine(b []byte, err error) string {
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return line
}

// countLogLevels counts the server's JSON log lines by level, and lines
// that mention a panic or a data race.
func countLogLevels(path string) map[string]int {
	out := map[string]int{}
	b, err := os.ReadFile(path)
	if err != nil {
		return out
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if line == "" {
			continue
		}
		switch {
		case strings.Contains(line, `"level":"warn"`):
			out["warn"]++
		case strings.Contains(line, `"level":"error"`):
			out["error"]++
		case strings.Contains(line, `"level":"fatal"`), strings.Contains(line, `"level":"panic"`):
			out["fatal"]++
		case strings.HasPrefix(line, "{"):
			out["other"]++
		default:
			out["non-JSON"]++
		}
		if strings.Contains(line, "panic") || strings.Contains(line, "DATA RACE") {
			out["panic"]++
		}
	}
	return out
}
