// Package e2e drives headwater with real peers: ffmpeg publishes over RTMP,
// ffprobe/ffmpeg and Go FLV readers play over HTTP-FLV.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/headwater-media/headwater/internal/config"
	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/rtmpclient"
	"github.com/headwater-media/headwater/internal/server"
	"github.com/headwater-media/headwater/pkg/flv"
)

func TestMain(m *testing.M) {
	// go-rtmp's client code (used here as a test publisher) logs through
	// logrus's global logger; the server side is routed into zerolog.
	logrus.SetOutput(io.Discard)
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// needFFmpeg skips without ffmpeg locally but fails in CI, where `make test`
// installs it: a test that silently skips there would prove nothing.
func needFFmpeg(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
	for _, bin := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s not found: make test installs it (scripts/install-deps.sh)", bin)
			}
			t.Skipf("%s not found; run `make deps`", bin)
		}
	}
}

// testServer is an in-process headwater on random loopback ports.
type testServer struct {
	*server.Server
	rtmpURL string // rtmp://127.0.0.1:port
	httpURL string // http://127.0.0.1:port
}

// startServer starts a server on its own random ports, so that scenarios
// that mostly wait on peers and media (HLS, recording, cluster, push) can
// run with t.Parallel: go test runs them after the others, GOMAXPROCS at a
// time.
func startServer(t *testing.T, mutate func(*config.Config)) *testServer {
	t.Helper()
	cfg := config.Default()
	cfg.RTMP.Addr, cfg.HTTP.Addr = "127.0.0.1:0", "127.0.0.1:0"
	// Scenarios end a stream by killing its publisher and expect its
	// players to end at once; the grace scenarios (grace_test.go) set
	// publish.grace.
	cfg.Publish.Grace = 0
	if mutate != nil {
		mutate(&cfg)
	}
	require.NoError(t, cfg.Validate())
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	if os.Getenv("E2E_DEBUG") != "" {
		log = log.Level(zerolog.DebugLevel)
	}
	s := server.New(cfg, log)
	require.NoError(t, s.Start())
	ts := &testServer{Server: s,
		rtmpURL: "rtmp://" + s.RTMPAddr().String(),
		httpURL: "http://" + s.HTTPAddr().String(),
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, s.Shutdown(ctx))
		require.Equal(t, registry.Stats{}, s.Registry().Stats(), "registry must be empty after the scenario")
	})
	return ts
}

// waitLive waits until key has a publisher.
func (s *testServer) waitLive(t *testing.T, app, name string) {
	t.Helper()
	require.Eventually(t, func() bool {
		for _, st := range s.Registry().Streams() {
			if st.Key.App == app && st.Key.Name == name && st.BytesIn > 0 {
				return true
			}
		}
		return false
	}, 20*time.Second, 20*time.Millisecond, "stream %s/%s never went live", app, name)
}

// publisher is a running ffmpeg publishing a lavfi test pattern and tone,
// H.264 + AAC.
type publisher struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan struct{}
	err    error
}

// ffmpegPublish starts ffmpeg publishing to url until killed. extra
// arguments go before the output.
func ffmpegPublish(t testing.TB, url string, size string, extra ...string) *publisher {
	t.Helper()
	args := []string{"-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc=size=" + size + ":rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "64k"}
	args = append(args, extra...)
	args = append(args, "-f", "flv", url)
	p := &publisher{cmd: exec.Command("ffmpeg", args...), stderr: &bytes.Buffer{}, done: make(chan struct{})}
	p.cmd.Stderr = p.stderr
	require.NoError(t, p.cmd.Start())
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(p.kill)
	return p
}

// kill ends ffmpeg abruptly (the server sees a reset or EOF) and waits.
func (p *publisher) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// wait waits for ffmpeg to exit by itself.
func (p *publisher) wait(t *testing.T, within time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(within):
		t.Fatalf("ffmpeg did not exit within %v; stderr:\n%s", within, p.stderr)
		return nil
	}
}

// playResult is what a Go HTTP-FLV player saw.
type playResult struct {
	status    int
	header    flv.Header
	tags      int
	types     []uint8 // of the first few tags
	firstKey  bool    // first video media tag was a keyframe
	maxTS     uint32
	err       error         // io.EOF for a clean end of body (RTMP: of the play session)
	headers   int           // FLV headers received (RTMP: none)
	maxGap    time.Duration // longest wall-clock wait between two tags after the first 50
	backwards string
	media     [2][]uint32 // timestamps of coded frames: [0] audio, [1] video
	scripts   [][]byte    // script tag bodies
}

// checkTimeline fails unless, per track, the player's frame timestamps
// strictly increase by at most maxJump ms a step.
func (res playResult) checkTimeline(t *testing.T, maxJump uint32) {
	t.Helper()
	for track, ts := range res.media {
		for i := 1; i < len(ts); i++ {
			if step := ts[i] - ts[i-1]; ts[i] <= ts[i-1] || step > maxJump {
				t.Fatalf("track %d (0 audio, 1 video), frame %d of %d: %d after %d", track, i, len(ts), ts[i], ts[i-1])
			}
		}
	}
}

// player plays url, parsing every tag, until the body ends or ctx is done.
// It signals on gotKey once it has seen a video keyframe.
type player struct {
	res    playResult
	done   chan struct{}
	gotKey chan struct{}
	once   sync.Once
	tags   chan int // tag counts, sent without blocking (latest wins)
}

var httpClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// waitLive waits until a HEAD of the HTTP-FLV url answers 200: the stream
// is published (by a separate process, so there is no event to wait for).
func waitLive(t testing.TB, url string) {
	t.Helper()
	require.Eventually(t, func() bool {
		resp, err := httpClient.Head(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 20*time.Second, 20*time.Millisecond, "%s did not go live", url)
}

func play(ctx context.Context, url string) *player {
	p := &player{done: make(chan struct{}), gotKey: make(chan struct{}), tags: make(chan int, 1)}
	go func() {
		defer close(p.done)
		p.res = readFLV(ctx, url, p)
	}()
	return p
}

// tagReader is a player's source of tags: an HTTP-FLV body or an RTMP
// play session.
type tagReader interface {
	ReadTag() (flv.Tag, error)
}

// readFLV plays url (http:// HTTP-FLV, rtmp:// RTMP play) and parses
// every tag until the stream ends (res.err io.EOF: the body ended, or the
// RTMP server said it was unpublished) or fails.
func readFLV(ctx context.Context, url string, p *player) (res playResult) {
	var r tagReader
	if strings.HasPrefix(url, "rtmp://") {
		rp, err := rtmpclient.Play(ctx, url, rtmpclient.Options{Timeout: 10 * time.Second})
		switch {
		case errors.Is(err, rtmpclient.ErrStreamNotFound):
			res.status, res.err = http.StatusNotFound, err
			return
		case err != nil:
			res.err = err
			return
		}
		defer rp.Close()
		stop := context.AfterFunc(ctx, func() { rp.Close() })
		defer stop()
		res.status, r = http.StatusOK, rtmpEnd{rp}
	} else {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			res.err = err
			return
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			res.err = err
			return
		}
		defer resp.Body.Close()
		res.status = resp.StatusCode
		if resp.StatusCode != http.StatusOK {
			res.err = fmt.Errorf("status %d", resp.StatusCode)
			return
		}
		fr := flv.NewReader(resp.Body)
		if res.header, res.err = fr.ReadHeader(); res.err != nil {
			return
		}
		res.headers = 1
		r = fr
	}
	var last [32]uint32
	var seen [32]bool
	var lastAt time.Time
	sawVideoMedia := false
	for {
		tag, err := r.ReadTag()
		if err != nil {
			res.err = err
			return
		}
		res.tags++
		if now := time.Now(); res.tags > 50 {
			res.maxGap = max(res.maxGap, now.Sub(lastAt))
			lastAt = now
		} else {
			lastAt = now
		}
		if len(res.types) < 8 {
			res.types = append(res.types, tag.Type)
		}
		typ := tag.Type & 31
		if seen[typ] && tag.Timestamp < last[typ] && res.backwards == "" {
			res.backwards = fmt.Sprintf("type %d: %d after %d", typ, tag.Timestamp, last[typ])
		}
		seen[typ], last[typ] = true, tag.Timestamp
		res.maxTS = max(res.maxTS, tag.Timestamp)
		switch tag.Type {
		case flv.TagScript:
			res.scripts = append(res.scripts, bytes.Clone(tag.Data))
		case flv.TagAudio:
			if ai, err := flv.ParseAudio(tag.Data); err == nil && !ai.SequenceHeader {
				res.media[0] = append(res.media[0], tag.Timestamp)
			}
		}
		if tag.Type == flv.TagVideo {
			vi, err := flv.ParseVideo(tag.Data)
			if err == nil && !vi.SequenceHeader && !vi.EndOfSequence {
				res.media[1] = append(res.media[1], tag.Timestamp)
				if !sawVideoMedia {
					res.firstKey = vi.Keyframe
					sawVideoMedia = true
				}
				if vi.Keyframe {
					p.once.Do(func() { close(p.gotKey) })
				}
			}
		}
		select {
		case <-p.tags:
		default:
		}
		p.tags <- res.tags
	}
}

// result waits for the player to end.
func (p *player) result(t *testing.T, within time.Duration) playResult {
	t.Helper()
	select {
	case <-p.done:
		return p.res
	case <-time.After(within):
		t.Fatalf("player still running after %v", within)
		return playResult{}
	}
}

// waitKey waits for the player's first keyframe.
func (p *player) waitKey(t *testing.T, within time.Duration) {
	t.Helper()
	select {
	case <-p.gotKey:
	case <-p.done:
		t.Fatalf("player ended before a keyframe: %+v", p.res)
	case <-time.After(within):
		t.Fatalf("no keyframe within %v", within)
	}
}

// waitTags waits until the player has read at least n tags.
func (p *player) waitTags(t *testing.T, n int, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case got := <-p.tags:
			if got >= n {
				return
			}
		case <-p.done:
			t.Fatalf("player ended after %d tags, wanted %d: %+v", p.res.tags, n, p.res)
		case <-deadline:
			t.Fatalf("fewer than %d tags within %v", n, within)
		}
	}
}

func isCleanEnd(err error) bool { return errors.Is(err, io.EOF) }

// rtmpEnd reports an RTMP play session that the server ended (Play.Stop,
// UnpublishNotify) as io.EOF, like the end of an HTTP-FLV body.
type rtmpEnd struct{ p *rtmpclient.Player }

func (r rtmpEnd) ReadTag() (flv.Tag, error) {
	t, err := r.p.ReadTag()
	if errors.Is(err, rtmpclient.ErrStreamEnded) {
		err = io.EOF
	}
	return t, err
}

func newRequest(method, url string) (*http.Request, error) { return http.NewRequest(method, url, nil) }
