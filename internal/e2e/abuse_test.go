package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	rtmp "github.com/yutopp/go-rtmp"
	rtmpmsg "github.com/yutopp/go-rtmp/message"

	"github.com/headwater-media/headwater/internal/config"
	"github.com/headwater-media/headwater/internal/registry"
	st "github.com/headwater-media/headwater/internal/stream/streamtest"
	"github.com/headwater-media/headwater/pkg/flv"
)

// TestStalledPlayerDoesNotStallOthers publishes in-process at a high rate
// to one player that reads and one that never reads. The reader keeps
// receiving, the publisher never blocks, and the stalled one is cut off
// after the write timeout.
func TestStalledPlayerDoesNotStallOthers(t *testing.T) {
	if testing.Short() {
		t.Skip("integration")
	}
	s := startServer(t, func(c *config.Config) { c.HTTP.WriteTimeout = time.Second })
	key := registry.Key{App: "live", Name: "fast"}
	pub, err := s.Registry().Publish(key, registry.PublisherInfo{}, nil)
	require.NoError(t, err)
	defer pub.Release()
	require.NoError(t, pub.Write(flv.TagVideo, 0, st.AVCSeqHeader()))
	require.NoError(t, pub.Write(flv.TagVideo, 0, st.AVCFrame(true, 1000)))

	// The stalled player: a tiny receive buffer, a request, then nothing.
	stalled, err := net.Dial("tcp", s.HTTPAddr().String())
	require.NoError(t, err)
	defer stalled.Close()
	require.NoError(t, stalled.(*net.TCPConn).SetReadBuffer(4096))
	_, err = fmt.Fprintf(stalled, "GET /live/fast.flv HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	good := play(ctx, s.httpURL+"/live/fast.flv")
	good.waitKey(t, 10*time.Second)
	require.Eventually(t, func() bool { return s.Registry().Stats().Players == 2 }, 5*time.Second, 5*time.Millisecond)

	// 64 KiB frames at ~1 ms intervals (~60 MB/s) until the stalled player is
	// dropped: its socket buffers fill in well under a second.
	ts := uint32(0)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	dropped := false
	for i := 1; !dropped; i++ {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("the stalled player was never disconnected")
		}
		ts += 10
		require.NoError(t, pub.Write(flv.TagVideo, ts, st.AVCFrame(i%50 == 0, 64<<10)))
		dropped = s.Registry().Stats().Players == 1
	}
	// The good player is still receiving live data.
	before := waitCount(t, good)
	for i := 0; i < 200; i++ {
		ts += 10
		require.NoError(t, pub.Write(flv.TagVideo, ts, st.AVCFrame(i%50 == 0, 1000)))
	}
	good.waitTags(t, before+100, 10*time.Second)
	pub.Release()
	require.True(t, isCleanEnd(good.result(t, 10*time.Second).err))
}

// TestSilentConnectionIsDroppedAfterHandshakeTimeout: a TCP client that
// never speaks RTMP is closed.
func TestSilentConnectionIsDroppedAfterHandshakeTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("integration")
	}
	s := startServer(t, func(c *config.Config) { c.RTMP.HandshakeTimeout = 300 * time.Millisecond })
	c, err := net.Dial("tcp", s.RTMPAddr().String())
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err = c.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF, "the server closes the silent connection")
}

// TestPublisherWithoutMediaIsDropped: connect and publish, then send no media.
func TestPublisherWithoutMediaIsDropped(t *testing.T) {
	if testing.Short() {
		t.Skip("integration")
	}
	s := startServer(t, func(c *config.Config) { c.RTMP.MediaTimeout = 500 * time.Millisecond })
	cc, err := rtmp.Dial("rtmp", s.RTMPAddr().String(), &rtmp.ConnConfig{})
	require.NoError(t, err)
	defer cc.Close()
	require.NoError(t, cc.Connect(&rtmpmsg.NetConnectionConnect{Command: rtmpmsg.NetConnectionConnectCommand{App: "live"}}))
	stream, err := cc.CreateStream(nil, 128)
	require.NoError(t, err)
	require.NoError(t, stream.Publish(&rtmpmsg.NetStreamPublish{PublishingName: "quiet", PublishingType: "live"}))
	require.Eventually(t, func() bool { return s.Registry().Stats().Streams == 1 }, 5*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return s.Registry().Stats() == registry.Stats{} }, 10*time.Second, 10*time.Millisecond,
		"a publisher without media is dropped after the media timeout")
}

// TestStreamSurvivesTheExtendedTimestampMark publishes with timestamps past
// 2^24 ms (4.66 h) from the first packet: ffmpeg then sends extended
// timestamps on type-3 continuation chunks, which unpatched go-rtmp misreads.
func TestStreamSurvivesTheExtendedTimestampMark(t *testing.T) {
	needFFmpeg(t)
	s := startServer(t, nil)
	pub := ffmpegPublish(t, s.rtmpURL+"/live/longrun", "640x360", "-output_ts_offset", "20000")
	s.waitLive(t, "live", "longrun")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := play(ctx, s.httpURL+"/live/longrun.flv")
	p.waitKey(t, 20*time.Second)
	p.waitTags(t, 150, 30*time.Second) // several seconds of frames larger than one chunk
	pcx, pcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer pcancel()
	streams, _ := ffprobe(t, pcx, s.httpURL+"/live/longrun.flv")
	requireH264AAC(t, streams, 640, 360)
	select {
	case <-pub.done:
		t.Fatalf("ffmpeg ended: %s", pub.stderr)
	default:
	}
	pub.kill()
	res := p.result(t, 15*time.Second)
	require.True(t, isCleanEnd(res.err), "%v", res.err)
	require.Greater(t, res.maxTS, uint32(1<<24), "timestamps are past the 24-bit mark")
	require.Empty(t, res.backwards)
}

// TestKickEndsPublisherAndPlayers uses the API to end a stream.
func TestKickEndsPublisherAndPlayers(t *testing.T) {
	needFFmpeg(t)
	s := startServer(t, nil)
	pub := ffmpegPublish(t, s.rtmpURL+"/live/kick", "320x240")
	s.waitLive(t, "live", "kick")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := play(ctx, s.httpURL+"/live/kick.flv")
	p.waitKey(t, 20*time.Second)
	req, _ := newRequest("DELETE", s.httpURL+"/api/v1/streams/live/kick")
	resp, err := httpClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 204, resp.StatusCode)
	require.True(t, isCleanEnd(p.result(t, 10*time.Second).err))
	_ = pub.wait(t, 20*time.Second)
	req, _ = newRequest("DELETE", s.httpURL+"/api/v1/streams/live/kick")
	resp, err = httpClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 404, resp.StatusCode)
}
