package hwbench

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/pkg/flv"
)

func TestParseInputSeparatesHeadersFromMedia(t *testing.T) {
	b := flv.AppendHeader(nil, true, true)
	b = flv.AppendTag(b, flv.TagScript, 0, []byte("\x02\x00\x0aonMetaData\x08\x00\x00\x00\x00"))
	avcC := []byte{1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 0}
	b = flv.AppendTag(b, flv.TagVideo, 0, append([]byte{0x17, 0, 0, 0, 0}, avcC...))
	b = flv.AppendTag(b, flv.TagAudio, 0, []byte{0xaf, 0, 0x12, 0x10})
	for i := range 90 { // 3 s at 30 fps, GOP 1 s, audio every 23 ms
		typ := byte(0x27)
		if i%30 == 0 {
			typ = 0x17
		}
		b = flv.AppendTag(b, flv.TagVideo, uint32(1000+i*33), []byte{typ, 1, 0, 0, 0, 0, 0, 0, 2, 0x41, 0})
		b = flv.AppendTag(b, flv.TagAudio, uint32(1000+i*23), []byte{0xaf, 1, 0x21})
	}
	b = flv.AppendTag(b, flv.TagVideo, 0, append([]byte{0x17, 0, 0, 0, 0}, avcC...)) // repeated header: dropped
	b = flv.AppendTag(b, flv.TagVideo, 3000, []byte{0x17, 2, 0, 0, 0})               // end of sequence: dropped

	in, err := ParseInput(b)
	require.NoError(t, err)
	require.NotNil(t, in.Metadata)
	require.Equal(t, []byte{0xaf, 0, 0x12, 0x10}, in.AudioHeader)
	require.NotNil(t, in.VideoHeader)
	require.Equal(t, 4, in.LengthSize)
	require.Len(t, in.Media, 180)
	require.Zero(t, in.Media[0].Timestamp, "timestamps start at 0")
	require.Equal(t, 990*time.Millisecond, in.GOP, "30 frames of 33 ms")
	require.Equal(t, (2937+33)*time.Millisecond, in.Period, "last timestamp (2937 ms) plus one video frame")
	require.Equal(t, "AVC + AAC", in.Codec)
	for _, m := range in.Media {
		require.NotEqual(t, byte(2), m.Payload[1], "no end of sequence among the media")
	}
	require.Positive(t, in.Bitrate())

	_, err = ParseInput(flv.AppendHeader(nil, true, true))
	require.Error(t, err, "no frames")
	_, err = ParseInput([]byte("not flv"))
	require.Error(t, err)
}

func TestGenSpecValidate(t *testing.T) {
	good := GenSpec{Size: "1280x720", FPS: 30, VideoBitrate: "2500k", AudioBitrate: "128k", Duration: 20 * time.Second, GOP: 2 * time.Second}
	require.NoError(t, good.Validate())
	require.Equal(t, "testsrc2-1280x720-30fps-v2500k-a128k-20s-gop2s.flv", good.CacheName())
	require.Contains(t, good.FFmpegArgs("out.flv"), "60", "GOP in frames")
	for _, mut := range []func(*GenSpec){
		func(g *GenSpec) { g.Size = "720p" },
		func(g *GenSpec) { g.FPS = 0 },
		func(g *GenSpec) { g.VideoBitrate = "fast" },
		func(g *GenSpec) { g.Duration = 0 },
		func(g *GenSpec) { g.GOP = 0 },
	} {
		g := good
		mut(&g)
		require.Error(t, g.Validate(), "%+v", g)
	}
}
