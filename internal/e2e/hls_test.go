package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/internal/auth"
	"github.com/headwater-media/headwater/internal/config"
	"github.com/headwater-media/headwater/internal/rtmptest"
)

// hlsGet fetches url and returns the status, the Cache-Control header and
// the body.
func hlsGet(t *testing.T, url string) (int, string, []byte) {
	t.Helper()
	resp, err := httpClient.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header.Get("Cache-Control"), body
}

// mediaPlaylist fetches the multivariant playlist at base+"/index.m3u8"
// and returns the name of its video (or only) media playlist.
func mediaPlaylist(t *testing.T, base, query string) string {
	t.Helper()
	status, _, body := hlsGet(t, base+"/index.m3u8"+query)
	require.Equal(t, http.StatusOK, status, "%s", body)
	pl, err := playlist.Unmarshal(body)
	require.NoError(t, err)
	mv, ok := pl.(*playlist.Multivariant)
	require.True(t, ok, "index.m3u8 is a multivariant playlist")
	require.NotEmpty(t, mv.Variants)
	return strings.SplitN(mv.Variants[0].URI, "?", 2)[0]
}

func parseMedia(t *testing.T, body []byte) *playlist.Media {
	t.Helper()
	pl, err := playlist.Unmarshal(body)
	require.NoError(t, err, "%s", body)
	m, ok := pl.(*playlist.Media)
	require.True(t, ok)
	return m
}

// TestHLSPlays: ffprobe reads index.m3u8 (H.264 at the published size and
// AAC), ffmpeg pulls 6 s of it without an error; playlists are not
// cached, segments are; the muxer is a player of the stream (protocol
// hls), and the requests are counted.
func TestHLSPlays(t *testing.T) {
	skipInDeadlockPass(t)
	t.Parallel()
	needFFmpeg(t)
	s := startServer(t, nil)
	pub := ffmpegPublish(t, s.rtmpURL+"/live/hls", "320x240")
	s.waitLive(t, "live", "hls")
	base := s.httpURL + "/live/hls"

	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width,height",
		"-of", "csv=p=0", base+"/index.m3u8").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "h264,320,240")
	require.Contains(t, string(out), "aac")

	media := mediaPlaylist(t, base, "")
	status, cc, body := hlsGet(t, base+"/"+media)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "no-cache", cc, "a live playlist is not cached")
	pl := parseMedia(t, body)
	require.NotEmpty(t, pl.Segments)
	require.False(t, pl.Endlist)
	status, cc, seg := hlsGet(t, base+"/"+pl.Segments[0].URI)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, cc, "max-age=", "segments never change: cacheable")
	require.NotEmpty(t, seg)

	start := time.Now()
	out, err = exec.Command("ffmpeg", "-v", "error", "-i", base+"/index.m3u8", "-t", "6", "-f", "null", "-").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Empty(t, strings.TrimSpace(string(out)), "6 s of HLS without an error")
	t.Logf("ffmpeg pulled 6 s of HLS in %v", time.Since(start))

	var players struct {
		Players []struct{ Protocol string } `json:"players"`
	}
	apiGet(t, s.httpURL+"/api/v1/players", &players)
	require.Len(t, players.Players, 1, "one muxer, however many HLS clients")
	require.Equal(t, "hls", players.Players[0].Protocol)
	var st struct {
		HLS *struct {
			Requests uint64 `json:"requests"`
			Sessions int    `json:"sessions"`
		} `json:"hls"`
	}
	apiGet(t, s.httpURL+"/api/v1/streams/live/hls", &st)
	require.NotNil(t, st.HLS)
	require.Greater(t, st.HLS.Requests, uint64(5))
	require.GreaterOrEqual(t, st.HLS.Sessions, 2, "ffprobe, ffmpeg and the Go client")
	_, metrics := getBody(t, s.httpURL+"/metrics")
	require.Contains(t, metrics, `headwater_hls_requests_total{app="live",stream="hls"}`)
	require.Equal(t, 1.0, metric(t, metrics, "headwater_hls_muxers"))
	pub.kill()
}

// TestHLSEndsAndIdles: a stream nobody asks for as HLS has no muxer; the
// first request starts one; when the publisher leaves, the playlist ends
// with #EXT-X-ENDLIST and the muxer's handle is released at once; the
// frozen playlists go after the idle timeout. A muxer without requests
// goes after the idle timeout while the stream is live; an unknown stream
// is 404 at once.
func TestHLSEndsAndIdles(t *testing.T) {
	t.Parallel()
	needFFmpeg(t)
	const idle = time.Second
	s := startServer(t, func(c *config.Config) {
		c.HLS.IdleTimeout, c.HLS.SegmentDuration = idle, time.Second
	})
	start := time.Now()
	status, _, _ := hlsGet(t, s.httpURL+"/live/none/index.m3u8")
	require.Equal(t, http.StatusNotFound, status)
	require.Less(t, time.Since(start), time.Second, "404 at once")

	pub := ffmpegPublish(t, s.rtmpURL+"/live/end", "160x120")
	s.waitLive(t, "live", "end")
	require.Equal(t, 0, s.Registry().Stats().Players, "no muxer before a request")
	base := s.httpURL + "/live/end"
	media := mediaPlaylist(t, base, "")
	require.Equal(t, 1, s.Registry().Stats().Players)
	// Idle while live: the muxer goes.
	require.Eventually(t, func() bool { return s.Registry().Stats().Players == 0 }, idle+3*time.Second, 20*time.Millisecond,
		"released after the idle timeout")
	media = mediaPlaylist(t, base, "") // and comes back on demand
	require.Equal(t, 1, s.Registry().Stats().Players)

	pub.kill()
	ended := time.Now()
	require.Eventually(t, func() bool {
		status, _, body := hlsGet(t, base+"/"+media)
		return status == http.StatusOK && parseMedia(t, body).Endlist
	}, 5*time.Second, 50*time.Millisecond, "#EXT-X-ENDLIST once the publisher left")
	t.Logf("ENDLIST %v after the publisher was killed", time.Since(ended))
	// The muxer releases its handle right after it froze the playlists.
	require.Eventually(t, func() bool { return s.Registry().Stats().Players == 0 }, time.Second, 5*time.Millisecond,
		"the muxer's handle is released with the stream")
	_, _, body := hlsGet(t, base+"/"+media)
	for _, seg := range parseMedia(t, body).Segments {
		status, _, _ := hlsGet(t, base+"/"+seg.URI)
		require.Equal(t, http.StatusOK, status, "an ended stream's segments stay fetchable for a while")
	}
	require.Eventually(t, func() bool {
		_, metrics := getBody(t, s.httpURL+"/metrics")
		return metric(t, metrics, "headwater_hls_muxers") == 0
	}, idle+3*time.Second, 50*time.Millisecond, "the frozen muxer goes after the idle timeout")
	status, _, _ = hlsGet(t, base+"/"+media)
	require.Equal(t, http.StatusNotFound, status)
}

// TestLLHLSBlockingReload: with hls.low_latency, the media playlist has
// parts, and a request for the next part (_HLS_msn/_HLS_part) blocks until
// it exists: it returns within the part duration plus slack.
func TestLLHLSBlockingReload(t *testing.T) {
	needFFmpeg(t)
	s := startServer(t, func(c *config.Config) { c.HLS.LowLatency = true })
	pub := ffmpegPublish(t, s.rtmpURL+"/live/ll", "320x240")
	s.waitLive(t, "live", "ll")
	base := s.httpURL + "/live/ll"
	media := mediaPlaylist(t, base, "")
	var pl *playlist.Media
	require.Eventually(t, func() bool {
		_, _, body := hlsGet(t, base+"/"+media)
		pl = parseMedia(t, body)
		return pl.ServerControl != nil && pl.ServerControl.CanBlockReload && len(pl.Parts) > 0
	}, 10*time.Second, 50*time.Millisecond, "an LL-HLS playlist with parts")
	require.NotNil(t, pl.PreloadHint)
	msn := pl.MediaSequence + len(pl.Segments)
	next := len(pl.Parts) // the part after the last listed one of the segment in progress
	for i := 0; i < 5; i++ {
		start := time.Now()
		status, _, body := hlsGet(t, fmt.Sprintf("%s/%s?_HLS_msn=%d&_HLS_part=%d", base, media, msn, next))
		took := time.Since(start)
		require.Equal(t, http.StatusOK, status, "%s", body)
		got := parseMedia(t, body)
		t.Logf("blocking reload for msn %d part %d returned in %v", msn, next, took)
		require.Less(t, took, 200*time.Millisecond+time.Second, "within the part duration plus slack")
		if len(got.Parts) > next {
			next++
		} else { // the segment was completed: the next one's first part
			msn, next = got.MediaSequence+len(got.Segments), 0
		}
	}
	pub.kill()
}

// TestHLSMPEGTSAndAuth: the mpegts variant plays with ffprobe; with a play
// rule, HLS needs the credential, which the playlists carry into their
// segments' URLs.
func TestHLSMPEGTSAndAuth(t *testing.T) {
	t.Parallel()
	needFFmpeg(t)
	s := startServer(t, func(c *config.Config) {
		c.HLS.Variant = "mpegts"
		c.Auth.Backoff = 0
		c.Auth.Keys = map[string]string{"live/ts": "PLAYKEY"}
		c.Auth.Apps = map[string]auth.App{"live": {Play: []auth.Rule{{Rule: auth.RuleKey}, {Rule: auth.RuleDeny}}}}
	})
	pub := ffmpegPublish(t, s.rtmpURL+"/live/ts", "320x240")
	s.waitLive(t, "live", "ts")
	base := s.httpURL + "/live/ts"
	status, _, _ := hlsGet(t, base+"/index.m3u8")
	require.Contains(t, []int{http.StatusUnauthorized, http.StatusForbidden}, status, "no key, no HLS")
	require.Equal(t, 0, s.Registry().Stats().Players, "a refused request starts no muxer")

	media := mediaPlaylist(t, base, "?key=PLAYKEY")
	_, _, body := hlsGet(t, base+"/"+media+"?key=PLAYKEY")
	pl := parseMedia(t, body)
	require.NotEmpty(t, pl.Segments)
	require.True(t, strings.HasSuffix(strings.SplitN(pl.Segments[0].URI, "?", 2)[0], ".ts"), "MPEG-TS segments")
	require.Contains(t, pl.Segments[0].URI, "key=PLAYKEY", "the credential is carried into the segment URLs")
	status, _, _ = hlsGet(t, base+"/"+strings.SplitN(pl.Segments[0].URI, "?", 2)[0])
	require.Contains(t, []int{http.StatusUnauthorized, http.StatusForbidden}, status, "segments need it too")

	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name",
		"-of", "csv=p=0", base+"/index.m3u8?key=PLAYKEY").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "h264")
	require.Contains(t, string(out), "aac")
	pub.kill()
}

// TestHLSAlwaysRemux: with hls.always_remux the muxer starts with the
// stream, before any request, and stays without requests.
func TestHLSAlwaysRemux(t *testing.T) {
	t.Parallel()
	needFFmpeg(t)
	s := startServer(t, func(c *config.Config) {
		c.HLS.AlwaysRemux, c.HLS.IdleTimeout = true, 500*time.Millisecond
	})
	pub := ffmpegPublish(t, s.rtmpURL+"/live/ar", "160x120")
	s.waitLive(t, "live", "ar")
	require.Eventually(t, func() bool { return s.Registry().Stats().Players == 1 }, 5*time.Second, 10*time.Millisecond,
		"the muxer starts at publish")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	<-ctx.Done() // longer than the idle timeout, with no request
	require.Equal(t, 1, s.Registry().Stats().Players, "kept while live")
	mediaPlaylist(t, s.httpURL+"/live/ar", "")
	pub.kill()
}

// TestHLSEnhancedCodecs: HEVC and AV1 (with Opus where ffmpeg has libopus)
// published over enhanced RTMP come out of HLS as fMP4 that ffprobe reads
// with the right codecs and size.
func TestHLSEnhancedCodecs(t *testing.T) {
	skipInDeadlockPass(t)
	needFFmpeg(t)
	for _, codec := range []string{"hevc", "av1"} {
		t.Run(codec, func(t *testing.T) {
			m := encodeEnhanced(t, codec, false)
			s := startServer(t, func(c *config.Config) { c.HLS.SegmentDuration = time.Second })
			name := "hls-" + codec
			c := rawPublish(t, s.RTMPAddr().String(), name)
			send(t, c, m.msgs[:m.secondKey])
			s.waitLive(t, "live", name)
			base := s.httpURL + "/live/" + name
			first := make(chan int, 1)
			go func() {
				resp, err := httpClient.Get(base + "/index.m3u8") // starts the muxer, waits for a segment
				if err != nil {
					first <- 0
					return
				}
				resp.Body.Close()
				first <- resp.StatusCode
			}()
			require.Eventually(t, func() bool {
				ps := listPlayers(t, s.httpURL)
				return len(ps) == 1 && ps[0].Protocol == "hls" && ps[0].TTFF != nil
			}, 10*time.Second, 10*time.Millisecond, "the muxer has the first GOP")
			// The rest, then the whole stream again 2 s later: an fMP4
			// playlist has content once two segments are complete.
			send(t, c, m.msgs[m.secondKey:])
			again := append([]rtmptest.Message(nil), m.msgs[1:]...)
			for i := range again {
				again[i].Timestamp += 2000
			}
			send(t, c, again)
			require.Equal(t, http.StatusOK, <-first)
			require.NoError(t, c.Close()) // the publisher leaves: the playlists end
			require.Eventually(t, func() bool { return s.Registry().Stats().Players == 0 }, 10*time.Second, 10*time.Millisecond)
			out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width,height",
				"-of", "csv=p=0", base+"/index.m3u8").CombinedOutput()
			require.NoError(t, err, "%s", out)
			require.Contains(t, string(out), fmt.Sprintf("%s,%d,%d", codec, enhancedW, enhancedH))
			if m.audio != nil {
				require.Contains(t, string(out), "opus")
			}
		})
	}
}
