package flv

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// normVideo clears empty slices so VideoInfo values compare with require.Equal.
func normVideo(v VideoInfo) VideoInfo {
	if len(v.Config) == 0 {
		v.Config = nil
	}
	if len(v.Data) == 0 {
		v.Data = nil
	}
	return v
}

func TestParseVideoLegacy(t *testing.T) {
	seqHdr := fixture(t, "avc_seqhdr_1280x720_high.bin")
	nalus := []byte{0, 0, 0, 2, 0x65, 0x88}
	tests := []struct {
		name    string
		in      []byte
		want    VideoInfo
		wantErr error
	}{
		{
			name: "AVC sequence header",
			in:   seqHdr,
			want: VideoInfo{Codec: VideoCodecAVC, Keyframe: true, SequenceHeader: true, Config: seqHdr[5:], FrameType: FrameKey, CodecID: 7},
		},
		{
			name: "AVC key frame",
			in:   cat([]byte{0x17, 1, 0, 0, 0x21}, nalus),
			want: VideoInfo{Codec: VideoCodecAVC, Keyframe: true, FrameType: FrameKey, CodecID: 7, PacketType: 1, CompositionTime: 33, Data: nalus},
		},
		{
			name: "AVC inter frame with negative composition time",
			in:   cat([]byte{0x27, 1, 0xff, 0xff, 0xfe}, nalus),
			want: VideoInfo{Codec: VideoCodecAVC, FrameType: FrameInter, CodecID: 7, PacketType: 1, CompositionTime: -2, Data: nalus},
		},
		{
			name: "AVC disposable inter frame",
			in:   cat([]byte{0x37, 1, 0, 0, 0}, nalus),
			want: VideoInfo{Codec: VideoCodecAVC, FrameType: FrameDisposable, CodecID: 7, PacketType: 1, Data: nalus},
		},
		{
			name: "AVC end of sequence",
			in:   []byte{0x17, 2, 0, 0, 0},
			want: VideoInfo{Codec: VideoCodecAVC, Keyframe: true, EndOfSequence: true, FrameType: FrameKey, CodecID: 7, PacketType: 2},
		},
		{
			name: "AVC 1-byte body",
			in:   []byte{0x17},
			want: VideoInfo{Codec: VideoCodecAVC, Keyframe: true, FrameType: FrameKey, CodecID: 7},
		},
		{
			name: "AVC 2-byte body",
			in:   []byte{0x27, 1},
			want: VideoInfo{Codec: VideoCodecAVC, FrameType: FrameInter, CodecID: 7, PacketType: 1},
		},
		{
			name: "AVC 3-byte sequence header",
			in:   []byte{0x17, 0, 0},
			want: VideoInfo{Codec: VideoCodecAVC, Keyframe: true, SequenceHeader: true, FrameType: FrameKey, CodecID: 7},
		},
		{
			name: "AVC 4-byte body",
			in:   []byte{0x17, 1, 0, 0},
			want: VideoInfo{Codec: VideoCodecAVC, Keyframe: true, FrameType: FrameKey, CodecID: 7, PacketType: 1},
		},
		{
			name: "AVC 5-byte body",
			in:   []byte{0x17, 1, 0, 0, 1},
			want: VideoInfo{Codec: VideoCodecAVC, Keyframe: true, FrameType: FrameKey, CodecID: 7, PacketType: 1, CompositionTime: 1},
		},
		{
			name: "AVC command frame is not a key frame",
			in:   []byte{0x57, 0},
			want: VideoInfo{Codec: VideoCodecAVC, FrameType: FrameCommand, CodecID: 7, Data: []byte{0}},
		},
		{
			name: "AVC 1-byte command frame",
			in:   []byte{0x57},
			want: VideoInfo{Codec: VideoCodecAVC, FrameType: FrameCommand, CodecID: 7},
		},
		{
			name: "AVC generated key frame",
			in:   cat([]byte{0x47, 1, 0, 0, 0}, nalus),
			want: VideoInfo{Codec: VideoCodecAVC, FrameType: FrameGeneratedKey, CodecID: 7, PacketType: 1, Data: nalus},
		},
		{
			name: "legacy HEVC sequence header",
			in:   cat([]byte{0x1c, 0, 0, 0, 0}, "hvcC"),
			want: VideoInfo{Codec: VideoCodecHEVC, Keyframe: true, SequenceHeader: true, FrameType: FrameKey, CodecID: 12, Config: []byte("hvcC")},
		},
		{
			name: "legacy HEVC inter frame",
			in:   cat([]byte{0x2c, 1, 0, 0, 0x42}, nalus),
			want: VideoInfo{Codec: VideoCodecHEVC, FrameType: FrameInter, CodecID: 12, PacketType: 1, CompositionTime: 66, Data: nalus},
		},
		{
			name: "Sorenson H.263 key frame",
			in:   []byte{0x12, 0xaa, 0xbb},
			want: VideoInfo{Codec: VideoCodecOther, Keyframe: true, FrameType: FrameKey, CodecID: 2, Data: []byte{0xaa, 0xbb}},
		},
		{
			name: "VP6 inter frame",
			in:   []byte{0x24, 0x00},
			want: VideoInfo{Codec: VideoCodecOther, FrameType: FrameInter, CodecID: 4, Data: []byte{0}},
		},
		{
			name:    "empty",
			in:      nil,
			wantErr: ErrShortPayload,
		},
		{
			name:    "reserved frame type 0",
			in:      []byte{0x07, 1, 0, 0, 0},
			want:    VideoInfo{Codec: VideoCodecAVC, CodecID: 7},
			wantErr: ErrUnsupported,
		},
		{
			name:    "reserved frame type 6",
			in:      []byte{0x67, 1, 0, 0, 0},
			want:    VideoInfo{Codec: VideoCodecAVC, FrameType: 6, CodecID: 7},
			wantErr: ErrUnsupported,
		},
		{
			name:    "reserved AVC packet type",
			in:      []byte{0x17, 3, 0, 0, 0},
			want:    VideoInfo{Codec: VideoCodecAVC, Keyframe: true, FrameType: FrameKey, CodecID: 7, PacketType: 3},
			wantErr: ErrUnsupported,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseVideo(tc.in)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, normVideo(tc.want), normVideo(got))
			assert.True(t, within(tc.in, got.Config))
			assert.True(t, within(tc.in, got.Data))
		})
	}
}

func TestParseVideoEnhanced(t *testing.T) {
	hvcC := fixture(t, "hvcc_320x240.bin")
	av1C := fixture(t, "av1c_320x240.bin")
	avcC := fixture(t, "avc_seqhdr_1280x720_high.bin")[5:]
	frame := []byte{0, 0, 0, 3, 0x26, 0x01, 0xaf}
	amf := []byte{0x02, 0x00, 0x09, 'c', 'o', 'l', 'o', 'r', 'I', 'n', 'f', 'o', 0x03, 0, 0, 9}
	hvc1 := FourCCHEVC
	modExNano := []byte{0x97, 2, 0x0f, 0x42, 0x3f} // ModEx, 3 bytes: 999999 ns
	big := bytes.Repeat([]byte{0xee}, 257)

	tests := []struct {
		name    string
		in      []byte
		want    VideoInfo
		wantErr error
	}{
		{
			name: "hvc1 SequenceStart",
			in:   cat(0x90, "hvc1", hvcC),
			want: VideoInfo{Codec: VideoCodecHEVC, Enhanced: true, FourCC: hvc1, Keyframe: true, SequenceHeader: true, Config: hvcC, FrameType: FrameKey},
		},
		{
			name: "hvc1 CodedFrames key frame",
			in:   cat(0x91, "hvc1", []byte{0, 0, 0x10}, frame),
			want: VideoInfo{Codec: VideoCodecHEVC, Enhanced: true, FourCC: hvc1, Keyframe: true, FrameType: FrameKey, PacketType: 1, CompositionTime: 16, Data: frame},
		},
		{
			name: "hvc1 CodedFramesX key frame",
			in:   cat(0x93, "hvc1", frame),
			want: VideoInfo{Codec: VideoCodecHEVC, Enhanced: true, FourCC: hvc1, Keyframe: true, FrameType: FrameKey, PacketType: 3, Data: frame},
		},
		{
			name: "hvc1 CodedFrames inter frame",
			in:   cat(0xa1, "hvc1", []byte{0xff, 0xff, 0xff}, frame),
			want: VideoInfo{Codec: VideoCodecHEVC, Enhanced: true, FourCC: hvc1, FrameType: FrameInter, PacketType: 1, CompositionTime: -1, Data: frame},
		},
		{
			name: "hvc1 SequenceEnd",
			in:   cat(0x92, "hvc1"),
			want: VideoInfo{Codec: VideoCodecHEVC, Enhanced: true, FourCC: hvc1, Keyframe: true, EndOfSequence: true, FrameType: FrameKey, PacketType: 2},
		},
		{
			name: "av01 SequenceStart",
			in:   cat(0x90, "av01", av1C),
			want: VideoInfo{Codec: VideoCodecAV1, Enhanced: true, FourCC: FourCCAV1, Keyframe: true, SequenceHeader: true, Config: av1C, FrameType: FrameKey},
		},
		{
			name: "av01 CodedFrames key frame has no composition time",
			in:   cat(0x91, "av01", frame),
			want: VideoInfo{Codec: VideoCodecAV1, Enhanced: true, FourCC: FourCCAV1, Keyframe: true, FrameType: FrameKey, PacketType: 1, Data: frame},
		},
		{
			name: "av01 CodedFramesX key frame",
			in:   cat(0x93, "av01", frame),
			want: VideoInfo{Codec: VideoCodecAV1, Enhanced: true, FourCC: FourCCAV1, Keyframe: true, FrameType: FrameKey, PacketType: 3, Data: frame},
		},
		{
			name: "av01 CodedFrames inter frame",
			in:   cat(0xa1, "av01", frame),
			want: VideoInfo{Codec: VideoCodecAV1, Enhanced: true, FourCC: FourCCAV1, FrameType: FrameInter, PacketType: 1, Data: frame},
		},
		{
			name: "av01 MPEG2TSSequenceStart",
			in:   cat(0x95, "av01", []byte{0x80, 4, 'A', 'V', '0', '1'}),
			want: VideoInfo{Codec: VideoCodecAV1, Enhanced: true, FourCC: FourCCAV1, Keyframe: true, SequenceHeader: true, FrameType: FrameKey, PacketType: 5, Config: []byte{0x80, 4, 'A', 'V', '0', '1'}},
		},
		{
			name: "vp09 SequenceStart",
			in:   cat(0x90, "vp09", []byte{1, 0, 0, 0}),
			want: VideoInfo{Codec: VideoCodecVP9, Enhanced: true, FourCC: FourCCVP9, Keyframe: true, SequenceHeader: true, FrameType: FrameKey, Config: []byte{1, 0, 0, 0}},
		},
		{
			name: "vp08 CodedFrames",
			in:   cat(0xa1, "vp08", frame),
			want: VideoInfo{Codec: VideoCodecVP8, Enhanced: true, FourCC: FourCCVP8, FrameType: FrameInter, PacketType: 1, Data: frame},
		},
		{
			name: "avc1 SequenceStart",
			in:   cat(0x90, "avc1", avcC),
			want: VideoInfo{Codec: VideoCodecAVC, Enhanced: true, FourCC: FourCCAVC, Keyframe: true, SequenceHeader: true, FrameType: FrameKey, Config: avcC},
		},
		{
			name: "avc1 CodedFrames has a composition time",
			in:   cat(0xa1, "avc1", []byte{0, 0, 0x50}, frame),
			want: VideoInfo{Codec: VideoCodecAVC, Enhanced: true, FourCC: FourCCAVC, FrameType: FrameInter, PacketType: 1, CompositionTime: 80, Data: frame},
		},
		{
			name: "Metadata ignores the frame type",
			in:   cat(0xf4, "hvc1", amf),
			want: VideoInfo{Codec: VideoCodecHEVC, Enhanced: true, FourCC: hvc1, FrameType: 7, PacketType: 4, Data: amf},
		},
		{
			name: "Metadata with key frame type is not a key frame",
			in:   cat(0x94, "hvc1", amf),
			want: VideoInfo{Codec: VideoCodecHEVC, Enhanced: true, FourCC: hvc1, FrameType: FrameKey, PacketType: 4, Data: amf},
		},
		{
			name: "command frame has no FourCC",
			in:   []byte{0xd1, 0x01},
			want: VideoInfo{Enhanced: true, FrameType: FrameCommand, PacketType: 1, Data: []byte{1}},
		},
		{
			name: "ModEx TimestampOffsetNano then CodedFrames",
			in:   cat(modExNano, 0x01, "hvc1", []byte{0, 0, 0}, frame),
			want: VideoInfo{Codec: VideoCodecHEVC, Enhanced: true, FourCC: hvc1, Keyframe: true, FrameType: FrameKey, PacketType: 1, NanoOffset: 999999, Data: frame},
		},
		{
			name: "ModEx with 16-bit size and unknown type is skipped",
			in:   cat(0xa7, []byte{0xff, 0x01, 0x00}, big, 0x53, "av01", frame),
			want: VideoInfo{Codec: VideoCodecAV1, Enhanced: true, FourCC: FourCCAV1, FrameType: FrameInter, PacketType: 3, Data: frame},
		},
		{
			name: "chained ModEx then SequenceStart",
			in:   cat(0x97, []byte{0, 0xaa}, 0x57, modExNano[1:], 0x00, "av01", av1C),
			want: VideoInfo{Codec: VideoCodecAV1, Enhanced: true, FourCC: FourCCAV1, Keyframe: true, SequenceHeader: true, FrameType: FrameKey, NanoOffset: 999999, Config: av1C},
		},
		{
			name: "ModEx command frame",
			in:   cat(0xd7, modExNano[1:], 0x01, 0x00),
			want: VideoInfo{Enhanced: true, FrameType: FrameCommand, PacketType: 1, NanoOffset: 999999, Data: []byte{0}},
		},
		{
			name:    "ModEx without size",
			in:      []byte{0x97},
			want:    VideoInfo{Enhanced: true, FrameType: FrameKey, PacketType: 7},
			wantErr: ErrShortPayload,
		},
		{
			name:    "ModEx data cut short",
			in:      []byte{0x97, 2, 0xaa, 0xbb},
			want:    VideoInfo{Enhanced: true, FrameType: FrameKey, PacketType: 7},
			wantErr: ErrShortPayload,
		},
		{
			name:    "ModEx without type byte",
			in:      []byte{0x97, 0, 0xaa},
			want:    VideoInfo{Enhanced: true, FrameType: FrameKey, PacketType: 7},
			wantErr: ErrShortPayload,
		},
		{
			name:    "ModEx 16-bit size cut short",
			in:      []byte{0x97, 0xff, 0x00},
			want:    VideoInfo{Enhanced: true, FrameType: FrameKey, PacketType: 7},
			wantErr: ErrShortPayload,
		},
		{
			name:    "ModEx TimestampOffsetNano with 2 bytes",
			in:      cat([]byte{0x97, 1, 0xaa, 0xbb, 0x01}, "hvc1", frame),
			want:    VideoInfo{Enhanced: true, FrameType: FrameKey, PacketType: 1},
			wantErr: ErrMalformed,
		},
		{
			name: "Multitrack OneTrack CodedFrames",
			in:   cat(0x96, 0x01, "hvc1", 3, 0, 0, 5, frame),
			want: VideoInfo{Codec: VideoCodecHEVC, Enhanced: true, FourCC: hvc1, Keyframe: true, FrameType: FrameKey, PacketType: 1,
				CompositionTime: 5, Data: frame, Multitrack: true, TrackID: 3, Tracks: 1},
		},
		{
			name: "Multitrack ManyTracks SequenceStart",
			in:   cat(0x96, 0x10, "av01", 0, 0, 0, byte(len(av1C)), av1C, 1, 0, 0, 2, 0x81, 0),
			want: VideoInfo{Codec: VideoCodecAV1, Enhanced: true, FourCC: FourCCAV1, Keyframe: true, SequenceHeader: true, FrameType: FrameKey,
				Config: av1C, Multitrack: true, MultitrackType: MultitrackManyTracks, Tracks: 2},
		},
		{
			name: "Multitrack ManyTracksManyCodecs after ModEx",
			in:   cat(0xa7, modExNano[1:], 0x06, 0x23, "vp09", 1, 0, 0, 3, 0xaa, 0xbb, 0xcc, "hvc1", 2, 0, 0, 1, 0xdd),
			want: VideoInfo{Codec: VideoCodecVP9, Enhanced: true, FourCC: FourCCVP9, FrameType: FrameInter, PacketType: 3, NanoOffset: 999999,
				Data: []byte{0xaa, 0xbb, 0xcc}, Multitrack: true, MultitrackType: MultitrackManyTracksManyCodecs, TrackID: 1, Tracks: 2},
		},
		{
			name:    "Multitrack track runs past the end",
			in:      cat(0x96, 0x11, "hvc1", 0, 0, 0, 9, 0, 0, 0, 0xaa),
			want:    VideoInfo{Codec: VideoCodecHEVC, Enhanced: true, FourCC: hvc1, FrameType: FrameKey, PacketType: 1, Multitrack: true, MultitrackType: MultitrackManyTracks},
			wantErr: ErrShortPayload,
		},
		{
			name:    "Multitrack second track runs past the end",
			in:      cat(0x96, 0x13, "hvc1", 0, 0, 0, 1, 0xaa, 1, 0, 0, 2, 0xbb),
			want:    VideoInfo{Codec: VideoCodecHEVC, Enhanced: true, FourCC: hvc1, Keyframe: true, FrameType: FrameKey, PacketType: 3, Data: []byte{0xaa}, Multitrack: true, MultitrackType: MultitrackManyTracks, Tracks: 1},
			wantErr: ErrShortPayload,
		},
		{
			name:    "Multitrack inside multitrack",
			in:      cat(0x96, 0x06, "hvc1", 0, frame),
			want:    VideoInfo{Enhanced: true, FrameType: FrameKey, PacketType: 6, Multitrack: true},
			wantErr: ErrMalformed,
		},
		{
			name:    "Multitrack reserved type",
			in:      cat(0x96, 0x31, "hvc1", 0, frame),
			want:    VideoInfo{Enhanced: true, FrameType: FrameKey, PacketType: 1, Multitrack: true, MultitrackType: 3},
			wantErr: ErrUnsupported,
		},
		{
			name:    "Multitrack without type",
			in:      []byte{0x96},
			want:    VideoInfo{Enhanced: true, FrameType: FrameKey, PacketType: 6, Multitrack: true},
			wantErr: ErrShortPayload,
		},
		{
			name:    "unknown FourCC",
			in:      cat(0x93, "vvc1", frame),
			want:    VideoInfo{Enhanced: true, FourCC: FourCC("vvc1"), Keyframe: true, FrameType: FrameKey, PacketType: 3, Data: frame},
			wantErr: ErrUnsupported,
		},
		{
			name:    "reserved packet type 8",
			in:      cat(0x98, "hvc1", frame),
			want:    VideoInfo{Codec: VideoCodecHEVC, Enhanced: true, FourCC: hvc1, Keyframe: true, FrameType: FrameKey, PacketType: 8},
			wantErr: ErrUnsupported,
		},
		{
			name:    "missing FourCC",
			in:      cat(0x91, "hv"),
			want:    VideoInfo{Enhanced: true, FrameType: FrameKey, PacketType: 1},
			wantErr: ErrShortPayload,
		},
		{
			name:    "avc1 CodedFrames without composition time",
			in:      cat(0x91, "avc1", 0),
			want:    VideoInfo{Codec: VideoCodecAVC, Enhanced: true, FourCC: FourCCAVC, Keyframe: true, FrameType: FrameKey, PacketType: 1},
			wantErr: ErrShortPayload,
		},
		{
			name:    "reserved frame type 0",
			in:      cat(0x83, "hvc1", frame),
			want:    VideoInfo{Enhanced: true, PacketType: 3},
			wantErr: ErrUnsupported,
		},
		{
			name:    "reserved frame type 6",
			in:      cat(0xe3, "hvc1", frame),
			want:    VideoInfo{Enhanced: true, FrameType: 6, PacketType: 3},
			wantErr: ErrUnsupported,
		},
		{
			name:    "command frame without command",
			in:      []byte{0xd1},
			want:    VideoInfo{Enhanced: true, FrameType: FrameCommand, PacketType: 1},
			wantErr: ErrShortPayload,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseVideo(tc.in)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, normVideo(tc.want), normVideo(got))
			assert.True(t, within(tc.in, got.Config))
			assert.True(t, within(tc.in, got.Data))
		})
	}
}

func TestParseVideoEnhancedAVCConfig(t *testing.T) {
	avcC := fixture(t, "avc_seqhdr_1920x1080_high.bin")[5:]
	v, err := ParseVideo(cat(0x90, "avc1", avcC))
	require.NoError(t, err)
	c, err := ParseAVCDecoderConfig(v.Config)
	require.NoError(t, err)
	assert.Equal(t, 1920, c.Width)
	assert.Equal(t, 1080, c.Height)
}

func TestParseVideoTruncations(t *testing.T) {
	// Every prefix of a valid body parses or fails cleanly, and the slices
	// returned stay within the input.
	bodies := [][]byte{
		fixture(t, "avc_seqhdr_320x240_baseline.bin"),
		cat(0x97, []byte{0xff, 0x01, 0x00}, bytes.Repeat([]byte{1}, 257), 0x01, "hvc1", 0, 0, 1, 0xaa),
		cat(0x96, 0x01, "hvc1", 0, 0, 0, 5),
		cat(0xd7, 2, 1, 2, 3, 0x01, 0x00),
	}
	for _, b := range bodies {
		for n := 0; n <= len(b); n++ {
			in := b[:n]
			v, err := ParseVideo(in)
			if n == 0 {
				require.ErrorIs(t, err, ErrShortPayload)
			}
			assert.True(t, within(in, v.Config))
			assert.True(t, within(in, v.Data))
		}
	}
}

func TestParseVideoNoAlloc(t *testing.T) {
	inputs := [][]byte{
		fixture(t, "avc_seqhdr_1280x720_high.bin"),
		{0x27, 1, 0, 0, 0, 0, 0, 0, 1, 0x41},
		cat(0x97, 2, 0, 0, 1, 0x03, "hvc1", 0xaa),
	}
	for _, in := range inputs {
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := ParseVideo(in); err != nil {
				t.Fatal(err)
			}
		})
		assert.Zero(t, allocs)
	}
}

func TestVideoCodecString(t *testing.T) {
	for c, want := range map[VideoCodec]string{
		VideoCodecOther: "Other", VideoCodecAVC: "AVC", VideoCodecHEVC: "HEVC",
		VideoCodecAV1: "AV1", VideoCodecVP9: "VP9", VideoCodecVP8: "VP8", 42: "VideoCodec(42)",
	} {
		assert.Equal(t, want, c.String())
	}
}
