package registry

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReleaseIfIdle: an edge's publisher lets go only when no player
// holds the stream, and a player that took the stream just before is
// never left with an ending stream.
func TestReleaseIfIdle(t *testing.T) {
	r := newTestRegistry()
	pub, err := r.Publish(testKey, PublisherInfo{Kind: KindEdgePull}, nil)
	require.NoError(t, err)
	pl, err := r.Play(testKey, "a")
	require.NoError(t, err)
	<-pub.PlayersChanged()
	require.Equal(t, 1, pub.Players())
	require.False(t, pub.ReleaseIfIdle(), "a player holds it")
	_, err = r.Stream(testKey)
	require.NoError(t, err, "still live")

	pl.Release()
	<-pub.PlayersChanged()
	require.Equal(t, 0, pub.Players())
	require.True(t, pub.ReleaseIfIdle())
	require.True(t, pub.ReleaseIfIdle(), "idempotent")
	_, err = r.Play(testKey, "b")
	require.ErrorIs(t, err, ErrNotFound)
	requireEmpty(t, r)
}

// TestReleaseIfIdleRacesPlayers: players joining while the publisher
// tries to let go either get the stream before (and it stays) or find it
// gone; none gets a stream that ends under it because of the release.
func TestReleaseIfIdleRacesPlayers(t *testing.T) {
	for range 200 {
		r := newTestRegistry()
		pub, err := r.Publish(testKey, PublisherInfo{Kind: KindEdgePull}, nil)
		require.NoError(t, err)
		var wg sync.WaitGroup
		got := make(chan *Player, 4)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if p, err := r.Play(testKey, "x"); err == nil {
					got <- p
				} else if !errors.Is(err, ErrNotFound) {
					t.Error(err)
				}
			}()
		}
		released := pub.ReleaseIfIdle()
		wg.Wait()
		close(got)
		n := 0
		for p := range got {
			n++
			sub, err := p.Subscribe()
			require.NoError(t, err)
			if !released {
				require.False(t, sub.Ended(), "a player that got the stream before the release must not see it end")
			}
			p.Release()
		}
		if released {
			require.Zero(t, n, "released only with no player")
		}
		pub.Release()
		requireEmpty(t, r)
	}
}

// TestPullWithoutPullerIsNotFound: an origin (no Puller) answers
// ErrNotFound at once; a Puller is asked with the key and via.
func TestPullWithoutPullerIsNotFound(t *testing.T) {
	require.ErrorIs(t, newTestRegistry().Pull(context.Background(), testKey, ""), ErrNotFound)
	var asked []string
	r := New(newTestRegistry().cfg, WithPuller(PullerFunc(func(_ context.Context, k Key, via string) error {
		asked = append(asked, k.String()+" "+via)
		return nil
	})))
	require.NoError(t, r.Pull(context.Background(), testKey, "a,b"))
	require.Equal(t, []string{"live/s a,b"}, asked)
}
