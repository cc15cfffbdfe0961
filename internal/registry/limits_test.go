package registry

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/internal/stream"
	st "github.com/headwater-media/headwater/internal/stream/streamtest"
	"github.com/headwater-media/headwater/pkg/flv"
)

// TestMaxStreams: the stream over the limit is refused, the live ones are
// untouched, a busy key is still ErrStreamBusy, and a freed slot (even with
// players still draining the old stream) can be taken again.
func TestMaxStreams(t *testing.T) {
	r := New(stream.DefaultConfig(), WithLimits(Limits{MaxStreams: 2}))
	a, err := r.Publish(Key{App: "live", Name: "a"}, PublisherInfo{}, nil)
	require.NoError(t, err)
	b, err := r.Publish(Key{App: "live", Name: "b"}, PublisherInfo{}, nil)
	require.NoError(t, err)

	_, err = r.Publish(Key{App: "live", Name: "c"}, PublisherInfo{}, nil)
	require.ErrorIs(t, err, ErrTooManyStreams)
	_, err = r.Publish(Key{App: "live", Name: "a"}, PublisherInfo{}, nil)
	require.ErrorIs(t, err, ErrStreamBusy, "a live key is busy, whatever the count")
	require.Equal(t, Refusals{Streams: 1}, r.Refusals())
	require.Equal(t, Stats{Streams: 2, Publishers: 2, Alive: 2}, r.Stats(), "the refusal leaves nothing behind")
	require.NoError(t, a.Write(flv.TagVideo, 0, st.AVCFrame(true, 10)), "live streams are untouched")

	pl, err := r.Play(Key{App: "live", Name: "a"}, "")
	require.NoError(t, err)
	a.Release() // a's player still drains: a no longer counts
	c, err := r.Publish(Key{App: "live", Name: "c"}, PublisherInfo{}, nil)
	require.NoError(t, err, "the slot is free once the publisher left")

	pl.Release()
	b.Release()
	c.Release()
	requireEmpty(t, r)
}

// TestMaxPlayersPerStream: the player over the limit is refused; other
// streams and the existing players are not affected; a released player
// frees its slot.
func TestMaxPlayersPerStream(t *testing.T) {
	r := New(stream.DefaultConfig(), WithLimits(Limits{MaxPlayersPerStream: 2}))
	ka, kb := Key{App: "live", Name: "a"}, Key{App: "live", Name: "b"}
	pa, err := r.Publish(ka, PublisherInfo{}, nil)
	require.NoError(t, err)
	pb, err := r.Publish(kb, PublisherInfo{}, nil)
	require.NoError(t, err)

	p1, err := r.Play(ka, "")
	require.NoError(t, err)
	p2, err := r.Play(ka, "")
	require.NoError(t, err)
	_, err = r.Play(ka, "")
	require.ErrorIs(t, err, ErrTooManyPlayers)
	_, err = r.Play(Key{App: "live", Name: "none"}, "")
	require.ErrorIs(t, err, ErrNotFound, "an unknown stream is still not found")
	require.Equal(t, Refusals{PlayersPerStream: 1}, r.Refusals())
	require.Equal(t, 2, r.Stats().Players)

	q1, err := r.Play(kb, "")
	require.NoError(t, err, "the limit is per stream")
	q2, err := r.Play(kb, "")
	require.NoError(t, err)

	// The existing players still receive.
	sub, err := p1.Subscribe()
	require.NoError(t, err)
	require.NoError(t, pa.Write(flv.TagVideo, 0, st.AVCSeqHeader()))
	require.NoError(t, pa.Write(flv.TagVideo, 0, st.AVCFrame(true, 10)))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tags, err := sub.Next(ctx, nil)
	require.NoError(t, err)
	require.NotEmpty(t, tags)

	p2.Release()
	p3, err := r.Play(ka, "")
	require.NoError(t, err, "a released player frees its slot")

	for _, h := range []interface{ Release() }{p1, p3, q1, q2, pa, pb} {
		h.Release()
	}
	requireEmpty(t, r)
}

// TestLimitsHoldUnderConcurrency: 200 goroutines race for 10 stream slots
// and 200 for 10 player slots; exactly 10 win each.
func TestLimitsHoldUnderConcurrency(t *testing.T) {
	r := New(stream.DefaultConfig(), WithLimits(Limits{MaxStreams: 10, MaxPlayersPerStream: 10}))
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		pubs []*Publisher
		pls  []*Player
	)
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := r.Publish(Key{App: "live", Name: string(rune('a'+i%26)) + string(rune('a'+i/26))}, PublisherInfo{}, nil)
			if err == nil {
				mu.Lock()
				pubs = append(pubs, p)
				mu.Unlock()
			} else {
				assert.ErrorIs(t, err, ErrTooManyStreams)
			}
		}()
	}
	wg.Wait()
	require.Len(t, pubs, 10)
	key := pubs[0].Key()
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := r.Play(key, "")
			if err == nil {
				mu.Lock()
				pls = append(pls, p)
				mu.Unlock()
			} else {
				assert.ErrorIs(t, err, ErrTooManyPlayers)
			}
		}()
	}
	wg.Wait()
	require.Len(t, pls, 10)
	require.Equal(t, Refusals{Streams: 190, PlayersPerStream: 190}, r.Refusals())
	for _, p := range pls {
		p.Release()
	}
	for _, p := range pubs {
		p.Release()
	}
	requireEmpty(t, r)
}

// TestNoLimitsByDefault: New without options refuses nothing.
func TestNoLimitsByDefault(t *testing.T) {
	r := newTestRegistry()
	var hs []interface{ Release() }
	for i := range 50 {
		p, err := r.Publish(Key{App: "live", Name: string(rune('a'+i%26)) + string(rune('a'+i/26))}, PublisherInfo{}, nil)
		require.NoError(t, err)
		hs = append(hs, p)
	}
	for range 50 {
		p, err := r.Play(Key{App: "live", Name: "aa"}, "")
		require.NoError(t, err)
		hs = append(hs, p)
	}
	require.Equal(t, Refusals{}, r.Refusals())
	for _, h := range hs {
		h.Release()
	}
	requireEmpty(t, r)
}

// TestSetLimits: lowered limits refuse what comes next and keep what is
// admitted; raised limits admit again.
func TestSetLimits(t *testing.T) {
	r := newTestRegistry()
	k := Key{App: "live", Name: "a"}
	pub, err := r.Publish(k, PublisherInfo{}, nil)
	require.NoError(t, err)
	p1, err := r.Play(k, "")
	require.NoError(t, err)
	p2, err := r.Play(k, "")
	require.NoError(t, err)

	r.SetLimits(Limits{MaxStreams: 1, MaxPlayersPerStream: 1})
	_, err = r.Play(k, "")
	require.ErrorIs(t, err, ErrTooManyPlayers)
	_, err = r.Publish(Key{App: "live", Name: "b"}, PublisherInfo{}, nil)
	require.ErrorIs(t, err, ErrTooManyStreams)
	require.Equal(t, 2, r.Stats().Players, "players over the new limit stay")
	require.Equal(t, Refusals{Streams: 1, PlayersPerStream: 1}, r.Refusals())

	r.SetLimits(Limits{})
	p3, err := r.Play(k, "")
	require.NoError(t, err)
	for _, h := range []interface{ Release() }{p1, p2, p3, pub} {
		h.Release()
	}
	requireEmpty(t, r)
}
