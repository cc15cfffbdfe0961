package flv

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseVPCodecConfig(t *testing.T) {
	// As ffmpeg writes the vpcC box (version 1, flags 0, then the record).
	c, err := ParseVPCodecConfig(fixture(t, "vpcc_box_320x240.bin"))
	require.NoError(t, err)
	assert.Equal(t, VPConfig{Profile: 0, Level: 20, BitDepth: 8, ChromaSubsampling: 1, ColourPrimaries: 2,
		TransferCharacteristics: 2, MatrixCoefficients: 2, CodecInitData: []byte{}}, c)
	c, err = ParseVPCodecConfig(fixture(t, "vpcc_box_642x362_p3.bin"))
	require.NoError(t, err)
	assert.Equal(t, [4]int{3, 21, 10, 3}, [4]int{int(c.Profile), int(c.Level), c.BitDepth, int(c.ChromaSubsampling)})

	// The bare record, with codec initialization data and full range.
	bare := []byte{2, 31, 0xa3, 9, 16, 9, 0, 2, 0xaa, 0xbb}
	c, err = ParseVPCodecConfig(bare)
	require.NoError(t, err)
	assert.Equal(t, VPConfig{Profile: 2, Level: 31, BitDepth: 10, ChromaSubsampling: 1, FullRange: true,
		ColourPrimaries: 9, TransferCharacteristics: 16, MatrixCoefficients: 9, CodecInitData: []byte{0xaa, 0xbb}}, c)
	assert.True(t, within(bare, c.CodecInitData))

	for _, tc := range []struct {
		in   []byte
		want error
	}{
		{[]byte{1, 0, 0, 0}, ErrShortPayload},
		{[]byte{0, 10, 0x82, 2, 2, 2, 0}, ErrShortPayload},
		{[]byte{0, 10, 0x82, 2, 2, 2, 0, 1}, ErrShortPayload},          // init data cut
		{[]byte{4, 10, 0x82, 2, 2, 2, 0, 0}, ErrMalformed},             // profile 4
		{[]byte{0, 10, 0x92, 2, 2, 2, 0, 0}, ErrMalformed},             // 9 bits
		{[]byte{0, 10, 0x8a, 2, 2, 2, 0, 0}, ErrMalformed},             // subsampling 5
		{[]byte{1, 0, 0, 0, 0, 10, 0x02, 2, 2, 2, 0, 0}, ErrMalformed}, // box header, then bit depth 0
	} {
		_, err := ParseVPCodecConfig(tc.in)
		require.ErrorIs(t, err, tc.want, "% x", tc.in)
	}
}

func TestParseVP9FrameHeader(t *testing.T) {
	h, err := ParseVP9FrameHeader(fixture(t, "vp9_keyhdr_320x240.bin"))
	require.NoError(t, err)
	assert.Equal(t, VP9FrameHeader{KeyFrame: true, ShowFrame: true, BitDepth: 8, SubsamplingX: true, SubsamplingY: true, Width: 320, Height: 240}, h)

	h, err = ParseVP9FrameHeader(fixture(t, "vp9_interhdr_320x240.bin"))
	require.NoError(t, err)
	assert.Equal(t, VP9FrameHeader{ShowFrame: true}, h)

	h, err = ParseVP9FrameHeader(fixture(t, "vp9_keyhdr_642x362_p3.bin"))
	require.NoError(t, err)
	assert.Equal(t, VP9FrameHeader{Profile: 3, KeyFrame: true, ShowFrame: true, BitDepth: 10, Width: 642, Height: 362}, h)

	// Hand-built: profile 2 at 12 bits, RGB; profile 1 RGB; show existing frame.
	var w bitWriter
	w.u(2, 2)
	w.u(2, 0b01) // profile 2: low bit 0, high bit 1
	w.u(3, 0)    // show_existing_frame, frame_type key, show_frame 0
	w.u(1, 1)    // error resilient
	w.u(24, vp9SyncCode)
	w.u(1, 1) // 12 bit
	w.u(3, vp9ColorSpaceRGB)
	w.u(16, 3839)
	w.u(16, 2159)
	h, err = ParseVP9FrameHeader(w.b)
	require.NoError(t, err)
	assert.Equal(t, VP9FrameHeader{Profile: 2, KeyFrame: true, ErrorResilient: true, BitDepth: 12, ColorSpace: 7, FullRange: true, Width: 3840, Height: 2160}, h)

	w = bitWriter{}
	w.u(2, 2)
	w.u(2, 0b10) // profile 1
	w.u(3, 0b001)
	w.u(1, 0)
	w.u(24, vp9SyncCode)
	w.u(3, vp9ColorSpaceRGB)
	w.u(1, 0) // reserved
	w.u(16, 99)
	w.u(16, 49)
	h, err = ParseVP9FrameHeader(w.b)
	require.NoError(t, err)
	assert.Equal(t, VP9FrameHeader{Profile: 1, KeyFrame: true, ShowFrame: true, BitDepth: 8, ColorSpace: 7, FullRange: true, Width: 100, Height: 50}, h)

	h, err = ParseVP9FrameHeader([]byte{0xb4}) // profile 3, show_existing_frame, index cut
	require.ErrorIs(t, err, ErrShortPayload)
	assert.Equal(t, VP9FrameHeader{Profile: 3, ShowExistingFrame: true}, h)
	h, err = ParseVP9FrameHeader([]byte{0x89, 0x80}) // index 3
	require.NoError(t, err)
	assert.Equal(t, VP9FrameHeader{ShowExistingFrame: true}, h)

	for _, tc := range []struct {
		in   []byte
		want error
	}{
		{nil, ErrShortPayload},
		{[]byte{0x42}, ErrMalformed},                   // frame marker 1
		{[]byte{0xb8}, ErrMalformed},                   // profile 3, reserved bit set
		{[]byte{0x82, 0x49, 0x83, 0x43}, ErrMalformed}, // sync code
		{[]byte{0x82, 0x49, 0x83}, ErrShortPayload},
		{fixture(t, "vp9_keyhdr_320x240.bin")[:7], ErrShortPayload},
		{[]byte{0xb3}, ErrShortPayload}, // profile 3 inter frame, error_resilient cut
	} {
		_, err := ParseVP9FrameHeader(tc.in)
		require.ErrorIs(t, err, tc.want, "% x", tc.in)
	}
}

func TestParseVP9NoAlloc(t *testing.T) {
	cfg, key := fixture(t, "vpcc_box_320x240.bin"), fixture(t, "vp9_keyhdr_320x240.bin")
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := ParseVPCodecConfig(cfg); err != nil {
			t.Fatal(err)
		}
		if _, err := ParseVP9FrameHeader(key); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
}
