package rtmp

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/yutopp/go-rtmp/message"
)

// failingWriter accepts nothing, like a socket the peer has reset.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("connection reset") }

// TestWaitWritersDoesNotBlockWriterErrorPath: when the writer loop fails
// with messages still queued, waitWriters must not hold the lock that the
// error path needs to release them, or every close stalls for 3 s.
func TestWaitWritersDoesNotBlockWriterErrorPath(t *testing.T) {
	cs := NewChunkStreamer(nil, failingWriter{}, nil)
	defer cs.Close()
	// Block the writer loop's error path behind waitWriters: queue two
	// messages on two chunk streams, the first write fails.
	for _, csid := range []int{3, 4} {
		w, err := cs.NewChunkWriter(context.Background(), csid)
		require.NoError(t, err)
		cs.msgEnc.Reset(w)
		require.NoError(t, cs.msgEnc.Encode(&message.Ack{SequenceNumber: 1}))
		w.messageLength = uint32(w.buf.Len())
		w.messageTypeID = byte(message.TypeIDAck)
		require.NoError(t, cs.Sched(w))
	}
	start := time.Now()
	cs.waitWriters()
	require.Less(t, time.Since(start), 2*time.Second, "waitWriters waited for its own timeout")
	<-cs.Done()
}

// TestWaitWritersReturnsOnceTheWriterLoopEnded: a message scheduled after
// the writer loop failed is never written; waitWriters must not wait its
// 3 s for it (found by headwater's torture test: shutdown overran its
// bound). (headwater patch 9)
func TestWaitWritersReturnsOnceTheWriterLoopEnded(t *testing.T) {
	cs := NewChunkStreamer(nil, failingWriter{}, nil)
	defer cs.Close()
	sched := func(csid int) {
		w, err := cs.NewChunkWriter(context.Background(), csid)
		require.NoError(t, err)
		cs.msgEnc.Reset(w)
		require.NoError(t, cs.msgEnc.Encode(&message.Ack{SequenceNumber: 1}))
		w.messageLength = uint32(w.buf.Len())
		w.messageTypeID = byte(message.TypeIDAck)
		require.NoError(t, cs.Sched(w))
	}
	sched(3) // the loop fails writing it and ends
	<-cs.Done()
	sched(4) // a new chunk stream: queued, never written
	start := time.Now()
	cs.waitWriters()
	require.Less(t, time.Since(start), 2*time.Second, "waitWriters waited for a writer loop that had ended")
}
