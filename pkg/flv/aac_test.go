package flv

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// asc builds an AudioSpecificConfig bit string. Each field is a (bits, value) pair.
func asc(fields ...uint64) []byte {
	var w bitWriter
	for i := 0; i+1 < len(fields); i += 2 {
		w.u(uint(fields[i]), fields[i+1])
	}
	for w.used != 0 { // byte-align with zero bits (GASpecificConfig flags)
		w.u(1, 0)
	}
	return w.b
}

func TestParseAudioSpecificConfig(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want AACConfig
	}{
		{
			name: "AAC LC 44100 Hz stereo",
			in:   []byte{0x12, 0x10},
			want: AACConfig{ObjectType: 2, SampleRate: 44100, Channels: 2, ChannelConfig: 2},
		},
		{
			name: "AAC LC 48000 Hz mono",
			in:   []byte{0x11, 0x88},
			want: AACConfig{ObjectType: 2, SampleRate: 48000, Channels: 1, ChannelConfig: 1},
		},
		{
			name: "AAC LC 44100 Hz stereo with trailing extension",
			in:   []byte{0x12, 0x10, 0x56, 0xe5, 0x00},
			want: AACConfig{ObjectType: 2, SampleRate: 44100, Channels: 2, ChannelConfig: 2},
		},
		{
			name: "explicit 24-bit frequency",
			in:   asc(5, 2, 4, 0xf, 24, 44056, 4, 2),
			want: AACConfig{ObjectType: 2, SampleRate: 44056, Channels: 2, ChannelConfig: 2},
		},
		{
			name: "escaped object type 42 (USAC)",
			in:   asc(5, 31, 6, 10, 4, 3, 4, 2),
			want: AACConfig{ObjectType: 42, SampleRate: 48000, Channels: 2, ChannelConfig: 2},
		},
		{
			name: "escaped object type 31+32",
			in:   asc(5, 31, 6, 63, 4, 11, 4, 1),
			want: AACConfig{ObjectType: 95, SampleRate: 8000, Channels: 1, ChannelConfig: 1},
		},
		{
			name: "HE-AAC explicit SBR",
			in:   asc(5, 5, 4, 6, 4, 2, 4, 3, 5, 2),
			want: AACConfig{ObjectType: 2, SampleRate: 24000, Channels: 2, ChannelConfig: 2, SBR: true, ExtSampleRate: 48000},
		},
		{
			name: "HE-AACv2 explicit PS",
			in:   asc(5, 29, 4, 6, 4, 1, 4, 3, 5, 2),
			want: AACConfig{ObjectType: 2, SampleRate: 24000, Channels: 1, ChannelConfig: 1, SBR: true, PS: true, ExtSampleRate: 48000},
		},
		{
			name: "SBR with explicit extension frequency and ER BSAC",
			in:   asc(5, 5, 4, 8, 4, 2, 4, 0xf, 24, 32000, 5, 22, 4, 2),
			want: AACConfig{ObjectType: 22, SampleRate: 16000, Channels: 2, ChannelConfig: 2, SBR: true, ExtSampleRate: 32000},
		},
		{
			name: "7.1 channel configuration",
			in:   asc(5, 2, 4, 3, 4, 7),
			want: AACConfig{ObjectType: 2, SampleRate: 48000, Channels: 8, ChannelConfig: 7},
		},
		{
			name: "channel configuration 0 (program config element)",
			in:   asc(5, 2, 4, 3, 4, 0),
			want: AACConfig{ObjectType: 2, SampleRate: 48000, Channels: 0, ChannelConfig: 0},
		},
		{
			name: "7350 Hz",
			in:   asc(5, 1, 4, 12, 4, 2),
			want: AACConfig{ObjectType: 1, SampleRate: 7350, Channels: 2, ChannelConfig: 2},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseAudioSpecificConfig(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseAudioSpecificConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrShortPayload},
		{"one byte", []byte{0x12}, ErrShortPayload},
		{"reserved frequency index 13", asc(5, 2, 4, 13, 4, 2), ErrMalformed},
		{"reserved frequency index 14", asc(5, 2, 4, 14, 4, 2), ErrMalformed},
		{"object type 0", asc(5, 0, 4, 4, 4, 2), ErrMalformed},
		{"explicit frequency 0", asc(5, 2, 4, 0xf, 24, 0, 4, 2), ErrMalformed},
		{"explicit frequency cut short", asc(5, 2, 4, 0xf, 16, 0xac44), ErrShortPayload},
		{"escaped object type leaves no channel configuration", []byte{0xf8, 0x00}, ErrShortPayload},
		{"SBR extension cut short", asc(5, 5, 4, 6, 4, 2), ErrShortPayload},
		{"SBR extension frequency reserved", asc(5, 5, 4, 6, 4, 2, 4, 13, 5, 2), ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseAudioSpecificConfig(tc.in)
			require.ErrorIs(t, err, tc.want)
		})
	}
}
