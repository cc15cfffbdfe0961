package flv

import "fmt"

// AACConfig is the information ParseAudioSpecificConfig extracts from an
// MPEG-4 AudioSpecificConfig.
type AACConfig struct {
	// ObjectType is the audio object type (2 = AAC LC). With explicit
	// SBR/PS signalling (object type 5 or 29 first) it is the core object
	// type that follows, as in ISO/IEC 14496-3, and SBR/PS are set.
	ObjectType int
	// SampleRate is the (core) sampling frequency in Hz.
	SampleRate int
	// Channels is the channel count implied by ChannelConfig; 0 when the
	// layout is given by a program config element (ChannelConfig 0) or
	// the configuration is reserved.
	Channels int

	// ChannelConfig is the raw channelConfiguration field.
	ChannelConfig int
	// SBR and PS report explicit hierarchical signalling of spectral band
	// replication (HE-AAC) and parametric stereo (HE-AACv2).
	SBR, PS bool
	// ExtSampleRate is the SBR output sampling frequency when SBR is set.
	ExtSampleRate int
}

// aacSampleRates is the samplingFrequencyIndex table; 13 and 14 are reserved.
var aacSampleRates = [13]int{96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350}

// aacChannels maps channelConfiguration to a channel count (0 = not fixed).
var aacChannels = [16]int{0, 1, 2, 3, 4, 5, 6, 8, 0, 0, 0, 7, 8, 24, 8, 0}

// Audio object types with special meaning while parsing.
const (
	aotSBR        = 5
	aotPS         = 29
	aotERBSACPlus = 22 // carries extensionChannelConfiguration after SBR
)

// ParseAudioSpecificConfig parses the start of an MPEG-4 AudioSpecificConfig
// (ISO/IEC 14496-3 1.6.2.1): the audio object type (including the escape
// value 31), the sampling frequency (4-bit index or, for index 0xF, an
// explicit 24-bit rate), the channel configuration and, for explicit SBR/PS
// signalling, the extension sampling frequency and core object type.
// The object-type specific configuration that follows is not parsed.
func ParseAudioSpecificConfig(b []byte) (AACConfig, error) {
	var c AACConfig
	if len(b) < 2 {
		return c, fmt.Errorf("%w: AudioSpecificConfig of %d bytes", ErrShortPayload, len(b))
	}
	r := newBitReader(b, false)
	c.ObjectType = audioObjectType(&r)
	rate, err := samplingFrequency(&r)
	if err != nil {
		return c, err
	}
	c.SampleRate = rate
	c.ChannelConfig = int(r.u(4))
	c.Channels = aacChannels[c.ChannelConfig]
	if c.ObjectType == aotSBR || c.ObjectType == aotPS {
		c.SBR = true
		c.PS = c.ObjectType == aotPS
		if c.ExtSampleRate, err = samplingFrequency(&r); err != nil {
			return c, err
		}
		c.ObjectType = audioObjectType(&r)
		if c.ObjectType == aotERBSACPlus {
			r.u(4) // extensionChannelConfiguration
		}
	}
	if r.failed() {
		return c, fmt.Errorf("%w: truncated AudioSpecificConfig", ErrShortPayload)
	}
	if c.ObjectType == 0 {
		return c, fmt.Errorf("%w: audio object type 0", ErrMalformed)
	}
	return c, nil
}

// audioObjectType reads GetAudioObjectType(): 5 bits, 31 escapes to 32 + 6 bits.
func audioObjectType(r *bitReader) int {
	t := int(r.u(5))
	if t == 31 {
		t = 32 + int(r.u(6))
	}
	return t
}

// samplingFrequency reads samplingFrequencyIndex and, for 0xF, the explicit
// 24-bit samplingFrequency.
func samplingFrequency(r *bitReader) (int, error) {
	idx := r.u(4)
	switch {
	case r.failed():
		return 0, fmt.Errorf("%w: truncated AudioSpecificConfig", ErrShortPayload)
	case idx == 0xf:
		rate := int(r.u(24))
		if r.failed() {
			return 0, fmt.Errorf("%w: truncated explicit sampling frequency", ErrShortPayload)
		}
		if rate == 0 {
			return 0, fmt.Errorf("%w: explicit sampling frequency 0", ErrMalformed)
		}
		return rate, nil
	case int(idx) >= len(aacSampleRates):
		return 0, fmt.Errorf("%w: reserved sampling frequency index %d", ErrMalformed, idx)
	}
	return aacSampleRates[idx], nil
}
