package rtmptest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/headwater-media/headwater/pkg/flv"
)

// Elementary streams as ffmpeg writes them (H.265 Annex B, IVF with AV1
// or VP9, Ogg Opus), turned into E-RTMP messages ready to publish: a
// VideoStream's or AudioStream's Messages.

// ErrBadStream reports an elementary stream that does not parse.
var ErrBadStream = errors.New("rtmptest: bad elementary stream")

// VideoFrame is one coded video frame (an access unit or temporal unit)
// in the form an E-RTMP CodedFrames body carries it.
type VideoFrame struct {
	Timestamp uint32 // ms
	Key       bool
	Data      []byte
}

// VideoStream is a video elementary stream packed for E-RTMP.
type VideoStream struct {
	FourCC        string
	Record        []byte // the codec configuration record: SequenceStart's body
	Width, Height int
	Frames        []VideoFrame
}

// Messages returns the stream as E-RTMP video messages: SequenceStart at
// the first frame's timestamp, then one message per frame. 'hvc1' key
// frames go as CodedFrames with a composition time of 0, other frames as
// CodedFramesX; AV1 and VP9 frames as CodedFrames (no composition time).
func (v *VideoStream) Messages() []Message {
	msgs := make([]Message, 0, len(v.Frames)+1)
	msgs = append(msgs, Message{Type: TypeVideo, Timestamp: v.Frames[0].Timestamp, Payload: VideoSequenceStart(v.FourCC, v.Record)})
	for _, f := range v.Frames {
		var p []byte
		switch {
		case !hasCompositionTime(v.FourCC):
			p = VideoCodedFrames(v.FourCC, f.Key, 0, f.Data)
		case f.Key:
			p = VideoCodedFrames(v.FourCC, true, 0, f.Data)
		default:
			p = VideoCodedFramesX(v.FourCC, false, f.Data)
		}
		msgs = append(msgs, Message{Type: TypeVideo, Timestamp: f.Timestamp, Payload: p, Key: f.Key})
	}
	return msgs
}

// LegacyHEVCMessages returns an 'hvc1' stream as legacy codec id 12
// messages instead.
func (v *VideoStream) LegacyHEVCMessages() []Message {
	msgs := []Message{{Type: TypeVideo, Timestamp: v.Frames[0].Timestamp, Payload: LegacyHEVC(true, 0, 0, v.Record)}}
	for _, f := range v.Frames {
		msgs = append(msgs, Message{Type: TypeVideo, Timestamp: f.Timestamp, Payload: LegacyHEVC(f.Key, 1, 0, f.Data), Key: f.Key})
	}
	return msgs
}

// SplitAnnexB returns the NAL units of an Annex B byte stream (3- or
// 4-byte start codes), without their start codes.
func SplitAnnexB(b []byte) [][]byte {
	var nalus [][]byte
	start := -1
	for i := 0; i+2 < len(b); {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				end := i
				for end > start && b[end-1] == 0 { // trailing zeros: the 4-byte start code's first
					end--
				}
				nalus = append(nalus, b[start:end])
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 && start < len(b) {
		nalus = append(nalus, b[start:])
	}
	return nalus
}

// hevcNALType is an H.265 NAL unit's type.
func hevcNALType(nalu []byte) byte { return nalu[0] >> 1 & 0x3f }

// HEVC NAL unit types the packer needs.
const (
	hevcAUD       = 35
	hevcPrefixSEI = 39
	hevcIRAPFirst = 16 // BLA_W_LP
	hevcIRAPLast  = 23 // RSV_IRAP_VCL23
)

// HEVCFromAnnexB packs an H.265 Annex B elementary stream (ffmpeg -f
// hevc) at fps frames per second, one access unit per frame in decoding
// order with no B-frames (the frames get increasing timestamps, composition
// time 0). The first VPS, SPS and PPS make the HEVCDecoderConfigurationRecord;
// parameter sets and access unit delimiters are left out of the frames,
// as 'hvc1' wants, and every NAL unit gets a 4-byte length. A frame with
// an IRAP NAL unit (IDR, CRA, BLA) is a key frame.
func HEVCFromAnnexB(es []byte, fps int) (*VideoStream, error) {
	var vps, sps, pps, sei [][]byte
	var frames []VideoFrame
	var cur []byte
	curVCL, curKey := false, false
	flush := func() {
		if curVCL {
			ts := uint32(len(frames) * 1000 / fps)
			frames = append(frames, VideoFrame{Timestamp: ts, Key: curKey, Data: cur})
		}
		cur, curVCL, curKey = nil, false, false
	}
	for _, n := range SplitAnnexB(es) {
		if len(n) < 3 {
			continue
		}
		t := hevcNALType(n)
		vcl := t < 32
		switch {
		case vcl && curVCL && n[2]&0x80 != 0: // first_slice_segment_in_pic_flag
			flush()
		case !vcl && curVCL && startsAccessUnit(t):
			flush()
		}
		switch t {
		case flv.HEVCNALVPS:
			vps = appendOnce(vps, n)
			continue
		case flv.HEVCNALSPS:
			sps = appendOnce(sps, n)
			continue
		case flv.HEVCNALPPS:
			pps = appendOnce(pps, n)
			continue
		case hevcAUD:
			continue
		case hevcPrefixSEI:
			if len(frames) == 0 && !curVCL {
				sei = appendOnce(sei, n)
			}
		}
		if vcl {
			curVCL = true
			curKey = curKey || (t >= hevcIRAPFirst && t <= hevcIRAPLast)
		}
		cur = binary.BigEndian.AppendUint32(cur, uint32(len(n)))
		cur = append(cur, n...)
	}
	flush()
	if len(frames) == 0 {
		return nil, ErrNoFrames
	}
	if len(vps) == 0 || len(sps) == 0 || len(pps) == 0 {
		return nil, fmt.Errorf("%w: no VPS, SPS or PPS", ErrBadStream)
	}
	rec, err := HEVCDecoderConfigurationRecord(vps, sps, pps, sei)
	if err != nil {
		return nil, err
	}
	s, _ := flv.ParseHEVCSPS(sps[0])
	return &VideoStream{FourCC: "hvc1", Record: rec, Width: s.Width, Height: s.Height, Frames: frames}, nil
}

// startsAccessUnit reports the non-VCL NAL unit types that start a new
// access unit when they follow a VCL NAL unit (H.265 7.4.2.4.4): VPS, SPS,
// PPS, AUD, prefix SEI, 41-44 and 48-55.
func startsAccessUnit(t byte) bool {
	return t >= flv.HEVCNALVPS && t <= hevcAUD || t == hevcPrefixSEI || t >= 41 && t <= 44 || t >= 48 && t <= 55
}

func appendOnce(list [][]byte, n []byte) [][]byte {
	for _, x := range list {
		if bytes.Equal(x, n) {
			return list
		}
	}
	return append(list, n)
}

// HEVCDecoderConfigurationRecord builds the record (ISO/IEC 14496-15
// 8.3.3.1) from parameter sets (NAL units with their headers): profile,
// tier, level, constraint flags, chroma format and bit depths from the
// first SPS, 4-byte NAL unit lengths, then arrays of the VPSs, SPSs, PPSs
// and (prefix SEIs, if any) in that order, each marked complete.
func HEVCDecoderConfigurationRecord(vps, sps, pps, sei [][]byte) ([]byte, error) {
	if len(sps) == 0 {
		return nil, fmt.Errorf("%w: no SPS", ErrBadStream)
	}
	s, err := flv.ParseHEVCSPS(sps[0])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadStream, err)
	}
	b := []byte{1, s.ProfileSpace<<6 | s.Tier<<5 | s.Profile}
	b = binary.BigEndian.AppendUint32(b, s.ProfileCompatibility)
	b = append(b, byte(s.ConstraintFlags>>40), byte(s.ConstraintFlags>>32), byte(s.ConstraintFlags>>24),
		byte(s.ConstraintFlags>>16), byte(s.ConstraintFlags>>8), byte(s.ConstraintFlags))
	b = append(b, s.Level,
		0xf0, 0x00, // reserved, min_spatial_segmentation_idc 0
		0xfc,                          // reserved, parallelismType 0 (unknown)
		0xfc|s.ChromaFormat,           // reserved, chromaFormat
		0xf8|byte(s.BitDepthLuma-8),   // reserved, bitDepthLumaMinus8
		0xf8|byte(s.BitDepthChroma-8), // reserved, bitDepthChromaMinus8
		0, 0,                          // avgFrameRate: unspecified
		byte(s.MaxSubLayers)<<3|boolBit(s.TemporalIDNesting)<<2|3, // constantFrameRate 0, numTemporalLayers, temporalIdNested, lengthSizeMinusOne 3
	)
	arrays := [][][]byte{vps, sps, pps}
	if len(sei) > 0 {
		arrays = append(arrays, sei)
	}
	b = append(b, byte(len(arrays)))
	for _, nalus := range arrays {
		b = append(b, 0x80|hevcNALType(nalus[0]), byte(len(nalus)>>8), byte(len(nalus)))
		for _, n := range nalus {
			b = append(b, byte(len(n)>>8), byte(len(n)))
			b = append(b, n...)
		}
	}
	return b, nil
}

func boolBit(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// IVFFrame is one frame of an IVF file.
type IVFFrame struct {
	PTS  uint64 // in the file's time base
	Data []byte
}

// IVF is an IVF file: its header's fields and frames.
type IVF struct {
	FourCC                   string // "AV01", "VP90"
	Width, Height            int
	TimebaseDen, TimebaseNum uint32 // a frame's PTS is PTS*Num/Den seconds
	Frames                   []IVFFrame
}

// ParseIVF reads an IVF file (the 32-byte "DKIF" header, then frames of a
// 12-byte header each).
func ParseIVF(b []byte) (*IVF, error) {
	if len(b) < 32 || string(b[:4]) != "DKIF" {
		return nil, fmt.Errorf("%w: no IVF header", ErrBadStream)
	}
	hdrLen := int(binary.LittleEndian.Uint16(b[6:]))
	if hdrLen < 32 || hdrLen > len(b) {
		return nil, fmt.Errorf("%w: IVF header length %d", ErrBadStream, hdrLen)
	}
	f := &IVF{FourCC: string(b[8:12]), Width: int(binary.LittleEndian.Uint16(b[12:])), Height: int(binary.LittleEndian.Uint16(b[14:])),
		TimebaseDen: binary.LittleEndian.Uint32(b[16:]), TimebaseNum: binary.LittleEndian.Uint32(b[20:])}
	if f.TimebaseDen == 0 || f.TimebaseNum == 0 {
		return nil, fmt.Errorf("%w: IVF time base %d/%d", ErrBadStream, f.TimebaseNum, f.TimebaseDen)
	}
	for pos := hdrLen; pos < len(b); {
		if len(b)-pos < 12 {
			return nil, fmt.Errorf("%w: IVF frame header cut", ErrBadStream)
		}
		n := int(binary.LittleEndian.Uint32(b[pos:]))
		pts := binary.LittleEndian.Uint64(b[pos+4:])
		pos += 12
		if n > len(b)-pos {
			return nil, fmt.Errorf("%w: IVF frame of %d bytes, %d left", ErrBadStream, n, len(b)-pos)
		}
		f.Frames = append(f.Frames, IVFFrame{PTS: pts, Data: b[pos : pos+n]})
		pos += n
	}
	if len(f.Frames) == 0 {
		return nil, ErrNoFrames
	}
	return f, nil
}

// ms converts a PTS to milliseconds.
func (f *IVF) ms(pts uint64) uint32 {
	return uint32(pts * uint64(f.TimebaseNum) * 1000 / uint64(f.TimebaseDen))
}

// AV1FromIVF packs an AV1 IVF file (ffmpeg -f ivf with libaom-av1 or
// libsvtav1): each IVF frame is a temporal unit; its temporal delimiter
// OBU is left out (as in ISOBMFF), the rest (OBUs with size fields) is the
// CodedFrames body. The first sequence header OBU makes the
// AV1CodecConfigurationRecord. A temporal unit whose first frame is a
// shown KEY_FRAME is a key frame.
func AV1FromIVF(b []byte) (*VideoStream, error) {
	f, err := ParseIVF(b)
	if err != nil {
		return nil, err
	}
	v := &VideoStream{FourCC: "av01", Width: f.Width, Height: f.Height}
	var seq flv.AV1SequenceHeader
	for i, fr := range f.Frames {
		var data []byte
		key := false
		sawFrame := false
		for rest := fr.Data; len(rest) > 0; {
			o, err := flv.ParseAV1OBU(rest)
			if err != nil {
				return nil, fmt.Errorf("%w: frame %d: %w", ErrBadStream, i, err)
			}
			if !o.HasSize {
				return nil, fmt.Errorf("%w: frame %d: OBU without a size field", ErrBadStream, i)
			}
			obu := rest[:o.Len]
			rest = rest[o.Len:]
			switch o.Type {
			case flv.AV1OBUTemporalDelimiter:
				continue
			case flv.AV1OBUSequenceHeader:
				if v.Record == nil {
					if seq, err = flv.ParseAV1SequenceHeader(obu); err != nil {
						return nil, fmt.Errorf("%w: %w", ErrBadStream, err)
					}
					v.Record = AV1CodecConfigurationRecord(seq, obu)
				}
			case flv.AV1OBUFrameHeader, flv.AV1OBUFrame:
				if !sawFrame && len(o.Payload) > 0 {
					sawFrame = true
					// uncompressed_header(): show_existing_frame, frame_type
					// (KEY_FRAME is 0), show_frame.
					h := o.Payload[0]
					key = seq.ReducedStillPictureHeader || (h&0x80 == 0 && h>>5&0x03 == 0 && h&0x10 != 0)
				}
			}
			data = append(data, obu...)
		}
		v.Frames = append(v.Frames, VideoFrame{Timestamp: f.ms(fr.PTS), Key: key, Data: data})
	}
	if v.Record == nil {
		return nil, fmt.Errorf("%w: no sequence header OBU", ErrBadStream)
	}
	return v, nil
}

// AV1CodecConfigurationRecord builds the record (AV1 ISOBMFF binding
// 2.3.3) from a parsed sequence header and the OBU itself, which becomes
// its configOBUs.
func AV1CodecConfigurationRecord(s flv.AV1SequenceHeader, seqOBU []byte) []byte {
	b2 := s.Tier<<7 | boolBit(s.BitDepth > 8)<<6 | boolBit(s.BitDepth == 12)<<5 | boolBit(s.Monochrome)<<4 |
		boolBit(s.SubsamplingX)<<3 | boolBit(s.SubsamplingY)<<2 | s.ChromaSamplePosition
	b := []byte{0x81, s.Profile<<5 | s.Level, b2, 0} // no initial presentation delay
	return append(b, seqOBU...)
}

// VP9FromIVF packs a VP9 IVF file (ffmpeg -f ivf with libvpx-vp9): each
// IVF frame (a frame or superframe) is a CodedFrames body. The first key
// frame's uncompressed header makes the VPCodecConfigurationRecord.
func VP9FromIVF(b []byte) (*VideoStream, error) {
	f, err := ParseIVF(b)
	if err != nil {
		return nil, err
	}
	v := &VideoStream{FourCC: "vp09", Width: f.Width, Height: f.Height}
	for i, fr := range f.Frames {
		h, err := flv.ParseVP9FrameHeader(fr.Data)
		if err != nil {
			return nil, fmt.Errorf("%w: frame %d: %w", ErrBadStream, i, err)
		}
		if h.KeyFrame && v.Record == nil {
			v.Record = VPCodecConfigurationRecord(h)
			v.Width, v.Height = h.Width, h.Height
		}
		v.Frames = append(v.Frames, VideoFrame{Timestamp: f.ms(fr.PTS), Key: h.KeyFrame, Data: fr.Data})
	}
	if v.Record == nil {
		return nil, fmt.Errorf("%w: no key frame", ErrBadStream)
	}
	return v, nil
}

// VPCodecConfigurationRecord builds the record from a VP9 key frame's
// header, as ffmpeg's FLV muxer writes it: the vpcC box's version (1) and
// flags first, then profile, level 0 (not known), bit depth, chroma
// subsampling (4:2:0 co-located, 4:2:2 or 4:4:4), range, colour
// description "unspecified" and no initialization data.
func VPCodecConfigurationRecord(h flv.VP9FrameHeader) []byte {
	sub := byte(1) // 4:2:0
	switch {
	case !h.SubsamplingX:
		sub = 3
	case !h.SubsamplingY:
		sub = 2
	}
	return []byte{1, 0, 0, 0, h.Profile, 0, byte(h.BitDepth)<<4 | sub<<1 | boolBit(h.FullRange), 2, 2, 2, 0, 0}
}

// AudioFrame is one coded audio packet.
type AudioFrame struct {
	Timestamp uint32 // ms
	Data      []byte
}

// AudioStream is an audio elementary stream packed for E-RTMP.
type AudioStream struct {
	FourCC string
	Config []byte // the SequenceStart body (OpusHead for 'Opus')
	Frames []AudioFrame
}

// Messages returns the stream as E-RTMP audio messages: SequenceStart,
// then one CodedFrames message per packet.
func (a *AudioStream) Messages() []Message {
	msgs := []Message{{Type: TypeAudio, Timestamp: a.Frames[0].Timestamp, Payload: AudioSequenceStart(a.FourCC, a.Config)}}
	for _, f := range a.Frames {
		msgs = append(msgs, Message{Type: TypeAudio, Timestamp: f.Timestamp, Payload: AudioCodedFrames(a.FourCC, f.Data)})
	}
	return msgs
}

// OggPackets returns the packets of the first logical stream of an Ogg
// file, in order.
func OggPackets(b []byte) ([][]byte, error) {
	var packets [][]byte
	var cur []byte
	var serial uint32
	first := true
	for pos := 0; pos < len(b); {
		if len(b)-pos < 27 || string(b[pos:pos+4]) != "OggS" {
			return nil, fmt.Errorf("%w: no Ogg page at %d", ErrBadStream, pos)
		}
		s := binary.LittleEndian.Uint32(b[pos+14:])
		nseg := int(b[pos+26])
		if len(b)-pos < 27+nseg {
			return nil, fmt.Errorf("%w: Ogg segment table cut", ErrBadStream)
		}
		lacing := b[pos+27 : pos+27+nseg]
		data := pos + 27 + nseg
		mine := first || s == serial
		if first {
			serial, first = s, false
		}
		for _, l := range lacing {
			if data+int(l) > len(b) {
				return nil, fmt.Errorf("%w: Ogg page cut", ErrBadStream)
			}
			if mine {
				cur = append(cur, b[data:data+int(l)]...)
				if l < 255 {
					packets = append(packets, cur)
					cur = nil
				}
			}
			data += int(l)
		}
		pos = data
	}
	return packets, nil
}

// OpusFromOgg packs an Ogg Opus file (ffmpeg -c:a libopus -f ogg): the
// OpusHead ID header is the SequenceStart body, OpusTags is left out,
// every audio packet is one CodedFrames message stamped with the samples
// before it (at 48 kHz).
func OpusFromOgg(b []byte) (*AudioStream, error) {
	packets, err := OggPackets(b)
	if err != nil {
		return nil, err
	}
	if len(packets) < 3 || !bytes.HasPrefix(packets[0], []byte("OpusHead")) || !bytes.HasPrefix(packets[1], []byte("OpusTags")) {
		return nil, fmt.Errorf("%w: not Ogg Opus", ErrBadStream)
	}
	a := &AudioStream{FourCC: "Opus", Config: packets[0]}
	samples := 0
	for i, p := range packets[2:] {
		n := OpusPacketSamples(p)
		if n == 0 {
			return nil, fmt.Errorf("%w: Opus packet %d", ErrBadStream, i)
		}
		a.Frames = append(a.Frames, AudioFrame{Timestamp: uint32(samples / 48), Data: p})
		samples += n
	}
	return a, nil
}

// OpusPacketSamples is the duration of an Opus packet in 48 kHz samples
// (RFC 6716 3.1), 0 if it is malformed.
func OpusPacketSamples(p []byte) int {
	if len(p) == 0 {
		return 0
	}
	toc := p[0]
	cfg := int(toc >> 3)
	var size int // samples per frame
	switch {
	case cfg < 12: // SILK: 10, 20, 40, 60 ms
		size = []int{480, 960, 1920, 2880}[cfg%4]
	case cfg < 16: // hybrid: 10, 20 ms
		size = []int{480, 960}[cfg%2]
	default: // CELT: 2.5, 5, 10, 20 ms
		size = []int{120, 240, 480, 960}[cfg%4]
	}
	frames := 1
	switch toc & 0x03 {
	case 1, 2:
		frames = 2
	case 3:
		if len(p) < 2 {
			return 0
		}
		frames = int(p[1] & 0x3f)
	}
	return frames * size
}
