package registry

import (
	"bytes"
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

// frameOf marks a frame buffer with a byte so that a test can tell whose
// it is (1: primary, 2: backup).
func frameOf(who byte, key bool) []byte {
	b := st.AVCFrame(key, 64)
	b[flv.TagHeaderSize+10] = who
	return b
}

func whose(t *stream.Tag) byte { return t.Data[flv.TagHeaderSize+10] }

// drain takes what sub has queued now, without waiting.
func drain(t *testing.T, sub *stream.Subscriber) []*stream.Tag {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var out []*stream.Tag
	for {
		batch, err := sub.Next(ctx, nil)
		out = append(out, batch...)
		if err != nil {
			require.ErrorIs(t, err, context.DeadlineExceeded, "the subscription must go on")
			return out
		}
	}
}

func TestSecondPublisherNeedsTheBackupRole(t *testing.T) {
	r := newTestRegistry()
	p, err := r.Publish(testKey, PublisherInfo{Remote: "a"}, nil)
	require.NoError(t, err)
	_, err = r.Publish(testKey, PublisherInfo{Remote: "b"}, nil)
	require.ErrorIs(t, err, ErrStreamBusy, "the duplicate-publisher contract holds without the role")
	b, err := r.PublishAs(testKey, PublisherInfo{Remote: "b"}, nil, RoleBackup)
	require.NoError(t, err)
	require.True(t, b.Backup())
	require.False(t, p.Backup())
	_, err = r.PublishAs(testKey, PublisherInfo{Remote: "c"}, nil, RoleBackup)
	require.ErrorIs(t, err, ErrStreamBusy, "one backup at a time")
	info, err := r.Stream(testKey)
	require.NoError(t, err)
	require.Equal(t, "a", info.Publisher.Remote)
	require.Equal(t, "b", info.Backup.Remote)
	require.Equal(t, 1, r.Stats().Publishers)
	b.Release()
	p.Release()
	requireEmpty(t, r)

	// publish.backup: auto makes a second publisher the backup.
	r = New(stream.DefaultConfig(), WithBackup(Backup{Auto: true, FailoverAfter: time.Second}))
	p, err = r.Publish(testKey, PublisherInfo{}, nil)
	require.NoError(t, err)
	b, err = r.Publish(testKey, PublisherInfo{}, nil)
	require.NoError(t, err)
	require.True(t, b.Backup())
	p.Release()
	b.Release()
	requireEmpty(t, r)
}

// TestBackupTakesOverWhenThePrimaryLeaves: the backup's media is not sent
// while the primary writes; when the primary leaves, the subscription
// goes on, and from the backup's next keyframe players get its sequence
// header in-band, then its frames, with timestamps that keep going up.
// The old primary, back, becomes the backup.
func TestBackupTakesOverWhenThePrimaryLeaves(t *testing.T) {
	r := newTestRegistry()
	p, err := r.Publish(testKey, PublisherInfo{Remote: "primary"}, nil)
	require.NoError(t, err)
	require.NoError(t, p.Write(flv.TagVideo, 0, st.AVCSeqHeader()))
	require.NoError(t, p.Write(flv.TagVideo, 5000, frameOf(1, true)))
	pl, err := r.Play(testKey, "viewer")
	require.NoError(t, err)
	defer pl.Release()
	sub, err := pl.Subscribe()
	require.NoError(t, err)

	b, err := r.PublishAs(testKey, PublisherInfo{Remote: "backup"}, nil, RoleBackup)
	require.NoError(t, err)
	seqB := st.AVCSeqHeader()
	seqB[len(seqB)-5] ^= 0x55 // a different configuration record
	require.NoError(t, b.Write(flv.TagVideo, 0, seqB))
	require.NoError(t, b.Write(flv.TagVideo, 100, frameOf(2, true)))
	require.NoError(t, p.Write(flv.TagVideo, 5040, frameOf(1, false)))
	require.NoError(t, b.Write(flv.TagVideo, 140, frameOf(2, false)))
	got := drain(t, sub)
	for _, tg := range got {
		if !tg.Header {
			require.Equal(t, byte(1), whose(tg), "only the primary's frames go out")
		}
	}
	require.Equal(t, uint64(2), b.Frames(), "the backup's frames count for its media timeout")
	last := got[len(got)-1].Timestamp

	p.Release()
	_, err = r.Stream(testKey)
	require.NoError(t, err, "still live: the backup has it")
	require.NoError(t, b.Write(flv.TagVideo, 180, frameOf(2, false)))
	require.Empty(t, drain(t, sub), "nothing until the backup's keyframe")
	require.NoError(t, b.Write(flv.TagVideo, 220, frameOf(2, true)))
	require.NoError(t, b.Write(flv.TagVideo, 260, frameOf(2, false)))
	got = drain(t, sub)
	require.Len(t, got, 3)
	require.True(t, got[0].Header)
	require.Equal(t, st.Payload(seqB), got[0].Payload(), "the backup's sequence header in-band")
	require.True(t, got[1].Keyframe)
	require.Equal(t, byte(2), whose(got[1]))
	require.Greater(t, got[1].Timestamp, last, "timestamps keep going up across the takeover")
	require.Greater(t, got[2].Timestamp, got[1].Timestamp)
	info, err := r.Stream(testKey)
	require.NoError(t, err)
	require.Equal(t, "backup", info.Publisher.Remote)
	require.Nil(t, info.Backup)
	require.False(t, b.Backup())

	// The old primary comes back: it is the backup now.
	back, err := r.Publish(testKey, PublisherInfo{Remote: "primary again"}, nil)
	require.NoError(t, err)
	require.True(t, back.Backup())
	require.NoError(t, back.Write(flv.TagVideo, 0, st.AVCSeqHeader()))
	require.NoError(t, back.Write(flv.TagVideo, 10, frameOf(1, true)))
	require.NoError(t, b.Write(flv.TagVideo, 300, frameOf(2, false)))
	for _, tg := range drain(t, sub) {
		require.Equal(t, byte(2), whose(tg), "the returning publisher is a standby")
	}

	// Both gone: the stream ends.
	b.Release()
	back.Release()
	_, err = sub.Next(context.Background(), nil)
	require.ErrorIs(t, err, stream.ErrEnded)
	pl.Release()
	requireEmpty(t, r)
}

// TestBackupTakesOverAStalledPrimary: a primary that still holds the key
// but has sent no frame for FailoverAfter loses it at the backup's next
// keyframe; its later frames go to its standby, not to the players.
func TestBackupTakesOverAStalledPrimary(t *testing.T) {
	const after = 300 * time.Millisecond
	r := New(stream.DefaultConfig(), WithBackup(Backup{FailoverAfter: after}))
	p, err := r.Publish(testKey, PublisherInfo{Remote: "primary"}, nil)
	require.NoError(t, err)
	b, err := r.PublishAs(testKey, PublisherInfo{Remote: "backup"}, nil, RoleBackup)
	require.NoError(t, err)
	require.NoError(t, p.Write(flv.TagVideo, 0, st.AVCSeqHeader()))
	require.NoError(t, p.Write(flv.TagVideo, 0, frameOf(1, true)))
	pl, err := r.Play(testKey, "viewer")
	require.NoError(t, err)
	defer pl.Release()
	sub, err := pl.Subscribe()
	require.NoError(t, err)
	drain(t, sub)

	require.NoError(t, b.Write(flv.TagVideo, 0, st.AVCSeqHeader()))
	require.NoError(t, b.Write(flv.TagVideo, 0, frameOf(2, true)))
	require.True(t, b.Backup(), "the primary is healthy: no takeover")
	time.Sleep(after + 20*time.Millisecond) // the primary's silence is what is tested
	require.NoError(t, b.Write(flv.TagVideo, 40, frameOf(2, false)))
	require.True(t, b.Backup(), "takeover only at a keyframe")
	require.NoError(t, b.Write(flv.TagVideo, 80, frameOf(2, true)))
	require.False(t, b.Backup())
	require.True(t, p.Backup())
	require.NoError(t, p.Write(flv.TagVideo, 40, frameOf(1, false)), "the old primary writes into its standby")
	require.NoError(t, b.Write(flv.TagVideo, 120, frameOf(2, false)))
	got := drain(t, sub)
	var frames []byte
	for _, tg := range got {
		if !tg.Header {
			frames = append(frames, whose(tg))
		}
	}
	require.Equal(t, []byte{2, 2}, frames, "the backup's keyframe and frame; nothing of the stalled primary")
	p.Release()
	b.Release()
	pl.Release()
	requireEmpty(t, r)
}

// TestBackupReleaseOrders: every order of releasing a primary, a backup
// and a player frees the stream exactly once, and a kick ends both
// publishers (or the backup would take over).
func TestBackupReleaseOrders(t *testing.T) {
	type step func(p, b *Publisher, pl *Player)
	relP := func(p, _ *Publisher, _ *Player) { p.Release() }
	relB := func(_, b *Publisher, _ *Player) { b.Release() }
	relPl := func(_, _ *Publisher, pl *Player) { pl.Release() }
	orders := [][]step{
		{relP, relB, relPl}, {relP, relPl, relB}, {relB, relP, relPl},
		{relB, relPl, relP}, {relPl, relP, relB}, {relPl, relB, relP},
	}
	for i, order := range orders {
		r := newTestRegistry()
		p, err := r.Publish(testKey, PublisherInfo{}, nil)
		require.NoError(t, err)
		b, err := r.PublishAs(testKey, PublisherInfo{}, nil, RoleBackup)
		require.NoError(t, err)
		pl, err := r.Play(testKey, "x")
		require.NoError(t, err)
		for _, s := range order {
			s(p, b, pl)
			s(p, b, pl) // releases are idempotent
		}
		requireEmpty(t, r)
		require.ErrorIs(t, p.Write(flv.TagVideo, 0, st.AVCSeqHeader()), ErrReleased, "order %d", i)
	}

	r := newTestRegistry()
	var kicked []string
	var p, b *Publisher
	p, _ = r.Publish(testKey, PublisherInfo{}, func() { kicked = append(kicked, "primary"); p.Release() })
	b, _ = r.PublishAs(testKey, PublisherInfo{}, func() { kicked = append(kicked, "backup"); b.Release() }, RoleBackup)
	require.NoError(t, r.Kick(testKey))
	require.ElementsMatch(t, []string{"primary", "backup"}, kicked)
	requireEmpty(t, r)
}

// TestBackupChurn: a primary and a backup write concurrently while they
// leave and come back at random, with a player reading: no race, no
// frame of the standby ever reaches the player while the other writes,
// and the registry empties.
func TestBackupChurn(t *testing.T) {
	r := New(stream.DefaultConfig(), WithBackup(Backup{FailoverAfter: time.Millisecond}))
	rng := rand.New(rand.NewSource(1))
	for round := 0; round < 30; round++ {
		var wg sync.WaitGroup
		pubs := make([]*Publisher, 2)
		for i := range pubs {
			var err error
			pubs[i], err = r.PublishAs(testKey, PublisherInfo{}, nil, RoleBackup)
			require.NoError(t, err)
		}
		pl, err := r.Play(testKey, "x")
		require.NoError(t, err)
		sub, err := pl.Subscribe()
		require.NoError(t, err)
		stop := make(chan struct{})
		go func() {
			for {
				if _, err := sub.Next(context.Background(), nil); err != nil {
					close(stop)
					return
				}
			}
		}()
		for i, p := range pubs {
			n := 20 + rng.Intn(40)
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = p.Write(flv.TagVideo, 0, st.AVCSeqHeader())
				for j := 0; j < n; j++ {
					_ = p.Write(flv.TagVideo, uint32(j*10), frameOf(byte(i+1), j%5 == 0))
				}
				p.Release()
			}()
		}
		wg.Wait()
		<-stop
		pl.Release()
		requireEmpty(t, r)
	}
	require.False(t, bytes.Equal(frameOf(1, true), frameOf(2, true)))
}

// TestBackupWithAShortBuffer: a backup handed a buffer too short to be a
// tag gets the stream's ErrBadTag, as a primary does, not a panic.
func TestBackupWithAShortBuffer(t *testing.T) {
	r := newTestRegistry()
	p, err := r.Publish(testKey, PublisherInfo{}, nil)
	require.NoError(t, err)
	b, err := r.PublishAs(testKey, PublisherInfo{}, nil, RoleBackup)
	require.NoError(t, err)
	require.ErrorIs(t, b.Write(flv.TagVideo, 0, []byte{1, 2, 3}), stream.ErrBadTag)
	require.ErrorIs(t, p.Write(flv.TagVideo, 0, []byte{1, 2, 3}), stream.ErrBadTag)
	b.Release()
	p.Release()
	requireEmpty(t, r)
}
