package hls

import (
	"errors"
	"fmt"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/headwater-media/headwater/internal/stream"
	"github.com/headwater-media/headwater/pkg/flv"
)

// feed turns a stream's FLV tags into gohlslib writes: it learns the
// tracks from the sequence headers, starts the muxer at the first
// keyframe (or the first audio frame of an audio-only stream), then
// writes every coded frame with its presentation time. Only the muxer's
// goroutine uses it.
type feed struct {
	video       *gohlslib.Track // nil: no video (yet)
	audio       *gohlslib.Track // nil: no audio (yet)
	videoCodec  flv.VideoCodec
	lengthSize  int      // NAL unit length prefix size of the coded frames
	paramSets   [][]byte // SPS/PPS (H.264) or VPS/SPS/PPS (H.265), sent in-band before each keyframe
	sampleRate  int      // audio clock rate
	opus        bool     // the audio is Opus (else AAC)
	started     bool
	hasVideoHdr bool
	hasAudioHdr bool

	dts   [2]unwrapper // audio, video: 32-bit ms timestamps to a 64-bit timeline
	epoch time.Time    // wall clock of timeline 0, for EXT-X-PROGRAM-DATE-TIME
	nalus [][]byte     // scratch
}

// unwrapper extends 32-bit millisecond timestamps, which wrap after 49.7
// days, to 64 bits.
type unwrapper struct {
	started bool
	last    uint32
	ext     int64
}

func (u *unwrapper) ms(ts uint32) int64 {
	if !u.started {
		u.started, u.last, u.ext = true, ts, int64(ts)
		return u.ext
	}
	u.ext += int64(int32(ts - u.last))
	u.last = ts
	return u.ext
}

// header takes a sequence header. It reports whether it changes tracks
// the muxer has started with (a codec change: the muxer must restart).
func (f *feed) header(tag *stream.Tag) (restart bool, err error) {
	payload := tag.Payload()
	switch tag.Type {
	case flv.TagVideo:
		vi, err := flv.ParseVideo(payload)
		if err != nil || !vi.SequenceHeader {
			return false, err
		}
		var sets [][]byte
		var length int
		var codec codecs.Codec
		switch vi.Codec {
		case flv.VideoCodecAVC:
			c, err := flv.ParseAVCDecoderConfig(vi.Config)
			if err != nil {
				return false, err
			}
			sets, length = nonEmpty(c.SPS, c.PPS), c.NALULengthSize
			codec = &codecs.H264{SPS: clone(c.SPS), PPS: clone(c.PPS)}
		case flv.VideoCodecHEVC:
			c, err := flv.ParseHEVCDecoderConfig(vi.Config)
			if err != nil {
				return false, err
			}
			sets, length = nonEmpty(c.VPS, c.SPS, c.PPS), c.NALULengthSize
			codec = &codecs.H265{VPS: clone(c.VPS), SPS: clone(c.SPS), PPS: clone(c.PPS)}
		case flv.VideoCodecAV1:
			c, err := flv.ParseAV1CodecConfig(vi.Config)
			if err != nil {
				return false, err
			}
			obus, err := splitOBUs(nil, c.ConfigOBUs)
			if err != nil {
				return false, err
			}
			var seq []byte
			for _, o := range obus {
				var h av1.OBUHeader
				if h.Unmarshal(o) == nil && h.Type == av1.OBUTypeSequenceHeader {
					seq = o
				}
			}
			if seq == nil {
				return false, errors.New("hls: AV1 configuration without a sequence header")
			}
			// The sequence header goes in-band before each keyframe: it
			// is where gohlslib starts a segment.
			sets = [][]byte{seq}
			codec = &codecs.AV1{SequenceHeader: clone(seq)}
		case flv.VideoCodecVP9:
			c, err := flv.ParseVPCodecConfig(vi.Config)
			if err != nil {
				return false, err
			}
			codec = &codecs.VP9{Profile: c.Profile, BitDepth: uint8(c.BitDepth), ChromaSubsampling: c.ChromaSubsampling,
				ColorRange: c.FullRange}
		default:
			return false, fmt.Errorf("hls: video codec %s not supported", vi.Codec)
		}
		restart = f.started && (f.video == nil || vi.Codec != f.videoCodec)
		f.hasVideoHdr, f.videoCodec, f.lengthSize = true, vi.Codec, length
		f.paramSets = f.paramSets[:0]
		for _, s := range sets {
			f.paramSets = append(f.paramSets, clone(s))
		}
		if !f.started {
			f.video = &gohlslib.Track{Codec: codec, ClockRate: 90000}
		}
		return restart, nil
	case flv.TagAudio:
		ai, err := flv.ParseAudio(payload)
		if err != nil || !ai.SequenceHeader {
			return false, err
		}
		if ai.FourCC == flv.FourCCOpus {
			// OpusHead (RFC 7845 5.1): the channel count is its 10th byte.
			if len(ai.Config) < 19 || string(ai.Config[:8]) != "OpusHead" {
				return false, errors.New("hls: Opus sequence start without an OpusHead")
			}
			restart = f.started && (f.audio == nil || !f.opus)
			f.hasAudioHdr, f.opus, f.sampleRate = true, true, 48000
			if !f.started {
				f.audio = &gohlslib.Track{Codec: &codecs.Opus{ChannelCount: int(ai.Config[9])}, ClockRate: 48000}
			}
			return restart, nil
		}
		if ai.Format != flv.SoundFormatAAC && ai.FourCC != flv.FourCCAAC {
			return false, fmt.Errorf("hls: audio format %d not supported", ai.Format)
		}
		var conf mpeg4audio.AudioSpecificConfig
		if err := conf.Unmarshal(ai.Config); err != nil {
			return false, fmt.Errorf("hls: AudioSpecificConfig: %w", err)
		}
		restart = f.started && (f.audio == nil || f.opus || conf.SampleRate != f.sampleRate)
		f.hasAudioHdr, f.opus, f.sampleRate = true, false, conf.SampleRate
		if !f.started {
			f.audio = &gohlslib.Track{Codec: &codecs.MPEG4Audio{Config: conf}, ClockRate: conf.SampleRate}
		}
		return restart, nil
	}
	return false, nil
}

// ready reports whether tag is where the muxer can start: a video
// keyframe once the video header is known, or audio of an audio-only
// stream.
func (f *feed) ready(tag *stream.Tag) bool {
	switch {
	case f.hasVideoHdr:
		return tag.Type == flv.TagVideo && tag.Keyframe
	case f.hasAudioHdr:
		return tag.Type == flv.TagAudio
	}
	return false
}

// tracks returns the tracks to start the muxer with.
func (f *feed) tracks() []*gohlslib.Track {
	var out []*gohlslib.Track
	if f.video != nil {
		out = append(out, f.video)
	}
	if f.audio != nil {
		out = append(out, f.audio)
	}
	return out
}

// write passes one coded frame to m.
func (f *feed) write(m *gohlslib.Muxer, tag *stream.Tag) error {
	payload := tag.Payload()
	switch tag.Type {
	case flv.TagVideo:
		if f.video == nil {
			return nil
		}
		vi, err := flv.ParseVideo(payload)
		if err != nil || !codedFrames(vi) || len(vi.Data) == 0 || vi.Codec != f.videoCodec {
			return err
		}
		dts := f.dts[1].ms(tag.Timestamp)
		pts := (dts + int64(vi.CompositionTime)) * 90
		ntp := f.epoch.Add(time.Duration(dts) * time.Millisecond)
		switch f.videoCodec {
		case flv.VideoCodecVP9:
			return m.WriteVP9(f.video, ntp, pts, vi.Data)
		case flv.VideoCodecAV1:
			obus, err := splitOBUs(nil, vi.Data)
			if err != nil {
				return err
			}
			if vi.Keyframe && !av1.IsRandomAccess2(obus) {
				obus = append(append([][]byte{}, f.paramSets...), obus...)
			}
			return m.WriteAV1(f.video, ntp, pts, obus)
		}
		nalus, err := splitNALUs(f.nalus[:0], vi.Data, f.lengthSize)
		if err != nil {
			return err
		}
		if vi.Keyframe {
			// Parameter sets in-band before each keyframe: gohlslib picks
			// up a change (a new resolution) from them.
			nalus = append(append(make([][]byte, 0, len(f.paramSets)+len(nalus)), f.paramSets...), nalus...)
		}
		f.nalus = nalus[:0]
		if f.videoCodec == flv.VideoCodecHEVC {
			return m.WriteH265(f.video, ntp, pts, nalus)
		}
		return m.WriteH264(f.video, ntp, pts, nalus)
	case flv.TagAudio:
		if f.audio == nil {
			return nil
		}
		ai, err := flv.ParseAudio(payload)
		if err != nil || ai.SequenceHeader || len(ai.Data) == 0 {
			return err
		}
		ms := f.dts[0].ms(tag.Timestamp)
		if f.opus {
			return m.WriteOpus(f.audio, f.epoch.Add(time.Duration(ms)*time.Millisecond), ms*48, [][]byte{ai.Data})
		}
		return m.WriteMPEG4Audio(f.audio, f.epoch.Add(time.Duration(ms)*time.Millisecond),
			ms*int64(f.sampleRate)/1000, [][]byte{ai.Data})
	}
	return nil
}

// codedFrames reports whether a video tag carries coded frames (not a
// sequence header or end, metadata or a command frame).
func codedFrames(vi flv.VideoInfo) bool {
	if vi.SequenceHeader || vi.EndOfSequence || vi.FrameType == flv.FrameCommand {
		return false
	}
	if vi.Enhanced {
		return vi.PacketType == flv.VideoPacketCodedFrames || vi.PacketType == flv.VideoPacketCodedFramesX
	}
	return vi.PacketType == 1 // AVC/HEVC NALU
}

// splitOBUs appends to dst the OBUs of an AV1 temporal unit in the low
// overhead format of AV1 in ISOBMFF (and E-RTMP): every OBU but the last
// has its size field. Each aliases b.
func splitOBUs(dst [][]byte, b []byte) ([][]byte, error) {
	for len(b) > 0 {
		hdr := 1
		if b[0]&0x04 != 0 { // obu_extension_flag
			hdr = 2
		}
		if len(b) < hdr {
			return dst, errors.New("hls: truncated OBU header")
		}
		if b[0]&0x02 == 0 { // no obu_has_size_field: the rest is this OBU
			return append(dst, b), nil
		}
		var size av1.LEB128
		n, err := size.Unmarshal(b[hdr:])
		if err != nil {
			return dst, fmt.Errorf("hls: OBU size: %w", err)
		}
		end := uint64(hdr+n) + uint64(size)
		if end > uint64(len(b)) {
			return dst, fmt.Errorf("hls: OBU of %d bytes in %d", end, len(b))
		}
		dst = append(dst, b[:end])
		b = b[end:]
	}
	return dst, nil
}

// splitNALUs appends to dst the NAL units of a length-prefixed access
// unit (AVCC / HVCC), each aliasing b.
func splitNALUs(dst [][]byte, b []byte, lengthSize int) ([][]byte, error) {
	if lengthSize < 1 || lengthSize > 4 {
		return dst, fmt.Errorf("hls: NAL unit length size %d", lengthSize)
	}
	for len(b) > 0 {
		if len(b) < lengthSize {
			return dst, errors.New("hls: truncated NAL unit length")
		}
		n := 0
		for _, c := range b[:lengthSize] {
			n = n<<8 | int(c)
		}
		b = b[lengthSize:]
		if n > len(b) {
			return dst, fmt.Errorf("hls: NAL unit of %d bytes in %d", n, len(b))
		}
		if n > 0 {
			dst = append(dst, b[:n])
		}
		b = b[n:]
	}
	return dst, nil
}

func nonEmpty(sets ...[]byte) [][]byte {
	out := sets[:0]
	for _, s := range sets {
		if len(s) > 0 {
			out = append(out, s)
		}
	}
	return out
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }
