package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/internal/lockcheck"
	"github.com/headwater-media/headwater/internal/rtmptest"
	"github.com/headwater-media/headwater/pkg/flv"
)

// TestBrowserPlaysVideoOfAnAudioFirstStream: the publisher sends its
// metadata (audio and video) and audio for 2.5 s, then the video's
// sequence header and frames, as an encoder whose video starts late does.
// The player page opens while only audio has come; mpegts.js creates its
// video track from the FLV header's flags, so the header must say video,
// and the page must then show it.
func TestBrowserPlaysVideoOfAnAudioFirstStream(t *testing.T) {
	needFFmpeg(t)
	chromium := needChromium(t)
	if lockcheck.Enabled() {
		t.Skip("browser test: runs in the pass without -tags deadlock")
	}
	artifacts := artifactDir(t)
	tags := encodeFixture(t)
	p := startBinary(t)
	base := "http://" + p.httpAd

	c := rawPublish(t, p.rtmp, "audiofirst")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	published, startVideo := make(chan error, 1), make(chan struct{})
	go func() { published <- publishAudioFirst(ctx, c, tags, startVideo) }()
	defer func() {
		cancel()
		<-published
	}()
	waitAPIStream(t, base, "live", "audiofirst", true, nil)

	b := newBrowser(t, chromium, artifacts)
	tab := b.tab(t, "audiofirst")
	require.NoError(t, chromedp.Do(tab.ctx, chromedp.Navigate(base+"/play/live/audiofirst")))
	// The page's player has its FLV header and audio before any video.
	require.Eventually(t, func() bool {
		var ps struct {
			Players []struct {
				BytesSent int64 `json:"bytes_sent"`
			} `json:"players"`
		}
		_, body := getBody(t, base+"/api/v1/streams/live/audiofirst/players")
		return json.Unmarshal([]byte(body), &ps) == nil && len(ps.Players) == 1 && ps.Players[0].BytesSent > 2000
	}, 20*time.Second, 50*time.Millisecond, "the page plays the audio")
	close(startVideo)
	tab.waitPlaying(t, 20*time.Second, 0)
	tab.wait(t, "the page shows the video (320x240)", 10*time.Second,
		`document.getElementById('video').videoWidth === 320 && document.getElementById('video').videoHeight === 240`)
	tab.screenshot(t, filepath.Join(artifacts, "audiofirst.png"))
	b.checkConsole(t)
}

// encodeFixture encodes 4 s of 320x240 H.264 (a keyframe a second) and AAC
// into FLV with ffmpeg and returns its tags.
func encodeFixture(t *testing.T) []flv.Tag {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fixture.flv")
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", "4", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "64k", "-f", "flv", path).CombinedOutput()
	require.NoError(t, err, "%s", out)
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	r := flv.NewReader(bytes.NewReader(raw))
	_, err = r.ReadHeader()
	require.NoError(t, err)
	var tags []flv.Tag
	for {
		tag, err := r.ReadTag()
		if err != nil {
			break
		}
		tag.Data = bytes.Clone(tag.Data)
		tags = append(tags, tag)
	}
	require.NotEmpty(t, tags)
	return tags
}

// publishAudioFirst sends tags over c in real time, looping, until ctx is
// done: only the metadata and audio until startVideo is closed, then the
// video's sequence header and video from its next keyframe on.
func publishAudioFirst(ctx context.Context, c *rtmptest.Conn, tags []flv.Tag, startVideo <-chan struct{}) error {
	var videoSeq []byte
	for _, tg := range tags {
		if tg.Type == flv.TagVideo {
			if vi, err := flv.ParseVideo(tg.Data); err == nil && vi.SequenceHeader {
				videoSeq = tg.Data
			}
		}
	}
	start := time.Now()
	last := tags[len(tags)-1].Timestamp + 40
	video := false // the video's sequence header was sent
	for loop := uint32(0); ; loop++ {
		for _, tg := range tags {
			ts := tg.Timestamp + loop*last
			if wait := time.Duration(ts)*time.Millisecond - time.Since(start); wait > 0 {
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(wait):
				}
			}
			var err error
			switch tg.Type {
			case flv.TagScript:
				if loop == 0 {
					err = c.Send(rtmptest.TypeData, ts, rtmptest.SetDataFrame(tg.Data))
				}
			case flv.TagAudio:
				err = c.Send(rtmptest.TypeAudio, ts, tg.Data)
			case flv.TagVideo:
				vi, perr := flv.ParseVideo(tg.Data)
				switch {
				case perr != nil || vi.SequenceHeader:
				case !video && closed(startVideo) && vi.Keyframe:
					video = true
					if err = c.Send(rtmptest.TypeVideo, ts, videoSeq); err == nil {
						err = c.Send(rtmptest.TypeVideo, ts, tg.Data)
					}
				case video:
					err = c.Send(rtmptest.TypeVideo, ts, tg.Data)
				}
			}
			if err != nil {
				return err
			}
		}
	}
}

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
