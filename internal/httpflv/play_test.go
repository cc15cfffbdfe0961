package httpflv

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/headwater-media/headwater/internal/lockcheck"
	"github.com/headwater-media/headwater/internal/play"
	"github.com/headwater-media/headwater/internal/play/playtest"
	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/stream"
	st "github.com/headwater-media/headwater/internal/stream/streamtest"
	"github.com/headwater-media/headwater/pkg/flv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// logSink collects the handler's JSON log lines.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// stops returns the "play stop" lines logged so far.
func (l *logSink) stops(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		var m map[string]any
		if line == "" {
			continue
		}
		require.NoError(t, json.Unmarshal([]byte(line), &m), line)
		if m["message"] == "play stop" {
			out = append(out, m)
		}
	}
	return out
}

// flvServer is a Handler behind a real HTTP/1.1 server on loopback.
type flvServer struct {
	h      *Handler
	reg    *registry.Registry
	srv    *httptest.Server
	logs   *logSink
	cancel context.CancelFunc // cancels every request context (as server.Shutdown does)
}

func startFLV(t *testing.T, cfg play.Config, opts ...registry.Option) *flvServer {
	t.Helper()
	reg := registry.New(stream.DefaultConfig(), opts...)
	logs := &logSink{}
	h := testHandler(reg)
	h.Config = cfg
	h.Log = zerolog.New(logs)
	ctx, cancel := context.WithCancel(context.Background())
	srv := httptest.NewUnstartedServer(h)
	srv.Config.BaseContext = func(net.Listener) context.Context { return ctx }
	srv.Start()
	fs := &flvServer{h: h, reg: reg, srv: srv, logs: logs, cancel: cancel}
	t.Cleanup(func() {
		cancel()
		wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer wcancel()
		require.NoError(t, h.Wait(wctx))
		srv.Close()
		require.Equal(t, registry.Stats{}, reg.Stats(), "every handle released")
	})
	return fs
}

// publish starts key with an AVC sequence header and a keyframe at 0.
func (fs *flvServer) publish(t *testing.T, name string) *registry.Publisher {
	t.Helper()
	pub, err := fs.reg.Publish(registry.Key{App: "live", Name: name}, registry.PublisherInfo{}, nil)
	require.NoError(t, err)
	t.Cleanup(pub.Release)
	require.NoError(t, pub.Write(flv.TagVideo, 0, st.AVCSeqHeader()))
	require.NoError(t, pub.Write(flv.TagVideo, 0, st.AVCFrame(true, 1000)))
	return pub
}

// get sends a GET for path on a new connection and reads the response head.
func (fs *flvServer) get(t *testing.T, path string) (net.Conn, *http.Response, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", fs.srv.Listener.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	_, err = fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	return c, resp, br
}

// readTags reads an FLV body until it ends and returns the timestamps of
// its video tags after the sequence header.
func readTags(t *testing.T, r io.Reader) (flv.Header, []uint32, error) {
	t.Helper()
	fr := flv.NewReader(r)
	h, err := fr.ReadHeader()
	if err != nil {
		return h, nil, err
	}
	var ts []uint32
	for {
		tag, err := fr.ReadTag()
		if err != nil {
			return h, ts, err
		}
		if tag.Type == flv.TagVideo && len(tag.Data) > 1 && tag.Data[1] == 1 {
			ts = append(ts, tag.Timestamp)
		}
	}
}

// TestResponseIsRawFLVUntilClose: the response head is written by the
// handler (no chunked encoding, Connection: close, the CORS and cache
// headers), the body is the FLV stream in order, and it ends with the
// connection once the publisher has gone.
func TestResponseIsRawFLVUntilClose(t *testing.T) {
	fs := startFLV(t, play.DefaultConfig())
	pub := fs.publish(t, "s")
	_, resp, br := fs.get(t, "/live/s.flv")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "HTTP/1.1", resp.Proto)
	require.Empty(t, resp.TransferEncoding, "no chunked encoding")
	require.True(t, resp.Close, "Connection: close")
	require.EqualValues(t, -1, resp.ContentLength)
	require.Equal(t, "video/x-flv", resp.Header.Get("Content-Type"))
	require.Equal(t, "no-cache", resp.Header.Get("Cache-Control"))
	require.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))

	for i := 1; i <= 50; i++ {
		require.NoError(t, pub.Write(flv.TagVideo, uint32(i*40), st.AVCFrame(i%25 == 0, 500)))
	}
	pub.Release()
	h, ts, err := readTags(t, br)
	require.ErrorIs(t, err, io.EOF, "the body ends with the connection, after a whole tag")
	require.True(t, h.HasVideo)
	require.False(t, h.HasAudio)
	require.Len(t, ts, 51, "the keyframe and every live frame")
	for i, v := range ts {
		require.EqualValues(t, i*40, v)
	}
	require.Eventually(t, func() bool { return len(fs.logs.stops(t)) == 1 }, 5*time.Second, time.Millisecond)
	require.Equal(t, play.ReasonEnded, fs.logs.stops(t)[0]["reason"])
}

// TestMergeWindowBatchesWrites publishes 40 frames over about 320 ms: with
// no merge window the player writes about once per frame, with a 100 ms
// window at most once per window (a window's dozen frames fit one writev).
// Either way it gets every frame in order.
func TestMergeWindowBatchesWrites(t *testing.T) {
	const (
		frames   = 40
		interval = 8 // ms
	)
	writes := map[time.Duration]float64{}
	for _, window := range []time.Duration{0, 100 * time.Millisecond} {
		cfg := play.DefaultConfig()
		cfg.MergeWindow = window
		fs := startFLV(t, cfg)
		pub := fs.publish(t, "m")
		_, resp, br := fs.get(t, "/live/m.flv")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		type result struct {
			ts  []uint32
			err error
		}
		got := make(chan result, 1)
		go func() {
			_, ts, err := readTags(t, br)
			got <- result{ts, err}
		}()
		start := time.Now()
		for i := 1; i <= frames; i++ {
			time.Sleep(interval * time.Millisecond)
			require.NoError(t, pub.Write(flv.TagVideo, uint32(i*interval), st.AVCFrame(false, 500)))
		}
		elapsed := time.Since(start)
		pub.Release()
		res := <-got
		require.ErrorIs(t, res.err, io.EOF)
		require.Len(t, res.ts, frames+1, "window %v: every frame", window)
		for i, v := range res.ts {
			require.EqualValues(t, i*interval, v, "window %v: in order", window)
		}
		require.Eventually(t, func() bool { return len(fs.logs.stops(t)) == 1 }, 5*time.Second, time.Millisecond)
		writes[window] = fs.logs.stops(t)[0]["writes"].(float64)
		if window > 0 {
			// The head, the join batch, one write per window while
			// publishing, and the rest after the publisher left.
			bound := 3 + float64(elapsed/window+1)
			require.LessOrEqual(t, writes[window], bound, "window %v, %v of publishing", window, elapsed)
		}
	}
	t.Logf("writes for %d frames: %v", frames, writes)
	require.Greater(t, writes[0], 3*writes[100*time.Millisecond], "merging must cut the writes")
}

// TestStalledPlayerIsCutOff: a player that stops reading is disconnected
// WriteTimeout after its socket filled, while another player of the same
// stream keeps receiving.
func TestStalledPlayerIsCutOff(t *testing.T) {
	cfg := play.DefaultConfig()
	cfg.WriteTimeout = 300 * time.Millisecond
	cfg.MergeWindow = 0
	fs := startFLV(t, cfg)
	pub := fs.publish(t, "x")

	stalled, resp, _ := fs.get(t, "/live/x.flv")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, stalled.(*net.TCPConn).SetReadBuffer(4096))
	_, resp, good := fs.get(t, "/live/x.flv")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	goodTags := make(chan int, 1000)
	go func() {
		fr := flv.NewReader(good)
		if _, err := fr.ReadHeader(); err != nil {
			close(goodTags)
			return
		}
		for n := 1; ; n++ {
			if _, err := fr.ReadTag(); err != nil {
				close(goodTags)
				return
			}
			select {
			case goodTags <- n:
			default:
			}
		}
	}()
	require.Eventually(t, func() bool { return fs.reg.Stats().Players == 2 }, 5*time.Second, time.Millisecond)

	// 64 KiB frames every 2 ms until the stalled player is dropped.
	deadline := time.Now().Add(20 * time.Second)
	ts := uint32(0)
	for fs.reg.Stats().Players == 2 {
		require.True(t, time.Now().Before(deadline), "the stalled player was never cut off")
		ts += 2
		require.NoError(t, pub.Write(flv.TagVideo, ts, st.AVCFrame(ts%100 == 0, 64<<10)))
		time.Sleep(2 * time.Millisecond)
	}
	stops := fs.logs.stops(t)
	require.Len(t, stops, 1)
	require.Contains(t, stops[0]["reason"], "i/o timeout")

	// The good one still gets live frames.
	n := 0
	for n = range len(goodTags) {
		<-goodTags
	}
	for i := 0; i < 100; i++ {
		ts += 2
		require.NoError(t, pub.Write(flv.TagVideo, ts, st.AVCFrame(false, 1000)))
	}
	got := 0
	timeout := time.After(10 * time.Second)
	for got < 50 {
		select {
		case _, ok := <-goodTags:
			require.True(t, ok, "the good player ended")
			got++
		case <-timeout:
			t.Fatalf("the good player stopped receiving (%d before, %d after)", n, got)
		}
	}
}

// TestShutdownEndsHijackedPlayers: net/http's Shutdown does not know
// hijacked connections; Wait does, and cancelling the request contexts
// ends every player at once, even one blocked writing to a client that
// does not read (its write deadline is far away).
func TestShutdownEndsHijackedPlayers(t *testing.T) {
	cfg := play.DefaultConfig()
	cfg.WriteTimeout = time.Minute
	fs := startFLV(t, cfg)
	pub := fs.publish(t, "y")
	_, resp, br := fs.get(t, "/live/y.flv")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	stalled, resp, _ := fs.get(t, "/live/y.flv")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, stalled.(*net.TCPConn).SetReadBuffer(4096))
	ended := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, br); ended <- err }()
	require.Eventually(t, func() bool { return fs.reg.Stats().Players == 2 }, 5*time.Second, time.Millisecond)
	// Fill the stalled player's socket so that its handler blocks in a write.
	for i := 1; i <= 200; i++ {
		require.NoError(t, pub.Write(flv.TagVideo, uint32(i), st.AVCFrame(false, 64<<10)))
	}
	time.Sleep(200 * time.Millisecond)

	require.NoError(t, fs.srv.Config.Shutdown(context.Background()), "net/http has nothing to wait for")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, fs.h.Wait(ctx), context.DeadlineExceeded, "the players are still running")
	resp, err := http.Get(fs.srv.URL + "/live/y.flv")
	if err == nil { // the listener may already be closed
		resp.Body.Close()
		require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	}

	start := time.Now()
	fs.cancel()
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	require.NoError(t, fs.h.Wait(ctx))
	require.Less(t, time.Since(start), time.Second)
	select {
	case err := <-ended:
		require.NoError(t, err, "the reading client sees the connection end")
	case <-time.After(5 * time.Second):
		t.Fatal("the reading client's connection was not closed")
	}
	for _, s := range fs.logs.stops(t) {
		require.Equal(t, play.ReasonGone, s["reason"])
	}
	require.Len(t, fs.logs.stops(t), 2)
	require.Equal(t, 0, fs.reg.Stats().Players)
}

// TestClientCloseIsNoticedWhileIdle: a client that goes away while the
// stream sends nothing releases its player at once (its close watcher
// notices; no write is needed to find out).
func TestClientCloseIsNoticedWhileIdle(t *testing.T) {
	fs := startFLV(t, play.DefaultConfig())
	fs.publish(t, "z")
	c, resp, br := fs.get(t, "/live/z.flv")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	_, ts, _ := readTagsN(t, br, 2) // sequence header and keyframe
	require.Len(t, ts, 1)
	require.Equal(t, 1, fs.reg.Stats().Players)
	require.NoError(t, c.Close())
	require.Eventually(t, func() bool { return fs.reg.Stats().Players == 0 }, 2*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return len(fs.logs.stops(t)) == 1 }, 2*time.Second, time.Millisecond)
	require.Equal(t, play.ReasonGone, fs.logs.stops(t)[0]["reason"])
}

// readTagsN reads the FLV header and n tags.
func readTagsN(t *testing.T, r io.Reader, n int) (flv.Header, []uint32, error) {
	t.Helper()
	fr := flv.NewReader(r)
	h, err := fr.ReadHeader()
	if err != nil {
		return h, nil, err
	}
	var ts []uint32
	for range n {
		tag, err := fr.ReadTag()
		if err != nil {
			return h, ts, err
		}
		if tag.Type == flv.TagVideo && tag.Data[1] == 1 {
			ts = append(ts, tag.Timestamp)
		}
	}
	return h, ts, nil
}

// TestSendPathAllocatesNothing: a tag written by the publisher and taken
// and written (writev to a TCP socket) by 10 players costs at most one
// allocation in all: Stream.Write's share of a slab of *stream.Tag (the
// payload buffer is the publisher's). The players' Next and writev add
// none: one allocation per player per tag would make it 10.
func TestSendPathAllocatesNothing(t *testing.T) {
	if lockcheck.Enabled() {
		t.Skip("go-deadlock's mutexes allocate on every lock; the count is only meaningful in normal builds")
	}
	b := playtest.NewSendBench(t, 10, func() play.Framer { return framer{} })
	defer b.Close()
	buf := st.AVCFrame(false, 11000)
	ts := uint32(0)
	allocs := testing.AllocsPerRun(200, func() {
		ts += 33
		if err := b.S.Write(flv.TagVideo, ts, buf); err != nil {
			t.Fatal(err)
		}
		b.Step(t)
	})
	require.LessOrEqual(t, allocs, 1.0, "allocations per tag, 10 players")
}

// BenchmarkSendPath: one 11 KB video tag (about 2.7 Mbit/s at 30 fps)
// written by the publisher, then taken (Next) and written with writev to
// its own loopback TCP connection by each of 50 players, as their loops
// do. allocs/op is per tag for all players together: 0 (Stream.Write
// takes 1/32 of an allocation per tag for its *stream.Tag; the payload
// buffer is the publisher's); the send path adds 0 per tag per player.
// ns/op / 50 is the Go and kernel cost of one one-tag write to one player,
// with the receiving ends on the same cores. internal/rtmp's
// BenchmarkRTMPSendPath is the same for RTMP play.
func BenchmarkSendPath(b *testing.B) {
	const players = 50
	sb := playtest.NewSendBench(b, players, func() play.Framer { return framer{} })
	defer sb.Close()
	buf := st.AVCFrame(false, 11000)
	b.SetBytes(int64(len(buf) * players))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := sb.S.Write(flv.TagVideo, uint32(i), buf); err != nil {
			b.Fatal(err)
		}
		sb.Step(b)
	}
}

// BenchmarkWSFLVSendPath is BenchmarkSendPath through WebSocket-FLV's
// framer: the same tag, players and writev, with a 4-byte frame header
// in front of the shared tag (one more buffer a writev). allocs/op is
// per tag for all players together, as there.
func BenchmarkWSFLVSendPath(b *testing.B) {
	const players = 50
	sb := playtest.NewSendBench(b, players, func() play.Framer { return newWSFramer("x") })
	defer sb.Close()
	buf := st.AVCFrame(false, 11000)
	b.SetBytes(int64(len(buf) * players))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := sb.S.Write(flv.TagVideo, uint32(i), buf); err != nil {
			b.Fatal(err)
		}
		sb.Step(b)
	}
}
