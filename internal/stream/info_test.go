package stream

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	st "github.com/headwater-media/headwater/internal/stream/streamtest"
	"github.com/headwater-media/headwater/pkg/flv"
)

// flvFixture reads a file of the flv package's test data: real sequence
// headers and an ffmpeg-made FLV.
func flvFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "pkg", "flv", "testdata", name))
	require.NoError(t, err)
	return b
}

// metadata is an onMetaData body with the given properties (numbers,
// strings or booleans).
func metadata(props ...any) []byte {
	p := []byte{0x02, 0x00, 0x0a}
	p = append(p, "onMetaData"...)
	p = append(p, 0x08, 0, 0, 0, byte(len(props)/2))
	for i := 0; i+1 < len(props); i += 2 {
		k := props[i].(string)
		p = append(p, 0, byte(len(k)))
		p = append(p, k...)
		switch v := props[i+1].(type) {
		case float64:
			p = append(p, 0)
			p = binary.BigEndian.AppendUint64(p, math.Float64bits(v))
		case string:
			p = append(p, 2, 0, byte(len(v)))
			p = append(p, v...)
		case bool:
			b := byte(0)
			if v {
				b = 1
			}
			p = append(p, 1, b)
		}
	}
	return st.Buf(append(p, 0, 0, 9))
}

func TestInfoFromSequenceHeaders(t *testing.T) {
	for _, tc := range []struct {
		video, audio string
		wantV        VideoInfo
		wantA        AudioInfo
	}{
		{"avc_seqhdr_1280x720_high.bin", "aac_seqhdr_44100_2ch.bin",
			VideoInfo{Codec: "h264", Profile: "High", Level: "3.1", Width: 1280, Height: 720},
			AudioInfo{Codec: "aac", Profile: "LC", SampleRate: 44100, Channels: 2}},
		{"avc_seqhdr_320x240_baseline.bin", "aac_seqhdr_48000_1ch.bin",
			VideoInfo{Codec: "h264", Profile: "Constrained Baseline", Level: "1.3", Width: 320, Height: 240},
			AudioInfo{Codec: "aac", Profile: "LC", SampleRate: 48000, Channels: 1}},
		{"avc_seqhdr_1920x1080_high.bin", "aac_seqhdr_44100_2ch.bin",
			VideoInfo{Codec: "h264", Profile: "High", Level: "4.0", Width: 1920, Height: 1080},
			AudioInfo{Codec: "aac", Profile: "LC", SampleRate: 44100, Channels: 2}},
		{"avc_seqhdr_640x360_444.bin", "aac_seqhdr_44100_2ch.bin",
			VideoInfo{Codec: "h264", Profile: "High 4:4:4 Predictive", Level: "3.0", Width: 640, Height: 360},
			AudioInfo{Codec: "aac", Profile: "LC", SampleRate: 44100, Channels: 2}},
	} {
		t.Run(tc.video, func(t *testing.T) {
			s := New(testConfig())
			// onMetaData that disagrees: the headers win.
			write(t, s, flv.TagScript, 0, metadata("width", 1.0, "height", 1.0, "audiosamplerate", 8000.0, "videocodecid", 7.0, "audiocodecid", 10.0))
			info := s.Info()
			require.False(t, info.Ready)
			require.Equal(t, &VideoInfo{Codec: "h264", Width: 1, Height: 1}, info.Video, "before the headers: onMetaData's")
			write(t, s, flv.TagVideo, 0, st.Buf(flvFixture(t, tc.video)))
			write(t, s, flv.TagAudio, 0, st.Buf(flvFixture(t, tc.audio)))
			info = s.Info()
			require.Equal(t, &tc.wantV, info.Video)
			require.Equal(t, &tc.wantA, info.Audio)
		})
	}
}

func TestInfoFrameRateAndReady(t *testing.T) {
	s := New(testConfig())
	write(t, s, flv.TagScript, 0, metadata("framerate", 30.0, "videocodecid", 7.0))
	write(t, s, flv.TagVideo, 0, st.Buf(flvFixture(t, "avc_seqhdr_320x240_baseline.bin")))
	require.Equal(t, 30.0, s.Info().Video.FPS, "onMetaData's until two frames came")
	for i := range 100 {
		write(t, s, flv.TagVideo, uint32(i*40), st.AVCFrame(i%25 == 0, 100))
	}
	info := s.Info()
	require.True(t, info.Ready)
	require.Equal(t, 25.0, info.Video.FPS, "measured: one frame every 40 ms")
	require.Equal(t, 25, info.Video.GOPFrames, "a keyframe every 25 frames")
	require.Equal(t, int64(1000), info.Video.KeyframeInterval)
	require.Nil(t, info.Audio)

	// 30000/1001 in FLV's milliseconds.
	for i := range fpsFrames {
		write(t, s, flv.TagVideo, 4000+uint32(float64(i)*1001/30), st.AVCFrame(false, 100))
	}
	require.InDelta(t, 29.97, s.Info().Video.FPS, 0.05)
}

func TestInfoFromFFmpegFile(t *testing.T) {
	s := New(testConfig())
	r := flv.NewReader(bytes.NewReader(flvFixture(t, "avc_aac_160x120.flv")))
	_, err := r.ReadHeader()
	require.NoError(t, err)
	for {
		tag, err := r.ReadTag()
		if err != nil {
			break
		}
		write(t, s, tag.Type, tag.Timestamp, st.Buf(tag.Data))
	}
	info := s.Info()
	require.Equal(t, "Lavf59.27.100", info.Encoder)
	require.Equal(t, "h264", info.Video.Codec)
	require.Equal(t, 160, info.Video.Width)
	require.Equal(t, 120, info.Video.Height)
	require.InDelta(t, 15, info.Video.FPS, 1, "7 frames (the end of sequence is none) in 379 ms")
	require.Equal(t, &AudioInfo{Codec: "aac", Profile: "LC", SampleRate: 22050, Channels: 1}, info.Audio)
	require.Positive(t, info.BitrateIn)
}

func TestInfoOtherCodecs(t *testing.T) {
	t.Run("HEVC size from onMetaData", func(t *testing.T) {
		s := New(testConfig())
		write(t, s, flv.TagScript, 0, metadata("width", 320.0, "height", 240.0, "videocodecid", "hvc1", "framerate", 50.0))
		hdr := append([]byte{0x90, 'h', 'v', 'c', '1'}, flvFixture(t, "hvcc_320x240.bin")...)
		write(t, s, flv.TagVideo, 0, st.Buf(hdr))
		require.Equal(t, &VideoInfo{Codec: "hevc", Profile: "Main", Level: "2.0", Width: 320, Height: 240, FPS: 50}, s.Info().Video)
	})
	t.Run("AV1", func(t *testing.T) {
		s := New(testConfig())
		write(t, s, flv.TagVideo, 0, st.Buf(append([]byte{0x90, 'a', 'v', '0', '1'}, flvFixture(t, "av1c_320x240.bin")...)))
		v := s.Info().Video
		require.Equal(t, "av1", v.Codec)
		require.Equal(t, "Main", v.Profile)
	})
	t.Run("legacy codecs from the tag flags", func(t *testing.T) {
		s := New(testConfig())
		write(t, s, flv.TagVideo, 0, st.Buf([]byte{0x14, 0, 0, 0})) // VP6 keyframe
		write(t, s, flv.TagAudio, 0, st.Buf([]byte{0x2e, 0xff}))    // MP3, 44 kHz, 16 bit, mono
		info := s.Info()
		require.Equal(t, "vp6", info.Video.Codec)
		require.Equal(t, &AudioInfo{Codec: "mp3", SampleRate: 44100, Channels: 1}, info.Audio)
	})
	t.Run("HE-AACv2 and Opus", func(t *testing.T) {
		s := New(testConfig())
		// AudioSpecificConfig: object type 29 (PS), 24 kHz core (index 6),
		// mono, extension 48 kHz (index 3), core AAC LC (2).
		write(t, s, flv.TagAudio, 0, st.Buf([]byte{0xaf, 0x00, 0xeb, 0x09, 0x88, 0x00}))
		require.Equal(t, &AudioInfo{Codec: "aac", Profile: "HE-AACv2", SampleRate: 48000, Channels: 2}, s.Info().Audio)

		s = New(testConfig())
		head := append([]byte("OpusHead"), 1, 2, 0x38, 1, 0x80, 0xbb, 0, 0, 0, 0, 0)
		write(t, s, flv.TagAudio, 0, st.Buf(append([]byte{0x90, 'O', 'p', 'u', 's'}, head...)))
		require.Equal(t, &AudioInfo{Codec: "opus", SampleRate: 48000, Channels: 2}, s.Info().Audio)
	})
}

// ex is an E-RTMP video body: the first byte, the FourCC, then parts.
func ex(b0 byte, fourCC string, parts ...[]byte) []byte {
	p := append([]byte{b0}, fourCC...)
	for _, part := range parts {
		p = append(p, part...)
	}
	return st.Buf(p)
}

func TestInfoEnhancedCodecs(t *testing.T) {
	hvcC10 := flvFixture(t, "hvcc_322x242_main10.bin")
	av1C444 := flvFixture(t, "av1c_1280x720_444_10bit.bin")
	av1C := flvFixture(t, "av1c_320x240.bin")
	vpcC := flvFixture(t, "vpcc_box_320x240.bin")
	vp9Key := flvFixture(t, "vp9_keyhdr_320x240.bin")
	vp9Inter := flvFixture(t, "vp9_interhdr_320x240.bin")

	t.Run("HEVC Main 10 with cropping", func(t *testing.T) {
		s := New(testConfig())
		write(t, s, flv.TagVideo, 0, ex(0x90, "hvc1", hvcC10))
		require.Equal(t, &VideoInfo{Codec: "hevc", Profile: "Main 10", Level: "2.0", Width: 322, Height: 242}, s.Info().Video)
	})
	t.Run("legacy HEVC codec id 12", func(t *testing.T) {
		s := New(testConfig())
		write(t, s, flv.TagVideo, 0, st.Buf(append([]byte{0x1c, 0, 0, 0, 0}, flvFixture(t, "hvcc_320x240.bin")...)))
		for i := range 10 {
			b0 := byte(0x2c) // inter frame, codec id 12
			if i%5 == 0 {
				b0 = 0x1c
			}
			write(t, s, flv.TagVideo, uint32(i*40), st.Buf([]byte{b0, 1, 0, 0, 0, 0, 0, 0, 1, 0x02}))
		}
		v := s.Info().Video
		require.Equal(t, &VideoInfo{Codec: "hevc", Profile: "Main", Level: "2.0", Width: 320, Height: 240, FPS: 25,
			GOPFrames: 5, KeyframeInterval: 200}, v)
	})
	t.Run("AV1 High profile from the record's sequence header", func(t *testing.T) {
		s := New(testConfig())
		write(t, s, flv.TagVideo, 0, ex(0x90, "av01", av1C444))
		require.Equal(t, &VideoInfo{Codec: "av1", Profile: "High", Level: "3.1", Width: 1280, Height: 720}, s.Info().Video)
	})
	t.Run("AV1 record without configOBUs: size from the first key frame", func(t *testing.T) {
		s := New(testConfig())
		write(t, s, flv.TagVideo, 0, ex(0x90, "av01", av1C[:4]))
		require.Equal(t, &VideoInfo{Codec: "av1", Profile: "Main", Level: "2.0"}, s.Info().Video)
		td := []byte{0x12, 0}
		write(t, s, flv.TagVideo, 0, ex(0x91, "av01", td, av1C[4:], []byte{0x32, 1, 0x10}))
		require.Equal(t, &VideoInfo{Codec: "av1", Profile: "Main", Level: "2.0", Width: 320, Height: 240}, s.Info().Video)
	})
	t.Run("VP9: profile and level from the record, size from a key frame", func(t *testing.T) {
		s := New(testConfig())
		write(t, s, flv.TagScript, 0, metadata("videocodecid", float64(flv.FourCCVP9)))
		require.Equal(t, &VideoInfo{Codec: "vp9"}, s.Info().Video, "onMetaData's FourCC number, before any video")
		write(t, s, flv.TagVideo, 0, ex(0x90, "vp09", vpcC))
		require.Equal(t, &VideoInfo{Codec: "vp9", Profile: "Profile 0", Level: "2.0"}, s.Info().Video)
		write(t, s, flv.TagVideo, 0, ex(0xa1, "vp09", vp9Inter))
		require.Zero(t, s.Info().Video.Width, "an inter frame has no size")
		write(t, s, flv.TagVideo, 40, ex(0x91, "vp09", vp9Key))
		write(t, s, flv.TagVideo, 80, ex(0xa3, "vp09", vp9Inter))
		v := s.Info().Video
		require.Equal(t, [2]int{320, 240}, [2]int{v.Width, v.Height})
		require.Equal(t, 25.0, v.FPS)
	})
	t.Run("VP9 without a record: profile and size from a key frame", func(t *testing.T) {
		s := New(testConfig())
		write(t, s, flv.TagVideo, 0, ex(0x91, "vp09", vp9Key))
		require.Equal(t, &VideoInfo{Codec: "vp9", Profile: "Profile 0", Width: 320, Height: 240}, s.Info().Video)
	})
	t.Run("metadata packets and command frames are no frames", func(t *testing.T) {
		s := New(testConfig())
		write(t, s, flv.TagVideo, 0, ex(0x90, "av01", av1C))
		amf := []byte{0x02, 0x00, 0x09, 'c', 'o', 'l', 'o', 'r', 'I', 'n', 'f', 'o', 0x03, 0, 0, 9}
		for i := range 8 {
			write(t, s, flv.TagVideo, uint32(i*100), ex(0x91, "av01", []byte{0x32, 1, 0x10}))
			write(t, s, flv.TagVideo, uint32(i*100+10), ex(0x94, "av01", amf))
			write(t, s, flv.TagVideo, uint32(i*100+20), st.Buf([]byte{0xd1, 0}))
			write(t, s, flv.TagVideo, uint32(i*100+30), st.Buf(append([]byte{0x97, 2, 0, 0, 1, 0x04}, append([]byte("av01"), amf...)...)))
		}
		v := s.Info().Video
		require.Equal(t, 10.0, v.FPS)
		require.Equal(t, 1, v.GOPFrames)
	})
	t.Run("multitrack: the default track", func(t *testing.T) {
		s := New(testConfig())
		u24 := func(n int) []byte { return []byte{byte(n >> 16), byte(n >> 8), byte(n)} }
		// Track 1 (AV1) then track 0 (HEVC), each in its own message.
		write(t, s, flv.TagVideo, 0, st.Buf(append([]byte{0x96, 0x00, 'a', 'v', '0', '1', 1}, av1C...)))
		write(t, s, flv.TagVideo, 0, st.Buf(append([]byte{0x96, 0x00, 'h', 'v', 'c', '1', 0}, hvcC10...)))
		require.Equal(t, &VideoInfo{Codec: "hevc", Profile: "Main 10", Level: "2.0", Width: 322, Height: 242}, s.Info().Video)
		write(t, s, flv.TagVideo, 0, st.Buf(append([]byte{0x96, 0x00, 'a', 'v', '0', '1', 1}, av1C...)))
		require.Equal(t, "hevc", s.Info().Video.Codec, "track 1 does not replace track 0")
		// Both in one message: the first.
		mt := append([]byte{0x96, 0x20, 'a', 'v', '0', '1', 1}, u24(len(av1C))...)
		mt = append(append(mt, av1C...), 'h', 'v', 'c', '1', 0)
		mt = append(append(mt, u24(len(hvcC10))...), hvcC10...)
		write(t, s, flv.TagVideo, 0, st.Buf(mt))
		require.Equal(t, &VideoInfo{Codec: "av1", Profile: "Main", Level: "2.0", Width: 320, Height: 240}, s.Info().Video)
	})
	t.Run("FLAC STREAMINFO", func(t *testing.T) {
		s := New(testConfig())
		// STREAMINFO: 4096/4096 blocks, frame sizes 0, 96000 Hz, 6 channels, 24 bits.
		info := []byte{0x10, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0x17, 0x70, 0x0a, 0x70, 0, 0, 0, 0}
		cfg := append(append([]byte("fLaC"), 0x80, 0, 0, 34), info...)
		write(t, s, flv.TagAudio, 0, st.Buf(append([]byte{0x90, 'f', 'L', 'a', 'C'}, cfg...)))
		require.Equal(t, &AudioInfo{Codec: "flac", SampleRate: 96000, Channels: 6}, s.Info().Audio)
	})
}

func TestQueued(t *testing.T) {
	s := New(testConfig())
	sub := s.Subscribe()
	write(t, s, flv.TagVideo, 0, st.AVCSeqHeader())
	write(t, s, flv.TagVideo, 0, st.AVCFrame(true, 100))
	tags, n := sub.Queued()
	require.Equal(t, 2, tags)
	require.Equal(t, len(st.AVCSeqHeader())+len(st.AVCFrame(true, 100)), n)
	drain(t, sub)
	tags, n = sub.Queued()
	require.Zero(t, tags)
	require.Zero(t, n)
}

func TestRateMeter(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var m rateMeter
	require.Zero(t, m.bitsPerSecond(t0))
	m.add(t0, 1000)
	require.Equal(t, int64(8000), m.bitsPerSecond(t0.Add(100*time.Millisecond)), "at least one second: a first burst is not a huge rate")
	for i := 1; i < 20; i++ {
		m.add(t0.Add(time.Duration(i)*500*time.Millisecond), 1000) // 2000 B/s
	}
	bps := func(bytes, seconds float64) int64 { return int64(bytes * 8 / seconds) }
	// At 9.5 s the window is seconds 5 to 9.5: 10 adds in 4.5 s.
	require.Equal(t, bps(10*1000, 4.5), m.bitsPerSecond(t0.Add(9500*time.Millisecond)))
	// Quiet since 9.5 s: the window empties second by second.
	require.Equal(t, bps(2*1000, 4.5), m.bitsPerSecond(t0.Add(13500*time.Millisecond)), "only second 9 left")
	require.Zero(t, m.bitsPerSecond(t0.Add(14*time.Second)))
	// After a long gap every old bucket is cleared.
	m.add(t0.Add(100*time.Second), 500)
	require.Equal(t, bps(500, 4.5), m.bitsPerSecond(t0.Add(101500*time.Millisecond)))
}
