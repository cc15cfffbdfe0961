package flv

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTagSize(t *testing.T) {
	assert.Equal(t, 15, TagSize(0))
	assert.Equal(t, 15+1000, TagSize(1000))
}

func TestAppendHeader(t *testing.T) {
	tests := []struct {
		name               string
		hasAudio, hasVideo bool
		flags              byte
	}{
		{"audio only", true, false, 0x04},
		{"video only", false, true, 0x01},
		{"audio and video", true, true, 0x05},
		{"neither", false, false, 0x00},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prefix := []byte("prefix")
			got := AppendHeader(prefix, tc.hasAudio, tc.hasVideo)
			want := cat("prefix", "FLV", 1, tc.flags, 0, 0, 0, 9, 0, 0, 0, 0)
			require.Equal(t, want, got)
			require.Len(t, got[len(prefix):], HeaderSize+PrevTagSizeLen)

			h, err := NewReader(bytes.NewReader(got[len(prefix):])).ReadHeader()
			require.NoError(t, err)
			assert.Equal(t, Header{HasAudio: tc.hasAudio, HasVideo: tc.hasVideo}, h)
		})
	}
}

func TestPutTagHeader(t *testing.T) {
	tests := []struct {
		name      string
		typ       uint8
		timestamp uint32
		size      int
		want      []byte
	}{
		{"zero", TagScript, 0, 0, []byte{18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"24-bit timestamp", TagVideo, 0xfffffe, 0x0a0b0c, []byte{9, 0x0a, 0x0b, 0x0c, 0xff, 0xff, 0xfe, 0, 0, 0, 0}},
		{"extended timestamp", TagAudio, 0x12345678, 1, []byte{8, 0, 0, 1, 0x34, 0x56, 0x78, 0x12, 0, 0, 0}},
		{"largest", TagVideo, 0xffffffff, 0xffffff, []byte{9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := bytes.Repeat([]byte{0xaa}, 12)
			PutTagHeader(dst, tc.typ, tc.timestamp, tc.size)
			assert.Equal(t, tc.want, dst[:11])
			assert.Equal(t, byte(0xaa), dst[11], "must not write past the header")
			assert.Equal(t, tc.timestamp, TagTimestamp(dst))
		})
	}
}

func TestPutTagHeaderPanics(t *testing.T) {
	assert.Panics(t, func() { PutTagHeader(make([]byte, 11), TagVideo, 0, 1<<24) })
	assert.Panics(t, func() { PutTagHeader(make([]byte, 11), TagVideo, 0, -1) })
	assert.Panics(t, func() { PutTagHeader(make([]byte, 10), TagVideo, 0, 0) })
	assert.Panics(t, func() { PutTag(make([]byte, TagSize(3)-1), TagVideo, 0, []byte{1, 2, 3}) })
}

func TestPutPrevTagSize(t *testing.T) {
	dst := make([]byte, 4)
	PutPrevTagSize(dst, 0x1234)
	assert.Equal(t, []byte{0, 0, 0x12, 0x3f}, dst)
}

func TestAppendTag(t *testing.T) {
	payload := []byte{0x17, 1, 0, 0, 0, 0xde, 0xad}
	got := AppendTag([]byte{0xff}, TagVideo, 0x01020304, payload)
	want := cat(0xff, TagVideo, 0, 0, 7, 0x02, 0x03, 0x04, 0x01, 0, 0, 0, payload, 0, 0, 0, 18)
	require.Equal(t, want, got)

	buf := make([]byte, TagSize(len(payload))+3)
	n := PutTag(buf, TagVideo, 0x01020304, payload)
	assert.Equal(t, TagSize(len(payload)), n)
	assert.Equal(t, want[1:], buf[:n])
	assert.Equal(t, []byte{0, 0, 0}, buf[n:], "must not write past the tag")

	// The manual three-step form used when the payload is read in place.
	manual := make([]byte, TagSize(len(payload)))
	PutTagHeader(manual, TagVideo, 0x01020304, len(payload))
	copy(manual[TagHeaderSize:], payload)
	PutPrevTagSize(manual[TagHeaderSize+len(payload):], len(payload))
	assert.Equal(t, want[1:], manual)
}

func TestAppendTagNoAlloc(t *testing.T) {
	payload := make([]byte, 4096)
	buf := make([]byte, 0, TagSize(len(payload)))
	allocs := testing.AllocsPerRun(100, func() {
		buf = AppendTag(buf[:0], TagVideo, 1234, payload)
	})
	assert.Zero(t, allocs)

	full := make([]byte, TagSize(len(payload)))
	allocs = testing.AllocsPerRun(100, func() {
		PutTag(full, TagAudio, 1234, payload)
	})
	assert.Zero(t, allocs)
}

func TestSetTagTimestamp(t *testing.T) {
	for _, ts := range []uint32{0, 1, 0xffffff, 0x1000000, 0xdeadbeef, 0xffffffff} {
		tag := AppendTag(nil, TagAudio, 42, []byte{0xaf, 1, 2})
		SetTagTimestamp(tag, ts)
		assert.Equal(t, ts, TagTimestamp(tag))

		stream := AppendHeader(nil, true, false)
		stream = append(stream, tag...)
		r := NewReader(bytes.NewReader(stream))
		_, err := r.ReadHeader()
		require.NoError(t, err)
		got, err := r.ReadTag()
		require.NoError(t, err)
		assert.Equal(t, ts, got.Timestamp)
		assert.Equal(t, []byte{0xaf, 1, 2}, got.Data)
	}
}

func TestFourCC(t *testing.T) {
	assert.Equal(t, FourCCHEVC, FourCC("hvc1"))
	assert.Equal(t, FourCCAV1, FourCC("av01"))
	assert.Equal(t, FourCCVP9, FourCC("vp09"))
	assert.Equal(t, FourCCAVC, FourCC("avc1"))
	assert.Equal(t, FourCCAAC, FourCC("mp4a"))
	assert.Equal(t, FourCCOpus, FourCC("Opus"))
	assert.Equal(t, FourCCFLAC, FourCC("fLaC"))
	assert.Equal(t, FourCCAC3, FourCC("ac-3"))
	assert.Equal(t, FourCCEAC3, FourCC("ec-3"))
	assert.Equal(t, FourCCMP3, FourCC(".mp3"))
	assert.Equal(t, uint32(0), FourCC("abc"))
	assert.Equal(t, "hvc1", FourCCString(FourCCHEVC))
	assert.Equal(t, ".mp3", FourCCString(FourCCMP3))
}

func BenchmarkPutTag(b *testing.B) {
	payload := bytes.Repeat([]byte{0x42}, 16<<10)
	b.Run("PutTag", func(b *testing.B) {
		buf := make([]byte, TagSize(len(payload)))
		b.ReportAllocs()
		b.SetBytes(int64(len(buf)))
		var ts uint32
		for b.Loop() {
			PutTag(buf, TagVideo, ts, payload)
			ts += 33
		}
	})
	b.Run("AppendTag", func(b *testing.B) {
		buf := make([]byte, 0, TagSize(len(payload)))
		b.ReportAllocs()
		b.SetBytes(int64(cap(buf)))
		var ts uint32
		for b.Loop() {
			buf = AppendTag(buf[:0], TagVideo, ts, payload)
			ts += 33
		}
	})
	b.Run("HeaderOnly", func(b *testing.B) {
		// The payload is already in place (read straight into buf[11:]).
		buf := make([]byte, TagSize(len(payload)))
		b.ReportAllocs()
		var ts uint32
		for b.Loop() {
			PutTagHeader(buf, TagVideo, ts, len(payload))
			PutPrevTagSize(buf[TagHeaderSize+len(payload):], len(payload))
			ts += 33
		}
	})
}

func BenchmarkParseVideo(b *testing.B) {
	body := append([]byte{0x27, 1, 0, 0, 0x21}, bytes.Repeat([]byte{0x41}, 4096)...)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseVideo(body); err != nil {
			b.Fatal(err)
		}
	}
}
