package stream

import (
	"testing"

	"github.com/stretchr/testify/require"

	st "github.com/headwater-media/headwater/internal/stream/streamtest"
	"github.com/headwater-media/headwater/pkg/flv"
)

// TestSubscribeBoundedHasItsOwnQueue: a recorder's subscriber with a
// larger queue keeps what a player's drops, and still skips to a keyframe
// beyond its own bound.
func TestSubscribeBoundedHasItsOwnQueue(t *testing.T) {
	cfg := testConfig()
	cfg.QueueBytes = 5000
	s := New(cfg)
	publishHeaders(t, s)
	write(t, s, flv.TagVideo, 0, st.AVCFrame(true, 100))
	player, recorder := s.Subscribe(), s.SubscribeBounded(200_000, cfg.QueueDuration)
	small := s.SubscribeBounded(0, 0) // 0: the stream's bounds
	ts := uint32(0)
	for i := 0; i < 100; i++ { // ~100 KiB: over the player's 5000 bytes, within the recorder's
		ts += 33
		write(t, s, flv.TagVideo, ts, st.AVCFrame(false, 1000))
	}
	require.Positive(t, player.Dropped())
	require.Positive(t, small.Dropped())
	require.Zero(t, recorder.Dropped())
	require.Len(t, drain(t, recorder), 3+1+100, "headers, the keyframe, every frame")
	for i := 0; i < 300; i++ { // ~300 KiB: over the recorder's bound too
		ts += 33
		write(t, s, flv.TagVideo, ts, st.AVCFrame(false, 1000))
	}
	require.Positive(t, recorder.Dropped())
	for _, sub := range []*Subscriber{player, recorder, small} {
		s.Unsubscribe(sub)
	}
}
