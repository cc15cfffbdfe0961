package flv

import "fmt"

// AVCConfig is the information ParseAVCDecoderConfig extracts from an
// AVCDecoderConfigurationRecord and its first sequence parameter set.
type AVCConfig struct {
	Profile, Level uint8 // AVCProfileIndication, AVCLevelIndication
	Width, Height  int   // display size in pixels, after frame cropping

	// NALULengthSize is the size in bytes of the NAL unit length prefix in
	// coded frames (lengthSizeMinusOne + 1).
	NALULengthSize int
	// SPS and PPS are the first sequence and picture parameter set NAL
	// units; they alias the parsed record. PPS is nil if there is none.
	SPS, PPS []byte
}

// maxMacroblocks bounds the coded picture size in each direction
// (16384 pixels) so width/height arithmetic stays sane on hostile input.
const maxMacroblocks = 1024

// ParseAVCDecoderConfig parses an AVCDecoderConfigurationRecord
// (ISO/IEC 14496-15 5.3.3.1) and its first SPS (exp-Golomb, including
// high-profile chroma_format_idc / scaling lists, frame_mbs_only, frame
// cropping) to get the display size.
func ParseAVCDecoderConfig(b []byte) (AVCConfig, error) {
	var c AVCConfig
	if len(b) < 6 {
		return c, fmt.Errorf("%w: AVCDecoderConfigurationRecord of %d bytes", ErrShortPayload, len(b))
	}
	if b[0] != 1 {
		return c, fmt.Errorf("%w: AVCDecoderConfigurationRecord version %d", ErrUnsupported, b[0])
	}
	c.Profile = b[1]
	c.Level = b[3]
	c.NALULengthSize = int(b[4]&0x03) + 1

	numSPS := int(b[5] & 0x1f)
	if numSPS == 0 {
		return c, fmt.Errorf("%w: AVCDecoderConfigurationRecord without SPS", ErrMalformed)
	}
	pos := 6
	for i := range numSPS {
		nalu, next, err := lengthPrefixed(b, pos)
		if err != nil {
			return c, fmt.Errorf("SPS %d: %w", i, err)
		}
		if i == 0 {
			c.SPS = nalu
		}
		pos = next
	}
	if pos >= len(b) {
		return c, fmt.Errorf("%w: missing numOfPictureParameterSets", ErrShortPayload)
	}
	numPPS := int(b[pos])
	pos++
	for i := range numPPS {
		nalu, next, err := lengthPrefixed(b, pos)
		if err != nil {
			return c, fmt.Errorf("PPS %d: %w", i, err)
		}
		if i == 0 {
			c.PPS = nalu
		}
		pos = next
	}
	// Any trailing profile-specific extension (chroma_format, bit depth,
	// SPS extensions) is not needed for the display size.

	sps, err := parseSPS(c.SPS)
	if err != nil {
		return c, err
	}
	c.Width, c.Height = sps.width, sps.height
	return c, nil
}

// lengthPrefixed returns the UI16-length-prefixed NAL unit at b[pos:] and
// the position after it.
func lengthPrefixed(b []byte, pos int) ([]byte, int, error) {
	if len(b)-pos < 2 {
		return nil, pos, fmt.Errorf("%w: missing NAL unit length", ErrShortPayload)
	}
	n := int(b[pos])<<8 | int(b[pos+1])
	pos += 2
	if len(b)-pos < n {
		return nil, pos, fmt.Errorf("%w: NAL unit of %d bytes, %d left", ErrShortPayload, n, len(b)-pos)
	}
	return b[pos : pos+n : pos+n], pos + n, nil
}

// spsInfo is what parseSPS extracts from an H.264 SPS.
type spsInfo struct {
	profile                 uint8
	chromaFormat            uint32
	separateColourPlane     bool
	scalingMatrix           bool
	frameMbsOnly            bool
	codedWidth, codedHeight int
	cropLeft, cropRight     uint32
	cropTop, cropBottom     uint32
	width, height           int // after cropping
}

// parseSPS parses an H.264 seq_parameter_set NAL unit (ITU-T H.264
// 7.3.2.1.1) up to frame cropping and computes the cropped picture size.
func parseSPS(nalu []byte) (spsInfo, error) {
	var s spsInfo
	if len(nalu) < 4 {
		return s, fmt.Errorf("%w: SPS of %d bytes", ErrShortPayload, len(nalu))
	}
	if t := nalu[0] & 0x1f; t != 7 {
		return s, fmt.Errorf("%w: NAL unit type %d is not an SPS", ErrMalformed, t)
	}
	r := newBitReader(nalu[1:], true)
	s.profile = uint8(r.u(8))
	r.u(8) // constraint_set flags + reserved_zero_2bits
	r.u(8) // level_idc
	if r.ue() > 31 {
		return s, fmt.Errorf("%w: seq_parameter_set_id out of range", ErrMalformed)
	}

	s.chromaFormat = 1 // inferred when absent
	switch s.profile {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		s.chromaFormat = r.ue()
		if s.chromaFormat > 3 {
			return s, fmt.Errorf("%w: chroma_format_idc %d", ErrMalformed, s.chromaFormat)
		}
		if s.chromaFormat == 3 {
			s.separateColourPlane = r.flag()
		}
		r.ue()   // bit_depth_luma_minus8
		r.ue()   // bit_depth_chroma_minus8
		r.flag() // qpprime_y_zero_transform_bypass_flag
		s.scalingMatrix = r.flag()
		if s.scalingMatrix {
			lists := 8
			if s.chromaFormat == 3 {
				lists = 12
			}
			for i := 0; i < lists && !r.failed(); i++ {
				if r.flag() { // seq_scaling_list_present_flag[i]
					size := 16
					if i >= 6 {
						size = 64
					}
					skipScalingList(&r, size)
				}
			}
		}
	}

	r.ue() // log2_max_frame_num_minus4
	switch pocType := r.ue(); pocType {
	case 0:
		r.ue() // log2_max_pic_order_cnt_lsb_minus4
	case 1:
		r.flag() // delta_pic_order_always_zero_flag
		r.se()   // offset_for_non_ref_pic
		r.se()   // offset_for_top_to_bottom_field
		n := r.ue()
		if n > 255 {
			return s, fmt.Errorf("%w: num_ref_frames_in_pic_order_cnt_cycle %d", ErrMalformed, n)
		}
		for i := uint32(0); i < n && !r.failed(); i++ {
			r.se() // offset_for_ref_frame[i]
		}
	case 2:
	default:
		if !r.failed() {
			return s, fmt.Errorf("%w: pic_order_cnt_type %d", ErrMalformed, pocType)
		}
	}
	r.ue()   // max_num_ref_frames
	r.flag() // gaps_in_frame_num_value_allowed_flag
	widthMbs := int64(r.ue()) + 1
	heightMapUnits := int64(r.ue()) + 1
	s.frameMbsOnly = r.flag()
	if !s.frameMbsOnly {
		r.flag() // mb_adaptive_frame_field_flag
	}
	r.flag()      // direct_8x8_inference_flag
	if r.flag() { // frame_cropping_flag
		s.cropLeft, s.cropRight, s.cropTop, s.cropBottom = r.ue(), r.ue(), r.ue(), r.ue()
	}
	if r.invalid() {
		return s, fmt.Errorf("%w: exp-Golomb code longer than 32 bits in SPS", ErrMalformed)
	}
	if r.failed() {
		return s, fmt.Errorf("%w: truncated SPS", ErrShortPayload)
	}

	// A frame holds two fields of map units when frame_mbs_only_flag is 0.
	fieldFactor := int64(2)
	if s.frameMbsOnly {
		fieldFactor = 1
	}
	heightMbs := heightMapUnits * fieldFactor
	if widthMbs > maxMacroblocks || heightMbs > maxMacroblocks {
		return s, fmt.Errorf("%w: picture of %dx%d macroblocks", ErrMalformed, widthMbs, heightMbs)
	}
	s.codedWidth, s.codedHeight = int(widthMbs)*16, int(heightMbs)*16

	// Crop units per the frame_crop_*_offset semantics (H.264 7.4.2.1.1).
	cropUnitX, cropUnitY := int64(1), fieldFactor
	if !s.separateColourPlane && s.chromaFormat != 0 { // ChromaArrayType != 0
		subWidthC, subHeightC := int64(1), int64(1)
		switch s.chromaFormat {
		case 1:
			subWidthC, subHeightC = 2, 2
		case 2:
			subWidthC = 2
		}
		cropUnitX, cropUnitY = subWidthC, subHeightC*fieldFactor
	}
	cropX := (int64(s.cropLeft) + int64(s.cropRight)) * cropUnitX
	cropY := (int64(s.cropTop) + int64(s.cropBottom)) * cropUnitY
	if cropX >= int64(s.codedWidth) || cropY >= int64(s.codedHeight) {
		return s, fmt.Errorf("%w: frame cropping exceeds the %dx%d picture", ErrMalformed, s.codedWidth, s.codedHeight)
	}
	s.width = s.codedWidth - int(cropX)
	s.height = s.codedHeight - int(cropY)
	return s, nil
}

// skipScalingList consumes a scaling_list() of the given size (H.264 7.3.2.1.1.1).
func skipScalingList(r *bitReader, size int) {
	last, next := int64(8), int64(8)
	for range size {
		if next != 0 {
			delta := r.se()
			next = (last + delta + 256) % 256
			if r.failed() {
				return
			}
		}
		if next != 0 {
			last = next
		}
	}
}
