package rtmpclient

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	rtmp "github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/handshake"
	rtmpmsg "github.com/yutopp/go-rtmp/message"

	"github.com/headwater-media/headwater/internal/rtmptest"
)

// fakeServer is one server connection scripted by a test: it reads the
// client's messages with go-rtmp's chunk streamer and writes raw chunks
// built with rtmptest.Chunker, so that a test can send anything.
type fakeServer struct {
	t    *testing.T
	nc   net.Conn
	cs   *rtmp.ChunkStreamer
	ch   *rtmptest.Chunker
	cmsg rtmp.ChunkMessage
	// seen are the client's messages other than commands, in order.
	seen []rtmpmsg.Message
	sent uint64 // bytes flushed, after the handshake
}

// handshakeSize is what the server sends in the handshake: S0, S1, S2.
const handshakeSize = 1 + 1536 + 1536

// serverLifetime bounds a fake server connection, so that a broken test
// fails instead of hanging.
const serverLifetime = 20 * time.Second

// serve listens on a random port of 127.0.0.1 and runs script on the first
// connection, in a goroutine that the test's cleanup waits for. It returns
// the rtmp:// URL of app live, stream x.
func serve(t *testing.T, script func(s *fakeServer)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		_ = nc.SetDeadline(time.Now().Add(serverLifetime))
		s := &fakeServer{t: t, nc: nc, ch: rtmptest.NewChunker()}
		defer s.close()
		script(s)
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
	})
	return "rtmp://" + ln.Addr().String() + "/live/x"
}

func (s *fakeServer) close() {
	_ = s.nc.Close()
	if s.cs != nil {
		_ = s.cs.Close()
		<-s.cs.Done()
	}
}

// handshake does the server's side of the handshake.
func (s *fakeServer) handshake() bool {
	if err := handshake.HandshakeWithClient(s.nc, s.nc, &handshake.Config{}); err != nil {
		s.t.Errorf("server: handshake: %v", err)
		return false
	}
	s.cs = rtmp.NewChunkStreamer(s.nc, io.Discard, nil)
	return true
}

// read reads the client's next message; false when the connection ended.
func (s *fakeServer) read() (uint32, rtmpmsg.Message, bool) {
	if _, _, err := s.cs.Read(&s.cmsg); err != nil {
		return 0, nil, false
	}
	return s.cmsg.StreamID, s.cmsg.Message, true
}

// expect reads until the client's next command, which must be name; it
// returns the command's message stream, transaction ID and AMF0 values.
func (s *fakeServer) expect(name string) (msid uint32, tx int64, vals []any, ok bool) {
	for {
		msid, msg, ok := s.read()
		if !ok {
			s.t.Errorf("server: connection ended waiting for %s", name)
			return 0, 0, nil, false
		}
		cmd, isCmd := msg.(*rtmpmsg.CommandMessage)
		if !isCmd {
			s.seen = append(s.seen, msg)
			continue
		}
		if cmd.CommandName != name {
			s.t.Errorf("server: got command %q, want %q", cmd.CommandName, name)
			return 0, 0, nil, false
		}
		d := rtmpmsg.NewAMFDecoder(cmd.Body, rtmpmsg.EncodingTypeAMF0)
		for {
			var v any
			if err := d.Decode(&v); err != nil {
				break
			}
			vals = append(vals, v)
		}
		return msid, cmd.TransactionID, vals, true
	}
}

// flush sends what was chunked.
func (s *fakeServer) flush() bool {
	n, err := s.nc.Write(s.ch.B)
	s.sent += uint64(n)
	s.ch.B = s.ch.B[:0]
	return err == nil
}

// waitClosed reads until the client closes the connection.
func (s *fakeServer) waitClosed() {
	_, _ = io.Copy(io.Discard, s.nc)
}

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// userControl is a User Control message payload: the event type, then data.
func userControl(event uint16, data ...uint32) []byte {
	b := binary.BigEndian.AppendUint16(nil, event)
	for _, d := range data {
		b = binary.BigEndian.AppendUint32(b, d)
	}
	return b
}

// Message type IDs the tests send besides rtmptest's (and publish.go's
// typeUserControl).
const (
	typeWinAckSize = 5
	typePeerBW     = 6
)

// cmd chunks a command on chunk stream 3.
func (s *fakeServer) cmd(msid uint32, name string, tx int64, args ...any) *fakeServer {
	s.ch.Msg(3, rtmptest.TypeCommand, 0, msid, rtmptest.Command(name, tx, rtmptest.Args(args)))
	return s
}

// status chunks an onStatus on the play stream.
func (s *fakeServer) status(level, code, description string) *fakeServer {
	s.ch.Msg(5, rtmptest.TypeCommand, 0, playStreamID, rtmptest.Command("onStatus", 0, rtmptest.Args{nil, map[string]any{
		"level": level, "code": code, "description": description,
	}}))
	return s
}

// playStreamID is the message stream the fake server's createStream gives.
const playStreamID = 1

// connectInfo is a successful connect's info object.
var connectInfo = map[string]any{"level": "status", "code": "NetConnection.Connect.Success", "description": "Connection succeeded.", "objectEncoding": 0.0}

// acceptConnect does the handshake and answers connect and createStream
// as nginx-rtmp does; it returns the connect command object.
func (s *fakeServer) acceptConnect() (map[string]any, bool) {
	if !s.handshake() {
		return nil, false
	}
	_, tx, vals, ok := s.expect("connect")
	if !ok {
		return nil, false
	}
	obj, _ := vals[0].(map[string]any)
	s.ch.Msg(2, typeWinAckSize, 0, 0, be32(5000000))
	s.ch.Msg(2, typePeerBW, 0, 0, append(be32(5000000), 2))
	s.ch.SetChunkSize(4096)
	s.cmd(0, "_result", tx, map[string]any{"fmsVer": "FMS/3,0,1,123", "capabilities": 31.0}, connectInfo)
	s.cmd(0, "onBWDone", 0, nil)
	if !s.flush() {
		return nil, false
	}
	if _, tx, _, ok = s.expect("createStream"); !ok {
		return nil, false
	}
	s.cmd(0, "_result", tx, nil, float64(playStreamID))
	return obj, s.flush()
}

// acceptPlay runs acceptConnect, reads play and answers it with
// StreamBegin, Play.Reset, Play.Start and |RtmpSampleAccess; it returns
// the play name.
func (s *fakeServer) acceptPlay() (string, bool) {
	name, ok := s.acceptConnectAndPlay()
	if !ok {
		return "", false
	}
	s.ch.Msg(2, typeUserControl, 0, 0, userControl(0, playStreamID))
	s.status("status", "NetStream.Play.Reset", "Playing and resetting live/x.")
	s.status("status", "NetStream.Play.Start", "Started playing live/x.")
	s.ch.Msg(5, rtmptest.TypeData, 0, playStreamID, dataMsg("|RtmpSampleAccess", false, false))
	return name, s.flush()
}

// acceptConnectAndPlay runs acceptConnect and reads play, not answering it.
func (s *fakeServer) acceptConnectAndPlay() (string, bool) {
	if _, ok := s.acceptConnect(); !ok {
		return "", false
	}
	msid, _, vals, ok := s.expect("play")
	if !ok {
		return "", false
	}
	if msid != playStreamID {
		s.t.Errorf("server: play on message stream %d, want %d", msid, playStreamID)
	}
	if len(vals) < 2 {
		s.t.Errorf("server: play values %v", vals)
		return "", false
	}
	name, _ := vals[1].(string)
	return name, true
}

// dataMsg is the payload of an AMF0 data message: name, then the values.
func dataMsg(name string, values ...any) []byte {
	var b bytes.Buffer
	e := rtmpmsg.NewAMFEncoder(&b, rtmpmsg.EncodingTypeAMF0)
	for _, v := range append([]any{name}, values...) {
		if err := e.Encode(v); err != nil {
			panic(err)
		}
	}
	return b.Bytes()
}

// metaBody is an FLV script tag body: "onMetaData" and an object.
func metaBody(meta map[string]any) []byte { return dataMsg("onMetaData", meta) }
