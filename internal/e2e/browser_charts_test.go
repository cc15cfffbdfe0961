package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/internal/lockcheck"
)

// canvasesDrawn is a JavaScript expression: every canvas under selector
// has at least one painted pixel.
func canvasesDrawn(selector string) string {
	return fmt.Sprintf(`(() => { const cs = [...document.querySelectorAll(%q)]; return cs.length > 0 && cs.every(c => {
		const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
		for (let i = 3; i < d.length; i += 4) if (d[i]) return true; return false; }); })()`, selector)
}

// TestBrowserChartsAndStreamPage: with api.token set, the dashboard draws
// its charts from /api/v1/events (public) and their values move when a
// publisher starts and a player joins; the stream page shows the public
// details without the token and hides its buttons, asks for the token once,
// and with it lists the players and kicks one (which ends that player).
func TestBrowserChartsAndStreamPage(t *testing.T) {
	needFFmpeg(t)
	chromium := needChromium(t)
	if lockcheck.Enabled() {
		t.Skip("browser test: runs in the pass without -tags deadlock")
	}
	artifacts := artifactDir(t)
	p := startBinaryEnv(t, []string{"HEADWATER_API_TOKEN=" + e2eToken})
	base := "http://" + p.httpAd
	const app, name = "live", "charts"
	b := newBrowser(t, chromium, artifacts)

	dash := b.tab(t, "charts-dashboard")
	require.NoError(t, chromedp.Do(dash.ctx, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(base+"/")))
	dash.wait(t, "two snapshots, nothing live", 10*time.Second,
		`window.headwaterDashboard && headwaterDashboard.snapshots >= 2 && headwaterDashboard.series.streams.last() === 0`)
	dash.wait(t, "the six charts are drawn", 5*time.Second, canvasesDrawn(".charts canvas"))

	pub := ffmpegPublish(t, "rtmp://"+p.rtmp+"/"+app+"/"+name, "640x360")
	flv := base + "/" + app + "/" + name + ".flv"
	waitLive(t, flv)
	dash.wait(t, "the streams chart goes to 1", 10*time.Second, `headwaterDashboard.series.streams.last() === 1`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	viewer := playAs(ctx, flv, "charts-viewer/1.0")
	dash.wait(t, "the players chart goes to 1 and ingress is above 0", 10*time.Second,
		`headwaterDashboard.series.players.last() === 1 && headwaterDashboard.series.traffic.last(1) > 0`)
	row := fmt.Sprintf(`tr[data-stream=%q]`, app+"/"+name)
	dash.wait(t, "the row's sparklines are drawn", 10*time.Second, canvasesDrawn(row+" canvas.spark"))
	dash.screenshot(t, filepath.Join(artifacts, "dashboard.png"))

	// The stream page without the token: public details, no buttons, a
	// token form; "continue without" keeps it that way.
	page := b.tab(t, "charts-stream")
	require.NoError(t, chromedp.Do(page.ctx, chromedp.EmulateViewport(1280, 1100), chromedp.Navigate(base+"/streams/"+app+"/"+name)))
	page.wait(t, "public details without the token", 15*time.Second,
		`document.getElementById('d-video').textContent.startsWith('h264 640×360') && document.getElementById('d-gop').textContent === '25 frames'`)
	page.wait(t, "it asks for the token", 5*time.Second, `!document.getElementById('token-form').hidden`)
	require.Equal(t, "true", page.eval(t, `String(document.getElementById('players').hidden && document.getElementById('kick-publisher').hidden && !headwaterStream.admin)`))
	page.wait(t, "its charts are drawn", 5*time.Second, canvasesDrawn(".charts canvas"))
	page.eval(t, `document.getElementById('token-skip').click(), 'skipped'`)
	page.wait(t, "the form goes", 2*time.Second, `document.getElementById('token-form').hidden`)
	page.close()

	// With the token: players and kick buttons; kicking the viewer ends it.
	admin := b.tab(t, "charts-admin")
	require.NoError(t, chromedp.Do(admin.ctx, chromedp.EmulateViewport(1280, 1100), chromedp.Navigate(base+"/streams/"+app+"/"+name)))
	admin.wait(t, "it asks for the token", 10*time.Second, `!document.getElementById('token-form').hidden`)
	admin.eval(t, fmt.Sprintf(`document.getElementById('token').value = %q, document.getElementById('token-form').requestSubmit(), 'sent'`, e2eToken))
	id := viewerID(t, base, "charts-viewer/1.0")
	admin.wait(t, "the players table lists the viewer", 10*time.Second,
		fmt.Sprintf(`headwaterStream.admin && !!document.querySelector('#players tr[data-id="%d"] button.kick')`, id))
	require.Contains(t, admin.eval(t, `document.getElementById('d-encoder').textContent`), "Lavf")
	admin.wait(t, "the page's charts show 2 players (the viewer and the page itself)", 10*time.Second,
		`headwaterStream.series.players.last() === 2`)
	admin.screenshot(t, filepath.Join(artifacts, "stream.png"))
	admin.eval(t, fmt.Sprintf(`document.querySelector('#players tr[data-id="%d"] button.kick').click(), 'kicked'`, id))
	select {
	case <-viewer.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the kicked player is still playing")
	}
	admin.wait(t, "the kick is recorded", 2*time.Second, fmt.Sprintf(`headwaterStream.kicked.includes(%d)`, id))
	pub.kill()
	admin.wait(t, "the page says the stream is not live", 10*time.Second, `!headwaterStream.live`)
	b.checkConsole(t)
}

// viewerID finds the id of the player with user agent ua through the API.
func viewerID(t *testing.T, base, ua string) uint64 {
	t.Helper()
	var id uint64
	require.Eventually(t, func() bool {
		code, body := apiDo(t, http.MethodGet, base+"/api/v1/players", e2eToken)
		var out struct {
			Players []struct {
				ID        uint64 `json:"id"`
				UserAgent string `json:"user_agent"`
			} `json:"players"`
		}
		if code != http.StatusOK || json.Unmarshal([]byte(body), &out) != nil {
			return false
		}
		for _, p := range out.Players {
			if p.UserAgent == ua {
				id = p.ID
				return true
			}
		}
		return false
	}, 10*time.Second, 50*time.Millisecond, "player %q in the API", ua)
	return id
}
