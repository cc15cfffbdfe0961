package flv

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseHEVCDecoderConfig(t *testing.T) {
	for _, tc := range []struct {
		file string
		want HEVCConfig
	}{
		// x265 via ffmpeg, 8-bit 4:2:0.
		{"hvcc_320x240.bin", HEVCConfig{Profile: 1, ProfileCompatibility: 0x60000000, Level: 60, ChromaFormat: 1,
			BitDepthLuma: 8, BitDepthChroma: 8, NALULengthSize: 4, NumTemporalLayers: 1, Width: 320, Height: 240}},
		// Main 10 at a size that needs the conformance window (coded 328x248).
		{"hvcc_322x242_main10.bin", HEVCConfig{Profile: 2, ProfileCompatibility: 0x20000000, Level: 60, ChromaFormat: 1,
			BitDepthLuma: 10, BitDepthChroma: 10, NALULengthSize: 4, NumTemporalLayers: 1, Width: 322, Height: 242}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b := fixture(t, tc.file)
			c, err := ParseHEVCDecoderConfig(b)
			require.NoError(t, err)
			for _, nalu := range [][]byte{c.VPS, c.SPS, c.PPS} {
				require.True(t, within(b, nalu))
			}
			assert.Equal(t, HEVCNALVPS, c.VPS[0]>>1)
			assert.Equal(t, HEVCNALSPS, c.SPS[0]>>1)
			assert.Equal(t, HEVCNALPPS, c.PPS[0]>>1)
			c.VPS, c.SPS, c.PPS = nil, nil, nil
			assert.Equal(t, tc.want, c)

			sps, err := ParseHEVCSPS(fixtureSPS(t, b))
			require.NoError(t, err)
			assert.Equal(t, tc.want.Profile, sps.Profile)
			assert.Equal(t, tc.want.Level, sps.Level)
			assert.Equal(t, uint64(0x900000000000), sps.ConstraintFlags, "progressive, frame only")
			assert.Equal(t, [6]byte(b[6:12]), [6]byte{0x90, 0, 0, 0, 0, 0}, "as the record carries them")
		})
	}
	c, err := ParseHEVCDecoderConfig(fixture(t, "hvcc_322x242_main10.bin"))
	require.NoError(t, err)
	sps, err := ParseHEVCSPS(c.SPS)
	require.NoError(t, err)
	assert.Equal(t, [2]int{328, 248}, [2]int{sps.CodedWidth, sps.CodedHeight})
	assert.Equal(t, [4]uint32{0, 3, 0, 3}, sps.ConformanceWindow)
}

// fixtureSPS returns the first SPS of a record.
func fixtureSPS(t testing.TB, record []byte) []byte {
	t.Helper()
	c, err := ParseHEVCDecoderConfig(record)
	require.NoError(t, err)
	return c.SPS
}

// hevcSPSParams describes an SPS for buildHEVCSPS.
type hevcSPSParams struct {
	subLayers     int // sps_max_sub_layers_minus1 + 1
	subProfile    bool
	subLevel      bool
	chroma        uint64
	separatePlane bool
	width, height uint64
	window        *[4]uint64
	lumaM8, chrM8 uint64
	level         uint64
	profile       uint64
}

// buildHEVCSPS writes an SPS NAL unit (with emulation prevention) up to the
// bit depths, then a few bits the parser does not read.
func buildHEVCSPS(p hevcSPSParams) []byte {
	var w bitWriter
	w.u(4, 0)
	w.u(3, uint64(p.subLayers-1))
	w.u(1, 1)
	w.u(2, 0)
	w.u(1, 0)
	w.u(5, p.profile)
	w.u(32, 1<<(31-p.profile))
	w.u(48, 0x900000000000)
	w.u(8, p.level)
	for range p.subLayers - 1 {
		w.flag(p.subProfile)
		w.flag(p.subLevel)
	}
	if p.subLayers > 1 {
		for i := p.subLayers - 1; i < 8; i++ {
			w.u(2, 0)
		}
	}
	for range p.subLayers - 1 {
		if p.subProfile {
			w.u(32, 0xffffffff)
			w.u(32, 0)
			w.u(24, 0)
		}
		if p.subLevel {
			w.u(8, 0)
		}
	}
	w.ue(0)
	w.ue(p.chroma)
	if p.chroma == 3 {
		w.flag(p.separatePlane)
	}
	w.ue(p.width)
	w.ue(p.height)
	w.flag(p.window != nil)
	if p.window != nil {
		for _, v := range p.window {
			w.ue(v)
		}
	}
	w.ue(p.lumaM8)
	w.ue(p.chrM8)
	w.ue(4) // log2_max_pic_order_cnt_lsb_minus4
	rbsp, _ := escapeNAL(w.rbsp())
	return append([]byte{HEVCNALSPS << 1, 1}, rbsp...)
}

func TestParseHEVCSPS(t *testing.T) {
	for _, tc := range []struct {
		name        string
		p           hevcSPSParams
		w, h, depth int
		wantErr     error
	}{
		{"1080p 4:2:0 with a conformance window", hevcSPSParams{subLayers: 1, chroma: 1, width: 1920, height: 1088, window: &[4]uint64{0, 0, 0, 4}, profile: 1, level: 120}, 1920, 1080, 8, nil},
		{"sub-layers with profiles and levels", hevcSPSParams{subLayers: 3, subProfile: true, subLevel: true, chroma: 1, width: 640, height: 360, profile: 1, level: 93}, 640, 360, 8, nil},
		{"sub-layers with levels only", hevcSPSParams{subLayers: 7, subLevel: true, chroma: 1, width: 64, height: 64, profile: 1, level: 30}, 64, 64, 8, nil},
		{"4:2:2 12-bit", hevcSPSParams{subLayers: 1, chroma: 2, width: 1280, height: 720, window: &[4]uint64{1, 1, 2, 2}, lumaM8: 4, chrM8: 4, profile: 4, level: 123}, 1276, 716, 12, nil},
		{"4:4:4 separate planes", hevcSPSParams{subLayers: 1, chroma: 3, separatePlane: true, width: 100, height: 50, window: &[4]uint64{1, 2, 3, 4}, profile: 4, level: 60}, 97, 43, 8, nil},
		{"monochrome", hevcSPSParams{subLayers: 1, chroma: 0, width: 16, height: 16, window: &[4]uint64{1, 0, 0, 1}, profile: 4, level: 30}, 15, 15, 8, nil},
		{"zero width", hevcSPSParams{subLayers: 1, chroma: 1, width: 0, height: 16, profile: 1}, 0, 0, 0, ErrMalformed},
		{"huge height", hevcSPSParams{subLayers: 1, chroma: 1, width: 16, height: 1 << 20, profile: 1}, 0, 0, 0, ErrMalformed},
		{"window larger than the picture", hevcSPSParams{subLayers: 1, chroma: 1, width: 16, height: 16, window: &[4]uint64{4, 4, 0, 0}, profile: 1}, 0, 0, 0, ErrMalformed},
		{"chroma format 4", hevcSPSParams{subLayers: 1, chroma: 4, width: 16, height: 16, profile: 1}, 0, 0, 0, ErrMalformed},
		{"bit depth 17", hevcSPSParams{subLayers: 1, chroma: 1, width: 16, height: 16, lumaM8: 9, profile: 1}, 0, 0, 0, ErrMalformed},
		{"8 sub-layers", hevcSPSParams{subLayers: 8, chroma: 1, width: 16, height: 16, profile: 1}, 0, 0, 0, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nalu := buildHEVCSPS(tc.p)
			s, err := ParseHEVCSPS(nalu)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.w, s.Width)
			assert.Equal(t, tc.h, s.Height)
			assert.Equal(t, tc.depth, s.BitDepthLuma)
			assert.Equal(t, uint8(tc.p.profile), s.Profile)
			assert.Equal(t, uint8(tc.p.level), s.Level)
			assert.Equal(t, tc.p.subLayers, s.MaxSubLayers)
			assert.True(t, s.TemporalIDNesting)
		})
	}
	_, err := ParseHEVCSPS([]byte{0x40, 1, 0x0c}) // a VPS
	require.ErrorIs(t, err, ErrMalformed)
	_, err = ParseHEVCSPS([]byte{0x42, 1})
	require.ErrorIs(t, err, ErrShortPayload)
}

func TestParseHEVCDecoderConfigErrors(t *testing.T) {
	rec := fixture(t, "hvcc_320x240.bin")
	// Every prefix fails cleanly; slices stay within the input.
	for n := range len(rec) {
		c, err := ParseHEVCDecoderConfig(rec[:n])
		require.Error(t, err, "prefix of %d bytes", n)
		require.True(t, isSentinel(err), "%v", err)
		for _, nalu := range [][]byte{c.VPS, c.SPS, c.PPS} {
			require.True(t, within(rec[:n], nalu))
		}
	}
	bad := append([]byte(nil), rec...)
	bad[0] = 0
	_, err := ParseHEVCDecoderConfig(bad)
	require.ErrorIs(t, err, ErrUnsupported)

	// Only a VPS and a PPS: the record's fields, and ErrMalformed.
	noSPS := append(append([]byte(nil), rec[:22]...), 2, 0x20, 0, 1, 0, 2, 0x40, 1, 0x22, 0, 1, 0, 2, 0x44, 1)
	c, err := ParseHEVCDecoderConfig(noSPS)
	require.ErrorIs(t, err, ErrMalformed)
	assert.Equal(t, uint8(1), c.Profile)
	assert.Equal(t, uint8(60), c.Level)
	assert.Nil(t, c.SPS)
	assert.Equal(t, []byte{0x40, 1}, c.VPS)
}

func TestParseHEVCNoAlloc(t *testing.T) {
	rec := fixture(t, "hvcc_322x242_main10.bin")
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := ParseHEVCDecoderConfig(rec); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
}
