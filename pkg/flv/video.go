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

// E-RTMP v2 AvMultitrackType values, shared by audio and video.
const (
	// MultitrackOneTrack is one track with a track id, to its end.
	MultitrackOneTrack uint8 = 0
	// MultitrackManyTracks is several tracks of one codec, each with its
	// id and size.
	MultitrackManyTracks uint8 = 1
	// MultitrackManyTracksManyCodecs is several tracks, each with its own
	// FourCC, id and size.
	MultitrackManyTracksManyCodecs uint8 = 2
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

	// Multitrack reports an E-RTMP v2 multitrack message. FourCC, Codec,
	// CompositionTime, Config and Data then describe its first track,
	// PacketType is the packet type all its tracks share, and every
	// track has been checked (framing and body); ParseVideoTracks
	// returns them all.
	Multitrack bool
	// MultitrackType is the AvMultitrackType (MultitrackOneTrack, ...).
	MultitrackType uint8
	// TrackID is the first track's id (0 without multitrack).
	TrackID uint8
	// Tracks is the number of tracks of a multitrack message (0 otherwise).
	Tracks int
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
// An E-RTMP v2 multitrack message is walked track by track (each track's
// FourCC, id and size must fit the payload); VideoInfo describes its first
// track, and ParseVideoTracks returns them all.
//
// On error the returned VideoInfo holds the fields parsed before the
// failure, which lets a relay forward tags it cannot fully interpret
// (e.g. an unknown FourCC or a reserved packet type, reported as
// ErrUnsupported).
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

// parseExVideo parses an E-RTMP ExVideoTagHeader body (bit 0x80 set):
// the header, then the first track, then (multitrack) the other tracks,
// which must be intact too.
func parseExVideo(p []byte, v *VideoInfo) error {
	h, err := parseExVideoHeader(p, v)
	if err != nil || h.command {
		return err
	}
	t, next, err := nextVideoTrack(p, h.pos, &h)
	v.FourCC, v.Codec, v.TrackID = t.FourCC, t.Codec, t.TrackID
	if err != nil {
		return err
	}
	// The frame type is to be ignored for metadata packets.
	v.Keyframe = v.FrameType == FrameKey && h.pt != VideoPacketMetadata
	v.SequenceHeader = h.pt == VideoPacketSequenceStart || h.pt == VideoPacketMPEG2TSSequenceStart
	v.EndOfSequence = h.pt == VideoPacketSequenceEnd
	v.CompositionTime, v.Config, v.Data = t.CompositionTime, t.Config, t.Data
	if t.err != nil {
		return t.err
	}
	if v.Codec == VideoCodecOther {
		return fmt.Errorf("%w: video FourCC %q", ErrUnsupported, FourCCString(v.FourCC))
	}
	if v.Multitrack {
		v.Tracks = 1
		for next < len(p) {
			var t2 VideoTrack
			if t2, next, err = nextVideoTrack(p, next, &h); err != nil {
				return err
			}
			if t2.err != nil {
				return t2.err
			}
			v.Tracks++
		}
	}
	return nil
}

// exHeader is what precedes the first track of an E-RTMP audio or video
// message.
type exHeader struct {
	pt         uint8 // packet type after ModEx and multitrack
	command    bool  // a video command frame: no FourCC, no tracks
	multitrack bool
	mtType     uint8
	fourCC     uint32 // the tracks' FourCC unless mtType is ManyTracksManyCodecs
	pos        int    // where the first track starts
}

// parseExVideoHeader reads an ExVideoTagHeader up to its first track and
// fills the header fields of v.
func parseExVideoHeader(p []byte, v *VideoInfo) (exHeader, error) {
	var h exHeader
	v.Enhanced = true
	v.FrameType = (p[0] >> 4) & 0x07
	pos, pt, nano, err := skipModEx(p, 1, p[0]&0x0f)
	v.PacketType = pt
	v.NanoOffset = nano
	h.pt = pt
	if err != nil {
		return h, err
	}
	if pt != VideoPacketMetadata {
		if v.FrameType == 0 || v.FrameType > FrameCommand {
			return h, fmt.Errorf("%w: reserved video frame type %d", ErrUnsupported, v.FrameType)
		}
		if v.FrameType == FrameCommand {
			// videoCommand UI8 follows; there is no FourCC and no video body.
			if pos >= len(p) {
				return h, fmt.Errorf("%w: missing video command", ErrShortPayload)
			}
			v.Data = p[pos:]
			h.command = true
			return h, nil
		}
	}
	if pt == VideoPacketMultitrack {
		h.pos, err = parseMultitrackHeader(p, pos, &h, VideoPacketMultitrack, packetTypeModEx)
		v.Multitrack, v.MultitrackType, v.PacketType = true, h.mtType, h.pt
		return h, err
	}
	if len(p)-pos < 4 {
		return h, fmt.Errorf("%w: missing video FourCC", ErrShortPayload)
	}
	h.fourCC = be32(p[pos:])
	h.pos = pos
	return h, nil
}

// parseMultitrackHeader reads the AvMultitrackType and packet type byte and
// the shared FourCC of a multitrack message at p[pos:] (after the packet
// type Multitrack) and returns where the first track starts.
func parseMultitrackHeader(p []byte, pos int, h *exHeader, multitrack, modEx uint8) (int, error) {
	h.multitrack = true
	if pos >= len(p) {
		return pos, fmt.Errorf("%w: missing multitrack type", ErrShortPayload)
	}
	h.mtType, h.pt = p[pos]>>4, p[pos]&0x0f
	pos++
	if h.pt == multitrack || h.pt == modEx {
		return pos, fmt.Errorf("%w: multitrack packet type %d", ErrMalformed, h.pt)
	}
	if h.mtType > MultitrackManyTracksManyCodecs {
		return pos, fmt.Errorf("%w: reserved multitrack type %d", ErrUnsupported, h.mtType)
	}
	if h.mtType != MultitrackManyTracksManyCodecs {
		if len(p)-pos < 4 {
			return pos, fmt.Errorf("%w: missing multitrack FourCC", ErrShortPayload)
		}
		h.fourCC = be32(p[pos:])
		pos += 4
	}
	return pos, nil
}

// nextTrack reads the framing of one track at p[pos:]: its FourCC (when
// each track has its own), track id and size (except for a single track,
// which runs to the end). It returns the track's body and where the next
// track starts. Without multitrack, p[pos:] is the FourCC and what follows
// it is the one track.
func nextTrack(p []byte, pos int, h *exHeader) (fourCC uint32, id uint8, body []byte, next int, err error) {
	fourCC = h.fourCC
	if !h.multitrack {
		return fourCC, 0, p[pos+4:], len(p), nil
	}
	if h.mtType == MultitrackManyTracksManyCodecs {
		if len(p)-pos < 4 {
			return 0, 0, nil, pos, fmt.Errorf("%w: missing track FourCC", ErrShortPayload)
		}
		fourCC = be32(p[pos:])
		pos += 4
	}
	if pos >= len(p) {
		return fourCC, 0, nil, pos, fmt.Errorf("%w: missing track id", ErrShortPayload)
	}
	id = p[pos]
	pos++
	if h.mtType == MultitrackOneTrack {
		return fourCC, id, p[pos:], len(p), nil
	}
	if len(p)-pos < 3 {
		return fourCC, id, nil, pos, fmt.Errorf("%w: missing track size", ErrShortPayload)
	}
	size := int(p[pos])<<16 | int(p[pos+1])<<8 | int(p[pos+2])
	pos += 3
	if len(p)-pos < size {
		return fourCC, id, nil, pos, fmt.Errorf("%w: track of %d bytes, %d left", ErrShortPayload, size, len(p)-pos)
	}
	return fourCC, id, p[pos : pos+size : pos+size], pos + size, nil
}

// VideoTrack is one track of an E-RTMP video message, as ParseVideoTracks
// returns it. Config and Data alias the payload.
type VideoTrack struct {
	// TrackID is the multitrack track id; 0 without multitrack.
	TrackID uint8
	FourCC  uint32
	Codec   VideoCodec // VideoCodecOther for a FourCC this package does not know
	// CompositionTime is the composition time offset in ms ('avc1' and
	// 'hvc1' CodedFrames).
	CompositionTime int32
	// Config is the track's configuration record for a sequence start;
	// Data its coded frames, metadata or end-of-sequence body otherwise.
	Config, Data []byte

	err error // the body does not fit the packet type (kept for ParseVideo)
}

// nextVideoTrack reads the track at p[pos:] and parses its body by the
// packet type. A body that does not fit is reported in t.err, the framing
// error (if any) as err.
func nextVideoTrack(p []byte, pos int, h *exHeader) (t VideoTrack, next int, err error) {
	var body []byte
	t.FourCC, t.TrackID, body, next, err = nextTrack(p, pos, h)
	t.Codec = videoCodecOf(t.FourCC)
	if err != nil {
		return t, next, err
	}
	switch h.pt {
	case VideoPacketSequenceStart, VideoPacketMPEG2TSSequenceStart:
		t.Config = body
	case VideoPacketCodedFrames:
		if t.Codec == VideoCodecAVC || t.Codec == VideoCodecHEVC {
			if len(body) < 3 {
				t.err = fmt.Errorf("%w: missing composition time", ErrShortPayload)
				return t, next, nil
			}
			t.CompositionTime = si24(body)
			body = body[3:]
		}
		t.Data = body
	case VideoPacketCodedFramesX, VideoPacketMetadata, VideoPacketSequenceEnd:
		t.Data = body
	default:
		t.err = fmt.Errorf("%w: reserved video packet type %d", ErrUnsupported, h.pt)
	}
	return t, next, nil
}

// videoCodecOf maps an E-RTMP video FourCC to its codec.
func videoCodecOf(fourCC uint32) VideoCodec {
	switch fourCC {
	case FourCCAVC:
		return VideoCodecAVC
	case FourCCHEVC:
		return VideoCodecHEVC
	case FourCCAV1:
		return VideoCodecAV1
	case FourCCVP9:
		return VideoCodecVP9
	case FourCCVP8:
		return VideoCodecVP8
	}
	return VideoCodecOther
}

// ParseVideoTracks appends every track of an E-RTMP video message to dst:
// one for a single-track message, each track of a multitrack one (E-RTMP
// v2). The packet type, frame type and the rest of the header are
// ParseVideo's. It returns ErrUnsupported for a legacy body, a command
// frame or a reserved packet type, and the tracks read before any error.
// It allocates only when dst must grow.
func ParseVideoTracks(dst []VideoTrack, payload []byte) ([]VideoTrack, error) {
	if len(payload) == 0 {
		return dst, fmt.Errorf("%w: empty video body", ErrShortPayload)
	}
	if payload[0]&0x80 == 0 {
		return dst, fmt.Errorf("%w: legacy video body has no tracks", ErrUnsupported)
	}
	var v VideoInfo
	h, err := parseExVideoHeader(payload, &v)
	if err != nil {
		return dst, err
	}
	if h.command {
		return dst, fmt.Errorf("%w: video command frame has no tracks", ErrUnsupported)
	}
	for pos, first := h.pos, true; first || pos < len(payload); first = false {
		t, next, err := nextVideoTrack(payload, pos, &h)
		if err != nil {
			return dst, err
		}
		if t.err != nil {
			return dst, t.err
		}
		dst = append(dst, t)
		pos = next
		if !h.multitrack {
			break
		}
	}
	return dst, nil
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
