//
// Copyright (c) 2018- yutopp (yutopp@gmail.com)
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at  https://www.boost.org/LICENSE_1_0.txt)
//

package rtmp

// Tests of headwater patch 12: writer hand-over (the streamer's side).

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/ioutil"
	"sync"
	"testing"
	"time"

	"github.com/fortytw2/leaktest"
	"github.com/stretchr/testify/require"

	"github.com/yutopp/go-rtmp/message"
)

// wireWriter records what reaches the wire. While gate is open (not closed),
// every Write blocks: a slow socket. entered is closed at the first Write.
type wireWriter struct {
	gate      chan struct{}
	openOnce  sync.Once
	entered   chan struct{}
	enterOnce sync.Once

	mu  sync.Mutex
	buf bytes.Buffer
}

func newWireWriter(gated bool) *wireWriter {
	w := &wireWriter{
		gate:    make(chan struct{}),
		entered: make(chan struct{}),
	}
	if !gated {
		w.open()
	}
	return w
}

// open Lets every Write through.
func (w *wireWriter) open() {
	w.openOnce.Do(func() { close(w.gate) })
}

func (w *wireWriter) Write(b []byte) (int, error) {
	w.enterOnce.Do(func() { close(w.entered) })
	<-w.gate

	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(b)
}

func (w *wireWriter) Bytes() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]byte(nil), w.buf.Bytes()...)
}

// readWire Decodes every message on the wire (default chunk size) until its end.
func readWire(t *testing.T, wire []byte) []message.Message {
	t.Helper()
	r := NewChunkStreamer(bytes.NewReader(wire), ioutil.Discard, nil)
	defer r.Close()

	var msgs []message.Message
	for {
		var cmsg ChunkMessage
		_, _, err := r.Read(&cmsg)
		if err == io.EOF {
			return msgs
		}
		require.NoError(t, err, "The wire ends inside a message")
		switch m := cmsg.Message.(type) {
		case *message.VideoMessage:
			// The payload reader is reused by the next Read
			b, err := ioutil.ReadAll(m.Payload)
			require.NoError(t, err)
			msgs = append(msgs, &message.VideoMessage{Payload: bytes.NewReader(b)})
		default:
			msgs = append(msgs, m)
		}
	}
}

func videoPayload(t *testing.T, msg message.Message) []byte {
	t.Helper()
	v, ok := msg.(*message.VideoMessage)
	require.True(t, ok, "Not a video message: %#v", msg)
	b, err := ioutil.ReadAll(v.Payload)
	require.NoError(t, err)
	return b
}

// TestHandOverWaitsForScheduledMessages: HandOver returns only once every
// message scheduled before it, one of several chunks, is completely on the
// wire, however slow the wire is.
func TestHandOverWaitsForScheduledMessages(t *testing.T) {
	defer leaktest.Check(t)()

	w := newWireWriter(true)
	cs := NewChunkStreamer(nil, w, nil)
	defer func() {
		w.open()
		require.NoError(t, cs.Close())
		<-cs.Done()
	}()

	ctx := context.Background()
	video := testPayload(300, 7) // 3 chunks of 128 bytes
	require.NoError(t, cs.Write(ctx, 6, 1000, &ChunkMessage{
		StreamID: 1,
		Message:  &message.VideoMessage{Payload: bytes.NewReader(video)},
	}))
	<-w.entered // The writer loop is stuck in the first write of the video message
	require.NoError(t, cs.Write(ctx, ctrlMsgChunkStreamID, 0, &ChunkMessage{
		Message: &message.Ack{SequenceNumber: 12345},
	}))

	handOverErr := make(chan error, 1)
	go func() {
		handOverErr <- cs.HandOver(ctx)
	}()

	select {
	case err := <-handOverErr:
		require.FailNow(t, "HandOver returned while messages were still being written", "Err = %v", err)
	case <-time.After(200 * time.Millisecond):
	}

	w.open()
	select {
	case err := <-handOverErr:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		require.FailNow(t, "HandOver did not return")
	}

	// Everything is on the wire the moment HandOver returns
	msgs := readWire(t, w.Bytes())
	require.Len(t, msgs, 2)
	var gotVideo, gotAck bool
	for _, m := range msgs {
		switch m := m.(type) {
		case *message.VideoMessage:
			require.Equal(t, video, videoPayload(t, m))
			gotVideo = true
		case *message.Ack:
			require.Equal(t, uint32(12345), m.SequenceNumber)
			gotAck = true
		}
	}
	require.True(t, gotVideo && gotAck, "Messages = %#v", msgs)
}

// TestHandOverGivesUp: HandOver returns ctx.Err() when ctx ends first (and
// the streamer is not handed over then), and an error when the writer loop
// has ended, failed or closed.
func TestHandOverGivesUp(t *testing.T) {
	defer leaktest.Check(t)()

	t.Run("Context", func(t *testing.T) {
		w := newWireWriter(true)
		cs := NewChunkStreamer(nil, w, nil)
		defer func() {
			w.open()
			require.NoError(t, cs.Close())
			<-cs.Done()
		}()

		require.NoError(t, cs.Write(context.Background(), 3, 0, &ChunkMessage{
			Message: &message.Ack{SequenceNumber: 1},
		}))
		<-w.entered

		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		err := cs.HandOver(ctx)
		require.True(t, errors.Is(err, context.DeadlineExceeded), "Err = %+v", err)

		// Not handed over: go-rtmp goes on writing
		w.open()
		require.NoError(t, cs.Write(context.Background(), 3, 0, &ChunkMessage{
			Message: &message.Ack{SequenceNumber: 2},
		}))
		require.NoError(t, cs.HandOver(context.Background()))
		require.Len(t, readWire(t, w.Bytes()), 2)
	})

	t.Run("Writer failed", func(t *testing.T) {
		cs := NewChunkStreamer(nil, failingWriter{}, nil)
		defer cs.Close()

		require.NoError(t, cs.Write(context.Background(), 3, 0, &ChunkMessage{
			Message: &message.Ack{SequenceNumber: 1},
		}))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := cs.HandOver(ctx)
		require.Error(t, err)
		require.False(t, errors.Is(err, context.DeadlineExceeded), "HandOver waited for ctx: %+v", err)
		require.Contains(t, err.Error(), "connection reset")
		<-cs.Done()
	})

	t.Run("Closed", func(t *testing.T) {
		cs := NewChunkStreamer(nil, newWireWriter(false), nil)
		require.NoError(t, cs.Close())
		<-cs.Done()

		require.Error(t, cs.HandOver(context.Background()))
	})
}

// TestWritesAfterHandOverReturnErrWriterHandedOver: after HandOver, every
// write through go-rtmp returns ErrWriterHandedOver and puts no byte on the
// wire; reading goes on, without the acks go-rtmp would send; closing does
// not stall.
func TestWritesAfterHandOverReturnErrWriterHandedOver(t *testing.T) {
	defer leaktest.Check(t)()

	// An Ack message (type 3) on chunk stream 2 for the read side
	input := []byte{
		0x02,             // fmt 0, chunk stream 2
		0x00, 0x00, 0x00, // timestamp
		0x00, 0x00, 0x04, // message length
		0x03,                   // Ack
		0x00, 0x00, 0x00, 0x00, // message stream 0
		0x00, 0x00, 0x30, 0x39, // 12345
	}
	w := newWireWriter(false)
	cs := NewChunkStreamer(bytes.NewReader(bytes.Repeat(input, 2)), w, nil)
	defer func() {
		select {
		case <-cs.Done(): // closed below
		default:
			_ = cs.Close() // the test failed before
		}
	}()
	ctx := context.Background()
	// As a server connection does it (Stream.Write)
	cs.controlStreamWriter = func(chunkStreamID int, timestamp uint32, msg message.Message) error {
		return cs.Write(ctx, chunkStreamID, timestamp, &ChunkMessage{Message: msg})
	}

	require.NoError(t, cs.sendAck(100))
	// A writer acquired before the hand-over and scheduled after it
	acquired, err := cs.NewChunkWriter(ctx, 5)
	require.NoError(t, err)

	require.NoError(t, cs.HandOver(ctx))
	wire := w.Bytes()
	msgs := readWire(t, wire)
	require.Equal(t, []message.Message{&message.Ack{SequenceNumber: 100}}, msgs)

	err = cs.Write(ctx, 3, 0, &ChunkMessage{Message: &message.Ack{SequenceNumber: 1}})
	require.True(t, errors.Is(err, ErrWriterHandedOver), "Err = %+v", err)
	err = cs.Write(ctx, 5, 0, &ChunkMessage{Message: &message.Ack{SequenceNumber: 1}})
	require.True(t, errors.Is(err, ErrWriterHandedOver), "Err = %+v", err)
	require.True(t, errors.Is(cs.sendAck(200), ErrWriterHandedOver))
	_, err = cs.NewChunkWriter(ctx, 6)
	require.True(t, errors.Is(err, ErrWriterHandedOver), "Err = %+v", err)

	acquired.buf.WriteString("abcd")
	acquired.messageLength = 4
	acquired.messageTypeID = byte(message.TypeIDAck)
	require.True(t, errors.Is(cs.Sched(acquired), ErrWriterHandedOver))
	// The refused writer is released: nothing waits for it
	waitCtx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	require.True(t, errors.Is(acquired.Wait(waitCtx), ErrWriterHandedOver))

	// Idempotent
	require.NoError(t, cs.HandOver(ctx))

	// Reading goes on, with an ack due at every message (its sending is skipped)
	cs.peerState.ackWindowSize = 2
	for i := 0; i < 2; i++ {
		var cmsg ChunkMessage
		_, _, err := cs.Read(&cmsg)
		require.NoError(t, err)
		require.Equal(t, &message.Ack{SequenceNumber: 12345}, cmsg.Message)
	}

	// Closing: no wait, the writer loop ends
	start := time.Now()
	cs.waitWriters()
	require.Less(t, time.Since(start), time.Second)
	require.NoError(t, cs.Close())
	select {
	case <-cs.Done():
	case <-time.After(5 * time.Second):
		require.FailNow(t, "Writer loop did not end")
	}
	require.NoError(t, cs.Err())

	// Nothing reached the wire after the hand-over
	require.Equal(t, wire, w.Bytes())
}
