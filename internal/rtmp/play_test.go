package rtmp

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"github.com/yutopp/go-rtmp/handshake"
	rtmpmsg "github.com/yutopp/go-rtmp/message"

	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/rtmpclient"
	"github.com/headwater-media/headwater/internal/rtmptest"
	"github.com/headwater-media/headwater/internal/stream"
	st "github.com/headwater-media/headwater/internal/stream/streamtest"
	"github.com/headwater-media/headwater/pkg/flv"
)

// playServer is an RTMP server on a loopback port with one live stream,
// live/s, published in-process.
type playServer struct {
	s   *Server
	reg *registry.Registry
	pub *registry.Publisher
	url string
}

func startPlayServer(t *testing.T) *playServer {
	t.Helper()
	reg := registry.New(stream.DefaultConfig())
	cfg := DefaultConfig()
	cfg.WriteTimeout = time.Second
	s := NewServer(cfg, reg, zerolog.Nop())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	pub, err := reg.Publish(registry.Key{App: "live", Name: "s"}, registry.PublisherInfo{}, nil)
	require.NoError(t, err)
	require.NoError(t, pub.Write(flv.TagVideo, 0, st.AVCSeqHeader()))
	require.NoError(t, pub.Write(flv.TagVideo, 0, st.AVCFrame(true, 1000)))
	ps := &playServer{s: s, reg: reg, pub: pub, url: "rtmp://" + ln.Addr().String() + "/live/s"}
	t.Cleanup(func() {
		pub.Release()
		require.NoError(t, s.Shutdown(context.Background()))
		require.ErrorIs(t, <-served, ErrServerClosed)
		require.Equal(t, registry.Stats{}, reg.Stats(), "registry empty")
	})
	return ps
}

// TestPlaySessionKilledAtEachStep: a player that goes away before its
// handle, right after its play command (while the session starts), or
// mid-stream leaves no handle, goroutine or connection behind.
func TestPlaySessionKilledAtEachStep(t *testing.T) {
	ps := startPlayServer(t)
	addr := ps.url[len("rtmp://") : len(ps.url)-len("/live/s")]
	noPlayers := func() {
		t.Helper()
		require.Eventually(t, func() bool { return ps.reg.Stats().Players == 0 }, 5*time.Second, 5*time.Millisecond)
	}

	// Before the handle: connected, never plays; then an unknown stream.
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	require.NoError(t, handshake.HandshakeWithServer(c, c, &handshake.Config{}))
	c.Close()
	_, err = rtmpclient.Play(context.Background(), "rtmp://"+addr+"/live/nope", rtmpclient.Options{Timeout: 5 * time.Second, ReadTimeout: 5 * time.Second})
	require.ErrorIs(t, err, rtmpclient.ErrStreamNotFound)
	noPlayers()

	// Right after play: the command and a reset, without reading a byte.
	for range 20 {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		require.NoError(t, handshake.HandshakeWithServer(c, c, &handshake.Config{}))
		ch := rtmptest.NewChunker()
		ch.Msg(3, rtmptest.TypeCommand, 0, 0, rtmptest.Command("connect", 1, &rtmpmsg.NetConnectionConnect{
			Command: rtmpmsg.NetConnectionConnectCommand{App: "live"}}))
		ch.Msg(3, rtmptest.TypeCommand, 0, 0, rtmptest.Command("createStream", 2, &rtmpmsg.NetConnectionCreateStream{}))
		ch.Msg(8, rtmptest.TypeCommand, 0, rtmptest.StreamID, rtmptest.Command("play", 3, rtmptest.Args{nil, "s"}))
		_, err = c.Write(ch.B)
		require.NoError(t, err)
		require.NoError(t, c.(*net.TCPConn).SetLinger(0))
		c.Close()
	}
	noPlayers()

	// Mid-stream: a player reading, then its connection goes.
	p, err := rtmpclient.Play(context.Background(), ps.url, rtmpclient.Options{Timeout: 5 * time.Second, ReadTimeout: 5 * time.Second})
	require.NoError(t, err)
	for range 2 { // the sequence header and the cached keyframe
		_, err := p.ReadTag()
		require.NoError(t, err)
	}
	require.Equal(t, 1, ps.reg.Stats().Players)
	require.Equal(t, map[string]int{ProtocolRTMP: 1}, ps.reg.PlayersByProtocol())
	p.Close()
	noPlayers()

	// Mid-stream, ended by deleteStream-less close of the publisher: the
	// player gets the end statuses.
	p, err = rtmpclient.Play(context.Background(), ps.url, rtmpclient.Options{Timeout: 5 * time.Second, ReadTimeout: 5 * time.Second})
	require.NoError(t, err)
	defer p.Close()
	_, err = p.ReadTag()
	require.NoError(t, err)
	ps.pub.Release()
	for {
		if _, err := p.ReadTag(); err != nil {
			require.ErrorIs(t, err, rtmpclient.ErrStreamEnded)
			break
		}
	}
	noPlayers()
}
