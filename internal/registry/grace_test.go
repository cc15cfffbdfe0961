package registry

import (
	"context"
	"math/rand"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/internal/stream"
	st "github.com/headwater-media/headwater/internal/stream/streamtest"
	"github.com/headwater-media/headwater/pkg/flv"
)

// graceTags writes a sequence header and a keyframe, then frames, for who.
func graceStart(t *testing.T, p *Publisher, who byte, seq []byte, ts uint32) {
	t.Helper()
	require.NoError(t, p.Write(flv.TagVideo, 0, seq))
	require.NoError(t, p.Write(flv.TagVideo, ts, frameOf(who, true)))
	require.NoError(t, p.Write(flv.TagVideo, ts+40, frameOf(who, false)))
}

// TestGraceResumesTheStream: a dropped publisher's stream stays live with
// its players for the grace; a publish of the key resumes it: the players'
// subscription goes on, and from the new publisher's first keyframe they
// get its sequence header in-band, then its frames, on the stream's
// timeline.
func TestGraceResumesTheStream(t *testing.T) {
	r := New(stream.DefaultConfig(), WithGrace(time.Minute))
	p, err := r.Publish(testKey, PublisherInfo{Remote: "first"}, nil)
	require.NoError(t, err)
	graceStart(t, p, 1, st.AVCSeqHeader(), 5000)
	pl, err := r.Play(testKey, "viewer")
	require.NoError(t, err)
	defer pl.Release()
	sub, err := pl.Subscribe()
	require.NoError(t, err)
	got := drain(t, sub)
	last := got[len(got)-1].Timestamp

	p.Drop()
	p.Drop()
	p.Release() // one release: the first
	require.ErrorIs(t, p.Write(flv.TagVideo, 5080, frameOf(1, false)), ErrReleased)
	info, err := r.Stream(testKey)
	require.NoError(t, err, "live through the grace")
	require.False(t, info.GraceUntil.IsZero())
	require.Equal(t, Stats{Streams: 1, Publishers: 0, Players: 1, Alive: 1}, r.Stats(), "live, but without a publisher")
	require.Empty(t, drain(t, sub), "players wait")
	_, err = r.PlayWith(testKey, PlayerInfo{Relay: true}, nil)
	require.ErrorIs(t, err, ErrNotFound, "an edge looks elsewhere during the grace")

	seq2 := st.AVCSeqHeader()
	seq2[len(seq2)-5] ^= 0x55                                                        // a new resolution
	n, err := r.PublishAs(testKey, PublisherInfo{Remote: "second"}, nil, RoleBackup) // any role resumes
	require.NoError(t, err)
	require.True(t, n.Resumed())
	require.NoError(t, n.Write(flv.TagScript, 0, st.Metadata(true, false)))
	require.NoError(t, n.Write(flv.TagVideo, 0, seq2))
	require.NoError(t, n.Write(flv.TagVideo, 0, frameOf(2, false)))
	require.Empty(t, drain(t, sub), "nothing before the new keyframe")
	require.NoError(t, n.Write(flv.TagVideo, 40, frameOf(2, true)))
	require.NoError(t, n.Write(flv.TagVideo, 80, frameOf(2, false)))
	got = drain(t, sub)
	require.Len(t, got, 4)
	require.Equal(t, flv.TagScript, got[0].Type)
	require.Equal(t, st.Payload(seq2), got[1].Payload(), "the new sequence header in-band")
	require.True(t, got[2].Keyframe, "a keyframe first")
	require.Equal(t, byte(2), whose(got[2]))
	require.Greater(t, got[2].Timestamp, last, "the timeline goes on")
	require.Equal(t, got[2].Timestamp+40, got[3].Timestamp, "the new session's spacing")

	info, err = r.Stream(testKey)
	require.NoError(t, err)
	require.True(t, info.GraceUntil.IsZero())
	require.Equal(t, "second", info.Publisher.Remote)
	require.Equal(t, 1, r.Stats().Publishers)
	_, err = r.Publish(testKey, PublisherInfo{}, nil)
	require.ErrorIs(t, err, ErrStreamBusy, "a duplicate of a live key is still refused")
	require.Equal(t, uint64(1), r.Graces()[GraceResumed])

	n.Release() // a release, not a drop: the stream ends at once
	_, err = sub.Next(context.Background(), nil)
	require.ErrorIs(t, err, stream.ErrEnded)
	pl.Release()
	requireEmpty(t, r)
}

// TestGraceExpires: without a resume, the stream ends when the grace runs
// out, even with no players left to hold it, and the key is free again.
func TestGraceExpires(t *testing.T) {
	const grace = 100 * time.Millisecond
	r := New(stream.DefaultConfig(), WithGrace(grace))
	p, err := r.Publish(testKey, PublisherInfo{}, nil)
	require.NoError(t, err)
	graceStart(t, p, 1, st.AVCSeqHeader(), 0)
	pl, err := r.Play(testKey, "viewer")
	require.NoError(t, err)
	sub, err := pl.Subscribe()
	require.NoError(t, err)
	drain(t, sub)
	dropped := time.Now()
	p.Drop()
	_, err = sub.Next(context.Background(), nil)
	require.ErrorIs(t, err, stream.ErrEnded)
	require.GreaterOrEqual(t, time.Since(dropped), grace)
	_, err = r.Stream(testKey)
	require.ErrorIs(t, err, ErrNotFound)
	pl.Release()
	requireEmpty(t, r)
	require.Equal(t, uint64(1), r.Graces()[GraceExpired])

	// Held by its grace alone: no player, still live until it expires.
	p, err = r.Publish(testKey, PublisherInfo{}, nil)
	require.NoError(t, err)
	p.Drop()
	require.Equal(t, Stats{Streams: 1, Alive: 1}, r.Stats())
	require.Eventually(t, func() bool { return r.Stats() == Stats{} }, 5*time.Second, 5*time.Millisecond)
}

// TestGraceEndsOnKickAndShutdown: Kick ends a stream in its grace at
// once, and a kicked publisher's drop ends its stream; EndGraces ends
// every grace and turns it off.
func TestGraceEndsOnKickAndShutdown(t *testing.T) {
	r := New(stream.DefaultConfig(), WithGrace(time.Hour))
	p, err := r.Publish(testKey, PublisherInfo{}, nil)
	require.NoError(t, err)
	p.Drop()
	require.NoError(t, r.Kick(testKey))
	requireEmpty(t, r)
	require.ErrorIs(t, r.Kick(testKey), ErrNotFound)

	p, err = r.Publish(testKey, PublisherInfo{}, nil)
	require.NoError(t, err)
	require.NoError(t, r.Kick(testKey)) // the session would drop when its connection closes
	p.Drop()
	requireEmpty(t, r)

	other := Key{App: "live", Name: "other"}
	p, err = r.Publish(testKey, PublisherInfo{}, nil)
	require.NoError(t, err)
	q, err := r.Publish(other, PublisherInfo{}, nil)
	require.NoError(t, err)
	p.Drop()
	r.EndGraces()
	_, err = r.Stream(testKey)
	require.ErrorIs(t, err, ErrNotFound)
	q.Drop() // shutting down: no grace any more
	requireEmpty(t, r)
	g := r.Graces()
	require.Equal(t, uint64(1), g[GraceKicked])
	require.Equal(t, uint64(1), g[GraceShutdown])
}

// TestGraceKicksRelays: an edge pulling the stream is kicked when its
// publisher drops, so that it fails over; local players stay.
func TestGraceKicksRelays(t *testing.T) {
	r := New(stream.DefaultConfig(), WithGrace(time.Hour))
	p, err := r.Publish(testKey, PublisherInfo{}, nil)
	require.NoError(t, err)
	kicked := make(chan struct{}, 1)
	edge, err := r.PlayWith(testKey, PlayerInfo{Relay: true}, func() { kicked <- struct{}{} })
	require.NoError(t, err)
	esub, err := edge.Subscribe()
	require.NoError(t, err)
	local, err := r.Play(testKey, "viewer")
	require.NoError(t, err)
	lsub, err := local.Subscribe()
	require.NoError(t, err)
	p.Drop()
	<-kicked
	_, err = esub.Next(context.Background(), nil)
	require.ErrorIs(t, err, stream.ErrClosed)
	require.Empty(t, drain(t, lsub), "a local player waits")
	edge.Release()
	local.Release()
	require.NoError(t, r.Kick(testKey))
	requireEmpty(t, r)
}

// TestGraceNotForBackupsOrWhenOff: a primary with a backup hands over
// instead; with grace 0, Drop is Release.
func TestGraceNotForBackupsOrWhenOff(t *testing.T) {
	r := New(stream.DefaultConfig(), WithGrace(time.Hour))
	p, err := r.Publish(testKey, PublisherInfo{Remote: "a"}, nil)
	require.NoError(t, err)
	b, err := r.PublishAs(testKey, PublisherInfo{Remote: "b"}, nil, RoleBackup)
	require.NoError(t, err)
	p.Drop()
	info, err := r.Stream(testKey)
	require.NoError(t, err)
	require.True(t, info.GraceUntil.IsZero(), "the backup has it")
	require.Equal(t, "b", info.Publisher.Remote)
	b.Release()
	requireEmpty(t, r)

	r = New(stream.DefaultConfig(), WithGrace(0))
	p, err = r.Publish(testKey, PublisherInfo{}, nil)
	require.NoError(t, err)
	p.Drop()
	requireEmpty(t, r)
}

// TestGraceReferenceReleasedOnce races every way a grace ends (a resume,
// the expiry, a kick, shutdown) with players coming and going: whatever
// the order, each grace ends exactly one way and the registry ends
// empty.
func TestGraceReferenceReleasedOnce(t *testing.T) {
	const rounds = 300
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	var graces uint64
	for i := 0; i < rounds; i++ {
		r := New(stream.DefaultConfig(), WithGrace(time.Duration(1+rng.Intn(2000))*time.Microsecond))
		p, err := r.Publish(testKey, PublisherInfo{}, nil)
		require.NoError(t, err)
		pl, err := r.Play(testKey, "viewer")
		require.NoError(t, err)
		require.True(t, p.Drop(), "a grace however short")
		graces++
		var wg sync.WaitGroup
		var resumed *Publisher
		var mu sync.Mutex
		shutdown := rng.Intn(4) == 0
		for _, f := range []func(){
			func() {
				if n, err := r.Publish(testKey, PublisherInfo{}, nil); err == nil {
					mu.Lock()
					resumed = n
					mu.Unlock()
				}
			},
			func() { _ = r.Kick(testKey) },
			func() {
				if shutdown {
					r.EndGraces()
				}
			},
			func() { pl.Release() },
		} {
			wg.Add(1)
			go func() { defer wg.Done(); f() }()
		}
		wg.Wait()
		if resumed != nil {
			resumed.Release() // resumed, or published anew after the grace
		}
		require.Eventually(t, func() bool { return r.Stats() == Stats{} }, 5*time.Second, time.Millisecond)
		var ended uint64
		for _, n := range r.Graces() {
			ended += n
		}
		require.Equal(t, graces, ended, "round %d: one end per grace", i)
		graces = 0
	}
}

// TestRefusedResumeKeepsTheGrace: a publish that resumed a stream in its
// grace and drops before its first frame (the on_publish hook or the
// cluster refused it) gives the stream back to that grace, ending when it
// would have; the players wait on, and a later publish resumes it. One
// that wrote frames gets a grace of its own.
func TestRefusedResumeKeepsTheGrace(t *testing.T) {
	r := New(stream.DefaultConfig(), WithGrace(time.Minute))
	p, err := r.Publish(testKey, PublisherInfo{}, nil)
	require.NoError(t, err)
	graceStart(t, p, 1, st.AVCSeqHeader(), 0)
	pl, err := r.Play(testKey, "viewer")
	require.NoError(t, err)
	defer pl.Release()
	sub, err := pl.Subscribe()
	require.NoError(t, err)
	drain(t, sub)
	require.True(t, p.Drop())
	info, err := r.Stream(testKey)
	require.NoError(t, err)
	until := info.GraceUntil

	refused, err := r.Publish(testKey, PublisherInfo{Remote: "refused"}, nil)
	require.NoError(t, err)
	require.True(t, refused.Resumed())
	require.True(t, refused.Drop(), "back into the grace")
	info, err = r.Stream(testKey)
	require.NoError(t, err)
	require.Equal(t, until, info.GraceUntil, "the grace it took, not a new one")

	n, err := r.Publish(testKey, PublisherInfo{Remote: "next"}, nil)
	require.NoError(t, err)
	require.True(t, n.Resumed())
	graceStart(t, n, 2, st.AVCSeqHeader(), 0)
	got := drain(t, sub)
	require.NotEmpty(t, got, "the stream went on")
	require.True(t, n.Drop())
	info, err = r.Stream(testKey)
	require.NoError(t, err)
	require.True(t, info.GraceUntil.After(until), "a publisher that wrote gets a grace of its own")
	require.Equal(t, uint64(2), r.Graces()[GraceResumed])

	// A resume dropped when the grace it took has run out ends the stream.
	r2 := New(stream.DefaultConfig(), WithGrace(50*time.Millisecond))
	p, err = r2.Publish(testKey, PublisherInfo{}, nil)
	require.NoError(t, err)
	graceStart(t, p, 1, st.AVCSeqHeader(), 0)
	require.True(t, p.Drop())
	late, err := r2.Publish(testKey, PublisherInfo{}, nil)
	require.NoError(t, err)
	require.True(t, late.Resumed())
	time.Sleep(60 * time.Millisecond) // the time a refusing hook took: what is tested
	require.False(t, late.Drop())
	require.Equal(t, Stats{}, r2.Stats())
}

// TestPromotingPublisherStaysBackupAfterAStallTakeover: a resumed
// publisher waiting for its keyframe, overtaken by a backup that joined
// and found the stream silent, is the backup from then on; its keyframe
// does not make it primary again.
func TestPromotingPublisherStaysBackupAfterAStallTakeover(t *testing.T) {
	const after = 50 * time.Millisecond
	r := New(stream.DefaultConfig(), WithGrace(time.Minute), WithBackup(Backup{FailoverAfter: after}))
	p, err := r.Publish(testKey, PublisherInfo{}, nil)
	require.NoError(t, err)
	graceStart(t, p, 1, st.AVCSeqHeader(), 0)
	require.True(t, p.Drop())
	n, err := r.Publish(testKey, PublisherInfo{Remote: "resumed"}, nil)
	require.NoError(t, err)
	require.True(t, n.Backup(), "waits for its keyframe")
	b, err := r.PublishAs(testKey, PublisherInfo{Remote: "backup"}, nil, RoleBackup)
	require.NoError(t, err)
	time.Sleep(after) // the stream's silence is what is tested
	require.NoError(t, b.Write(flv.TagVideo, 0, st.AVCSeqHeader()))
	require.NoError(t, b.Write(flv.TagVideo, 0, frameOf(2, true)))
	require.False(t, b.Backup(), "the backup took the silent stream over")
	require.NoError(t, n.Write(flv.TagVideo, 0, st.AVCSeqHeader()))
	require.NoError(t, n.Write(flv.TagVideo, 0, frameOf(3, true)))
	require.True(t, n.Backup(), "the overtaken publisher stays the backup")
	info, err := r.Stream(testKey)
	require.NoError(t, err)
	require.Equal(t, "backup", info.Publisher.Remote)
	n.Release()
	b.Release()
	requireEmpty(t, r)
}
