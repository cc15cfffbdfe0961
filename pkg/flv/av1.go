package flv

import "fmt"

// AV1 OBU types (AV1 bitstream specification 6.2.2).
const (
	AV1OBUSequenceHeader       uint8 = 1
	AV1OBUTemporalDelimiter    uint8 = 2
	AV1OBUFrameHeader          uint8 = 3
	AV1OBUTileGroup            uint8 = 4
	AV1OBUMetadata             uint8 = 5
	AV1OBUFrame                uint8 = 6
	AV1OBURedundantFrameHeader uint8 = 7
	AV1OBUTileList             uint8 = 8
	AV1OBUPadding              uint8 = 15
)

// AV1OBU is one open bitstream unit as ParseAV1OBU reads it. Payload
// aliases the input.
type AV1OBU struct {
	Type uint8
	// HasExtension reports the extension header, which carries
	// TemporalID and SpatialID.
	HasExtension          bool
	TemporalID, SpatialID uint8
	// HasSize reports obu_has_size_field; without it the OBU runs to the
	// end of the input.
	HasSize bool
	// Payload is the OBU's payload, after its header and size.
	Payload []byte
	// Len is the number of input bytes the OBU takes (header, size and
	// payload): the next OBU starts there.
	Len int
}

// ParseAV1OBU reads the OBU at the start of b (AV1 5.3): its header, the
// optional extension header and leb128 size, and returns its payload. An
// OBU without a size field takes the rest of b. The forbidden bit must be
// 0.
func ParseAV1OBU(b []byte) (AV1OBU, error) {
	var o AV1OBU
	if len(b) == 0 {
		return o, fmt.Errorf("%w: empty OBU", ErrShortPayload)
	}
	h := b[0]
	if h&0x80 != 0 {
		return o, fmt.Errorf("%w: OBU forbidden bit set", ErrMalformed)
	}
	o.Type = (h >> 3) & 0x0f
	o.HasExtension = h&0x04 != 0
	o.HasSize = h&0x02 != 0
	pos := 1
	if o.HasExtension {
		if len(b) < 2 {
			return o, fmt.Errorf("%w: missing OBU extension header", ErrShortPayload)
		}
		o.TemporalID, o.SpatialID = b[1]>>5, (b[1]>>3)&0x03
		pos++
	}
	if !o.HasSize {
		o.Payload, o.Len = b[pos:], len(b)
		return o, nil
	}
	size, n, err := leb128(b[pos:])
	if err != nil {
		return o, err
	}
	pos += n
	if uint64(len(b)-pos) < size {
		return o, fmt.Errorf("%w: OBU of %d bytes, %d left", ErrShortPayload, size, len(b)-pos)
	}
	end := pos + int(size)
	o.Payload, o.Len = b[pos:end:end], end
	return o, nil
}

// leb128 reads an unsigned LEB128 value of at most 8 bytes whose value
// fits 32 bits (AV1 4.10.5) and returns it with its length.
func leb128(b []byte) (uint64, int, error) {
	var v uint64
	for i := range 8 {
		if i >= len(b) {
			return 0, i, fmt.Errorf("%w: truncated leb128", ErrShortPayload)
		}
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			if v > 1<<32-1 {
				return 0, i + 1, fmt.Errorf("%w: leb128 value %d", ErrMalformed, v)
			}
			return v, i + 1, nil
		}
	}
	return 0, 8, fmt.Errorf("%w: leb128 longer than 8 bytes", ErrMalformed)
}

// AV1SequenceHeader is what ParseAV1SequenceHeader reads from a sequence
// header OBU.
type AV1SequenceHeader struct {
	// Profile is seq_profile: 0 Main, 1 High, 2 Professional.
	Profile                   uint8
	StillPicture              bool
	ReducedStillPictureHeader bool
	// Level is seq_level_idx[0] (level 2.0 + Level/4 . Level%4; 31 is
	// "maximum parameters") and Tier seq_tier[0], of operating point 0.
	Level, Tier uint8
	// OperatingPoints is operating_points_cnt_minus_1 + 1.
	OperatingPoints int

	// TimingInfo reports timing_info(): NumUnitsInDisplayTick,
	// TimeScale and, with EqualPictureInterval, NumTicksPerPicture.
	TimingInfo            bool
	NumUnitsInDisplayTick uint32
	TimeScale             uint32
	EqualPictureInterval  bool
	NumTicksPerPicture    uint64

	// MaxWidth and MaxHeight are max_frame_width/height_minus_1 + 1: the
	// largest frame of the sequence, which is the frame size of a stream
	// that does not change it.
	MaxWidth, MaxHeight int

	FrameIDNumbersPresent bool
	Use128x128Superblock  bool
	EnableOrderHint       bool
	OrderHintBits         int

	// color_config(): BitDepth (8, 10, 12), Monochrome, the chroma
	// subsampling (both set for 4:2:0, X only for 4:2:2), the chroma
	// sample position, the colour description and range.
	BitDepth                   int
	Monochrome                 bool
	SubsamplingX, SubsamplingY bool
	ChromaSamplePosition       uint8
	ColorDescription           bool
	ColorPrimaries             uint8
	TransferCharacteristics    uint8
	MatrixCoefficients         uint8
	FullRange                  bool
	SeparateUVDeltaQ           bool
	FilmGrainParamsPresent     bool
}

// FrameRate returns the frame rate the timing info states (with an equal
// picture interval), or 0.
func (s AV1SequenceHeader) FrameRate() float64 {
	if !s.TimingInfo || !s.EqualPictureInterval || s.NumUnitsInDisplayTick == 0 {
		return 0
	}
	return float64(s.TimeScale) / (float64(s.NumUnitsInDisplayTick) * float64(s.NumTicksPerPicture))
}

// Colour description values that change what color_config() reads.
const (
	av1CPBT709    = 1
	av1TCSRGB     = 13
	av1MCIdentity = 0
)

// ParseAV1SequenceHeader parses a sequence header OBU (AV1 5.5, with its
// OBU header) through color_config() and film_grain_params_present: the
// profile, level and tier of operating point 0, timing info, the maximum
// frame size, bit depth and chroma format.
func ParseAV1SequenceHeader(obu []byte) (AV1SequenceHeader, error) {
	var s AV1SequenceHeader
	o, err := ParseAV1OBU(obu)
	if err != nil {
		return s, err
	}
	if o.Type != AV1OBUSequenceHeader {
		return s, fmt.Errorf("%w: OBU type %d is not a sequence header", ErrMalformed, o.Type)
	}
	r := newBitReader(o.Payload, false)
	s.Profile = uint8(r.u(3))
	if s.Profile > 2 {
		return s, fmt.Errorf("%w: seq_profile %d", ErrUnsupported, s.Profile)
	}
	s.StillPicture = r.flag()
	s.ReducedStillPictureHeader = r.flag()
	decoderModelInfo, bufferDelayLen := false, 0
	if s.ReducedStillPictureHeader {
		s.OperatingPoints = 1
		s.Level = uint8(r.u(5))
	} else {
		if s.TimingInfo = r.flag(); s.TimingInfo {
			s.NumUnitsInDisplayTick = r.u(32)
			s.TimeScale = r.u(32)
			if s.EqualPictureInterval = r.flag(); s.EqualPictureInterval {
				n, ok := uvlc(&r)
				if !ok {
					return s, fmt.Errorf("%w: num_ticks_per_picture_minus_1 out of range", ErrMalformed)
				}
				s.NumTicksPerPicture = uint64(n) + 1
			}
			if decoderModelInfo = r.flag(); decoderModelInfo {
				bufferDelayLen = int(r.u(5)) + 1
				r.u(32) // num_units_in_decoding_tick
				r.u(5)  // buffer_removal_time_length_minus_1
				r.u(5)  // frame_presentation_time_length_minus_1
			}
		}
		initialDisplayDelay := r.flag()
		s.OperatingPoints = int(r.u(5)) + 1
		for i := range s.OperatingPoints {
			r.u(12) // operating_point_idc[i]
			level, tier := uint8(r.u(5)), uint8(0)
			if level > 7 {
				tier = uint8(r.u(1))
			}
			if i == 0 {
				s.Level, s.Tier = level, tier
			}
			if decoderModelInfo && r.flag() { // decoder_model_present_for_this_op
				r.u(uint(bufferDelayLen)) // decoder_buffer_delay
				r.u(uint(bufferDelayLen)) // encoder_buffer_delay
				r.u(1)                    // low_delay_mode_flag
			}
			if initialDisplayDelay && r.flag() {
				r.u(4) // initial_display_delay_minus_1
			}
		}
	}
	wBits, hBits := uint(r.u(4))+1, uint(r.u(4))+1
	s.MaxWidth, s.MaxHeight = int(r.u(wBits))+1, int(r.u(hBits))+1
	if !s.ReducedStillPictureHeader {
		if s.FrameIDNumbersPresent = r.flag(); s.FrameIDNumbersPresent {
			r.u(4) // delta_frame_id_length_minus_2
			r.u(3) // additional_frame_id_length_minus_1
		}
	}
	s.Use128x128Superblock = r.flag()
	r.u(2) // enable_filter_intra, enable_intra_edge_filter
	if !s.ReducedStillPictureHeader {
		r.u(4) // enable_interintra_compound, masked_compound, warped_motion, dual_filter
		s.EnableOrderHint = r.flag()
		if s.EnableOrderHint {
			r.u(2) // enable_jnt_comp, enable_ref_frame_mvs
		}
		forceScreenContentTools := uint32(2) // SELECT_SCREEN_CONTENT_TOOLS
		if !r.flag() {                       // seq_choose_screen_content_tools
			forceScreenContentTools = r.u(1)
		}
		if forceScreenContentTools > 0 && !r.flag() { // seq_choose_integer_mv
			r.u(1) // seq_force_integer_mv
		}
		if s.EnableOrderHint {
			s.OrderHintBits = int(r.u(3)) + 1
		}
	}
	r.u(3) // enable_superres, enable_cdef, enable_restoration
	s.parseColorConfig(&r)
	s.FilmGrainParamsPresent = r.flag()
	if r.failed() {
		return s, fmt.Errorf("%w: truncated sequence header", ErrShortPayload)
	}
	return s, nil
}

// parseColorConfig reads color_config() (AV1 5.5.2).
func (s *AV1SequenceHeader) parseColorConfig(r *bitReader) {
	s.BitDepth = 8
	if r.flag() { // high_bitdepth
		s.BitDepth = 10
		if s.Profile == 2 && r.flag() { // twelve_bit
			s.BitDepth = 12
		}
	}
	if s.Profile != 1 {
		s.Monochrome = r.flag()
	}
	s.ColorPrimaries, s.TransferCharacteristics, s.MatrixCoefficients = 2, 2, 2 // unspecified
	if s.ColorDescription = r.flag(); s.ColorDescription {
		s.ColorPrimaries, s.TransferCharacteristics, s.MatrixCoefficients = uint8(r.u(8)), uint8(r.u(8)), uint8(r.u(8))
	}
	switch {
	case s.Monochrome:
		s.FullRange = r.flag()
		s.SubsamplingX, s.SubsamplingY = true, true
		return // separate_uv_delta_q is 0
	case s.ColorPrimaries == av1CPBT709 && s.TransferCharacteristics == av1TCSRGB && s.MatrixCoefficients == av1MCIdentity:
		s.FullRange = true // 4:4:4
	default:
		s.FullRange = r.flag()
		switch {
		case s.Profile == 0:
			s.SubsamplingX, s.SubsamplingY = true, true
		case s.Profile == 1: // 4:4:4
		case s.BitDepth == 12:
			if s.SubsamplingX = r.flag(); s.SubsamplingX {
				s.SubsamplingY = r.flag()
			}
		default:
			s.SubsamplingX = true // 4:2:2
		}
		if s.SubsamplingX && s.SubsamplingY {
			s.ChromaSamplePosition = uint8(r.u(2))
		}
	}
	s.SeparateUVDeltaQ = r.flag()
}

// uvlc reads uvlc() (AV1 4.10.3); false for a value that does not fit 32
// bits.
func uvlc(r *bitReader) (uint32, bool) {
	zeros := uint(0)
	for !r.failed() && !r.flag() {
		zeros++
		if zeros >= 32 {
			return 0, false
		}
	}
	return r.u(zeros) + (1<<zeros - 1), true
}

// AV1Config is what ParseAV1CodecConfig extracts from an
// AV1CodecConfigurationRecord.
type AV1Config struct {
	// Profile (seq_profile), Level (seq_level_idx_0) and Tier (seq_tier_0)
	// as the record states them.
	Profile, Level, Tier uint8
	// BitDepth (8, 10, 12), Monochrome, the chroma subsampling and chroma
	// sample position, as the record states them.
	BitDepth                   int
	Monochrome                 bool
	SubsamplingX, SubsamplingY bool
	ChromaSamplePosition       uint8
	// ConfigOBUs are the OBUs after the record's 4 bytes (usually the
	// sequence header OBU); they alias the input.
	ConfigOBUs []byte

	// HasSequenceHeader reports a sequence header OBU among ConfigOBUs;
	// SequenceHeader is what it says, Width and Height its maximum
	// frame size.
	HasSequenceHeader bool
	SequenceHeader    AV1SequenceHeader
	Width, Height     int
}

// ParseAV1CodecConfig parses an AV1CodecConfigurationRecord (AV1 Codec
// ISO Media File Format Binding 2.3.3), the body of an E-RTMP 'av01'
// SequenceStart: its 4 bytes of fields, then the configOBUs, the first
// sequence header OBU among them parsed with ParseAV1SequenceHeader. The
// record does not have to carry one (HasSequenceHeader is false then).
func ParseAV1CodecConfig(b []byte) (AV1Config, error) {
	var c AV1Config
	if len(b) < 4 {
		return c, fmt.Errorf("%w: AV1CodecConfigurationRecord of %d bytes", ErrShortPayload, len(b))
	}
	if b[0] != 0x81 { // marker 1, version 1
		return c, fmt.Errorf("%w: AV1CodecConfigurationRecord marker/version %#x", ErrUnsupported, b[0])
	}
	c.Profile, c.Level = b[1]>>5, b[1]&0x1f
	c.Tier = b[2] >> 7
	c.BitDepth = 8
	if b[2]&0x40 != 0 { // high_bitdepth
		c.BitDepth = 10
		if b[2]&0x20 != 0 { // twelve_bit
			c.BitDepth = 12
		}
	}
	c.Monochrome = b[2]&0x10 != 0
	c.SubsamplingX, c.SubsamplingY = b[2]&0x08 != 0, b[2]&0x04 != 0
	c.ChromaSamplePosition = b[2] & 0x03
	c.ConfigOBUs = b[4:]
	for rest := c.ConfigOBUs; len(rest) > 0; {
		o, err := ParseAV1OBU(rest)
		if err != nil {
			return c, fmt.Errorf("configOBUs: %w", err)
		}
		if o.Type == AV1OBUSequenceHeader {
			seq, err := ParseAV1SequenceHeader(rest[:o.Len])
			if err != nil {
				return c, err
			}
			c.HasSequenceHeader, c.SequenceHeader = true, seq
			c.Width, c.Height = seq.MaxWidth, seq.MaxHeight
			return c, nil
		}
		rest = rest[o.Len:]
	}
	return c, nil
}

// FindAV1SequenceHeader returns the first sequence header OBU (header
// included) in a run of OBUs with size fields, such as an E-RTMP 'av01'
// CodedFrames body (a temporal unit), or nil. It stops at the first OBU
// that does not parse.
func FindAV1SequenceHeader(obus []byte) []byte {
	for len(obus) > 0 {
		o, err := ParseAV1OBU(obus)
		if err != nil {
			return nil
		}
		if o.Type == AV1OBUSequenceHeader {
			return obus[:o.Len:o.Len]
		}
		obus = obus[o.Len:]
	}
	return nil
}
