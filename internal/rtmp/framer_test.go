package rtmp

import (
	"bytes"
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
	gortmp "github.com/yutopp/go-rtmp"
	rtmpmsg "github.com/yutopp/go-rtmp/message"

	"github.com/headwater-media/headwater/internal/lockcheck"
	"github.com/headwater-media/headwater/internal/play"
	"github.com/headwater-media/headwater/internal/play/playtest"
	"github.com/headwater-media/headwater/internal/stream"
	st "github.com/headwater-media/headwater/internal/stream/streamtest"
	"github.com/headwater-media/headwater/pkg/flv"
)

// decodeAll reads every message in b with go-rtmp's own chunk reader
// (chunk size announced in b), returning type, timestamp, stream id and
// payload of each.
type decoded struct {
	typ     rtmpmsg.TypeID
	ts      uint32
	msid    uint32
	payload []byte
	msg     rtmpmsg.Message
}

func decodeAll(t *testing.T, b []byte) []decoded {
	t.Helper()
	cs := gortmp.NewChunkStreamer(bytes.NewReader(b), io.Discard, nil)
	defer cs.Close()
	var out []decoded
	for {
		var cm gortmp.ChunkMessage
		_, ts, err := cs.Read(&cm)
		if err != nil {
			require.ErrorIs(t, err, io.EOF)
			return out
		}
		d := decoded{typ: cm.Message.TypeID(), ts: ts, msid: cm.StreamID, msg: cm.Message}
		switch m := cm.Message.(type) {
		case *rtmpmsg.SetChunkSize:
			require.NoError(t, cs.PeerState().SetChunkSize(m.ChunkSize))
		case *rtmpmsg.VideoMessage:
			d.payload, _ = io.ReadAll(m.Payload)
		case *rtmpmsg.AudioMessage:
			d.payload, _ = io.ReadAll(m.Payload)
		}
		out = append(out, d)
	}
}

// TestFramerOutputIsValidRTMP: what a play session writes (head, tags
// of every size including several chunks, timestamps past the 24-bit
// mark, end) reads back with go-rtmp's chunk reader as the same messages
// with the same payloads and timestamps.
func TestFramerOutputIsValidRTMP(t *testing.T) {
	f := newFramer(1, "cam")
	var wire []byte
	wire = append(wire, f.Head()...)
	s := stream.New(stream.DefaultConfig())
	sub := s.Subscribe()
	big := st.AVCFrame(true, 3*PlayChunkSize+17)
	tags := []struct {
		typ uint8
		ts  uint32
		buf []byte
	}{
		{flv.TagVideo, 0, st.AVCSeqHeader()},
		{flv.TagVideo, 0, big},
		{flv.TagVideo, 40, st.AVCFrame(false, 1000)},
		{flv.TagVideo, 80, st.AVCFrame(false, PlayChunkSize)},
	}
	for _, tg := range tags {
		require.NoError(t, s.Write(tg.typ, tg.ts, bytes.Clone(tg.buf)))
	}
	batch, err := sub.Next(t.Context(), nil)
	require.NoError(t, err)
	// A tag past 2^24 ms: extended timestamps on its type 3 chunks too.
	ext := &stream.Tag{Type: flv.TagVideo, Timestamp: 0x1234567, Data: st.AVCFrame(false, PlayChunkSize+5)}
	batch = append(batch, ext)
	var iov net.Buffers
	for _, tg := range batch {
		iov = f.Append(iov, tg)
	}
	for _, b := range iov {
		wire = append(wire, b...)
	}
	f.Flushed()
	wire = append(wire, f.End()...)

	msgs := decodeAll(t, wire)
	var media []decoded
	var statuses []string
	for _, m := range msgs {
		switch m.typ {
		case rtmpmsg.TypeIDVideoMessage:
			media = append(media, m)
		case rtmpmsg.TypeIDCommandMessageAMF0:
			statuses = append(statuses, m.msg.(*rtmpmsg.CommandMessage).CommandName)
		}
	}
	require.Equal(t, []string{"onStatus", "onStatus", "onStatus", "onStatus"}, statuses, "Reset, Start; UnpublishNotify, Stop")
	require.Len(t, media, len(batch))
	for i, m := range media {
		require.Equal(t, batch[i].Payload(), m.payload, "message %d", i)
		require.Equal(t, batch[i].Timestamp, m.ts, "message %d", i)
		require.Equal(t, uint32(1), m.msid)
	}
	require.Contains(t, string(f.Head()), "NetStream.Play.Start")
	require.Contains(t, string(f.End()), "NetStream.Play.UnpublishNotify")
}

// TestRTMPSendPathAllocatesNothing: as HTTP-FLV's: a tag written by the
// publisher and framed and written (writev of chunk headers around the
// shared payload) by 10 RTMP players costs at most one allocation in all
// (Stream.Write's share of a Tag slab), none per player: the payload is
// never copied.
func TestRTMPSendPathAllocatesNothing(t *testing.T) {
	if lockcheck.Enabled() {
		t.Skip("go-deadlock's mutexes allocate on every lock; the count is only meaningful in normal builds")
	}
	b := playtest.NewSendBench(t, 10, func() play.Framer { return newFramer(1, "bench") })
	defer b.Close()
	for _, size := range []int{11000, 3*PlayChunkSize + 17} {
		buf := st.AVCFrame(false, size)
		ts := uint32(0)
		allocs := testing.AllocsPerRun(200, func() {
			ts += 33
			if err := b.S.Write(flv.TagVideo, ts, buf); err != nil {
				t.Fatal(err)
			}
			b.Step(t)
		})
		require.LessOrEqual(t, allocs, 1.0, "allocations per %d-byte tag, 10 players", size)
	}
}

// BenchmarkRTMPSendPath is internal/httpflv's BenchmarkSendPath for RTMP
// play: one 11 KB video tag taken and written by each of 50 RTMP players
// (a 12-byte chunk header in front of the shared payload, one writev).
// allocs/op is per tag for all players together.
func BenchmarkRTMPSendPath(b *testing.B) {
	const players = 50
	sb := playtest.NewSendBench(b, players, func() play.Framer { return newFramer(1, "bench") })
	defer sb.Close()
	buf := st.AVCFrame(false, 11000)
	b.SetBytes(int64(len(buf) * players))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := sb.S.Write(flv.TagVideo, uint32(i), buf); err != nil {
			b.Fatal(err)
		}
		sb.Step(b)
	}
}
