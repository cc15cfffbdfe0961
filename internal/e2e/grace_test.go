package e2e

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/internal/auth"
	"github.com/headwater-media/headwater/internal/config"
	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/rtmptest"
	st "github.com/headwater-media/headwater/internal/stream/streamtest"
	"github.com/headwater-media/headwater/pkg/flv"
)

// capture saves the raw HTTP-FLV body of url to a file until ctx ends,
// for ffmpeg to decode afterwards.
type capture struct {
	path string
	done chan error
}

func captureFLV(ctx context.Context, t *testing.T, url string) *capture {
	t.Helper()
	c := &capture{path: filepath.Join(t.TempDir(), "capture.flv"), done: make(chan error, 1)}
	f, err := os.Create(c.path)
	require.NoError(t, err)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	go func() {
		defer f.Close()
		resp, err := httpClient.Do(req)
		if err != nil {
			c.done <- err
			return
		}
		defer resp.Body.Close()
		_, err = io.Copy(f, resp.Body)
		c.done <- err
	}()
	return c
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// videoSeqHeaders returns the distinct video sequence headers in an FLV
// capture, in order, and fails on anything but one FLV header followed by
// whole tags. It cuts the capture after its last whole tag (the player
// stopped mid-tag).
func videoSeqHeaders(t *testing.T, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	cr := &countingReader{r: f}
	r := flv.NewReader(cr)
	_, err = r.ReadHeader()
	require.NoError(t, err)
	var seqs [][]byte
	for whole := cr.n; ; whole = cr.n {
		tag, err := r.ReadTag()
		if err != nil {
			require.True(t, errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF),
				"only whole tags after one FLV header: %v", err)
			require.NoError(t, os.Truncate(path, whole))
			return seqs
		}
		if tag.Type != flv.TagVideo {
			continue
		}
		if vi, err := flv.ParseVideo(tag.Data); err == nil && vi.SequenceHeader {
			if len(seqs) == 0 || !bytes.Equal(seqs[len(seqs)-1], tag.Data) {
				seqs = append(seqs, bytes.Clone(tag.Data))
			}
		}
	}
}

// TestGraceResumesAfterAPublisherIsKilled: ffmpeg is killed (SIGKILL)
// and started again within publish.grace (the default), from another
// source port and at another resolution. The 20 players (HTTP-FLV and
// RTMP) stay connected and go on: one FLV header, timestamps that only go
// forward per track, the new sequence header in-band, and what they got
// decodes without an error.
func TestGraceResumesAfterAPublisherIsKilled(t *testing.T) {
	needFFmpeg(t)
	s := startServer(t, func(c *config.Config) { c.Publish.Grace = config.Default().Publish.Grace })
	key := keyOf("live", "grace")
	first := ffmpegPublish(t, s.rtmpURL+"/live/grace", "320x240")
	s.waitLive(t, "live", "grace")
	before, err := s.Registry().Stream(key)
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var players []*player
	for i := 0; i < 19; i++ {
		url := s.httpURL + "/live/grace.flv"
		if i%5 == 4 {
			url = s.rtmpURL + "/live/grace"
		}
		players = append(players, play(ctx, url))
	}
	capCtx, stopCapture := context.WithCancel(ctx)
	defer stopCapture()
	capt := captureFLV(capCtx, t, s.httpURL+"/live/grace.flv") // the 20th
	for _, p := range players {
		p.waitKey(t, 15*time.Second)
	}

	first.kill()
	require.Eventually(t, func() bool {
		st, err := s.Registry().Stream(key)
		return err == nil && !st.GraceUntil.IsZero()
	}, 10*time.Second, 10*time.Millisecond, "the stream waits in its grace")
	var st struct {
		State       string     `json:"state"`
		GraceEndsAt *time.Time `json:"grace_ends_at"`
	}
	apiGet(t, s.httpURL+"/api/v1/streams/live/grace", &st)
	require.Equal(t, "grace", st.State)
	require.NotNil(t, st.GraceEndsAt)
	require.Equal(t, 0, s.Registry().Stats().Publishers, "live, but without a publisher")
	counts := make([]int, len(players))
	for i, p := range players {
		counts[i] = waitCount(t, p)
	}

	second := ffmpegPublish(t, s.rtmpURL+"/live/grace", "640x360")
	resumed := time.Now()
	for i, p := range players {
		p.waitTags(t, counts[i]+60, 15*time.Second)
	}
	t.Logf("players go on %v after the new publisher started", time.Since(resumed))
	after, err := s.Registry().Stream(key)
	require.NoError(t, err)
	require.Equal(t, before.ID, after.ID, "the same stream")
	require.True(t, after.GraceUntil.IsZero())
	require.Equal(t, 640, after.Media.Video.Width, "the new session's resolution")
	apiGet(t, s.httpURL+"/api/v1/streams/live/grace", &st)
	require.Equal(t, "live", st.State)

	stopCapture()
	<-capt.done
	cancel()
	for _, p := range players {
		res := p.result(t, 10*time.Second)
		require.Empty(t, res.backwards)
		res.checkTimeline(t, 1000)
		require.True(t, res.firstKey)
		if res.headers > 0 {
			require.Equal(t, 1, res.headers)
		}
	}
	seqs := videoSeqHeaders(t, capt.path)
	require.Len(t, seqs, 2, "the new sequence header came in-band, once")
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", capt.path, "-f", "null", "-").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Empty(t, string(bytes.TrimSpace(out)), "decodes without an error")
	second.kill()
}

// TestGraceExpiryAndCleanStop: a killed publisher that does not come back
// ends its players when the grace runs out (within 1 s after it); one that
// stops cleanly (ffmpeg quits: FCUnpublish, deleteStream) ends them at
// once; with publish.grace_on_clean_stop it gets the grace too.
func TestGraceExpiryAndCleanStop(t *testing.T) {
	needFFmpeg(t)
	const grace = 2 * time.Second
	for _, tc := range []struct {
		name        string
		clean       bool
		graceOnStop bool
		wantGrace   bool
	}{
		{"killed", false, false, true},
		{"clean stop", true, false, false},
		{"clean stop with grace_on_clean_stop", true, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, func(c *config.Config) {
				c.Publish.Grace, c.Publish.GraceOnCleanStop = grace, tc.graceOnStop
			})
			pub := ffmpegPublish(t, s.rtmpURL+"/live/exp", "160x120")
			s.waitLive(t, "live", "exp")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			hp := play(ctx, s.httpURL+"/live/exp.flv")
			rp := play(ctx, s.rtmpURL+"/live/exp")
			hp.waitKey(t, 15*time.Second)
			rp.waitKey(t, 15*time.Second)
			stopped := time.Now()
			if tc.clean {
				require.NoError(t, pub.cmd.Process.Signal(os.Interrupt)) // ffmpeg unpublishes and quits
				_ = pub.wait(t, 10*time.Second)
			} else {
				pub.kill()
			}
			for _, p := range []*player{hp, rp} {
				res := p.result(t, grace+5*time.Second)
				require.True(t, isCleanEnd(res.err), "ended as when a publisher leaves: %v", res.err)
			}
			took := time.Since(stopped)
			t.Logf("players ended %v after the publisher stopped", took)
			if tc.wantGrace {
				require.GreaterOrEqual(t, took, grace-100*time.Millisecond, "players wait for the grace")
				require.Less(t, took, grace+time.Second, "and end within 1 s after it")
			} else {
				require.Less(t, took, grace/2, "a clean stop ends the players at once")
			}
		})
	}
}

// TestGraceAtTheOriginKeepsEdgePlayers: the origin's publisher is killed
// and comes back within the edge's failover timeout. The origin refuses
// the edge's pull during its grace (it waits for no publisher), the edge
// goes round its origins, finds the resumed stream and its players go on
// with one FLV header and timestamps that only go forward.
func TestGraceAtTheOriginKeepsEdgePlayers(t *testing.T) {
	needFFmpeg(t)
	origin := startServer(t, func(c *config.Config) { c.Publish.Grace = config.Default().Publish.Grace })
	e := startServer(t, func(c *config.Config) {
		c.Edge.Origins = []string{origin.httpURL}
		c.Edge.ConnectTimeout, c.Edge.FailoverTimeout = time.Second, 8*time.Second
	})
	first := ffmpegPublish(t, origin.rtmpURL+"/live/eg", "320x240")
	origin.waitLive(t, "live", "eg")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := play(ctx, e.httpURL+"/live/eg.flv")
	p.waitTags(t, 50, 15*time.Second)
	n := waitCount(t, p)
	first.kill()
	require.Eventually(t, func() bool { return streamPlayers(origin, "live", "eg") == 0 }, 5*time.Second, 10*time.Millisecond,
		"the edge's pull is ended when the origin's stream goes into its grace")
	second := ffmpegPublish(t, origin.rtmpURL+"/live/eg", "320x240")
	p.waitTags(t, n+100, 15*time.Second) // 1.5 s of media: the second publisher's
	require.Equal(t, 1, streamPlayers(origin, "live", "eg"), "one upstream again")
	cancel()
	res := p.result(t, 5*time.Second)
	require.Equal(t, 1, res.headers)
	require.Empty(t, res.backwards)
	res.checkTimeline(t, 1000)
	second.kill()
}

// TestGraceRefusedResumeKeepsPlayers: in a stream's grace, a publish of
// its key that the on_publish hook refuses does not end the stream: the
// players wait on, the grace runs to when it would have ended, and an
// allowed publish then resumes the stream for them.
func TestGraceRefusedResumeKeepsPlayers(t *testing.T) {
	if testing.Short() {
		t.Skip("integration")
	}
	hs := newHookServer(t)
	hs.set(func(ev auth.HookEvent, w http.ResponseWriter) {
		if strings.Contains(ev.Query, "deny") {
			w.WriteHeader(http.StatusForbidden)
		}
	})
	s := startServer(t, func(c *config.Config) {
		c.Publish.Grace = time.Minute
		c.Hooks.OnPublish, c.Auth.Backoff = hs.URL, 0
	})
	key := registry.Key{App: "live", Name: "rg"}
	publish := func(name string) *rtmptest.Conn {
		c, err := rtmptest.Dial(s.RTMPAddr().String(), 10*time.Second)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		require.NoError(t, c.Connect("live"))
		require.NoError(t, c.Publish(name))
		return c
	}
	send := func(c *rtmptest.Conn, ts uint32) {
		require.NoError(t, c.Send(rtmptest.TypeVideo, ts, st.Payload(st.AVCSeqHeader())))
		require.NoError(t, c.Send(rtmptest.TypeVideo, ts, st.Payload(st.AVCFrame(true, 100))))
		require.NoError(t, c.Send(rtmptest.TypeVideo, ts+40, st.Payload(st.AVCFrame(false, 100))))
	}
	first := publish("rg")
	require.Eventually(t, func() bool { _, err := s.Registry().Stream(key); return err == nil }, 5*time.Second, 5*time.Millisecond)
	send(first, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := play(ctx, s.httpURL+"/live/rg.flv")
	p.waitKey(t, 5*time.Second)
	n := waitCount(t, p)

	first.Close() // the connection breaks: a drop, not a stop
	var until time.Time
	require.Eventually(t, func() bool {
		info, err := s.Registry().Stream(key)
		until = info.GraceUntil
		return err == nil && !until.IsZero()
	}, 5*time.Second, 5*time.Millisecond)

	denied := publish("rg?deny=1")
	select {
	case <-denied.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the refused publisher's connection is still open")
	}
	info, err := s.Registry().Stream(key)
	require.NoError(t, err, "still live")
	require.Equal(t, until, info.GraceUntil, "in the grace it was in")
	require.Equal(t, 1, info.Players)

	second := publish("rg")
	send(second, 0)
	p.waitTags(t, n+3, 5*time.Second)
	info, err = s.Registry().Stream(key)
	require.NoError(t, err)
	require.True(t, info.GraceUntil.IsZero(), "resumed")
	cancel()
	res := p.result(t, 5*time.Second)
	require.Equal(t, 1, res.headers)
	require.Empty(t, res.backwards)
}

// TestGraceKeepsHLSGoing: the HLS muxer is a sink of the stream like any
// player: through a grace and a resume at another resolution it keeps its
// handle and its playlist (no #EXT-X-ENDLIST, no restart), and the
// segments from before the drop to after the resume decode in one pass.
func TestGraceKeepsHLSGoing(t *testing.T) {
	skipInDeadlockPass(t)
	t.Parallel()
	needFFmpeg(t)
	s := startServer(t, func(c *config.Config) {
		c.Publish.Grace = time.Minute
		c.HLS.SegmentDuration, c.HLS.SegmentCount = time.Second, 30 // every segment of the test stays listed
	})
	first := ffmpegPublish(t, s.rtmpURL+"/live/gh", "320x240")
	s.waitLive(t, "live", "gh")
	base := s.httpURL + "/live/gh"
	media := mediaPlaylist(t, base, "")
	segments := func() *playlist.Media {
		status, _, body := hlsGet(t, base+"/"+media)
		require.Equal(t, http.StatusOK, status)
		return parseMedia(t, body)
	}
	require.Eventually(t, func() bool { return len(segments().Segments) >= 2 }, 15*time.Second, 100*time.Millisecond)
	pl := segments()
	firstURI, before := pl.Segments[0].URI, len(pl.Segments)

	first.kill()
	require.Eventually(t, func() bool {
		st, err := s.Registry().Stream(registry.Key{App: "live", Name: "gh"})
		return err == nil && !st.GraceUntil.IsZero()
	}, 10*time.Second, 10*time.Millisecond, "the stream waits in its grace")
	require.False(t, segments().Endlist, "the playlist does not end in the grace")
	second := ffmpegPublish(t, s.rtmpURL+"/live/gh", "640x360")
	defer second.kill()
	require.Eventually(t, func() bool {
		pl = segments()
		// The segment open at the drop closes at the resume; then three
		// or more of the new session's.
		return pl.Segments[0].URI == firstURI && len(pl.Segments) >= before+4
	}, 20*time.Second, 100*time.Millisecond, "segments from before the drop and after the resume, in one playlist")
	require.False(t, pl.Endlist)
	require.Equal(t, 1, s.Registry().Stats().Players, "one muxer all along")

	out, err := exec.Command("ffmpeg", "-v", "error", "-live_start_index", "0", "-i", base+"/"+media,
		"-t", "5", "-f", "null", "-").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Empty(t, strings.TrimSpace(string(out)), "decodes across the resume without an error")
	out, err = exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=width,height", "-of", "csv=p=0",
		base+"/index.m3u8").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "640,360", "the live edge is the new session's")
}
