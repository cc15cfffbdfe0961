package flv

import "fmt"

// VPConfig is what ParseVPCodecConfig extracts from a
// VPCodecConfigurationRecord.
type VPConfig struct {
	// Profile (0..3) and Level (10 × the level: 31 is level 3.1; 0 when
	// the writer did not know it, as ffmpeg writes it then).
	Profile, Level uint8
	// BitDepth in bits (8, 10, 12).
	BitDepth int
	// ChromaSubsampling: 0 4:2:0 vertical, 1 4:2:0 co-located with luma,
	// 2 4:2:2, 3 4:4:4.
	ChromaSubsampling uint8
	FullRange         bool
	// ColourPrimaries, TransferCharacteristics and MatrixCoefficients are
	// ISO/IEC 23091-2 code points.
	ColourPrimaries, TransferCharacteristics, MatrixCoefficients uint8
	// CodecInitData is codecIntializationData (empty for VP8 and VP9); it
	// aliases the input.
	CodecInitData []byte
}

// vpConfigSize is the fixed part of a VPCodecConfigurationRecord.
const vpConfigSize = 8

// ParseVPCodecConfig parses a VPCodecConfigurationRecord (VP Codec ISO
// Media File Format Binding, "vpcC"), the body of an E-RTMP 'vp09' or
// 'vp08' SequenceStart. Writers differ on whether the vpcC box's version
// (1) and flags (0) come first, as ffmpeg's FLV muxer writes them: a
// record that starts with 01 00 00 00 is read after those 4 bytes (a bare
// record cannot start so: its third byte holds the bit depth, never 0).
func ParseVPCodecConfig(b []byte) (VPConfig, error) {
	var c VPConfig
	if len(b) >= 4+vpConfigSize && b[0] == 1 && b[1] == 0 && b[2] == 0 && b[3] == 0 {
		b = b[4:]
	}
	if len(b) < vpConfigSize {
		return c, fmt.Errorf("%w: VPCodecConfigurationRecord of %d bytes", ErrShortPayload, len(b))
	}
	c.Profile, c.Level = b[0], b[1]
	c.BitDepth = int(b[2] >> 4)
	c.ChromaSubsampling = (b[2] >> 1) & 0x07
	c.FullRange = b[2]&0x01 != 0
	c.ColourPrimaries, c.TransferCharacteristics, c.MatrixCoefficients = b[3], b[4], b[5]
	n := int(b[6])<<8 | int(b[7])
	if len(b)-vpConfigSize < n {
		return c, fmt.Errorf("%w: codec initialization data of %d bytes, %d left", ErrShortPayload, n, len(b)-vpConfigSize)
	}
	c.CodecInitData = b[vpConfigSize : vpConfigSize+n : vpConfigSize+n]
	switch {
	case c.Profile > 3:
		return c, fmt.Errorf("%w: VP profile %d", ErrMalformed, c.Profile)
	case c.BitDepth != 8 && c.BitDepth != 10 && c.BitDepth != 12:
		return c, fmt.Errorf("%w: bit depth %d", ErrMalformed, c.BitDepth)
	case c.ChromaSubsampling > 3:
		return c, fmt.Errorf("%w: chroma subsampling %d", ErrMalformed, c.ChromaSubsampling)
	}
	return c, nil
}

// VP9FrameHeader is what ParseVP9FrameHeader reads from the start of a
// VP9 frame's uncompressed header.
type VP9FrameHeader struct {
	// Profile is 0..3.
	Profile uint8
	// ShowExistingFrame reports a frame that only shows an earlier one;
	// nothing else is read then.
	ShowExistingFrame bool
	// KeyFrame reports frame_type KEY_FRAME.
	KeyFrame       bool
	ShowFrame      bool
	ErrorResilient bool

	// For key frames, color_config() and frame_size(): BitDepth,
	// ColorSpace (7 is RGB), FullRange, the chroma subsampling (both set
	// for 4:2:0) and the frame size.
	BitDepth                   int
	ColorSpace                 uint8
	FullRange                  bool
	SubsamplingX, SubsamplingY bool
	Width, Height              int
}

// vp9SyncCode is frame_sync_code() of key and intra-only frames.
const vp9SyncCode = 0x498342

// vp9ColorSpaceRGB is color_space CS_RGB.
const vp9ColorSpaceRGB = 7

// ParseVP9FrameHeader parses the start of a VP9 uncompressed header (VP9
// bitstream specification 6.2): frame marker, profile, show_existing_frame,
// frame type, show_frame, error_resilient_mode and, for a key frame, the
// sync code, color_config() and frame_size(). frame is a VP9 frame or
// superframe (its first frame comes first), as an E-RTMP 'vp09'
// CodedFrames body or an IVF frame carries it.
func ParseVP9FrameHeader(frame []byte) (VP9FrameHeader, error) {
	var h VP9FrameHeader
	if len(frame) == 0 {
		return h, fmt.Errorf("%w: empty VP9 frame", ErrShortPayload)
	}
	r := newBitReader(frame, false)
	if r.u(2) != 2 {
		return h, fmt.Errorf("%w: VP9 frame marker", ErrMalformed)
	}
	low := r.u(1)
	h.Profile = uint8(r.u(1)<<1 | low)
	if h.Profile == 3 && r.flag() {
		return h, fmt.Errorf("%w: VP9 reserved_zero bit set", ErrMalformed)
	}
	if h.ShowExistingFrame = r.flag(); h.ShowExistingFrame {
		r.u(3) // frame_to_show_map_idx
		if r.failed() {
			return h, fmt.Errorf("%w: truncated VP9 frame header", ErrShortPayload)
		}
		return h, nil
	}
	h.KeyFrame = !r.flag() // frame_type 0 is KEY_FRAME
	h.ShowFrame = r.flag()
	h.ErrorResilient = r.flag()
	if !h.KeyFrame {
		if r.failed() {
			return h, fmt.Errorf("%w: truncated VP9 frame header", ErrShortPayload)
		}
		return h, nil
	}
	if r.u(24) != vp9SyncCode {
		if r.failed() {
			return h, fmt.Errorf("%w: truncated VP9 frame header", ErrShortPayload)
		}
		return h, fmt.Errorf("%w: VP9 sync code", ErrMalformed)
	}
	// color_config()
	h.BitDepth = 8
	if h.Profile >= 2 {
		h.BitDepth = 10
		if r.flag() { // ten_or_twelve_bit
			h.BitDepth = 12
		}
	}
	h.ColorSpace = uint8(r.u(3))
	if h.ColorSpace != vp9ColorSpaceRGB {
		h.FullRange = r.flag()
		h.SubsamplingX, h.SubsamplingY = true, true
		if h.Profile == 1 || h.Profile == 3 {
			h.SubsamplingX, h.SubsamplingY = r.flag(), r.flag()
			r.u(1) // reserved_zero
		}
	} else {
		h.FullRange = true
		if h.Profile == 1 || h.Profile == 3 {
			r.u(1) // reserved_zero
		}
	}
	// frame_size()
	h.Width, h.Height = int(r.u(16))+1, int(r.u(16))+1
	if r.failed() {
		return h, fmt.Errorf("%w: truncated VP9 frame header", ErrShortPayload)
	}
	return h, nil
}
