package e2e

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/internal/config"
	"github.com/headwater-media/headwater/internal/registry"
)

// startEdge starts an edge of origins with a short linger.
func startEdge(t *testing.T, linger time.Duration, origins ...string) *testServer {
	t.Helper()
	return startServer(t, func(c *config.Config) {
		c.Edge.Origins = origins
		c.Edge.Linger = linger
		c.Edge.ConnectTimeout = time.Second
	})
}

// streamPlayers is the player count of key on s, 0 when it is not live.
func streamPlayers(s *testServer, app, name string) int {
	st, err := s.Registry().Stream(registry.Key{App: app, Name: name})
	if err != nil {
		return 0
	}
	return st.Players
}

// edgePulls reads headwater_edge_pulls_total{result} from s's metrics.
func edgePulls(t *testing.T, s *testServer, result string) float64 {
	t.Helper()
	_, body := getBody(t, s.httpURL+"/metrics")
	return metric(t, body, `headwater_edge_pulls_total{result="`+result+`"}`)
}

// TestEdgesServeOriginStreamsWithOneUpstreamEach: an origin and two edges
// (one pulling over HTTP-FLV, one over RTMP), 20 players on each (mixed
// HTTP-FLV and RTMP): the origin sees exactly one player per edge, every
// player starts at a keyframe, and when an edge's last player leaves the
// origin's count drops within the linger + 1 s.
func TestEdgesServeOriginStreamsWithOneUpstreamEach(t *testing.T) {
	t.Parallel()
	needFFmpeg(t)
	origin := startServer(t, nil)
	const linger = time.Second
	e1 := startEdge(t, linger, origin.httpURL)
	e2 := startEdge(t, linger, origin.rtmpURL)
	pub := ffmpegPublish(t, origin.rtmpURL+"/live/e", "320x240")
	origin.waitLive(t, "live", "e")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ctx1, leave1 := context.WithCancel(ctx)
	defer leave1()
	var players1, players2 []*player
	for i := range 20 {
		for _, e := range []*testServer{e1, e2} {
			url := e.httpURL + "/live/e.flv"
			if i%2 == 1 {
				url = e.rtmpURL + "/live/e"
			}
			if e == e1 {
				players1 = append(players1, play(ctx1, url))
			} else {
				players2 = append(players2, play(ctx, url))
			}
		}
	}
	for _, p := range append(append([]*player{}, players1...), players2...) {
		p.waitKey(t, 15*time.Second)
		p.waitTags(t, 30, 15*time.Second)
	}
	require.Equal(t, 2, streamPlayers(origin, "live", "e"), "one upstream per edge")
	require.Equal(t, 20, streamPlayers(e1, "live", "e"))
	require.Equal(t, 20, streamPlayers(e2, "live", "e"))
	var st struct {
		Publisher struct {
			Kind   string `json:"kind"`
			Origin string `json:"origin"`
		} `json:"publisher"`
	}
	apiGet(t, e2.httpURL+"/api/v1/streams/live/e", &st)
	require.Equal(t, "edge-pull", st.Publisher.Kind)
	require.Equal(t, origin.rtmpURL, st.Publisher.Origin)
	var srv struct {
		Mode    string   `json:"mode"`
		Origins []string `json:"origins"`
	}
	apiGet(t, e1.httpURL+"/api/v1/server", &srv)
	require.Equal(t, "edge", srv.Mode)
	require.Equal(t, []string{origin.httpURL}, srv.Origins)

	// Edge 1's players leave: its upstream goes after the linger.
	leave1()
	left := time.Now()
	for _, p := range players1 {
		p.result(t, 5*time.Second)
	}
	require.Eventually(t, func() bool { return streamPlayers(origin, "live", "e") == 1 }, linger+3*time.Second, 20*time.Millisecond)
	require.Less(t, time.Since(left), linger+time.Second+500*time.Millisecond)
	pub.kill()
	for _, p := range players2 {
		res := p.result(t, 10*time.Second)
		require.True(t, isCleanEnd(res.err), "edge player ended with %v", res.err)
		require.True(t, res.firstKey)
		require.Empty(t, res.backwards)
		res.checkTimeline(t, 1000)
	}
}

// TestColdEdgeMakesOneUpstreamForManyPlayers: 50 players arriving at the
// same instant on a cold edge make exactly one upstream; a player within
// the linger reuses it.
func TestColdEdgeMakesOneUpstreamForManyPlayers(t *testing.T) {
	needFFmpeg(t)
	origin := startServer(t, nil)
	e := startEdge(t, 2*time.Second, origin.httpURL)
	pub := ffmpegPublish(t, origin.rtmpURL+"/live/cold", "320x240")
	origin.waitLive(t, "live", "cold")

	ctx, cancel := context.WithCancel(context.Background())
	var players []*player
	var start sync.WaitGroup
	start.Add(1)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 50 {
		url := e.httpURL + "/live/cold.flv"
		if i%2 == 1 {
			url = e.rtmpURL + "/live/cold"
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			start.Wait()
			p := play(ctx, url)
			mu.Lock()
			players = append(players, p)
			mu.Unlock()
		}()
	}
	begin := time.Now()
	start.Done()
	wg.Wait()
	for _, p := range players {
		p.waitKey(t, 15*time.Second)
	}
	t.Logf("50 players on a cold edge: all at a keyframe after %v", time.Since(begin))
	require.Equal(t, 1.0, edgePulls(t, e, "ok"), "exactly one upstream")
	require.Equal(t, 1, streamPlayers(origin, "live", "cold"))
	cancel()
	for _, p := range players {
		p.result(t, 5*time.Second)
	}
	// Within the linger, a new player reuses the upstream.
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	p := play(ctx2, e.httpURL+"/live/cold.flv")
	p.waitKey(t, 10*time.Second)
	require.Equal(t, 1.0, edgePulls(t, e, "ok"), "the lingering upstream was reused")
	cancel2()
	p.result(t, 5*time.Second)
	pub.kill()
}

// TestEdgeUnknownStreamIs404Fast: a stream no origin has is a 404 (RTMP:
// StreamNotFound) within connect_timeout × origins, here with a dead
// origin first.
func TestEdgeUnknownStreamIs404Fast(t *testing.T) {
	if testing.Short() {
		t.Skip("integration")
	}
	origin := startServer(t, nil)
	dead := "http://" + freePort(t)
	e := startEdge(t, time.Second, dead, origin.httpURL)
	start := time.Now()
	code, _ := getBody(t, e.httpURL+"/live/nothing.flv")
	require.Equal(t, http.StatusNotFound, code)
	require.Less(t, time.Since(start), 2*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res := readFLV(ctx, e.rtmpURL+"/live/nothing", &player{tags: make(chan int, 1), gotKey: make(chan struct{})})
	require.Equal(t, http.StatusNotFound, res.status, "RTMP: StreamNotFound (%v)", res.err)
	require.GreaterOrEqual(t, edgePulls(t, e, "not_found"), 2.0)
	require.GreaterOrEqual(t, edgePulls(t, e, "error"), 2.0)
}

// TestEdgeFailsOverToAnotherOrigin: origins A and B both carry the
// stream; when A's publisher is killed, the edge's players continue from
// B without a second FLV header, with monotonic timestamps and a keyframe
// first.
func TestEdgeFailsOverToAnotherOrigin(t *testing.T) {
	needFFmpeg(t)
	// A keeps its stream for publish.grace when its publisher is killed:
	// the edge must not wait for it, but fail over at once.
	a := startServer(t, func(c *config.Config) { c.Publish.Grace = config.Default().Publish.Grace })
	b := startServer(t, nil)
	e := startEdge(t, time.Second, a.httpURL, b.rtmpURL)
	pubA := ffmpegPublish(t, a.rtmpURL+"/live/f", "320x240")
	pubB := ffmpegPublish(t, b.rtmpURL+"/live/f", "320x240")
	a.waitLive(t, "live", "f")
	b.waitLive(t, "live", "f")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hp := play(ctx, e.httpURL+"/live/f.flv")
	rp := play(ctx, e.rtmpURL+"/live/f")
	for _, p := range []*player{hp, rp} {
		p.waitTags(t, 50, 15*time.Second)
	}
	require.Equal(t, 1, streamPlayers(a, "live", "f"))
	require.Equal(t, 0, streamPlayers(b, "live", "f"))
	tagsBefore := waitCount(t, hp)
	pubA.kill()
	killed := time.Now()
	require.Eventually(t, func() bool { return streamPlayers(b, "live", "f") == 1 }, 5*time.Second, 10*time.Millisecond)
	for _, p := range []*player{hp, rp} {
		n := waitCount(t, p)
		p.waitTags(t, n+50, 10*time.Second)
	}
	t.Logf("failover: the edge plays from B %v after A's publisher was killed", time.Since(killed))
	_, body := getBody(t, e.httpURL+"/metrics")
	require.Equal(t, 1.0, metric(t, body, "headwater_edge_failovers_total"))
	pubB.kill()
	for _, p := range []*player{hp, rp} {
		res := p.result(t, 10*time.Second)
		require.True(t, isCleanEnd(res.err), "ended with %v (a second FLV header would be a parse error)", res.err)
		require.Empty(t, res.backwards)
		res.checkTimeline(t, 1000)
	}
	require.Equal(t, 1, hp.res.headers)
	t.Logf("failover gap at the players: HTTP-FLV %v, RTMP %v (longest wait between two tags)", hp.res.maxGap, rp.res.maxGap)
	require.Greater(t, hp.res.tags, tagsBefore+40, "the stream went on after the failover")
}

// TestEdgeChainAndLoop: an edge of an edge plays the origin's stream; two
// edges that are each other's origin refuse the loop with a 404 instead of
// spinning.
func TestEdgeChainAndLoop(t *testing.T) {
	needFFmpeg(t)
	origin := startServer(t, nil)
	e1 := startEdge(t, time.Second, origin.httpURL)
	e2 := startEdge(t, time.Second, e1.rtmpURL)
	pub := ffmpegPublish(t, origin.rtmpURL+"/live/ch", "320x240")
	origin.waitLive(t, "live", "ch")
	ctx, cancel := context.WithCancel(context.Background())
	p := play(ctx, e2.httpURL+"/live/ch.flv")
	p.waitKey(t, 15*time.Second)
	p.waitTags(t, 50, 10*time.Second)
	require.Equal(t, 1, streamPlayers(origin, "live", "ch"))
	require.Equal(t, 1, streamPlayers(e1, "live", "ch"))
	cancel()
	p.result(t, 5*time.Second)
	pub.kill()

	// A loop: two edges whose origins are each other (ports reserved
	// first, so that each can name the other).
	portA, portB := freePort(t), freePort(t)
	loopA := startServer(t, func(c *config.Config) {
		c.HTTP.Addr, c.Edge.Origins, c.Edge.ConnectTimeout = portA, []string{"http://" + portB}, time.Second
	})
	loopB := startServer(t, func(c *config.Config) {
		c.HTTP.Addr, c.Edge.Origins, c.Edge.ConnectTimeout = portB, []string{"http://" + portA}, time.Second
	})
	start := time.Now()
	code, body := getBody(t, loopA.httpURL+"/live/ch.flv")
	require.Equal(t, http.StatusNotFound, code, body)
	require.Less(t, time.Since(start), 2*time.Second, "refused, not spun")
	require.Equal(t, 1.0, edgePulls(t, loopA, "loop"), "A refuses the request that came back through B")
	require.True(t, strings.Contains(body, "not found"), body)
	_ = loopB
}
