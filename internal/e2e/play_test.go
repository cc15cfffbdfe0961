package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/pkg/flv"
)

type probeStream struct {
	CodecType string `json:"codec_type"`
	CodecName string `json:"codec_name"`
	Width     int    `json:"width"`
	Height    int    `json:"height"`
}

func ffprobe(t *testing.T, ctx context.Context, input string, extra ...string) (streams []probeStream, duration float64) {
	t.Helper()
	args := append([]string{"-v", "error", "-show_streams", "-show_format", "-of", "json"}, extra...)
	args = append(args, input)
	out, err := exec.CommandContext(ctx, "ffprobe", args...).Output()
	require.NoError(t, err, "ffprobe %s", input)
	var res struct {
		Streams []probeStream `json:"streams"`
		Format  struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	require.NoError(t, json.Unmarshal(out, &res))
	duration, _ = strconv.ParseFloat(res.Format.Duration, 64)
	return res.Streams, duration
}

func requireH264AAC(t *testing.T, streams []probeStream, w, h int) {
	t.Helper()
	var v, a *probeStream
	for i := range streams {
		switch streams[i].CodecType {
		case "video":
			v = &streams[i]
		case "audio":
			a = &streams[i]
		}
	}
	require.NotNil(t, v, "video stream: %+v", streams)
	require.NotNil(t, a, "audio stream: %+v", streams)
	require.Equal(t, "h264", v.CodecName)
	require.Equal(t, w, v.Width)
	require.Equal(t, h, v.Height)
	require.Equal(t, "aac", a.CodecName)
}

func TestFFprobeSeesH264AndAAC(t *testing.T) {
	needFFmpeg(t)
	s := startServer(t, nil)
	pub := ffmpegPublish(t, s.rtmpURL+"/live/probe", "640x360")
	s.waitLive(t, "live", "probe")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	streams, _ := ffprobe(t, ctx, s.httpURL+"/live/probe.flv")
	requireH264AAC(t, streams, 640, 360)
	pub.kill()
}

func TestFFmpegRemuxesFourSeconds(t *testing.T) {
	needFFmpeg(t)
	s := startServer(t, nil)
	pub := ffmpegPublish(t, s.rtmpURL+"/live/remux", "320x240")
	s.waitLive(t, "live", "remux")
	out := filepath.Join(t.TempDir(), "out.flv")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
		"-i", s.httpURL+"/live/remux.flv", "-t", "4", "-c", "copy", out)
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", b)
	streams, dur := ffprobe(t, ctx, out)
	requireH264AAC(t, streams, 320, 240)
	require.InDelta(t, 4.0, dur, 0.5, "remuxed duration")
	pub.kill()
}

// TestPlayersOutliveThePublisher is the SRS use-after-free scenario at full
// scale: 20 players on one stream, the publisher is killed; every player
// ends cleanly, the server lives on, the registry empties, no goroutine leaks.
func TestPlayersOutliveThePublisher(t *testing.T) {
	needFFmpeg(t)
	s := startServer(t, nil)
	pub := ffmpegPublish(t, s.rtmpURL+"/live/many", "320x240")
	s.waitLive(t, "live", "many")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var players []*player
	for i := 0; i < 20; i++ {
		players = append(players, play(ctx, s.httpURL+"/live/many.flv"))
	}
	for _, p := range players {
		p.waitKey(t, 20*time.Second)
	}
	require.Equal(t, 20, s.Registry().Stats().Players)

	pub.kill()
	for i, p := range players {
		res := p.result(t, 15*time.Second)
		require.True(t, isCleanEnd(res.err), "player %d: body must end cleanly, got %v", i, res.err)
		require.True(t, res.header.HasAudio && res.header.HasVideo, "player %d header flags", i)
		require.Equal(t, []uint8{flv.TagScript, flv.TagVideo, flv.TagAudio}, res.types[:3],
			"player %d: metadata, then sequence headers", i)
		require.True(t, res.firstKey, "player %d: first video frame is a keyframe", i)
		require.Empty(t, res.backwards, "player %d: timestamps went backwards", i)
	}
	resp, err := httpClient.Get(s.httpURL + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	// The same key can be published again at once.
	pub2 := ffmpegPublish(t, s.rtmpURL+"/live/many", "320x240")
	s.waitLive(t, "live", "many")
	p := play(ctx, s.httpURL+"/live/many.flv")
	p.waitKey(t, 20*time.Second)
	pub2.kill()
	require.True(t, isCleanEnd(p.result(t, 15*time.Second).err))
}

func TestDuplicatePublisherIsRefused(t *testing.T) {
	needFFmpeg(t)
	s := startServer(t, nil)
	first := ffmpegPublish(t, s.rtmpURL+"/live/dup", "320x240")
	s.waitLive(t, "live", "dup")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := play(ctx, s.httpURL+"/live/dup.flv")
	p.waitKey(t, 20*time.Second)

	second := ffmpegPublish(t, s.rtmpURL+"/live/dup", "320x240")
	err := second.wait(t, 20*time.Second)
	require.Error(t, err, "the second publisher must be refused; stderr: %s", second.stderr)

	// The first publisher and its player are untouched.
	st := s.Registry().Streams()
	require.Len(t, st, 1)
	before := waitCount(t, p)
	p.waitTags(t, before+50, 20*time.Second)
	select {
	case <-first.done:
		t.Fatalf("first publisher ended: %s", first.stderr)
	default:
	}
	first.kill()
	require.True(t, isCleanEnd(p.result(t, 15*time.Second).err))
}

// waitCount returns the player's current tag count.
func waitCount(t *testing.T, p *player) int {
	t.Helper()
	select {
	case n := <-p.tags:
		return n
	case <-time.After(10 * time.Second):
		t.Fatal("player is not receiving")
		return 0
	}
}

func TestHTTPStatusCodesAndHeaders(t *testing.T) {
	needFFmpeg(t)
	s := startServer(t, nil)
	get := func(method, path string) *http.Response {
		req, err := http.NewRequest(method, s.httpURL+path, nil)
		require.NoError(t, err)
		resp, err := httpClient.Do(req)
		require.NoError(t, err)
		return resp
	}
	start := time.Now()
	resp := get(http.MethodGet, "/live/nothing.flv")
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Less(t, time.Since(start), 5*time.Second, "404 at once, not after waiting")
	for _, bad := range []string{"/live/a%20b.flv", "/l%21ve/x.flv", "/live/..flv", "/live/" + string(make129()) + ".flv"} {
		resp := get(http.MethodGet, bad)
		resp.Body.Close()
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, bad)
	}

	pub := ffmpegPublish(t, s.rtmpURL+"/live/hdr", "320x240")
	s.waitLive(t, "live", "hdr")
	resp = get(http.MethodHead, "/live/hdr.flv")
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "video/x-flv", resp.Header.Get("Content-Type"))
	require.Equal(t, "no-cache", resp.Header.Get("Cache-Control"))
	require.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))

	resp = get(http.MethodGet, "/live/hdr.flv")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	// No chunked encoding: the body is the FLV stream until the server
	// closes the connection (docs/performance.md: hijacked players).
	require.Empty(t, resp.TransferEncoding)
	require.True(t, resp.Close, "Connection: close")
	require.EqualValues(t, -1, resp.ContentLength)
	require.Equal(t, "video/x-flv", resp.Header.Get("Content-Type"))
	require.Equal(t, "no-cache", resp.Header.Get("Cache-Control"))
	require.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))
	r := flv.NewReader(resp.Body)
	h, err := r.ReadHeader()
	require.NoError(t, err)
	require.True(t, h.HasAudio && h.HasVideo)
	resp.Body.Close()
	pub.kill()
}

func make129() []byte {
	b := make([]byte, 129)
	for i := range b {
		b[i] = 'a'
	}
	return b
}

// TestHeaderFlagsMatchTheTracks publishes video-only and audio-only streams
// with ffmpeg and checks the FLV header flags and what ffprobe finds.
func TestHeaderFlagsMatchTheTracks(t *testing.T) {
	needFFmpeg(t)
	for _, tc := range []struct {
		name         string
		drop         string
		audio, video bool
	}{
		{"videoonly", "-an", false, true},
		{"audioonly", "-vn", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, nil)
			pub := ffmpegPublish(t, s.rtmpURL+"/live/"+tc.name, "320x240", tc.drop)
			s.waitLive(t, "live", tc.name)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			p := play(ctx, s.httpURL+"/live/"+tc.name+".flv")
			p.waitTags(t, 20, 20*time.Second)
			pub.kill()
			res := p.result(t, 15*time.Second)
			require.True(t, isCleanEnd(res.err), "%v", res.err)
			require.Equal(t, tc.audio, res.header.HasAudio, "audio flag")
			require.Equal(t, tc.video, res.header.HasVideo, "video flag")
			for _, typ := range res.types {
				if tc.audio {
					require.NotEqual(t, flv.TagVideo, typ)
				} else {
					require.NotEqual(t, flv.TagAudio, typ)
				}
			}
		})
	}
}
