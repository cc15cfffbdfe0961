package flv

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// normAudio clears empty slices so AudioInfo values compare with require.Equal.
func normAudio(a AudioInfo) AudioInfo {
	if len(a.Config) == 0 {
		a.Config = nil
	}
	if len(a.Data) == 0 {
		a.Data = nil
	}
	return a
}

func TestParseAudio(t *testing.T) {
	seq44 := fixture(t, "aac_seqhdr_44100_2ch.bin")
	raw := []byte{0x21, 0x10, 0x05, 0x00}
	opusHead := []byte("OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00")
	tests := []struct {
		name    string
		in      []byte
		want    AudioInfo
		wantErr error
	}{
		{
			name: "AAC sequence header",
			in:   seq44,
			want: AudioInfo{Format: SoundFormatAAC, SequenceHeader: true, Config: seq44[2:], SampleRate: 44100, Channels: 2, BitsPerSample: 16},
		},
		{
			name: "AAC raw",
			in:   cat(0xaf, 0x01, raw),
			want: AudioInfo{Format: SoundFormatAAC, SampleRate: 44100, Channels: 2, BitsPerSample: 16, PacketType: 1, Data: raw},
		},
		{
			name: "AAC 1-byte body",
			in:   []byte{0xaf},
			want: AudioInfo{Format: SoundFormatAAC, SampleRate: 44100, Channels: 2, BitsPerSample: 16},
		},
		{
			name: "AAC sequence header without config",
			in:   []byte{0xaf, 0x00},
			want: AudioInfo{Format: SoundFormatAAC, SequenceHeader: true, SampleRate: 44100, Channels: 2, BitsPerSample: 16},
		},
		{
			name: "MP3 22 kHz mono 16-bit",
			in:   []byte{0x2a, 0xff, 0xfb},
			want: AudioInfo{Format: SoundFormatMP3, SampleRate: 22050, Channels: 1, BitsPerSample: 16, Data: []byte{0xff, 0xfb}},
		},
		{
			name: "PCM 5.5 kHz 8-bit stereo",
			in:   []byte{0x01, 0x80},
			want: AudioInfo{Format: 0, SampleRate: 5512, Channels: 2, BitsPerSample: 8, Data: []byte{0x80}},
		},
		{
			name: "Nellymoser 8 kHz",
			in:   []byte{0x52, 0x00},
			want: AudioInfo{Format: 5, SampleRate: 8000, Channels: 1, BitsPerSample: 16, Data: []byte{0}},
		},
		{
			name: "Speex",
			in:   []byte{0xb2, 0x00},
			want: AudioInfo{Format: 11, SampleRate: 16000, Channels: 1, BitsPerSample: 16, Data: []byte{0}},
		},
		{
			name: "silence message",
			in:   nil,
			want: AudioInfo{Silence: true},
		},
		{
			name: "enhanced AAC SequenceStart",
			in:   cat(0x90, "mp4a", seq44[2:]),
			want: AudioInfo{Format: SoundFormatExHeader, FourCC: FourCCAAC, SequenceHeader: true, Config: seq44[2:]},
		},
		{
			name: "enhanced Opus SequenceStart",
			in:   cat(0x90, "Opus", opusHead),
			want: AudioInfo{Format: SoundFormatExHeader, FourCC: FourCCOpus, SequenceHeader: true, Config: opusHead},
		},
		{
			name: "enhanced Opus CodedFrames",
			in:   cat(0x91, "Opus", raw),
			want: AudioInfo{Format: SoundFormatExHeader, FourCC: FourCCOpus, PacketType: 1, Data: raw},
		},
		{
			name: "enhanced FLAC SequenceEnd",
			in:   cat(0x92, "fLaC"),
			want: AudioInfo{Format: SoundFormatExHeader, FourCC: FourCCFLAC, PacketType: 2, EndOfSequence: true},
		},
		{
			name: "enhanced AC-3 CodedFrames",
			in:   cat(0x91, "ac-3", raw),
			want: AudioInfo{Format: SoundFormatExHeader, FourCC: FourCCAC3, PacketType: 1, Data: raw},
		},
		{
			name: "enhanced E-AC-3 MultichannelConfig",
			in:   cat(0x94, "ec-3", 1, 6, 0, 0, 0, 0x3f),
			want: AudioInfo{Format: SoundFormatExHeader, FourCC: FourCCEAC3, PacketType: 4, Channels: 6, Data: []byte{1, 6, 0, 0, 0, 0x3f}},
		},
		{
			name: "enhanced MP3 after ModEx TimestampOffsetNano",
			in:   cat(0x97, 2, 0, 0x01, 0x00, 0x01, ".mp3", raw),
			want: AudioInfo{Format: SoundFormatExHeader, FourCC: FourCCMP3, PacketType: 1, NanoOffset: 256, Data: raw},
		},
		{
			name: "enhanced multitrack OneTrack",
			in:   cat(0x95, 0x01, "Opus", 2, raw),
			want: AudioInfo{Format: SoundFormatExHeader, FourCC: FourCCOpus, PacketType: 1, Data: raw, Multitrack: true, TrackID: 2, Tracks: 1},
		},
		{
			name: "enhanced multitrack ManyTracksManyCodecs",
			in:   cat(0x95, 0x20, "Opus", 0, 0, 0, 3, "abc", "mp4a", 1, 0, 0, 2, 0x12, 0x10),
			want: AudioInfo{Format: SoundFormatExHeader, FourCC: FourCCOpus, SequenceHeader: true, Config: []byte("abc"),
				Multitrack: true, MultitrackType: MultitrackManyTracksManyCodecs, Tracks: 2},
		},
		{
			name:    "enhanced multitrack track cut short",
			in:      cat(0x95, 0x11, "Opus", 0, 0, 0, 5, raw),
			want:    AudioInfo{Format: SoundFormatExHeader, FourCC: FourCCOpus, PacketType: 1, Multitrack: true, MultitrackType: MultitrackManyTracks},
			wantErr: ErrShortPayload,
		},
		{
			name:    "enhanced unknown FourCC",
			in:      cat(0x91, "vorb", raw),
			want:    AudioInfo{Format: SoundFormatExHeader, FourCC: FourCC("vorb"), PacketType: 1, Data: raw},
			wantErr: ErrUnsupported,
		},
		{
			name:    "enhanced reserved packet type",
			in:      cat(0x93, "Opus", raw),
			want:    AudioInfo{Format: SoundFormatExHeader, FourCC: FourCCOpus, PacketType: 3},
			wantErr: ErrUnsupported,
		},
		{
			name:    "enhanced missing FourCC",
			in:      []byte{0x91, 'O', 'p'},
			want:    AudioInfo{Format: SoundFormatExHeader, PacketType: 1},
			wantErr: ErrShortPayload,
		},
		{
			name:    "enhanced short MultichannelConfig",
			in:      cat(0x94, "Opus", 1),
			want:    AudioInfo{Format: SoundFormatExHeader, FourCC: FourCCOpus, PacketType: 4},
			wantErr: ErrShortPayload,
		},
		{
			name:    "enhanced ModEx cut short",
			in:      []byte{0x97, 5, 1, 2},
			want:    AudioInfo{Format: SoundFormatExHeader, PacketType: 7},
			wantErr: ErrShortPayload,
		},
		{
			name:    "reserved AAC packet type",
			in:      []byte{0xaf, 0x02, 0x00},
			want:    AudioInfo{Format: SoundFormatAAC, SampleRate: 44100, Channels: 2, BitsPerSample: 16, PacketType: 2},
			wantErr: ErrUnsupported,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseAudio(tc.in)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, normAudio(tc.want), normAudio(got))
			assert.True(t, within(tc.in, got.Config))
			assert.True(t, within(tc.in, got.Data))
		})
	}
}

func TestParseAudioSequenceHeaderFixtures(t *testing.T) {
	tests := []struct {
		file               string
		sampleRate, chans  int
		wantConfigHexBytes []byte
	}{
		{"aac_seqhdr_44100_2ch.bin", 44100, 2, []byte{0x12, 0x10}},
		{"aac_seqhdr_48000_1ch.bin", 48000, 1, []byte{0x11, 0x88}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			a, err := ParseAudio(fixture(t, tc.file))
			require.NoError(t, err)
			require.True(t, a.SequenceHeader)
			require.Equal(t, SoundFormatAAC, a.Format)
			require.Equal(t, tc.wantConfigHexBytes, a.Config[:2])

			c, err := ParseAudioSpecificConfig(a.Config)
			require.NoError(t, err)
			assert.Equal(t, AACConfig{ObjectType: 2, SampleRate: tc.sampleRate, Channels: tc.chans, ChannelConfig: tc.chans}, c)
		})
	}
}

func TestParseAudioNoAlloc(t *testing.T) {
	inputs := [][]byte{
		fixture(t, "aac_seqhdr_44100_2ch.bin"),
		{0xaf, 0x01, 0x21, 0x10},
		cat(0x97, 2, 0, 0, 1, 0x01, "Opus", 0xaa),
	}
	for _, in := range inputs {
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := ParseAudio(in); err != nil {
				t.Fatal(err)
			}
		})
		assert.Zero(t, allocs)
	}
}
