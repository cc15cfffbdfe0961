// Package flv builds FLV tag bytes and parses the codec headers carried in
// FLV/RTMP audio and video payloads: legacy AVC/HEVC (codec id 12) and AAC,
// enhanced RTMP v1/v2 headers (hvc1, av01, vp09, vp08, avc1; mp4a, Opus,
// fLaC, ac-3, ec-3, .mp3; ModEx; multitrack, walked track by track), the
// codec configuration records and what they carry (AVC and HEVC decoder
// configuration records and their SPS, the AV1CodecConfigurationRecord
// and sequence header OBU, the VPCodecConfigurationRecord, a VP9 frame's
// uncompressed header), the AudioSpecificConfig, onMetaData, and whole FLV
// files or streams (Reader). It depends on the standard library only and
// is meant to be imported by other Go projects; every parser is fuzzed
// (fuzz_test.go).
//
// The builders are meant for the hot path of a live origin: every incoming
// RTMP audio, video or data message is turned into FLV tag bytes once, and
// those bytes are shared read-only among all players. PutTagHeader,
// PutPrevTagSize, PutTag and AppendTag write into caller-provided memory and
// never allocate when the destination is large enough.
//
// The parsers (ParseVideo, ParseAudio, ParseAVCDecoderConfig,
// ParseHEVCDecoderConfig, ParseHEVCSPS, ParseAV1CodecConfig,
// ParseAV1SequenceHeader, ParseAV1OBU, ParseVPCodecConfig,
// ParseVP9FrameHeader, ParseAudioSpecificConfig) never panic and never
// allocate on success; the slices they return alias the input.
// ParseVideoTracks and ParseAudioTracks allocate only to grow the slice
// they are given.
//
// References: Adobe "Video File Format Specification" v10.1 (FLV),
// Veovera "Enhanced RTMP" v1/v2, ISO/IEC 14496-15 (AVC/HEVC decoder
// configuration records), ITU-T H.264 7.3.2.1 and H.265 7.3.2.2 (SPS), the
// AV1 bitstream specification 5.3-5.5 and its ISOBMFF binding (av1C), the
// VP9 bitstream specification 6.2 and the VP codec ISOBMFF binding (vpcC),
// and ISO/IEC 14496-3 1.6.2.1 (AudioSpecificConfig).
package flv

import (
	"encoding/binary"
	"errors"
	"slices"
)

// FLV tag types.
const (
	TagAudio  uint8 = 8
	TagVideo  uint8 = 9
	TagScript uint8 = 18
)

// Fixed sizes of the FLV container.
const (
	// TagHeaderSize is the number of bytes of a tag header, before the payload.
	TagHeaderSize = 11
	// PrevTagSizeLen is the size of the PreviousTagSize field that follows every tag.
	PrevTagSizeLen = 4
	// HeaderSize is the size of the FLV file header (without PreviousTagSize0).
	HeaderSize = 9
	// MaxTagSize is the largest payload a Reader accepts by default (16 MiB).
	MaxTagSize = 16 << 20
)

// maxDataSize is the largest payload the 24-bit DataSize field can describe.
const maxDataSize = 1<<24 - 1

// Sentinel errors. Errors returned by this package wrap one of these, so
// callers can branch with errors.Is.
var (
	// ErrShortPayload reports input that ends before a required field.
	ErrShortPayload = errors.New("flv: short payload")
	// ErrUnsupported reports a reserved, unknown or unimplemented value
	// (e.g. an unknown FourCC or E-RTMP multitrack).
	ErrUnsupported = errors.New("flv: unsupported")
	// ErrMalformed reports input whose fields are present but invalid.
	ErrMalformed = errors.New("flv: malformed")
	// ErrBadHeader reports an invalid FLV file header.
	ErrBadHeader = errors.New("flv: bad header")
	// ErrBadPrevTagSize reports a PreviousTagSize that does not match the tag before it.
	ErrBadPrevTagSize = errors.New("flv: bad PreviousTagSize")
	// ErrTagTooLarge reports a tag whose payload exceeds the Reader's limit.
	ErrTagTooLarge = errors.New("flv: tag too large")
)

// TagSize is the number of bytes a tag with a payload of n bytes takes
// including its header and trailing PreviousTagSize.
func TagSize(n int) int {
	return TagHeaderSize + n + PrevTagSizeLen
}

// AppendHeader appends the 9-byte FLV header with the audio/video flags and
// the 4-byte PreviousTagSize0.
func AppendHeader(dst []byte, hasAudio, hasVideo bool) []byte {
	var flags byte
	if hasAudio {
		flags |= 0x04
	}
	if hasVideo {
		flags |= 0x01
	}
	return append(dst, 'F', 'L', 'V', 1, flags, 0, 0, 0, HeaderSize, 0, 0, 0, 0)
}

// PutTagHeader writes the 11-byte tag header (type, 24-bit data size,
// timestamp lower 24 bits + extended byte, stream id 0) into dst[:11].
// It panics if dst is shorter than TagHeaderSize or dataSize does not fit
// in 24 bits.
func PutTagHeader(dst []byte, typ uint8, timestamp uint32, dataSize int) {
	if dataSize < 0 || dataSize > maxDataSize {
		panic("flv: tag data size out of range")
	}
	_ = dst[10] // bounds check hint
	dst[0] = typ
	dst[1] = byte(dataSize >> 16)
	dst[2] = byte(dataSize >> 8)
	dst[3] = byte(dataSize)
	dst[4] = byte(timestamp >> 16)
	dst[5] = byte(timestamp >> 8)
	dst[6] = byte(timestamp)
	dst[7] = byte(timestamp >> 24) // TimestampExtended
	dst[8] = 0                     // StreamID, always 0
	dst[9] = 0
	dst[10] = 0
}

// PutPrevTagSize writes the trailing 4-byte PreviousTagSize
// (= TagHeaderSize+dataSize) into dst[:4].
func PutPrevTagSize(dst []byte, dataSize int) {
	binary.BigEndian.PutUint32(dst, uint32(TagHeaderSize+dataSize))
}

// PutTag writes a whole tag (header, payload and PreviousTagSize) into
// dst[:TagSize(len(payload))] and returns the number of bytes written.
// It panics if dst is too short.
func PutTag(dst []byte, typ uint8, timestamp uint32, payload []byte) int {
	n := TagSize(len(payload))
	_ = dst[n-1] // bounds check hint; panics early if dst is too short
	PutTagHeader(dst, typ, timestamp, len(payload))
	copy(dst[TagHeaderSize:], payload)
	PutPrevTagSize(dst[TagHeaderSize+len(payload):], len(payload))
	return n
}

// AppendTag appends a whole tag (header, payload and PreviousTagSize) to dst.
// It does not allocate when cap(dst)-len(dst) >= TagSize(len(payload)).
func AppendTag(dst []byte, typ uint8, timestamp uint32, payload []byte) []byte {
	off := len(dst)
	dst = slices.Grow(dst, TagSize(len(payload)))
	dst = dst[:off+TagSize(len(payload))]
	PutTag(dst[off:], typ, timestamp, payload)
	return dst
}

// SetTagTimestamp rewrites the timestamp of a whole tag in place.
// tag must start with a tag header.
func SetTagTimestamp(tag []byte, timestamp uint32) {
	_ = tag[7] // bounds check hint
	tag[4] = byte(timestamp >> 16)
	tag[5] = byte(timestamp >> 8)
	tag[6] = byte(timestamp)
	tag[7] = byte(timestamp >> 24)
}

// TagTimestamp returns the 32-bit timestamp stored in a tag header.
func TagTimestamp(tag []byte) uint32 {
	_ = tag[7] // bounds check hint
	return uint32(tag[7])<<24 | uint32(tag[4])<<16 | uint32(tag[5])<<8 | uint32(tag[6])
}

// FourCC packs a four-character code such as "hvc1" into the big-endian
// uint32 used on the wire. It returns 0 if s is not exactly four bytes.
func FourCC(s string) uint32 {
	if len(s) != 4 {
		return 0
	}
	return uint32(s[0])<<24 | uint32(s[1])<<16 | uint32(s[2])<<8 | uint32(s[3])
}

// FourCCString returns the four characters of a packed FourCC, for logging.
func FourCCString(v uint32) string {
	b := [4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
	return string(b[:])
}
