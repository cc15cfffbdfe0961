package flv

import "fmt"

// HEVC NAL unit types of the parameter sets (ITU-T H.265 table 7-1).
const (
	HEVCNALVPS uint8 = 32
	HEVCNALSPS uint8 = 33
	HEVCNALPPS uint8 = 34
)

// HEVCConfig is what ParseHEVCDecoderConfig extracts from an
// HEVCDecoderConfigurationRecord and its first sequence parameter set.
type HEVCConfig struct {
	// ProfileSpace, Tier (0 Main, 1 High), Profile (general_profile_idc:
	// 1 Main, 2 Main 10, 3 Main Still Picture, 4 range extensions, ...),
	// ProfileCompatibility (general_profile_compatibility_flags) and Level
	// (general_level_idc, 30 × the level: 93 is level 3.1), as the record
	// states them.
	ProfileSpace, Tier, Profile uint8
	ProfileCompatibility        uint32
	Level                       uint8
	// ChromaFormat is chroma_format_idc: 0 monochrome, 1 4:2:0, 2 4:2:2,
	// 3 4:4:4.
	ChromaFormat uint8
	// BitDepthLuma and BitDepthChroma in bits (8, 10, 12, ...).
	BitDepthLuma, BitDepthChroma int
	// NALULengthSize is the size in bytes of the NAL unit length prefix in
	// coded frames (lengthSizeMinusOne + 1).
	NALULengthSize int
	// NumTemporalLayers is the record's numTemporalLayers (0: unknown).
	NumTemporalLayers int

	// Width and Height are the display size in pixels from the first SPS,
	// after its conformance window.
	Width, Height int
	// VPS, SPS and PPS are the first video, sequence and picture parameter
	// set NAL units (with their 2-byte NAL unit header); they alias the
	// parsed record and are nil if the record has none.
	VPS, SPS, PPS []byte
}

// hevcRecordHeaderSize is the fixed part of an HEVCDecoderConfigurationRecord,
// up to and including numOfArrays.
const hevcRecordHeaderSize = 23

// ParseHEVCDecoderConfig parses an HEVCDecoderConfigurationRecord
// (ISO/IEC 14496-15 8.3.3.1), the body of an E-RTMP 'hvc1' SequenceStart
// or of a legacy codec id 12 sequence header, and its first SPS (see
// ParseHEVCSPS) for the display size. A record without an SPS is
// ErrMalformed; the record's own fields are returned with it.
func ParseHEVCDecoderConfig(b []byte) (HEVCConfig, error) {
	var c HEVCConfig
	if len(b) < hevcRecordHeaderSize {
		return c, fmt.Errorf("%w: HEVCDecoderConfigurationRecord of %d bytes", ErrShortPayload, len(b))
	}
	if b[0] != 1 {
		return c, fmt.Errorf("%w: HEVCDecoderConfigurationRecord version %d", ErrUnsupported, b[0])
	}
	c.ProfileSpace, c.Tier, c.Profile = b[1]>>6, (b[1]>>5)&1, b[1]&0x1f
	c.ProfileCompatibility = be32(b[2:])
	c.Level = b[12]
	c.ChromaFormat = b[16] & 0x03
	c.BitDepthLuma = int(b[17]&0x07) + 8
	c.BitDepthChroma = int(b[18]&0x07) + 8
	c.NumTemporalLayers = int(b[21]>>3) & 0x07
	c.NALULengthSize = int(b[21]&0x03) + 1

	pos := hevcRecordHeaderSize
	for i := range int(b[22]) { // numOfArrays
		if len(b)-pos < 3 {
			return c, fmt.Errorf("%w: NAL unit array %d", ErrShortPayload, i)
		}
		typ := b[pos] & 0x3f
		n := int(b[pos+1])<<8 | int(b[pos+2])
		pos += 3
		for j := range n {
			nalu, next, err := lengthPrefixed(b, pos)
			if err != nil {
				return c, fmt.Errorf("NAL unit %d of array %d: %w", j, i, err)
			}
			pos = next
			switch {
			case typ == HEVCNALVPS && c.VPS == nil:
				c.VPS = nalu
			case typ == HEVCNALSPS && c.SPS == nil:
				c.SPS = nalu
			case typ == HEVCNALPPS && c.PPS == nil:
				c.PPS = nalu
			}
		}
	}
	if c.SPS == nil {
		return c, fmt.Errorf("%w: HEVCDecoderConfigurationRecord without SPS", ErrMalformed)
	}
	sps, err := ParseHEVCSPS(c.SPS)
	if err != nil {
		return c, err
	}
	c.Width, c.Height = sps.Width, sps.Height
	return c, nil
}

// HEVCSPS is what ParseHEVCSPS reads from an H.265 sequence parameter set.
type HEVCSPS struct {
	VPSID             uint8
	MaxSubLayers      int // sps_max_sub_layers_minus1 + 1
	TemporalIDNesting bool
	// The general profile, tier and level (profile_tier_level()).
	ProfileSpace, Tier, Profile uint8
	ProfileCompatibility        uint32
	// ConstraintFlags holds the 48 bits from general_progressive_source_flag
	// to general_inbld_flag / reserved bit, as the decoder configuration
	// record's general_constraint_indicator_flags carries them.
	ConstraintFlags uint64
	Level           uint8
	// ChromaFormat is chroma_format_idc (0..3).
	ChromaFormat        uint8
	SeparateColourPlane bool
	// CodedWidth and CodedHeight are pic_width/height_in_luma_samples;
	// Width and Height the display size after the conformance window.
	CodedWidth, CodedHeight int
	Width, Height           int
	// ConformanceWindow holds the left, right, top and bottom offsets in
	// chroma sample units, as coded.
	ConformanceWindow [4]uint32
	// BitDepthLuma and BitDepthChroma in bits.
	BitDepthLuma, BitDepthChroma int
}

// maxHEVCDimension bounds pic_width/height_in_luma_samples so size
// arithmetic stays sane on hostile input (level 6.2 allows 16888).
const maxHEVCDimension = 1 << 16

// ParseHEVCSPS parses an H.265 seq_parameter_set_rbsp NAL unit (ITU-T
// H.265 7.3.2.2), starting with its 2-byte NAL unit header, up to the bit
// depths: the general profile, tier and level, the chroma format, the
// coded size and conformance window (the display size). Emulation
// prevention bytes are skipped in place.
func ParseHEVCSPS(nalu []byte) (HEVCSPS, error) {
	var s HEVCSPS
	if len(nalu) < 3 {
		return s, fmt.Errorf("%w: SPS of %d bytes", ErrShortPayload, len(nalu))
	}
	if t := (nalu[0] >> 1) & 0x3f; t != HEVCNALSPS {
		return s, fmt.Errorf("%w: NAL unit type %d is not an SPS", ErrMalformed, t)
	}
	r := newBitReader(nalu[2:], true)
	s.VPSID = uint8(r.u(4))
	maxSubLayersMinus1 := int(r.u(3))
	s.MaxSubLayers = maxSubLayersMinus1 + 1
	s.TemporalIDNesting = r.flag()
	if maxSubLayersMinus1 > 6 {
		return s, fmt.Errorf("%w: sps_max_sub_layers_minus1 %d", ErrMalformed, maxSubLayersMinus1)
	}

	// profile_tier_level(1, sps_max_sub_layers_minus1)
	s.ProfileSpace, s.Tier, s.Profile = uint8(r.u(2)), uint8(r.u(1)), uint8(r.u(5))
	s.ProfileCompatibility = r.u(32)
	s.ConstraintFlags = uint64(r.u(16))<<32 | uint64(r.u(32))
	s.Level = uint8(r.u(8))
	var profilePresent, levelPresent [7]bool
	for i := range maxSubLayersMinus1 {
		profilePresent[i], levelPresent[i] = r.flag(), r.flag()
	}
	if maxSubLayersMinus1 > 0 {
		for i := maxSubLayersMinus1; i < 8; i++ {
			r.u(2) // reserved_zero_2bits
		}
	}
	for i := range maxSubLayersMinus1 {
		if profilePresent[i] {
			r.u(32) // sub_layer profile space, tier, idc, compatibility flags...
			r.u(32)
			r.u(24) // ... 88 bits in all
		}
		if levelPresent[i] {
			r.u(8) // sub_layer_level_idc
		}
	}

	if r.ue() > 15 {
		return s, fmt.Errorf("%w: sps_seq_parameter_set_id out of range", ErrMalformed)
	}
	chroma := r.ue()
	if chroma > 3 {
		return s, fmt.Errorf("%w: chroma_format_idc %d", ErrMalformed, chroma)
	}
	s.ChromaFormat = uint8(chroma)
	if chroma == 3 {
		s.SeparateColourPlane = r.flag()
	}
	width, height := r.ue(), r.ue()
	if r.flag() { // conformance_window_flag
		for i := range s.ConformanceWindow {
			s.ConformanceWindow[i] = r.ue()
		}
	}
	lumaMinus8, chromaMinus8 := r.ue(), r.ue()
	if r.invalid() {
		return s, fmt.Errorf("%w: exp-Golomb code longer than 32 bits in SPS", ErrMalformed)
	}
	if r.failed() {
		return s, fmt.Errorf("%w: truncated SPS", ErrShortPayload)
	}
	if lumaMinus8 > 8 || chromaMinus8 > 8 {
		return s, fmt.Errorf("%w: bit depth minus 8 of %d/%d", ErrMalformed, lumaMinus8, chromaMinus8)
	}
	s.BitDepthLuma, s.BitDepthChroma = int(lumaMinus8)+8, int(chromaMinus8)+8
	if width == 0 || height == 0 || width > maxHEVCDimension || height > maxHEVCDimension {
		return s, fmt.Errorf("%w: picture of %dx%d luma samples", ErrMalformed, width, height)
	}
	s.CodedWidth, s.CodedHeight = int(width), int(height)

	// The offsets count in chroma samples (H.265 7.4.3.2.1, table 6-1).
	subWidthC, subHeightC := int64(1), int64(1)
	if !s.SeparateColourPlane {
		switch s.ChromaFormat {
		case 1:
			subWidthC, subHeightC = 2, 2
		case 2:
			subWidthC = 2
		}
	}
	w := s.ConformanceWindow
	cropX := (int64(w[0]) + int64(w[1])) * subWidthC
	cropY := (int64(w[2]) + int64(w[3])) * subHeightC
	if cropX >= int64(s.CodedWidth) || cropY >= int64(s.CodedHeight) {
		return s, fmt.Errorf("%w: conformance window exceeds the %dx%d picture", ErrMalformed, s.CodedWidth, s.CodedHeight)
	}
	s.Width, s.Height = s.CodedWidth-int(cropX), s.CodedHeight-int(cropY)
	return s, nil
}
