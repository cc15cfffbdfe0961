package e2e

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/internal/lockcheck"
)

// TestBrowserPlaysHLS: Chromium's hls.js (vendored, loaded by the player
// page only when asked for HLS, under its Content-Security-Policy) plays
// /live/x/index.m3u8 from the real binary with an ffmpeg publisher:
// <video> reaches HAVE_FUTURE_DATA and its clock advances; the API lists
// the stream's one HLS muxer as its player. When the publisher goes, the
// playlist's #EXT-X-ENDLIST makes the page retry once it has played out.
func TestBrowserPlaysHLS(t *testing.T) {
	needFFmpeg(t)
	chromium := needChromium(t)
	if lockcheck.Enabled() {
		t.Skip("browser test: runs in the pass without -tags deadlock")
	}
	artifacts := artifactDir(t)
	p := startBinaryEnv(t, []string{"HEADWATER_HLS_SEGMENT_DURATION=1s"})
	base := "http://" + p.httpAd
	pub := ffmpegPublish(t, "rtmp://"+p.rtmp+"/live/hlsx", "640x360")
	waitAPIStream(t, base, "live", "hlsx", true, pub)

	b := newBrowser(t, chromium, artifacts)
	tab := b.tab(t, "hls")
	require.NoError(t, chromedp.Do(tab.ctx, chromedp.Navigate(base+"/play/live/hlsx?hls=1")))
	tab.wait(t, "the page plays the HLS URL", 5*time.Second,
		`!!window.headwaterPlayer && window.headwaterPlayer.mode === 'hls' && window.headwaterPlayer.url === '`+base+`/live/hlsx/index.m3u8'`)
	tab.waitPlaying(t, 30*time.Second, 0)
	tab.wait(t, "hls.js, not the browser's own HLS", time.Second, `typeof Hls === 'function'`)
	tab.screenshot(t, filepath.Join(artifacts, "hls.png"))

	players := listPlayers(t, base)
	require.Len(t, players, 1)
	require.Equal(t, "hls", players[0].Protocol)

	pub.kill()
	tab.wait(t, "the page plays out the ended playlist and retries", 30*time.Second,
		`window.headwaterPlayer.reconnects >= 1`)
	b.checkConsole(t)
}
