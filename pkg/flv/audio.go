package flv

import "fmt"

// Legacy FLV SoundFormat values of interest.
const (
	SoundFormatMP3 uint8 = 2
	// SoundFormatExHeader signals an E-RTMP ExAudioTagHeader.
	SoundFormatExHeader uint8 = 9
	SoundFormatAAC      uint8 = 10
)

// Audio packet types: legacy AACPacketType (0 sequence header, 1 raw) and
// E-RTMP AudioPacketType.
const (
	AudioPacketSequenceStart      uint8 = 0
	AudioPacketCodedFrames        uint8 = 1
	AudioPacketSequenceEnd        uint8 = 2 // E-RTMP only
	AudioPacketMultichannelConfig uint8 = 4 // E-RTMP only
	AudioPacketMultitrack         uint8 = 5 // E-RTMP only
	AudioPacketModEx              uint8 = 7 // E-RTMP only
)

// E-RTMP audio FourCCs.
const (
	FourCCAAC  uint32 = 'm'<<24 | 'p'<<16 | '4'<<8 | 'a'
	FourCCOpus uint32 = 'O'<<24 | 'p'<<16 | 'u'<<8 | 's'
	FourCCFLAC uint32 = 'f'<<24 | 'L'<<16 | 'a'<<8 | 'C'
	FourCCAC3  uint32 = 'a'<<24 | 'c'<<16 | '-'<<8 | '3'
	FourCCEAC3 uint32 = 'e'<<24 | 'c'<<16 | '-'<<8 | '3'
	FourCCMP3  uint32 = '.'<<24 | 'm'<<16 | 'p'<<8 | '3'
)

// AudioInfo describes an audio tag body as returned by ParseAudio.
// Config and Data alias the parsed payload.
type AudioInfo struct {
	Format         uint8  // SoundFormat (10 = AAC), or 9 for E-RTMP ExAudioTagHeader
	FourCC         uint32 // for enhanced audio ('mp4a', 'Opus', 'fLaC', 'ac-3', 'ec-3', '.mp3')
	SequenceHeader bool   // AAC packet type 0 / enhanced SequenceStart
	Config         []byte // AudioSpecificConfig (or the codec's sequence header) when SequenceHeader
	// SampleRate and Channels come from the legacy flags and are
	// informational only: AAC always signals 44 kHz stereo there, the real
	// values are in the AudioSpecificConfig. For E-RTMP they are 0, except
	// Channels of a MultichannelConfig packet.
	SampleRate, Channels int

	// BitsPerSample is 8 or 16 from the legacy SoundSize flag; 0 for E-RTMP.
	BitsPerSample int
	// PacketType is the AACPacketType (legacy AAC bodies of at least 2
	// bytes) or the E-RTMP AudioPacketType after any ModEx prefixes.
	PacketType uint8
	// EndOfSequence reports an E-RTMP SequenceEnd packet.
	EndOfSequence bool
	// Silence reports an empty audio message, which E-RTMP documents as
	// the RTMP "audio silence" message. Format is meaningless then.
	Silence bool
	// NanoOffset is the E-RTMP ModEx TimestampOffsetNano value, in nanoseconds.
	NanoOffset uint32
	// Data is the rest of the body after all headers when it is not a
	// sequence header (coded frames or a multichannel configuration).
	Data []byte
}

// legacySoundRates maps the legacy SoundRate flag to Hz.
var legacySoundRates = [4]int{5512, 11025, 22050, 44100}

// ParseAudio reads an audio tag body (the RTMP audio message payload).
//
// It understands the legacy AudioTagHeader (with the AAC packet type for
// SoundFormat 10) and the E-RTMP ExAudioTagHeader (SoundFormat 9, including
// ModEx prefixes). An empty payload is reported as Silence without error.
// A legacy AAC body of a single byte is accepted with only the flags set.
//
// On error the returned AudioInfo holds the fields parsed before the
// failure (e.g. E-RTMP multitrack, reported as ErrUnsupported).
func ParseAudio(payload []byte) (AudioInfo, error) {
	var a AudioInfo
	if len(payload) == 0 {
		a.Silence = true
		return a, nil
	}
	b0 := payload[0]
	a.Format = b0 >> 4
	if a.Format == SoundFormatExHeader {
		err := parseExAudio(payload, &a)
		return a, err
	}

	a.SampleRate = legacySoundRates[(b0>>2)&0x03]
	a.BitsPerSample = 8 << ((b0 >> 1) & 0x01)
	a.Channels = 1 + int(b0&0x01)
	switch a.Format {
	case 4: // Nellymoser 16 kHz mono
		a.SampleRate, a.Channels = 16000, 1
	case 5, 14: // Nellymoser 8 kHz mono, MP3 8 kHz
		a.SampleRate = 8000
		if a.Format == 5 {
			a.Channels = 1
		}
	case 11: // Speex is always 16 kHz mono
		a.SampleRate, a.Channels = 16000, 1
	}
	if a.Format != SoundFormatAAC {
		a.Data = payload[1:]
		return a, nil
	}

	if len(payload) < 2 {
		return a, nil
	}
	a.PacketType = payload[1]
	switch a.PacketType {
	case AudioPacketSequenceStart:
		a.SequenceHeader = true
		a.Config = payload[2:]
	case AudioPacketCodedFrames:
		a.Data = payload[2:]
	default:
		return a, fmt.Errorf("%w: AAC packet type %d", ErrUnsupported, a.PacketType)
	}
	return a, nil
}

// parseExAudio parses an E-RTMP ExAudioTagHeader body (SoundFormat 9).
func parseExAudio(p []byte, a *AudioInfo) error {
	pos, pt, nano, err := skipModEx(p, 1, p[0]&0x0f)
	a.PacketType = pt
	a.NanoOffset = nano
	if err != nil {
		return err
	}
	if pt == AudioPacketMultitrack {
		return fmt.Errorf("%w: E-RTMP audio multitrack", ErrUnsupported)
	}
	if len(p)-pos < 4 {
		return fmt.Errorf("%w: missing audio FourCC", ErrShortPayload)
	}
	a.FourCC = be32(p[pos:])
	body := p[pos+4:]
	switch pt {
	case AudioPacketSequenceStart:
		a.SequenceHeader = true
		a.Config = body
	case AudioPacketCodedFrames:
		a.Data = body
	case AudioPacketSequenceEnd:
		a.EndOfSequence = true
		a.Data = body
	case AudioPacketMultichannelConfig:
		// audioChannelOrder UI8, channelCount UI8, then a mapping or mask.
		if len(body) < 2 {
			return fmt.Errorf("%w: multichannel config", ErrShortPayload)
		}
		a.Channels = int(body[1])
		a.Data = body
	default:
		return fmt.Errorf("%w: reserved audio packet type %d", ErrUnsupported, pt)
	}
	switch a.FourCC {
	case FourCCAAC, FourCCOpus, FourCCFLAC, FourCCAC3, FourCCEAC3, FourCCMP3:
		return nil
	}
	return fmt.Errorf("%w: audio FourCC %q", ErrUnsupported, FourCCString(a.FourCC))
}
