package hwbench

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/pkg/flv"
)

// TestWSPlayers plays from an in-process headwater with WebSocket-FLV
// players: from the origin, with churn over two streams, from an edge,
// and a stream that does not exist.
func TestWSPlayers(t *testing.T) {
	in := testInput(t)
	origin := inProcess(t)
	rtmpAddr, httpAddr := origin.RTMPAddr().String(), origin.HTTPAddr().String()
	ctx := context.Background()
	base := Config{Input: in, Streams: 1, Ramp: 300 * time.Millisecond, Warmup: 500 * time.Millisecond,
		Duration: 2 * time.Second, Stall: time.Second, Timeout: 5 * time.Second}

	t.Run("Origin", func(t *testing.T) {
		cfg := base
		cfg.Publish, cfg.Play, cfg.Players = "rtmp://"+rtmpAddr+"/live/w", "ws://"+httpAddr+"/live/w.flv", 4
		res, err := Run(ctx, &cfg)
		require.NoError(t, err)
		requireClean(t, res, 4)
		require.InDelta(t, 4*in.Bitrate()/1e6, res.Window.Mbps, 0.3*4*in.Bitrate()/1e6)
		require.Equal(t, uint64(0), res.Window.Cached, "no player joined in the window")
	})

	t.Run("Churn", func(t *testing.T) {
		cfg := base
		cfg.Publish, cfg.Play = "rtmp://"+rtmpAddr+"/live/wc%d", "ws://"+httpAddr+"/live/wc%d.flv"
		cfg.Streams, cfg.Players, cfg.Churn = 2, 3, 600*time.Millisecond
		res, err := Run(ctx, &cfg)
		require.NoError(t, err)
		require.Zero(t, res.Errors, "errors: %v %v", res.ErrorsByKind, res.ErrorSamples)
		require.Positive(t, res.Window.ChurnCloses)
		require.Greater(t, res.TTFF.Samples, uint64(6), "reconnecting players get key frames again")
		require.Positive(t, res.Window.Cached, "rejoining players get the GOP cache, not counted as latency")
	})

	t.Run("Edge", func(t *testing.T) {
		edge := inProcess(t, "http://"+httpAddr)
		cfg := base
		cfg.Publish, cfg.Play, cfg.Players = "rtmp://"+rtmpAddr+"/live/we", "ws://"+edge.HTTPAddr().String()+"/live/we.flv", 3
		res, err := Run(ctx, &cfg)
		require.NoError(t, err)
		requireClean(t, res, 3)
	})

	t.Run("NotFound", func(t *testing.T) {
		cfg := base
		cfg.Input, cfg.Play, cfg.Players, cfg.Duration = nil, "ws://"+httpAddr+"/live/nosuch.flv", 2, 1500*time.Millisecond
		res, err := Run(ctx, &cfg)
		require.NoError(t, err)
		require.Positive(t, res.ErrorsByKind["http_status"], "errors: %v", res.ErrorsByKind)
		require.Len(t, res.ErrorsByKind, 1, "errors: %v", res.ErrorsByKind)
		require.Nil(t, res.TTFB)
	})
}

func TestWSErrorKinds(t *testing.T) {
	p := &player{}
	p.parser.Reset()
	require.NoError(t, p.parser.Feed(flv.AppendHeader(nil, true, true), p)) // between tags
	for _, c := range []struct {
		err  error
		kind ErrorKind
	}{
		{websocket.CloseError{Code: websocket.StatusNormalClosure, Reason: "stream ended"}, EEnded},
		{websocket.CloseError{Code: websocket.StatusPolicyViolation}, ERead},
		{io.EOF, ERead},
		{&net.OpError{Op: "read", Err: errors.New("reset")}, ERead},
		{errors.New("received header with unexpected rsv bits set"), EBadResponse},
	} {
		require.Equal(t, c.kind, p.wsEndKind(fmt.Errorf("failed to get reader: %w", c.err)), "%v", c.err)
	}
	require.Equal(t, EHTTPStatus, wsSetupKind(&http.Response{StatusCode: 404}, errors.New("expected 101")))
	require.Equal(t, EDial, wsSetupKind(nil, &net.OpError{Op: "dial", Err: errors.New("refused")}))
	require.Equal(t, EIdle, wsSetupKind(nil, context.DeadlineExceeded))
	require.True(t, isWS("WS://h/a.flv"))
	require.False(t, isWS("wss://h/a.flv"))
	require.NoError(t, checkPlayURL("ws://h:8080/live/x.flv"))
	require.Error(t, checkPlayURL("ws:///x.flv"))
}

// TestWSPlayerReadPathAllocations plays 3,000 messages of 6 KB (40 s of
// a 1.5 Mbit/s stream) from a server that writes them, prepared, on a
// raw connection, through coder/websocket, the FLV parser and the
// player's statistics: the dial and handshake allocate once a
// connection, a message nothing.
func TestWSPlayerReadPathAllocations(t *testing.T) {
	const n = 3000
	url := rawWSServer(t, wsStream(n))
	cfg := &Config{Timeout: 5 * time.Second, Stall: time.Second}
	b := &bench{cfg: cfg, errSamples: map[ErrorKind]string{}}
	p := &player{sh: b.stats.shard(0), cfg: cfg, bench: b, epoch: time.Now(), rng: rand.New(rand.NewPCG(1, 2)),
		wsURL: url, buf: make([]byte, readBufSize)}
	var kind ErrorKind
	var err error
	allocs := testing.AllocsPerRun(1, func() { kind, err = p.playWS(context.Background()) }) / n
	require.Equal(t, EEnded, kind, "%v", err)
	t.Logf("%.4f allocations per message", allocs)
	require.Less(t, allocs, 0.1, "allocations per message")
	require.EqualValues(t, 2*(n-1), p.sh.counter[CVideoFrames].Load(), "AllocsPerRun's warm-up call and its run")
	require.EqualValues(t, 2, p.sh.counter[CKeyframes].Load())
	require.Zero(t, p.sh.errs[EBackwards].Load())
}

// wsStream is an FLV stream in n server frames (binary messages), then a
// close frame 1000: the header and an AVC sequence header, then n-1
// video tags of 6 KB, 33 ms apart, the first a keyframe.
func wsStream(n int) []byte {
	frame := func(b []byte, op byte, p []byte) []byte {
		b = append(b, 0x80|op)
		switch {
		case len(p) < 126:
			b = append(b, byte(len(p)))
		case len(p) <= 0xffff:
			b = append(b, 126, byte(len(p)>>8), byte(len(p)))
		default:
			b = binary.BigEndian.AppendUint64(append(b, 127), uint64(len(p)))
		}
		return append(b, p...)
	}
	head := flv.AppendHeader(nil, false, true)
	head = flv.AppendTag(head, flv.TagVideo, 0, []byte{0x17, 0, 0, 0, 0, 1, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0, 0})
	wire := frame(nil, 2, head)
	data := make([]byte, 6000)
	data[1] = 1
	for i := 1; i < n; i++ {
		data[0] = 0x27
		if i == 1 {
			data[0] = 0x17
		}
		wire = frame(wire, 2, flv.AppendTag(nil, flv.TagVideo, uint32(i*33), data))
	}
	return frame(wire, 8, []byte{0x03, 0xe8})
}

// rawWSServer answers WebSocket handshakes on raw connections, one at a
// time, and writes wire to each, then waits for the client to close. It
// returns its ws:// URL.
func rawWSServer(t *testing.T, wire []byte) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if req, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
				sum := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
				head := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
					"Sec-WebSocket-Accept: " + base64.StdEncoding.EncodeToString(sum[:]) + "\r\n\r\n"
				if _, err := c.Write(append([]byte(head), wire...)); err == nil {
					_, _ = io.Copy(io.Discard, c)
				}
			}
			c.Close()
		}
	}()
	return "ws://" + ln.Addr().String() + "/live/x.flv"
}
