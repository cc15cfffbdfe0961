package flv

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseAV1CodecConfig(t *testing.T) {
	for _, tc := range []struct {
		file           string
		profile, level uint8
		depth, w, h    int
		subX, subY     bool
	}{
		{"av1c_320x240.bin", 0, 0, 8, 320, 240, true, true},                // libaom, 8-bit 4:2:0
		{"av1c_1280x720_444_10bit.bin", 1, 5, 10, 1280, 720, false, false}, // libaom, High profile
	} {
		t.Run(tc.file, func(t *testing.T) {
			b := fixture(t, tc.file)
			c, err := ParseAV1CodecConfig(b)
			require.NoError(t, err)
			require.True(t, c.HasSequenceHeader)
			assert.Equal(t, [2]uint8{tc.profile, tc.level}, [2]uint8{c.Profile, c.Level})
			assert.Equal(t, [2]uint8{tc.profile, tc.level}, [2]uint8{c.SequenceHeader.Profile, c.SequenceHeader.Level})
			assert.Equal(t, tc.depth, c.BitDepth)
			assert.Equal(t, tc.depth, c.SequenceHeader.BitDepth)
			assert.Equal(t, [2]int{tc.w, tc.h}, [2]int{c.Width, c.Height})
			assert.Equal(t, [2]bool{tc.subX, tc.subY}, [2]bool{c.SubsamplingX, c.SubsamplingY})
			assert.Equal(t, [2]bool{tc.subX, tc.subY}, [2]bool{c.SequenceHeader.SubsamplingX, c.SequenceHeader.SubsamplingY})
			assert.True(t, within(b, c.ConfigOBUs))
			assert.Equal(t, c.ConfigOBUs, FindAV1SequenceHeader(c.ConfigOBUs))
		})
	}
}

// av1SeqParams describes a sequence header for buildAV1SequenceHeader.
type av1SeqParams struct {
	profile              uint64
	still, reduced       bool
	timing               bool
	ticksMinus1          uint64 // with timing: equal_picture_interval when > 0
	decoderModel         bool
	initialDelay         bool
	levels               []uint64 // per operating point
	w, h                 uint64
	frameIDs             bool
	orderHint            bool
	chooseScreen         bool
	highBitdepth, twelve bool
	mono                 bool
	colorDesc            *[3]uint64
	subX, subY           bool // profile 2 at 12 bits
}

// buildAV1SequenceHeader writes a sequence header OBU with a size field.
func buildAV1SequenceHeader(p av1SeqParams) []byte {
	var w bitWriter
	w.u(3, p.profile)
	w.flag(p.still)
	w.flag(p.reduced)
	if p.reduced {
		w.u(5, p.levels[0])
	} else {
		w.flag(p.timing)
		if p.timing {
			w.u(32, 1001)
			w.u(32, 60000)
			w.flag(p.ticksMinus1 > 0)
			if p.ticksMinus1 > 0 {
				// uvlc
				x := p.ticksMinus1 + 1
				n := uint(0)
				for v := x; v > 1; v >>= 1 {
					n++
				}
				w.u(n, 0)
				w.u(1, 1)
				w.u(n, x-(1<<n))
			}
			w.flag(p.decoderModel)
			if p.decoderModel {
				w.u(5, 9) // buffer_delay_length_minus_1: 10 bits
				w.u(32, 1)
				w.u(5, 0)
				w.u(5, 0)
			}
		}
		w.flag(p.initialDelay)
		w.u(5, uint64(len(p.levels)-1))
		for _, l := range p.levels {
			w.u(12, 0)
			w.u(5, l)
			if l > 7 {
				w.u(1, 1)
			}
			if p.decoderModel {
				w.u(1, 1)
				w.u(10, 0x3ff)
				w.u(10, 0)
				w.u(1, 1)
			}
			if p.initialDelay {
				w.u(1, 1)
				w.u(4, 9)
			}
		}
	}
	w.u(4, 15)
	w.u(4, 15)
	w.u(16, p.w-1)
	w.u(16, p.h-1)
	if !p.reduced {
		w.flag(p.frameIDs)
		if p.frameIDs {
			w.u(7, 0)
		}
	}
	w.u(3, 0) // 128x128, filter intra, intra edge
	if !p.reduced {
		w.u(4, 0)
		w.flag(p.orderHint)
		if p.orderHint {
			w.u(2, 3)
		}
		w.flag(p.chooseScreen)
		if !p.chooseScreen {
			w.u(1, 1) // seq_force_screen_content_tools
		}
		w.u(1, 0) // seq_choose_integer_mv
		w.u(1, 1) // seq_force_integer_mv
		if p.orderHint {
			w.u(3, 6)
		}
	}
	w.u(3, 7) // superres, cdef, restoration
	w.flag(p.highBitdepth)
	if p.profile == 2 && p.highBitdepth {
		w.flag(p.twelve)
	}
	if p.profile != 1 {
		w.flag(p.mono)
	}
	w.flag(p.colorDesc != nil)
	if p.colorDesc != nil {
		for _, v := range p.colorDesc {
			w.u(8, v)
		}
	}
	srgb := p.colorDesc != nil && *p.colorDesc == [3]uint64{1, 13, 0}
	switch {
	case p.mono:
		w.u(1, 1)
	case srgb:
		w.u(1, 0) // separate_uv_delta_q
	default:
		w.u(1, 1) // color_range
		if p.profile == 2 && p.twelve {
			w.flag(p.subX)
			if p.subX {
				w.flag(p.subY)
			}
		}
		x, y := p.profile == 0 || (p.profile == 2 && !p.twelve) || p.subX, p.profile == 0 || p.subY
		if x && y {
			w.u(2, 1)
		}
		w.u(1, 0) // separate_uv_delta_q
	}
	w.u(1, 1) // film_grain_params_present
	payload := w.rbsp()
	return append([]byte{AV1OBUSequenceHeader<<3 | 2, byte(len(payload))}, payload...)
}

func TestParseAV1SequenceHeader(t *testing.T) {
	for _, tc := range []struct {
		name       string
		p          av1SeqParams
		level      uint8
		tier       uint8
		depth      int
		subX, subY bool
		fps        float64
	}{
		{"timing info, decoder model, 2 operating points", av1SeqParams{timing: true, ticksMinus1: 1, decoderModel: true, initialDelay: true,
			levels: []uint64{9, 4}, w: 1920, h: 1080, frameIDs: true, orderHint: true}, 9, 1, 8, true, true, 60000.0 / 1001 / 2},
		{"reduced still picture", av1SeqParams{still: true, reduced: true, levels: []uint64{1}, w: 64, h: 48}, 1, 0, 8, true, true, 0},
		{"profile 2 at 12 bits 4:2:2", av1SeqParams{profile: 2, levels: []uint64{31}, w: 4096, h: 2160, highBitdepth: true, twelve: true, subX: true, chooseScreen: true}, 31, 1, 12, true, false, 0},
		{"profile 2 at 10 bits", av1SeqParams{profile: 2, levels: []uint64{8}, w: 640, h: 480, highBitdepth: true}, 8, 1, 10, true, false, 0},
		{"monochrome", av1SeqParams{levels: []uint64{0}, w: 16, h: 16, mono: true}, 0, 0, 8, true, true, 0},
		{"sRGB 4:4:4", av1SeqParams{profile: 1, levels: []uint64{5}, w: 800, h: 600, colorDesc: &[3]uint64{1, 13, 0}}, 5, 0, 8, false, false, 0},
		{"BT.709 4:4:4", av1SeqParams{profile: 1, levels: []uint64{5}, w: 800, h: 600, colorDesc: &[3]uint64{1, 1, 1}, highBitdepth: true}, 5, 0, 10, false, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obu := buildAV1SequenceHeader(tc.p)
			s, err := ParseAV1SequenceHeader(obu)
			require.NoError(t, err)
			assert.Equal(t, uint8(tc.p.profile), s.Profile)
			assert.Equal(t, tc.level, s.Level)
			assert.Equal(t, tc.tier, s.Tier)
			assert.Equal(t, [2]int{int(tc.p.w), int(tc.p.h)}, [2]int{s.MaxWidth, s.MaxHeight})
			assert.Equal(t, tc.depth, s.BitDepth)
			assert.Equal(t, [2]bool{tc.subX, tc.subY}, [2]bool{s.SubsamplingX, s.SubsamplingY})
			assert.Equal(t, tc.p.mono, s.Monochrome)
			assert.InDelta(t, tc.fps, s.FrameRate(), 1e-9)
			assert.True(t, s.FilmGrainParamsPresent, "the last field is read in step")
			assert.Equal(t, len(tc.p.levels), s.OperatingPoints)

			// Every prefix of the payload fails cleanly.
			for n := 2; n < len(obu)-1; n++ {
				trunc := append([]byte{obu[0], byte(n - 2)}, obu[2:n]...)
				_, err := ParseAV1SequenceHeader(trunc)
				require.ErrorIs(t, err, ErrShortPayload, "%d bytes", n)
			}
		})
	}
}

func TestParseAV1OBU(t *testing.T) {
	// Extension header, 2-byte leb128 size.
	payload := make([]byte, 200)
	obu := append([]byte{AV1OBUFrame<<3 | 4 | 2, 0x68, 0xc8, 0x01}, payload...)
	o, err := ParseAV1OBU(append(obu, 0x12, 0))
	require.NoError(t, err)
	assert.Equal(t, AV1OBU{Type: AV1OBUFrame, HasExtension: true, TemporalID: 3, SpatialID: 1, HasSize: true, Payload: payload, Len: len(obu)}, o)

	// Without a size field the OBU runs to the end.
	o, err = ParseAV1OBU([]byte{AV1OBUTemporalDelimiter << 3, 1, 2})
	require.NoError(t, err)
	assert.Equal(t, AV1OBU{Type: AV1OBUTemporalDelimiter, Payload: []byte{1, 2}, Len: 3}, o)

	for _, tc := range []struct {
		in   []byte
		want error
	}{
		{nil, ErrShortPayload},
		{[]byte{0x80}, ErrMalformed},
		{[]byte{0x0e}, ErrShortPayload},                                              // extension header missing
		{[]byte{0x0a, 0x80}, ErrShortPayload},                                        // leb128 cut
		{[]byte{0x0a, 5, 1}, ErrShortPayload},                                        // payload cut
		{[]byte{0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80}, ErrMalformed}, // 9-byte leb128
		{[]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x7f}, ErrMalformed},                   // over 32 bits
	} {
		_, err := ParseAV1OBU(tc.in)
		require.ErrorIs(t, err, tc.want, "% x", tc.in)
	}
}

func TestParseAV1CodecConfigErrors(t *testing.T) {
	rec := fixture(t, "av1c_320x240.bin")
	for n := range 4 {
		_, err := ParseAV1CodecConfig(rec[:n])
		require.ErrorIs(t, err, ErrShortPayload)
	}
	_, err := ParseAV1CodecConfig(append([]byte{0x80}, rec[1:]...))
	require.ErrorIs(t, err, ErrUnsupported)

	// No configOBUs: the record's fields only.
	c, err := ParseAV1CodecConfig(rec[:4])
	require.NoError(t, err)
	assert.False(t, c.HasSequenceHeader)
	assert.Zero(t, c.Width)

	// A metadata OBU before the sequence header is skipped.
	withMeta := append(append(append([]byte(nil), rec[:4]...), AV1OBUMetadata<<3|2, 2, 1, 0), rec[4:]...)
	c, err = ParseAV1CodecConfig(withMeta)
	require.NoError(t, err)
	assert.Equal(t, 320, c.Width)

	// A broken OBU or sequence header.
	_, err = ParseAV1CodecConfig(append(append([]byte(nil), rec[:4]...), 0x0a, 9, 0))
	require.ErrorIs(t, err, ErrShortPayload)
	_, err = ParseAV1CodecConfig(append(append([]byte(nil), rec[:4]...), 0x0a, 1, 0xe0))
	require.ErrorIs(t, err, ErrUnsupported, "seq_profile 7")
	_, err = ParseAV1SequenceHeader([]byte{AV1OBUTemporalDelimiter<<3 | 2, 0})
	require.ErrorIs(t, err, ErrMalformed)
	assert.Nil(t, FindAV1SequenceHeader([]byte{0x12, 0, 0x80}))
	assert.Nil(t, FindAV1SequenceHeader([]byte{0x12, 0}))
}

func TestParseAV1NoAlloc(t *testing.T) {
	rec := fixture(t, "av1c_1280x720_444_10bit.bin")
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := ParseAV1CodecConfig(rec); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
}
