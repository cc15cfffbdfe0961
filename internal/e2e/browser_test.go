package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/internal/lockcheck"
)

// The browser test: the real binary, an ffmpeg publisher and Debian's
// Chromium driven headless through the DevTools protocol. The dashboard
// lists the stream and links to its player page; the player's <video>
// reaches HAVE_FUTURE_DATA and its clock advances; after the publisher is
// killed and comes back, the page reconnects and plays again. Screenshots
// and the browser console go to the artifact directory (HW_ARTIFACTS, else
// $TMPDIR/headwater-artifacts), which the test logs.
func TestBrowserDashboardAndPlayer(t *testing.T) {
	needFFmpeg(t)
	chromium := needChromium(t)
	if lockcheck.Enabled() {
		// The binary under test is built without tags, so the -tags deadlock
		// pass of make test would only repeat the -race pass's browser run.
		t.Skip("browser test: runs in the pass without -tags deadlock")
	}
	start := time.Now()
	artifacts := artifactDir(t)

	p := startBinary(t)
	base := "http://" + p.httpAd
	const app, name = "live", "browser"
	rtmpURL := "rtmp://" + p.rtmp + "/" + app + "/" + name
	b := newBrowser(t, chromium, artifacts)
	tab := b.tab(t, "player")

	// Dashboard: empty at first; the stream's row appears without a reload
	// once it is live, and links to its player page.
	require.NoError(t, chromedp.Do(tab.ctx, chromedp.Navigate(base+"/")))
	tab.wait(t, "the dashboard says nothing is live", 5*time.Second, `!document.getElementById('empty').hidden`)
	// libx264 -preset ultrafast, as ffmpegPublish runs it, sends H.264
	// constrained baseline (avc1.42C01E), with AAC-LC.
	pub := ffmpegPublish(t, rtmpURL, "640x360")
	waitAPIStream(t, base, app, name, true, pub)
	row := fmt.Sprintf(`tr[data-stream=%q]`, app+"/"+name)
	tab.wait(t, "the dashboard lists the stream", 10*time.Second,
		fmt.Sprintf(`!!document.querySelector('%s a.play') && document.getElementById('empty').hidden`, row))
	href := tab.eval(t, fmt.Sprintf(`document.querySelector('%s a.play').getAttribute('href')`, row))
	require.Equal(t, "/play/"+app+"/"+name, href)
	// Debian's Chromium decodes H.264 and AAC (through its ffmpeg); a
	// build without them fails here rather than with a silent <video>.
	t.Logf("MediaSource.isTypeSupported: %s", tab.eval(t, `JSON.stringify(Object.fromEntries(
		['avc1.42E01E', 'avc1.4D401E', 'avc1.64001F', 'mp4a.40.2', 'hev1.1.6.L93.B0'].map(
			c => [c, MediaSource.isTypeSupported('video/mp4; codecs="' + c + '"')])))`))
	const codecs = `video/mp4; codecs="avc1.42E01E,mp4a.40.2"` // H.264 baseline, AAC-LC
	require.Equal(t, "true", tab.eval(t, "MediaSource.isTypeSupported('"+codecs+"')"),
		"this Chromium cannot play %s through Media Source Extensions", codecs)

	// Follow the link (clicked from JavaScript: one atomic step, though the
	// table refreshes); the player plays within 20 s.
	tab.eval(t, fmt.Sprintf(`document.querySelector('%s a.play').click(), 'clicked'`, row))
	tab.wait(t, "the link opens the player page", 5*time.Second,
		fmt.Sprintf(`location.pathname === '/play/%s/%s' && !!window.headwaterPlayer`, app, name))
	playStart := time.Now()
	tab.waitPlaying(t, 20*time.Second, 0)
	t.Logf("player: plays and advances 1 s, %.1fs after the page opened; state %s",
		time.Since(playStart).Seconds(), tab.eval(t, `JSON.stringify(window.headwaterPlayer)`))
	tab.screenshot(t, filepath.Join(artifacts, "player.png"))

	// A second tab: the dashboard now counts the player and a bitrate.
	dash := b.tab(t, "dashboard")
	require.NoError(t, chromedp.Do(dash.ctx,
		chromedp.EmulateViewport(1200, 300),
		chromedp.Navigate(base+"/")))
	dash.wait(t, "the dashboard shows one player and an input bitrate", 10*time.Second, fmt.Sprintf(
		`(() => { const r = document.querySelector('%s'); return !!r &&
			r.querySelector('.players').textContent === '1' && /bit\/s$/.test(r.querySelector('.bitrate').textContent); })()`, row))
	dash.screenshot(t, filepath.Join(artifacts, "dashboard-table.png"))

	// Without api.token the stream page is an admin page at once: no token
	// form, the players (this test's page among them) with kick buttons.
	page := b.tab(t, "stream-open")
	require.NoError(t, chromedp.Do(page.ctx, chromedp.Navigate(base+"/streams/"+app+"/"+name)))
	page.wait(t, "the open API's stream page lists players with kick buttons", 15*time.Second,
		`headwaterStream.admin && document.getElementById('token-form').hidden && !!document.querySelector('#players button.kick') && !document.getElementById('kick-publisher').hidden`)
	page.close()

	// Reconnect: the publisher dies and comes back; the page plays again.
	sessions := tab.evalInt(t, `window.headwaterPlayer.sessions`)
	pub.kill()
	waitAPIStream(t, base, app, name, false, nil)
	dash.wait(t, "the dashboard drops the stream", 5*time.Second,
		fmt.Sprintf(`!document.querySelector('%s') && !document.getElementById('empty').hidden`, row))
	dash.close()
	// While it is gone the page keeps trying and gets 404s (backoff path).
	tab.wait(t, "the player retries and gets a 404 while the stream is gone", 10*time.Second,
		`window.headwaterPlayer.reconnects >= 1 && window.headwaterPlayer.state.includes('404')`)
	reconnectStart := time.Now()
	pub = ffmpegPublish(t, rtmpURL, "640x360")
	waitAPIStream(t, base, app, name, true, pub)
	tab.waitPlaying(t, 20*time.Second, sessions)
	t.Logf("player: plays again %.1fs after the publisher came back; state %s",
		time.Since(reconnectStart).Seconds(), tab.eval(t, `JSON.stringify(window.headwaterPlayer)`))

	b.checkConsole(t)
	t.Logf("browser test took %.1fs; artifacts in %s", time.Since(start).Seconds(), artifacts)
}

// needChromium returns the Chromium to drive: $HW_CHROMIUM, else Debian's
// /usr/bin/chromium or a chromium on PATH. Like needFFmpeg, it skips
// locally but fails in CI, where make test installs it.
func needChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("HW_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium not found: make test installs it (scripts/install-deps.sh)")
	}
	t.Skip("chromium not found; run `make deps` (Debian package chromium) or set HW_CHROMIUM")
	return ""
}

// artifactDir is $HW_ARTIFACTS, or headwater-artifacts in the temporary
// directory, emptied of an earlier run's screenshots and console log.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("HW_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "headwater-artifacts")
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	stale, _ := filepath.Glob(filepath.Join(dir, "*.png"))
	for _, f := range append(stale, filepath.Join(dir, "console.log")) {
		_ = os.Remove(f) // no screenshot of an earlier run may pass for this one's
	}
	t.Logf("browser test artifacts (screenshots, console log): %s", dir)
	return dir
}

// waitAPIStream waits until /api/v1/streams lists app/name (live) or no
// longer does; a publisher that dies meanwhile fails the test with its
// stderr.
func waitAPIStream(t *testing.T, base, app, name string, live bool, pub *publisher) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if listed(t, base, app, name) == live {
			return
		}
		if pub != nil {
			select {
			case <-pub.done:
				t.Fatalf("ffmpeg exited (%v) before %s/%s went live:\n%s", pub.err, app, name, pub.stderr)
			default:
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/%s live=%v not seen in /api/v1/streams within 15s", app, name, live)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func listed(t *testing.T, base, app, name string) bool {
	resp, err := httpClient.Get(base + "/api/v1/streams")
	require.NoError(t, err)
	defer resp.Body.Close()
	var out struct {
		Streams []struct {
			App     string `json:"app"`
			Name    string `json:"name"`
			BytesIn uint64 `json:"bytes_in"`
		} `json:"streams"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	for _, s := range out.Streams {
		if s.App == app && s.Name == name && s.BytesIn > 0 {
			return true
		}
	}
	return false
}

// browser is one headless Chromium with its own profile; every tab's
// console goes to one log.
type browser struct {
	ctx       context.Context // the first tab's; its cancel stops the browser
	artifacts string

	mu      sync.Mutex // guards console
	console []string
	first   bool // the first tab (the browser's own) is taken
	readers sync.WaitGroup
}

// browserFlags are the flags this machine's Chromium needs as root and
// offline (see README's Dashboard section): no sandbox, no GPU, and no
// background connections to Google's services.
func browserFlags(chromium, profile string) []chromedp.ExecAllocatorOption {
	return append(chromedp.DefaultExecAllocatorOptions[:], // headless, no first run, ...
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(profile),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 800),
	)
}

func newBrowser(t *testing.T, chromium, artifacts string) *browser {
	t.Helper()
	return newBrowserWith(t, chromium, artifacts)
}

// newBrowserWith is newBrowser with more Chromium flags.
func newBrowserWith(t *testing.T, chromium, artifacts string, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(browserFlags(chromium, t.TempDir()), extra...)...)
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	b := &browser{ctx: ctx, artifacts: artifacts}
	t.Cleanup(func() {
		// Close the browser, wait for the process and for the console
		// readers, so that goleak in TestMain finds nothing.
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		_ = chromedp.Cancel(cctx)
		ccancel()
		cancel()
		cancelAlloc()
		b.readers.Wait()
		b.saveConsole(t)
	})
	// Start the browser now, so a Chromium that cannot start fails here
	// with its own error.
	_, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.userAgent`))
	require.NoError(t, err, "starting %s", chromium)
	return b
}

// tab is one browser tab.
type tab struct {
	b      *browser
	name   string
	ctx    context.Context
	cancel context.CancelFunc
}

// tab returns the browser's first tab, then a new tab on each call.
func (b *browser) tab(t *testing.T, name string) *tab {
	t.Helper()
	tb := &tab{b: b, name: name}
	if !b.first {
		b.first = true
		tb.ctx, tb.cancel = b.ctx, func() {}
	} else {
		tb.ctx, tb.cancel = chromedp.NewContext(b.ctx)
		t.Cleanup(tb.cancel)
	}
	msgs := chromedp.Console(tb.ctx) // subscribes now: nothing is lost
	b.readers.Add(1)
	go func() {
		defer b.readers.Done()
		for m, err := range msgs {
			if err != nil {
				return
			}
			line := fmt.Sprintf("[%s] %s", name, m)
			if m.URL != "" {
				line += fmt.Sprintf("  (%s:%d)", m.URL, m.Line+1)
			}
			b.mu.Lock()
			b.console = append(b.console, line)
			b.mu.Unlock()
		}
	}()
	return tb
}

func (tb *tab) close() { tb.cancel() }

func (b *browser) consoleText() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.console) == 0 {
		return "(empty)"
	}
	return strings.Join(b.console, "\n")
}

func (b *browser) saveConsole(t *testing.T) {
	path := filepath.Join(b.artifacts, "console.log")
	if err := os.WriteFile(path, []byte(b.consoleText()+"\n"), 0o644); err != nil {
		t.Logf("writing %s: %v", path, err)
	}
}

// checkConsole fails on uncaught exceptions and Content-Security-Policy
// violations: the pages must work under their own CSP.
func (b *browser) checkConsole(t *testing.T) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, line := range b.console {
		if strings.Contains(line, "] exception: ") || strings.Contains(line, "Content Security Policy") {
			t.Errorf("browser console: %s", line)
		}
	}
}

// evalTimeout bounds one evaluation, so a hung page fails the test with
// its console instead of hanging it.
const evalTimeout = 5 * time.Second

// eval returns a JavaScript expression's value as a string (JSON for
// anything but a string).
func (tb *tab) eval(t *testing.T, expr string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, evalTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[any](expr))
	require.NoError(t, err, "evaluating %s\nconsole:\n%s", expr, tb.b.consoleText())
	if s, ok := v.(string); ok {
		return s
	}
	j, _ := json.Marshal(v)
	return string(j)
}

func (tb *tab) evalInt(t *testing.T, expr string) int {
	t.Helper()
	var n int
	_, err := fmt.Sscan(tb.eval(t, expr), &n)
	require.NoError(t, err)
	return n
}

// wait polls a boolean expression every 100 ms until it is true; after
// within, it fails with a screenshot and the console log.
func (tb *tab) wait(t *testing.T, what string, within time.Duration, expr string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(tb.ctx, evalTimeout)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			tb.fail(t, fmt.Sprintf("%s: not within %v (last error: %v)", what, within, err))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitPlaying waits for a session of the player after the first `after`
// ones: <video> at readyState >= 3 (HAVE_FUTURE_DATA), then its currentTime
// 1 s further on.
func (tb *tab) waitPlaying(t *testing.T, within time.Duration, after int) {
	t.Helper()
	deadline := time.Now().Add(within)
	const video = `document.getElementById('video')`
	tb.wait(t, "video readyState >= 3", within, fmt.Sprintf(
		`%s.readyState >= 3 && window.headwaterPlayer.sessions > %d`, video, after))
	t0 := tb.eval(t, video+`.currentTime`)
	tb.wait(t, "video currentTime advances by 1 s from "+t0, time.Until(deadline),
		fmt.Sprintf(`%s.currentTime >= %s + 1`, video, t0))
}

func (tb *tab) screenshot(t *testing.T, path string) {
	t.Helper()
	png, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, png, 0o644))
}

func (tb *tab) fail(t *testing.T, msg string) {
	t.Helper()
	path := filepath.Join(tb.b.artifacts, "failure-"+tb.name+".png")
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		_ = os.WriteFile(path, png, 0o644)
	}
	state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](
		`JSON.stringify({url: location.href, player: window.headwaterPlayer,
		  video: (v => v && {readyState: v.readyState, currentTime: v.currentTime, paused: v.paused,
		  error: v.error && v.error.code})(document.getElementById('video'))})`))
	t.Fatalf("%s\npage: %s\nscreenshot: %s\nbrowser console:\n%s", msg, state, path, tb.b.consoleText())
}
