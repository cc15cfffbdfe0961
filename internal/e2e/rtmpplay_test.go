package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/yutopp/go-rtmp/handshake"
	rtmpmsg "github.com/yutopp/go-rtmp/message"

	"github.com/headwater-media/headwater/internal/config"
	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/rtmpclient"
	"github.com/headwater-media/headwater/internal/rtmptest"
	st "github.com/headwater-media/headwater/internal/stream/streamtest"
	"github.com/headwater-media/headwater/pkg/flv"
)

// needTools skips without the named programs locally but fails in CI,
// where `make test` installs them (scripts/install-deps.sh).
func needTools(t *testing.T, bins ...string) {
	t.Helper()
	needFFmpeg(t)
	for _, bin := range bins {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s not found: make test installs it (scripts/install-deps.sh)", bin)
			}
			t.Skipf("%s not found; run `make deps`", bin)
		}
	}
}

// TestRTMPPlayWithRealPlayers: ffprobe, rtmpdump and GStreamer (rtmp2src
// and the librtmp-based rtmpsrc) play a live stream over RTMP.
func TestRTMPPlayWithRealPlayers(t *testing.T) {
	needTools(t, "rtmpdump", "gst-launch-1.0")
	s := startServer(t, nil)
	pub := ffmpegPublish(t, s.rtmpURL+"/live/cam", "320x240")
	s.waitLive(t, "live", "cam")
	url := s.rtmpURL + "/live/cam"
	dir := t.TempDir()

	var wg sync.WaitGroup
	run := func(name string, check func(out []byte, err error)) func(args ...string) {
		return func(args ...string) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
				check(out, err)
			}()
		}
	}
	var probe string
	run("ffprobe", func(out []byte, err error) {
		require.NoError(t, err, "%s", out)
		probe = string(out)
	})("-v", "error", "-show_entries", "stream=codec_name,width,height", "-of", "compact", url)
	// rtmpdump records until it is interrupted (--stop does not apply to
	// live streams); SIGINT makes it close the file cleanly.
	dump := filepath.Join(dir, "dump.flv")
	wg.Add(1)
	go func() {
		defer wg.Done()
		cmd := exec.Command("rtmpdump", "-q", "--live", "-r", url, "-o", dump)
		require.NoError(t, cmd.Start())
		stop := time.AfterFunc(5*time.Second, func() { _ = cmd.Process.Signal(os.Interrupt) })
		defer stop.Stop()
		_ = cmd.Wait() // interrupted: a non-zero exit
	}()
	for _, src := range []string{"rtmp2src", "rtmpsrc"} {
		run("gst-launch-1.0", func(out []byte, err error) {
			require.NoError(t, err, "%s: %s", src, out)
		})("-q", src, "location="+url, "!", "flvdemux", "name=d", "d.video", "!", "queue", "!",
			"fakesink", "num-buffers=100", "sync=false")
	}
	wg.Wait()
	require.Contains(t, probe, "codec_name=h264|width=320|height=240")
	require.Contains(t, probe, "codec_name=aac")

	// rtmpdump's file: at least 100 video frames (4 s at 25 fps), decodable.
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,nb_read_frames", "-of", "csv=p=0", dump).CombinedOutput()
	require.NoError(t, err, "%s", out)
	fields := strings.Split(strings.TrimSpace(string(out)), ",")
	require.Equal(t, "h264", fields[0])
	frames, err := strconv.Atoi(fields[1])
	require.NoError(t, err, "%s", out)
	require.GreaterOrEqual(t, frames, 100, "rtmpdump read %d video frames", frames)
	out, err = exec.Command("ffmpeg", "-v", "error", "-i", dump, "-f", "null", "-").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Empty(t, strings.TrimSpace(string(out)), "rtmpdump's recording decodes without an error")
	pub.kill()
}

// TestRTMPPlayContract: an RTMP player gets what an HTTP-FLV player gets
// (metadata, sequence headers, the GOP from its keyframe, then live, no
// track going backwards), shows as protocol "rtmp" in the API, can be
// kicked, and ends within 1 s of its publisher (UnpublishNotify and
// Play.Stop, then the connection closes).
func TestRTMPPlayContract(t *testing.T) {
	needFFmpeg(t)
	s := startServer(t, nil)
	pub := ffmpegPublish(t, s.rtmpURL+"/live/c", "320x240")
	s.waitLive(t, "live", "c")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rp := play(ctx, s.rtmpURL+"/live/c")
	hp := play(ctx, s.httpURL+"/live/c.flv")
	for _, p := range []*player{rp, hp} {
		p.waitTags(t, 60, 15*time.Second)
	}
	// The player to kick joins last: it has the highest id.
	kicked := play(ctx, s.rtmpURL+"/live/c")
	kicked.waitTags(t, 60, 15*time.Second)

	var players struct {
		Players []struct {
			ID       uint64 `json:"id"`
			Protocol string `json:"protocol"`
		} `json:"players"`
	}
	apiGet(t, s.httpURL+"/api/v1/players", &players)
	protocols := map[string]int{}
	var rtmpIDs []uint64
	for _, p := range players.Players {
		protocols[p.Protocol]++
		if p.Protocol == "rtmp" {
			rtmpIDs = append(rtmpIDs, p.ID)
		}
	}
	require.Equal(t, map[string]int{"rtmp": 2, "http-flv": 1}, protocols)
	// Kick the second RTMP player: its session ends, the others go on.
	code, body := apiDo(t, http.MethodDelete, fmt.Sprintf("%s/api/v1/players/%d", s.httpURL, rtmpIDs[1]), "")
	require.Equal(t, http.StatusNoContent, code, body)
	res := kicked.result(t, 5*time.Second)
	require.Error(t, res.err)
	require.Eventually(t, func() bool { return s.Registry().Stats().Players == 2 }, 5*time.Second, 10*time.Millisecond)

	n := waitCount(t, rp)
	rp.waitTags(t, n+25, 10*time.Second)
	pub.kill()
	killed := time.Now()
	for _, p := range []*player{rp, hp} {
		res := p.result(t, 5*time.Second)
		require.True(t, isCleanEnd(res.err), "ended with %v", res.err)
	}
	require.Less(t, time.Since(killed), 2*time.Second, "players end within 1 s of the publisher (plus ffmpeg's exit)")

	r, h := rp.res, hp.res
	require.Zero(t, r.headers, "RTMP has no FLV header")
	require.Equal(t, 1, h.headers)
	require.Equal(t, []uint8{flv.TagScript, flv.TagVideo, flv.TagAudio}, r.types[:3], "metadata, AVC and AAC headers first")
	require.True(t, r.firstKey, "the first video frame is a keyframe")
	require.Empty(t, r.backwards)
	r.checkTimeline(t, 1000)
	require.Greater(t, len(r.media[1]), 25)
	require.Greater(t, len(r.media[0]), 25)
}

// TestRTMPPlayUnknownStreamIsRefusedAtOnce: StreamNotFound, then the
// server closes; nothing is registered.
func TestRTMPPlayUnknownStreamIsRefusedAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("integration")
	}
	s := startServer(t, nil)
	start := time.Now()
	_, err := rtmpclient.Play(context.Background(), s.rtmpURL+"/live/nope", rtmpclient.Options{Timeout: 5 * time.Second})
	require.ErrorIs(t, err, rtmpclient.ErrStreamNotFound)
	require.Less(t, time.Since(start), time.Second)
	require.Equal(t, registry.Stats{}, s.Registry().Stats())
}

// stalledRTMPPlayer connects, plays name on app "live" and never reads
// again, with a tiny receive buffer: its server-side socket fills at once.
func stalledRTMPPlayer(t *testing.T, addr, name string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	require.NoError(t, c.(*net.TCPConn).SetReadBuffer(4096))
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	require.NoError(t, handshake.HandshakeWithServer(c, c, &handshake.Config{}))
	ch := rtmptest.NewChunker()
	ch.Msg(3, rtmptest.TypeCommand, 0, 0, rtmptest.Command("connect", 1, &rtmpmsg.NetConnectionConnect{
		Command: rtmpmsg.NetConnectionConnectCommand{App: "live", TCURL: "rtmp://" + addr + "/live"}}))
	ch.Msg(3, rtmptest.TypeCommand, 0, 0, rtmptest.Command("createStream", 2, &rtmpmsg.NetConnectionCreateStream{}))
	ch.Msg(8, rtmptest.TypeCommand, 0, rtmptest.StreamID, rtmptest.Command("play", 3, rtmptest.Args{nil, name}))
	_, err = c.Write(ch.B)
	require.NoError(t, err)
	return c
}

// TestStalledRTMPPlayerDoesNotStallOthers: an RTMP player that never
// reads is cut off after rtmp.write_timeout while another RTMP player and
// the publisher carry on.
func TestStalledRTMPPlayerDoesNotStallOthers(t *testing.T) {
	if testing.Short() {
		t.Skip("integration")
	}
	s := startServer(t, func(c *config.Config) { c.RTMP.WriteTimeout = time.Second })
	key := registry.Key{App: "live", Name: "fast"}
	pub, err := s.Registry().Publish(key, registry.PublisherInfo{}, nil)
	require.NoError(t, err)
	defer pub.Release()
	require.NoError(t, pub.Write(flv.TagVideo, 0, st.AVCSeqHeader()))
	require.NoError(t, pub.Write(flv.TagVideo, 0, st.AVCFrame(true, 1000)))

	stalled := stalledRTMPPlayer(t, s.RTMPAddr().String(), "fast")
	defer stalled.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	good := play(ctx, s.rtmpURL+"/live/fast")
	good.waitKey(t, 10*time.Second)
	require.Eventually(t, func() bool { return s.Registry().Stats().Players == 2 }, 5*time.Second, 5*time.Millisecond)

	// 64 KiB frames every ms until the stalled player is dropped.
	ts := uint32(0)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for i := 1; s.Registry().Stats().Players == 2; i++ {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("the stalled RTMP player was never disconnected")
		}
		ts += 10
		require.NoError(t, pub.Write(flv.TagVideo, ts, st.AVCFrame(i%50 == 0, 64<<10)))
	}
	before := waitCount(t, good)
	for i := 0; i < 200; i++ {
		ts += 10
		require.NoError(t, pub.Write(flv.TagVideo, ts, st.AVCFrame(i%50 == 0, 1000)))
	}
	good.waitTags(t, before+100, 10*time.Second)
	pub.Release()
	require.True(t, isCleanEnd(good.result(t, 10*time.Second).err))
}

// TestRTMPAndHTTPPlayersEndWhenThePublisherIsKilled: 20 RTMP and 20
// HTTP-FLV players of one stream; SIGKILL to ffmpeg ends all of them, and
// the registry empties (checked by startServer's cleanup, goleak by
// TestMain).
func TestRTMPAndHTTPPlayersEndWhenThePublisherIsKilled(t *testing.T) {
	needFFmpeg(t)
	s := startServer(t, nil)
	pub := ffmpegPublish(t, s.rtmpURL+"/live/many", "320x240")
	s.waitLive(t, "live", "many")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var players []*player
	for i := range 40 {
		url := s.httpURL + "/live/many.flv"
		if i%2 == 0 {
			url = s.rtmpURL + "/live/many"
		}
		players = append(players, play(ctx, url))
	}
	for _, p := range players {
		p.waitKey(t, 15*time.Second)
	}
	require.Equal(t, map[string]int{"rtmp": 20, "http-flv": 20}, s.Registry().PlayersByProtocol())
	pub.kill()
	for i, p := range players {
		res := p.result(t, 10*time.Second)
		require.True(t, isCleanEnd(res.err), "player %d ended with %v", i, res.err)
		require.True(t, res.firstKey)
		require.Empty(t, res.backwards)
	}
	require.Eventually(t, func() bool { return s.Registry().Stats() == registry.Stats{} }, 5*time.Second, 10*time.Millisecond)
}
