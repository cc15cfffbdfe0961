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

	// Multitrack reports an E-RTMP v2 multitrack message. FourCC,
	// Channels, Config and Data then describe its first track, PacketType
	// is the packet type all its tracks share, and every track has been
	// checked (framing and body); ParseAudioTracks returns them all.
	Multitrack bool
	// MultitrackType is the AvMultitrackType (MultitrackOneTrack, ...).
	MultitrackType uint8
	// TrackID is the first track's id (0 without multitrack).
	TrackID uint8
	// Tracks is the number of tracks of a multitrack message (0 otherwise).
	Tracks int
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
// An E-RTMP v2 multitrack message is walked track by track; AudioInfo
// describes its first track, and ParseAudioTracks returns them all.
//
// On error the returned AudioInfo holds the fields parsed before the
// failure (e.g. an unknown FourCC, reported as ErrUnsupported).
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

// parseExAudio parses an E-RTMP ExAudioTagHeader body (SoundFormat 9):
// the header, the first track, then (multitrack) the other tracks,
// which must be intact too.
func parseExAudio(p []byte, a *AudioInfo) error {
	h, err := parseExAudioHeader(p, a)
	if err != nil {
		return err
	}
	t, next, err := nextAudioTrack(p, h.pos, &h)
	a.FourCC, a.TrackID = t.FourCC, t.TrackID
	if err != nil {
		return err
	}
	a.SequenceHeader = h.pt == AudioPacketSequenceStart
	a.EndOfSequence = h.pt == AudioPacketSequenceEnd
	a.Config, a.Data = t.Config, t.Data
	if t.err != nil {
		return t.err
	}
	a.Channels = t.Channels
	if !knownAudioFourCC(a.FourCC) {
		return fmt.Errorf("%w: audio FourCC %q", ErrUnsupported, FourCCString(a.FourCC))
	}
	if a.Multitrack {
		a.Tracks = 1
		for next < len(p) {
			var t2 AudioTrack
			if t2, next, err = nextAudioTrack(p, next, &h); err != nil {
				return err
			}
			if t2.err != nil {
				return t2.err
			}
			a.Tracks++
		}
	}
	return nil
}

// parseExAudioHeader reads an ExAudioTagHeader up to its first track and
// fills the header fields of a.
func parseExAudioHeader(p []byte, a *AudioInfo) (exHeader, error) {
	var h exHeader
	pos, pt, nano, err := skipModEx(p, 1, p[0]&0x0f)
	a.PacketType = pt
	a.NanoOffset = nano
	h.pt = pt
	if err != nil {
		return h, err
	}
	if pt == AudioPacketMultitrack {
		h.pos, err = parseMultitrackHeader(p, pos, &h, AudioPacketMultitrack, AudioPacketModEx)
		a.Multitrack, a.MultitrackType, a.PacketType = true, h.mtType, h.pt
		return h, err
	}
	if len(p)-pos < 4 {
		return h, fmt.Errorf("%w: missing audio FourCC", ErrShortPayload)
	}
	h.fourCC = be32(p[pos:])
	h.pos = pos
	return h, nil
}

// knownAudioFourCC reports the E-RTMP audio FourCCs this package knows.
func knownAudioFourCC(fourCC uint32) bool {
	switch fourCC {
	case FourCCAAC, FourCCOpus, FourCCFLAC, FourCCAC3, FourCCEAC3, FourCCMP3:
		return true
	}
	return false
}

// AudioTrack is one track of an E-RTMP audio message, as ParseAudioTracks
// returns it. Config and Data alias the payload.
type AudioTrack struct {
	// TrackID is the multitrack track id; 0 without multitrack.
	TrackID uint8
	FourCC  uint32
	// Channels is the channel count of a MultichannelConfig packet.
	Channels int
	// Config is the track's sequence header for a sequence start; Data
	// its coded frames, multichannel configuration or end-of-sequence
	// body otherwise.
	Config, Data []byte

	err error // the body does not fit the packet type (kept for ParseAudio)
}

// nextAudioTrack reads the track at p[pos:] and parses its body by the
// packet type. A body that does not fit is reported in t.err, the framing
// error (if any) as err.
func nextAudioTrack(p []byte, pos int, h *exHeader) (t AudioTrack, next int, err error) {
	var body []byte
	t.FourCC, t.TrackID, body, next, err = nextTrack(p, pos, h)
	if err != nil {
		return t, next, err
	}
	switch h.pt {
	case AudioPacketSequenceStart:
		t.Config = body
	case AudioPacketCodedFrames, AudioPacketSequenceEnd:
		t.Data = body
	case AudioPacketMultichannelConfig:
		// audioChannelOrder UI8, channelCount UI8, then a mapping or mask.
		if len(body) < 2 {
			t.err = fmt.Errorf("%w: multichannel config", ErrShortPayload)
			return t, next, nil
		}
		t.Channels = int(body[1])
		t.Data = body
	default:
		t.err = fmt.Errorf("%w: reserved audio packet type %d", ErrUnsupported, h.pt)
	}
	return t, next, nil
}

// ParseAudioTracks appends every track of an E-RTMP audio message to dst:
// one for a single-track message, each track of a multitrack one (E-RTMP
// v2). It returns ErrUnsupported for a legacy body or a reserved packet
// type, and the tracks read before any error. It allocates only when dst
// must grow.
func ParseAudioTracks(dst []AudioTrack, payload []byte) ([]AudioTrack, error) {
	if len(payload) == 0 || payload[0]>>4 != SoundFormatExHeader {
		return dst, fmt.Errorf("%w: not an E-RTMP audio body", ErrUnsupported)
	}
	var a AudioInfo
	h, err := parseExAudioHeader(payload, &a)
	if err != nil {
		return dst, err
	}
	for pos, first := h.pos, true; first || pos < len(payload); first = false {
		t, next, err := nextAudioTrack(payload, pos, &h)
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
