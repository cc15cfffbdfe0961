package rtmptest

import (
	"encoding/binary"
	"fmt"

	"github.com/headwater-media/headwater/pkg/flv"
)

// Unpacking what a player received back into files ffmpeg reads: H.265
// Annex B, IVF (AV1, VP9), Ogg Opus.

// Unpacked is a received elementary stream in a file format.
type Unpacked struct {
	// Format is ffmpeg's name of the demuxer to read Data with: "hevc",
	// "ivf" or "ogg".
	Format string
	Data   []byte
	Frames int // coded frames in Data
}

// UnpackVideo turns the video tags a player received (flv.Tag: Type,
// Timestamp, Data) back into a file: H.265 Annex B (the record's parameter
// sets, then every frame's NAL units with start codes; E-RTMP 'hvc1' or
// legacy codec id 12), or IVF for 'av01' (a temporal delimiter OBU put back
// in front of each temporal unit, and the record's configOBUs in the first
// one if it has no sequence header) and 'vp09'. Tags before the first
// sequence start, sequence ends and metadata packets are skipped. Every
// frame must have the FourCC of the sequence start.
func UnpackVideo(tags []flv.Tag) (*Unpacked, error) {
	var (
		codec  flv.VideoCodec
		record []byte
		out    []byte
		n      int
		frames []IVFFrame
	)
	for _, tag := range tags {
		if tag.Type != flv.TagVideo {
			continue
		}
		v, err := flv.ParseVideo(tag.Data)
		if err != nil {
			return nil, fmt.Errorf("video tag at %d: %w", tag.Timestamp, err)
		}
		switch {
		case v.SequenceHeader:
			if record == nil {
				codec, record = v.Codec, v.Config
				if codec == flv.VideoCodecHEVC {
					c, err := flv.ParseHEVCDecoderConfig(record)
					if err != nil {
						return nil, err
					}
					for _, ps := range [][]byte{c.VPS, c.SPS, c.PPS} {
						out = append(append(out, 0, 0, 0, 1), ps...)
					}
				}
			}
			continue
		case record == nil || v.EndOfSequence || v.PacketType == flv.VideoPacketMetadata && v.Enhanced:
			continue
		case v.Codec != codec:
			return nil, fmt.Errorf("a %v frame in a %v stream", v.Codec, codec)
		}
		n++
		switch codec {
		case flv.VideoCodecHEVC:
			for rest := v.Data; len(rest) > 0; {
				if len(rest) < 4 || int(binary.BigEndian.Uint32(rest)) > len(rest)-4 {
					return nil, fmt.Errorf("%w: NAL unit length at %d", ErrBadStream, tag.Timestamp)
				}
				l := int(binary.BigEndian.Uint32(rest))
				out = append(append(out, 0, 0, 0, 1), rest[4:4+l]...)
				rest = rest[4+l:]
			}
		case flv.VideoCodecAV1:
			tu := []byte{flv.AV1OBUTemporalDelimiter<<3 | 2, 0}
			if len(frames) == 0 && flv.FindAV1SequenceHeader(v.Data) == nil {
				// A player joining mid-stream has the sequence header
				// from the record only: a decoder needs it in the stream.
				c, err := flv.ParseAV1CodecConfig(record)
				if err != nil {
					return nil, err
				}
				tu = append(tu, c.ConfigOBUs...)
			}
			frames = append(frames, IVFFrame{PTS: uint64(tag.Timestamp), Data: append(tu, v.Data...)})
		case flv.VideoCodecVP9:
			frames = append(frames, IVFFrame{PTS: uint64(tag.Timestamp), Data: v.Data})
		default:
			return nil, fmt.Errorf("cannot unpack %v", codec)
		}
	}
	switch {
	case record == nil:
		return nil, fmt.Errorf("%w: no sequence start", ErrBadStream)
	case n == 0:
		return nil, ErrNoFrames
	case codec == flv.VideoCodecHEVC:
		return &Unpacked{Format: "hevc", Data: out, Frames: n}, nil
	}
	fourCC, w, h := "AV01", 0, 0
	if codec == flv.VideoCodecAV1 {
		if c, err := flv.ParseAV1CodecConfig(record); err == nil {
			w, h = c.Width, c.Height
		}
	} else {
		fourCC = "VP90"
		if hdr, err := flv.ParseVP9FrameHeader(frames[0].Data); err == nil {
			w, h = hdr.Width, hdr.Height
		}
	}
	return &Unpacked{Format: "ivf", Data: WriteIVF(fourCC, w, h, frames), Frames: n}, nil
}

// WriteIVF writes an IVF file with a millisecond time base (each frame's
// PTS in ms).
func WriteIVF(fourCC string, width, height int, frames []IVFFrame) []byte {
	b := []byte("DKIF")
	b = binary.LittleEndian.AppendUint16(b, 0)  // version
	b = binary.LittleEndian.AppendUint16(b, 32) // header length
	b = append(b, fourCC...)
	b = binary.LittleEndian.AppendUint16(b, uint16(width))
	b = binary.LittleEndian.AppendUint16(b, uint16(height))
	b = binary.LittleEndian.AppendUint32(b, 1000) // time base: 1/1000 s
	b = binary.LittleEndian.AppendUint32(b, 1)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(frames)))
	b = binary.LittleEndian.AppendUint32(b, 0)
	for _, f := range frames {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(f.Data)))
		b = binary.LittleEndian.AppendUint64(b, f.PTS)
		b = append(b, f.Data...)
	}
	return b
}

// UnpackOpus turns the audio tags a player received back into an Ogg Opus
// file: the E-RTMP 'Opus' SequenceStart's OpusHead, an OpusTags of its
// own, then one page per audio packet.
func UnpackOpus(tags []flv.Tag) (*Unpacked, error) {
	var head []byte
	var packets [][]byte
	for _, tag := range tags {
		if tag.Type != flv.TagAudio {
			continue
		}
		a, err := flv.ParseAudio(tag.Data)
		if err != nil {
			return nil, fmt.Errorf("audio tag at %d: %w", tag.Timestamp, err)
		}
		if a.FourCC != flv.FourCCOpus {
			return nil, fmt.Errorf("%w: audio FourCC %q", ErrBadStream, flv.FourCCString(a.FourCC))
		}
		switch {
		case a.SequenceHeader:
			if head == nil {
				head = a.Config
			}
		case head != nil && a.PacketType == flv.AudioPacketCodedFrames:
			packets = append(packets, a.Data)
		}
	}
	if head == nil {
		return nil, fmt.Errorf("%w: no Opus sequence start", ErrBadStream)
	}
	if len(packets) == 0 {
		return nil, ErrNoFrames
	}
	return &Unpacked{Format: "ogg", Data: WriteOggOpus(head, packets), Frames: len(packets)}, nil
}

// WriteOggOpus writes an Ogg Opus file (RFC 7845): head (OpusHead), a
// minimal OpusTags, then the audio packets, one page each, with granule
// positions counting samples from the head's pre-skip.
func WriteOggOpus(head []byte, packets [][]byte) []byte {
	tags := []byte("OpusTags")
	tags = binary.LittleEndian.AppendUint32(tags, 8)
	tags = append(tags, "rtmptest"...)
	tags = binary.LittleEndian.AppendUint32(tags, 0)
	var preSkip uint64
	if len(head) >= 12 {
		preSkip = uint64(binary.LittleEndian.Uint16(head[10:]))
	}
	var b []byte
	seq := uint32(0)
	page := func(flags byte, granule uint64, packet []byte) {
		start := len(b)
		b = append(b, "OggS"...)
		b = append(b, 0, flags)
		b = binary.LittleEndian.AppendUint64(b, granule)
		b = binary.LittleEndian.AppendUint32(b, 0x68770001) // serial
		b = binary.LittleEndian.AppendUint32(b, seq)
		b = append(b, 0, 0, 0, 0) // CRC, below
		var lacing []byte
		n := len(packet)
		for ; n >= 255; n -= 255 {
			lacing = append(lacing, 255)
		}
		lacing = append(lacing, byte(n))
		b = append(b, byte(len(lacing)))
		b = append(b, lacing...)
		b = append(b, packet...)
		binary.LittleEndian.PutUint32(b[start+22:], oggCRC(b[start:]))
		seq++
	}
	page(0x02, 0, head) // beginning of stream
	page(0, 0, tags)
	granule := preSkip
	for i, p := range packets {
		granule += uint64(OpusPacketSamples(p))
		flags := byte(0)
		if i == len(packets)-1 {
			flags = 0x04 // end of stream
		}
		page(flags, granule, p)
	}
	return b
}

// oggCRCTable is Ogg's CRC-32: polynomial 0x04c11db7, not reflected, no
// final XOR; hash/crc32's tables are reflected, so it is built here.
var oggCRCTable = func() (t [256]uint32) {
	for i := range t {
		r := uint32(i) << 24
		for range 8 {
			if r&0x80000000 != 0 {
				r = r<<1 ^ 0x04c11db7
			} else {
				r <<= 1
			}
		}
		t[i] = r
	}
	return t
}()

// oggCRC is the checksum of a page whose checksum field is zero.
func oggCRC(b []byte) uint32 {
	var c uint32
	for _, x := range b {
		c = c<<8 ^ oggCRCTable[byte(c>>24)^x]
	}
	return c
}
