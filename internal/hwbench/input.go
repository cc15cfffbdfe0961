package hwbench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/headwater-media/headwater/pkg/flv"
)

// MediaTag is one tag of the input, with its timestamp relative to the
// first media tag.
type MediaTag struct {
	Type      uint8
	Timestamp uint32 // milliseconds
	Payload   []byte
	Keyframe  bool // coded video key frame
}

// Input is an FLV file loaded for publishing: the headers sent once at the
// start of a session and the media tags replayed in a loop.
type Input struct {
	Path string
	// Metadata is the payload of the first onMetaData script tag (nil if none).
	Metadata []byte
	// AudioHeader and VideoHeader are the first sequence header tags.
	AudioHeader, VideoHeader []byte
	// Media are the audio and video frames in file order; later sequence
	// headers and end-of-sequence tags are dropped.
	Media []MediaTag
	// Period is the loop length: the last media timestamp plus one frame,
	// so that timestamps continue evenly across loops.
	Period time.Duration
	// GOP is the time between the first two video key frames (0 if fewer).
	GOP time.Duration
	// LengthSize is the AVC NAL unit length size (0 if not legacy AVC).
	LengthSize int
	// Codec describes the video and audio codecs, for the report.
	Codec string
	// Width and Height come from the AVC sequence header (0 if unknown).
	Width, Height int
	// Bytes is the size of all media payloads of one loop.
	Bytes int64
}

// Bitrate is the media payload bitrate of one loop, in bit/s.
func (in *Input) Bitrate() float64 {
	if in.Period <= 0 {
		return 0
	}
	return float64(in.Bytes*8) / in.Period.Seconds()
}

// LoadInput reads an FLV file into memory.
func LoadInput(path string) (*Input, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	in, err := ParseInput(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	in.Path = path
	return in, nil
}

// ParseInput parses a whole FLV file.
func ParseInput(b []byte) (*Input, error) {
	r := flv.NewReader(bytes.NewReader(b))
	if _, err := r.ReadHeader(); err != nil {
		return nil, err
	}
	in := &Input{}
	first := int64(-1)
	var videoCodec, audioCodec string
	var keyTS []uint32
	var lastVideo, lastAudio uint32
	var seenVideo, seenAudio bool
	var videoDeltas, audioDeltas []uint32
	for {
		t, err := r.ReadTag()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) && len(in.Media) > 0 {
				break // a file cut short (a recording in progress): use what is there
			}
			return nil, err
		}
		switch t.Type {
		case flv.TagScript:
			if in.Metadata == nil && bytes.Contains(t.Data[:min(len(t.Data), 16)], []byte("onMetaData")) {
				in.Metadata = bytes.Clone(t.Data)
			}
			continue
		case flv.TagAudio:
			ai, err := flv.ParseAudio(t.Data)
			if err == nil && ai.SequenceHeader {
				if in.AudioHeader == nil {
					in.AudioHeader = bytes.Clone(t.Data)
				}
				continue
			}
			if ai.Format == 10 {
				audioCodec = "AAC"
			} else if audioCodec == "" {
				audioCodec = fmt.Sprintf("audio format %d", ai.Format)
			}
		case flv.TagVideo:
			vi, err := flv.ParseVideo(t.Data)
			if err == nil && vi.SequenceHeader {
				if in.VideoHeader == nil {
					in.VideoHeader = bytes.Clone(t.Data)
					videoCodec = vi.Codec.String()
					if vi.Enhanced {
						videoCodec += " (enhanced RTMP)"
					}
					if vi.Codec == flv.VideoCodecAVC && !vi.Enhanced && len(vi.Config) >= 5 && vi.Config[0] == 1 {
						// lengthSizeMinusOne; the size is informational only.
						in.LengthSize = int(vi.Config[4]&3) + 1
						if c, err := flv.ParseAVCDecoderConfig(vi.Config); err == nil {
							in.Width, in.Height = c.Width, c.Height
						}
					}
				}
				continue
			}
			if vi.EndOfSequence || (err == nil && vi.FrameType == flv.FrameCommand) {
				continue
			}
		default:
			continue
		}
		if first < 0 {
			first = int64(t.Timestamp)
		}
		ts := uint32(max(int64(t.Timestamp)-first, 0))
		m := MediaTag{Type: t.Type, Timestamp: ts, Payload: bytes.Clone(t.Data)}
		if t.Type == flv.TagVideo {
			vi, _ := flv.ParseVideo(t.Data)
			m.Keyframe = vi.Keyframe
			if m.Keyframe {
				keyTS = append(keyTS, ts)
			}
			if seenVideo {
				videoDeltas = append(videoDeltas, ts-min(ts, lastVideo))
			}
			lastVideo, seenVideo = ts, true
		} else {
			if seenAudio {
				audioDeltas = append(audioDeltas, ts-min(ts, lastAudio))
			}
			lastAudio, seenAudio = ts, true
		}
		in.Bytes += int64(len(t.Data))
		in.Media = append(in.Media, m)
	}
	if len(in.Media) == 0 {
		return nil, errors.New("no audio or video frames")
	}
	frame := median(videoDeltas)
	if frame == 0 {
		frame = median(audioDeltas)
	}
	if frame == 0 {
		frame = 33
	}
	var last uint32
	for _, m := range in.Media {
		last = max(last, m.Timestamp)
	}
	in.Period = time.Duration(last+frame) * time.Millisecond
	if len(keyTS) >= 2 {
		in.GOP = time.Duration(keyTS[1]-keyTS[0]) * time.Millisecond
	}
	switch {
	case videoCodec != "" && audioCodec != "":
		in.Codec = videoCodec + " + " + audioCodec
	case videoCodec != "":
		in.Codec = videoCodec
	default:
		in.Codec = audioCodec
	}
	return in, nil
}

func median(v []uint32) uint32 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// GenSpec describes a test stream generated with ffmpeg: lavfi testsrc2
// video (libx264, constant frame rate, fixed GOP) and a sine tone (AAC).
type GenSpec struct {
	Size         string        // WxH, e.g. 1280x720
	FPS          int           // frames per second
	VideoBitrate string        // ffmpeg bitrate, e.g. 2500k
	AudioBitrate string        // e.g. 128k
	Duration     time.Duration // length of the file, i.e. of one loop
	GOP          time.Duration // key frame interval
}

// CacheName is the file name the generated stream is cached under.
func (g GenSpec) CacheName() string {
	return fmt.Sprintf("testsrc2-%s-%dfps-v%s-a%s-%s-gop%s.flv", g.Size, g.FPS,
		g.VideoBitrate, g.AudioBitrate, g.Duration, g.GOP)
}

// FFmpegArgs returns the ffmpeg arguments that write the stream to out.
func (g GenSpec) FFmpegArgs(out string) []string {
	gop := max(int(g.GOP.Seconds()*float64(g.FPS)+0.5), 1)
	return []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%s:rate=%d", g.Size, g.FPS),
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", fmt.Sprintf("%.3f", g.Duration.Seconds()),
		"-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
		"-b:v", g.VideoBitrate, "-maxrate", g.VideoBitrate, "-bufsize", g.VideoBitrate,
		"-g", fmt.Sprint(gop), "-keyint_min", fmt.Sprint(gop), "-sc_threshold", "0",
		"-c:a", "aac", "-b:a", g.AudioBitrate, "-ac", "2",
		"-f", "flv", out}
}

// Validate checks the spec's fields.
func (g GenSpec) Validate() error {
	var bad []string
	if w, h, ok := strings.Cut(g.Size, "x"); !ok || w == "" || h == "" || strings.Trim(w+h, "0123456789") != "" {
		bad = append(bad, fmt.Sprintf("size %q is not WxH", g.Size))
	}
	if g.FPS < 1 || g.FPS > 240 {
		bad = append(bad, "fps must be 1-240")
	}
	for _, b := range []string{g.VideoBitrate, g.AudioBitrate} {
		if strings.TrimRight(b, "0123456789kKM") != "" || b == "" || strings.Trim(b, "kKM") == "" {
			bad = append(bad, fmt.Sprintf("bitrate %q is not like 2500k", b))
		}
	}
	if g.Duration < time.Second {
		bad = append(bad, "duration must be at least 1s")
	}
	if g.GOP < time.Second/time.Duration(max(g.FPS, 1)) {
		bad = append(bad, "GOP must be at least one frame")
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}

// Generate returns the path of the generated stream in cacheDir, running
// ffmpeg (found in PATH as ffmpeg) only when the file is not cached yet.
func Generate(ctx context.Context, g GenSpec, cacheDir string) (path string, cached bool, err error) {
	if err := g.Validate(); err != nil {
		return "", false, err
	}
	path = filepath.Join(cacheDir, g.CacheName())
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		return path, true, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", false, err
	}
	tmp, err := os.CreateTemp(cacheDir, ".gen-*.flv")
	if err != nil {
		return "", false, err
	}
	_ = tmp.Close()
	defer os.Remove(tmp.Name())
	cmd := exec.CommandContext(ctx, "ffmpeg", g.FFmpegArgs(tmp.Name())...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", false, fmt.Errorf("ffmpeg: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", false, err
	}
	return path, false, nil
}
