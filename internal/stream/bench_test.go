package stream

import (
	"context"
	"testing"

	st "github.com/headwater-media/headwater/internal/stream/streamtest"
	"github.com/headwater-media/headwater/pkg/flv"
)

// BenchmarkWriteFanout1000 measures one tag fanned out to 1,000
// subscribers that drain their queues every 32 tags. allocs/op is per tag
// for all 1,000 players together: 0, the shared *Tag being 1/32 of a slab
// (the payload buffer is the publisher's).
func BenchmarkWriteFanout1000(b *testing.B) {
	s := New(Config{GOPCacheBytes: 1 << 20, QueueBytes: 64 << 20, QueueDuration: 0})
	_ = s.Write(flv.TagVideo, 0, st.AVCSeqHeader())
	_ = s.Write(flv.TagVideo, 0, st.AVCFrame(true, 1000))
	subs := make([]*Subscriber, 1000)
	for i := range subs {
		subs[i] = s.Subscribe()
	}
	ctx := context.Background()
	batch := make([]*Tag, 0, 64)
	drainAll := func() {
		for _, sub := range subs {
			batch, _ = sub.Next(ctx, batch[:0])
		}
	}
	drainAll()
	buf := st.AVCFrame(false, 11000) // ~2.7 Mbit/s at 30 fps
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = s.Write(flv.TagVideo, uint32(i), buf)
		if i%32 == 31 {
			b.StopTimer()
			drainAll()
			b.StartTimer()
		}
	}
	b.StopTimer()
	for _, sub := range subs {
		s.Unsubscribe(sub)
	}
}
