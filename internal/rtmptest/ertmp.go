package rtmptest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/headwater-media/headwater/pkg/flv"
)

// Enhanced RTMP (veovera E-RTMP v1/v2) message payloads, written from the
// specification: what a publisher such as OBS 30 or ffmpeg 7 sends. The
// payloads are laid out exactly as FLV tag bodies.

// ErrNoFrames reports an elementary stream with nothing to publish.
var ErrNoFrames = errors.New("rtmptest: no frames")

// exVideoHeader is the first byte of an ExVideoTagHeader: IsExHeader,
// the frame type and the packet type.
func exVideoHeader(key bool, packetType byte) byte {
	frameType := flv.FrameInter
	if key {
		frameType = flv.FrameKey
	}
	return 0x80 | frameType<<4 | packetType
}

// hasCompositionTime reports the FourCCs whose CodedFrames carry an SI24
// composition time.
func hasCompositionTime(fourCC string) bool { return fourCC == "avc1" || fourCC == "hvc1" }

// VideoSequenceStart is an E-RTMP SequenceStart: the codec configuration
// record (HEVCDecoderConfigurationRecord, AV1CodecConfigurationRecord,
// VPCodecConfigurationRecord) of fourCC, with the key frame type.
func VideoSequenceStart(fourCC string, record []byte) []byte {
	p := append([]byte{exVideoHeader(true, flv.VideoPacketSequenceStart)}, fourCC...)
	return append(p, record...)
}

// VideoCodedFrames is an E-RTMP CodedFrames packet; for 'avc1' and 'hvc1'
// it carries the composition time offset cts (ms), for the other FourCCs
// cts must be 0.
func VideoCodedFrames(fourCC string, key bool, cts int32, data []byte) []byte {
	p := append([]byte{exVideoHeader(key, flv.VideoPacketCodedFrames)}, fourCC...)
	if hasCompositionTime(fourCC) {
		p = append(p, byte(cts>>16), byte(cts>>8), byte(cts))
	} else if cts != 0 {
		panic("rtmptest: a composition time for " + fourCC)
	}
	return append(p, data...)
}

// VideoCodedFramesX is an E-RTMP CodedFramesX packet: coded frames with
// an implicit composition time of 0.
func VideoCodedFramesX(fourCC string, key bool, data []byte) []byte {
	p := append([]byte{exVideoHeader(key, flv.VideoPacketCodedFramesX)}, fourCC...)
	return append(p, data...)
}

// VideoSequenceEnd is an E-RTMP SequenceEnd packet.
func VideoSequenceEnd(fourCC string) []byte {
	return append([]byte{exVideoHeader(true, flv.VideoPacketSequenceEnd)}, fourCC...)
}

// VideoMetadata is an E-RTMP Metadata packet carrying AMF0 name/value
// pairs (e.g. "colorInfo" and an object); see AMF0.
func VideoMetadata(fourCC string, amf []byte) []byte {
	p := append([]byte{exVideoHeader(false, flv.VideoPacketMetadata)}, fourCC...)
	return append(p, amf...)
}

// WithModExNano puts a ModEx TimestampOffsetNano (E-RTMP v2) in front of
// the packet type of an E-RTMP audio or video payload: the payload's own
// packet type moves behind the ModEx data.
func WithModExNano(payload []byte, nanos uint32) []byte {
	if nanos > 999999 {
		panic("rtmptest: TimestampOffsetNano over 999999")
	}
	pt := payload[0] & 0x0f
	out := []byte{payload[0]&0xf0 | flv.VideoPacketModEx, 3 - 1, byte(nanos >> 16), byte(nanos >> 8), byte(nanos), 0<<4 | pt}
	return append(out, payload[1:]...)
}

// Track is one track of a multitrack message.
type Track struct {
	ID     uint8
	FourCC string // with ManyTracksManyCodecs, each track's own
	Body   []byte // the body as a single-track packet carries it after the FourCC
}

// VideoMultitrack is an E-RTMP v2 multitrack video message of packet
// type packetType: one track (OneTrack, with its id), several of one
// codec (ManyTracks) or several codecs (ManyTracksManyCodecs).
func VideoMultitrack(key bool, packetType, multitrackType byte, tracks ...Track) []byte {
	p := []byte{exVideoHeader(key, flv.VideoPacketMultitrack)}
	return appendMultitrack(p, packetType, multitrackType, tracks)
}

// AudioMultitrack is an E-RTMP v2 multitrack audio message.
func AudioMultitrack(packetType, multitrackType byte, tracks ...Track) []byte {
	p := []byte{flv.SoundFormatExHeader<<4 | flv.AudioPacketMultitrack}
	return appendMultitrack(p, packetType, multitrackType, tracks)
}

func appendMultitrack(p []byte, packetType, multitrackType byte, tracks []Track) []byte {
	p = append(p, multitrackType<<4|packetType)
	if multitrackType != flv.MultitrackManyTracksManyCodecs {
		p = append(p, tracks[0].FourCC...)
	}
	for _, t := range tracks {
		if multitrackType == flv.MultitrackManyTracksManyCodecs {
			p = append(p, t.FourCC...)
		}
		p = append(p, t.ID)
		if multitrackType != flv.MultitrackOneTrack {
			n := len(t.Body)
			p = append(p, byte(n>>16), byte(n>>8), byte(n))
		}
		p = append(p, t.Body...)
	}
	return p
}

// LegacyHEVC is a video payload in the legacy codec id 12 convention
// (Chinese CDNs before E-RTMP): AVC's layout with codec id 12. packetType
// is 0 (sequence header: the HEVCDecoderConfigurationRecord), 1 (NAL
// units) or 2 (end of sequence).
func LegacyHEVC(key bool, packetType byte, cts int32, body []byte) []byte {
	frameType := flv.FrameInter
	if key {
		frameType = flv.FrameKey
	}
	p := []byte{frameType<<4 | flv.CodecIDHEVC, packetType, byte(cts >> 16), byte(cts >> 8), byte(cts)}
	return append(p, body...)
}

// AudioSequenceStart is an E-RTMP audio SequenceStart (e.g. the OpusHead
// ID header for 'Opus').
func AudioSequenceStart(fourCC string, config []byte) []byte {
	p := append([]byte{flv.SoundFormatExHeader<<4 | flv.AudioPacketSequenceStart}, fourCC...)
	return append(p, config...)
}

// AudioCodedFrames is an E-RTMP audio CodedFrames packet.
func AudioCodedFrames(fourCC string, data []byte) []byte {
	p := append([]byte{flv.SoundFormatExHeader<<4 | flv.AudioPacketCodedFrames}, fourCC...)
	return append(p, data...)
}

// AMF0 appends AMF0 values: float64 (and int) as numbers, strings, bools,
// nil as null, map[string]any as an object (keys in the order given by
// Props), Props as an object in its own order.
func AMF0(b []byte, values ...any) []byte {
	for _, v := range values {
		switch v := v.(type) {
		case float64:
			b = append(b, 0x00)
			b = binary.BigEndian.AppendUint64(b, math.Float64bits(v))
		case int:
			b = AMF0(b, float64(v))
		case string:
			b = append(b, 0x02, byte(len(v)>>8), byte(len(v)))
			b = append(b, v...)
		case bool:
			c := byte(0)
			if v {
				c = 1
			}
			b = append(b, 0x01, c)
		case nil:
			b = append(b, 0x05)
		case Props:
			b = append(b, 0x03)
			b = v.appendProps(b)
		default:
			panic(fmt.Sprintf("rtmptest: AMF0 of %T", v))
		}
	}
	return b
}

// Props is an ordered list of AMF0 properties: name, value, name, value...
type Props []any

func (p Props) appendProps(b []byte) []byte {
	for i := 0; i+1 < len(p); i += 2 {
		k := p[i].(string)
		b = append(b, byte(len(k)>>8), byte(len(k)))
		b = append(b, k...)
		b = AMF0(b, p[i+1])
	}
	return append(b, 0, 0, 0x09)
}

// OnMetaData is an FLV script tag body "onMetaData" + an ECMA array of
// props, as encoders send it after @setDataFrame (see SetDataFrame). An
// E-RTMP stream gives videocodecid/audiocodecid as a FourCC number:
// FourCCNumber("av01").
func OnMetaData(props Props) []byte {
	b := AMF0(nil, "onMetaData")
	n := len(props) / 2
	b = append(b, 0x08, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	return props.appendProps(b)
}

// FourCCNumber is a FourCC as onMetaData's videocodecid/audiocodecid
// carries it for E-RTMP: the big-endian value as a number.
func FourCCNumber(fourCC string) float64 { return float64(flv.FourCC(fourCC)) }

// Message is one RTMP message to publish.
type Message struct {
	Type      byte // TypeAudio, TypeVideo or TypeData
	Timestamp uint32
	Payload   []byte
	// Key marks a video key frame (not a sequence start).
	Key bool
}

// Merge interleaves message lists by timestamp, stably (a's first on a
// tie), as a publisher sends its tracks.
func Merge(a, b []Message) []Message {
	out := make([]Message, 0, len(a)+len(b))
	for len(a) > 0 || len(b) > 0 {
		if len(b) == 0 || (len(a) > 0 && a[0].Timestamp <= b[0].Timestamp) {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return out
}
