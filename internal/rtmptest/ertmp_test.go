package rtmptest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/headwater-media/headwater/pkg/flv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// flvFixture reads a file of the flv package's test data.
func flvFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "pkg", "flv", "testdata", name))
	require.NoError(t, err)
	return b
}

func TestVideoPackets(t *testing.T) {
	hvcC := flvFixture(t, "hvcc_320x240.bin")
	frame := []byte{0, 0, 0, 2, 0x26, 0x01}
	amf := AMF0(nil, "colorInfo", Props{"colorConfig", Props{"bitDepth", 10}})

	for _, tc := range []struct {
		name string
		in   []byte
		want flv.VideoInfo
	}{
		{"SequenceStart", VideoSequenceStart("hvc1", hvcC),
			flv.VideoInfo{Codec: flv.VideoCodecHEVC, Enhanced: true, FourCC: flv.FourCCHEVC, Keyframe: true, SequenceHeader: true, Config: hvcC, FrameType: flv.FrameKey}},
		{"CodedFrames with a composition time", VideoCodedFrames("hvc1", true, -40, frame),
			flv.VideoInfo{Codec: flv.VideoCodecHEVC, Enhanced: true, FourCC: flv.FourCCHEVC, Keyframe: true, FrameType: flv.FrameKey, PacketType: 1, CompositionTime: -40, Data: frame}},
		{"CodedFrames without one", VideoCodedFrames("av01", false, 0, frame),
			flv.VideoInfo{Codec: flv.VideoCodecAV1, Enhanced: true, FourCC: flv.FourCCAV1, FrameType: flv.FrameInter, PacketType: 1, Data: frame}},
		{"CodedFramesX", VideoCodedFramesX("vp09", true, frame),
			flv.VideoInfo{Codec: flv.VideoCodecVP9, Enhanced: true, FourCC: flv.FourCCVP9, Keyframe: true, FrameType: flv.FrameKey, PacketType: 3, Data: frame}},
		{"SequenceEnd", VideoSequenceEnd("av01"),
			flv.VideoInfo{Codec: flv.VideoCodecAV1, Enhanced: true, FourCC: flv.FourCCAV1, Keyframe: true, EndOfSequence: true, FrameType: flv.FrameKey, PacketType: 2}},
		{"Metadata", VideoMetadata("hvc1", amf),
			flv.VideoInfo{Codec: flv.VideoCodecHEVC, Enhanced: true, FourCC: flv.FourCCHEVC, FrameType: flv.FrameInter, PacketType: 4, Data: amf}},
		{"ModEx TimestampOffsetNano", WithModExNano(VideoCodedFramesX("hvc1", false, frame), 500000),
			flv.VideoInfo{Codec: flv.VideoCodecHEVC, Enhanced: true, FourCC: flv.FourCCHEVC, FrameType: flv.FrameInter, PacketType: 3, NanoOffset: 500000, Data: frame}},
		{"multitrack OneTrack", VideoMultitrack(true, flv.VideoPacketCodedFramesX, flv.MultitrackOneTrack, Track{ID: 2, FourCC: "av01", Body: frame}),
			flv.VideoInfo{Codec: flv.VideoCodecAV1, Enhanced: true, FourCC: flv.FourCCAV1, Keyframe: true, FrameType: flv.FrameKey, PacketType: 3, Data: frame, Multitrack: true, TrackID: 2, Tracks: 1}},
		{"multitrack ManyTracksManyCodecs", VideoMultitrack(false, flv.VideoPacketCodedFramesX, flv.MultitrackManyTracksManyCodecs,
			Track{FourCC: "vp09", Body: frame}, Track{ID: 1, FourCC: "hvc1", Body: frame}),
			flv.VideoInfo{Codec: flv.VideoCodecVP9, Enhanced: true, FourCC: flv.FourCCVP9, FrameType: flv.FrameInter, PacketType: 3, Data: frame,
				Multitrack: true, MultitrackType: flv.MultitrackManyTracksManyCodecs, Tracks: 2}},
		{"legacy HEVC sequence header", LegacyHEVC(true, 0, 0, hvcC),
			flv.VideoInfo{Codec: flv.VideoCodecHEVC, Keyframe: true, SequenceHeader: true, Config: hvcC, FrameType: flv.FrameKey, CodecID: flv.CodecIDHEVC}},
		{"legacy HEVC frame", LegacyHEVC(false, 1, 80, frame),
			flv.VideoInfo{Codec: flv.VideoCodecHEVC, FrameType: flv.FrameInter, CodecID: flv.CodecIDHEVC, PacketType: 1, CompositionTime: 80, Data: frame}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := flv.ParseVideo(tc.in)
			require.NoError(t, err)
			if len(got.Data) == 0 {
				got.Data = nil
			}
			require.Equal(t, tc.want, got)
		})
	}
	require.Panics(t, func() { VideoCodedFrames("av01", true, 1, frame) }, "AV1 has no composition time")
}

func TestAudioPackets(t *testing.T) {
	head := append([]byte("OpusHead"), 1, 2, 0x38, 1, 0x80, 0xbb, 0, 0, 0, 0, 0)
	a, err := flv.ParseAudio(AudioSequenceStart("Opus", head))
	require.NoError(t, err)
	require.Equal(t, flv.AudioInfo{Format: flv.SoundFormatExHeader, FourCC: flv.FourCCOpus, SequenceHeader: true, Config: head}, a)
	a, err = flv.ParseAudio(WithModExNano(AudioCodedFrames("Opus", []byte{0xfc, 1}), 1))
	require.NoError(t, err)
	require.Equal(t, flv.AudioInfo{Format: flv.SoundFormatExHeader, FourCC: flv.FourCCOpus, PacketType: 1, NanoOffset: 1, Data: []byte{0xfc, 1}}, a)
	tracks, err := flv.ParseAudioTracks(nil, AudioMultitrack(flv.AudioPacketCodedFrames, flv.MultitrackManyTracks,
		Track{ID: 0, FourCC: "Opus", Body: []byte{1}}, Track{ID: 1, FourCC: "Opus", Body: []byte{2, 3}}))
	require.NoError(t, err)
	require.Equal(t, []flv.AudioTrack{{FourCC: flv.FourCCOpus, Data: []byte{1}}, {TrackID: 1, FourCC: flv.FourCCOpus, Data: []byte{2, 3}}}, tracks)
}

func TestOnMetaData(t *testing.T) {
	md, err := flv.ParseMetadata(OnMetaData(Props{"width", 320, "videocodecid", FourCCNumber("av01"), "encoder", "rtmptest", "stereo", true}))
	require.NoError(t, err)
	require.Equal(t, flv.Metadata{"width": 320.0, "videocodecid": 1635135537.0, "encoder": "rtmptest", "stereo": true}, md)
}

func TestHEVCDecoderConfigurationRecordMatchesX265(t *testing.T) {
	for _, name := range []string{"hvcc_320x240.bin", "hvcc_322x242_main10.bin"} {
		x265 := flvFixture(t, name)
		c, err := flv.ParseHEVCDecoderConfig(x265)
		require.NoError(t, err)
		rec, err := HEVCDecoderConfigurationRecord([][]byte{c.VPS}, [][]byte{c.SPS}, [][]byte{c.PPS}, nil)
		require.NoError(t, err)
		// The fixed part is x265's (via ffmpeg), but for numOfArrays: its
		// record has a 4th array, the SEI.
		require.Equal(t, x265[:22], rec[:22], name)
		got, err := flv.ParseHEVCDecoderConfig(rec)
		require.NoError(t, err)
		require.Equal(t, [2]int{c.Width, c.Height}, [2]int{got.Width, got.Height})
		require.Equal(t, [3][]byte{c.VPS, c.SPS, c.PPS}, [3][]byte{got.VPS, got.SPS, got.PPS})
	}
	_, err := HEVCDecoderConfigurationRecord(nil, nil, nil, nil)
	require.ErrorIs(t, err, ErrBadStream)
}

func TestAV1CodecConfigurationRecordMatchesLibaom(t *testing.T) {
	for _, name := range []string{"av1c_320x240.bin", "av1c_1280x720_444_10bit.bin"} {
		aom := flvFixture(t, name)
		c, err := flv.ParseAV1CodecConfig(aom)
		require.NoError(t, err)
		require.Equal(t, aom, AV1CodecConfigurationRecord(c.SequenceHeader, c.ConfigOBUs), name)
	}
}

func TestVPCodecConfigurationRecordMatchesFFmpeg(t *testing.T) {
	h, err := flv.ParseVP9FrameHeader(flvFixture(t, "vp9_keyhdr_642x362_p3.bin"))
	require.NoError(t, err)
	rec := VPCodecConfigurationRecord(h)
	ff := flvFixture(t, "vpcc_box_642x362_p3.bin") // ffmpeg's, with the level it computed
	ff[5] = 0
	require.Equal(t, ff, rec)
	c, err := flv.ParseVPCodecConfig(rec)
	require.NoError(t, err)
	require.Equal(t, [3]int{3, 10, 3}, [3]int{int(c.Profile), c.BitDepth, int(c.ChromaSubsampling)})
}

func TestSplitAnnexB(t *testing.T) {
	es := []byte{0, 0, 0, 1, 0x40, 1, 0, 0, 1, 0x42, 1, 0, 0, 0, 0, 1, 0x26, 1, 0xaa, 0, 0, 3, 1}
	require.Equal(t, [][]byte{{0x40, 1}, {0x42, 1}, {0x26, 1, 0xaa, 0, 0, 3, 1}}, SplitAnnexB(es))
	require.Empty(t, SplitAnnexB([]byte{1, 2, 3}))
}

func TestOpusPacketSamples(t *testing.T) {
	for _, tc := range []struct {
		packet []byte
		want   int
	}{
		{[]byte{0xfc, 1}, 960},        // config 31, CELT 20 ms, one frame
		{[]byte{0x78, 1}, 960},        // config 15, hybrid 20 ms
		{[]byte{0x70, 1}, 480},        // config 14, hybrid 10 ms
		{[]byte{0x18, 1}, 2880},       // config 3, SILK 60 ms
		{[]byte{0xe0, 1}, 120},        // config 28, CELT 2.5 ms
		{[]byte{0x09, 1}, 2 * 960},    // config 1, SILK 20 ms, two frames
		{[]byte{0x0b, 0x83}, 3 * 960}, // code 3: the count in the next byte
	} {
		require.Equal(t, tc.want, OpusPacketSamples(tc.packet), "% x", tc.packet)
	}
	require.Zero(t, OpusPacketSamples(nil))
	require.Zero(t, OpusPacketSamples([]byte{0x03}))
}

func TestOggRoundTrip(t *testing.T) {
	head := append([]byte("OpusHead"), 1, 2, 0x38, 1, 0x80, 0xbb, 0, 0, 0, 0, 0)
	big := append([]byte{0xfc}, bytes.Repeat([]byte{0xab}, 600)...) // laced over three segments
	ogg := WriteOggOpus(head, [][]byte{{0xfc, 1}, big, {0xfc, 3}})
	packets, err := OggPackets(ogg)
	require.NoError(t, err)
	require.Len(t, packets, 5)
	require.Equal(t, head, packets[0])
	require.True(t, bytes.HasPrefix(packets[1], []byte("OpusTags")))
	require.Equal(t, big, packets[3])

	a, err := OpusFromOgg(ogg)
	require.NoError(t, err)
	require.Equal(t, []uint32{0, 20, 40}, []uint32{a.Frames[0].Timestamp, a.Frames[1].Timestamp, a.Frames[2].Timestamp})
	_, err = OggPackets([]byte("OggT"))
	require.ErrorIs(t, err, ErrBadStream)
}

// TestPackUnpackDecodes encodes a short stream per codec with this
// machine's ffmpeg, packs it, unpacks the messages again and lets ffmpeg
// decode the result: every frame, no error. A codec whose encoder Debian's
// ffmpeg lacks is skipped, saying so.
func TestPackUnpackDecodes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs ffmpeg")
	}
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not found")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, codec := range []string{"hevc", "av1", "vp9", "opus"} {
		t.Run(codec, func(t *testing.T) {
			if EncoderFor(codec) == "" {
				t.Skipf("this ffmpeg has no %s encoder", codec)
			}
			path, err := Encode(ctx, dir, Encoding{Codec: codec, Width: 160, Height: 120, FPS: 25, GOP: 10, Seconds: 1})
			require.NoError(t, err)
			es, err := os.ReadFile(path)
			require.NoError(t, err)
			var msgs []Message
			switch codec {
			case "hevc":
				v, err := HEVCFromAnnexB(es, 25)
				require.NoError(t, err)
				require.Equal(t, [2]int{160, 120}, [2]int{v.Width, v.Height})
				checkGOP(t, v, 10)
				msgs = v.Messages()
			case "av1":
				v, err := AV1FromIVF(es)
				require.NoError(t, err)
				checkGOP(t, v, 10)
				msgs = v.Messages()
			case "vp9":
				v, err := VP9FromIVF(es)
				require.NoError(t, err)
				checkGOP(t, v, 10)
				msgs = v.Messages()
			case "opus":
				a, err := OpusFromOgg(es)
				require.NoError(t, err)
				require.GreaterOrEqual(t, len(a.Frames), 50, "20 ms packets")
				for i, f := range a.Frames {
					require.Equal(t, uint32(i*20), f.Timestamp)
				}
				msgs = a.Messages()
			}
			var tags []flv.Tag
			for _, m := range msgs {
				tags = append(tags, flv.Tag{Type: m.Type, Timestamp: m.Timestamp, Data: m.Payload})
			}
			var u *Unpacked
			if codec == "opus" {
				u, err = UnpackOpus(tags)
			} else {
				u, err = UnpackVideo(tags)
			}
			require.NoError(t, err)
			require.Equal(t, len(msgs)-1, u.Frames)
			out, err := Decode(ctx, dir, codec, u)
			require.NoError(t, err)
			require.Empty(t, out)
			if codec != "opus" {
				n, err := DecodedFrames(ctx, filepath.Join(dir, codec+"."+u.Format), u.Format)
				require.NoError(t, err)
				require.Equal(t, u.Frames, n, "ffmpeg decodes every frame")
			}
		})
	}
}

// checkGOP checks 25 frames with a key frame every gop frames, and
// increasing timestamps 40 ms apart.
func checkGOP(t *testing.T, v *VideoStream, gop int) {
	t.Helper()
	require.Len(t, v.Frames, 25)
	for i, f := range v.Frames {
		assert.Equal(t, i%gop == 0, f.Key, "frame %d", i)
		assert.Equal(t, uint32(i*40), f.Timestamp, "frame %d", i)
	}
}
