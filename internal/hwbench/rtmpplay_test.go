package hwbench

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	gortmp "github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/handshake"
	rtmpmsg "github.com/yutopp/go-rtmp/message"

	"github.com/headwater-media/headwater/internal/config"
	"github.com/headwater-media/headwater/internal/rtmpclient"
	"github.com/headwater-media/headwater/internal/rtmptest"
	"github.com/headwater-media/headwater/internal/server"
	"github.com/headwater-media/headwater/pkg/flv"
)

// inProcess is a headwater server in this process, on free loopback
// ports; origins, when given, make it an edge of them.
func inProcess(t *testing.T, origins ...string) *server.Server {
	t.Helper()
	cfg := config.Default()
	cfg.RTMP.Addr, cfg.HTTP.Addr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Edge.Origins = origins
	require.NoError(t, cfg.Validate())
	s := server.New(cfg, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	require.NoError(t, s.Start())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, s.Shutdown(ctx))
	})
	return s
}

// testInput is the small FLV in pkg/flv's testdata: 160x120 H.264 + AAC,
// 0.5 s loop, 0.2 s GOP, stamped.
func testInput(t *testing.T) *Input {
	t.Helper()
	in, err := LoadInput("../../pkg/flv/testdata/avc_aac_160x120.flv")
	require.NoError(t, err)
	require.Equal(t, 4, in.LengthSize)
	return in
}

// requireClean checks a run in which every player played from start to end.
func requireClean(t *testing.T, res *Result, players int) {
	t.Helper()
	require.Zero(t, res.Errors, "errors: %v %v", res.ErrorsByKind, res.ErrorSamples)
	require.EqualValues(t, players, res.Window.PlayersMin)
	require.Positive(t, res.Window.Keyframes)
	require.Positive(t, res.Window.AudioFrames)
	require.NotNil(t, res.TTFB)
	require.EqualValues(t, players, res.TTFB.Samples, "one first message per connection")
	require.NotNil(t, res.TTFF)
	require.EqualValues(t, players, res.TTFF.Samples, "every player got a key frame")
	require.NotNil(t, res.Latency)
	require.Positive(t, res.Latency.P50)
	require.Less(t, res.Latency.Max, 2000.0, "latency is plausible")
	require.Zero(t, res.Window.Stalls)
}

// TestRTMPPlayers plays from an in-process headwater with RTMP players:
// from the origin, with churn over two streams, from an edge (RTMP and
// HTTP-FLV players), and a stream that does not exist.
func TestRTMPPlayers(t *testing.T) {
	in := testInput(t)
	origin := inProcess(t)
	rtmpAddr, httpAddr := origin.RTMPAddr().String(), origin.HTTPAddr().String()
	ctx := context.Background()
	base := Config{Input: in, Streams: 1, Ramp: 300 * time.Millisecond, Warmup: 500 * time.Millisecond,
		Duration: 2 * time.Second, Stall: time.Second, Timeout: 5 * time.Second}

	t.Run("Origin", func(t *testing.T) {
		cfg := base
		cfg.Publish, cfg.Play, cfg.Players = "rtmp://"+rtmpAddr+"/live/r", "rtmp://"+rtmpAddr+"/live/r", 4
		res, err := Run(ctx, &cfg)
		require.NoError(t, err)
		requireClean(t, res, 4)
		// Four players receive about four times the stream, plus RTMP's
		// chunk headers.
		require.InDelta(t, 4*in.Bitrate()/1e6, res.Window.Mbps, 0.3*4*in.Bitrate()/1e6)
		require.Equal(t, uint64(0), res.Window.Cached, "no player joined in the window")
	})

	t.Run("Churn", func(t *testing.T) {
		cfg := base
		cfg.Publish, cfg.Play = "rtmp://"+rtmpAddr+"/live/c%d", "rtmp://"+rtmpAddr+"/live/c%d"
		cfg.Streams, cfg.Players, cfg.Churn = 2, 3, 600*time.Millisecond
		res, err := Run(ctx, &cfg)
		require.NoError(t, err)
		require.Zero(t, res.Errors, "errors: %v %v", res.ErrorsByKind, res.ErrorSamples)
		require.Positive(t, res.Window.ChurnCloses)
		require.Positive(t, res.Window.Connects)
		require.Greater(t, res.TTFF.Samples, uint64(6), "reconnecting players get key frames again")
		require.Equal(t, res.TTFB.Samples, res.TTFF.Samples)
		require.Positive(t, res.Window.Cached, "rejoining players get the GOP cache, not counted as latency")
		require.NotNil(t, res.Latency)
	})

	t.Run("Edge", func(t *testing.T) {
		edge := inProcess(t, "http://"+httpAddr)
		for _, play := range []string{"rtmp://" + edge.RTMPAddr().String() + "/live/e", "http://" + edge.HTTPAddr().String() + "/live/e.flv"} {
			cfg := base
			cfg.Publish, cfg.Play, cfg.Players = "rtmp://"+rtmpAddr+"/live/e", play, 3
			res, err := Run(ctx, &cfg)
			require.NoError(t, err, play)
			requireClean(t, res, 3)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		cfg := base
		cfg.Input, cfg.Play, cfg.Players, cfg.Duration = nil, "rtmp://"+rtmpAddr+"/live/nosuch", 2, 1500*time.Millisecond
		res, err := Run(ctx, &cfg)
		require.NoError(t, err)
		require.Positive(t, res.ErrorsByKind["play_refused"], "errors: %v", res.ErrorsByKind)
		require.Len(t, res.ErrorsByKind, 1, "errors: %v", res.ErrorsByKind)
		require.Contains(t, res.ErrorSamples["play_refused"], "NetStream.Play.StreamNotFound")
		require.Nil(t, res.TTFB)
	})
}

func TestRTMPErrorKinds(t *testing.T) {
	for _, c := range []struct {
		err         error
		setup, read ErrorKind
	}{
		{rtmpclient.ErrStreamNotFound, EPlayRefused, EPlayRefused},
		{rtmpclient.ErrPlayFailed, EPlayRefused, EPlayRefused},
		{rtmpclient.ErrStreamEnded, EEnded, EEnded},
		{io.EOF, EBadResponse, EEnded},
		{io.ErrUnexpectedEOF, EBadResponse, ETruncated},
		{&net.OpError{Op: "dial", Err: errors.New("refused")}, EDial, ERead},
		{&net.OpError{Op: "read", Err: errors.New("reset")}, EBadResponse, ERead},
		{errors.New("rtmp: malformed"), EBadResponse, EBadTag},
	} {
		wrapped := errors.Join(errors.New("rtmp: play"), c.err)
		require.Equal(t, c.setup, rtmpSetupKind(wrapped), "%v", c.err)
		require.Equal(t, c.read, rtmpReadKind(wrapped), "%v", c.err)
	}
	require.True(t, isRTMP("RTMP://h/a/b"))
	require.False(t, isRTMP("http://h/a.flv"))
	require.False(t, isRTMP("rtmp:"))
}

// mediaServer answers one RTMP play (connect, createStream, play) like a
// live server, with Window Acknowledgement Size 2.5 MB and chunk size
// 60000 as headwater's, then writes head once and loop over and over until
// the client goes away. loop's chunks use type 1 headers (timestamp
// deltas), so timestamps keep going up.
func mediaServer(t testing.TB, head, loop []byte) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		if err := handshake.HandshakeWithClient(nc, nc, &handshake.Config{}); err != nil {
			return
		}
		cs := gortmp.NewChunkStreamer(nc, io.Discard, nil)
		defer func() { _ = cs.Close(); <-cs.Done() }()
		var cmsg gortmp.ChunkMessage
		for {
			if _, _, err := cs.Read(&cmsg); err != nil {
				return
			}
			cmd, ok := cmsg.Message.(*rtmpmsg.CommandMessage)
			if !ok {
				continue
			}
			c := rtmptest.NewChunker()
			switch cmd.CommandName {
			case "connect":
				c.Msg(2, 5, 0, 0, binary.BigEndian.AppendUint32(nil, 2500000)) // Window Acknowledgement Size
				c.Msg(3, rtmptest.TypeCommand, 0, 0, rtmptest.Command("_result", cmd.TransactionID, rtmptest.Args{
					map[string]any{"fmsVer": "FMS/3,0,1,123"}, map[string]any{"level": "status", "code": "NetConnection.Connect.Success"}}))
			case "createStream":
				c.Msg(3, rtmptest.TypeCommand, 0, 0, rtmptest.Command("_result", cmd.TransactionID, rtmptest.Args{nil, 1.0}))
			case "play":
				c.Msg(5, rtmptest.TypeCommand, 0, 1, rtmptest.Command("onStatus", 0, rtmptest.Args{nil,
					map[string]any{"level": "status", "code": "NetStream.Play.Start"}}))
				c.Raw(head)
				if _, err := nc.Write(c.B); err != nil {
					return
				}
				for {
					if _, err := nc.Write(loop); err != nil {
						return
					}
				}
			}
			if _, err := nc.Write(c.B); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
	})
	return "rtmp://" + ln.Addr().String() + "/live/x"
}

// liveMedia is what headwater sends an RTMP player of a 720p stream of
// 2.5 Mbit/s: chunk size 60000, the sequence headers, then one second
// (loop) of 30 stamped video frames of ~10 KB with a 25 KB key frame, and
// 47 AAC frames of 340 bytes.
func liveMedia() (head, loop []byte) {
	h := rtmptest.NewChunker().SetChunkSize(60000)
	h.Msg(7, rtmptest.TypeVideo, 0, 1, []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x1f, 1, 0, 4, 0x68, 0xee, 0x3c, 0x80})
	h.Msg(6, rtmptest.TypeAudio, 0, 1, []byte{0xaf, 0, 0x12, 0x10})
	st := Stamper{LengthSize: 4}
	l := rtmptest.NewChunker().SetChunkSize(60000)
	l.B = nil // the loop is sent after head, which set the chunk size
	for i := range 30 {
		size, nal := 10000, byte(0x41)
		if i == 0 {
			size, nal = 25000, 0x65
		}
		frame, _ := st.Stamp(avcFrame(4, append([]byte{nal}, make([]byte, size)...)), time.Now().UnixNano())
		if i == 0 {
			frame[0] = 0x17
		} else {
			frame[0] = 0x27
		}
		l.Next(1, 7, rtmptest.TypeVideo, 33, frame)
		for range (i+1)*47/30 - i*47/30 {
			l.Next(1, 6, rtmptest.TypeAudio, 21, append([]byte{0xaf, 1}, make([]byte, 338)...))
		}
	}
	return h.B, l.B
}

// rtmpReader is an RTMP player connected to mediaServer, past its first
// messages, and the step that reads and accounts for one more.
func rtmpReader(t testing.TB) (step func(), p *player, rp *rtmpclient.Player) {
	head, loop := liveMedia()
	url := mediaServer(t, head, loop)
	rp, err := rtmpclient.Play(context.Background(), url, rtmpclient.Options{Timeout: 5 * time.Second, MaxMessageSize: maxParserTagSize})
	require.NoError(t, err)
	t.Cleanup(func() { _ = rp.Close() })
	b := &bench{cfg: &Config{Stall: time.Second}, errSamples: map[ErrorKind]string{}}
	now := time.Now()
	p = &player{sh: b.stats.shard(0), cfg: b.cfg, bench: b, epoch: now, dialAt: now, respAt: now, lengthSz: 4}
	step = func() {
		tag, err := rp.ReadTag()
		if err != nil {
			t.Fatal(err)
		}
		p.rtmpMessage(rp.BytesRead(), tag)
	}
	for range 200 { // warm up: buffers grow
		step()
	}
	return step, p, rp
}

// TestRTMPPlayerReadPathAllocations reads about 40 s of a 2.7 Mbit/s
// stream (3,000 messages, 11 MB) through rtmpclient and the player's
// accounting. What allocates is rtmpclient's acknowledgement, queued to
// go-rtmp's writer every 1.25 MB (half the server's window): a few
// allocations per ~110 messages.
func TestRTMPPlayerReadPathAllocations(t *testing.T) {
	step, p, _ := rtmpReader(t)
	const n = 3000
	allocs := testing.AllocsPerRun(1, func() {
		for range n {
			step()
		}
	}) / n
	t.Logf("%.4f allocations per message", allocs)
	require.Less(t, allocs, 0.1, "allocations per message")
	sh := p.sh
	require.Positive(t, sh.counter[CKeyframes].Load())
	require.Positive(t, sh.counter[CAudioFrames].Load())
	require.Zero(t, sh.errs[EBackwards].Load(), "timestamps go up")
	require.EqualValues(t, sh.counter[CVideoFrames].Load(), sh.counter[CStamped].Load()+sh.counter[CCached].Load(), "every frame is stamped")

	// Without the acknowledgements: the player's own accounting.
	tag := flv.Tag{Type: flv.TagVideo, Timestamp: 1, Data: make([]byte, 10000)}
	tag.Data[0], tag.Data[1] = 0x27, 1
	var read uint64
	require.Zero(t, testing.AllocsPerRun(1000, func() {
		read += 10016
		tag.Timestamp += 33
		p.rtmpMessage(read, tag)
	}))
}

// BenchmarkRTMPPlayerMessage is an RTMP player's cost per message of a
// 2.7 Mbit/s stream (about 6 KB on average) over loopback TCP: rtmpclient
// and the player's accounting, the fake server's writes included.
func BenchmarkRTMPPlayerMessage(b *testing.B) {
	step, _, rp := rtmpReader(b)
	read := rp.BytesRead()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		step()
	}
	b.SetBytes(int64(rp.BytesRead()-read) / int64(b.N))
}
