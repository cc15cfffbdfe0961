package hwbench

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/pkg/flv"
)

// collect records what a Parser reports.
type collect struct {
	types     []uint8
	ts        []uint32
	sizes     []int
	prefixes  [][]byte
	backwards int
}

func (c *collect) Tag(t *TagInfo) {
	c.types = append(c.types, t.Type)
	c.ts = append(c.ts, t.Timestamp)
	c.sizes = append(c.sizes, t.Size)
	c.prefixes = append(c.prefixes, append([]byte(nil), t.Prefix...))
	if t.Backwards {
		c.backwards++
	}
}

// testStream is an FLV stream with a script tag, sequence headers, a
// large key frame (bigger than the prefix) and small frames.
func testStream() []byte {
	b := flv.AppendHeader(nil, true, true)
	b = flv.AppendTag(b, flv.TagScript, 0, []byte("\x02\x00\x0aonMetaData"))
	b = flv.AppendTag(b, flv.TagVideo, 0, []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff})
	b = flv.AppendTag(b, flv.TagAudio, 0, []byte{0xaf, 0, 0x12, 0x10})
	big := make([]byte, 5000)
	copy(big, []byte{0x17, 1, 0, 0, 0})
	for i := 5; i < len(big); i++ {
		big[i] = byte(i)
	}
	b = flv.AppendTag(b, flv.TagVideo, 0, big)
	b = flv.AppendTag(b, flv.TagAudio, 23, []byte{0xaf, 1, 0x21})
	b = flv.AppendTag(b, flv.TagVideo, 33, []byte{0x27, 1, 0, 0, 0, 0, 0, 0, 1, 0x41})
	b = flv.AppendTag(b, flv.TagVideo, 0x01000000, []byte{0x27, 1, 0, 0, 0}) // extended timestamp
	return b
}

func TestParserGoodStreamInAnyPieces(t *testing.T) {
	stream := testStream()
	for _, piece := range []int{1, 2, 3, 7, 11, 13, 64, 4096, len(stream)} {
		var p Parser
		var c collect
		for off := 0; off < len(stream); off += piece {
			require.NoError(t, p.Feed(stream[off:min(off+piece, len(stream))], &c), "piece %d", piece)
		}
		require.False(t, p.Mid(), "piece %d: stream ends between tags", piece)
		require.True(t, p.HasAudio)
		require.True(t, p.HasVideo)
		require.Equal(t, []uint8{18, 9, 8, 9, 8, 9, 9}, c.types, "piece %d", piece)
		require.Equal(t, []uint32{0, 0, 0, 0, 23, 33, 0x01000000}, c.ts)
		require.Equal(t, 5000, c.sizes[3])
		require.Len(t, c.prefixes[3], prefixCap, "only the prefix of a large tag is kept")
		require.Equal(t, []byte{0x17, 1, 0, 0, 0, 5, 6}, c.prefixes[3][:7])
		require.Equal(t, []byte{0x27, 1, 0, 0, 0, 0, 0, 0, 1, 0x41}, c.prefixes[5])
		require.Zero(t, c.backwards)
	}
}

func TestParserDoesNotAllocate(t *testing.T) {
	stream := testStream()
	var p Parser
	h := nopHandler{}
	require.Zero(t, testing.AllocsPerRun(50, func() {
		p.Reset()
		for off := 0; off < len(stream); off += 1000 {
			if err := p.Feed(stream[off:min(off+1000, len(stream))], h); err != nil {
				t.Fatal(err)
			}
		}
	}))
}

type nopHandler struct{}

func (nopHandler) Tag(*TagInfo) {}

func TestParserErrors(t *testing.T) {
	good := testStream()
	hdrLen := flv.HeaderSize + flv.PrevTagSizeLen
	firstTag := flv.TagSize(len("\x02\x00\x0aonMetaData"))

	t.Run("bad PreviousTagSize", func(t *testing.T) {
		b := append([]byte(nil), good...)
		binary.BigEndian.PutUint32(b[hdrLen+firstTag-4:], 99)
		var p Parser
		var c collect
		err := p.Feed(b, &c)
		require.ErrorIs(t, err, ErrBadPrevTagSize)
		require.Len(t, c.types, 1, "the tag before the bad size is complete")
		require.ErrorIs(t, p.Feed([]byte{0}, &c), ErrBadPrevTagSize, "the error sticks")
	})
	t.Run("bad PreviousTagSize0", func(t *testing.T) {
		b := append([]byte(nil), good...)
		b[12] = 1
		var p Parser
		require.ErrorIs(t, p.Feed(b, &collect{}), ErrBadPrevTagSize)
	})
	t.Run("bad signature", func(t *testing.T) {
		b := append([]byte(nil), good...)
		b[0] = 'G'
		var p Parser
		require.ErrorIs(t, p.Feed(b, &collect{}), ErrBadFLVHeader)
	})
	t.Run("bad tag type", func(t *testing.T) {
		b := append([]byte(nil), good...)
		b[hdrLen] = 7
		var p Parser
		require.ErrorIs(t, p.Feed(b, &collect{}), ErrBadTag)
	})
	t.Run("truncated", func(t *testing.T) {
		for _, cut := range []int{5, hdrLen + 3, hdrLen + 20, hdrLen + firstTag - 2, len(good) - 1} {
			var p Parser
			require.NoError(t, p.Feed(good[:cut], &collect{}))
			require.True(t, p.Mid(), "cut at %d is inside a header or tag", cut)
		}
		var p Parser
		require.NoError(t, p.Feed(good[:hdrLen+firstTag], &collect{}))
		require.False(t, p.Mid(), "cut between tags")
	})
	t.Run("timestamps going back are flagged, not fatal", func(t *testing.T) {
		b := flv.AppendHeader(nil, true, true)
		b = flv.AppendTag(b, flv.TagVideo, 100, []byte{0x27, 1, 0, 0, 0})
		b = flv.AppendTag(b, flv.TagAudio, 50, []byte{0xaf, 1}) // other track: fine
		b = flv.AppendTag(b, flv.TagVideo, 90, []byte{0x27, 1, 0, 0, 0})
		b = flv.AppendTag(b, flv.TagScript, 0, []byte{2}) // script tags are not checked
		b = flv.AppendTag(b, flv.TagVideo, 90, []byte{0x27, 1, 0, 0, 0})
		var p Parser
		var c collect
		require.NoError(t, p.Feed(b, &c))
		require.Equal(t, 1, c.backwards)
		require.Len(t, c.types, 5)
	})
	t.Run("reset after an error", func(t *testing.T) {
		var p Parser
		require.Error(t, p.Feed([]byte("GARBAGE-GARBAGE"), &collect{}))
		p.Reset()
		require.NoError(t, p.Feed(good, &collect{}))
	})
}
