package rtmpclient

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/pkg/flv"
)

// needFFmpeg skips without ffmpeg locally but fails in CI, where make test
// installs it.
func needFFmpeg(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("ffmpeg is required in CI: %v", err)
		}
		t.Skip("ffmpeg not installed")
	}
}

// freePort is a port of 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return port
}

// TestPlayFromFFmpeg plays from ffmpeg acting as an RTMP server
// (-listen 1): a real peer's chunking, control messages and statuses.
func TestPlayFromFFmpeg(t *testing.T) {
	needFFmpeg(t)
	url := "rtmp://127.0.0.1:" + strconv.Itoa(freePort(t)) + "/live/x"
	var stderr bytes.Buffer
	cmd := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "warning",
		"-re", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-f", "lavfi", "-i", "sine",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac",
		"-f", "flv", "-listen", "1", url)
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("ffmpeg: %s", stderr.String())
		}
	})

	// ffmpeg listens once it has started; until then the dial is refused.
	var p *Player
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		p, err = Play(context.Background(), url, Options{Timeout: 10 * time.Second, ReadTimeout: 10 * time.Second})
		if err == nil {
			break
		}
		var opErr *net.OpError
		if !errors.As(err, &opErr) || opErr.Op != "dial" || time.Now().After(deadline) {
			t.Fatalf("play: %v", err)
		}
		select {
		case err := <-exited:
			t.Fatalf("ffmpeg exited: %v", err)
		case <-time.After(50 * time.Millisecond): // polling: nothing tells when ffmpeg listens
		}
	}
	defer p.Close()

	var videos, audios, scripts int
	var last uint32
	for videos < 50 {
		tag, err := p.ReadTag()
		require.NoError(t, err)
		switch tag.Type {
		case flv.TagScript:
			scripts++
			_, err := flv.ParseMetadata(tag.Data)
			require.NoError(t, err, "script tag %q", tag.Data)
		case flv.TagAudio:
			audios++
		case flv.TagVideo:
			v, err := flv.ParseVideo(tag.Data)
			require.NoError(t, err)
			require.Equal(t, flv.VideoCodecAVC, v.Codec)
			switch videos {
			case 0:
				require.True(t, v.SequenceHeader, "the first video tag is the AVC sequence header")
			case 1:
				require.True(t, v.Keyframe, "then a keyframe")
				require.False(t, v.SequenceHeader)
			}
			if videos > 1 {
				require.GreaterOrEqual(t, tag.Timestamp, last, "video timestamps go forward")
			}
			last = tag.Timestamp
			videos++
		}
	}
	require.Positive(t, audios)
	t.Logf("%d video, %d audio, %d script tags, %d bytes; last video at %d ms", videos, audios, scripts, p.BytesRead(), last)
}
