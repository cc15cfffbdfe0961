//
// Copyright (c) 2018- yutopp (yutopp@gmail.com)
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at  https://www.boost.org/LICENSE_1_0.txt)
//

package rtmp

// Tests of headwater patch 12: writer hand-over for play sessions (the
// server's side).

import (
	"bytes"
	"context"
	"io"
	"io/ioutil"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fortytw2/leaktest"
	"github.com/sirupsen/logrus"
	logrustest "github.com/sirupsen/logrus/hooks/test"
	"github.com/stretchr/testify/require"

	"github.com/yutopp/go-rtmp/message"
)

// appChunkSize is the chunk size the application announces after the hand-over.
const appChunkSize = 4096

// appChunk Encodes a message as one fmt 0 chunk, as the application's own
// chunk writer does after the hand-over (at appChunkSize).
func appChunk(chunkStreamID int, streamID uint32, msg message.Message) []byte {
	var payload bytes.Buffer
	if err := message.NewEncoder(&payload).Encode(msg); err != nil {
		panic(err)
	}
	n := payload.Len()
	if n > appChunkSize || chunkStreamID < 2 || chunkStreamID > 63 {
		panic("not one chunk")
	}
	b := []byte{
		byte(chunkStreamID), // fmt 0
		0, 0, 0,             // timestamp
		byte(n >> 16), byte(n >> 8), byte(n),
		byte(msg.TypeID()),
		byte(streamID), byte(streamID >> 8), byte(streamID >> 16), byte(streamID >> 24), // little endian
	}
	return append(b, payload.Bytes()...)
}

func appOnStatus(streamID uint32, code, description string) []byte {
	var body bytes.Buffer
	amfEnc := message.NewAMFEncoder(&body, message.EncodingTypeAMF0)
	if err := message.EncodeBodyAnyValues(amfEnc, &message.NetStreamOnStatus{
		InfoObject: message.NetStreamOnStatusInfoObject{
			Level:       message.NetStreamOnStatusLevelStatus,
			Code:        message.NetStreamOnStatusCode(code),
			Description: description,
		},
	}); err != nil {
		panic(err)
	}
	return appChunk(5, streamID, &message.CommandMessage{
		CommandName: "onStatus",
		Encoding:    message.EncodingTypeAMF0,
		Body:        &body,
	})
}

// handOverHandler A server handler which, if handOver, hands the writer over
// in OnPlay and then writes to the connection itself, as headwater's play
// sessions do.
type handOverHandler struct {
	DefaultHandler
	handOver bool

	conn      *Conn
	playCh    chan error // OnPlay's result
	unknownCh chan int   // payload size of each message of an unknown type
	deletedCh chan uint32
}

func newHandOverHandler(handOver bool) *handOverHandler {
	return &handOverHandler{
		handOver:  handOver,
		playCh:    make(chan error, 1),
		unknownCh: make(chan int, 8),
		deletedCh: make(chan uint32, 1),
	}
}

func (h *handOverHandler) OnServe(conn *Conn) {
	h.conn = conn
}

func (h *handOverHandler) OnPlay(ctx *StreamContext, _ uint32, _ *message.NetStreamPlay) error {
	if !h.handOver {
		h.playCh <- nil
		return nil
	}

	hctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := h.conn.GetChunkStreamer().HandOver(hctx)
	if err == nil {
		// go-rtmp's buffered writer has been flushed: write to the socket itself
		var b []byte
		b = append(b, appChunk(ctrlMsgChunkStreamID, 0, &message.SetChunkSize{ChunkSize: appChunkSize})...)
		b = append(b, appOnStatus(ctx.StreamID, "NetStream.Play.Start", "Written by the application.")...)
		_, err = h.conn.rwc.Write(b)
	}
	h.playCh <- err
	return err
}

func (h *handOverHandler) OnDeleteStream(_ uint32, cmd *message.NetStreamDeleteStream) error {
	h.deletedCh <- cmd.StreamID
	if !h.handOver {
		return nil
	}
	// A mark after which anything go-rtmp had written would have arrived
	_, err := h.conn.rwc.Write(appOnStatus(0, "NetStream.Play.Stop", "Deleted."))
	return err
}

func (h *handOverHandler) OnUnknownMessage(_ uint32, msg message.Message) error {
	m, ok := msg.(*message.UnknownMessage)
	if !ok {
		return nil // e.g. an Ack of the client
	}
	n, err := io.Copy(ioutil.Discard, m.Payload)
	if err != nil {
		return err
	}
	h.unknownCh <- int(n)
	return nil
}

// ackCountingHandler A client handler which counts the acks the server sends.
type ackCountingHandler struct {
	DefaultHandler
	acks int32
}

func (h *ackCountingHandler) OnUnknownMessage(_ uint32, msg message.Message) error {
	if _, ok := msg.(*message.Ack); ok {
		atomic.AddInt32(&h.acks, 1)
	}
	return nil
}

func onStatusEntries(hook *logrustest.Hook) []string {
	var entries []string
	for _, entry := range hook.AllEntries() {
		if strings.Contains(entry.Message, "Name = onStatus") {
			entries = append(entries, entry.Message)
		}
	}
	return entries
}

func waitOnStatusWith(t *testing.T, hook *logrustest.Hook, s string) {
	t.Helper()
	require.Eventually(t, func() bool {
		for _, e := range onStatusEntries(hook) {
			if strings.Contains(e, s) {
				return true
			}
		}
		return false
	}, 5*time.Second, 10*time.Millisecond, "No onStatus with %q", s)
}

func receive(t *testing.T, errCh <-chan error, what string, f func() bool) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for !f() {
		select {
		case err := <-errCh:
			require.FailNow(t, "ServeConn returned", "Waiting for %s: Err = %+v", what, err)
		case <-deadline:
			require.FailNow(t, "Timed out", "Waiting for %s", what)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// playSession Runs connect, createStream and play against a ServeConn server
// with handler, then: the client announces a small ack window and sends 1000
// bytes (an ack from the server is due every 128 bytes), and deletes the
// stream. check runs after play.
func playSession(t *testing.T, handler *handOverHandler, afterPlay func(hook *logrustest.Hook), check func(hook *logrustest.Hook, acks *ackCountingHandler)) {
	addr, errCh := serveOneConn(t, &ConnConfig{
		Handler: handler,
	})

	logger, hook := logrustest.NewNullLogger()
	logger.SetLevel(logrus.DebugLevel)
	acks := &ackCountingHandler{}
	c, err := Dial("rtmp", addr, &ConnConfig{
		Handler: acks,
		Logger:  logger,
	})
	require.NoError(t, err)
	defer c.Close()

	require.NoError(t, c.Connect(nil))
	s, err := c.CreateStream(nil, chunkSize)
	require.NoError(t, err)

	require.NoError(t, s.writeCommandMessage(3, 0, "play", 0, &testPlayArgs{streamName: "live"}))
	var playErr error
	receive(t, errCh, "OnPlay", func() bool {
		select {
		case playErr = <-handler.playCh:
			return true
		default:
			return false
		}
	})
	require.NoError(t, playErr)
	afterPlay(hook)

	// The connection is still read, acks due or not
	ctrl, err := c.conn.streams.At(ControlStreamID)
	require.NoError(t, err)
	require.NoError(t, ctrl.WriteWinAckSize(ctrlMsgChunkStreamID, 0, &message.WinAckSize{Size: 256}))
	require.NoError(t, ctrl.Write(8, 0, &message.UnknownMessage{
		Type:    99,
		Payload: bytes.NewReader(testPayload(1000, 3)),
	}))
	var n int
	receive(t, errCh, "OnUnknownMessage", func() bool {
		select {
		case n = <-handler.unknownCh:
			return true
		default:
			return false
		}
	})
	require.Equal(t, 1000, n)

	// (Not ClientConn.DeleteStream: it deletes the client's stream without
	// a lock while the client's message loop reads the map.)
	require.NoError(t, ctrl.DeleteStream(&message.NetStreamDeleteStream{StreamID: s.streamID}))
	var deleted uint32
	receive(t, errCh, "OnDeleteStream", func() bool {
		select {
		case deleted = <-handler.deletedCh:
			return true
		default:
			return false
		}
	})
	require.Equal(t, s.streamID, deleted)

	check(hook, acks)

	// The server closes at once when the client does
	require.NoError(t, c.Close())
	start := time.Now()
	require.NoError(t, waitServeConn(t, errCh))
	require.Less(t, time.Since(start), 2*time.Second, "Closing stalled")
}

// TestPlayAfterHandOverGetsNoPlayStart: a handler hands the writer over in
// OnPlay and writes its own statuses at its own chunk size. go-rtmp sends no
// Play.Start and no acks, goes on reading (acks due, deleteStream), and
// the connection closes cleanly.
func TestPlayAfterHandOverGetsNoPlayStart(t *testing.T) {
	defer leaktest.Check(t)()

	handler := newHandOverHandler(true)
	playSession(t, handler, func(hook *logrustest.Hook) {
		waitOnStatusWith(t, hook, "description:Written by the application.")
	}, func(hook *logrustest.Hook, acks *ackCountingHandler) {
		// The application's mark after deleteStream: whatever go-rtmp had
		// written would have arrived before it
		waitOnStatusWith(t, hook, "description:Deleted.")

		entries := onStatusEntries(hook)
		require.Len(t, entries, 2, "onStatus: %q", entries)
		require.Contains(t, entries[0], "code:NetStream.Play.Start")
		require.Contains(t, entries[0], "description:Written by the application.")
		require.Contains(t, entries[1], "code:NetStream.Play.Stop")
		require.Equal(t, int32(0), atomic.LoadInt32(&acks.acks), "go-rtmp sent acks after the hand-over")
	})
}

// TestPlayWithoutHandOverGetsPlayStart: without a hand-over, go-rtmp answers
// play with Play.Start and sends acks, as before.
func TestPlayWithoutHandOverGetsPlayStart(t *testing.T) {
	defer leaktest.Check(t)()

	handler := newHandOverHandler(false)
	playSession(t, handler, func(hook *logrustest.Hook) {
		waitOnStatusWith(t, hook, "code:NetStream.Play.Start")
		entries := onStatusEntries(hook)
		require.Len(t, entries, 1, "onStatus: %q", entries)
		require.Contains(t, entries[0], "description:Play succeeded.")
	}, func(hook *logrustest.Hook, acks *ackCountingHandler) {
		require.Eventually(t, func() bool {
			return atomic.LoadInt32(&acks.acks) > 0
		}, 5*time.Second, 10*time.Millisecond, "go-rtmp sent no acks")
	})
}
