//
// Copyright (c) 2018- yutopp (yutopp@gmail.com)
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at  https://www.boost.org/LICENSE_1_0.txt)
//

package rtmp

// Tests of headwater patch 11: unknown messages, unknown data and commands,
// aggregate messages.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"io/ioutil"
	"testing"
	"time"

	"github.com/fortytw2/leaktest"
	"github.com/sirupsen/logrus"
	logrustest "github.com/sirupsen/logrus/hooks/test"
	"github.com/stretchr/testify/require"
	"github.com/yutopp/go-amf0"

	"github.com/yutopp/go-rtmp/message"
)

// handlerEvent is one call of recordingHandler.
type handlerEvent struct {
	kind          string // "unknown", "audio", "video", "setDataFrame", "unknownData", "unknownCommand"
	timestamp     uint32
	typeID        message.TypeID // "unknown"
	name          string         // "unknownData", "unknownCommand"
	transactionID int64          // "unknownCommand"
	payload       []byte
	lenBefore     int // "audio", "video": Len() of the payload reader before reading it, or -1 without Len()
}

// recordingHandler sends every media, data, command and unknown message it
// receives to events.
type recordingHandler struct {
	DefaultHandler
	events chan handlerEvent
}

func newRecordingHandler() *recordingHandler {
	return &recordingHandler{
		events: make(chan handlerEvent, 64),
	}
}

func (h *recordingHandler) media(kind string, timestamp uint32, payload io.Reader) error {
	lenBefore := -1
	if l, ok := payload.(interface{ Len() int }); ok {
		lenBefore = l.Len()
	}
	b, err := ioutil.ReadAll(payload)
	if err != nil {
		return err
	}
	h.events <- handlerEvent{kind: kind, timestamp: timestamp, payload: b, lenBefore: lenBefore}
	return nil
}

func (h *recordingHandler) OnAudio(timestamp uint32, payload io.Reader) error {
	return h.media("audio", timestamp, payload)
}

func (h *recordingHandler) OnVideo(timestamp uint32, payload io.Reader) error {
	return h.media("video", timestamp, payload)
}

func (h *recordingHandler) OnSetDataFrame(timestamp uint32, data *message.NetStreamSetDataFrame) error {
	h.events <- handlerEvent{kind: "setDataFrame", timestamp: timestamp, payload: data.Payload}
	return nil
}

func (h *recordingHandler) OnUnknownMessage(timestamp uint32, msg message.Message) error {
	m, ok := msg.(*message.UnknownMessage)
	if !ok {
		return nil // e.g. an Ack of the client
	}
	b, err := ioutil.ReadAll(m.Payload)
	if err != nil {
		return err
	}
	h.events <- handlerEvent{kind: "unknown", timestamp: timestamp, typeID: m.TypeID(), payload: b}
	return nil
}

func (h *recordingHandler) OnUnknownCommandMessage(timestamp uint32, cmd *message.CommandMessage) error {
	h.events <- handlerEvent{
		kind:          "unknownCommand",
		timestamp:     timestamp,
		name:          cmd.CommandName,
		transactionID: cmd.TransactionID,
	}
	return nil
}

func (h *recordingHandler) OnUnknownDataMessage(timestamp uint32, data *message.DataMessage) error {
	b, err := ioutil.ReadAll(data.Body)
	if err != nil {
		return err
	}
	h.events <- handlerEvent{kind: "unknownData", timestamp: timestamp, name: data.Name, payload: b}
	return nil
}

func (h *recordingHandler) next(t *testing.T, errCh <-chan error) handlerEvent {
	t.Helper()
	select {
	case ev := <-h.events:
		return ev
	case err := <-errCh:
		require.FailNow(t, "ServeConn returned", "Err = %+v", err)
	case <-time.After(10 * time.Second):
		require.FailNow(t, "The handler was not called")
	}
	return handlerEvent{}
}

// patch11Session is a go-rtmp client connected to a ServeConn server.
type patch11Session struct {
	c          *ClientConn
	s          *Stream // created, not yet published
	errCh      <-chan error
	clientHook *logrustest.Hook
	serverHook *logrustest.Hook
}

func newPatch11Session(t *testing.T, handler Handler) *patch11Session {
	serverLogger, serverHook := logrustest.NewNullLogger()
	serverLogger.SetLevel(logrus.DebugLevel)
	addr, errCh := serveOneConn(t, &ConnConfig{
		Handler: handler,
		Logger:  serverLogger,
	})

	clientLogger, clientHook := logrustest.NewNullLogger()
	c, err := Dial("rtmp", addr, &ConnConfig{
		Logger: clientLogger,
	})
	require.NoError(t, err)

	require.NoError(t, c.Connect(nil))

	s, err := c.CreateStream(nil, chunkSize)
	require.NoError(t, err)

	return &patch11Session{
		c:          c,
		s:          s,
		errCh:      errCh,
		clientHook: clientHook,
		serverHook: serverHook,
	}
}

func (p *patch11Session) publish(t *testing.T) {
	require.NoError(t, p.s.Publish(&message.NetStreamPublish{
		PublishingName: "test",
		PublishingType: "live",
	}))
}

// requireNoServerWarn Fails if the server logged at Warn level or above.
func (p *patch11Session) requireNoServerWarn(t *testing.T) {
	t.Helper()
	for _, entry := range p.serverHook.AllEntries() {
		require.False(t, entry.Level <= logrus.WarnLevel, "Server logged: %s: %s", entry.Level, entry.Message)
	}
}

// close Closes the client after the onStatus of publish (not to reset the
// connection) and expects a clean close of the server.
func (p *patch11Session) close(t *testing.T) {
	require.Contains(t, waitOnStatus(t, p.clientHook), "code:NetStream.Publish.Start")
	require.NoError(t, p.c.Close())
	require.NoError(t, waitServeConn(t, p.errCh))
}

func amf0Bytes(t *testing.T, values ...interface{}) []byte {
	buf := new(bytes.Buffer)
	enc := amf0.NewEncoder(buf)
	for _, v := range values {
		require.NoError(t, enc.Encode(v))
	}
	return buf.Bytes()
}

func testMetaData(t *testing.T) []byte {
	return amf0Bytes(t, amf0.ECMAArray{
		"width":     1280.0,
		"height":    720.0,
		"framerate": 30.0,
	})
}

func TestUnknownMessageTypesAreIgnored(t *testing.T) {
	defer leaktest.Check(t)()

	handler := newRecordingHandler()
	p := newPatch11Session(t, handler)
	defer p.c.Close()
	p.publish(t)

	types := []message.TypeID{0, 7, 10, 11, 12, 13, 15, 16, 17, 19, 21, 23, 99, 127, 255}
	for i, ty := range types {
		payload := []byte{byte(ty), 0x01, 0x02, byte(i)}
		err := p.s.Write(8, uint32(100+i), &message.UnknownMessage{
			Type:    ty,
			Payload: bytes.NewReader(payload),
		})
		require.NoError(t, err)
	}

	// On a message stream the server has not created
	other, err := p.c.conn.streams.Create(7)
	require.NoError(t, err)
	err = other.Write(8, 200, &message.UnknownMessage{
		Type:    99,
		Payload: bytes.NewReader([]byte("not created")),
	})
	require.NoError(t, err)

	video := testPayload(300, 1)
	err = p.s.Write(6, 300, &message.VideoMessage{Payload: bytes.NewReader(video)})
	require.NoError(t, err)

	for i, ty := range types {
		ev := handler.next(t, p.errCh)
		require.Equal(t, "unknown", ev.kind, "Type = %d", ty)
		require.Equal(t, ty, ev.typeID)
		require.Equal(t, uint32(100+i), ev.timestamp)
		require.Equal(t, []byte{byte(ty), 0x01, 0x02, byte(i)}, ev.payload)
	}

	ev := handler.next(t, p.errCh)
	require.Equal(t, "unknown", ev.kind)
	require.Equal(t, message.TypeID(99), ev.typeID)
	require.Equal(t, []byte("not created"), ev.payload)

	// The connection survived
	ev = handler.next(t, p.errCh)
	require.Equal(t, "video", ev.kind)
	require.Equal(t, uint32(300), ev.timestamp)
	require.Equal(t, video, ev.payload)

	p.requireNoServerWarn(t)
	p.close(t)
}

func TestBareOnMetaDataReachesOnUnknownDataMessage(t *testing.T) {
	defer leaktest.Check(t)()

	handler := newRecordingHandler()
	p := newPatch11Session(t, handler)
	defer p.c.Close()

	metaData := testMetaData(t)
	writeOnMetaData := func(s *Stream, chunkStreamID int, timestamp uint32) {
		err := s.Write(chunkStreamID, timestamp, &message.DataMessage{
			Name:     "onMetaData",
			Encoding: message.EncodingTypeAMF0,
			Body:     bytes.NewReader(metaData),
		})
		require.NoError(t, err)
	}

	ctrl, err := p.c.conn.streams.At(ControlStreamID)
	require.NoError(t, err)
	writeOnMetaData(ctrl, 5, 10) // Connected(Server)
	writeOnMetaData(p.s, 4, 20)  // Inactive(Server)
	p.publish(t)
	writeOnMetaData(p.s, 4, 30) // Publish(Server)

	for _, ts := range []uint32{10, 20, 30} {
		ev := handler.next(t, p.errCh)
		require.Equal(t, "unknownData", ev.kind)
		require.Equal(t, "onMetaData", ev.name)
		require.Equal(t, ts, ev.timestamp)
		// The body is not consumed: it still holds the ECMA array
		require.Equal(t, metaData, ev.payload)

		var v interface{}
		require.NoError(t, amf0.NewDecoder(bytes.NewReader(ev.payload)).Decode(&v))
		require.Equal(t, amf0.ECMAArray{"width": 1280.0, "height": 720.0, "framerate": 30.0}, v)
	}

	p.requireNoServerWarn(t)
	p.close(t)
}

func TestUnknownCommandGoesToHandlerWithoutWarn(t *testing.T) {
	defer leaktest.Check(t)()

	handler := newRecordingHandler()
	p := newPatch11Session(t, handler)
	defer p.c.Close()
	p.publish(t)

	ctrl, err := p.c.conn.streams.At(ControlStreamID)
	require.NoError(t, err)
	err = ctrl.writeCommandMessage(3, 10, "myCommand", 5, &testPlayArgs{streamName: "a"}) // Connected(Server)
	require.NoError(t, err)
	err = p.s.writeCommandMessage(3, 20, "otherCommand", 6, &testPlayArgs{streamName: "b"}) // Publish(Server)
	require.NoError(t, err)

	video := testPayload(10, 2)
	err = p.s.Write(6, 30, &message.VideoMessage{Payload: bytes.NewReader(video)})
	require.NoError(t, err)

	ev := handler.next(t, p.errCh)
	require.Equal(t, "unknownCommand", ev.kind)
	require.Equal(t, "myCommand", ev.name)
	require.Equal(t, int64(5), ev.transactionID)
	require.Equal(t, uint32(10), ev.timestamp)

	ev = handler.next(t, p.errCh)
	require.Equal(t, "unknownCommand", ev.kind)
	require.Equal(t, "otherCommand", ev.name)
	require.Equal(t, int64(6), ev.transactionID)
	require.Equal(t, uint32(20), ev.timestamp)

	// Both commands have been handled when the video arrives
	ev = handler.next(t, p.errCh)
	require.Equal(t, "video", ev.kind)

	p.requireNoServerWarn(t)
	p.close(t)
}

// aggregateSub Lays out one sub-message of an aggregate message like an FLV
// tag; backPointer false omits the 4-byte previous tag size.
func aggregateSub(typeID message.TypeID, timestamp uint32, streamID uint32, payload []byte, backPointer bool) []byte {
	b := []byte{
		byte(typeID),
		byte(len(payload) >> 16), byte(len(payload) >> 8), byte(len(payload)),
		byte(timestamp >> 16), byte(timestamp >> 8), byte(timestamp), byte(timestamp >> 24),
		byte(streamID >> 16), byte(streamID >> 8), byte(streamID),
	}
	b = append(b, payload...)
	if backPointer {
		var size [4]byte
		binary.BigEndian.PutUint32(size[:], uint32(11+len(payload)))
		b = append(b, size[:]...)
	}
	return b
}

func concatBytes(bs ...[]byte) []byte {
	return bytes.Join(bs, nil)
}

func TestAggregateMessageIsSplit(t *testing.T) {
	t.Run("Split", func(t *testing.T) {
		defer leaktest.Check(t)()

		handler := newRecordingHandler()
		p := newPatch11Session(t, handler)
		defer p.c.Close()
		p.publish(t)

		audio := testPayload(200, 3)
		video := testPayload(1000, 4) // Larger than a chunk
		metaData := testMetaData(t)
		setDataFrame := amf0Bytes(t, "@setDataFrame", "onMetaData")
		setDataFrame = append(setDataFrame, metaData...)

		// Audio, video and data at 1000, 1020, 1040 in an aggregate at 5000
		err := p.s.Write(6, 5000, &message.AggregateMessage{Data: concatBytes(
			aggregateSub(message.TypeIDAudioMessage, 1000, 1, audio, true),
			aggregateSub(message.TypeIDVideoMessage, 1020, 1, video, true),
			aggregateSub(message.TypeIDDataMessageAMF0, 1040, 1, setDataFrame, true),
		)})
		require.NoError(t, err)

		// Timestamps wrap (the first uses the extension byte); stream IDs are
		// ignored; wrong back pointers are not checked; the last one is missing.
		err = p.s.Write(6, 6000, &message.AggregateMessage{Data: concatBytes(
			aggregateSub(message.TypeIDVideoMessage, 0xfffffff0, 0, video[:10], true)[:11+10],
			[]byte{0xde, 0xad, 0xbe, 0xef},
			aggregateSub(message.TypeIDAudioMessage, 0x10, 0x123456, audio[:20], false),
		)})
		require.NoError(t, err)

		// A nested aggregate goes to OnUnknownMessage, and trailing bytes
		// shorter than a sub-message header are ignored.
		nested := aggregateSub(message.TypeIDAudioMessage, 0, 1, audio[:5], true)
		err = p.s.Write(6, 7000, &message.AggregateMessage{Data: concatBytes(
			aggregateSub(message.TypeIDAggregateMessage, 50, 1, nested, true),
			aggregateSub(message.TypeIDVideoMessage, 60, 1, video[:30], true),
			[]byte{0x09, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, // 10 bytes
		)})
		require.NoError(t, err)

		// Then a message on its own
		err = p.s.Write(4, 8000, &message.AudioMessage{Payload: bytes.NewReader(audio[:7])})
		require.NoError(t, err)

		ev := handler.next(t, p.errCh)
		require.Equal(t, "audio", ev.kind)
		require.Equal(t, uint32(5000), ev.timestamp)
		require.Equal(t, audio, ev.payload)
		require.Equal(t, len(audio), ev.lenBefore)

		ev = handler.next(t, p.errCh)
		require.Equal(t, "video", ev.kind)
		require.Equal(t, uint32(5020), ev.timestamp)
		require.Equal(t, video, ev.payload)
		require.Equal(t, len(video), ev.lenBefore)

		ev = handler.next(t, p.errCh)
		require.Equal(t, "setDataFrame", ev.kind)
		require.Equal(t, uint32(5040), ev.timestamp)
		require.Equal(t, concatBytes(amf0Bytes(t, "onMetaData"), metaData), ev.payload)

		ev = handler.next(t, p.errCh)
		require.Equal(t, "video", ev.kind)
		require.Equal(t, uint32(6000), ev.timestamp)
		require.Equal(t, video[:10], ev.payload)
		require.Equal(t, 10, ev.lenBefore)

		ev = handler.next(t, p.errCh)
		require.Equal(t, "audio", ev.kind)
		require.Equal(t, uint32(6000+0x20), ev.timestamp)
		require.Equal(t, audio[:20], ev.payload)
		require.Equal(t, 20, ev.lenBefore)

		ev = handler.next(t, p.errCh)
		require.Equal(t, "unknown", ev.kind)
		require.Equal(t, message.TypeIDAggregateMessage, ev.typeID)
		require.Equal(t, uint32(7000), ev.timestamp)
		require.Equal(t, nested, ev.payload)

		ev = handler.next(t, p.errCh)
		require.Equal(t, "video", ev.kind)
		require.Equal(t, uint32(7010), ev.timestamp)
		require.Equal(t, video[:30], ev.payload)

		ev = handler.next(t, p.errCh)
		require.Equal(t, "audio", ev.kind)
		require.Equal(t, uint32(8000), ev.timestamp)
		require.Equal(t, audio[:7], ev.payload)

		p.requireNoServerWarn(t)
		p.close(t)
	})

	t.Run("Malformed", func(t *testing.T) {
		defer leaktest.Check(t)()

		handler := newRecordingHandler()
		p := newPatch11Session(t, handler)
		defer p.c.Close()
		p.publish(t)

		audio := testPayload(100, 5)
		sub := aggregateSub(message.TypeIDAudioMessage, 1000, 1, audio, true)
		err := p.s.Write(6, 5000, &message.AggregateMessage{Data: concatBytes(
			aggregateSub(message.TypeIDAudioMessage, 1000, 1, audio[:10], true),
			sub[:11+50], // The size runs past the end
		)})
		require.NoError(t, err)

		// The sub-message before is delivered, then the connection ends
		ev := handler.next(t, p.errCh)
		require.Equal(t, "audio", ev.kind)
		require.Equal(t, audio[:10], ev.payload)

		err = waitServeConn(t, p.errCh)
		require.Error(t, err)
		require.True(t, errors.Is(err, ErrMalformedAggregate), "Unexpected error: %+v", err)
	})
}
