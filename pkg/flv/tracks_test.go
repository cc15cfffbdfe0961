package flv

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseVideoTracks(t *testing.T) {
	av1C := fixture(t, "av1c_320x240.bin")
	hvcC := fixture(t, "hvcc_320x240.bin")
	frame := []byte{0, 0, 0, 1, 0x26}

	// Single track: the whole body.
	tracks, err := ParseVideoTracks(nil, cat(0x91, "hvc1", 0, 0, 40, frame))
	require.NoError(t, err)
	assert.Equal(t, []VideoTrack{{FourCC: FourCCHEVC, Codec: VideoCodecHEVC, CompositionTime: 40, Data: frame}}, tracks)

	// ManyTracksManyCodecs sequence start: each track its own codec.
	in := cat(0x96, 0x20, "av01", 0, u24(len(av1C)), av1C, "hvc1", 1, u24(len(hvcC)), hvcC, "Opus", 2, 0, 0, 0)
	tracks, err = ParseVideoTracks(tracks[:0], in)
	require.NoError(t, err)
	require.Len(t, tracks, 3)
	assert.Equal(t, VideoTrack{FourCC: FourCCAV1, Codec: VideoCodecAV1, Config: av1C}, tracks[0])
	assert.Equal(t, VideoTrack{TrackID: 1, FourCC: FourCCHEVC, Codec: VideoCodecHEVC, Config: hvcC}, tracks[1])
	assert.Equal(t, VideoTrack{TrackID: 2, FourCC: FourCC("Opus"), Codec: VideoCodecOther}, normTrack(tracks[2]))
	for _, tr := range tracks {
		assert.True(t, within(in, tr.Config))
	}
	v, err := ParseVideo(in)
	require.NoError(t, err)
	assert.Equal(t, 3, v.Tracks)
	assert.True(t, v.SequenceHeader)

	// ManyTracks coded frames with composition times.
	in = cat(0xa6, 0x11, "hvc1", 0, 0, 0, 8, 0, 0, 1, frame, 5, 0, 0, 3, 0xff, 0xff, 0xfe)
	tracks, err = ParseVideoTracks(nil, in)
	require.NoError(t, err)
	assert.Equal(t, []VideoTrack{
		{FourCC: FourCCHEVC, Codec: VideoCodecHEVC, CompositionTime: 1, Data: frame},
		{TrackID: 5, FourCC: FourCCHEVC, Codec: VideoCodecHEVC, CompositionTime: -2},
	}, normTracks(tracks))

	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrShortPayload},
		{"legacy", []byte{0x17, 1, 0, 0, 0}, ErrUnsupported},
		{"command frame", []byte{0xd1, 0}, ErrUnsupported},
		{"reserved packet type", cat(0x98, "hvc1"), ErrUnsupported},
		{"missing composition time", cat(0x91, "hvc1", 0), ErrShortPayload},
		{"second track cut", cat(0x96, 0x13, "vp09", 0, 0, 0, 1, 0xaa, 1, 0, 0), ErrShortPayload},
		{"ManyTracksManyCodecs FourCC cut", cat(0x96, 0x23, "vp"), ErrShortPayload},
	} {
		_, err := ParseVideoTracks(nil, tc.in)
		require.ErrorIs(t, err, tc.want, tc.name)
	}
	tracks, err = ParseVideoTracks(nil, cat(0x96, 0x13, "vp09", 0, 0, 0, 1, 0xaa, 1, 0, 0))
	require.ErrorIs(t, err, ErrShortPayload)
	assert.Len(t, tracks, 1, "the tracks before the error")
}

func TestParseAudioTracks(t *testing.T) {
	head := append([]byte("OpusHead"), 1, 2, 0x38, 1, 0x80, 0xbb, 0, 0, 0, 0, 0)
	in := cat(0x95, 0x10, "Opus", 0, 0, 0, byte(len(head)), head, 1, 0, 0, 0)
	tracks, err := ParseAudioTracks(nil, in)
	require.NoError(t, err)
	assert.Equal(t, []AudioTrack{{FourCC: FourCCOpus, Config: head}, {TrackID: 1, FourCC: FourCCOpus}}, normAudioTracks(tracks))
	a, err := ParseAudio(in)
	require.NoError(t, err)
	assert.Equal(t, 2, a.Tracks)
	assert.True(t, a.SequenceHeader)

	tracks, err = ParseAudioTracks(nil, cat(0x94, "ec-3", 1, 6, 0, 0, 0, 0x3f))
	require.NoError(t, err)
	assert.Equal(t, []AudioTrack{{FourCC: FourCCEAC3, Channels: 6, Data: []byte{1, 6, 0, 0, 0, 0x3f}}}, tracks)

	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"silence", nil, ErrUnsupported},
		{"legacy AAC", []byte{0xaf, 1, 0x21}, ErrUnsupported},
		{"reserved packet type", cat(0x93, "Opus"), ErrUnsupported},
		{"multitrack in multitrack", cat(0x95, 0x05, "Opus"), ErrMalformed},
		{"ModEx in multitrack", cat(0x95, 0x07, "Opus"), ErrMalformed},
		{"short multichannel config", cat(0x95, 0x04, "Opus", 0, 1), ErrShortPayload},
		{"missing FourCC", cat(0x91, "Op"), ErrShortPayload},
	} {
		_, err := ParseAudioTracks(nil, tc.in)
		require.ErrorIs(t, err, tc.want, tc.name)
	}
}

func TestParseMultitrackNoAlloc(t *testing.T) {
	frame := []byte{0, 0, 0, 1, 0x26}
	video := cat(0xa6, 0x11, "hvc1", 0, 0, 0, 8, 0, 0, 1, frame, 5, 0, 0, 3, 0xff, 0xff, 0xfe)
	audio := cat(0x95, 0x11, "Opus", 0, 0, 0, 1, 0xfc, 1, 0, 0, 1, 0xfc)
	vt := make([]VideoTrack, 0, 4)
	at := make([]AudioTrack, 0, 4)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := ParseVideo(video); err != nil {
			t.Fatal(err)
		}
		if _, err := ParseAudio(audio); err != nil {
			t.Fatal(err)
		}
		if _, err := ParseVideoTracks(vt[:0], video); err != nil {
			t.Fatal(err)
		}
		if _, err := ParseAudioTracks(at[:0], audio); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
}

// u24 is n as a big-endian 24-bit size.
func u24(n int) []byte { return []byte{byte(n >> 16), byte(n >> 8), byte(n)} }

func normTrack(t VideoTrack) VideoTrack {
	if len(t.Config) == 0 {
		t.Config = nil
	}
	if len(t.Data) == 0 {
		t.Data = nil
	}
	return t
}

func normTracks(ts []VideoTrack) []VideoTrack {
	for i := range ts {
		ts[i] = normTrack(ts[i])
	}
	return ts
}

func normAudioTracks(ts []AudioTrack) []AudioTrack {
	for i := range ts {
		if len(ts[i].Config) == 0 {
			ts[i].Config = nil
		}
		if len(ts[i].Data) == 0 {
			ts[i].Data = nil
		}
	}
	return ts
}
