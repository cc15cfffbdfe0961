package flv

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type testTag struct {
	typ     uint8
	ts      uint32
	payload []byte
}

func buildStream(hasAudio, hasVideo bool, tags []testTag) []byte {
	b := AppendHeader(nil, hasAudio, hasVideo)
	for _, t := range tags {
		b = AppendTag(b, t.typ, t.ts, t.payload)
	}
	return b
}

func TestReaderRoundTrip(t *testing.T) {
	tags := []testTag{
		{TagScript, 0, []byte{0x02, 0x00, 0x0a, 'o', 'n', 'M', 'e', 't', 'a', 'D', 'a', 't', 'a'}},
		{TagVideo, 0, fixture(t, "avc_seqhdr_320x240_baseline.bin")},
		{TagAudio, 0, fixture(t, "aac_seqhdr_44100_2ch.bin")},
		{TagVideo, 1, []byte{0x17, 1, 0, 0, 0}},
		{TagAudio, 0xfffffe, []byte{}},
		{TagVideo, 0xffffff, bytes.Repeat([]byte{0x27}, 1000)},
		{TagVideo, 0x1000000, bytes.Repeat([]byte{0x27}, 70000)}, // grows past one 64 KiB step
		{TagAudio, 0x7fffffff, []byte{0xaf, 1}},
		{TagAudio, 0xffffffff, []byte{0xaf, 1, 2}},
		{TagVideo, 0x12345678, bytes.Repeat([]byte{0x17}, 200000)},
	}
	stream := buildStream(true, true, tags)

	for name, src := range map[string]io.Reader{
		"bytes":    bytes.NewReader(stream),
		"one byte": iotest.OneByteReader(bytes.NewReader(stream)),
		"half":     iotest.HalfReader(bytes.NewReader(stream)),
	} {
		t.Run(name, func(t *testing.T) {
			r := NewReader(src)
			h, err := r.ReadHeader()
			require.NoError(t, err)
			assert.Equal(t, Header{HasAudio: true, HasVideo: true}, h)
			for i, want := range tags {
				got, err := r.ReadTag()
				require.NoError(t, err, "tag %d", i)
				assert.Equal(t, want.typ, got.Type, "tag %d", i)
				assert.Equal(t, want.ts, got.Timestamp, "tag %d", i)
				assert.False(t, got.Filter)
				require.True(t, bytes.Equal(want.payload, got.Data), "tag %d payload", i)
			}
			_, err = r.ReadTag()
			require.Equal(t, io.EOF, err)
			_, err = r.ReadTag()
			require.Equal(t, io.EOF, err, "EOF is sticky")
		})
	}
}

func TestReaderFixture(t *testing.T) {
	// 0.4 s of 160x120 H.264 (baseline, GOP 3) and 22.05 kHz mono AAC muxed
	// by ffmpeg's FLV muxer.
	r := NewReader(bytes.NewReader(fixture(t, "avc_aac_160x120.flv")))
	h, err := r.ReadHeader()
	require.NoError(t, err)
	assert.Equal(t, Header{HasAudio: true, HasVideo: true}, h)

	var counts [32]int
	var keyframes, videoFrames, audioFrames, endOfSequence int
	var lastVideoTS uint32
	for {
		tag, err := r.ReadTag()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		counts[tag.Type]++
		switch tag.Type {
		case TagScript:
			assert.True(t, bytes.Contains(tag.Data, []byte("onMetaData")))
		case TagVideo:
			v, err := ParseVideo(tag.Data)
			require.NoError(t, err)
			require.Equal(t, VideoCodecAVC, v.Codec)
			if v.SequenceHeader {
				c, err := ParseAVCDecoderConfig(v.Config)
				require.NoError(t, err)
				assert.Equal(t, 160, c.Width)
				assert.Equal(t, 120, c.Height)
				assert.Equal(t, uint8(66), c.Profile)
				continue
			}
			if v.EndOfSequence {
				endOfSequence++ // ffmpeg ends H.264 streams with one
				continue
			}
			videoFrames++
			if v.Keyframe {
				keyframes++
			}
			assert.GreaterOrEqual(t, tag.Timestamp, lastVideoTS)
			lastVideoTS = tag.Timestamp
		case TagAudio:
			a, err := ParseAudio(tag.Data)
			require.NoError(t, err)
			require.Equal(t, SoundFormatAAC, a.Format)
			if a.SequenceHeader {
				c, err := ParseAudioSpecificConfig(a.Config)
				require.NoError(t, err)
				assert.Equal(t, AACConfig{ObjectType: 2, SampleRate: 22050, Channels: 1, ChannelConfig: 1}, c)
				continue
			}
			audioFrames++
		}
	}
	assert.Equal(t, 1, counts[TagScript])
	assert.Equal(t, 6, videoFrames, "0.4 s at 15 fps")
	assert.Equal(t, 2, keyframes, "GOP of 3")
	assert.Equal(t, 1, endOfSequence)
	assert.Positive(t, audioFrames)
}

func TestReaderErrors(t *testing.T) {
	good := buildStream(false, true, []testTag{{TagVideo, 5, []byte{0x17, 1, 0, 0, 0, 0xaa}}})
	badPrev := bytes.Clone(good)
	badPrev[len(badPrev)-1]++
	badSig := bytes.Clone(good)
	badSig[2] = 'X'
	badVersion := bytes.Clone(good)
	badVersion[3] = 2
	smallHeader := bytes.Clone(good)
	smallHeader[8] = 8
	hugeHeader := bytes.Clone(good)
	hugeHeader[6] = 0x10
	badPrev0 := bytes.Clone(good)
	badPrev0[12] = 11

	tests := []struct {
		name       string
		stream     []byte
		maxTagSize int
		headerErr  error
		tagErr     error
	}{
		{name: "empty", stream: nil, headerErr: io.EOF},
		{name: "truncated header", stream: good[:5], headerErr: io.ErrUnexpectedEOF},
		{name: "missing PreviousTagSize0", stream: good[:11], headerErr: io.ErrUnexpectedEOF},
		{name: "bad signature", stream: badSig, headerErr: ErrBadHeader},
		{name: "bad version", stream: badVersion, headerErr: ErrBadHeader},
		{name: "header size 8", stream: smallHeader, headerErr: ErrBadHeader},
		{name: "header size too large", stream: hugeHeader, headerErr: ErrBadHeader},
		{name: "PreviousTagSize0 not 0", stream: badPrev0, headerErr: ErrBadPrevTagSize},
		{name: "bad PreviousTagSize", stream: badPrev, tagErr: ErrBadPrevTagSize},
		{name: "truncated tag header", stream: good[:13+5], tagErr: io.ErrUnexpectedEOF},
		{name: "truncated payload", stream: good[:13+11+3], tagErr: io.ErrUnexpectedEOF},
		{name: "missing PreviousTagSize", stream: good[:len(good)-4], tagErr: io.ErrUnexpectedEOF},
		{name: "truncated PreviousTagSize", stream: good[:len(good)-1], tagErr: io.ErrUnexpectedEOF},
		{name: "tag too large", stream: good, maxTagSize: 5, tagErr: ErrTagTooLarge},
		{name: "tag at the limit", stream: good, maxTagSize: 6, tagErr: io.EOF},
		{name: "declared size past end", stream: cat(good[:13], TagVideo, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3), tagErr: io.ErrUnexpectedEOF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(tc.stream))
			r.MaxTagSize = tc.maxTagSize
			_, err := r.ReadHeader()
			if tc.headerErr != nil {
				require.ErrorIs(t, err, tc.headerErr)
				_, err = r.ReadTag()
				require.ErrorIs(t, err, tc.headerErr, "errors are sticky")
				return
			}
			require.NoError(t, err)
			for err == nil {
				_, err = r.ReadTag()
			}
			require.ErrorIs(t, err, tc.tagErr)
			_, err2 := r.ReadTag()
			require.Equal(t, err, err2, "errors are sticky")
		})
	}
}

func TestReaderTruncatedEverywhere(t *testing.T) {
	tags := []testTag{{TagVideo, 0, []byte{0x17, 0, 0, 0, 0, 1, 2}}, {TagAudio, 20, []byte{0xaf, 1, 9}}, {TagScript, 40, nil}}
	stream := buildStream(true, true, tags)
	boundaries := map[int]bool{HeaderSize + PrevTagSizeLen: true}
	off := HeaderSize + PrevTagSizeLen
	for _, tg := range tags {
		off += TagSize(len(tg.payload))
		boundaries[off] = true
	}
	require.Equal(t, len(stream), off)

	for n := 0; n <= len(stream); n++ {
		r := NewReader(bytes.NewReader(stream[:n]))
		_, err := r.ReadHeader()
		switch {
		case n == 0:
			require.Equal(t, io.EOF, err)
			continue
		case n < HeaderSize+PrevTagSizeLen:
			require.Equal(t, io.ErrUnexpectedEOF, err, "prefix %d", n)
			continue
		}
		require.NoError(t, err)
		read := 0
		for err == nil {
			_, err = r.ReadTag()
			if err == nil {
				read++
			}
		}
		if boundaries[n] {
			require.Equal(t, io.EOF, err, "prefix %d ends between tags", n)
		} else {
			require.Equal(t, io.ErrUnexpectedEOF, err, "prefix %d ends inside a tag", n)
		}
		assert.LessOrEqual(t, read, len(tags))
	}
}

func TestReaderExtendedHeader(t *testing.T) {
	stream := buildStream(true, false, []testTag{{TagAudio, 7, []byte{0xaf, 1}}})
	// DataOffset 13: four extra header bytes before PreviousTagSize0.
	ext := cat(stream[:8], 13, 0xde, 0xad, 0xbe, 0xef, stream[9:])
	r := NewReader(bytes.NewReader(ext))
	h, err := r.ReadHeader()
	require.NoError(t, err)
	assert.Equal(t, Header{HasAudio: true}, h)
	tag, err := r.ReadTag()
	require.NoError(t, err)
	assert.Equal(t, uint32(7), tag.Timestamp)

	_, err = NewReader(bytes.NewReader(ext[:12])).ReadHeader()
	require.Equal(t, io.ErrUnexpectedEOF, err)
}

func TestReaderFilterBit(t *testing.T) {
	stream := buildStream(false, true, []testTag{{TagVideo, 0, []byte{0x17}}})
	stream[13] |= 0x20 // Filter bit of the first tag
	r := NewReader(bytes.NewReader(stream))
	_, err := r.ReadHeader()
	require.NoError(t, err)
	tag, err := r.ReadTag()
	require.NoError(t, err)
	assert.Equal(t, TagVideo, tag.Type)
	assert.True(t, tag.Filter)
}

func TestReaderWithoutHeader(t *testing.T) {
	// ReadTag can be used directly on a stream of tags (e.g. after seeking).
	tags := AppendTag(nil, TagAudio, 9, []byte{0xaf, 1})
	tag, err := NewReader(bytes.NewReader(tags)).ReadTag()
	require.NoError(t, err)
	assert.Equal(t, TagAudio, tag.Type)
}

// loopReader serves the same bytes forever.
type loopReader struct {
	b   []byte
	off int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], l.b[l.off:])
		n += c
		l.off = (l.off + c) % len(l.b)
	}
	return n, nil
}

func TestReaderNoAllocOnceGrown(t *testing.T) {
	var tags []byte
	tags = AppendTag(tags, TagVideo, 0, bytes.Repeat([]byte{0x27}, 100000))
	tags = AppendTag(tags, TagAudio, 0, []byte{0xaf, 1, 2, 3})
	r := NewReader(&loopReader{b: tags})
	for range 2 {
		_, err := r.ReadTag()
		require.NoError(t, err)
	}
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := r.ReadTag(); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
}

func BenchmarkReadTag(b *testing.B) {
	tags := AppendTag(nil, TagVideo, 0, bytes.Repeat([]byte{0x27}, 8192))
	r := NewReader(&loopReader{b: tags})
	b.ReportAllocs()
	b.SetBytes(int64(len(tags)))
	for b.Loop() {
		if _, err := r.ReadTag(); err != nil {
			b.Fatal(err)
		}
	}
}
