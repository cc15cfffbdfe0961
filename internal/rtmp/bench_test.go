package rtmp

import (
	"context"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/yutopp/go-rtmp/handshake"

	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/rtmptest"
	"github.com/headwater-media/headwater/internal/stream"
	st "github.com/headwater-media/headwater/internal/stream/streamtest"
)

// BenchmarkIngestTag runs one 11 KB video frame (about 2.7 Mbit/s at
// 30 fps) per op through the whole ingest: a TCP connection, go-rtmp's
// chunk reader (4096-byte chunks, as ffmpeg and OBS send), the handler and
// Stream.Write. allocs/op is per tag (allocs/tag, unrounded): the payload
// buffer, which becomes the FLV tag every player shares, plus 1/32 for the
// *stream.Tag (a slab of 32); go-rtmp adds none (patch 8).
func BenchmarkIngestTag(b *testing.B) {
	reg := registry.New(stream.DefaultConfig())
	s := NewServer(DefaultConfig(), reg, zerolog.Nop())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := handshake.HandshakeWithServer(c, c, &handshake.Config{}); err != nil {
		b.Fatal(err)
	}
	drained := make(chan struct{})
	go func() { defer close(drained); _, _ = io.Copy(io.Discard, c) }()

	ch := rtmptest.NewChunker()
	ch.Raw(rtmpPublishPrefix())
	ch.SetChunkSize(4096)
	ch.Msg(6, typeVideo, 0, 1, tagPayload(st.AVCSeqHeader()))
	ch.Msg(6, typeVideo, 0, 1, tagPayload(st.AVCFrame(true, 11000)))
	if _, err := c.Write(ch.B); err != nil {
		b.Fatal(err)
	}
	ch.B = ch.B[:0]
	frame := tagPayload(st.AVCFrame(false, 11000))
	ch.Msg(6, typeVideo, 40, 1, frame)
	msg := ch.B
	bytesIn := func() uint64 {
		if ss := reg.Streams(); len(ss) == 1 {
			return ss[0].BytesIn
		}
		return 0
	}
	for bytesIn() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the keyframe is in
	base := bytesIn()
	want := base + uint64(b.N)*uint64(len(frame)+15)

	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	b.ResetTimer()
	go func() {
		for i := 0; i < b.N; i++ {
			if _, err := c.Write(msg); err != nil {
				return
			}
		}
	}()
	for bytesIn() < want {
		time.Sleep(5 * time.Millisecond) // reg.Streams allocates: poll rarely
	}
	b.StopTimer()
	runtime.ReadMemStats(&m1)
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(b.N), "allocs/tag")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		b.Fatal(err)
	}
	<-served
	c.Close()
	<-drained
}
