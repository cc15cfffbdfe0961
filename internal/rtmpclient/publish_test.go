package rtmpclient

import (
	"bytes"
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	rtmpmsg "github.com/yutopp/go-rtmp/message"

	"github.com/headwater-media/headwater/internal/registry"
	hwrtmp "github.com/headwater-media/headwater/internal/rtmp"
	"github.com/headwater-media/headwater/internal/rtmptest"
	"github.com/headwater-media/headwater/internal/stream"
	"github.com/headwater-media/headwater/pkg/flv"
)

// acceptPublish does the server's side of a publish as nginx-rtmp does:
// connect, releaseStream and FCPublish (their names recorded in cmds),
// createStream, publish, answered with code; it returns the publish
// values (null, name, type).
func (s *fakeServer) acceptPublish(code string) (vals []any, cmds []string, ok bool) {
	if !s.handshake() {
		return nil, nil, false
	}
	_, tx, cvals, ok := s.expect("connect")
	if !ok {
		return nil, nil, false
	}
	obj, _ := cvals[0].(map[string]any)
	cmds = append(cmds, "connect "+obj["app"].(string)+" "+obj["tcUrl"].(string))
	s.ch.Msg(2, typeWinAckSize, 0, 0, be32(5000000))
	s.ch.SetChunkSize(4096)
	s.cmd(0, "_result", tx, map[string]any{"fmsVer": "FMS/3,0,1,123"}, connectInfo)
	if !s.flush() {
		return nil, nil, false
	}
	for {
		msid, msg, ok := s.read()
		if !ok {
			s.t.Error("server: connection ended before createStream")
			return nil, nil, false
		}
		cmd, isCmd := msg.(*rtmpmsg.CommandMessage)
		if !isCmd {
			continue
		}
		var args []any
		d := rtmpmsg.NewAMFDecoder(cmd.Body, rtmpmsg.EncodingTypeAMF0)
		for {
			var v any
			if d.Decode(&v) != nil {
				break
			}
			args = append(args, v)
		}
		switch cmd.CommandName {
		case "releaseStream", "FCPublish":
			cmds = append(cmds, cmd.CommandName+" "+args[1].(string))
		case "createStream":
			s.cmd(0, "_result", cmd.TransactionID, nil, float64(playStreamID))
			if !s.flush() {
				return nil, nil, false
			}
		case "publish":
			if msid != playStreamID {
				s.t.Errorf("server: publish on message stream %d", msid)
			}
			level := "status"
			if code != "NetStream.Publish.Start" {
				level = "error"
			}
			s.status(level, code, "as the test says")
			return args, cmds, s.flush()
		}
	}
}

// readMedia reads the client's messages until n media or data messages
// have come (handling Set Chunk Size), returning them as tags, and the
// other messages in s.seen.
func (s *fakeServer) readMedia(n int) []flv.Tag {
	var tags []flv.Tag
	for len(tags) < n {
		_, ts, err := s.cs.Read(&s.cmsg)
		if err != nil {
			s.t.Errorf("server: connection ended after %d messages: %v", len(tags), err)
			return tags
		}
		msg := s.cmsg.Message
		switch m := msg.(type) {
		case *rtmpmsg.SetChunkSize:
			if err := s.cs.PeerState().SetChunkSize(m.ChunkSize); err != nil {
				s.t.Error(err)
				return tags
			}
			s.seen = append(s.seen, msg)
		case *rtmpmsg.AudioMessage:
			tags = append(tags, flv.Tag{Type: flv.TagAudio, Timestamp: ts, Data: readAll(m.Payload)})
		case *rtmpmsg.VideoMessage:
			tags = append(tags, flv.Tag{Type: flv.TagVideo, Timestamp: ts, Data: readAll(m.Payload)})
		case *rtmpmsg.DataMessage:
			if m.Name != "@setDataFrame" {
				s.t.Errorf("server: data message %q", m.Name)
			}
			tags = append(tags, flv.Tag{Type: flv.TagScript, Timestamp: ts, Data: readAll(m.Body)})
		default:
			s.seen = append(s.seen, msg)
		}
	}
	return tags
}

func readAll(r interface{ Read([]byte) (int, error) }) []byte {
	var b bytes.Buffer
	_, _ = b.ReadFrom(r)
	return b.Bytes()
}

// send writes tags through p as a writer goroutine does.
func send(p *Publisher, tags ...flv.Tag) error {
	var iov net.Buffers
	for _, t := range tags {
		iov = p.AppendMessage(iov, t.Type, t.Timestamp, t.Data)
	}
	_ = p.Conn().SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := iov.WriteTo(p.Conn())
	p.Flushed()
	return err
}

func publish(t *testing.T, url string) *Publisher {
	t.Helper()
	p, err := Publish(context.Background(), url, testOpts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func TestPublishWritesMessages(t *testing.T) {
	big := payload(150000, 9) // three chunks at PublishChunkSize
	sent := []flv.Tag{
		{Type: flv.TagScript, Data: meta},
		{Type: flv.TagVideo, Data: avcSeq},
		{Type: flv.TagAudio, Data: aacSeq},
		{Type: flv.TagVideo, Timestamp: 40, Data: append([]byte{0x17, 1, 0, 0, 0}, big...)},
		{Type: flv.TagAudio, Timestamp: 0xffffff, Data: aacFrame},
		{Type: flv.TagVideo, Timestamp: 0x1000000, Data: append([]byte{0x27, 1, 0, 0, 0}, big...)},
	}
	type report struct {
		vals []any
		cmds []string
		tags []flv.Tag
		seen []rtmpmsg.Message
		end  []string
	}
	got := make(chan report, 1)
	url := serve(t, func(s *fakeServer) {
		var r report
		defer func() { got <- r }()
		vals, cmds, ok := s.acceptPublish("NetStream.Publish.Start")
		if !ok {
			return
		}
		r.vals, r.cmds = vals, cmds
		r.tags = s.readMedia(3)
		// A small window: the client owes an acknowledgement; and a ping.
		s.ch.Msg(2, typeWinAckSize, 0, 0, be32(1000))
		s.ch.Msg(2, typeUserControl, 0, 0, userControl(6, 4242))
		if !s.flush() {
			return
		}
		r.tags = append(r.tags, s.readMedia(len(sent)-3)...)
		for len(r.end) < 2 {
			_, msg, ok := s.read()
			if !ok {
				break
			}
			if c, isCmd := msg.(*rtmpmsg.CommandMessage); isCmd {
				r.end = append(r.end, c.CommandName)
			} else {
				s.seen = append(s.seen, msg)
			}
		}
		r.seen = s.seen
	})
	p := publish(t, url+"?token=secret")
	require.NoError(t, send(p, sent[:3]...))
	// The window and the ping reach the reader; the replies go out in
	// front of the next message.
	require.Eventually(t, func() bool { return p.ack.Load() != 0 && p.pong.Load() != 0 }, 5*time.Second, time.Millisecond)
	require.NoError(t, send(p, sent[3:]...))
	_ = p.Conn().SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := p.Conn().Write(p.EndMessages())
	require.NoError(t, err)
	r := receive(t, got)
	require.Equal(t, []any{nil, "x?token=secret", "live"}, r.vals)
	require.Equal(t, []string{"connect live rtmp://" + url[len("rtmp://"):len(url)-len("/x")],
		"releaseStream x?token=secret", "FCPublish x?token=secret"}, r.cmds)
	require.Len(t, r.tags, len(sent))
	for i, tag := range sent {
		want := tag.Data
		require.Equal(t, tag.Type, r.tags[i].Type, "message %d", i)
		require.Equal(t, tag.Timestamp, r.tags[i].Timestamp, "message %d", i)
		require.True(t, bytes.Equal(want, r.tags[i].Data), "message %d: %d bytes, want %d", i, len(r.tags[i].Data), len(want))
	}
	require.Equal(t, []string{"FCUnpublish", "deleteStream"}, r.end)
	var acks, pongs, chunkSizes int
	for _, m := range r.seen {
		switch m := m.(type) {
		case *rtmpmsg.Ack:
			acks++
		case *rtmpmsg.UserCtrl:
			if e, ok := m.Event.(*rtmpmsg.UserCtrlEventPingResponse); ok && e.Timestamp == 4242 {
				pongs++
			}
		case *rtmpmsg.SetChunkSize:
			require.EqualValues(t, PublishChunkSize, m.ChunkSize)
			chunkSizes++
		}
	}
	require.Equal(t, 1, acks, "one acknowledgement: %v", r.seen)
	require.Equal(t, 1, pongs, "one ping response")
	require.Equal(t, 1, chunkSizes)
}

func TestPublishRefused(t *testing.T) {
	for _, code := range []string{"NetStream.Publish.BadName", "NetStream.Publish.Failed", "NetStream.Publish.Unauthorized"} {
		url := serve(t, func(s *fakeServer) {
			if _, _, ok := s.acceptPublish(code); ok {
				s.waitClosed()
			}
		})
		_, err := Publish(context.Background(), url, testOpts)
		require.ErrorIs(t, err, ErrPublishFailed, code)
		require.ErrorContains(t, err, code)
	}
}

func TestPublishEndsWhenTheServerSaysSo(t *testing.T) {
	url := serve(t, func(s *fakeServer) {
		if _, _, ok := s.acceptPublish("NetStream.Publish.Start"); !ok {
			return
		}
		s.status("error", "NetStream.Publish.Failed", "kicked")
		if s.flush() {
			s.waitClosed()
		}
	})
	p := publish(t, url)
	select {
	case <-p.Context().Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the publisher did not see the server's end")
	}
	require.ErrorIs(t, p.Err(), ErrPublishFailed)
}

func TestParseRTMPSURL(t *testing.T) {
	got, err := parseURL("rtmps://live.example.com/app/key?x=1")
	require.NoError(t, err)
	require.Equal(t, target{addr: "live.example.com:443", app: "app", name: "key?x=1",
		tcURL: "rtmps://live.example.com:443/app", tls: true, host: "live.example.com"}, got)
}

// startHeadwater runs headwater's RTMP server on a random port.
func startHeadwater(t *testing.T) (*registry.Registry, string) {
	t.Helper()
	reg := registry.New(stream.DefaultConfig())
	srv := hwrtmp.NewServer(hwrtmp.DefaultConfig(), reg, zerolog.Nop())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, srv.Shutdown(ctx))
		<-done
		require.Equal(t, registry.Stats{}, reg.Stats())
	})
	return reg, "rtmp://" + ln.Addr().String()
}

// TestPublishToHeadwater publishes to headwater's own RTMP server and
// plays the stream back with Play: the same tags, in order; a second
// publisher of the key is refused with BadName; a kick ends the first.
func TestPublishToHeadwater(t *testing.T) {
	reg, base := startHeadwater(t)
	p := publish(t, base+"/live/x")
	tags := []flv.Tag{
		{Type: flv.TagScript, Data: meta},
		{Type: flv.TagVideo, Data: avcSeq},
		{Type: flv.TagAudio, Data: aacSeq},
		{Type: flv.TagVideo, Timestamp: 0, Data: append([]byte{0x17, 1, 0, 0, 0}, payload(90000, 5)...)},
		{Type: flv.TagAudio, Timestamp: 20, Data: aacFrame},
		{Type: flv.TagVideo, Timestamp: 40, Data: inter},
	}
	require.NoError(t, send(p, tags...))
	pl := play(t, base+"/live/x", testOpts)
	got := readTags(t, pl, len(tags))
	for i, tag := range tags {
		require.Equal(t, tag.Type, got[i].Type, "tag %d", i)
		require.True(t, bytes.Equal(tag.Data, got[i].Data), "tag %d", i)
	}

	_, err := Publish(context.Background(), base+"/live/x", testOpts)
	require.ErrorIs(t, err, ErrPublishFailed)
	require.ErrorContains(t, err, "NetStream.Publish.BadName")

	require.NoError(t, reg.Kick(registry.Key{App: "live", Name: "x"}))
	select {
	case <-p.Context().Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the publisher did not see the kick")
	}
	require.Error(t, p.Err())
	_, err = pl.ReadTag()
	require.True(t, errors.Is(err, ErrStreamEnded), "%v", err)
}

// TestCommandWithoutTransactionIsIgnored: ffmpeg -listen 1 answers
// FCPublish with onFCPublish and no transaction ID, which go-rtmp's
// decoder refuses; the client goes on reading. This pins the error text
// commandWithoutTransaction looks for.
func TestCommandWithoutTransactionIsIgnored(t *testing.T) {
	url := serve(t, func(s *fakeServer) {
		if _, ok := s.acceptPlay(); ok {
			s.ch.Msg(3, rtmptest.TypeCommand, 0, 0, dataMsg("onFCPublish"))
			s.ch.Msg(6, rtmptest.TypeVideo, 0, playStreamID, avcSeq)
			s.flush()
		}
		s.waitClosed()
	})
	p := play(t, url, testOpts)
	require.Equal(t, avcSeq, readTags(t, p, 1)[0].Data)
}
