package cluster

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/headwater-media/headwater/internal/cluster/redistest"
	"github.com/headwater-media/headwater/internal/registry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newDir starts a directory of node url on r with lease and mode, closed
// when the test ends.
func newDir(t *testing.T, r *redistest.Server, url string, lease time.Duration, mode string, opts ...func(*Config)) *Directory {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Redis, cfg.NodeURL, cfg.Lease, cfg.OnRedisDown = r.URL(), url, lease, mode
	for _, o := range opts {
		o(&cfg)
	}
	cfg.Timeout = 200 * time.Millisecond
	d, err := New(cfg, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	require.NoError(t, err)
	d.Start()
	t.Cleanup(d.Close)
	return d
}

var keyA = registry.Key{App: "live", Name: "a"}

// TestClaimIsExclusiveAndReleased: a key claimed by one node is refused to
// another (ErrClaimed, a registry.ErrStreamBusy) until released, and the
// value names the holder; a second local holder (a backup) shares the claim.
func TestClaimIsExclusiveAndReleased(t *testing.T) {
	r := redistest.Start(t)
	d1 := newDir(t, r, "http://node1:8080", 10*time.Second, OnDownLocal)
	d2 := newDir(t, r, "rtmp://node2:1935", 10*time.Second, OnDownLocal)
	ctx := context.Background()

	rel1, err := d1.Claim(ctx, keyA, nil)
	require.NoError(t, err)
	v, err := r.Do("GET", KeyPrefix+"live/a")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(v, "http://node1:8080|"), v)
	ttl, err := r.Do("PTTL", KeyPrefix+"live/a")
	require.NoError(t, err)
	ms, err := strconv.Atoi(strings.TrimPrefix(ttl, ":"))
	require.NoError(t, err, ttl)
	require.InDelta(t, 9500, ms, 500, "PX lease: 10 s")

	_, err = d2.Claim(ctx, keyA, nil)
	require.ErrorIs(t, err, ErrClaimed)
	require.ErrorIs(t, err, registry.ErrStreamBusy)

	backup, err := d1.Claim(ctx, keyA, nil) // shared: no second claim
	require.NoError(t, err)
	rel1()
	rel1() // idempotent
	_, err = d2.Claim(ctx, keyA, nil)
	require.ErrorIs(t, err, ErrClaimed, "the backup still holds it")
	backup()
	rel2, err := d2.Claim(ctx, keyA, nil)
	require.NoError(t, err)
	defer rel2()
	require.Equal(t, 0, d1.Held())
	require.Equal(t, uint64(2), d1.Counts().Claims[ClaimOK]+d2.Counts().Claims[ClaimOK], "the backup shares its primary's claim")
	require.Equal(t, uint64(2), d2.Counts().Claims[ClaimBusy])

	st := d2.Status(ctx)
	require.Equal(t, "up", st.Redis.State)
	require.Len(t, st.Claims, 1)
	require.True(t, st.Claims[0].InRedis)
}

// TestLookupIsCachedAndSingleFlight: 100 concurrent lookups of a cold key
// make one Redis read; within a second the answer is reused; after the
// claim moves, the next read finds the new node.
func TestLookupIsCachedAndSingleFlight(t *testing.T) {
	r := redistest.Start(t)
	d1 := newDir(t, r, "http://node1:8080", 10*time.Second, OnDownLocal)
	cfg := DefaultConfig()
	cfg.Redis = r.URL()
	edge, err := New(cfg, zerolog.Nop())
	require.NoError(t, err)
	edge.Start()
	defer edge.Close()
	ctx := context.Background()

	_, err = edge.Lookup(ctx, keyA)
	require.ErrorIs(t, err, ErrNotFound)
	require.ErrorIs(t, err, registry.ErrNotFound)
	time.Sleep(lookupTTL) // the cached "not found" expires: the TTL is what is tested
	rel, err := d1.Claim(ctx, keyA, nil)
	require.NoError(t, err)

	before := edge.Counts()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u, err := edge.Lookup(ctx, keyA)
			if err == nil && u != "http://node1:8080" {
				err = errors.New("got " + u)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	after := edge.Counts()
	require.Equal(t, before.Lookups[LookupFound]+1, after.Lookups[LookupFound], "one read for 100 lookups")
	require.Equal(t, before.LookupsShared+99, after.LookupsShared)
	rel()
}

// TestLeaseEndsADeadNodesClaims: a node that stops renewing (its keeper
// stopped, as if killed) loses its claim when the lease runs out.
func TestLeaseEndsADeadNodesClaims(t *testing.T) {
	r := redistest.Start(t)
	const lease = 600 * time.Millisecond
	d1 := newDir(t, r, "http://node1:8080", lease, OnDownLocal)
	d2 := newDir(t, r, "http://node2:8080", lease, OnDownLocal)
	ctx := context.Background()
	_, err := d1.Claim(ctx, keyA, nil)
	require.NoError(t, err)
	time.Sleep(2 * lease) // renewed meanwhile: still held
	_, err = d2.Claim(ctx, keyA, nil)
	require.ErrorIs(t, err, ErrClaimed)

	d1.cancel() // the node dies: no renewal, no release
	<-d1.done
	died := time.Now()
	var rel func()
	require.Eventually(t, func() bool {
		rel, err = d2.Claim(ctx, keyA, nil)
		return err == nil
	}, 3*lease, 10*time.Millisecond)
	took := time.Since(died)
	require.LessOrEqual(t, took, lease+100*time.Millisecond)
	rel()
}

// TestRedisDown: with Redis killed, claims answer at once: OnDownLocal
// admits (claimed once Redis is back), OnDownRefuse refuses with
// ErrRedisDown; lookups fail fast with ErrRedisDown.
func TestRedisDown(t *testing.T) {
	r := redistest.Start(t)
	local := newDir(t, r, "http://node1:8080", 900*time.Millisecond, OnDownLocal)
	refuse := newDir(t, r, "http://node2:8080", 900*time.Millisecond, OnDownRefuse)
	ctx := context.Background()
	r.Kill()

	keyB := registry.Key{App: "live", Name: "b"}
	start := time.Now()
	rel, err := local.Claim(ctx, keyB, nil)
	require.NoError(t, err)
	defer rel()
	require.Less(t, time.Since(start), local.cfg.Timeout+50*time.Millisecond)
	require.False(t, local.Up())
	_, err = refuse.Claim(ctx, keyA, nil)
	require.ErrorIs(t, err, ErrRedisDown)
	start = time.Now()
	_, err = refuse.Claim(ctx, keyA, nil)
	require.ErrorIs(t, err, ErrRedisDown)
	require.Less(t, time.Since(start), 5*time.Millisecond, "known down: no Redis call")
	_, err = local.Lookup(ctx, keyA)
	require.ErrorIs(t, err, ErrRedisDown)
	require.Equal(t, uint64(1), local.Counts().Claims[ClaimLocal])
	require.Equal(t, "down", local.Status(ctx).Redis.State)

	r.Restart()
	require.Eventually(t, func() bool {
		v, err := r.Do("GET", KeyPrefix+"live/b")
		return err == nil && strings.HasPrefix(v, "http://node1:8080|")
	}, 3*time.Second, 10*time.Millisecond, "claim re-established")
	require.True(t, local.Up())
	require.Eventually(t, refuse.Up, 3*time.Second, 10*time.Millisecond, "the other node reconnects too")
	_, err = refuse.Claim(ctx, keyB, nil)
	require.ErrorIs(t, err, ErrClaimed)
}

// TestConflictAfterOutageOlderSessionWins: two nodes admit the same key
// while Redis is down; once it is back, the older session keeps it and
// the younger one's publisher is told (lost).
func TestConflictAfterOutageOlderSessionWins(t *testing.T) {
	r := redistest.Start(t)
	const lease = 900 * time.Millisecond
	older := newDir(t, r, "http://old:8080", lease, OnDownLocal)
	younger := newDir(t, r, "http://young:8080", lease, OnDownLocal)
	ctx := context.Background()
	r.Kill()
	relOld, err := older.Claim(ctx, keyA, func() { t.Error("the older session lost") })
	require.NoError(t, err)
	defer relOld()
	time.Sleep(5 * time.Millisecond) // distinct start times: the order is the test
	lost := make(chan struct{})
	relYoung, err := younger.Claim(ctx, keyA, func() { close(lost) })
	require.NoError(t, err)
	r.Restart()
	select {
	case <-lost:
	case <-time.After(5 * lease):
		t.Fatal("the younger session was not told it lost")
	}
	relYoung() // its publisher ends: must not delete the older's claim
	v, err := r.Do("GET", KeyPrefix+"live/a")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(v, "http://old:8080|"), v)
	require.Equal(t, uint64(1), younger.Counts().Claims[ClaimLost])
	require.Equal(t, 0, younger.Held())
	require.Equal(t, 1, older.Held())
}

// TestReleaseWhileRedisUnreachable: a claim released while Redis does not
// answer (paused, as behind a partition) is deleted as soon as it answers
// again, long before its lease would end it.
func TestReleaseWhileRedisUnreachable(t *testing.T) {
	r := redistest.Start(t)
	d := newDir(t, r, "http://node1:8080", 10*time.Second, OnDownLocal)
	rel, err := d.Claim(context.Background(), keyA, nil)
	require.NoError(t, err)
	_, err = r.Do("CLIENT", "PAUSE", "1000", "ALL")
	require.NoError(t, err)
	paused := time.Now()
	rel() // its delete times out: Redis is marked down, the claim kept for later
	require.False(t, d.Up())
	require.Eventually(t, func() bool {
		v, err := r.Do("GET", KeyPrefix+"live/a")
		return err == nil && v == "$-1"
	}, 5*time.Second, 20*time.Millisecond)
	t.Logf("claim deleted %v after the pause began (the pause: 1 s, the lease: 10 s)", time.Since(paused))
	require.Less(t, time.Since(paused), 3*time.Second)
	require.True(t, d.Up())
}

// TestRedisPassword: a password in the URL authenticates; a wrong one is
// Redis down (never a crash), and the status never shows the password.
func TestRedisPassword(t *testing.T) {
	r := redistest.StartWith(t, "s3cret-pw")
	d := newDir(t, r, "http://node1:8080", 10*time.Second, OnDownRefuse)
	rel, err := d.Claim(context.Background(), keyA, nil)
	require.NoError(t, err)
	defer rel()
	st := d.Status(context.Background())
	require.Equal(t, "up", st.Redis.State)
	require.NotContains(t, st.Redis.URL, "s3cret-pw")
	require.Eventually(t, func() bool { return len(d.Status(context.Background()).Nodes) == 1 }, 2*time.Second, 10*time.Millisecond,
		"the node's entry (written by the keeper at start)")

	cfg := DefaultConfig()
	cfg.Redis, cfg.NodeURL, cfg.OnRedisDown = "redis://:wrong@"+r.Addr+"/0", "http://node2:8080", OnDownRefuse
	bad, err := New(cfg, zerolog.Nop())
	require.NoError(t, err)
	bad.Start()
	defer bad.Close()
	require.False(t, bad.Up())
	_, err = bad.Claim(context.Background(), keyA, nil)
	require.ErrorIs(t, err, ErrRedisDown)
	require.NotContains(t, bad.Status(context.Background()).Redis.URL, "wrong")
}

// TestFenceEndsClaimsBeforeTheirLease: with Fence, a claim that cannot be
// renewed (Redis unreachable) ends its publisher at 9/10 of the lease,
// before the key can be claimed elsewhere; without Fence it stays.
func TestFenceEndsClaimsBeforeTheirLease(t *testing.T) {
	r := redistest.Start(t)
	const lease = 900 * time.Millisecond
	fenced := newDir(t, r, "http://node1:8080", lease, OnDownLocal, func(c *Config) { c.Fence = true })
	kept := newDir(t, r, "http://node2:8080", lease, OnDownLocal)
	ctx := context.Background()
	lost := make(chan time.Time, 1)
	rel1, err := fenced.Claim(ctx, keyA, func() { lost <- time.Now() })
	require.NoError(t, err)
	defer rel1()
	rel2, err := kept.Claim(ctx, registry.Key{App: "live", Name: "b"}, func() { t.Error("fenced without Fence") })
	require.NoError(t, err)
	defer rel2()
	time.Sleep(lease) // renewed meanwhile: nothing fenced
	require.Empty(t, lost)

	_, err = r.Do("CLIENT", "PAUSE", "3000", "ALL")
	require.NoError(t, err)
	paused := time.Now()
	select {
	case at := <-lost:
		// Fenced fenceAfter the last renewal, which was before the pause,
		// and two timeouts before the key can lapse in Redis.
		require.Less(t, at.Sub(paused), fenced.fenceAfter()+fenced.cfg.Timeout)
		t.Logf("fenced %v after Redis stopped answering (lease %v)", at.Sub(paused), lease)
	case <-time.After(3 * lease):
		t.Fatal("not fenced")
	}
	require.Equal(t, uint64(1), fenced.Counts().Claims[ClaimFenced])
	require.Equal(t, 0, fenced.Held())
	require.Equal(t, 1, kept.Held())
}
