package rtmp

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/rtmptest"
	"github.com/headwater-media/headwater/internal/stream"
	st "github.com/headwater-media/headwater/internal/stream/streamtest"
)

// A publisher is not held to the handshake timeout while it publishes;
// once it unpublishes and stays connected (sending only control
// messages), it must publish again within the timeout or be closed.
func TestHandshakeTimeoutStartsAgainAfterUnpublish(t *testing.T) {
	cfg := DefaultConfig()
	cfg.HandshakeTimeout = 500 * time.Millisecond
	reg := registry.New(stream.DefaultConfig())
	s := NewServer(cfg, reg, zerolog.Nop())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	defer func() {
		require.NoError(t, s.Shutdown(context.Background()))
		require.ErrorIs(t, <-served, ErrServerClosed)
	}()

	c, err := rtmptest.Dial(ln.Addr().String(), 10*time.Second)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Connect("live"))
	require.NoError(t, c.Publish("x"))
	require.NoError(t, c.Send(rtmptest.TypeVideo, 0, st.Payload(st.AVCSeqHeader())))
	for i := 0; i < 10; i++ { // 1 s of frames: twice the handshake timeout
		require.NoError(t, c.Send(rtmptest.TypeVideo, uint32(100*i), st.Payload(st.AVCFrame(i == 0, 20))))
		time.Sleep(100 * time.Millisecond)
	}
	require.Equal(t, 1, reg.Stats().Publishers, "still publishing after the handshake timeout")

	require.NoError(t, c.Chunks(func(ch *rtmptest.Chunker) {
		ch.Msg(3, rtmptest.TypeCommand, 0, 0, rtmptest.Command("FCUnpublish", 5, rtmptest.Args{nil, "x"}))
		ch.Msg(3, rtmptest.TypeCommand, 0, 0, rtmptest.Command("deleteStream", 6, rtmptest.Args{nil, float64(rtmptest.StreamID)}))
	}))
	unpublished := time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-c.Done():
			done = true
		case <-tick.C:
			require.Less(t, time.Since(unpublished), 5*time.Second, "an unpublished connection sending acknowledgements stays open")
			_ = c.Control(rtmptest.TypeAck, []byte{0, 0, 0, 16})
		}
	}
	require.GreaterOrEqual(t, time.Since(unpublished), 400*time.Millisecond)
	// The count follows the close that the client saw.
	require.Eventually(t, func() bool { return s.Counts().HandshakeTimeouts == 1 }, 2*time.Second, 5*time.Millisecond)
	require.Equal(t, registry.Stats{}, reg.Stats())
}
