package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	rtmp "github.com/yutopp/go-rtmp"
	rtmpmsg "github.com/yutopp/go-rtmp/message"
	"go.uber.org/goleak"

	"github.com/headwater-media/headwater/internal/config"
	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/rtmpclient"
	"github.com/headwater-media/headwater/internal/rtmptest"
	"github.com/headwater-media/headwater/internal/server"
	"github.com/headwater-media/headwater/pkg/flv"
)

// TestTorture runs a seeded random mix of publishers, players, API kicks and
// server shutdowns for TORTURE_DURATION (default 10s; `make torture` runs
// 60s or DURATION=...). TORTURE_SEED replays a run's decisions.
//
// Each round starts a server, lets the actors loose on a few keys, then
// shuts the server down while they are all still running. After every round:
// registry empty, every actor finished within its bound; at the end:
// goroutines, file descriptors and RSS back to baseline. Every player parses
// every tag it receives. A watchdog dumps all goroutine stacks into the
// failure if any operation or the round overruns its bound.
func TestTorture(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
	total := 10 * time.Second
	if v := os.Getenv("TORTURE_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(t, err, "TORTURE_DURATION")
		total = d
	}
	seed := time.Now().UnixNano()
	if v := os.Getenv("TORTURE_SEED"); v != "" {
		s, err := strconv.ParseInt(v, 10, 64)
		require.NoError(t, err, "TORTURE_SEED")
		seed = s
	}
	t.Logf("torture: seed %d, duration %v (replay: TORTURE_SEED=%d)", seed, total, seed)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("torture FAILED with seed %d: replay with TORTURE_SEED=%d TORTURE_DURATION=%v", seed, seed, total)
		}
	})
	tags := loadFLV(t, "testdata/torture.flv")
	useFFmpeg := true
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("ffmpeg not found: make test installs it")
		}
		useFFmpeg = false
	}

	runtime.GC()
	debug.FreeOSMemory()
	baseFDs, baseRSS, baseG := countFDs(t), selfRSSKiB(t), runtime.NumGoroutine()
	baseHeap := goMemKiB()
	baseGoroutines := goleak.IgnoreCurrent()

	round := 5 * time.Second
	if total >= time.Minute {
		round = 10 * time.Second
	}
	var st tortureStats
	start := time.Now()
	rounds := 0
	for r := 0; time.Since(start) < total; r++ {
		runRound(t, seed+int64(r), min(round, total-time.Since(start)+time.Second), tags, useFFmpeg, &st)
		if t.Failed() {
			return
		}
		rounds++
		if total >= time.Minute && r%6 == 5 {
			t.Logf("torture: %v, %d rounds: %s", time.Since(start).Round(time.Second), rounds, st.String())
		}
	}
	t.Logf("torture: %d rounds (server start → chaos → racing shutdown)", rounds)
	t.Logf("torture: %s", st.String())
	require.Positive(t, st.publishes.Load(), "no publish succeeded: the mix is broken")
	require.Positive(t, st.plays.Load(), "no play succeeded: the mix is broken")
	require.Positive(t, st.rtmpPlays.Load(), "no RTMP play succeeded: the mix is broken")

	goleak.VerifyNone(t, baseGoroutines)
	runtime.GC()
	debug.FreeOSMemory()
	httpClient.CloseIdleConnections()
	fds, rss, heap := countFDs(t), selfRSSKiB(t), goMemKiB()
	t.Logf("torture: goroutines %d → %d, fds %d → %d, Go heap and stacks in use %d → %d KiB, RSS %d → %d KiB (peak %d KiB, test process incl. clients and -race)",
		baseG, runtime.NumGoroutine(), baseFDs, fds, baseHeap, heap, baseRSS, rss, procStatusKiB(t, "VmHWM:"))
	require.LessOrEqual(t, fds, baseFDs+4, "file descriptors must return to baseline")
	// A leak of streams, buffers or goroutines stays in the Go heap and
	// stacks; under -race the RSS also keeps the detector's shadow of
	// every address touched (1 minute: +100 MB with the heap back at
	// +2 MB), so the RSS bound holds without -race only.
	require.Less(t, heap-baseHeap, 16<<10, "the Go heap and stacks must return to near their baseline")
	if !raceEnabled {
		require.Less(t, rss-baseRSS, 96<<10, "RSS must return to near its baseline")
	}
}

type tortureStats struct {
	publishes, pubRefused, pubResets, plays, notFound, cleanEnds, truncated, kicks, stalls, slow, aborts atomic.Int64
	hostile, idleCut                                                                                     atomic.Int64
	rtmpPlays, upstreamResets, originRestarts, authRounds, denied                                        atomic.Int64
	pushKicks                                                                                            atomic.Int64
	graces                                                                                               [4]atomic.Int64 // by registry.GraceEnd
}

func (s *tortureStats) String() string {
	return fmt.Sprintf("publishes %d (refused %d, resets %d), hostile publishes %d, idle connections cut %d, plays %d HTTP-FLV + %d RTMP (404 %d, clean ends %d, truncated %d, stalled %d, slow %d, aborted %d), kicks %d, edge upstream resets %d, origin restarts %d, rounds with hooks %d (plays denied %d), pushes kicked at their destination %d, graces resumed %d, expired %d, kicked %d, ended by shutdown %d",
		s.publishes.Load(), s.pubRefused.Load(), s.pubResets.Load(), s.hostile.Load(), s.idleCut.Load(), s.plays.Load(), s.rtmpPlays.Load(), s.notFound.Load(),
		s.cleanEnds.Load(), s.truncated.Load(), s.stalls.Load(), s.slow.Load(), s.aborts.Load(), s.kicks.Load(), s.upstreamResets.Load(), s.originRestarts.Load(), s.authRounds.Load(), s.denied.Load(), s.pushKicks.Load(),
		s.graces[registry.GraceResumed].Load(), s.graces[registry.GraceExpired].Load(), s.graces[registry.GraceKicked].Load(), s.graces[registry.GraceShutdown].Load())
}

// watchdog records a dump of every goroutine's stack when a guarded
// operation outlives its bound.
type watchdog struct {
	mu    sync.Mutex
	fired []string
}

func (w *watchdog) guard(name string, d time.Duration) (stop func()) {
	tm := time.AfterFunc(d, func() {
		buf := make([]byte, 4<<20)
		n := runtime.Stack(buf, true)
		w.mu.Lock()
		w.fired = append(w.fired, fmt.Sprintf("%s exceeded %v; all goroutines:\n%s", name, d, buf[:n]))
		w.mu.Unlock()
	})
	return func() { tm.Stop() }
}

func (w *watchdog) check(t *testing.T) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.fired) > 0 {
		t.Fatalf("deadlock watchdog: %s", w.fired[0])
	}
}

// failures collects actor-side assertion failures (actors cannot t.Fatal).
type failures struct {
	mu   sync.Mutex
	msgs []string
}

func (f *failures) add(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.msgs) < 20 {
		f.msgs = append(f.msgs, fmt.Sprintf(format, args...))
	}
}

func runRound(t *testing.T, seed int64, d time.Duration, tags []flvTag, useFFmpeg bool, st *tortureStats) {
	t.Helper()
	var wd watchdog
	defer wd.check(t)
	stopRound := wd.guard(fmt.Sprintf("round seed %d", seed), d+40*time.Second)
	defer stopRound()

	cfg := config.Default()
	cfg.RTMP.Addr, cfg.HTTP.Addr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.HTTP.WriteTimeout = 1500 * time.Millisecond
	cfg.RTMP.MediaTimeout = 2 * time.Second
	cfg.RTMP.HandshakeTimeout = 2 * time.Second
	cfg.Stream.QueueDuration = 2 * time.Second
	// In half the rounds, auth: a slow on_play hook (0-300 ms) that denies
	// one play in eight, and on_stop/on_unpublish to a server that counts
	// them, so that hooks run while publishers leave and players churn.
	var hooks *tortureHooks
	if rand.New(rand.NewSource(seed)).Intn(2) == 0 {
		hooks = newTortureHooks(seed)
		defer hooks.close()
		cfg.Hooks.OnPlay, cfg.Hooks.OnStop, cfg.Hooks.OnUnpublish = hooks.url+"/play", hooks.url+"/stop", hooks.url+"/unpublish"
		cfg.Hooks.Timeout = time.Second
		st.authRounds.Add(1)
	}
	// Reconnect grace: off, short (graces expire within the round) or the
	// default (resumed by the next publisher of the key, kicked, or ended
	// by a shutdown or restart).
	switch rand.New(rand.NewSource(seed + 1)).Intn(3) {
	case 0:
		cfg.Publish.Grace = 0
	case 1:
		cfg.Publish.Grace = 400 * time.Millisecond
	}
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel)
	// Every stream is pushed to a second server (kicked there now and
	// then: the push reconnects) and to a port where nothing listens (the
	// push backs off), while publishers, restarts and shutdowns churn.
	dcfg := config.Default()
	dcfg.RTMP.Addr, dcfg.HTTP.Addr = "127.0.0.1:0", "127.0.0.1:0"
	dest := server.New(dcfg, log)
	require.NoError(t, dest.Start())
	cfg.Relay.Push = map[string][]string{"live": {"rtmp://" + dest.RTMPAddr().String() + "/pushed/{stream}", "rtmp://127.0.0.1:1/nowhere/{stream}"}}
	cfg.Relay.BackoffMin, cfg.Relay.BackoffMax, cfg.Relay.ConnectTimeout = 100*time.Millisecond, time.Second, time.Second
	srv := server.New(cfg, log)
	require.NoError(t, srv.Start())
	rtmpAddr, httpURL := srv.RTMPAddr().String(), "http://"+srv.HTTPAddr().String()
	var origin atomic.Pointer[server.Server] // srv, or its restart
	origin.Store(srv)

	// An edge in front of it (HTTP-FLV upstream first, RTMP second), with a
	// short linger and failover so that upstreams come and go in a round.
	ecfg := cfg
	ecfg.Relay.Push = nil
	ecfg.Edge.Origins = []string{httpURL, "rtmp://" + rtmpAddr}
	ecfg.Edge.Linger, ecfg.Edge.FailoverTimeout, ecfg.Edge.ConnectTimeout = 300*time.Millisecond, time.Second, time.Second
	edge := server.New(ecfg, log)
	require.NoError(t, edge.Start())
	edgeHTTP, edgeRTMP := "http://"+edge.HTTPAddr().String(), "rtmp://"+edge.RTMPAddr().String()

	keys := []string{"k0", "k1", "k2", "k3", "k4"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var actors sync.WaitGroup
	var fails failures
	rng := rand.New(rand.NewSource(seed))
	spawn := func(f func(*rand.Rand)) {
		r := rand.New(rand.NewSource(rng.Int63()))
		actors.Add(1)
		go func() { defer actors.Done(); f(r) }()
	}

	// Publishers: two per key for k0..k2 so that they race for the key;
	// on k1 the second is a hot-standby backup (?role=backup), so that
	// takeovers happen as they come and go.
	for _, k := range keys[:3] {
		for i := 0; i < 2; i++ {
			name := k
			if k == "k1" && i == 1 {
				name = k + "?role=backup"
			}
			spawn(func(r *rand.Rand) { publisherLoop(ctx, r, rtmpAddr, name, tags, st) })
		}
	}
	if useFFmpeg {
		spawn(func(r *rand.Rand) { ffmpegLoop(ctx, r, rtmpAddr, "k3", st) })
	} else {
		spawn(func(r *rand.Rand) { publisherLoop(ctx, r, rtmpAddr, "k3", tags, st) })
	}
	// A hostile publisher on k4, and a connection that never publishes.
	spawn(func(r *rand.Rand) {
		for sleepCtx(ctx, time.Duration(r.Intn(500))*time.Millisecond) {
			hostileOnce(ctx, r, rtmpAddr, "k4", tags, st)
		}
	})
	spawn(func(r *rand.Rand) {
		for sleepCtx(ctx, time.Duration(r.Intn(1000))*time.Millisecond) {
			idleOnce(ctx, rtmpAddr, st)
		}
	})
	// Players on every key, joining before, at and after publish: HTTP-FLV
	// and RTMP, at the origin and at the edge.
	for i := 0; i < 8; i++ {
		spawn(func(r *rand.Rand) { playerLoop(ctx, r, httpURL, keys, st, &fails) })
	}
	for i := 0; i < 4; i++ {
		spawn(func(r *rand.Rand) { playerLoop(ctx, r, edgeHTTP, keys, st, &fails) })
	}
	for _, base := range []string{"rtmp://" + rtmpAddr, edgeRTMP} {
		for i := 0; i < 2; i++ {
			spawn(func(r *rand.Rand) { rtmpPlayerLoop(ctx, r, base, keys, st, &fails) })
		}
	}
	// Upstream resets: the edge's pulls are kicked (as any publisher).
	spawn(func(r *rand.Rand) {
		for sleepCtx(ctx, time.Duration(300+r.Intn(1500))*time.Millisecond) {
			req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, edgeHTTP+"/api/v1/streams/live/"+keys[r.Intn(len(keys))], nil)
			if resp, err := httpClient.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusNoContent {
					st.upstreamResets.Add(1)
				}
			}
		}
	})
	// Pushes kicked at their destination.
	spawn(func(r *rand.Rand) {
		for sleepCtx(ctx, time.Duration(300+r.Intn(1500))*time.Millisecond) {
			if dest.Registry().Kick(registry.Key{App: "pushed", Name: keys[r.Intn(len(keys))]}) == nil {
				st.pushKicks.Add(1)
			}
		}
	})
	// API kicks.
	spawn(func(r *rand.Rand) {
		for sleepCtx(ctx, time.Duration(300+r.Intn(1200))*time.Millisecond) {
			req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, httpURL+"/api/v1/streams/live/"+keys[r.Intn(len(keys))], nil)
			if resp, err := httpClient.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusNoContent {
					st.kicks.Add(1)
				}
			}
		}
	})
	// A monitor: registry operations must always return promptly.
	spawn(func(r *rand.Rand) {
		for sleepCtx(ctx, 50*time.Millisecond) {
			stop := wd.guard("registry Stats/Streams", 5*time.Second)
			for _, s := range []*server.Server{origin.Load(), edge, dest} {
				_ = s.Registry().Stats()
				_ = s.Registry().Streams()
			}
			stop()
		}
	})

	// Let them loose; in half the rounds the origin restarts midway on the
	// same ports (the edge's upstreams fail and fail over); then shut the
	// origin down, then the edge, while everything is still running.
	shutdown := func(s *server.Server, what string) {
		stopShutdown := wd.guard(what+" shutdown", 10*time.Second)
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := s.Shutdown(sctx)
		scancel()
		stopShutdown()
		require.NoError(t, err, "%s shutdown within 5 s", what)
		require.Equal(t, registry.Stats{}, s.Registry().Stats(), "%s registry must be empty after round seed %d", what, seed)
		for end, n := range s.Registry().Graces() {
			st.graces[end].Add(int64(n))
		}
	}
	if rng.Intn(2) == 0 {
		sleepCtx(context.Background(), d/2)
		shutdown(srv, "origin (restart)")
		rcfg := cfg
		rcfg.RTMP.Addr, rcfg.HTTP.Addr = rtmpAddr, srv.HTTPAddr().String()
		srv = server.New(rcfg, log)
		require.NoError(t, srv.Start(), "origin restart on the same ports")
		origin.Store(srv)
		st.originRestarts.Add(1)
		sleepCtx(context.Background(), d/2)
	} else {
		sleepCtx(context.Background(), d)
	}
	shutdown(srv, "origin")
	shutdown(edge, "edge")
	shutdown(dest, "push destination")
	cancel()
	stopActors := wd.guard("actors ending after shutdown", 20*time.Second)
	actors.Wait()
	stopActors()
	wd.check(t)

	fails.mu.Lock()
	defer fails.mu.Unlock()
	if len(fails.msgs) > 0 {
		t.Fatalf("seed %d: %d player failures, first: %s", seed, len(fails.msgs), strings.Join(fails.msgs, "\n"))
	}
	require.Equal(t, registry.Stats{}, srv.Registry().Stats(), "registry must be empty after round seed %d", seed)
	require.Equal(t, registry.Stats{}, edge.Registry().Stats(), "edge registry must be empty after round seed %d", seed)
}

// rtmpPlayerLoop plays a random key over RTMP again and again, for a
// random life, checking what playOnce checks for HTTP-FLV.
func rtmpPlayerLoop(ctx context.Context, r *rand.Rand, base string, keys []string, st *tortureStats, fails *failures) {
	for sleepCtx(ctx, time.Duration(r.Intn(300))*time.Millisecond) {
		rtmpPlayOnce(ctx, r, base+"/live/"+keys[r.Intn(len(keys))], st, fails)
	}
}

func rtmpPlayOnce(ctx context.Context, r *rand.Rand, url string, st *tortureStats, fails *failures) {
	life := time.Duration(200+r.Intn(3000)) * time.Millisecond
	pctx, cancel := context.WithTimeout(ctx, life)
	defer cancel()
	p, err := rtmpclient.Play(pctx, url, rtmpclient.Options{Timeout: 3 * time.Second, ReadTimeout: 5 * time.Second})
	if errors.Is(err, rtmpclient.ErrStreamNotFound) {
		st.notFound.Add(1)
		return
	}
	if err != nil {
		return // refused or cut during set-up (shutdown, kick): nothing to check
	}
	defer p.Close()
	stop := context.AfterFunc(pctx, func() { p.Close() })
	defer stop()
	st.rtmpPlays.Add(1)
	var (
		last       [32]uint32
		seen       [32]bool
		n          int
		firstVideo = true
	)
	for {
		tag, err := p.ReadTag()
		if err != nil {
			switch {
			case errors.Is(err, rtmpclient.ErrStreamEnded):
				st.cleanEnds.Add(1)
			case pctx.Err() != nil, isNetErr(err), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
				st.truncated.Add(1)
			default:
				fails.add("%s: RTMP play failed after %d tags: %v", url, n, err)
			}
			return
		}
		n++
		typ := tag.Type & 31
		if seen[typ] && tag.Timestamp < last[typ] {
			fails.add("%s: track %d timestamp %d after %d", url, typ, tag.Timestamp, last[typ])
			return
		}
		seen[typ], last[typ] = true, tag.Timestamp
		if tag.Type == flv.TagVideo {
			vi, err := flv.ParseVideo(tag.Data)
			if err != nil {
				fails.add("%s: bad video tag after %d tags: %v: ts %d len %d first % x", url, n, err, tag.Timestamp, len(tag.Data), tag.Data[:min(len(tag.Data), 48)])
				return
			}
			if !vi.SequenceHeader && !vi.EndOfSequence {
				if firstVideo && !vi.Keyframe {
					fails.add("%s: first video frame is not a keyframe", url)
					return
				}
				firstVideo = false
			}
		}
	}
}

// sleepCtx sleeps d or until ctx is done; it reports whether ctx is still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return ctx.Err() == nil
	case <-ctx.Done():
		return false
	}
}

type flvTag struct {
	typ     uint8
	ts      uint32
	payload []byte
}

func loadFLV(t *testing.T, path string) []flvTag {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	r := flv.NewReader(bytes.NewReader(b))
	_, err = r.ReadHeader()
	require.NoError(t, err)
	var tags []flvTag
	for {
		tag, err := r.ReadTag()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		tags = append(tags, flvTag{typ: tag.Type, ts: tag.Timestamp, payload: bytes.Clone(tag.Data)})
	}
	require.NotEmpty(t, tags)
	return tags
}

// publisherLoop publishes key again and again with an in-process go-rtmp
// client replaying tags (timestamps continue across loops), ending each
// session cleanly, by closing, or by resetting the TCP connection mid-tag.
func publisherLoop(ctx context.Context, r *rand.Rand, addr, key string, tags []flvTag, st *tortureStats) {
	for sleepCtx(ctx, time.Duration(r.Intn(800))*time.Millisecond) {
		publishOnce(ctx, r, addr, key, tags, st)
	}
}

func publishOnce(ctx context.Context, r *rand.Rand, addr, key string, tags []flvTag, st *tortureStats) {
	raw, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(30 * time.Second))
	pc := &publisherConn{Conn: raw}
	cc, err := rtmp.NewClientConn(pc, &rtmp.ConnConfig{})
	if err != nil {
		return
	}
	defer cc.Close()
	if err := cc.Connect(&rtmpmsg.NetConnectionConnect{Command: rtmpmsg.NetConnectionConnectCommand{
		App: "live", FlashVer: "torture/1.0", TCURL: "rtmp://" + addr + "/live"}}); err != nil {
		return
	}
	s, err := cc.CreateStream(nil, 4096)
	if err != nil {
		return
	}
	name := key + "?t=1"
	if strings.Contains(key, "?") {
		name = key + "&t=1"
	}
	if err := s.Publish(&rtmpmsg.NetStreamPublish{PublishingName: name, PublishingType: "live"}); err != nil {
		return
	}
	st.publishes.Add(1)
	life := time.Duration(500+r.Intn(4000)) * time.Millisecond
	end := time.Now().Add(life)
	mode := r.Intn(3) // 0 clean, 1 close, 2 reset mid-tag
	start := time.Now()
	var offset uint32
	for loop := 0; ; loop++ {
		for i, tg := range tags {
			if ctx.Err() != nil || time.Now().After(end) {
				if mode == 0 {
					_ = s.DeleteStream(&rtmpmsg.NetStreamDeleteStream{StreamID: s.StreamID()})
				}
				if mode == 2 {
					// Half a chunk header, after the last whole message, then RST.
					pc.resetMidChunk(cc)
					if tc, ok := raw.(*net.TCPConn); ok {
						_ = tc.SetLinger(0)
					}
					st.pubResets.Add(1)
				}
				return
			}
			ts := tg.ts + offset
			// Pace at twice real time.
			if wait := time.Duration(ts)*time.Millisecond/2 - time.Since(start); wait > 0 {
				if !sleepCtx(ctx, wait) {
					continue
				}
			}
			var msg rtmpmsg.Message
			switch tg.typ {
			case flv.TagAudio:
				msg = &rtmpmsg.AudioMessage{Payload: bytes.NewReader(tg.payload)}
			case flv.TagVideo:
				msg = &rtmpmsg.VideoMessage{Payload: bytes.NewReader(tg.payload)}
			default:
				if loop > 0 || i > 0 {
					continue
				}
				msg = &rtmpmsg.DataMessage{Name: "@setDataFrame", Encoding: rtmpmsg.EncodingTypeAMF0, Body: bytes.NewReader(tg.payload)}
			}
			if err := s.Write(4+int(tg.typ&1), ts, msg); err != nil {
				st.pubRefused.Add(1) // refused (duplicate), kicked or shut down
				return
			}
		}
		offset += tags[len(tags)-1].ts + 40
	}
}

// halfChunk is the start of a chunk that never ends: a type 0 header on
// chunk stream 6 cut after its timestamp and two bytes of its length.
var halfChunk = []byte{0x06, 0x00, 0x00, 0x10, 0x00, 0x10}

// publisherConn is a torture publisher's connection as its go-rtmp client
// sees it, so that the publisher can end the session with halfChunk.
//
// go-rtmp writes a message from a goroutine of its own after
// Stream.Write has returned, chunk by chunk (the fixture's 4822-byte
// keyframe is two chunks at 4096). Bytes written straight to the socket
// meanwhile land in front of chunks still queued, and the server reads
// another chunk stream than the one meant. In front of that keyframe (5 s
// into a session), halfChunk's header took 6 bytes of the keyframe's
// header and 4096 bytes as its payload; the first chunk's last two bytes
// read as two empty messages on new chunk streams; and the second chunk
// (type 3 on chunk stream 5) began a new video message of the previous
// one's length, 154 bytes from the keyframe's byte 4096 (0xfb ...): players
// got "reserved video frame type 7", which the server had been sent. So
// go-rtmp writes through Write, and resetMidChunk lets it finish first.
type publisherConn struct {
	net.Conn

	cut     atomic.Bool    // a go-rtmp write failed: a chunk may be cut short
	writing sync.WaitGroup // go-rtmp's writes in progress

	// mu guards closed and every writing.Add, so that no Add races the
	// Wait in Close. Never held across I/O.
	mu     sync.Mutex
	closed bool // go-rtmp closed it: it writes nothing more
}

func (c *publisherConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, net.ErrClosed
	}
	c.writing.Add(1)
	c.mu.Unlock()
	defer c.writing.Done()
	n, err := c.Conn.Write(b)
	if err != nil {
		c.cut.Store(true)
	}
	return n, err
}

// Close ends go-rtmp's use of the connection, not the connection (the
// publisher closes that), once its writes in progress have returned: one
// still blocked on a server that does not read is cut short.
func (c *publisherConn) Close() error {
	_ = c.Conn.SetWriteDeadline(time.Now())
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.writing.Wait()
	return c.Conn.SetWriteDeadline(time.Now().Add(time.Second))
}

// resetMidChunk closes cc, which waits (up to 3 s) until go-rtmp has
// written every message queued, then writes halfChunk, on a chunk
// boundary. If a go-rtmp write was cut short, the stream already ends
// mid-chunk and nothing is added: bytes after a cut chunk would be read as
// its payload.
func (c *publisherConn) resetMidChunk(cc *rtmp.ClientConn) {
	_ = cc.Close()
	if !c.cut.Load() {
		_, _ = c.Conn.Write(halfChunk)
	}
}

// hostileOnce publishes the fixture once over a raw connection with its
// timestamps wrapped, jumped back and forward, and its media mixed with
// unknown message types, unknown commands and data, aggregates and a bare
// onMetaData; players must still see every track's timestamps go forward.
func hostileOnce(ctx context.Context, r *rand.Rand, addr, key string, tags []flvTag, st *tortureStats) {
	c, err := rtmptest.Dial(addr, 30*time.Second)
	if err != nil {
		return
	}
	defer c.Close()
	if c.Connect("live") != nil || c.Publish(key) != nil {
		return
	}
	st.hostile.Add(1)
	end := time.Now().Add(time.Duration(500+r.Intn(3000)) * time.Millisecond)
	base := []uint32{0, math.MaxUint32 - 2000, 1 << 24, math.MaxInt32 - 1000}[r.Intn(4)]
	start := time.Now()
	var shift uint32
	skip := false
	for i, tg := range tags {
		if ctx.Err() != nil || time.Now().After(end) {
			return
		}
		if wait := time.Duration(tg.ts)*time.Millisecond/2 - time.Since(start); wait > 0 && !sleepCtx(ctx, wait) {
			return
		}
		if skip {
			skip = false
			continue
		}
		if r.Intn(40) == 0 { // the encoder's clock jumps
			shift += uint32([]int64{-4000, 3 * 3600 * 1000, -3600 * 1000, 700}[r.Intn(4)])
		}
		ts := base + shift + tg.ts
		var err error
		switch {
		case tg.typ == flv.TagScript && r.Intn(2) == 0:
			err = c.Send(rtmptest.TypeData, ts, tg.payload) // bare onMetaData
		case tg.typ == flv.TagScript:
			err = c.Send(rtmptest.TypeData, ts, rtmptest.SetDataFrame(tg.payload))
		case r.Intn(8) == 0 && i+1 < len(tags) && tags[i+1].typ != flv.TagScript:
			// This tag and the next in one aggregate.
			next := tags[i+1]
			skip = true
			err = c.Send(rtmptest.TypeAggregate, ts, rtmptest.Aggregate(
				rtmptest.Sub{Type: tg.typ, TS: 1000, Payload: tg.payload},
				rtmptest.Sub{Type: next.typ, TS: 1000 + next.ts - tg.ts, Payload: next.payload}))
		default:
			err = c.Send(tg.typ, ts, tg.payload)
		}
		if err == nil && r.Intn(4) == 0 {
			err = c.Send([]byte{0, 7, 16, 99, 255}[r.Intn(5)], ts, []byte{1, 2, 3})
		}
		if err == nil && r.Intn(16) == 0 {
			err = c.Chunks(func(ch *rtmptest.Chunker) {
				ch.Msg(3, rtmptest.TypeCommand, 0, 0, rtmptest.Command("noSuchCommand", 0, rtmptest.Args{nil}))
			})
		}
		if err != nil {
			st.pubRefused.Add(1) // refused (k4 is live already), kicked or shut down
			return
		}
	}
}

// idleOnce opens a connection that connects and then only sends
// acknowledgements: the server must cut it at the handshake timeout.
func idleOnce(ctx context.Context, addr string, st *tortureStats) {
	c, err := rtmptest.Dial(addr, 30*time.Second)
	if err != nil {
		return
	}
	defer c.Close()
	if c.Connect("live") != nil {
		return
	}
	for {
		select {
		case <-c.Done():
			st.idleCut.Add(1)
			return
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
			_ = c.Control(rtmptest.TypeAck, []byte{0, 0, 0, 16})
		}
	}
}

// ffmpegLoop keeps one real ffmpeg publisher (stream copy of the fixture,
// looping) coming and going on key.
func ffmpegLoop(ctx context.Context, r *rand.Rand, addr, key string, st *tortureStats) {
	for sleepCtx(ctx, time.Duration(r.Intn(500))*time.Millisecond) {
		cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "quiet", "-re", "-stream_loop", "-1",
			"-i", "testdata/torture.flv", "-c", "copy", "-f", "flv", "rtmp://"+addr+"/live/"+key)
		if cmd.Start() != nil {
			return
		}
		st.publishes.Add(1)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(time.Duration(1+r.Intn(4)) * time.Second):
			_ = cmd.Process.Kill()
			<-done
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			<-done
		}
	}
}

// playerLoop plays random keys with random behaviour until ctx is done.
func playerLoop(ctx context.Context, r *rand.Rand, base string, keys []string, st *tortureStats, fails *failures) {
	for sleepCtx(ctx, time.Duration(r.Intn(300))*time.Millisecond) {
		url := base + "/live/" + keys[r.Intn(len(keys))] + ".flv"
		switch r.Intn(10) {
		case 0:
			abortAfterHeaders(ctx, url)
			st.aborts.Add(1)
		default:
			playOnce(ctx, r, url, st, fails)
		}
	}
}

// abortAfterHeaders sends a request and disconnects between the response
// headers and the body.
func abortAfterHeaders(ctx context.Context, url string) {
	host := strings.TrimPrefix(url, "http://")
	host, path, _ := strings.Cut(host, "/")
	d := net.Dialer{Timeout: 2 * time.Second}
	c, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET /%s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host)
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadString('\n')
		if err != nil || line == "\r\n" {
			return
		}
	}
}

func playOnce(ctx context.Context, r *rand.Rand, url string, st *tortureStats, fails *failures) {
	life := time.Duration(200+r.Intn(3000)) * time.Millisecond
	pctx, cancel := context.WithTimeout(ctx, life)
	defer cancel()
	req, _ := http.NewRequestWithContext(pctx, http.MethodGet, url, nil)
	resp, err := httpClient.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		st.notFound.Add(1)
		return
	}
	if resp.StatusCode == http.StatusForbidden {
		st.denied.Add(1) // the on_play hook said no
		return
	}
	if resp.StatusCode != http.StatusOK {
		fails.add("%s: status %d", url, resp.StatusCode)
		return
	}
	st.plays.Add(1)
	behaviour := r.Intn(6) // 0 stall, 1 slow, else normal
	var body io.Reader = resp.Body
	switch behaviour {
	case 0:
		st.stalls.Add(1)
		<-pctx.Done() // never read; the server must cut us or we leave
		return
	case 1:
		st.slow.Add(1)
		body = &slowReader{r: resp.Body, chunk: 2048, pause: 20 * time.Millisecond}
	}
	fr := flv.NewReader(body)
	h, err := fr.ReadHeader()
	if err != nil {
		return // ended or cut before the header: nothing to check
	}
	var (
		last       [32]uint32
		seen       [32]bool
		media      bool
		n          int
		firstVideo = true
	)
	for {
		tag, err := fr.ReadTag()
		if err != nil {
			switch {
			case errors.Is(err, io.EOF):
				st.cleanEnds.Add(1)
			case errors.Is(err, io.ErrUnexpectedEOF), pctx.Err() != nil, isNetErr(err):
				st.truncated.Add(1)
			default:
				fails.add("%s: malformed FLV after %d tags: %v", url, n, err)
			}
			return
		}
		n++
		typ := tag.Type & 31
		if seen[typ] && tag.Timestamp < last[typ] {
			fails.add("%s: track %d timestamp %d after %d", url, typ, tag.Timestamp, last[typ])
			return
		}
		seen[typ], last[typ] = true, tag.Timestamp
		switch tag.Type {
		case flv.TagVideo:
			if !h.HasVideo {
				fails.add("%s: video tag but header says no video", url)
				return
			}
			vi, err := flv.ParseVideo(tag.Data)
			if err != nil {
				fails.add("%s: bad video tag after %d tags: %v: ts %d len %d first % x", url, n, err, tag.Timestamp, len(tag.Data), tag.Data[:min(len(tag.Data), 48)])
				return
			}
			if !vi.SequenceHeader && !vi.EndOfSequence {
				if firstVideo && !vi.Keyframe {
					fails.add("%s: first video frame is not a keyframe", url)
					return
				}
				firstVideo = false
				media = true
			}
		case flv.TagAudio:
			if !h.HasAudio {
				fails.add("%s: audio tag but header says no audio", url)
				return
			}
			if ai, err := flv.ParseAudio(tag.Data); err == nil && !ai.SequenceHeader {
				media = true
			}
		case flv.TagScript:
			if media {
				// Metadata may be re-sent in-band; nothing to check.
			}
		}
	}
}

func isNetErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "connection reset")
}

type slowReader struct {
	r     io.Reader
	chunk int
	pause time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	time.Sleep(s.pause) // deliberately slow: this player's pace, not synchronisation
	if len(p) > s.chunk {
		p = p[:s.chunk]
	}
	return s.r.Read(p)
}

func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(ents)
}

func selfRSSKiB(t *testing.T) int { return rssKiB(t, os.Getpid()) }

// goMemKiB is the Go heap and goroutine stacks in use, in KiB: what a
// leak of streams, buffers or goroutines grows, without the memory the
// runtime (and -race's shadow) keeps mapped.
func goMemKiB() int {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int((m.HeapInuse + m.StackInuse) >> 10)
}

// procStatusKiB reads one kB field of /proc/self/status.
func procStatusKiB(t *testing.T, field string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			require.NoError(t, err)
			return n
		}
	}
	return 0
}

// tortureHooks is an HTTP hook server for the torture: on_play waits a
// random 0-300 ms and denies one call in eight; the others answer at once.
type tortureHooks struct {
	srv *http.Server
	ln  net.Listener
	url string
	mu  sync.Mutex
	rng *rand.Rand
}

func newTortureHooks(seed int64) *tortureHooks {
	h := &tortureHooks{rng: rand.New(rand.NewSource(seed))}
	h.ln, _ = net.Listen("tcp", "127.0.0.1:0")
	h.url = "http://" + h.ln.Addr().String()
	h.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.URL.Path != "/play" {
			return
		}
		h.mu.Lock()
		wait, deny := time.Duration(h.rng.Intn(300))*time.Millisecond, h.rng.Intn(8) == 0
		h.mu.Unlock()
		select {
		case <-time.After(wait):
		case <-r.Context().Done():
		}
		if deny {
			w.WriteHeader(http.StatusForbidden)
		}
	})}
	go func() { _ = h.srv.Serve(h.ln) }()
	return h
}

func (h *tortureHooks) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = h.srv.Shutdown(ctx)
}
