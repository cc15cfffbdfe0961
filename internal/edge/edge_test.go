package edge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/stream"
	st "github.com/headwater-media/headwater/internal/stream/streamtest"
	"github.com/headwater-media/headwater/pkg/flv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var key = registry.Key{App: "live", Name: "s"}

// fakeOrigin serves /live/s.flv as an endless FLV stream (header, AVC
// sequence header, a keyframe, then a frame every 10 ms until the
// request ends or stop is closed), and 404 for anything else. It counts
// the requests and records their hw_via.
type fakeOrigin struct {
	*httptest.Server
	requests atomic.Int64
	mu       sync.Mutex
	via      []string
	stop     chan struct{} // closed: every stream ends (the publisher left)
	once     sync.Once
}

func newFakeOrigin(t *testing.T) *fakeOrigin {
	o := &fakeOrigin{stop: make(chan struct{})}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.via = append(o.via, r.URL.Query().Get(registry.ViaParam))
		o.mu.Unlock()
		o.requests.Add(1)
		if r.URL.Path != "/live/s.flv" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "video/x-flv")
		fw := flushWriter{w}
		_, _ = fw.Write(flv.AppendHeader(nil, false, true))
		_, _ = fw.Write(retag(st.AVCSeqHeader(), flv.TagVideo, 0))
		for i := 0; ; i++ {
			select {
			case <-r.Context().Done():
				return
			case <-o.stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			if _, err := fw.Write(retag(st.AVCFrame(i%25 == 0, 500), flv.TagVideo, uint32(i*10))); err != nil {
				return
			}
		}
	}))
	t.Cleanup(o.Close)
	t.Cleanup(o.end)
	return o
}

func (o *fakeOrigin) end() { o.once.Do(func() { close(o.stop) }) }

type flushWriter struct{ w http.ResponseWriter }

func (f flushWriter) Write(b []byte) (int, error) {
	n, err := f.w.Write(b)
	f.w.(http.Flusher).Flush()
	return n, err
}

// retag fills in the header of a streamtest tag buffer.
func retag(buf []byte, typ uint8, ts uint32) []byte {
	n := len(buf) - flv.TagSize(0)
	flv.PutTagHeader(buf, typ, ts, n)
	flv.PutPrevTagSize(buf[flv.TagHeaderSize+n:], n)
	return buf
}

func newEdge(t *testing.T, cfg Config, origins ...string) (*Edge, *registry.Registry) {
	t.Helper()
	var e *Edge
	reg := registry.New(stream.DefaultConfig(), registry.WithPuller(registry.PullerFunc(
		func(ctx context.Context, k registry.Key, via string) error { return e.Pull(ctx, k, via) })))
	cfg.Origins = origins
	e, err := New(cfg, reg, "node1", zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, e.Shutdown(ctx))
		require.Equal(t, registry.Stats{}, reg.Stats(), "registry empty after the edge shut down")
	})
	return e, reg
}

func testConfig() Config {
	c := DefaultConfig()
	c.Linger, c.FailoverTimeout, c.ConnectTimeout = 200*time.Millisecond, 500*time.Millisecond, time.Second
	return c
}

func TestParseOrigin(t *testing.T) {
	for _, ok := range []string{"http://o:8080", "rtmp://o:1935", "http://o", "rtmp://10.0.0.1:1935/"} {
		_, err := ParseOrigin(ok)
		require.NoError(t, err, ok)
	}
	for _, bad := range []string{"", "o:8080", "https://o", "http://", "http://o/live", "rtmp://o?x=1", "ftp://o"} {
		_, err := ParseOrigin(bad)
		require.Error(t, err, bad)
	}
}

// TestSingleFlightAndLinger: 30 concurrent pulls of a cold key make one
// upstream request carrying this node's id; the upstream stays while a
// player holds the stream and goes after the linger once none does.
func TestSingleFlightAndLinger(t *testing.T) {
	o := newFakeOrigin(t)
	e, reg := newEdge(t, testConfig(), o.URL)
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for range 30 {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- reg.Pull(context.Background(), key, "") }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, int64(1), o.requests.Load(), "one upstream for every player asking")
	require.Equal(t, []string{"node1"}, o.via)
	require.Equal(t, uint64(1), e.Counts().Pulls[ResultOK])
	info, err := reg.Stream(key)
	require.NoError(t, err)
	require.Equal(t, registry.KindEdgePull, info.Publisher.Kind)
	require.Equal(t, o.URL, info.Publisher.Origin)

	p, err := reg.Play(key, "player")
	require.NoError(t, err)
	sub, err := p.Subscribe()
	require.NoError(t, err)
	batch, err := sub.Next(context.Background(), nil)
	require.NoError(t, err)
	require.NotEmpty(t, batch)
	// Held by a player: well past the linger, still live.
	time.Sleep(3 * testConfig().Linger)
	_, err = reg.Stream(key)
	require.NoError(t, err, "a player holds it: no linger")
	p.Release()
	require.Eventually(t, func() bool { _, err := reg.Stream(key); return errors.Is(err, registry.ErrNotFound) },
		testConfig().Linger+2*time.Second, 10*time.Millisecond, "released after the linger")
	require.Eventually(t, func() bool { return reg.Stats() == registry.Stats{} }, 2*time.Second, 10*time.Millisecond)
}

// TestNotFoundAndErrorsMoveOn: a dead origin and one without the stream
// are skipped; the third has it.
func TestNotFoundAndErrorsMoveOn(t *testing.T) {
	o := newFakeOrigin(t)
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	deadURL := "http://" + dead.Addr().String()
	dead.Close()
	empty := httptest.NewServer(http.NotFoundHandler())
	defer empty.Close()
	e, reg := newEdge(t, testConfig(), deadURL, empty.URL, o.URL)
	require.NoError(t, reg.Pull(context.Background(), key, ""))
	c := e.Counts()
	require.Equal(t, uint64(1), c.Pulls[ResultOK])
	require.Equal(t, uint64(1), c.Pulls[ResultNotFound])
	require.Equal(t, uint64(1), c.Pulls[ResultError])

	// Nobody has another key: ErrNotFound, fast.
	start := time.Now()
	err = reg.Pull(context.Background(), registry.Key{App: "live", Name: "other"}, "")
	require.ErrorIs(t, err, registry.ErrNotFound)
	require.Less(t, time.Since(start), time.Second)
}

// TestConnectTimeoutBoundsAPull: an origin that accepts and never answers
// costs ConnectTimeout, then the pull fails.
func TestConnectTimeoutBoundsAPull(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	var conns sync.WaitGroup
	conns.Add(1)
	go func() {
		defer conns.Done()
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			_, _ = c.Read(make([]byte, 1024))
			time.Sleep(2 * time.Second)
		}
	}()
	cfg := testConfig()
	cfg.ConnectTimeout = 300 * time.Millisecond
	_, reg := newEdge(t, cfg, "http://"+ln.Addr().String())
	start := time.Now()
	err = reg.Pull(context.Background(), key, "")
	require.ErrorIs(t, err, registry.ErrNotFound)
	require.Less(t, time.Since(start), time.Second)
	ln.Close()
	conns.Wait()
}

// TestLoopsAreRefused: a request that came through this node, or through
// MaxHops nodes, is not pulled.
func TestLoopsAreRefused(t *testing.T) {
	o := newFakeOrigin(t)
	e, reg := newEdge(t, testConfig(), o.URL)
	require.ErrorIs(t, reg.Pull(context.Background(), key, "a,node1,b"), ErrLoop)
	require.ErrorIs(t, reg.Pull(context.Background(), key, strings.Repeat("x,", MaxHops)), ErrLoop)
	require.ErrorIs(t, ErrLoop, registry.ErrNotFound)
	require.Equal(t, uint64(2), e.Counts().Pulls[ResultLoop])
	require.Zero(t, o.requests.Load())
	// A chain shorter than MaxHops is extended with this node's id.
	require.NoError(t, reg.Pull(context.Background(), key, "a,b"))
	require.Equal(t, []string{"a,b,node1"}, o.via)
}

// TestFailoverKeepsThePlayers: the first origin's stream ends; the pull
// goes on from the second, the player's subscription never ends and its
// timestamps never go back.
func TestFailoverKeepsThePlayers(t *testing.T) {
	a, b := newFakeOrigin(t), newFakeOrigin(t)
	e, reg := newEdge(t, testConfig(), a.URL, b.URL)
	require.NoError(t, reg.Pull(context.Background(), key, ""))
	p, err := reg.Play(key, "player")
	require.NoError(t, err)
	defer p.Release()
	sub, err := p.Subscribe()
	require.NoError(t, err)
	var last uint32
	var got int
	read := func(n int) {
		for got < n {
			batch, err := sub.Next(context.Background(), nil)
			require.NoError(t, err, "the subscription must not end across a failover")
			for _, tg := range batch {
				if !tg.Header {
					require.GreaterOrEqual(t, tg.Timestamp, last)
					last = tg.Timestamp
					got++
				}
			}
		}
	}
	read(20)
	a.end()
	require.Eventually(t, func() bool { return e.Counts().Failovers == 1 }, 3*time.Second, 10*time.Millisecond)
	read(got + 20)
	info, err := reg.Stream(key)
	require.NoError(t, err)
	require.Equal(t, b.URL, info.Publisher.Origin)

	// The second ends too and nobody has it within the failover timeout:
	// the stream ends.
	b.end()
	for {
		_, err := sub.Next(context.Background(), nil)
		if err != nil {
			require.ErrorIs(t, err, stream.ErrEnded)
			break
		}
	}
}

// FuzzHTTPUpstream: whatever an origin answers (status line, headers,
// FLV bytes), an upstream fails cleanly or yields tags within the size
// cap; it never panics.
func FuzzHTTPUpstream(f *testing.F) {
	good := bytes.NewBufferString("HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\nConnection: close\r\n\r\n")
	good.Write(flv.AppendHeader(nil, true, true))
	good.Write(retag(st.AVCSeqHeader(), flv.TagVideo, 0))
	good.Write(retag(st.AVCFrame(true, 100), flv.TagVideo, 40))
	f.Add(good.Bytes())
	f.Add([]byte("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nFLV\x01\x05\r\n0\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\n\r\nFLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00\x09\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, resp []byte) {
		client, server := net.Pipe()
		defer client.Close()
		go func() {
			defer server.Close()
			_, _ = server.Read(make([]byte, 4096)) // the request
			_, _ = server.Write(resp)
		}()
		cfg := DefaultConfig()
		cfg.MaxTagSize = 1 << 16
		cfg.MediaTimeout = time.Second
		up, err := startHTTP(client, mustOrigin("http://o:1"), key, "x", cfg)
		if err != nil {
			return
		}
		for range 1000 {
			tg, err := up.ReadTag()
			if err != nil {
				return
			}
			if len(tg.Data) > 1<<16 {
				t.Fatalf("tag of %d bytes over the cap", len(tg.Data))
			}
		}
	})
}

func mustOrigin(s string) *url.URL {
	u, err := ParseOrigin(s)
	if err != nil {
		panic(fmt.Sprint(err))
	}
	return u
}

// TestKickEndsThePull: kicking an edge's stream (DELETE
// /api/v1/streams/...) ends its pull, also after a failover, and its
// players end as when a publisher leaves.
func TestKickEndsThePull(t *testing.T) {
	a, b := newFakeOrigin(t), newFakeOrigin(t)
	e, reg := newEdge(t, testConfig(), a.URL, b.URL)
	require.NoError(t, reg.Pull(context.Background(), key, ""))
	p, err := reg.Play(key, "player")
	require.NoError(t, err)
	defer p.Release()
	sub, err := p.Subscribe()
	require.NoError(t, err)
	a.end()
	require.Eventually(t, func() bool { return e.Counts().Failovers == 1 }, 3*time.Second, 10*time.Millisecond)
	require.NoError(t, reg.Kick(key))
	for {
		if _, err := sub.Next(context.Background(), nil); err != nil {
			require.ErrorIs(t, err, stream.ErrEnded)
			break
		}
	}
	_, err = reg.Stream(key)
	require.ErrorIs(t, err, registry.ErrNotFound)
}

// TestKilledAtEachStep: a pull ended at each step leaves nothing behind
// (the registry empties, goleak in TestMain): a player that gives up while
// the pull connects; a shutdown while it connects to an origin that never
// answers; a shutdown mid-stream with a player attached.
func TestKilledAtEachStep(t *testing.T) {
	// An origin that accepts and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	var held sync.WaitGroup
	held.Add(1)
	go func() {
		defer held.Done()
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	cfg := testConfig()
	cfg.ConnectTimeout = 5 * time.Second
	e, reg := newEdge(t, cfg, "http://"+ln.Addr().String())

	// The player gives up while the pull connects.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	err = reg.Pull(ctx, key, "")
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded)

	// Shutdown while the pull still connects: it ends at once.
	start := time.Now()
	sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
	require.NoError(t, e.Shutdown(sctx))
	scancel()
	require.Less(t, time.Since(start), time.Second)
	require.ErrorIs(t, reg.Pull(context.Background(), key, ""), ErrClosed)
	ln.Close()
	held.Wait()

	// Mid-stream: a player attached, then the edge shuts down.
	o := newFakeOrigin(t)
	e2, reg2 := newEdge(t, testConfig(), o.URL)
	require.NoError(t, reg2.Pull(context.Background(), key, ""))
	p, err := reg2.Play(key, "player")
	require.NoError(t, err)
	sub, err := p.Subscribe()
	require.NoError(t, err)
	_, err = sub.Next(context.Background(), nil)
	require.NoError(t, err)
	sctx, scancel = context.WithTimeout(context.Background(), 2*time.Second)
	require.NoError(t, e2.Shutdown(sctx))
	scancel()
	for {
		if _, err := sub.Next(context.Background(), nil); err != nil {
			require.ErrorIs(t, err, stream.ErrEnded)
			break
		}
	}
	p.Release()
}
