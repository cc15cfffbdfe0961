package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/internal/lockcheck"
	"github.com/headwater-media/headwater/pkg/flv"
)

// wsAPIPlayer is a player as GET /api/v1/players lists it.
type wsAPIPlayer struct {
	ID        uint64   `json:"id"`
	Protocol  string   `json:"protocol"`
	UserAgent string   `json:"user_agent"`
	BytesSent int64    `json:"bytes_sent"`
	TTFF      *float64 `json:"time_to_first_frame_ms"`
}

// listPlayers returns GET /api/v1/players' players.
func listPlayers(t *testing.T, base string) []wsAPIPlayer {
	t.Helper()
	status, body := getBody(t, base+"/api/v1/players")
	require.Equal(t, http.StatusOK, status, body)
	var out struct {
		Players []wsAPIPlayer `json:"players"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &out))
	return out.Players
}

// TestBrowserPlaysWSFLV: Chromium's mpegts.js plays ws://HOST/live/x.flv
// (the player page with ?ws=1, under its Content-Security-Policy) from
// the real binary with an ffmpeg publisher: <video> reaches
// HAVE_FUTURE_DATA and its clock advances; the API lists the page's
// player with protocol ws-flv. When the publisher goes, the stream's end
// (a close frame) makes the page retry.
func TestBrowserPlaysWSFLV(t *testing.T) {
	needFFmpeg(t)
	chromium := needChromium(t)
	if lockcheck.Enabled() {
		t.Skip("browser test: runs in the pass without -tags deadlock")
	}
	artifacts := artifactDir(t)
	p := startBinary(t)
	base := "http://" + p.httpAd
	pub := ffmpegPublish(t, "rtmp://"+p.rtmp+"/live/wsx", "640x360")
	waitAPIStream(t, base, "live", "wsx", true, pub)

	b := newBrowser(t, chromium, artifacts)
	tab := b.tab(t, "wsflv")
	require.NoError(t, chromedp.Do(tab.ctx, chromedp.Navigate(base+"/play/live/wsx?ws=1")))
	tab.wait(t, "the page plays the ws:// URL", 5*time.Second,
		`!!window.headwaterPlayer && window.headwaterPlayer.url === 'ws://`+p.httpAd+`/live/wsx.flv'`)
	tab.waitPlaying(t, 20*time.Second, 0)
	tab.screenshot(t, filepath.Join(artifacts, "wsflv.png"))

	players := listPlayers(t, base)
	require.Len(t, players, 1)
	require.Equal(t, "ws-flv", players[0].Protocol)
	require.Contains(t, players[0].UserAgent, "Chrome")
	require.Positive(t, players[0].BytesSent)

	pub.kill()
	tab.wait(t, "the page sees the stream end and retries", 15*time.Second,
		`window.headwaterPlayer.reconnects >= 1`)
	require.Eventually(t, func() bool { return len(listPlayers(t, base)) == 0 }, 10*time.Second, 50*time.Millisecond)
	b.checkConsole(t)
}

// TestWSFLVPlaysAndKicks: a Go WebSocket-FLV player (coder/websocket)
// of an ffmpeg stream through the whole server gets an FLV header with
// audio and video, the sequence headers, video from a keyframe and
// timestamps that go forward; DELETE /api/v1/players/{id} ends it, and
// an HTTP-FLV player of the same stream plays on.
func TestWSFLVPlaysAndKicks(t *testing.T) {
	needFFmpeg(t)
	s := startServer(t, nil)
	pub := ffmpegPublish(t, s.rtmpURL+"/live/wsk", "320x240")
	s.waitLive(t, "live", "wsk")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	httpPlayer := play(ctx, s.httpURL+"/live/wsk.flv")

	wsURL := "ws" + strings.TrimPrefix(s.httpURL, "http") + "/live/wsk.flv"
	c, resp, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}})
	require.NoError(t, err)
	defer c.CloseNow()
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	c.SetReadLimit(-1)

	pr, pw := io.Pipe()
	go func() {
		for {
			_, m, err := c.Read(ctx)
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			if _, err := pw.Write(m); err != nil {
				return
			}
		}
	}()
	fr := flv.NewReader(pr)
	h, err := fr.ReadHeader()
	require.NoError(t, err)
	require.True(t, h.HasAudio && h.HasVideo)
	var (
		videoSeq, audioSeq, key bool
		lastVideo               int64 = -1
		frames                  int
	)
	for frames < 50 {
		tag, err := fr.ReadTag()
		require.NoError(t, err)
		switch tag.Type {
		case flv.TagVideo:
			vi, err := flv.ParseVideo(tag.Data)
			require.NoError(t, err)
			if vi.SequenceHeader {
				videoSeq = true
				continue
			}
			require.True(t, videoSeq, "the sequence header comes first")
			if !key {
				require.True(t, vi.Keyframe, "video starts at a keyframe")
				key = true
			}
			require.Greater(t, int64(tag.Timestamp), lastVideo)
			lastVideo = int64(tag.Timestamp)
			frames++
		case flv.TagAudio:
			if len(tag.Data) > 1 && tag.Data[1] == 0 {
				audioSeq = true
			}
		}
	}
	require.True(t, audioSeq)

	var wsID uint64
	protocols := map[string]int{}
	for _, p := range listPlayers(t, s.httpURL) {
		protocols[p.Protocol]++
		if p.Protocol == "ws-flv" {
			wsID = p.ID
		}
	}
	require.Equal(t, map[string]int{"ws-flv": 1, "http-flv": 1}, protocols)
	req, err := http.NewRequest(http.MethodDelete, s.httpURL+"/api/v1/players/"+strconv.FormatUint(wsID, 10), nil)
	require.NoError(t, err)
	dresp, err := httpClient.Do(req)
	require.NoError(t, err)
	dresp.Body.Close()
	require.Equal(t, http.StatusNoContent, dresp.StatusCode)
	_, err = io.Copy(io.Discard, pr)
	require.Error(t, err, "the kicked player's connection ends")
	require.Eventually(t, func() bool { return len(listPlayers(t, s.httpURL)) == 1 }, 5*time.Second, 20*time.Millisecond)

	httpPlayer.waitTags(t, 100, 10*time.Second)
	pub.kill()
	res := httpPlayer.result(t, 10*time.Second)
	require.True(t, isCleanEnd(res.err), "%v", res.err)
}
