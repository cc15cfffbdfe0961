package soak

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/headwater-media/headwater/internal/hwbench"
	"github.com/headwater-media/headwater/pkg/flv"
)

// Churn schedule. Publishers live 30-120 s and pause 1-5 s; players stay
// 5-60 s and pause 0.2-2 s; stalls last 3-20 s (the server's default
// write timeout is 10 s, so some stalled players are cut and some resume).
const (
	pubLifeMin, pubLifeMax     = 30 * time.Second, 120 * time.Second
	pubPauseMin, pubPauseMax   = 1 * time.Second, 5 * time.Second
	pubStopGrace               = 10 * time.Second // SIGINT to SIGKILL
	playStayMin, playStayMax   = 5 * time.Second, 60 * time.Second
	playPauseMin, playPauseMax = 200 * time.Millisecond, 2 * time.Second
	stallMin, stallMax         = 3 * time.Second, 20 * time.Second
	playIdleTimeout            = 30 * time.Second // no tag for this long: error
	blipPercent                = 10
	stallPercent               = 10
	absentPercent              = 5 // requests for a key that is never published
)

// counters are the load side's totals; all fields are updated atomically.
type counters struct {
	playsStarted  atomic.Uint64 // 200 responses
	playsClean    atomic.Uint64 // left on schedule, blips, or clean end of stream
	notFound      atomic.Uint64 // 404s
	playErrors    atomic.Uint64 // everything else, see errKinds
	stalls        atomic.Uint64 // plays that stopped reading for a while
	stallCuts     atomic.Uint64 // stalled plays the server disconnected (expected)
	bytesRead     atomic.Uint64
	tagsRead      atomic.Uint64
	playersActive atomic.Int64 // plays with a 200 response, not yet closed

	pubStarts     atomic.Uint64
	pubCleanStops atomic.Uint64 // SIGINT, exited by itself
	pubKills      atomic.Uint64 // SIGKILL by schedule (or SIGINT ignored)
	pubFailures   atomic.Uint64 // ffmpeg exited before it was stopped
	pubLive       atomic.Int64  // ffmpeg processes running

	mu       sync.Mutex
	errKinds map[string]int // normalized error text -> count (players and publishers)
}

// snapshot is a copy of counters for a CSV row.
type snapshot struct {
	PlaysStarted, PlaysClean, NotFound, PlayErrors, Stalls, StallCuts uint64
	BytesRead, TagsRead                                               uint64
	PlayersActive                                                     int64
	PubStarts, PubCleanStops, PubKills, PubFailures                   uint64
	PubLive                                                           int64
}

func (c *counters) snapshot() snapshot {
	return snapshot{
		PlaysStarted: c.playsStarted.Load(), PlaysClean: c.playsClean.Load(),
		NotFound: c.notFound.Load(), PlayErrors: c.playErrors.Load(),
		Stalls: c.stalls.Load(), StallCuts: c.stallCuts.Load(), BytesRead: c.bytesRead.Load(), TagsRead: c.tagsRead.Load(),
		PlayersActive: c.playersActive.Load(),
		PubStarts:     c.pubStarts.Load(), PubCleanStops: c.pubCleanStops.Load(),
		PubKills: c.pubKills.Load(), PubFailures: c.pubFailures.Load(), PubLive: c.pubLive.Load(),
	}
}

var addrRE = regexp.MustCompile(`\d+\.\d+\.\d+\.\d+:\d+|\[[0-9a-f:]+\]:\d+|pid \d+`)

// noteError counts err under a normalized text (addresses stripped).
func (c *counters) noteError(kind string, err error) {
	msg := kind
	if err != nil {
		msg += ": " + addrRE.ReplaceAllString(err.Error(), "ADDR")
	}
	if len(msg) > 160 {
		msg = msg[:160] + "..."
	}
	c.mu.Lock()
	if c.errKinds == nil {
		c.errKinds = make(map[string]int)
	}
	c.errKinds[msg]++
	c.mu.Unlock()
}

type errCount struct {
	Text  string
	Count int
}

// topErrors returns the n most frequent error texts.
func (c *counters) topErrors(n int) []errCount {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]errCount, 0, len(c.errKinds))
	for k, v := range c.errKinds {
		out = append(out, errCount{k, v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Text < out[j].Text
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// between returns a uniformly random duration in [lo, hi].
func between(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(rng.Int64N(int64(hi-lo)+1))
}

// publisher churns one ffmpeg process on one key.
type publisher struct {
	id     int
	ffmpeg string
	url    string
	log    io.Writer
	rng    *rand.Rand
	c      *counters
}

func ffmpegArgs(url string) []string {
	return []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
		"-f", "lavfi", "-i", "sine",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "64k",
		"-f", "flv", url}
}

// run publishes, stops and restarts until ctx is done; the last ffmpeg is
// stopped (SIGINT, then SIGKILL after a grace period) before it returns.
func (p *publisher) run(ctx context.Context) {
	if !hwbench.SleepCtx(ctx, between(p.rng, 0, 3*time.Second)) {
		return
	}
	clean := p.id%2 == 0 // alternate SIGINT and SIGKILL, out of phase across publishers
	for ctx.Err() == nil {
		cmd := exec.Command(p.ffmpeg, ffmpegArgs(p.url)...)
		cmd.Stdout, cmd.Stderr = p.log, p.log
		cmd.SysProcAttr = childAttr()
		if err := cmd.Start(); err != nil {
			p.c.pubFailures.Add(1)
			p.c.noteError("publisher start", err)
			if !hwbench.SleepCtx(ctx, pubPauseMax) {
				return
			}
			continue
		}
		fmt.Fprintf(p.log, "--- %s start pid %d\n", time.Now().Format(time.RFC3339), cmd.Process.Pid)
		p.c.pubStarts.Add(1)
		p.c.pubLive.Add(1)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()

		life := time.NewTimer(between(p.rng, pubLifeMin, pubLifeMax))
		select {
		case err := <-done:
			// ffmpeg gave up by itself: publish refused, connection lost...
			p.c.pubFailures.Add(1)
			p.c.noteError("publisher exited early", err)
			fmt.Fprintf(p.log, "--- %s exited early: %v\n", time.Now().Format(time.RFC3339), err)
		case <-life.C:
			p.stop(cmd, done, clean)
			clean = !clean
		case <-ctx.Done():
			p.stop(cmd, done, true)
		}
		life.Stop()
		p.c.pubLive.Add(-1)
		if !hwbench.SleepCtx(ctx, between(p.rng, pubPauseMin, pubPauseMax)) {
			return
		}
	}
}

// stop ends ffmpeg with SIGINT (clean: ffmpeg closes the stream) or SIGKILL
// (the server sees the TCP connection drop) and waits for it.
func (p *publisher) stop(cmd *exec.Cmd, done chan error, clean bool) {
	how := "SIGKILL"
	if clean {
		how = "SIGINT"
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-done:
			p.c.pubCleanStops.Add(1)
			fmt.Fprintf(p.log, "--- %s stopped with SIGINT\n", time.Now().Format(time.RFC3339))
			return
		case <-time.After(pubStopGrace):
			how = "SIGKILL after SIGINT was ignored for " + pubStopGrace.String()
			p.c.noteError("publisher", errors.New("ignored SIGINT"))
		}
	}
	_ = cmd.Process.Kill()
	<-done
	p.c.pubKills.Add(1)
	fmt.Fprintf(p.log, "--- %s stopped with %s\n", time.Now().Format(time.RFC3339), how)
}

// player churns HTTP-FLV plays.
type player struct {
	id     int
	base   string   // http://host:port
	keys   []string // app/name of the publishers
	client *http.Client
	// stallClient dials with a small receive buffer, so that a stalled
	// player backs up into the server within seconds instead of filling
	// megabytes of loopback socket buffers.
	stallClient *http.Client
	rng         *rand.Rand
	c           *counters
}

type playKind int

const (
	playNormal playKind = iota
	playBlip            // open and close at once
	playStall           // stop reading for a while mid-stream
)

// Causes with which a play's context is cancelled.
var (
	errStayOver = errors.New("stay over")
	errIdle     = errors.New("no tag for " + playIdleTimeout.String())
)

func (p *player) run(ctx context.Context) {
	if !hwbench.SleepCtx(ctx, between(p.rng, 0, 3*time.Second)) {
		return
	}
	for ctx.Err() == nil {
		p.playOnce(ctx)
		if !hwbench.SleepCtx(ctx, between(p.rng, playPauseMin, playPauseMax)) {
			return
		}
	}
}

// countingReader counts bytes read into n.
type countingReader struct {
	r io.Reader
	n *atomic.Uint64
}

func (c countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(uint64(n))
	return n, err
}

func (p *player) playOnce(ctx context.Context) {
	kind := playNormal
	switch r := p.rng.IntN(100); {
	case r < blipPercent:
		kind = playBlip
	case r < blipPercent+stallPercent:
		kind = playStall
	}
	key := p.keys[p.rng.IntN(len(p.keys))]
	if p.rng.IntN(100) < absentPercent {
		key = "live/absent"
	}
	stay := between(p.rng, playStayMin, playStayMax)
	stallAfter := between(p.rng, time.Second, stay/2)
	stallFor := between(p.rng, stallMin, stallMax)

	pctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(pctx, http.MethodGet, p.base+"/"+key+".flv", nil)
	if err != nil {
		panic(err)
	}
	client := p.client
	if kind == playStall {
		client = p.stallClient
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			p.c.playErrors.Add(1)
			p.c.noteError("play request", err)
		}
		return
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		p.c.notFound.Add(1)
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return
	default:
		if ctx.Err() == nil {
			p.c.playErrors.Add(1)
			p.c.noteError("play", fmt.Errorf("status %s", resp.Status))
		}
		return
	}
	p.c.playsStarted.Add(1)
	p.c.playersActive.Add(1)
	defer p.c.playersActive.Add(-1)
	if kind == playBlip {
		_ = resp.Body.Close()
		p.c.playsClean.Add(1)
		return
	}

	stayTimer := time.AfterFunc(stay, func() { cancel(errStayOver) })
	defer stayTimer.Stop()
	idle := time.AfterFunc(playIdleTimeout, func() { cancel(errIdle) })
	defer idle.Stop()

	start := time.Now()
	stalled := false
	r := flv.NewReader(bufio.NewReaderSize(countingReader{resp.Body, &p.c.bytesRead}, 32<<10))
	_, err = r.ReadHeader()
	for err == nil {
		var tag flv.Tag
		tag, err = r.ReadTag()
		if err != nil {
			break
		}
		p.c.tagsRead.Add(1)
		if tag.Type != flv.TagAudio && tag.Type != flv.TagVideo && tag.Type != flv.TagScript {
			err = fmt.Errorf("unexpected tag type %d", tag.Type)
			break
		}
		idle.Reset(playIdleTimeout)
		if kind == playStall && !stalled && time.Since(start) >= stallAfter {
			stalled = true
			p.c.stalls.Add(1)
			idle.Stop()
			hwbench.SleepCtx(pctx, stallFor) // the stay timer may end the play meanwhile
			idle.Reset(playIdleTimeout)
		}
	}
	cause := context.Cause(pctx)
	switch {
	case errors.Is(cause, errStayOver), ctx.Err() != nil:
		p.c.playsClean.Add(1) // our own close, or the soak is ending
	case errors.Is(err, io.EOF):
		p.c.playsClean.Add(1) // the stream ended between tags: publisher gone
	case stalled && !errors.Is(cause, errIdle):
		p.c.stallCuts.Add(1) // the server dropped a player that stopped reading
	default:
		p.c.playErrors.Add(1)
		if errors.Is(cause, errIdle) {
			err = errIdle
		}
		p.c.noteError("play", err)
	}
}

// stallRcvBuf is the receive buffer of stalling players' sockets.
const stallRcvBuf = 16 << 10

// newPlayerClient returns a client that opens one connection per play
// (no keep-alive, like real players), with the socket receive buffer set
// to rcvBuf when it is not 0.
func newPlayerClient(rcvBuf int) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if rcvBuf > 0 {
		d.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvBuf)
			})
			return errors.Join(err, serr)
		}
	}
	return &http.Client{Transport: &http.Transport{
		DialContext:           d.DialContext,
		DisableKeepAlives:     true,
		ResponseHeaderTimeout: 10 * time.Second,
	}}
}

// openLog creates (truncates) a log file.
func openLog(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
}
