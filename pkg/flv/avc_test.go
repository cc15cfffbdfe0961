package flv

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// avcFixtures are AVC sequence header tag bodies (0x17 0x00 0 0 0 +
// AVCDecoderConfigurationRecord) extracted from FLV files written by
// ffmpeg/libx264, with the values ffprobe reports for them.
var avcFixtures = []struct {
	file                    string
	profile, level          uint8
	width, height           int
	codedWidth, codedHeight int
	chromaFormat            uint32
	scalingMatrix           bool
	frameMbsOnly            bool
}{
	{"avc_seqhdr_1280x720_high.bin", 100, 31, 1280, 720, 1280, 720, 1, false, true},
	{"avc_seqhdr_320x240_baseline.bin", 66, 13, 320, 240, 320, 240, 1, false, true},
	{"avc_seqhdr_1920x1080_high.bin", 100, 40, 1920, 1080, 1920, 1088, 1, false, true},
	{"avc_seqhdr_640x360_444.bin", 244, 30, 640, 360, 640, 368, 3, false, true},
	{"avc_seqhdr_1920x1080_interlaced.bin", 100, 40, 1920, 1080, 1920, 1088, 1, false, false},
}

func TestParseAVCDecoderConfigFixtures(t *testing.T) {
	for _, tc := range avcFixtures {
		t.Run(tc.file, func(t *testing.T) {
			body := fixture(t, tc.file)
			v, err := ParseVideo(body)
			require.NoError(t, err)
			require.True(t, v.SequenceHeader)
			require.True(t, v.Keyframe)
			require.Equal(t, VideoCodecAVC, v.Codec)

			c, err := ParseAVCDecoderConfig(v.Config)
			require.NoError(t, err)
			assert.Equal(t, tc.profile, c.Profile)
			assert.Equal(t, tc.level, c.Level)
			assert.Equal(t, tc.width, c.Width)
			assert.Equal(t, tc.height, c.Height)
			assert.Equal(t, 4, c.NALULengthSize)
			assert.Equal(t, byte(0x67), c.SPS[0])
			assert.Equal(t, byte(0x68), c.PPS[0])
			assert.True(t, within(v.Config, c.SPS))
			assert.True(t, within(v.Config, c.PPS))

			// The fixtures were chosen to exercise specific SPS branches.
			s, err := parseSPS(c.SPS)
			require.NoError(t, err)
			assert.Equal(t, tc.codedWidth, s.codedWidth)
			assert.Equal(t, tc.codedHeight, s.codedHeight)
			assert.Equal(t, tc.chromaFormat, s.chromaFormat)
			assert.Equal(t, tc.scalingMatrix, s.scalingMatrix)
			assert.Equal(t, tc.frameMbsOnly, s.frameMbsOnly)
		})
	}
}

func TestParseAVCDecoderConfig1080Cropping(t *testing.T) {
	v, err := ParseVideo(fixture(t, "avc_seqhdr_1920x1080_high.bin"))
	require.NoError(t, err)
	c, err := ParseAVCDecoderConfig(v.Config)
	require.NoError(t, err)
	s, err := parseSPS(c.SPS)
	require.NoError(t, err)
	// 68 macroblock rows = 1088 coded lines; 4:2:0 progressive crops in
	// units of 2 lines, so frame_crop_bottom_offset is 4.
	assert.Equal(t, 1088, s.codedHeight)
	assert.Equal(t, uint32(4), s.cropBottom)
	assert.Equal(t, uint32(0), s.cropTop+s.cropLeft+s.cropRight)
	assert.Equal(t, 1080, c.Height)
}

func TestParseAVCDecoderConfigTruncated(t *testing.T) {
	for _, tc := range avcFixtures {
		v, err := ParseVideo(fixture(t, tc.file))
		require.NoError(t, err)
		rec := v.Config
		c, err := ParseAVCDecoderConfig(rec)
		require.NoError(t, err)
		// The record is complete once the first (only) PPS is in.
		end := 6 + 2 + len(c.SPS) + 1 + 2 + len(c.PPS)
		for n := range end {
			_, err := ParseAVCDecoderConfig(rec[:n])
			require.ErrorIs(t, err, ErrShortPayload, "%s truncated to %d bytes", tc.file, n)
		}
		// Truncated SPS NAL units, with the record lengths fixed up: either
		// an error, or (when only VUI data was cut off) the same size.
		for n := 1; n < len(c.SPS); n++ {
			got, err := ParseAVCDecoderConfig(avcRecord(c.SPS[:n], c.PPS))
			if err != nil {
				require.ErrorIs(t, err, ErrShortPayload, "%s SPS truncated to %d bytes", tc.file, n)
				continue
			}
			assert.Equal(t, [2]int{tc.width, tc.height}, [2]int{got.Width, got.Height}, "%s SPS truncated to %d bytes", tc.file, n)
		}
	}
}

// spsParams describes a synthetic SPS for buildSPS.
type spsParams struct {
	profile        uint8
	chromaFormat   uint64 // only written for high profiles
	separatePlane  bool
	scalingLists   []bool // seq_scaling_list_present_flag per list; nil = no matrix
	pocType        uint64
	pocCycle       []int64 // offset_for_ref_frame values for pic_order_cnt_type 1
	widthMbs       uint64
	heightMapUnits uint64
	frameMbsOnly   bool
	crop           *[4]uint64 // left, right, top, bottom
}

func isHighProfile(p uint8) bool {
	switch p {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		return true
	}
	return false
}

// buildSPS writes an SPS NAL unit (with emulation prevention) and reports
// how many emulation prevention bytes it needed.
func buildSPS(p spsParams) ([]byte, int) {
	var w bitWriter
	w.u(8, uint64(p.profile))
	w.u(8, 0)  // constraint flags
	w.u(8, 40) // level_idc
	w.ue(0)    // seq_parameter_set_id
	if isHighProfile(p.profile) {
		w.ue(p.chromaFormat)
		if p.chromaFormat == 3 {
			w.flag(p.separatePlane)
		}
		w.ue(0)       // bit_depth_luma_minus8
		w.ue(0)       // bit_depth_chroma_minus8
		w.flag(false) // qpprime_y_zero_transform_bypass_flag
		w.flag(p.scalingLists != nil)
		for i, present := range p.scalingLists {
			w.flag(present)
			if !present {
				continue
			}
			size := 16
			if i >= 6 {
				size = 64
			}
			// Non-trivial deltas: +1 then -1 alternating, never reaching 0.
			for j := range size {
				if j%2 == 0 {
					w.se(1)
				} else {
					w.se(-1)
				}
			}
		}
	}
	w.ue(0) // log2_max_frame_num_minus4
	w.ue(p.pocType)
	switch p.pocType {
	case 0:
		w.ue(2)
	case 1:
		w.flag(false)
		w.se(-3)
		w.se(7)
		w.ue(uint64(len(p.pocCycle)))
		for _, v := range p.pocCycle {
			w.se(v)
		}
	}
	w.ue(4)       // max_num_ref_frames
	w.flag(false) // gaps_in_frame_num_value_allowed_flag
	w.ue(p.widthMbs - 1)
	w.ue(p.heightMapUnits - 1)
	w.flag(p.frameMbsOnly)
	if !p.frameMbsOnly {
		w.flag(true) // mb_adaptive_frame_field_flag
	}
	w.flag(true) // direct_8x8_inference_flag
	w.flag(p.crop != nil)
	if p.crop != nil {
		for _, v := range p.crop {
			w.ue(v)
		}
	}
	w.flag(false) // vui_parameters_present_flag
	esc, inserted := escapeNAL(w.rbsp())
	return append([]byte{0x67}, esc...), inserted
}

func TestParseAVCDecoderConfigSynthetic(t *testing.T) {
	all12 := make([]bool, 12)
	for i := range all12 {
		all12[i] = true
	}
	tests := []struct {
		name          string
		p             spsParams
		width, height int
		wantEscapes   bool
	}{
		{
			name:  "baseline poc type 1 with emulation prevention",
			p:     spsParams{profile: 66, pocType: 1, pocCycle: []int64{1 << 23, -(1 << 23), 0, 1 << 22}, widthMbs: 40, heightMapUnits: 30, frameMbsOnly: true},
			width: 640, height: 480, wantEscapes: true,
		},
		{
			name:  "main poc type 2",
			p:     spsParams{profile: 77, pocType: 2, widthMbs: 20, heightMapUnits: 15, frameMbsOnly: true},
			width: 320, height: 240,
		},
		{
			name:  "high 4:2:0 crop all sides",
			p:     spsParams{profile: 100, chromaFormat: 1, widthMbs: 80, heightMapUnits: 45, frameMbsOnly: true, crop: &[4]uint64{1, 2, 3, 4}},
			width: 1280 - 2*3, height: 720 - 2*7,
		},
		{
			name:  "high 4:2:0 interlaced 1080",
			p:     spsParams{profile: 100, chromaFormat: 1, widthMbs: 120, heightMapUnits: 34, frameMbsOnly: false, crop: &[4]uint64{0, 0, 0, 2}},
			width: 1920, height: 1080,
		},
		{
			name:  "high 4:2:2 1080",
			p:     spsParams{profile: 122, chromaFormat: 2, widthMbs: 120, heightMapUnits: 68, frameMbsOnly: true, crop: &[4]uint64{0, 0, 0, 8}},
			width: 1920, height: 1080,
		},
		{
			name:  "high 4:2:2 interlaced crop",
			p:     spsParams{profile: 122, chromaFormat: 2, widthMbs: 120, heightMapUnits: 34, frameMbsOnly: false, crop: &[4]uint64{1, 1, 0, 4}},
			width: 1920 - 4, height: 1088 - 8,
		},
		{
			name:  "monochrome",
			p:     spsParams{profile: 100, chromaFormat: 0, widthMbs: 40, heightMapUnits: 23, frameMbsOnly: true, crop: &[4]uint64{0, 0, 0, 8}},
			width: 640, height: 360,
		},
		{
			name:  "monochrome interlaced",
			p:     spsParams{profile: 100, chromaFormat: 0, widthMbs: 40, heightMapUnits: 12, frameMbsOnly: false, crop: &[4]uint64{3, 0, 0, 4}},
			width: 640 - 3, height: 384 - 8,
		},
		{
			name:  "4:4:4 separate colour planes",
			p:     spsParams{profile: 244, chromaFormat: 3, separatePlane: true, widthMbs: 40, heightMapUnits: 23, frameMbsOnly: true, crop: &[4]uint64{0, 5, 0, 8}},
			width: 635, height: 360,
		},
		{
			name:  "4:4:4 with 12 scaling lists",
			p:     spsParams{profile: 244, chromaFormat: 3, scalingLists: all12, widthMbs: 40, heightMapUnits: 23, frameMbsOnly: true, crop: &[4]uint64{0, 0, 0, 8}},
			width: 640, height: 360,
		},
		{
			name:  "4:2:0 with some scaling lists",
			p:     spsParams{profile: 100, chromaFormat: 1, scalingLists: []bool{true, false, false, true, false, false, true, true}, widthMbs: 80, heightMapUnits: 45, frameMbsOnly: true},
			width: 1280, height: 720,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sps, escapes := buildSPS(tc.p)
			if tc.wantEscapes {
				require.Positive(t, escapes, "test SPS should need emulation prevention")
			}
			c, err := ParseAVCDecoderConfig(avcRecord(sps, []byte{0x68, 0xce, 0x38, 0x80}))
			require.NoError(t, err)
			assert.Equal(t, tc.p.profile, c.Profile)
			assert.Equal(t, tc.width, c.Width)
			assert.Equal(t, tc.height, c.Height)
		})
	}
}

func TestParseAVCDecoderConfigErrors(t *testing.T) {
	good, _ := buildSPS(spsParams{profile: 66, widthMbs: 20, heightMapUnits: 15, frameMbsOnly: true})
	pps := []byte{0x68, 0xce, 0x38, 0x80}
	tooWide, _ := buildSPS(spsParams{profile: 66, widthMbs: 2000, heightMapUnits: 15, frameMbsOnly: true})
	tooTall, _ := buildSPS(spsParams{profile: 100, chromaFormat: 1, widthMbs: 20, heightMapUnits: 1000, frameMbsOnly: false})
	overCrop, _ := buildSPS(spsParams{profile: 66, widthMbs: 20, heightMapUnits: 15, frameMbsOnly: true, crop: &[4]uint64{100, 60, 0, 0}})
	badChroma, _ := buildSPS(spsParams{profile: 100, chromaFormat: 4, widthMbs: 20, heightMapUnits: 15, frameMbsOnly: true})
	badPOC, _ := buildSPS(spsParams{profile: 66, pocType: 3, widthMbs: 20, heightMapUnits: 15, frameMbsOnly: true})

	var longCode bitWriter // profile/flags/level then 40 zero bits: no valid ue(v)
	longCode.u(24, 66<<16|0<<8|30)
	longCode.u(40, 0)
	longCode.u(8, 0xff)

	tests := []struct {
		name string
		rec  []byte
		want error
	}{
		{"empty", nil, ErrShortPayload},
		{"5 bytes", []byte{1, 66, 0, 30, 0xff}, ErrShortPayload},
		{"version 0", cat([]byte{0}, avcRecord(good, pps)[1:]), ErrUnsupported},
		{"no SPS", []byte{1, 66, 0, 30, 0xff, 0xe0, 0}, ErrMalformed},
		{"SPS length past end", []byte{1, 66, 0, 30, 0xff, 0xe1, 0, 50, 0x67, 66}, ErrShortPayload},
		{"missing PPS count", avcRecord(good, pps)[:8+len(good)], ErrShortPayload},
		{"PPS length past end", cat(avcRecord(good, pps)[:8+len(good)], 1, 0, 9, 0x68), ErrShortPayload},
		{"not an SPS", avcRecord(cat(0x68, good[1:]), pps), ErrMalformed},
		{"tiny SPS", avcRecord([]byte{0x67, 66, 0}, pps), ErrShortPayload},
		{"picture too wide", avcRecord(tooWide, pps), ErrMalformed},
		{"picture too tall", avcRecord(tooTall, pps), ErrMalformed},
		{"cropping exceeds picture", avcRecord(overCrop, pps), ErrMalformed},
		{"chroma_format_idc 4", avcRecord(badChroma, pps), ErrMalformed},
		{"pic_order_cnt_type 3", avcRecord(badPOC, pps), ErrMalformed},
		{"exp-Golomb code too long", avcRecord(cat(0x67, longCode.b), pps), ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseAVCDecoderConfig(tc.rec)
			require.ErrorIs(t, err, tc.want)
		})
	}
}

func TestParseAVCDecoderConfigExtraParameterSets(t *testing.T) {
	sps1, _ := buildSPS(spsParams{profile: 77, pocType: 2, widthMbs: 20, heightMapUnits: 15, frameMbsOnly: true})
	sps2, _ := buildSPS(spsParams{profile: 77, pocType: 2, widthMbs: 40, heightMapUnits: 30, frameMbsOnly: true})
	pps := []byte{0x68, 0xce, 0x38, 0x80}
	rec := []byte{1, 77, 0, 30, 0xfd, 0xe2}
	for _, s := range [][]byte{sps1, sps2} {
		rec = append(rec, byte(len(s)>>8), byte(len(s)))
		rec = append(rec, s...)
	}
	rec = append(rec, 2, 0, byte(len(pps)))
	rec = append(rec, pps...)
	rec = append(rec, 0, byte(len(pps)))
	rec = append(rec, pps...)

	c, err := ParseAVCDecoderConfig(rec)
	require.NoError(t, err)
	assert.Equal(t, 320, c.Width, "size comes from the first SPS")
	assert.Equal(t, 240, c.Height)
	assert.Equal(t, 2, c.NALULengthSize)
	assert.Equal(t, sps1, c.SPS)
	assert.Equal(t, pps, c.PPS)

	// No PPS at all is tolerated.
	c, err = ParseAVCDecoderConfig(cat(avcRecord(sps1, pps)[:8+len(sps1)], 0))
	require.NoError(t, err)
	assert.Nil(t, c.PPS)
}

func TestBitReaderEmulationPrevention(t *testing.T) {
	// 00 00 03 01 reads as 00 00 01; a 03 not after two zeros is data.
	r := newBitReader([]byte{0x00, 0x00, 0x03, 0x01, 0x03, 0x00, 0x00, 0x03}, true)
	assert.Equal(t, uint32(0x000001), r.u(24))
	assert.Equal(t, uint32(0x03), r.u(8))
	assert.Equal(t, uint32(0x0000), r.u(16))
	assert.False(t, r.failed())
	r.u(1) // only the dropped 03 is left
	assert.True(t, r.failed())

	// Without NAL mode every byte is data.
	r = newBitReader([]byte{0x00, 0x00, 0x03}, false)
	assert.Equal(t, uint32(3), r.u(24))
	assert.False(t, r.failed())
}

func TestBitReaderExpGolomb(t *testing.T) {
	var w bitWriter
	values := []uint64{0, 1, 2, 3, 7, 254, 1 << 20, 1<<32 - 2}
	for _, v := range values {
		w.ue(v)
	}
	signed := []int64{0, 1, -1, 2, -2, 1000, -1000}
	for _, v := range signed {
		w.se(v)
	}
	r := newBitReader(w.rbsp(), false)
	for _, v := range values {
		assert.Equal(t, uint32(v), r.ue())
	}
	for _, v := range signed {
		assert.Equal(t, v, r.se())
	}
	assert.False(t, r.failed())
}
