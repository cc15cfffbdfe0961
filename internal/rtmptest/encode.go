package rtmptest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// Encoding short test streams with the machine's ffmpeg (Debian 12's
// ffmpeg 5.1 has the encoders but cannot publish E-RTMP; the packers above
// do that).

// FFmpegEncoders returns the names of the encoders `ffmpeg -encoders`
// lists (libx265, libaom-av1, ...); nil without ffmpeg.
func FFmpegEncoders() map[string]bool {
	encodersOnce.Do(func() {
		out, err := exec.Command("ffmpeg", "-hide_banner", "-encoders").Output()
		if err != nil {
			return
		}
		encoders = make(map[string]bool)
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			// " V....D libx265   libx265 H.265 / HEVC (codec hevc)"
			f := strings.Fields(sc.Text())
			if len(f) >= 2 && len(f[0]) == 6 && strings.Trim(f[0][1:], ".FSXBD") == "" {
				encoders[f[1]] = true
			}
		}
	})
	return encoders
}

var (
	encodersOnce sync.Once
	encoders     map[string]bool
)

// Encoding is a short test stream to encode.
type Encoding struct {
	// Codec is "hevc", "av1", "vp9" (video) or "opus" (audio).
	Codec string
	// Width, Height, FPS and GOP (frames between key frames) for video.
	Width, Height, FPS, GOP int
	// Seconds of test pattern (testsrc) or tone (sine).
	Seconds float64
}

// encoderArgs are the ffmpeg encoder choices per codec, best first; each
// is the encoder and its arguments.
var encoderArgs = map[string][][]string{
	// No B-frames (composition time 0) and closed GOPs of exactly GOP
	// frames: every key frame is an IDR.
	"hevc": {{"libx265", "-preset", "ultrafast", "-x265-params",
		"log-level=none:keyint=%[1]d:min-keyint=%[1]d:scenecut=0:bframes=0:open-gop=0", "-f", "hevc"}},
	// Real-time mode without look-ahead: no hidden frames; libsvtav1
	// (faster, but with its own GOP structure) if libaom is missing.
	"av1": {{"libaom-av1", "-usage", "realtime", "-cpu-used", "8", "-lag-in-frames", "0", "-g", "%[1]d", "-b:v", "300k", "-f", "ivf"},
		{"libsvtav1", "-preset", "12", "-g", "%[1]d", "-f", "ivf"}},
	"vp9":  {{"libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-lag-in-frames", "0", "-g", "%[1]d", "-b:v", "300k", "-f", "ivf"}},
	"opus": {{"libopus", "-b:a", "64k", "-f", "ogg"}},
}

// EncoderFor returns the ffmpeg encoder Encode uses for codec on this
// machine, "" if it has none.
func EncoderFor(codec string) string {
	for _, e := range encoderArgs[codec] {
		if FFmpegEncoders()[e[0]] {
			return e[0]
		}
	}
	return ""
}

// Encode runs ffmpeg to write e into dir and returns the file's path:
// H.265 Annex B (.hevc), IVF (.ivf) for AV1 and VP9, Ogg Opus (.opus).
func Encode(ctx context.Context, dir string, e Encoding) (string, error) {
	enc := EncoderFor(e.Codec)
	if enc == "" {
		return "", fmt.Errorf("rtmptest: this ffmpeg has no encoder for %s", e.Codec)
	}
	var encArgs []string
	for _, a := range encoderArgs[e.Codec] {
		if a[0] == enc {
			encArgs = a
		}
	}
	ext := map[string]string{"hevc": ".hevc", "av1": ".ivf", "vp9": ".ivf", "opus": ".opus"}[e.Codec]
	out := filepath.Join(dir, fmt.Sprintf("%s-%dx%d%s", e.Codec, e.Width, e.Height, ext))
	secs := strconv.FormatFloat(e.Seconds, 'f', -1, 64)
	args := []string{"-hide_banner", "-loglevel", "error", "-y"}
	if e.Codec == "opus" {
		args = append(args, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", secs, "-c:a", enc)
	} else {
		args = append(args, "-f", "lavfi", "-i", fmt.Sprintf("testsrc=size=%dx%d:rate=%d", e.Width, e.Height, e.FPS),
			"-t", secs, "-pix_fmt", "yuv420p", "-c:v", enc)
	}
	for _, a := range encArgs[1:] {
		if strings.Contains(a, "%[1]d") {
			a = fmt.Sprintf(a, e.GOP)
		}
		args = append(args, a)
	}
	args = append(args, out)
	cmd := exec.CommandContext(ctx, "ffmpeg", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("ffmpeg %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// Decode runs `ffmpeg -v error -f format -i file -f null -` on an unpacked
// stream (written to dir) and returns what ffmpeg said: nothing when the
// stream decodes without error.
func Decode(ctx context.Context, dir, name string, u *Unpacked) (string, error) {
	path := filepath.Join(dir, name+"."+u.Format)
	if err := os.WriteFile(path, u.Data, 0o644); err != nil {
		return "", err
	}
	out, err := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-v", "error", "-f", u.Format, "-i", path, "-f", "null", "-").CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ffmpeg decoding %s: %w: %s", path, err, out)
	}
	return string(out), nil
}

// DecodedFrames counts the frames ffprobe decodes from an unpacked stream
// written by Decode (its path), to compare with Unpacked.Frames.
func DecodedFrames(ctx context.Context, path string, format string) (int, error) {
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-f", format, "-count_frames",
		"-show_entries", "stream=nb_read_frames", "-of", "default=nw=1:nk=1", path).Output()
	if err != nil {
		return 0, fmt.Errorf("ffprobe %s: %w", path, err)
	}
	return strconv.Atoi(strings.TrimSpace(string(out)))
}
