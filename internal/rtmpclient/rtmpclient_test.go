package rtmpclient

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	rtmp "github.com/yutopp/go-rtmp"
	rtmpmsg "github.com/yutopp/go-rtmp/message"
	"go.uber.org/goleak"

	"github.com/headwater-media/headwater/internal/rtmptest"
	"github.com/headwater-media/headwater/pkg/flv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testOpts bounds the tests' players; the fake server answers at once.
var testOpts = Options{Timeout: 5 * time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}

// play plays url and closes the player at the end of the test (before the
// fake server's cleanup waits for it).
func play(t *testing.T, url string, opts Options) *Player {
	t.Helper()
	p, err := Play(context.Background(), url, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// payload is n bytes that differ with seed.
func payload(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}

// receive waits for a fake server's report.
func receive[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(serverLifetime):
		t.Fatal("the fake server reported nothing")
		panic("unreachable")
	}
}

// readTags reads n tags, copying their data.
func readTags(t *testing.T, p *Player, n int) []flv.Tag {
	t.Helper()
	var tags []flv.Tag
	for range n {
		tag, err := p.ReadTag()
		require.NoError(t, err, "tag %d", len(tags))
		tag.Data = append([]byte{}, tag.Data...)
		tags = append(tags, tag)
	}
	return tags
}

var (
	avcSeq   = append([]byte{0x17, 0, 0, 0, 0}, payload(40, 1)...)
	aacSeq   = []byte{0xaf, 0, 0x12, 0x10}
	keyframe = append([]byte{0x17, 1, 0, 0, 0}, payload(10000, 2)...) // three 4096-byte chunks
	aacFrame = append([]byte{0xaf, 1}, payload(300, 3)...)
	inter    = append([]byte{0x27, 1, 0, 0, 0}, payload(900, 4)...)
	meta     = metaBody(map[string]any{"width": 320.0, "height": 240.0, "videocodecid": 7.0})
)

func TestPlayDeliversTagsInOrder(t *testing.T) {
	type report struct {
		connect map[string]any
		name    string
		seen    []rtmpmsg.Message
	}
	rep := make(chan report, 1)
	url := serve(t, func(s *fakeServer) {
		obj, ok := s.acceptConnect()
		if !ok {
			return
		}
		msid, _, vals, ok := s.expect("play")
		if !ok {
			return
		}
		name, _ := vals[1].(string)
		if msid != playStreamID {
			t.Errorf("play on message stream %d", msid)
		}
		rep <- report{obj, name, s.seen}
		s.ch.Msg(2, typeUserControl, 0, 0, userControl(0, playStreamID))
		s.status("status", "NetStream.Play.Reset", "reset").status("status", "NetStream.Play.Start", "start")
		s.ch.Msg(5, rtmptest.TypeData, 0, playStreamID, dataMsg("|RtmpSampleAccess", false, false))
		s.ch.Msg(5, rtmptest.TypeData, 0, playStreamID, rtmptest.SetDataFrame(meta))
		s.ch.Msg(6, rtmptest.TypeVideo, 0, playStreamID, avcSeq)
		s.ch.Msg(4, rtmptest.TypeAudio, 0, playStreamID, aacSeq)
		s.ch.Msg(6, rtmptest.TypeVideo, 0, playStreamID, keyframe)
		s.ch.Msg(4, rtmptest.TypeAudio, 23, playStreamID, aacFrame)
		s.cmd(0, "onBWDone", 0, nil)
		s.ch.Next(1, 6, rtmptest.TypeVideo, 40, inter)
		s.ch.Msg(5, rtmptest.TypeData, 100, playStreamID, meta) // a bare onMetaData
		s.ch.Msg(5, rtmptest.TypeData, 100, playStreamID, dataMsg("onCuePoint", map[string]any{"name": "x"}))
		s.ch.Msg(4, rtmptest.TypeAudio, 46, playStreamID, aacFrame)
		s.flush()
		s.waitClosed()
	})
	p := play(t, url+"?token=abc&b=1", testOpts)
	got := readTags(t, p, 8)
	want := []flv.Tag{
		{Type: flv.TagScript, Timestamp: 0, Data: meta},
		{Type: flv.TagVideo, Timestamp: 0, Data: avcSeq},
		{Type: flv.TagAudio, Timestamp: 0, Data: aacSeq},
		{Type: flv.TagVideo, Timestamp: 0, Data: keyframe},
		{Type: flv.TagAudio, Timestamp: 23, Data: aacFrame},
		{Type: flv.TagVideo, Timestamp: 40, Data: inter},
		{Type: flv.TagScript, Timestamp: 100, Data: meta},
		{Type: flv.TagAudio, Timestamp: 46, Data: aacFrame},
	}
	require.Equal(t, want, got)
	m, err := flv.ParseMetadata(got[0].Data)
	require.NoError(t, err)
	w, _ := m.Number("width")
	require.Equal(t, 320.0, w)
	require.Greater(t, p.BytesRead(), uint64(len(keyframe)+3073))

	r := receive(t, rep)
	host := strings.TrimSuffix(strings.TrimPrefix(url, "rtmp://"), "/live/x")
	require.Equal(t, "live", r.connect["app"])
	require.Equal(t, "rtmp://"+host+"/live", r.connect["tcUrl"])
	require.Equal(t, "x?token=abc&b=1", r.name, "the query stays part of the play name")
	var winAck, bufLen bool
	for _, m := range r.seen {
		switch m := m.(type) {
		case *rtmpmsg.WinAckSize:
			winAck = m.Size == clientWindowSize
		case *rtmpmsg.UserCtrl:
			if e, ok := m.Event.(*rtmpmsg.UserCtrlEventSetBufferLength); ok {
				bufLen = e.StreamID == playStreamID && e.LengthMs == 3000
			}
		}
	}
	require.True(t, winAck, "Window Acknowledgement Size sent: %#v", r.seen)
	require.True(t, bufLen, "SetBufferLength(1, 3000) sent before play: %#v", r.seen)
}

func TestPlayRefusals(t *testing.T) {
	errorInfo := func(code, desc string) map[string]any {
		return map[string]any{"level": "error", "code": code, "description": desc}
	}
	for _, tc := range []struct {
		name   string
		script func(s *fakeServer)
		want   error
		text   string
	}{
		{"StreamNotFound", func(s *fakeServer) {
			if _, ok := s.acceptConnectAndPlay(); ok {
				s.status("error", "NetStream.Play.StreamNotFound", "No such stream: x").flush()
			}
		}, ErrStreamNotFound, "No such stream: x"},
		{"PlayFailed", func(s *fakeServer) {
			if _, ok := s.acceptConnectAndPlay(); ok {
				s.status("error", "NetStream.Play.Failed", "denied by auth").flush()
			}
		}, ErrPlayFailed, "denied by auth"},
		{"OtherErrorStatus", func(s *fakeServer) {
			if _, ok := s.acceptConnectAndPlay(); ok {
				s.status("error", "NetStream.Play.BadName", "bad name").flush()
			}
		}, ErrPlayFailed, "NetStream.Play.BadName: bad name"},
		{"ConnectError", func(s *fakeServer) {
			if !s.handshake() {
				return
			}
			if _, tx, _, ok := s.expect("connect"); ok {
				s.cmd(0, "_error", tx, nil, errorInfo("NetConnection.Connect.Rejected", "unknown app")).flush()
			}
		}, ErrPlayFailed, "unknown app"},
		{"ConnectResultNotSuccess", func(s *fakeServer) {
			if !s.handshake() {
				return
			}
			if _, tx, _, ok := s.expect("connect"); ok {
				s.cmd(0, "_result", tx, map[string]any{"fmsVer": "FMS/3,0,1,123"}, errorInfo("NetConnection.Connect.Failed", "full")).flush()
			}
		}, ErrPlayFailed, "full"},
		{"CreateStreamError", func(s *fakeServer) {
			if !s.handshake() {
				return
			}
			if _, tx, _, ok := s.expect("connect"); ok {
				s.cmd(0, "_result", tx, nil, connectInfo).flush()
			}
			if _, tx, _, ok := s.expect("createStream"); ok {
				s.cmd(0, "_error", tx, nil, errorInfo("NetConnection.Call.Failed", "no streams left")).flush()
			}
		}, ErrPlayFailed, "no streams left"},
		{"CreateStreamWithoutID", func(s *fakeServer) {
			if !s.handshake() {
				return
			}
			if _, tx, _, ok := s.expect("connect"); ok {
				s.cmd(0, "_result", tx, nil, connectInfo).flush()
			}
			if _, tx, _, ok := s.expect("createStream"); ok {
				s.cmd(0, "_result", tx, nil, "one").flush()
			}
		}, ErrPlayFailed, "no stream ID"},
		{"StopBeforeStart", func(s *fakeServer) {
			if _, ok := s.acceptConnectAndPlay(); ok {
				s.status("status", "NetStream.Play.Stop", "stopped").flush()
			}
		}, ErrStreamEnded, "stopped"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := serve(t, func(s *fakeServer) {
				tc.script(s)
				s.waitClosed()
			})
			start := time.Now()
			p, err := Play(context.Background(), url+"?token=secret", Options{Timeout: 10 * time.Second})
			require.Nil(t, p)
			require.ErrorIs(t, err, tc.want)
			require.Contains(t, err.Error(), tc.text)
			require.NotContains(t, err.Error(), "secret", "the query stays out of errors")
			require.Less(t, time.Since(start), 5*time.Second, "refused at once, not at the timeout")
		})
	}
}

func TestStreamEnded(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(s *fakeServer)
	}{
		{"UnpublishNotify", func(s *fakeServer) {
			s.status("status", "NetStream.Play.UnpublishNotify", "live/x is now unpublished.")
		}},
		{"PlayStop", func(s *fakeServer) { s.status("status", "NetStream.Play.Stop", "Stopped playing live/x.") }},
		{"PlayComplete", func(s *fakeServer) {
			s.ch.Msg(5, rtmptest.TypeData, 0, playStreamID, dataMsg("onPlayStatus", map[string]any{
				"level": "status", "code": "NetStream.Play.Complete",
			}))
		}},
		{"StreamEOF", func(s *fakeServer) { s.ch.Msg(2, typeUserControl, 0, 0, userControl(1, playStreamID)) }},
		{"Close", func(s *fakeServer) { s.cmd(0, "close", 0, nil) }},
		{"DeleteStream", func(s *fakeServer) { // as ffmpeg -listen 1 ends
			s.cmd(0, "FCUnpublish", 1, nil, "x").cmd(0, "deleteStream", 2, nil, float64(playStreamID))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := serve(t, func(s *fakeServer) {
				if _, ok := s.acceptPlay(); !ok {
					return
				}
				s.ch.Msg(2, typeUserControl, 0, 0, userControl(1, playStreamID+1)) // another stream's EOF
				s.ch.Msg(6, rtmptest.TypeVideo, 0, playStreamID, avcSeq)
				tc.end(s)
				s.ch.Msg(6, rtmptest.TypeVideo, 40, playStreamID, inter) // not delivered
				s.flush()
				s.waitClosed()
			})
			p := play(t, url, testOpts)
			readTags(t, p, 1)
			_, err := p.ReadTag()
			require.ErrorIs(t, err, ErrStreamEnded)
			_, err2 := p.ReadTag()
			require.Equal(t, err, err2, "the error sticks")
		})
	}
}

func TestConnectionClosedMidStream(t *testing.T) {
	url := serve(t, func(s *fakeServer) {
		if _, ok := s.acceptPlay(); ok {
			s.ch.Msg(6, rtmptest.TypeVideo, 0, playStreamID, avcSeq)
			s.ch.Raw([]byte{0x06, 0, 0, 40, 0, 3, 0}) // half a chunk header
			s.flush()
		}
	})
	p := play(t, url, testOpts)
	readTags(t, p, 1)
	_, err := p.ReadTag()
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	require.NotErrorIs(t, err, ErrStreamEnded)
}

func TestSilentServerTimesOut(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script func(s *fakeServer)
	}{
		{"NoHandshake", func(s *fakeServer) {}},
		{"PingsButNoPlayStart", func(s *fakeServer) {
			// The server keeps sending; the set-up deadline does not move.
			if _, ok := s.acceptConnectAndPlay(); !ok {
				return
			}
			for i := uint32(0); ; i++ {
				s.ch.Msg(2, typeUserControl, 0, 0, userControl(6, i))
				if !s.flush() {
					return
				}
				if _, _, ok := s.read(); !ok { // the pong
					return
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := serve(t, func(s *fakeServer) {
				tc.script(s)
				s.waitClosed()
			})
			const timeout = 300 * time.Millisecond
			start := time.Now()
			p, err := Play(context.Background(), url, Options{Timeout: timeout})
			elapsed := time.Since(start)
			require.Nil(t, p)
			require.ErrorIs(t, err, os.ErrDeadlineExceeded)
			require.GreaterOrEqual(t, elapsed, timeout-10*time.Millisecond)
			require.Less(t, elapsed, timeout+2*time.Second)
		})
	}
}

func TestContextCancelAbortsPlay(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url := serve(t, func(s *fakeServer) {
		if s.handshake() {
			if _, _, _, ok := s.expect("connect"); ok {
				cancel() // the client waits for connect's answer now
			}
		}
		s.waitClosed()
	})
	start := time.Now()
	p, err := Play(ctx, url, Options{Timeout: 20 * time.Second})
	require.Nil(t, p)
	require.ErrorIs(t, err, context.Canceled)
	require.Less(t, time.Since(start), 5*time.Second)

	// A cancelled context does not even dial.
	_, err = Play(ctx, url, Options{})
	require.ErrorIs(t, err, context.Canceled)
}

func TestExtendedTimestamps(t *testing.T) {
	const base = 0xffffff + 10
	video := payload(10000, 9) // three chunks, each with the extended field
	url := serve(t, func(s *fakeServer) {
		if _, ok := s.acceptPlay(); !ok {
			return
		}
		s.ch.Msg(6, rtmptest.TypeVideo, base, playStreamID, video)
		s.ch.Next(1, 6, rtmptest.TypeVideo, 40, video[:5000]) // delta: no extended field
		s.ch.Next(2, 6, rtmptest.TypeVideo, 33, video[:5000])
		s.ch.Next(3, 6, rtmptest.TypeVideo, 33, video[:5000])               // the delta again
		s.ch.Next(2, 6, rtmptest.TypeVideo, 0x1000000, video[:5000])        // an extended delta
		s.ch.Next(3, 6, rtmptest.TypeVideo, 0x1000000, video[:5000])        // type 3: extended field again
		s.ch.Msg(4, rtmptest.TypeAudio, 0xfffffffe, playStreamID, aacFrame) // the largest timestamps
		s.ch.Next(2, 4, rtmptest.TypeAudio, 3, aacFrame)                    // wraps to 1
		s.ch.Msg(4, rtmptest.TypeAudio, 0xffffff, playStreamID, aacFrame)   // exactly the marker
		s.flush()
		s.waitClosed()
	})
	p := play(t, url, testOpts)
	got := readTags(t, p, 9)
	wantTS := []uint32{base, base + 40, base + 73, base + 106, base + 106 + 0x1000000, base + 106 + 0x2000000, 0xfffffffe, 1, 0xffffff}
	for i, tag := range got {
		require.Equal(t, wantTS[i], tag.Timestamp, "tag %d", i)
	}
	require.Equal(t, video, got[0].Data)
	require.Equal(t, video[:5000], got[5].Data)
	require.Equal(t, aacFrame, got[8].Data)
}

func TestChunkSizeChanges(t *testing.T) {
	big := payload(200000, 5) // over go-rtmp's 64 KiB retained buffer
	url := serve(t, func(s *fakeServer) {
		if _, ok := s.acceptPlay(); !ok { // at chunk size 4096
			return
		}
		s.ch.Msg(6, rtmptest.TypeVideo, 0, playStreamID, keyframe)
		s.ch.SetChunkSize(1)
		s.ch.Msg(4, rtmptest.TypeAudio, 1, playStreamID, aacFrame) // 302 chunks
		s.ch.SetChunkSize(65536)
		s.ch.Msg(6, rtmptest.TypeVideo, 2, playStreamID, big)
		s.ch.SetChunkSize(128)
		s.ch.Msg(6, rtmptest.TypeVideo, 3, playStreamID, big)
		s.ch.Msg(6, rtmptest.TypeVideo, 4, playStreamID, nil) // empty
		s.ch.Msg(4, rtmptest.TypeAudio, 5, playStreamID, aacSeq)
		s.flush()
		s.waitClosed()
	})
	p := play(t, url, testOpts)
	got := readTags(t, p, 6)
	for i, want := range [][]byte{keyframe, aacFrame, big, big, {}, aacSeq} {
		require.Equal(t, len(want), len(got[i].Data), "tag %d", i)
		require.Equal(t, want, got[i].Data, "tag %d", i)
		require.Equal(t, uint32(i), got[i].Timestamp)
	}
}

func TestAggregateIsSplit(t *testing.T) {
	video := payload(6000, 6)
	url := serve(t, func(s *fakeServer) {
		if _, ok := s.acceptPlay(); !ok {
			return
		}
		agg := rtmptest.Aggregate(
			rtmptest.Sub{Type: rtmptest.TypeAudio, TS: 1000, Payload: aacFrame},
			rtmptest.Sub{Type: rtmptest.TypeVideo, TS: 1020, Payload: video},
			rtmptest.Sub{Type: rtmptest.TypeData, TS: 1040, Payload: rtmptest.SetDataFrame(meta)},
			rtmptest.Sub{Type: 0x55, TS: 1050, Payload: []byte("unknown")},
			rtmptest.Sub{Type: rtmptest.TypeAggregate, TS: 1050, Payload: rtmptest.Aggregate(rtmptest.Sub{Type: 8, Payload: []byte{1}})},
			rtmptest.Sub{Type: rtmptest.TypeData, TS: 1060, Payload: meta}, // bare onMetaData
		)
		agg = append(agg, 1, 2, 3, 4, 5) // trailing bytes
		s.ch.Msg(5, rtmptest.TypeAggregate, 5000, playStreamID, agg)
		// Sub-message timestamps that wrap (extension byte 0xff).
		s.ch.Msg(5, rtmptest.TypeAggregate, 7000, playStreamID, rtmptest.Aggregate(
			rtmptest.Sub{Type: rtmptest.TypeAudio, TS: 0xfffffff0, Payload: aacSeq},
			rtmptest.Sub{Type: rtmptest.TypeAudio, TS: 0x10, Payload: aacSeq},
		))
		s.ch.Msg(4, rtmptest.TypeAudio, 9000, playStreamID, aacFrame)
		// A sub-message that runs past the end.
		bad := rtmptest.Aggregate(rtmptest.Sub{Type: rtmptest.TypeAudio, TS: 1, Payload: aacSeq}, rtmptest.Sub{Type: rtmptest.TypeVideo, TS: 2, Payload: video})
		s.ch.Msg(5, rtmptest.TypeAggregate, 10000, playStreamID, bad[:len(bad)-10])
		s.flush()
		s.waitClosed()
	})
	p := play(t, url, testOpts)
	got := readTags(t, p, 8)
	want := []flv.Tag{
		{Type: flv.TagAudio, Timestamp: 5000, Data: aacFrame},
		{Type: flv.TagVideo, Timestamp: 5020, Data: video},
		{Type: flv.TagScript, Timestamp: 5040, Data: meta},
		{Type: flv.TagScript, Timestamp: 5060, Data: meta},
		{Type: flv.TagAudio, Timestamp: 7000, Data: aacSeq},
		{Type: flv.TagAudio, Timestamp: 7032, Data: aacSeq},
		{Type: flv.TagAudio, Timestamp: 9000, Data: aacFrame},
		{Type: flv.TagAudio, Timestamp: 10000, Data: aacSeq},
	}
	require.Equal(t, want, got)
	_, err := p.ReadTag()
	require.ErrorIs(t, err, errMalformedAggregate)
}

func TestAcknowledgesAfterWindow(t *testing.T) {
	const (
		window = 10000
		msgs   = 20
	)
	type report struct {
		acks []uint32
		sent uint64
	}
	rep := make(chan report, 1)
	url := serve(t, func(s *fakeServer) {
		if _, ok := s.acceptPlay(); !ok {
			return
		}
		s.ch.Msg(2, typeWinAckSize, 0, 0, be32(window))
		for i := range msgs {
			s.ch.Msg(6, rtmptest.TypeVideo, uint32(i), playStreamID, inter)
		}
		s.flush()
		sent := s.sent + handshakeSize
		// The acknowledgements up to one that leaves less than a window unacknowledged.
		var r report
		r.sent = sent
		for {
			_, msg, ok := s.read()
			if !ok {
				break
			}
			if a, ok := msg.(*rtmpmsg.Ack); ok {
				r.acks = append(r.acks, a.SequenceNumber)
				if sent-uint64(a.SequenceNumber) < window {
					break
				}
			}
		}
		rep <- r
		s.waitClosed()
	})
	p := play(t, url, testOpts)
	readTags(t, p, msgs)
	r := receive(t, rep)
	require.NotEmpty(t, r.acks)
	require.GreaterOrEqual(t, r.acks[0], uint32(window/2))
	for i := 1; i < len(r.acks); i++ {
		require.Greater(t, r.acks[i], r.acks[i-1])
	}
	last := uint64(r.acks[len(r.acks)-1])
	require.LessOrEqual(t, last, r.sent)
	require.Less(t, r.sent-last, uint64(window), "less than a window left unacknowledged: acks %v of %d bytes", r.acks, r.sent)
	require.Equal(t, r.sent, p.BytesRead())
}

func TestMessageLargerThanMaxMessageSize(t *testing.T) {
	url := serve(t, func(s *fakeServer) {
		if _, ok := s.acceptPlay(); ok {
			s.ch.Msg(6, rtmptest.TypeVideo, 0, playStreamID, payload(1000, 1))
			s.ch.Msg(6, rtmptest.TypeVideo, 0, playStreamID, payload(1001, 1))
			s.flush()
		}
		s.waitClosed()
	})
	opts := testOpts
	opts.MaxMessageSize = 1000
	p := play(t, url, opts)
	readTags(t, p, 1)
	_, err := p.ReadTag()
	require.ErrorIs(t, err, rtmp.ErrMessageTooLarge)
}

func TestPingIsAnswered(t *testing.T) {
	pong := make(chan uint32, 1)
	url := serve(t, func(s *fakeServer) {
		if _, ok := s.acceptPlay(); !ok {
			return
		}
		s.ch.Msg(2, typeUserControl, 0, 0, userControl(6, 123456))
		s.ch.Msg(6, rtmptest.TypeVideo, 0, playStreamID, avcSeq)
		s.flush()
		for {
			_, msg, ok := s.read()
			if !ok {
				return
			}
			if uc, ok := msg.(*rtmpmsg.UserCtrl); ok {
				if e, ok := uc.Event.(*rtmpmsg.UserCtrlEventPingResponse); ok {
					pong <- e.Timestamp
					break
				}
			}
		}
		s.waitClosed()
	})
	p := play(t, url, testOpts)
	readTags(t, p, 1)
	require.Equal(t, uint32(123456), receive(t, pong))
}

// TestUnknownUserControlEventIsIgnored: go-rtmp's decoder refuses event
// types it does not know (FMS sends BufferEmpty 31, BufferReady 32); the
// client goes on reading. This pins the error text unknownUserControl
// looks for.
func TestUnknownUserControlEventIsIgnored(t *testing.T) {
	url := serve(t, func(s *fakeServer) {
		if _, ok := s.acceptPlay(); ok {
			s.ch.Msg(2, typeUserControl, 0, 0, userControl(31, playStreamID))
			s.ch.Msg(2, typeUserControl, 0, 0, userControl(32, playStreamID))
			s.ch.Msg(6, rtmptest.TypeVideo, 0, playStreamID, avcSeq)
			s.flush()
		}
		s.waitClosed()
	})
	p := play(t, url, testOpts)
	require.Equal(t, avcSeq, readTags(t, p, 1)[0].Data)
}

func TestUnknownMessagesAreIgnored(t *testing.T) {
	url := serve(t, func(s *fakeServer) {
		if _, ok := s.acceptPlay(); ok {
			for _, typ := range []byte{0, 2, 3, 7, 15, 16, 17, 19, 21, 23, 99, 255} {
				s.ch.Msg(7, typ, 0, playStreamID, []byte{0, 0, 0, 1})
			}
			s.cmd(playStreamID, "onFCSubscribe", 0, nil, map[string]any{"code": "NetStream.Play.Start"})
			s.status("status", "NetStream.Play.PublishNotify", "")
			s.ch.Msg(6, rtmptest.TypeVideo, 0, playStreamID, avcSeq)
			s.flush()
		}
		s.waitClosed()
	})
	p := play(t, url, testOpts)
	require.Equal(t, avcSeq, readTags(t, p, 1)[0].Data)
}

func TestMetadataBeforePlayStartIsKept(t *testing.T) {
	url := serve(t, func(s *fakeServer) {
		if _, ok := s.acceptConnectAndPlay(); ok {
			s.ch.Msg(5, rtmptest.TypeData, 0, playStreamID, rtmptest.SetDataFrame(meta))
			s.ch.Msg(6, rtmptest.TypeVideo, 0, playStreamID, keyframe) // dropped
			s.status("status", "NetStream.Play.Start", "start")
			s.ch.Msg(6, rtmptest.TypeVideo, 0, playStreamID, avcSeq)
			s.flush()
		}
		s.waitClosed()
	})
	p := play(t, url, testOpts)
	got := readTags(t, p, 2)
	require.Equal(t, []flv.Tag{{Type: flv.TagScript, Data: meta}, {Type: flv.TagVideo, Data: avcSeq}}, got)
}

func TestCloseAbortsReadTag(t *testing.T) {
	url := serve(t, func(s *fakeServer) {
		if _, ok := s.acceptPlay(); ok {
			s.ch.Msg(6, rtmptest.TypeVideo, 0, playStreamID, avcSeq)
			s.flush()
		}
		s.waitClosed() // and then nothing
	})
	p := play(t, url, Options{Timeout: 5 * time.Second}) // no read timeout
	readTags(t, p, 1)
	res := make(chan error, 1)
	go func() {
		_, err := p.ReadTag()
		res <- err
	}()
	require.NoError(t, p.Close())
	err := receive(t, res)
	require.ErrorIs(t, err, errClosed)
	require.NoError(t, p.Close(), "idempotent")
	_, err = p.ReadTag()
	require.Error(t, err)
}

func TestReadTimeout(t *testing.T) {
	url := serve(t, func(s *fakeServer) {
		_, _ = s.acceptPlay()
		s.waitClosed()
	})
	opts := testOpts
	opts.ReadTimeout = 200 * time.Millisecond
	p := play(t, url, opts)
	start := time.Now()
	_, err := p.ReadTag()
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.GreaterOrEqual(t, time.Since(start), 190*time.Millisecond)
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in                     string
		addr, app, name, tcURL string
	}{
		{"rtmp://h/live/x", "h:1935", "live", "x", "rtmp://h:1935/live"},
		{"rtmp://h:1936/live/x?token=a&b=c", "h:1936", "live", "x?token=a&b=c", "rtmp://h:1936/live"},
		{"rtmp://[::1]/live/x", "[::1]:1935", "live", "x", "rtmp://[::1]:1935/live"},
		{"rtmp://h/app/_definst_/x", "h:1935", "app/_definst_", "x", "rtmp://h:1935/app/_definst_"},
		{"rtmp://h/vod/mp4:dir/file.mp4", "h:1935", "vod", "mp4:dir/file.mp4", "rtmp://h:1935/vod"},
	} {
		got, err := parseURL(tc.in)
		require.NoError(t, err, tc.in)
		got.host, got.tls = "", false // TestParseRTMPSURL
		require.Equal(t, target{addr: tc.addr, app: tc.app, name: tc.name, tcURL: tc.tcURL}, got, tc.in)
	}
	for _, bad := range []string{"http://h/live/x", "rtmp:///live/x", "rtmp://h/live", "rtmp://h/live/", "rtmp://h//x", "rtmp://h", "::"} {
		_, err := parseURL(bad)
		require.Error(t, err, bad)
	}
}

func TestDialError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	_, err = Play(context.Background(), "rtmp://"+addr+"/live/x", Options{Timeout: time.Second})
	require.Error(t, err)
	require.False(t, errors.Is(err, ErrPlayFailed))
}
