package hwbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config is one benchmark run. Fill it, then call Run.
type Config struct {
	// Publish is the RTMP URL hwbench publishes Input to; "%d" is replaced
	// by the stream index (required when Streams > 1). Empty: someone
	// else publishes.
	Publish string
	// Play is what the players play, "%d" as for Publish: an HTTP-FLV URL
	// (http://host[:port]/path, a GET), an RTMP URL
	// (rtmp://host[:port]/app/stream, an RTMP play session through
	// internal/rtmpclient), a WebSocket-FLV URL (ws://host[:port]/path,
	// through coder/websocket) or an HLS playlist
	// (http[s]://host[:port]/path.m3u8, an HLS client through gohlslib).
	Play string
	// Input is what the publishers send (required when Publish is set).
	Input *Input
	// Streams is the number of streams; Players the players per stream.
	Streams, Players int
	// Ramp spreads the players' first connections evenly over this time.
	Ramp time.Duration
	// Warmup is the time between the end of the ramp and the measured window.
	Warmup time.Duration
	// Duration is the measured window.
	Duration time.Duration
	// Churn, when > 0, makes every connection last a random 0.5-1.5 x
	// Churn, after which the player reconnects at once.
	Churn time.Duration
	// PID is the server's process id for /proc sampling; 0 = none.
	PID int
	// Stall is the gap between two received video frames (audio frames
	// for a stream without video) that counts as a stall.
	Stall time.Duration
	// Timeout is how long a connection may receive nothing before the
	// player drops it (an idle_timeout error) and reconnects.
	Timeout time.Duration
	// Seed seeds the churn lifetimes and reconnect back-offs.
	Seed uint64
	// Progress receives one status line per ProgressEvery; nil = none.
	// With ProgressTTY the line is rewritten in place.
	Progress      io.Writer
	ProgressEvery time.Duration
	ProgressTTY   bool
	// Label names the run in reports (e.g. the server's name).
	Label string
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var bad []string
	if c.Streams < 1 {
		bad = append(bad, "streams must be >= 1")
	}
	if c.Players < 0 {
		bad = append(bad, "players must be >= 0")
	}
	if c.Publish == "" && c.Players == 0 {
		bad = append(bad, "nothing to do: no publisher and no players")
	}
	if c.Players > 0 && c.Play == "" {
		bad = append(bad, "players need a play URL")
	}
	if c.Publish != "" && c.Input == nil {
		bad = append(bad, "publishing needs an input")
	}
	if c.Streams > 1 {
		for _, u := range []string{c.Publish, c.Play} {
			if u != "" && !strings.Contains(u, "%d") {
				bad = append(bad, fmt.Sprintf("%q: with more than one stream the URL needs a %%d for the stream index", u))
			}
		}
	}
	for i := range min(c.Streams, 1) {
		if c.Publish != "" {
			if _, err := parseRTMPURL(expand(c.Publish, i)); err != nil {
				bad = append(bad, err.Error())
			}
		}
		if c.Players > 0 {
			if err := checkPlayURL(expand(c.Play, i)); err != nil {
				bad = append(bad, err.Error())
			}
		}
	}
	if c.Duration <= 0 {
		bad = append(bad, "duration must be > 0")
	}
	if c.Ramp < 0 || c.Warmup < 0 || c.Churn < 0 {
		bad = append(bad, "ramp, warmup and churn must be >= 0")
	}
	if c.Stall <= 0 {
		bad = append(bad, "stall threshold must be > 0")
	}
	if c.Timeout < time.Second {
		bad = append(bad, "timeout must be >= 1s")
	}
	if c.PID < 0 {
		bad = append(bad, "pid must be >= 0")
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}

// checkPlayURL checks an HTTP-FLV, HLS, WebSocket-FLV or RTMP play URL.
func checkPlayURL(u string) error {
	if isRTMP(u) {
		_, err := parseRTMPURL(u)
		return err
	}
	if isWS(u) {
		return checkWSURL(u)
	}
	_, err := parseHTTPURL(u)
	return err
}

// expand replaces %d in a URL template by the stream index.
func expand(tmpl string, i int) string {
	return strings.ReplaceAll(tmpl, "%d", strconv.Itoa(i))
}

// ErrSetup wraps failures before the players start (bad URL, publisher
// refused, PID unreadable).
var ErrSetup = errors.New("setup failed")

// bench is the state of one Run.
type bench struct {
	cfg        *Config
	stats      stats
	epoch      time.Time
	players    []*player
	publishers []*publisher

	errMu      sync.Mutex           // guards errSamples
	errSamples map[ErrorKind]string // the first message of every error kind
}

func (b *bench) noteError(kind ErrorKind, err error) {
	if err == nil {
		return
	}
	b.errMu.Lock()
	defer b.errMu.Unlock()
	if _, ok := b.errSamples[kind]; !ok {
		b.errSamples[kind] = err.Error()
	}
}

// Run runs the benchmark: publishers (if any) start and must reach a
// steady state, the players ramp up, warm up, then everything is
// measured for cfg.Duration. It returns ErrSetup-wrapped errors when the
// run could not start; a run that started returns a Result even when the
// players saw errors.
func Run(ctx context.Context, cfg *Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSetup, err)
	}
	c := *cfg
	cfg = &c
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = time.Second
	}
	b := &bench{cfg: cfg, epoch: time.Now(), errSamples: map[ErrorKind]string{}}
	res := &Result{Label: cfg.Label, Started: time.Now().UTC().Truncate(time.Second),
		Publish: cfg.Publish, Play: cfg.Play, Streams: cfg.Streams, PlayersPerStream: cfg.Players,
		Players: cfg.Streams * cfg.Players, RampS: cfg.Ramp.Seconds(), WarmupS: cfg.Warmup.Seconds(),
		ChurnS: cfg.Churn.Seconds(), StallMs: ms(cfg.Stall)}
	if in := cfg.Input; in != nil && cfg.Publish != "" {
		res.Input = &InputInfo{Path: in.Path, Codec: in.Codec, Width: in.Width, Height: in.Height,
			Mbps: round(in.Bitrate()/1e6, 3), LoopS: in.Period.Seconds(), GOPS: in.GOP.Seconds(),
			Stamped: in.LengthSize > 0}
	}

	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()

	// Client-side scheduling lag: how late a 10 ms ticker fires. Large
	// values mean hwbench itself is starved of CPU and its latencies are
	// inflated.
	var lag Histogram
	wg.Add(1)
	go func() {
		defer wg.Done()
		const every = 10 * time.Millisecond
		t := time.NewTicker(every)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case now := <-t.C:
				lag.Record(now.Sub(last) - every)
				last = now
			case <-runCtx.Done():
				return
			}
		}
	}()

	if err := b.startPublishers(runCtx, &wg); err != nil {
		return nil, err
	}

	var idle ProcSample
	if cfg.PID > 0 {
		var err error
		if idle, err = ReadProc(cfg.PID); err != nil {
			return nil, fmt.Errorf("%w: server pid %d: %v", ErrSetup, cfg.PID, err)
		}
	}

	// Players.
	n := cfg.Streams * cfg.Players
	rampStart := time.Now()
	for k := range n {
		stream := k % cfg.Streams
		p := &player{id: k, sh: b.stats.shard(k), cfg: cfg, bench: b, epoch: b.epoch,
			rng: rand.New(rand.NewPCG(cfg.Seed, uint64(k)))}
		if u := expand(cfg.Play, stream); isRTMP(u) {
			p.rtmpURL = u
		} else if isHLS(u) {
			p.hlsURL = u
		} else if isWS(u) {
			p.wsURL = u
		} else {
			target, err := parseHTTPURL(u)
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrSetup, err)
			}
			p.target = target
		}
		b.players = append(b.players, p)
		var at time.Time
		if n > 1 {
			at = rampStart.Add(cfg.Ramp * time.Duration(k) / time.Duration(n-1))
		} else {
			at = rampStart
		}
		wg.Add(1)
		go func() { defer wg.Done(); p.run(runCtx, at) }()
	}

	rampEnd := rampStart.Add(cfg.Ramp)
	winStart := rampEnd.Add(cfg.Warmup)
	winEnd := winStart.Add(cfg.Duration)
	m := &monitor{b: b, lag: &lag, idle: idle, start: time.Now()}
	if err := m.loop(ctx, rampEnd, winStart, winEnd); err != nil {
		return nil, err
	}
	m.fill(res)
	return res, nil
}

// startPublishers starts one publisher per stream and waits until every
// one publishes and has sent two key frames (so GOP caches hold a full
// GOP, as in steady state).
func (b *bench) startPublishers(ctx context.Context, wg *sync.WaitGroup) error {
	cfg := b.cfg
	if cfg.Publish == "" {
		return nil
	}
	in := cfg.Input
	spread := min(max(in.GOP, time.Second), 5*time.Second)
	for i := range cfg.Streams {
		t, err := parseRTMPURL(expand(cfg.Publish, i))
		if err != nil {
			return fmt.Errorf("%w: %v", ErrSetup, err)
		}
		p := newPublisher(t, in, b.stats.shard(i), spread*time.Duration(i)/time.Duration(cfg.Streams))
		b.publishers = append(b.publishers, p)
		wg.Add(1)
		go func() { defer wg.Done(); p.run(ctx) }()
	}
	deadline := time.After(setupTimeout + spread + 5*time.Second)
	for _, p := range b.publishers {
		select {
		case err := <-p.ready:
			if err != nil {
				return fmt.Errorf("%w: %v", ErrSetup, err)
			}
		case <-deadline:
			return fmt.Errorf("%w: publisher %s/%s did not start", ErrSetup, p.target.app, p.target.stream)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// Steady state: every publisher live and two key frames sent, so GOP
	// caches hold a whole GOP (or 2 s for an input without key frames).
	now := time.Now()
	minSettle := now.Add(2 * time.Second)
	settleBy := now.Add(2*max(in.GOP, time.Second) + spread + 5*time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ready := true
		for _, p := range b.publishers {
			if !p.live.Load() || (in.GOP > 0 && p.keyframes.Load() < 2) {
				ready = false
			}
		}
		if ready && (in.GOP > 0 || time.Now().After(minSettle)) {
			return nil
		}
		if time.Now().After(settleBy) {
			for _, p := range b.publishers {
				if !p.live.Load() {
					p.errMu.Lock()
					err := p.lastErr
					p.errMu.Unlock()
					return fmt.Errorf("%w: publisher %s/%s is not live: %v", ErrSetup, p.target.app, p.target.stream, err)
				}
			}
			return fmt.Errorf("%w: publishers did not send two key frames in time", ErrSetup)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// monitor drives the phases and samples once per ProgressEvery.
type monitor struct {
	b     *bench
	lag   *Histogram
	idle  ProcSample
	start time.Time

	phase       string
	prevC       counters
	prevLat     *HistSnapshot
	prevT       time.Time
	prevSrv     ProcSample
	prevSelf    ProcSample
	srv, self   procWindow
	mach0, mach MachineSample
	machErr     error
	winC0       counters
	winLat0     *HistSnapshot
	winGap0     *HistSnapshot
	winLag0     *HistSnapshot
	winC1       counters
	winLat      HistSnapshot
	winGap      HistSnapshot
	winLag      HistSnapshot
	winSecs     float64
	connSum     float64
	connTicks   int
	connMin     int
	openStalls  uint64
	interrupted bool
}

func (m *monitor) loop(ctx context.Context, rampEnd, winStart, winEnd time.Time) error {
	b, cfg := m.b, m.b.cfg
	tick := time.NewTicker(cfg.ProgressEvery)
	defer tick.Stop()
	startT := time.NewTimer(time.Until(winStart))
	defer startT.Stop()
	endT := time.NewTimer(time.Until(winEnd))
	defer endT.Stop()
	m.prevC = b.stats.counters()
	m.prevLat = b.stats.snapshot(latencyOf)
	m.prevT = time.Now()
	m.prevSrv, m.prevSelf = m.idle, m.readSelf()
	m.phase = "ramp"
	inWindow := false
	for {
		select {
		case <-ctx.Done():
			m.interrupted = true
			m.endLine()
			return fmt.Errorf("interrupted: %w", ctx.Err())
		case <-startT.C:
			inWindow = true
			m.phase = "measure"
			m.winC0 = b.stats.counters()
			m.winLat0 = b.stats.snapshot(latencyOf)
			m.winGap0 = b.stats.snapshot(gapOf)
			var l HistSnapshot
			m.lag.AddTo(&l)
			m.winLag0 = &l
			m.connMin = len(b.players)
			m.sampleConnected()
			if cfg.PID > 0 {
				m.srv.hwmReset = ResetPeak(cfg.PID) == nil
				if s, err := ReadProc(cfg.PID); err == nil {
					m.srv.add(s)
				}
			}
			m.self.add(m.readSelf())
			m.mach0, m.machErr = ReadMachine()
		case <-endT.C:
			m.winC1 = b.stats.counters()
			m.winLat = b.stats.snapshot(latencyOf).Sub(m.winLat0)
			m.winGap = b.stats.snapshot(gapOf).Sub(m.winGap0)
			var l HistSnapshot
			m.lag.AddTo(&l)
			m.winLag = l.Sub(m.winLag0)
			if cfg.PID > 0 {
				s, err := ReadProc(cfg.PID)
				if err != nil {
					m.srv.err = err
				} else {
					m.srv.add(s)
				}
			}
			m.self.add(m.readSelf())
			m.sampleConnected()
			if m.machErr == nil {
				m.mach, m.machErr = ReadMachine()
			}
			m.winSecs = cfg.Duration.Seconds()
			if m.srv.samples >= 2 {
				m.winSecs = m.srv.last.At.Sub(m.srv.first.At).Seconds()
			}
			// A player waiting for its next frame longer than the
			// threshold right now is stalled too.
			now := time.Since(b.epoch)
			for _, p := range b.players {
				if lf := p.lastFrame.Load(); p.connected.Load() && lf > 0 && now-time.Duration(lf) > cfg.Stall {
					m.openStalls++
				}
			}
			m.phase = "done"
			m.progress(time.Now())
			m.endLine()
			return nil
		case now := <-tick.C:
			if !inWindow && now.After(rampEnd) {
				m.phase = "warmup"
			}
			m.watchdog()
			if inWindow {
				m.sampleConnected()
				if cfg.PID > 0 {
					if s, err := ReadProc(cfg.PID); err == nil {
						m.srv.add(s)
					} else {
						m.srv.err = err
					}
				}
			}
			m.progress(now)
		}
	}
}

func (m *monitor) readSelf() ProcSample {
	s, _ := ReadProc(os.Getpid())
	return s
}

func (m *monitor) connected() int {
	n := 0
	for _, p := range m.b.players {
		if p.connected.Load() {
			n++
		}
	}
	return n
}

// sampleConnected adds the connected players to the window's average and minimum.
func (m *monitor) sampleConnected() {
	conn := m.connected()
	m.connSum += float64(conn)
	m.connTicks++
	m.connMin = min(m.connMin, conn)
}

// watchdog drops connections that received nothing for cfg.Timeout.
func (m *monitor) watchdog() {
	now := time.Since(m.b.epoch)
	for _, p := range m.b.players {
		if lb := p.lastByte.Load(); lb > 0 && now-time.Duration(lb) > m.b.cfg.Timeout {
			p.closeConn(closeIdle)
		}
	}
}

// progress writes one status line about the last interval.
func (m *monitor) progress(now time.Time) {
	b, cfg := m.b, m.b.cfg
	c := b.stats.counters()
	lat := b.stats.snapshot(latencyOf)
	d := c.sub(m.prevC)
	dl := lat.Sub(m.prevLat)
	secs := now.Sub(m.prevT).Seconds()
	m.prevC, m.prevLat, m.prevT = c, lat, now
	if cfg.Progress == nil {
		return
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%5.0fs %-7s", now.Sub(m.start).Seconds(), m.phase)
	if n := len(b.players); n > 0 {
		fmt.Fprintf(&sb, " players %d/%d  %6.1f Mbit/s", m.connected(), n, float64(d.c[CBytes])*8/secs/1e6)
		if dl.N > 0 {
			fmt.Fprintf(&sb, "  latency p50 %s p99 %s", fmtMs(dl.Quantile(0.5)), fmtMs(dl.Quantile(0.99)))
		}
		fmt.Fprintf(&sb, "  stalls %d  errors %d", c.c[CStalls], c.errors())
	} else {
		fmt.Fprintf(&sb, " published %6.1f Mbit/s  errors %d", float64(d.c[CPublishedBytes])*8/secs/1e6, c.errors())
	}
	if cfg.PID > 0 {
		if s, err := ReadProc(cfg.PID); err == nil {
			if dt := s.At.Sub(m.prevSrv.At); dt > 0 && m.prevSrv.RSSKiB > 0 {
				fmt.Fprintf(&sb, "  server %3.0f%% %s", 100*float64(s.CPU-m.prevSrv.CPU)/float64(dt), fmtMiB(s.RSSKiB))
			}
			m.prevSrv = s
		}
	}
	if s := m.readSelf(); s.RSSKiB > 0 {
		if dt := s.At.Sub(m.prevSelf.At); dt > 0 && m.prevSelf.RSSKiB > 0 {
			fmt.Fprintf(&sb, "  hwbench %3.0f%%", 100*float64(s.CPU-m.prevSelf.CPU)/float64(dt))
		}
		m.prevSelf = s
	}
	if cfg.ProgressTTY {
		fmt.Fprintf(cfg.Progress, "\r\033[K%s", sb.String())
	} else {
		fmt.Fprintln(cfg.Progress, sb.String())
	}
}

func (m *monitor) endLine() {
	if m.b.cfg.Progress != nil && m.b.cfg.ProgressTTY {
		fmt.Fprintln(m.b.cfg.Progress)
	}
}

func fmtMs(d time.Duration) string {
	return strconv.FormatFloat(ms(d), 'f', -1, 64) + " ms"
}

func fmtMiB(kib int64) string {
	return fmt.Sprintf("%.0f MiB", float64(kib)/1024)
}

func ms(d time.Duration) float64 {
	return float64(d.Round(10*time.Microsecond)) / float64(time.Millisecond)
}
