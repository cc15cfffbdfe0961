package flv

import "fmt"

// VideoCodec identifies the video codec of a video tag.
type VideoCodec uint8

// Video codecs recognised by ParseVideo.
const (
	// VideoCodecOther is any codec ParseVideo does not interpret
	// (Sorenson H.263, VP6, screen video, unknown FourCCs, ...).
	VideoCodecOther VideoCodec = iota
	// VideoCodecAVC is H.264: legacy codec id 7 or E-RTMP FourCC 'avc1'.
	VideoCodecAVC
	// VideoCodecHEVC is H.265: legacy extension codec id 12 or E-RTMP 'hvc1'.
	VideoCodecHEVC
	// VideoCodecAV1 is AV1: E-RTMP 'av01'.
	VideoCodecAV1
	// VideoCodecVP9 is VP9: E-RTMP 'vp09'.
	VideoCodecVP9
	// VideoCodecVP8 is VP8: E-RTMP 'vp08'.
	VideoCodecVP8
)

// String returns the codec's short name.
func (c VideoCodec) String() string {
	switch c {
	case VideoCodecOther:
		return "Other"
	case VideoCodecAVC:
		return "AVC"
	case VideoCodecHEVC:
		return "HEVC"
	case VideoCodecAV1:
		return "AV1"
	case VideoCodecVP9:
		return "VP9"
	case VideoCodecVP8:
		return "VP8"
	}
	return fmt.Sprintf("VideoCodec(%d)", uint8(c))
}

// Legacy FLV video codec ids (VideoTagHeader CodecID).
const (
	// CodecIDAVC is the legacy FLV codec id of H.264.
	CodecIDAVC uint8 = 7
	// CodecIDHEVC is the non-standard legacy codec id used for H.265 by
	// several (mostly Chinese) encoders and servers before E-RTMP.
	CodecIDHEVC uint8 = 12
)

// Video frame types (VideoTagHeader FrameType).
const (
	FrameKey          uint8 = 1 // seekable frame
	FrameInter        uint8 = 2 // non-seekable frame
	FrameDisposable   uint8 = 3 // disposable inter frame (H.263 only)
	FrameGeneratedKey uint8 = 4 // generated key frame, reserved for server use
	FrameCommand      uint8 = 5 // video info / command frame, carries no video
)

// E-RTMP VideoPacketType values. The legacy AVC/HEVC AVCPacketType values
// 0 (sequence header), 1 (NALU) and 2 (end of sequence) coincide with the
// first three.
const (
	VideoPacketSequenceStart        uint8 = 0
	VideoPacketCodedFrames          uint8 = 1
	VideoPacketSequenceEnd          uint8 = 2
	VideoPacketCodedFramesX         uint8 = 3 // CodedFrames with an implicit composition time of 0
	VideoPacketMetadata             uint8 = 4 // AMF-encoded metadata, e.g. colorInfo
	VideoPacketMPEG2TSSequenceStart uint8 = 5
	VideoPacketMultitrack           uint8 = 6
	VideoPacketModEx                uint8 = 7
)

// E-RTMP video FourCCs.
const (
	FourCCAVC  uint32 = 'a'<<24 | 'v'<<16 | 'c'<<8 | '1'
	FourCCHEVC uint32 = 'h'<<24 | 'v'<<16 | 'c'<<8 | '1'
	FourCCAV1  uint32 = 'a'<<24 | 'v'<<16 | '0'<<8 | '1'
	FourCCVP9  uint32 = 'v'<<24 | 'p'<<16 | '0'<<8 | '9'
	FourCCVP8  uint32 = 'v'<<24 | 'p'<<16 | '0'<<8 | '8'
)

// VideoInfo describes a video tag body as returned by ParseVideo.
// Config and Data alias the parsed payload.
type VideoInfo struct {
	Codec          VideoCodec
	Enhanced       bool   // E-RTMP ExVideoTagHeader
	FourCC         uint32 // for enhanced tags
	Keyframe       bool   // frame type 1 (key) — true for enhanced key frames too
	SequenceHeader bool   // AVC packet type 0 / E-RTMP SequenceStart (or MPEG2TSSequenceStart)
	EndOfSequence  bool
	Config         []byte // the decoder configuration record (sub-slice of payload) when SequenceHeader

	// FrameType is the raw frame type (FrameKey ... FrameCommand).
	FrameType uint8
	// CodecID is the legacy codec id; 0 for enhanced tags.
	CodecID uint8
	// PacketType is the AVCPacketType (legacy AVC/HEVC) or the E-RTMP
	// VideoPacketType after any ModEx prefixes. It is only meaningful for
	// legacy AVC/HEVC bodies of at least 2 bytes and for enhanced tags.
	PacketType uint8
	// CompositionTime is the signed composition time offset in milliseconds
	// (legacy AVC/HEVC and E-RTMP 'avc1'/'hvc1' CodedFrames).
	CompositionTime int32
	// NanoOffset is the E-RTMP ModEx TimestampOffsetNano value, in nanoseconds.
	NanoOffset uint32
	// Data is the rest of the body after all headers when it is not a
	// sequence header: coded frames, AMF metadata (VideoPacketMetadata) or
	// the command byte of a command frame. It aliases the payload.
	Data []byte
}

// ParseVideo reads a video tag body (the RTMP video message payload).
//
// It understands legacy AVC (codec id 7), the legacy HEVC extension (codec
// id 12) and E-RTMP ExVideoTagHeader bodies (including ModEx prefixes).
// Other legacy codecs are reported as VideoCodecOther with their frame type.
// A legacy AVC/HEVC body of 1-4 bytes is accepted: whatever fields it holds
// are reported. Frame type 5 (command frame) is never a key frame.
//
// Keyframe reflects the frame type only, so it is also true for sequence
// headers and end-of-sequence bodies sent with frame type 1 (ffmpeg ends
// H.264 streams with 0x17 0x02): a coded key frame is
// Keyframe && !SequenceHeader && !EndOfSequence. E-RTMP Metadata packets
// are never key frames, as their frame type is to be ignored.
//
// On error the returned VideoInfo holds the fields parsed before the
// failure, which lets a relay forward tags it cannot fully interpret
// (e.g. E-RTMP multitrack, reported as ErrUnsupported).
func ParseVideo(payload []byte) (VideoInfo, error) {
	var v VideoInfo
	if len(payload) == 0 {
		return v, fmt.Errorf("%w: empty video body", ErrShortPayload)
	}
	b0 := payload[0]
	if b0&0x80 != 0 {
		err := parseExVideo(payload, &v)
		return v, err
	}

	v.FrameType = b0 >> 4
	v.CodecID = b0 & 0x0f
	switch v.CodecID {
	case CodecIDAVC:
		v.Codec = VideoCodecAVC
	case CodecIDHEVC:
		v.Codec = VideoCodecHEVC
	}
	if v.FrameType == 0 || v.FrameType > FrameCommand {
		return v, fmt.Errorf("%w: reserved video frame type %d", ErrUnsupported, v.FrameType)
	}
	v.Keyframe = v.FrameType == FrameKey
	if v.FrameType == FrameCommand || v.Codec == VideoCodecOther {
		// A command frame carries a UI8 command instead of video; other
		// codecs have no further header we interpret.
		v.Data = payload[1:]
		return v, nil
	}

	// AVC / HEVC: AVCPacketType UI8, CompositionTime SI24, data.
	if len(payload) < 2 {
		return v, nil
	}
	v.PacketType = payload[1]
	switch v.PacketType {
	case VideoPacketSequenceStart:
		v.SequenceHeader = true
	case VideoPacketCodedFrames:
	case VideoPacketSequenceEnd:
		v.EndOfSequence = true
	default:
		return v, fmt.Errorf("%w: AVC packet type %d", ErrUnsupported, v.PacketType)
	}
	if len(payload) < 5 {
		return v, nil
	}
	v.CompositionTime = si24(payload[2:5])
	if v.SequenceHeader {
		v.Config = payload[5:]
	} else {
		v.Data = payload[5:]
	}
	return v, nil
}

// parseExVideo parses an E-RTMP ExVideoTagHeader body (bit 0x80 set).
func parseExVideo(p []byte, v *VideoInfo) error {
	v.Enhanced = true
	v.FrameType = (p[0] >> 4) & 0x07
	pos, pt, nano, err := skipModEx(p, 1, p[0]&0x0f)
	v.PacketType = pt
	v.NanoOffset = nano
	if err != nil {
		return err
	}

	if pt != VideoPacketMetadata {
		if v.FrameType == 0 || v.FrameType > FrameCommand {
			return fmt.Errorf("%w: reserved video frame type %d", ErrUnsupported, v.FrameType)
		}
		if v.FrameType == FrameCommand {
			// videoCommand UI8 follows; there is no FourCC and no video body.
			if pos >= len(p) {
				return fmt.Errorf("%w: missing video command", ErrShortPayload)
			}
			v.Data = p[pos:]
			return nil
		}
	}
	if pt == VideoPacketMultitrack {
		return fmt.Errorf("%w: E-RTMP video multitrack", ErrUnsupported)
	}
	if len(p)-pos < 4 {
		return fmt.Errorf("%w: missing video FourCC", ErrShortPayload)
	}
	v.FourCC = be32(p[pos:])
	pos += 4
	switch v.FourCC {
	case FourCCAVC:
		v.Codec = VideoCodecAVC
	case FourCCHEVC:
		v.Codec = VideoCodecHEVC
	case FourCCAV1:
		v.Codec = VideoCodecAV1
	case FourCCVP9:
		v.Codec = VideoCodecVP9
	case FourCCVP8:
		v.Codec = VideoCodecVP8
	}
	// The frame type is to be ignored for metadata packets.
	v.Keyframe = v.FrameType == FrameKey && pt != VideoPacketMetadata

	body := p[pos:]
	switch pt {
	case VideoPacketSequenceStart, VideoPacketMPEG2TSSequenceStart:
		v.SequenceHeader = true
		v.Config = body
	case VideoPacketCodedFrames:
		if v.Codec == VideoCodecAVC || v.Codec == VideoCodecHEVC {
			if len(body) < 3 {
				return fmt.Errorf("%w: missing composition time", ErrShortPayload)
			}
			v.CompositionTime = si24(body)
			body = body[3:]
		}
		v.Data = body
	case VideoPacketCodedFramesX, VideoPacketMetadata:
		v.Data = body
	case VideoPacketSequenceEnd:
		v.EndOfSequence = true
		v.Data = body
	default:
		return fmt.Errorf("%w: reserved video packet type %d", ErrUnsupported, pt)
	}
	if v.Codec == VideoCodecOther {
		return fmt.Errorf("%w: video FourCC %q", ErrUnsupported, FourCCString(v.FourCC))
	}
	return nil
}

// modExTimestampOffsetNano is the Video/AudioPacketModExType of a
// nanosecond timestamp offset.
const modExTimestampOffsetNano = 0

// packetTypeModEx is the Video/AudioPacketType value announcing ModEx data.
const packetTypeModEx = 7

// skipModEx consumes the E-RTMP ModEx prefixes that follow a packet type of
// ModEx (7), starting at p[pos]. It returns the position after them, the
// final packet type and the TimestampOffsetNano value if one was present.
//
// Each ModEx block is: size UI8 (+1; 256 means a UI16 size (+1) follows),
// the data, then a byte holding the ModEx type (high nibble) and the next
// packet type (low nibble).
func skipModEx(p []byte, pos int, pt uint8) (int, uint8, uint32, error) {
	var nano uint32
	for pt == packetTypeModEx {
		if pos >= len(p) {
			return pos, pt, nano, fmt.Errorf("%w: missing ModEx size", ErrShortPayload)
		}
		size := int(p[pos]) + 1
		pos++
		if size == 256 {
			if len(p)-pos < 2 {
				return pos, pt, nano, fmt.Errorf("%w: missing ModEx size", ErrShortPayload)
			}
			size = (int(p[pos])<<8 | int(p[pos+1])) + 1
			pos += 2
		}
		if len(p)-pos < size+1 {
			return pos, pt, nano, fmt.Errorf("%w: ModEx data of %d bytes", ErrShortPayload, size)
		}
		data := p[pos : pos+size]
		pos += size
		modType := p[pos] >> 4
		pt = p[pos] & 0x0f
		pos++
		if modType == modExTimestampOffsetNano {
			if len(data) < 3 {
				return pos, pt, nano, fmt.Errorf("%w: TimestampOffsetNano needs 3 bytes, got %d", ErrMalformed, len(data))
			}
			nano = uint32(data[0])<<16 | uint32(data[1])<<8 | uint32(data[2])
		}
		// Other ModEx types are reserved: their data is skipped.
	}
	return pos, pt, nano, nil
}

// si24 reads a big-endian signed 24-bit integer.
func si24(b []byte) int32 {
	_ = b[2]
	return int32(uint32(b[0])<<24|uint32(b[1])<<16|uint32(b[2])<<8) >> 8
}

// be32 reads a big-endian uint32.
func be32(b []byte) uint32 {
	_ = b[3]
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
