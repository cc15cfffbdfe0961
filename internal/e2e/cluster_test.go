package e2e

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/internal/cluster"
	"github.com/headwater-media/headwater/internal/cluster/redistest"
	"github.com/headwater-media/headwater/internal/config"
)

// testLease is the cluster.lease of these tests: short (2 s), so that a
// dead node's claims run out within the test; HW_CLUSTER_LEASE sets
// another (docs/scaling.md measures the default, 10s, with it).
var testLease = func() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("HW_CLUSTER_LEASE")); err == nil && d >= time.Second {
		return d
	}
	return 2 * time.Second
}()

// startOrigin starts an in-process origin in the cluster of r, with
// on_redis_down mode; its node URL is its HTTP address.
func startOrigin(t *testing.T, r *redistest.Server, mode string) *testServer {
	t.Helper()
	addr := freePort(t)
	return startServer(t, func(c *config.Config) {
		c.HTTP.Addr = addr
		c.Cluster.Redis, c.Cluster.NodeURL, c.Cluster.Lease, c.Cluster.OnRedisDown = r.URL(), "http://"+addr, testLease, mode
	})
}

// clusterStatus is what GET /api/v1/cluster says.
type clusterStatus struct {
	Enabled bool   `json:"enabled"`
	NodeURL string `json:"node_url"`
	Redis   struct {
		State string `json:"state"`
	} `json:"redis"`
	Nodes []struct {
		URL  string `json:"url"`
		Live bool   `json:"live"`
	} `json:"nodes"`
	Claims []struct {
		App     string `json:"app"`
		Stream  string `json:"stream"`
		InRedis bool   `json:"in_redis"`
	} `json:"claims"`
	Counts struct {
		Claims  map[string]uint64 `json:"claims"`
		Lookups map[string]uint64 `json:"lookups"`
	} `json:"counts"`
	EdgeLookups *uint64 `json:"edge_lookups"`
}

func getCluster(t *testing.T, s *testServer) clusterStatus {
	t.Helper()
	var st clusterStatus
	apiGet(t, s.httpURL+"/api/v1/cluster", &st)
	return st
}

// holder is the node URL of key's claim in Redis, "" if none.
func holder(t *testing.T, r *redistest.Server, key string) string {
	t.Helper()
	v, err := r.Do("GET", cluster.KeyPrefix+key)
	require.NoError(t, err)
	if v == "$-1" {
		return ""
	}
	node, _, _ := strings.Cut(v, "|")
	return node
}

// refused waits for an ffmpeg publisher to be refused and returns what
// it printed (the server's status description).
func refused(t *testing.T, p *publisher) string {
	t.Helper()
	require.Error(t, p.wait(t, 10*time.Second), "the publish was refused")
	return p.stderr.String()
}

// TestClusterOriginsShareKeysAndEdgesFindThem: two origins and an edge
// with the directory on one Redis. A key published on origin 1 is
// refused on origin 2 (BadName, as a local duplicate); 100 players on the
// cold edge make one directory read and one upstream to origin 1; when
// origin 1's publisher ends its claim goes at once, origin 2 accepts the
// key, and the edge's players continue from origin 2.
func TestClusterOriginsShareKeysAndEdgesFindThem(t *testing.T) {
	t.Parallel()
	needFFmpeg(t)
	r := redistest.Start(t)
	o1 := startOrigin(t, r, cluster.OnDownLocal)
	o2 := startOrigin(t, r, cluster.OnDownLocal)
	edge := startServer(t, func(c *config.Config) {
		c.Edge.Directory = r.URL()
		c.Edge.Linger, c.Edge.ConnectTimeout, c.Edge.FailoverTimeout = time.Second, time.Second, 5*time.Second
	})

	pub1 := ffmpegPublish(t, o1.rtmpURL+"/live/a", "320x240")
	o1.waitLive(t, "live", "a")
	require.Equal(t, o1.httpURL, holder(t, r, "live/a"))
	out := refused(t, ffmpegPublish(t, o2.rtmpURL+"/live/a", "320x240"))
	require.Contains(t, out, "another node", "the status names the reason")
	require.Empty(t, o2.Registry().Streams())

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var start sync.WaitGroup
	start.Add(1)
	players := make([]*player, 100)
	var wg sync.WaitGroup
	for i := range players {
		url := edge.httpURL + "/live/a.flv"
		if i%4 == 3 {
			url = edge.rtmpURL + "/live/a"
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			start.Wait()
			players[i] = play(ctx, url)
		}()
	}
	start.Done()
	wg.Wait()
	for _, p := range players {
		p.waitKey(t, 15*time.Second)
	}
	require.Equal(t, 1, streamPlayers(o1, "live", "a"), "one upstream for 100 players")
	est := getCluster(t, edge)
	require.False(t, est.Enabled, "an edge with only a directory claims nothing")
	require.Equal(t, uint64(1), est.Counts.Lookups[cluster.LookupFound], "one directory read for 100 players")
	require.Equal(t, uint64(1), *est.EdgeLookups)
	_, body := getBody(t, edge.httpURL+"/metrics")
	require.Equal(t, 1.0, metric(t, body, `headwater_cluster_lookups_total{result="found"}`))

	st := getCluster(t, o1)
	require.True(t, st.Enabled)
	require.Equal(t, "up", st.Redis.State)
	require.Len(t, st.Claims, 1)
	require.Equal(t, "a", st.Claims[0].Stream)
	require.True(t, st.Claims[0].InRedis)
	require.Equal(t, uint64(1), getCluster(t, o2).Counts.Claims[cluster.ClaimBusy])

	// Origin 1's publisher ends: its claim is deleted with it, and
	// origin 2 takes the key.
	pub1.kill()
	ended := time.Now()
	require.Eventually(t, func() bool { return holder(t, r, "live/a") == "" }, time.Second, 5*time.Millisecond)
	t.Logf("claim deleted %v after the publisher's end", time.Since(ended))
	pub2 := ffmpegPublish(t, o2.rtmpURL+"/live/a", "320x240", "-vf", "negate")
	o2.waitLive(t, "live", "a")
	t.Logf("origin 2 publishes %v after origin 1's publisher ended", time.Since(ended))
	require.Equal(t, o2.httpURL, holder(t, r, "live/a"))

	// The edge fails over through the directory to origin 2.
	for _, p := range players[:4] {
		n := waitCount(t, p)
		p.waitTags(t, n+50, 10*time.Second)
	}
	require.Eventually(t, func() bool { return streamPlayers(o2, "live", "a") == 1 }, 5*time.Second, 10*time.Millisecond)
	pub2.kill()
	for _, p := range players {
		res := p.result(t, 15*time.Second)
		require.True(t, isCleanEnd(res.err), "ended with %v", res.err)
		require.Empty(t, res.backwards)
	}
	require.Eventually(t, func() bool { return holder(t, r, "live/a") == "" }, time.Second, 5*time.Millisecond)
}

// TestClusterKilledNodesKeysFreeAfterTheLease: an origin killed with
// SIGKILL while publishing keeps its key until the lease runs out; then
// another origin accepts it.
func TestClusterKilledNodesKeysFreeAfterTheLease(t *testing.T) {
	needFFmpeg(t)
	r := redistest.Start(t)
	addr := freePort(t)
	// The first origin is a process of its own, to be killed.
	o1 := startBinaryEnv(t, []string{"HEADWATER_CLUSTER_REDIS=" + r.URL(), "HEADWATER_CLUSTER_NODE_URL=rtmp://" + addr,
		"HEADWATER_CLUSTER_LEASE=" + testLease.String()}, "-rtmp-addr", addr)
	o2 := startOrigin(t, r, cluster.OnDownLocal)
	pub := ffmpegPublish(t, "rtmp://"+addr+"/live/k", "320x240")
	waitLive(t, "http://"+o1.httpAd+"/live/k.flv")
	require.Equal(t, "rtmp://"+addr, holder(t, r, "live/k"))
	require.Contains(t, refused(t, ffmpegPublish(t, o2.rtmpURL+"/live/k", "320x240")), "another node")

	require.NoError(t, o1.cmd.Process.Kill())
	<-o1.done
	killed := time.Now()
	require.Eventually(t, func() bool { return holder(t, r, "live/k") == "" }, testLease+time.Second, 5*time.Millisecond)
	freed := time.Since(killed)
	t.Logf("key free %v after SIGKILL (lease %v, renewed every %v)", freed, testLease, testLease/3)
	require.GreaterOrEqual(t, freed, testLease-testLease/3-100*time.Millisecond, "held until the lease runs out")
	pub.kill()
	ffmpegPublish(t, o2.rtmpURL+"/live/k", "320x240")
	o2.waitLive(t, "live", "k")
	t.Logf("origin 2 publishes %v after SIGKILL", time.Since(killed))
	require.Equal(t, o2.httpURL, holder(t, r, "live/k"))
}

// TestClusterRedisDown: Redis killed mid-run. Streams and players go on;
// a node with on_redis_down: local admits new publishes, one with refuse
// refuses them with a clear status; two local nodes that both admitted a
// key meanwhile are resolved when Redis is back: the older session keeps
// it, the younger publisher is ended; every claim is in Redis again.
func TestClusterRedisDown(t *testing.T) {
	t.Parallel()
	needFFmpeg(t)
	r := redistest.Start(t)
	o1 := startOrigin(t, r, cluster.OnDownLocal)
	o2 := startOrigin(t, r, cluster.OnDownLocal)
	o3 := startOrigin(t, r, cluster.OnDownRefuse)
	ffmpegPublish(t, o1.rtmpURL+"/live/r1", "320x240")
	o1.waitLive(t, "live", "r1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := play(ctx, o1.httpURL+"/live/r1.flv")
	p.waitKey(t, 15*time.Second)

	r.Kill()
	// Local streams and players are unaffected.
	n := waitCount(t, p)
	p.waitTags(t, n+50, 10*time.Second)
	// local: admitted.
	ffmpegPublish(t, o1.rtmpURL+"/live/r2", "320x240")
	o1.waitLive(t, "live", "r2")
	// refuse: refused with a clear status.
	require.Contains(t, refused(t, ffmpegPublish(t, o3.rtmpURL+"/live/r3", "320x240")), "unreachable")
	require.Equal(t, "down", getCluster(t, o3).Redis.State)
	// Two nodes admit the same key: o1 first (the older session), then o2.
	ffmpegPublish(t, o1.rtmpURL+"/live/c", "320x240")
	o1.waitLive(t, "live", "c")
	younger := ffmpegPublish(t, o2.rtmpURL+"/live/c", "320x240", "-vf", "negate")
	o2.waitLive(t, "live", "c")

	r.Restart()
	back := time.Now()
	require.Eventually(t, func() bool {
		return holder(t, r, "live/r1") == o1.httpURL && holder(t, r, "live/r2") == o1.httpURL
	}, testLease, 10*time.Millisecond, "claims re-established")
	t.Logf("claims re-established %v after Redis came back", time.Since(back))
	_ = younger.wait(t, 2*testLease) // ended by o2: it lost the key
	require.Eventually(t, func() bool { _, err := o2.Registry().Stream(keyOf("live", "c")); return err != nil },
		testLease, 10*time.Millisecond)
	require.Equal(t, o1.httpURL, holder(t, r, "live/c"), "the older session keeps the key")
	require.Equal(t, uint64(1), getCluster(t, o2).Counts.Claims[cluster.ClaimLost])
	for _, c := range getCluster(t, o1).Claims {
		require.True(t, c.InRedis, "%s/%s in Redis", c.App, c.Stream)
	}
	n = waitCount(t, p)
	p.waitTags(t, n+25, 10*time.Second)
}

// TestClusterNodeURLDefaultsToTheHTTPAddress: without cluster.node_url a
// node claims under http:// and its HTTP listener's address.
func TestClusterNodeURLDefaultsToTheHTTPAddress(t *testing.T) {
	r := redistest.Start(t)
	s := startServer(t, func(c *config.Config) { c.Cluster.Redis = r.URL() })
	st := getCluster(t, s)
	require.True(t, st.Enabled)
	require.Equal(t, s.httpURL, st.NodeURL)
	require.Eventually(t, func() bool {
		for _, n := range getCluster(t, s).Nodes {
			if n.URL == s.httpURL && n.Live {
				return true
			}
		}
		return false
	}, testLease, 20*time.Millisecond, "the node's entry is in Redis")
}
