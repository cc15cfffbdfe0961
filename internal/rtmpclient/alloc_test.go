package rtmpclient

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/internal/rtmptest"
	"github.com/headwater-media/headwater/pkg/flv"
)

// mediaBatch is what a live server sends for one second or so: video
// frames of 4000 bytes and audio frames of 300, in 128-byte chunks (the
// RTMP default, which ffmpeg -listen 1 keeps), with type 0, 1 and 2
// headers and extended timestamps. The batch can be read over and over:
// its first messages have type 0 headers.
func mediaBatch(frames int) []byte {
	c := rtmptest.NewChunker()
	video := append([]byte{0x27, 1, 0, 0, 0}, payload(4000, 1)...)
	audio := append([]byte{0xaf, 1}, payload(300, 2)...)
	const base = 0xfffff0 // crosses into extended timestamps
	c.Msg(6, rtmptest.TypeVideo, base, playStreamID, video)
	c.Msg(4, rtmptest.TypeAudio, base, playStreamID, audio)
	for i := 1; i < frames; i++ {
		if i%10 == 0 {
			c.Next(1, 6, rtmptest.TypeVideo, 40, video[:3000])
			c.Next(1, 6, rtmptest.TypeVideo, 40, video)
			i++
		} else {
			c.Next(2, 6, rtmptest.TypeVideo, 40, video)
		}
		c.Next(2, 4, rtmptest.TypeAudio, 23, audio)
	}
	return c.B
}

// TestReadTagDoesNotAllocate: in the steady state, reading an audio or
// video message allocates nothing, over a TCP connection with read and
// write deadlines and over memory.
func TestReadTagDoesNotAllocate(t *testing.T) {
	t.Run("Memory", func(t *testing.T) {
		p := newStartedPlayer(memConn{&repeatReader{b: mediaBatch(100)}}, Options{ReadTimeout: time.Second})
		defer p.Close()
		readTags(t, p, 50) // warm up: buffers grow
		allocs := testing.AllocsPerRun(1000, func() {
			if _, err := p.ReadTag(); err != nil {
				t.Fatal(err)
			}
		})
		require.Zero(t, allocs, "allocations per ReadTag")
	})
	t.Run("TCP", func(t *testing.T) {
		batch := mediaBatch(100)
		url := serve(t, func(s *fakeServer) {
			if _, ok := s.acceptPlay(); !ok {
				return
			}
			s.ch.SetChunkSize(128) // the batch's
			for {
				s.ch.Raw(batch)
				if !s.flush() {
					return
				}
			}
		})
		p := play(t, url, testOpts) // read and write timeouts
		readTags(t, p, 50)
		allocs := testing.AllocsPerRun(1000, func() {
			if _, err := p.ReadTag(); err != nil {
				t.Fatal(err)
			}
		})
		require.Zero(t, allocs, "allocations per ReadTag")
		require.NoError(t, p.Close())
	})
}

// BenchmarkReadTag reads media messages (about 2,200 bytes on average, in
// 128-byte chunks) from memory: the client's cost per message.
func BenchmarkReadTag(b *testing.B) {
	batch := mediaBatch(100)
	p := newStartedPlayer(memConn{&repeatReader{b: batch}}, Options{})
	defer p.Close()
	for range 50 {
		if _, err := p.ReadTag(); err != nil {
			b.Fatal(err)
		}
	}
	var n int64
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		tag, err := p.ReadTag()
		if err != nil {
			b.Fatal(err)
		}
		n += int64(len(tag.Data))
	}
	b.SetBytes(n / int64(b.N))
}

// BenchmarkReadLargeKeyframe reads 200 KB keyframes: go-rtmp drops a chunk
// stream's buffer over 64 KiB once the next message starts, so every such
// message grows a new one (allocations per keyframe, not per frame).
func BenchmarkReadLargeKeyframe(b *testing.B) {
	c := rtmptest.NewChunker().SetChunkSize(4096)
	key := append([]byte{0x17, 1, 0, 0, 0}, payload(200000, 1)...)
	c.Msg(6, rtmptest.TypeVideo, 0, playStreamID, key)
	c.Msg(4, rtmptest.TypeAudio, 0, playStreamID, aacFrame)
	batch := bytes.Clone(c.B[12+4:]) // without the Set Chunk Size
	p := newStartedPlayer(memConn{&repeatReader{b: batch}}, Options{})
	defer p.Close()
	if err := p.cs.PeerState().SetChunkSize(4096); err != nil {
		b.Fatal(err)
	}
	for range 4 {
		if _, err := p.ReadTag(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		tag, err := p.ReadTag() // the keyframe
		if err != nil || tag.Type != flv.TagVideo {
			b.Fatal(err, tag.Type)
		}
		if _, err := p.ReadTag(); err != nil { // the audio frame
			b.Fatal(err)
		}
	}
}
