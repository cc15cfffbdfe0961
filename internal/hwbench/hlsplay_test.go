package hwbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/internal/config"
	"github.com/headwater-media/headwater/internal/server"
)

// hlsServer is an in-process headwater serving HLS with 1 s segments (the
// test input's GOP is 0.2 s; gohlslib's playlists of shorter segments
// say EXT-X-TARGETDURATION:0, which its client refuses), LL-HLS with
// lowLatency.
func hlsServer(t *testing.T, lowLatency bool) *server.Server {
	t.Helper()
	cfg := config.Default()
	cfg.RTMP.Addr, cfg.HTTP.Addr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.HLS.SegmentDuration = time.Second
	cfg.HLS.PartDuration = 100 * time.Millisecond
	cfg.HLS.LowLatency = lowLatency
	require.NoError(t, cfg.Validate())
	s := server.New(cfg, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	require.NoError(t, s.Start())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, s.Shutdown(ctx))
	})
	return s
}

// TestHLSPlayers plays from an in-process headwater with HLS players
// (gohlslib's client): plain HLS, LL-HLS with churn, and a stream that
// does not exist. The muxer starts on the first request, so the first
// players wait for the playlist to list three segments: not an error.
func TestHLSPlayers(t *testing.T) {
	in := testInput(t)
	ctx := context.Background()
	// The muxer starts with the first request: three segments take 3 s,
	// then the players start 3 s behind the live edge; the warm-up covers it.
	base := Config{Input: in, Streams: 1, Ramp: 300 * time.Millisecond, Warmup: 7 * time.Second,
		Duration: 2 * time.Second, Stall: time.Second, Timeout: 6 * time.Second}
	check := func(t *testing.T, res *Result, players int) {
		t.Helper()
		requireHLSClean(t, res, uint64(players))
		require.EqualValues(t, players, res.Window.PlayersMin)
		require.Positive(t, res.Window.Keyframes)
		require.Positive(t, res.Window.AudioFrames)
		require.Positive(t, res.Window.Mbps)
		require.NotNil(t, res.TTFB)
		require.NotNil(t, res.TTFF)
		require.NotNil(t, res.Latency, "stamped frames reach the players")
		require.Positive(t, res.Window.Stamped)
		require.Zero(t, res.Window.Cached, "frames are played at their time: every one is latency")
		require.Zero(t, res.Window.Stalls)
	}

	var plain float64
	t.Run("HLS", func(t *testing.T) {
		s := hlsServer(t, false)
		cfg := base
		cfg.Publish = "rtmp://" + s.RTMPAddr().String() + "/live/h"
		cfg.Play, cfg.Players = "http://"+s.HTTPAddr().String()+"/live/h/index.m3u8", 3
		res, err := Run(ctx, &cfg)
		require.NoError(t, err)
		check(t, res, 3)
		require.EqualValues(t, 3, res.TTFF.Samples, "one session each")
		// Three segments of at least 1 s behind the live edge.
		require.Greater(t, res.Latency.P50, 2000.0)
		require.Less(t, res.Latency.Max, 6000.0)
		plain = res.Latency.P50
		t.Logf("HLS: latency p50 %.0f ms p99 %.0f ms, TTFF p50 %.0f ms", res.Latency.P50, res.Latency.P99, res.TTFF.P50)
	})

	t.Run("LowLatency", func(t *testing.T) {
		s := hlsServer(t, true)
		// A publisher of the test's own that outlives the players: see
		// below.
		target, err := parseRTMPURL("rtmp://" + s.RTMPAddr().String() + "/live/ll")
		require.NoError(t, err)
		var st stats
		pub := newPublisher(target, in, st.shard(0), 0)
		pubCtx, stopPub := context.WithCancel(ctx)
		pubDone := make(chan struct{})
		go func() { defer close(pubDone); pub.run(pubCtx) }()
		defer func() { stopPub(); <-pubDone }()
		require.NoError(t, <-pub.ready)

		cfg := base
		cfg.Play, cfg.Players = "http://"+s.HTTPAddr().String()+"/live/ll/index.m3u8", 3
		cfg.Input, cfg.Churn, cfg.Warmup = nil, 1500*time.Millisecond, 2*time.Second
		res, err := Run(ctx, &cfg)
		require.NoError(t, err)
		requireHLSClean(t, res, 3)
		require.Positive(t, res.Window.ChurnCloses)
		require.Greater(t, res.TTFF.Samples, uint64(3), "reconnecting players get key frames again")
		require.NotNil(t, res.Latency)
		require.Positive(t, res.Window.Stamped)
		require.Positive(t, res.Window.AudioFrames)
		t.Logf("LL-HLS: latency p50 %.0f ms p99 %.0f ms, TTFF p50 %.0f ms", res.Latency.P50, res.Latency.P99, res.TTFF.P50)
		if plain > 0 {
			require.Less(t, res.Latency.P50, plain, "LL-HLS plays closer to the live edge")
		}

	})

	t.Run("NotFound", func(t *testing.T) {
		s := hlsServer(t, false)
		cfg := base
		cfg.Input, cfg.Players, cfg.Warmup, cfg.Duration = nil, 2, 0, 1500*time.Millisecond
		cfg.Play = "http://" + s.HTTPAddr().String() + "/live/nosuch/index.m3u8"
		res, err := Run(ctx, &cfg)
		require.NoError(t, err)
		require.Positive(t, res.ErrorsByKind["http_status"], "errors: %v", res.ErrorsByKind)
		require.Len(t, res.ErrorsByKind, 1, "errors: %v", res.ErrorsByKind)
		require.Zero(t, res.Window.PlayersAvg)
	})
}

// requireHLSClean checks that the only errors of a run were gohlslib's
// client losing its place (a reload did not list the next segment yet,
// see hlsSyncRestart): at most two per session (once after it joined is
// the rule; on a loaded two-core CI machine a reload can come early twice).
func requireHLSClean(t *testing.T, res *Result, sessions uint64) {
	t.Helper()
	require.LessOrEqual(t, res.Errors, res.ErrorsByKind["hls_sync"], "errors: %v %v", res.ErrorsByKind, res.ErrorSamples)
	require.NotNil(t, res.TTFF)
	require.LessOrEqual(t, res.Errors, 2*max(sessions, res.TTFF.Samples), "errors: %v %v", res.ErrorsByKind, res.ErrorSamples)
}

func TestHLSErrorKinds(t *testing.T) {
	var st hlsState
	for _, c := range []struct {
		err  error
		kind ErrorKind
	}{
		{gohlslib.ErrClientEOS, EEnded},
		{&url.Error{Op: "Get", URL: "http://h/x.m3u8", Err: &net.OpError{Op: "dial", Err: errors.New("refused")}}, EDial},
		{&url.Error{Op: "Get", URL: "http://h/x.m3u8", Err: context.DeadlineExceeded}, EIdle},
		{&url.Error{Op: "Get", URL: "http://h/x.m3u8", Err: io.EOF}, ERead},
		{errors.New("next segment not found or not ready yet"), EHLSSync},
		{errors.New("playback is too late"), EHLSSync},
		{errors.New("invalid playlist"), EBadResponse},
		{fmt.Errorf("bad status code: 404"), EBadResponse}, // no refusal seen: not a status the round tripper saw
	} {
		require.Equal(t, c.kind, hlsEndKind(&st, c.err), "%v", c.err)
	}
	st.status.Store(404)
	require.Equal(t, EHTTPStatus, hlsEndKind(&st, fmt.Errorf("bad status code: 404")))
	require.True(t, isHLS("http://h:8080/live/x/index.m3u8"))
	require.True(t, isHLS("HTTPS://h/live/x/INDEX.M3U8?key=1"))
	require.False(t, isHLS("http://h/live/x.flv"))
	require.False(t, isHLS("ws://h/live/x/index.m3u8"))
	require.NoError(t, checkPlayURL("http://h:8080/live/x/index.m3u8"))
}

// FuzzHLSAccessUnit feeds any NAL units, as gohlslib hands them over, to
// an HLS player's access unit handler, with and without a stamp and an
// IDR in front: no panic, every access unit is a video frame, and a
// stamped one after a key frame is one latency sample with the stamp's
// time.
func FuzzHLSAccessUnit(f *testing.F) {
	f.Add([]byte{0x65, 0x88, 0x84}, []byte{1}, true, false)
	f.Add([]byte{0x06, 0x05, 0x18, 0x00, 0x00, 0x03}, []byte{2, 1}, false, true)
	f.Add(AppendStampNALU(nil, 1), []byte{}, true, false)
	f.Fuzz(func(t *testing.T, data, cuts []byte, stampKey, h265 bool) {
		cfg := &Config{Stall: time.Second}
		b := &bench{cfg: cfg, errSamples: map[ErrorKind]string{}}
		p := &player{sh: b.stats.shard(0), cfg: cfg, bench: b, epoch: time.Now(), dialAt: time.Now()}
		var au [][]byte
		for _, c := range cuts {
			n := min(int(c), len(data))
			au = append(au, data[:n])
			data = data[n:]
		}
		au = append(au, data)
		p.hlsAccessUnit(au, h265)
		require.EqualValues(t, 1, p.sh.counter[CVideoFrames].Load())
		if h265 || !stampKey {
			return
		}
		at := time.Now().Add(-time.Second).UnixNano()
		before := p.sh.counter[CStamped].Load()
		p.hlsAccessUnit(append([][]byte{AppendStampNALU(nil, at), {0x65, 0x88}}, au...), false)
		require.True(t, p.gotKey)
		require.Equal(t, before+1, p.sh.counter[CStamped].Load(), "the first stamp of a shown frame is a sample")
		var hs HistSnapshot
		p.sh.latency.AddTo(&hs)
		require.GreaterOrEqual(t, hs.Quantile(1), 900*time.Millisecond)
	})
}
