package registry

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/internal/stream"
	st "github.com/headwater-media/headwater/internal/stream/streamtest"
	"github.com/headwater-media/headwater/pkg/flv"
)

// recorder is an Observer that keeps what it was told.
type recorder struct {
	mu          sync.Mutex
	firstFrames []time.Duration
	published   []time.Duration
}

func (r *recorder) FirstFrame(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.firstFrames = append(r.firstFrames, d)
}

func (r *recorder) PublishEnded(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.published = append(r.published, d)
}

func (r *recorder) counts() (int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.firstFrames), len(r.published)
}

func TestPlayersAreListedWithTheirStats(t *testing.T) {
	obs := &recorder{}
	r := New(stream.DefaultConfig(), WithObserver(obs))
	pub, err := r.Publish(testKey, PublisherInfo{Remote: "1.2.3.4:5"}, nil)
	require.NoError(t, err)
	other := Key{App: "live", Name: "other"}
	pub2, err := r.Publish(other, PublisherInfo{}, nil)
	require.NoError(t, err)

	p1, err := r.PlayWith(testKey, PlayerInfo{Remote: "10.0.0.1:1000", UserAgent: "ffplay"}, nil)
	require.NoError(t, err)
	p2, err := r.Play(testKey, "10.0.0.2:2000")
	require.NoError(t, err)
	p3, err := r.PlayWith(other, PlayerInfo{UserAgent: "VLC"}, nil)
	require.NoError(t, err)
	sub1, err := p1.Subscribe()
	require.NoError(t, err)

	require.NoError(t, pub.Write(flv.TagVideo, 0, st.AVCSeqHeader()))
	require.NoError(t, pub.Write(flv.TagVideo, 0, st.AVCFrame(true, 100)))
	p1.AddSent(1000)
	p1.AddSent(-1) // ignored
	p1.FirstFrame()
	p1.FirstFrame() // only the first counts
	p2.AddSent(24)

	all := r.Players()
	require.Len(t, all, 3)
	require.Equal(t, []uint64{p1.ID(), p2.ID(), p3.ID()}, []uint64{all[0].ID, all[1].ID, all[2].ID}, "sorted by id")
	s1 := all[0]
	require.Equal(t, testKey, s1.Key)
	require.Equal(t, pub.ID(), s1.StreamID)
	require.Equal(t, "10.0.0.1:1000", s1.Remote)
	require.Equal(t, "ffplay", s1.UserAgent)
	require.Equal(t, uint64(1000), s1.BytesSent)
	require.Equal(t, 2, s1.QueueTags, "header and keyframe wait in the queue")
	require.Positive(t, s1.QueueBytes)
	require.Positive(t, s1.TimeToFirstFrame)
	require.Zero(t, all[1].TimeToFirstFrame)
	require.Zero(t, all[1].QueueTags, "not subscribed")
	require.Equal(t, "10.0.0.2:2000", all[1].Remote)
	require.Equal(t, "VLC", all[2].UserAgent)
	ff, _ := obs.counts()
	require.Equal(t, 1, ff)

	mine, err := r.StreamPlayers(testKey)
	require.NoError(t, err)
	require.Len(t, mine, 2)
	_, err = r.StreamPlayers(Key{App: "live", Name: "none"})
	require.ErrorIs(t, err, ErrNotFound)
	one, err := r.Player(p3.ID())
	require.NoError(t, err)
	require.Equal(t, other, one.Key)
	_, err = r.Player(12345)
	require.ErrorIs(t, err, ErrPlayerNotFound)

	info, err := r.Stream(testKey)
	require.NoError(t, err)
	require.Equal(t, 2, info.Players)
	require.Equal(t, uint64(1024), info.BytesOut)
	require.Positive(t, info.BytesIn)
	require.Equal(t, "1.2.3.4:5", info.Publisher.Remote)
	require.Equal(t, "h264", info.Media.Video.Codec)
	_, err = r.Stream(Key{App: "live", Name: "none"})
	require.ErrorIs(t, err, ErrNotFound)

	drainSub(sub1)
	pub.Release()
	_, err = r.StreamPlayers(testKey)
	require.ErrorIs(t, err, ErrNotFound, "the publisher left: no live stream under the key")
	require.Len(t, r.Players(), 3, "its players are still listed while they drain")
	_, pubs := obs.counts()
	require.Equal(t, 1, pubs, "publish duration observed at release")

	for _, p := range []*Player{p1, p2, p3} {
		p.Release()
	}
	require.Empty(t, r.Players())
	pub2.Release()
	requireEmpty(t, r)
	_, pubs = obs.counts()
	require.Equal(t, 2, pubs)
}

// drainSub takes what is queued without blocking.
func drainSub(sub *stream.Subscriber) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _ = sub.Next(ctx, nil)
}

func TestKickPlayerEndsOnlyThatPlayer(t *testing.T) {
	r := newTestRegistry()
	pub, err := r.Publish(testKey, PublisherInfo{}, nil)
	require.NoError(t, err)
	var kicked atomic.Int32
	p1, err := r.PlayWith(testKey, PlayerInfo{}, func() { kicked.Add(1) })
	require.NoError(t, err)
	p2, err := r.Play(testKey, "")
	require.NoError(t, err)
	sub1, err := p1.Subscribe()
	require.NoError(t, err)
	sub2, err := p2.Subscribe()
	require.NoError(t, err)
	require.NoError(t, pub.Write(flv.TagVideo, 0, st.AVCSeqHeader()))
	require.NoError(t, pub.Write(flv.TagVideo, 0, st.AVCFrame(true, 100)))

	// A writer blocked in Next wakes with ErrClosed.
	done := make(chan error, 1)
	go func() {
		drainSub(sub1)
		_, err := sub1.Next(context.Background(), nil)
		done <- err
	}()
	require.NoError(t, r.KickPlayer(p1.ID()))
	select {
	case err := <-done:
		require.ErrorIs(t, err, stream.ErrClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("kicked player's Next did not return")
	}
	require.Equal(t, int32(1), kicked.Load())
	require.NoError(t, r.KickPlayer(p1.ID()), "still held until released; a second kick is a no-op")
	require.Equal(t, int32(1), kicked.Load())
	s, err := p1.Subscribe()
	require.NoError(t, err)
	require.Same(t, sub1, s)

	require.NoError(t, pub.Write(flv.TagVideo, 40, st.AVCFrame(false, 100)))
	tags := 0
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got, err := sub2.Next(ctx, nil)
	require.NoError(t, err)
	tags += len(got)
	require.Equal(t, 3, tags, "the other player goes on")

	p1.Release()
	require.ErrorIs(t, r.KickPlayer(p1.ID()), ErrPlayerNotFound)

	// Kicked before it subscribed: it may not subscribe.
	p3, err := r.Play(testKey, "")
	require.NoError(t, err)
	require.NoError(t, r.KickPlayer(p3.ID()))
	_, err = p3.Subscribe()
	require.ErrorIs(t, err, ErrKicked)
	p3.Release()

	p2.Release()
	pub.Release()
	requireEmpty(t, r)
}

// TestKickPlayerRacesRelease kicks players while they release, under -race
// and the lock-order checker.
func TestKickPlayerRacesRelease(t *testing.T) {
	r := newTestRegistry()
	pub, err := r.Publish(testKey, PublisherInfo{}, nil)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for range 200 {
		p, err := r.PlayWith(testKey, PlayerInfo{}, func() {})
		require.NoError(t, err)
		wg.Add(3)
		go func() { defer wg.Done(); _, _ = p.Subscribe(); p.AddSent(1); p.FirstFrame(); p.Release() }()
		go func() { defer wg.Done(); _ = r.KickPlayer(p.ID()) }()
		go func() { defer wg.Done(); _ = r.Players(); _, _ = r.Stream(testKey) }()
	}
	wg.Wait()
	pub.Release()
	requireEmpty(t, r)
}

// TestResubscribeStartsOver: a new subscription starts with the stream's
// headers and cached GOP, the old one is closed; after Release or a kick
// there is none.
func TestResubscribeStartsOver(t *testing.T) {
	r := New(stream.DefaultConfig())
	pub, err := r.Publish(testKey, PublisherInfo{}, nil)
	require.NoError(t, err)
	p, err := r.Play(testKey, "")
	require.NoError(t, err)
	old, err := p.Subscribe()
	require.NoError(t, err)
	require.NoError(t, pub.Write(flv.TagVideo, 0, st.AVCSeqHeader()))
	require.NoError(t, pub.Write(flv.TagVideo, 0, st.AVCFrame(true, 100)))
	require.NoError(t, pub.Write(flv.TagVideo, 40, st.AVCFrame(false, 50)))

	sub, err := p.Resubscribe()
	require.NoError(t, err)
	require.NotSame(t, old, sub)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tags, err := sub.Next(ctx, nil)
	require.NoError(t, err)
	require.Len(t, tags, 3, "the sequence header and the cached GOP")
	require.True(t, tags[0].Header)
	require.True(t, tags[1].Keyframe)
	for {
		if _, err = old.Next(ctx, nil); err != nil {
			break
		}
	}
	require.ErrorIs(t, err, stream.ErrClosed)
	require.Equal(t, 1, r.Stats().Players, "still one handle")

	require.NoError(t, r.KickPlayer(p.ID()))
	_, err = p.Resubscribe()
	require.ErrorIs(t, err, ErrKicked)
	p.Release()
	_, err = p.Resubscribe()
	require.ErrorIs(t, err, ErrReleased)
	pub.Release()
	require.Equal(t, Stats{}, r.Stats())
}
