package rtmpclient

import (
	"bytes"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	rtmp "github.com/yutopp/go-rtmp"

	"github.com/headwater-media/headwater/internal/rtmptest"
)

// fuzzMaxMessageSize keeps the fuzzer's memory small.
const fuzzMaxMessageSize = 64 << 10

// FuzzReadTag feeds arbitrary server bytes to a started Player (no
// handshake; what follows play): it must return tags or an error, never
// panic, and never hand out more than a message's worth of data.
func FuzzReadTag(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p := newStartedPlayer(memConn{bytes.NewReader(data)}, Options{MaxMessageSize: fuzzMaxMessageSize})
		defer p.Close()
		for {
			tag, err := p.ReadTag()
			if err != nil {
				return
			}
			if len(tag.Data) > fuzzMaxMessageSize+len(onMetaData) {
				t.Fatalf("tag of %d bytes", len(tag.Data))
			}
		}
	})
}

// fuzzSeeds are well-formed server streams that reach every handler.
func fuzzSeeds() [][]byte {
	var seeds [][]byte
	add := func(c *rtmptest.Chunker) { seeds = append(seeds, bytes.Clone(c.B)) }

	c := rtmptest.NewChunker()
	c.Msg(2, typeUserControl, 0, 0, userControl(0, playStreamID))
	c.Msg(5, rtmptest.TypeCommand, 0, playStreamID, rtmptest.Command("onStatus", 0, rtmptest.Args{nil, map[string]any{"level": "status", "code": "NetStream.Play.Start"}}))
	c.Msg(5, rtmptest.TypeData, 0, playStreamID, rtmptest.SetDataFrame(meta))
	c.Msg(5, rtmptest.TypeData, 0, playStreamID, meta)
	c.Msg(6, rtmptest.TypeVideo, 0, playStreamID, avcSeq)
	c.Msg(4, rtmptest.TypeAudio, 0, playStreamID, aacSeq)
	c.SetChunkSize(4096)
	c.Msg(6, rtmptest.TypeVideo, 0xffffff+1, playStreamID, keyframe)
	c.Next(1, 6, rtmptest.TypeVideo, 40, inter)
	c.Next(2, 6, rtmptest.TypeVideo, 0x1000000, inter)
	c.Next(3, 6, rtmptest.TypeVideo, 0, inter)
	c.Msg(4, rtmptest.TypeAudio, 23, playStreamID, aacFrame)
	add(c)

	c = rtmptest.NewChunker()
	c.Msg(5, rtmptest.TypeAggregate, 5000, playStreamID, rtmptest.Aggregate(
		rtmptest.Sub{Type: rtmptest.TypeAudio, TS: 1000, Payload: aacFrame},
		rtmptest.Sub{Type: rtmptest.TypeVideo, TS: 1020, Payload: inter},
		rtmptest.Sub{Type: rtmptest.TypeData, TS: 1040, Payload: rtmptest.SetDataFrame(meta)},
	))
	c.Msg(2, typeWinAckSize, 0, 0, be32(100))
	c.Msg(2, typeUserControl, 0, 0, userControl(6, 42))
	c.Msg(2, typeUserControl, 0, 0, userControl(31, playStreamID))
	c.Msg(3, rtmptest.TypeCommand, 0, 0, rtmptest.Command("_result", 1, rtmptest.Args{nil, 1.0}))
	c.Msg(5, rtmptest.TypeData, 0, playStreamID, dataMsg("onPlayStatus", map[string]any{"code": "NetStream.Play.Switch"}))
	c.SetChunkSize(1)
	c.Msg(4, rtmptest.TypeAudio, 0, playStreamID, aacSeq)
	c.Msg(5, rtmptest.TypeCommand, 0, playStreamID, rtmptest.Command("onStatus", 0, rtmptest.Args{nil, map[string]any{"level": "status", "code": "NetStream.Play.UnpublishNotify"}}))
	add(c)

	c = rtmptest.NewChunker()
	c.Msg(2, typeUserControl, 0, 0, userControl(1, playStreamID))
	add(c)
	return seeds
}

// TestFuzzSeedsReachTheirEnd: the seeds read through (so the fuzzer starts
// from streams that go deep).
func TestFuzzSeedsReachTheirEnd(t *testing.T) {
	wantTags := []int{9, 4, 0}
	for i, seed := range fuzzSeeds() {
		p := newStartedPlayer(memConn{bytes.NewReader(seed)}, Options{MaxMessageSize: fuzzMaxMessageSize})
		n := 0
		var err error
		for ; ; n++ {
			if _, err = p.ReadTag(); err != nil {
				break
			}
		}
		require.NoError(t, p.Close())
		require.Equal(t, wantTags[i], n, "seed %d: %v", i, err)
		if i > 0 {
			require.ErrorIs(t, err, ErrStreamEnded, "seed %d", i)
		}
	}
}

// TestAckTrapIsAnError: go-rtmp's own acknowledgement, which panics on a
// nil callback when a chunk ends exactly at its threshold, becomes
// errAckTrap; any other panic is not swallowed. The threshold is 2^32-1 in
// use; here it is moved to the end of the first message.
func TestAckTrapIsAnError(t *testing.T) {
	first := rtmptest.NewChunker().Msg(6, rtmptest.TypeVideo, 0, playStreamID, keyframe) // 79 chunks
	stream := rtmptest.NewChunker().Raw(first.B).Msg(4, rtmptest.TypeAudio, 0, playStreamID, aacSeq).B
	trap := func(at uint32) *Player {
		p := newStartedPlayer(memConn{bytes.NewReader(stream)}, Options{})
		require.NoError(t, p.cs.PeerState().SetAckWindowSize(int32(2*at)))
		p.ackTrapAt = at
		return p
	}

	p := trap(uint32(len(first.B)))
	_, err := p.ReadTag()
	require.ErrorIs(t, err, errAckTrap)
	require.NoError(t, p.Close())

	// The counter passes the threshold inside a chunk: that panic is not
	// the trap's, and read lets it through.
	p = trap(uint32(len(first.B) - 1))
	require.Panics(t, func() { _, _ = p.ReadTag() })
	require.NoError(t, p.Close())
}

// TestAckThresholdAt4GiB reads past 4 GiB with go-rtmp's real threshold
// (2^32-1): no acknowledgement panic at 1 GiB or anywhere, unless a chunk
// ends exactly at byte 2^32-1, which is then errAckTrap. It moves 8 GiB
// through memory, so it runs only with RTMPCLIENT_LONG=1.
func TestAckThresholdAt4GiB(t *testing.T) {
	if os.Getenv("RTMPCLIENT_LONG") == "" {
		t.Skip("set RTMPCLIENT_LONG=1 to move 8 GiB through the client")
	}
	// One message per chunk: a 12-byte header and the payload. 2^32-1 is
	// 3855 × 1114129 and is odd, so 1114128-byte chunks never end there.
	for _, tc := range []struct {
		chunk int
		trap  bool
	}{{1114128, false}, {1114129, true}} {
		c := rtmptest.NewChunker().SetChunkSize(rtmp.MaxChunkSize)
		c.B = c.B[:0]
		c.Msg(6, rtmptest.TypeVideo, 0, playStreamID, payload(tc.chunk-12, 1))
		p := newStartedPlayer(memConn{&repeatReader{b: c.B}}, Options{MaxMessageSize: 2 << 20})
		require.NoError(t, p.cs.PeerState().SetChunkSize(rtmp.MaxChunkSize))
		const n = (1<<32)/1114128 + 10
		var err error
		i := 0
		for ; i < n; i++ {
			if _, err = p.ReadTag(); err != nil {
				break
			}
		}
		require.NoError(t, p.Close())
		if tc.trap {
			require.ErrorIs(t, err, errAckTrap)
			require.Equal(t, 3855-1, i, "the message that ends at 2^32-1 is lost")
		} else {
			require.NoError(t, err)
			require.Greater(t, p.BytesRead(), uint64(1<<32))
		}
	}
}

// FuzzPublisherRead feeds arbitrary server bytes to a started publish's
// reader (what Publisher's goroutine runs): it must end with an error,
// never panic, and only queue replies for the writer.
func FuzzPublisherRead(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(seed)
	}
	c := rtmptest.NewChunker()
	c.Msg(2, typeWinAckSize, 0, 0, be32(100))
	c.Msg(2, typeUserControl, 0, 0, userControl(6, 42))
	c.Msg(3, rtmptest.TypeCommand, 0, 0, dataMsg("onFCPublish"))
	c.Msg(5, rtmptest.TypeCommand, 0, playStreamID, rtmptest.Command("onStatus", 0, rtmptest.Args{nil, map[string]any{"level": "error", "code": "NetStream.Publish.BadName"}}))
	f.Add(bytes.Clone(c.B))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := newStartedPlayer(memConn{bytes.NewReader(data)}, Options{MaxMessageSize: fuzzMaxMessageSize})
		defer p.Close()
		pub := &Publisher{c: p}
		p.publish, p.handedOver, p.control = true, true, pub.queue
		for {
			if _, err := p.ReadTag(); err != nil {
				return
			}
		}
	})
}
