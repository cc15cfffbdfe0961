package httpflv

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/internal/lockcheck"
	"github.com/headwater-media/headwater/internal/play"
	"github.com/headwater-media/headwater/internal/play/playtest"
	"github.com/headwater-media/headwater/internal/registry"
	st "github.com/headwater-media/headwater/internal/stream/streamtest"
	"github.com/headwater-media/headwater/pkg/flv"
)

// wsClient is coder/websocket's HTTP client for the tests: no keep-alive
// (a refused handshake's connection is not kept, so goleak finds
// nothing); readBuffer, if not 0, is the socket's receive buffer.
func wsClient(readBuffer int) *http.Client {
	d := &net.Dialer{}
	return &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err == nil && readBuffer > 0 {
				err = c.(*net.TCPConn).SetReadBuffer(readBuffer)
			}
			return c, err
		},
	}}
}

// dialWS opens a WebSocket-FLV player of path with coder/websocket.
func (fs *flvServer) dialWS(t *testing.T, path string, readBuffer int) *websocket.Conn {
	t.Helper()
	c, resp, err := fs.tryWS(path, readBuffer)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	c.SetReadLimit(-1) // a message is a whole write: the join batch can be megabytes
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

func (fs *flvServer) tryWS(path string, readBuffer int) (*websocket.Conn, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return websocket.Dial(ctx, "ws://"+fs.srv.Listener.Addr().String()+path,
		&websocket.DialOptions{HTTPClient: wsClient(readBuffer)})
}

// readWS reads messages until the connection ends and returns them and
// the error that ended it.
func readWS(c *websocket.Conn) ([][]byte, error) {
	var msgs [][]byte
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		typ, b, err := c.Read(ctx)
		cancel()
		if err != nil {
			return msgs, err
		}
		if typ != websocket.MessageBinary {
			return msgs, fmt.Errorf("a %v message", typ)
		}
		msgs = append(msgs, b)
	}
}

// publishAV starts key with metadata, AAC and AVC sequence headers and a
// GOP (a keyframe, then a frame and an audio frame a step).
func (fs *flvServer) publishAV(t *testing.T, name string) *registry.Publisher {
	t.Helper()
	pub, err := fs.reg.Publish(registry.Key{App: "live", Name: name}, registry.PublisherInfo{}, nil)
	require.NoError(t, err)
	t.Cleanup(pub.Release)
	require.NoError(t, pub.Write(flv.TagScript, 0, st.Metadata(true, true)))
	require.NoError(t, pub.Write(flv.TagAudio, 0, st.AACSeqHeader()))
	require.NoError(t, pub.Write(flv.TagVideo, 0, st.AVCSeqHeader()))
	require.NoError(t, pub.Write(flv.TagVideo, 0, st.AVCFrame(true, 3000)))
	for i := uint32(1); i <= 5; i++ {
		require.NoError(t, pub.Write(flv.TagAudio, i*23, st.AACFrame(200)))
		require.NoError(t, pub.Write(flv.TagVideo, i*40, st.AVCFrame(false, 900)))
	}
	return pub
}

// TestWSFLVSameBytesAsHTTPFLV: a WebSocket-FLV player gets exactly what
// an HTTP-FLV player gets (header, metadata, sequence headers, the GOP
// from its keyframe, live tags), the FLV header as the first binary
// message, then whole tags, several a message when they come together
// (the join batch); when the stream ends, a close frame 1000, then the
// connection closes. Both show in the registry with their protocol, and
// the log lines say which.
func TestWSFLVSameBytesAsHTTPFLV(t *testing.T) {
	cfg := play.DefaultConfig()
	cfg.MergeWindow = 0
	fs := startFLV(t, cfg)
	pub := fs.publishAV(t, "s")
	ws := fs.dialWS(t, "/live/s.flv", 0)
	_, resp, br := fs.get(t, "/live/s.flv")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Eventually(t, func() bool { return fs.reg.Stats().Players == 2 }, 5*time.Second, time.Millisecond)
	protocols := map[string]int{}
	for _, p := range fs.reg.Players() {
		protocols[p.Protocol]++
	}
	require.Equal(t, map[string]int{Protocol: 1, WSProtocol: 1}, protocols)

	// The FLV header, then the join batch in one message.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, head, err := ws.Read(ctx)
	require.NoError(t, err)
	require.Len(t, head, flv.HeaderSize+flv.PrevTagSizeLen)
	h, err := flv.NewReader(bytes.NewReader(head)).ReadHeader()
	require.NoError(t, err)
	require.True(t, h.HasAudio && h.HasVideo)
	_, join, err := ws.Read(ctx)
	require.NoError(t, err)
	tags := readAll(t, head, join)
	require.Len(t, tags, 4+5*2, "metadata, sequence headers, the GOP: one message")
	var types []uint8
	for _, tag := range tags[:4] {
		types = append(types, tag.Type)
	}
	require.Equal(t, []uint8{flv.TagScript, flv.TagVideo, flv.TagAudio, flv.TagVideo}, types)
	vi, err := flv.ParseVideo(tags[3].Data)
	require.NoError(t, err)
	require.True(t, vi.Keyframe && !vi.SequenceHeader, "the GOP starts at its keyframe")

	type result struct {
		msgs [][]byte
		err  error
	}
	got := make(chan result, 1)
	go func() { msgs, err := readWS(ws); got <- result{msgs, err} }()
	for i := uint32(6); i <= 60; i++ {
		require.NoError(t, pub.Write(flv.TagAudio, i*23, st.AACFrame(200)))
		require.NoError(t, pub.Write(flv.TagVideo, i*40, st.AVCFrame(i%25 == 0, 900+int(i)*1000)))
	}
	require.NoError(t, pub.Write(flv.TagVideo, 61*40, st.AVCFrame(false, 70000))) // a 64-bit length
	pub.Release()

	httpBody, err := io.ReadAll(br)
	require.NoError(t, err)
	res := <-got
	require.Equal(t, websocket.StatusNormalClosure, websocket.CloseStatus(res.err), "a close frame 1000: %v", res.err)
	require.Equal(t, httpBody, bytes.Join(append([][]byte{head, join}, res.msgs...), nil), "the same bytes as HTTP-FLV")
	for i, m := range res.msgs {
		require.NotEmpty(t, readAll(t, head, m), "message %d: whole tags", i)
	}
	require.Len(t, readAll(t, head, bytes.Join(res.msgs, nil)), 55*2+1)

	require.Eventually(t, func() bool { return len(fs.logs.stops(t)) == 2 }, 5*time.Second, time.Millisecond)
	for _, s := range fs.logs.stops(t) {
		require.Equal(t, play.ReasonEnded, s["reason"], "%v", s)
		require.Contains(t, []any{Protocol, WSProtocol}, s["protocol"])
	}
}

// countTags counts the whole FLV tags at the start of b and returns the
// rest.
func countTags(b []byte) (int, []byte) {
	n := 0
	for len(b) >= flv.TagHeaderSize {
		size := flv.TagHeaderSize + (int(b[1])<<16 | int(b[2])<<8 | int(b[3])) + flv.PrevTagSizeLen
		if len(b) < size {
			break
		}
		b, n = b[size:], n+1
	}
	return n, b
}

// tagCounter counts the tags of a WebSocket-FLV player's messages.
type tagCounter struct {
	tags    atomic.Int64 // after the FLV header
	msgs    int
	pending []byte
}

func (tc *tagCounter) add(m []byte) {
	if tc.msgs++; tc.msgs == 1 {
		return // the FLV header
	}
	n, rest := countTags(append(tc.pending, m...))
	tc.pending = append(tc.pending[:0], rest...)
	tc.tags.Add(int64(n))
}

// readAll parses body, whole FLV tags, behind the FLV header head.
func readAll(t *testing.T, head, body []byte) []flv.Tag {
	t.Helper()
	fr := flv.NewReader(io.MultiReader(bytes.NewReader(head), bytes.NewReader(body)))
	_, err := fr.ReadHeader()
	require.NoError(t, err)
	var tags []flv.Tag
	for {
		tag, err := fr.ReadTag()
		if errors.Is(err, io.EOF) {
			return tags
		}
		require.NoError(t, err, "whole tags")
		tag.Data = bytes.Clone(tag.Data)
		tags = append(tags, tag)
	}
}

// TestWSFLVRefusalsAreHTTP: an unknown stream is 404, a player over the
// limit 503, and a bad handshake 400 or 426, all before any upgrade and
// without a handle.
func TestWSFLVRefusalsAreHTTP(t *testing.T) {
	fs := startFLV(t, play.DefaultConfig())
	_, resp, err := fs.tryWS("/live/none.flv", 0)
	require.Error(t, err)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Empty(t, resp.Header.Get("Upgrade"))

	fs.reg.SetLimits(registry.Limits{MaxPlayersPerStream: 1})
	fs.publish(t, "s")
	held := fs.dialWS(t, "/live/s.flv", 0)
	_, resp, err = fs.tryWS("/live/s.flv", 0)
	require.Error(t, err)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Equal(t, RetryAfter, resp.Header.Get("Retry-After"))
	require.Equal(t, registry.Refusals{PlayersPerStream: 1}, fs.reg.Refusals())
	require.NoError(t, held.Close(websocket.StatusNormalClosure, ""))
	require.Eventually(t, func() bool { return fs.reg.Stats().Players == 0 }, 5*time.Second, time.Millisecond)

	for _, tc := range []struct {
		name    string
		headers string
		status  int
	}{
		{"no key", "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n", http.StatusBadRequest},
		{"short key", "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: c2hvcnQ=\r\n", http.StatusBadRequest},
		{"no Connection: Upgrade", "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", http.StatusBadRequest},
		{"version 8", "Connection: Upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", http.StatusUpgradeRequired},
	} {
		c, err := net.Dial("tcp", fs.srv.Listener.Addr().String())
		require.NoError(t, err)
		_, err = fmt.Fprintf(c, "GET /live/s.flv HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n%s\r\n", tc.headers)
		require.NoError(t, err)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.status, resp.StatusCode, tc.name)
		c.Close()
	}
	require.Equal(t, 0, fs.reg.Stats().Players)
}

// TestWSFLVHandshakeAnswer: the 101 carries the Sec-WebSocket-Accept of
// RFC 6455's example key and nothing else is chosen.
func TestWSFLVHandshakeAnswer(t *testing.T) {
	fs := startFLV(t, play.DefaultConfig())
	fs.publish(t, "s")
	c, err := net.Dial("tcp", fs.srv.Listener.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	_, err = fmt.Fprintf(c, "GET /live/s.flv HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"+
		"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\nOrigin: http://elsewhere.example\r\n\r\n")
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	require.Equal(t, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", resp.Header.Get("Sec-WebSocket-Accept"))
	require.Equal(t, "websocket", resp.Header.Get("Upgrade"))
	require.Empty(t, resp.Header.Get("Sec-WebSocket-Extensions"))
	require.Empty(t, resp.Header.Get("Sec-WebSocket-Protocol"))
	// The first frame: unmasked, FIN, binary, the 13-byte FLV header.
	var hdr [2]byte
	_, err = io.ReadFull(br, hdr[:])
	require.NoError(t, err)
	require.Equal(t, [2]byte{0x82, 13}, hdr)
}

// TestWSFLVStalledPlayerIsCutOff: a WebSocket client that never reads is
// disconnected WriteTimeout after its socket filled, while another
// player of the same stream keeps receiving.
func TestWSFLVStalledPlayerIsCutOff(t *testing.T) {
	cfg := play.DefaultConfig()
	cfg.WriteTimeout = 300 * time.Millisecond
	cfg.MergeWindow = 0
	fs := startFLV(t, cfg)
	pub := fs.publish(t, "x")
	fs.dialWS(t, "/live/x.flv", 4096) // never read
	good := fs.dialWS(t, "/live/x.flv", 0)
	var goodTags tagCounter
	goodDone := make(chan struct{})
	go func() {
		defer close(goodDone)
		for {
			_, m, err := good.Read(context.Background())
			if err != nil {
				return
			}
			goodTags.add(m)
		}
	}()
	require.Eventually(t, func() bool { return fs.reg.Stats().Players == 2 }, 5*time.Second, time.Millisecond)

	deadline := time.Now().Add(20 * time.Second)
	ts := uint32(0)
	for fs.reg.Stats().Players == 2 {
		require.True(t, time.Now().Before(deadline), "the stalled player was never cut off")
		ts += 2
		require.NoError(t, pub.Write(flv.TagVideo, ts, st.AVCFrame(ts%100 == 0, 64<<10)))
		time.Sleep(2 * time.Millisecond) // a publisher's pace
	}
	stops := fs.logs.stops(t)
	require.Len(t, stops, 1)
	require.Contains(t, stops[0]["reason"], "i/o timeout")

	before := goodTags.tags.Load()
	for range 100 {
		ts += 2
		require.NoError(t, pub.Write(flv.TagVideo, ts, st.AVCFrame(false, 1000)))
	}
	require.Eventually(t, func() bool { return goodTags.tags.Load() >= before+100 }, 10*time.Second, time.Millisecond,
		"the good player gets every live frame")
	require.NoError(t, good.CloseNow())
	<-goodDone
}

// TestWSFLVKick: DELETE /api/v1/players/{id} (Registry.KickPlayer) ends a
// WebSocket-FLV player at once, even one blocked writing to a client that
// does not read; its connection closes.
func TestWSFLVKick(t *testing.T) {
	cfg := play.DefaultConfig()
	cfg.WriteTimeout = time.Minute
	fs := startFLV(t, cfg)
	pub := fs.publish(t, "k")
	fs.dialWS(t, "/live/k.flv", 4096) // does not read
	reading := fs.dialWS(t, "/live/k.flv", 0)
	require.Eventually(t, func() bool { return fs.reg.Stats().Players == 2 }, 5*time.Second, time.Millisecond)
	for i := 1; i <= 100; i++ { // fill the stalled player's socket
		require.NoError(t, pub.Write(flv.TagVideo, uint32(i), st.AVCFrame(false, 64<<10)))
	}
	ended := make(chan error, 1)
	go func() { _, err := readWS(reading); ended <- err }()
	start := time.Now()
	for _, p := range fs.reg.Players() {
		require.NoError(t, fs.reg.KickPlayer(p.ID))
	}
	require.Eventually(t, func() bool { return fs.reg.Stats().Players == 0 }, 2*time.Second, time.Millisecond)
	require.Less(t, time.Since(start), time.Second, "at once, not at the write deadline")
	select {
	case err := <-ended:
		require.Error(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("the kicked player's connection stayed open")
	}
	require.Eventually(t, func() bool { return len(fs.logs.stops(t)) == 2 }, 5*time.Second, time.Millisecond)
	for _, s := range fs.logs.stops(t) {
		require.Equal(t, play.ReasonGone, s["reason"])
	}
}

// TestWSFLVPingAnswered: a ping gets its pong while tags flow, and while
// the stream sends nothing for longer than the write deadline (the
// watcher then sets a deadline of its own).
func TestWSFLVPingAnswered(t *testing.T) {
	cfg := play.DefaultConfig()
	cfg.WriteTimeout = 200 * time.Millisecond
	fs := startFLV(t, cfg)
	pub := fs.publish(t, "p")
	c := fs.dialWS(t, "/live/p.flv", 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var tags tagCounter
	readDone := make(chan error, 1)
	go func() {
		for {
			_, m, err := c.Read(ctx)
			if err != nil {
				readDone <- err
				return
			}
			tags.add(m)
		}
	}()
	ping := func() {
		t.Helper()
		pctx, pcancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer pcancel()
		require.NoError(t, c.Ping(pctx))
	}
	for i := 1; i <= 20; i++ {
		require.NoError(t, pub.Write(flv.TagVideo, uint32(i*40), st.AVCFrame(false, 2000)))
		ping()
	}
	require.Eventually(t, func() bool { return tags.tags.Load() == 2+20 }, 5*time.Second, time.Millisecond)
	time.Sleep(3 * cfg.WriteTimeout) // the session's deadline passes: there is no event for that
	ping()
	ping()
	require.NoError(t, pub.Write(flv.TagVideo, 21*40, st.AVCFrame(false, 2000)))
	require.Eventually(t, func() bool { return tags.tags.Load() == 2+21 }, 5*time.Second, time.Millisecond)
	require.Equal(t, 1, fs.reg.Stats().Players)
	cancel()
	<-readDone
}

// TestWSFLVClientClose: a client's close frame is answered with its
// status code (coder/websocket's Close completes the handshake), the
// player ends at once, and the log says why.
func TestWSFLVClientClose(t *testing.T) {
	fs := startFLV(t, play.DefaultConfig())
	pub := fs.publish(t, "c")
	c := fs.dialWS(t, "/live/c.flv", 0)
	rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer rcancel()
	_, _, err := c.Read(rctx) // the FLV header
	require.NoError(t, err)
	for i := 1; i <= 10; i++ {
		require.NoError(t, pub.Write(flv.TagVideo, uint32(i*40), st.AVCFrame(false, 20000)))
	}
	require.NoError(t, c.Close(websocket.StatusGoingAway, "bye"))
	require.Eventually(t, func() bool { return fs.reg.Stats().Players == 0 }, 2*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return len(fs.logs.stops(t)) == 1 }, 2*time.Second, time.Millisecond)
	require.Equal(t, "client sent close 1001", fs.logs.stops(t)[0]["reason"])
}

// TestWSFLVClientGoneWhileIdle: a client whose connection closes while
// the stream sends nothing releases its player at once.
func TestWSFLVClientGoneWhileIdle(t *testing.T) {
	fs := startFLV(t, play.DefaultConfig())
	fs.publish(t, "z")
	c := fs.dialWS(t, "/live/z.flv", 0)
	for range 2 { // the FLV header, the join batch
		_, _, err := c.Read(context.Background())
		require.NoError(t, err)
	}
	require.Equal(t, 1, fs.reg.Stats().Players)
	require.NoError(t, c.CloseNow())
	require.Eventually(t, func() bool { return fs.reg.Stats().Players == 0 }, 2*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return len(fs.logs.stops(t)) == 1 }, 2*time.Second, time.Millisecond)
	require.Equal(t, play.ReasonGone, fs.logs.stops(t)[0]["reason"])
}

// TestWSFLVClientSendingTooMuchIsDisconnected: a client that sends a
// 1 MB message is disconnected once it has sent 64 KiB; one that sends
// a few small messages is not.
func TestWSFLVClientSendingTooMuchIsDisconnected(t *testing.T) {
	fs := startFLV(t, play.DefaultConfig())
	fs.publish(t, "m")
	small := fs.dialWS(t, "/live/m.flv", 0)
	big := fs.dialWS(t, "/live/m.flv", 0)
	require.Eventually(t, func() bool { return fs.reg.Stats().Players == 2 }, 5*time.Second, time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 10 {
		require.NoError(t, small.Write(ctx, websocket.MessageText, []byte("hello")))
	}
	msg := make([]byte, 1<<20)
	_, _ = rand.Read(msg)
	_ = big.Write(ctx, websocket.MessageBinary, msg) // fails or not, as the reset comes
	_, err := readWS(big)
	require.Error(t, err)
	require.Eventually(t, func() bool { return fs.reg.Stats().Players == 1 }, 5*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return len(fs.logs.stops(t)) == 1 }, 2*time.Second, time.Millisecond)
	require.Equal(t, "client sent more than 65536 bytes", fs.logs.stops(t)[0]["reason"])
	read := make(chan error, 1)
	go func() { _, err := readWS(small); read <- err }()
	require.NoError(t, small.Ping(ctx), "the polite client plays on")
	require.NoError(t, small.Close(websocket.StatusNormalClosure, ""))
	require.Error(t, <-read)
}

// frame returns a masked client frame.
func frame(b0 byte, payload []byte) []byte {
	out := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		out = append(out, 0x80|byte(n))
	case n <= 0xffff:
		out = append(out, 0x80|126, byte(n>>8), byte(n))
	default:
		out = binary.BigEndian.AppendUint64(append(out, 0x80|127), uint64(n))
	}
	mask := [4]byte{1, 2, 3, 4}
	out = append(out, mask[:]...)
	for i, c := range payload {
		out = append(out, c^mask[i&3])
	}
	return out
}

// rawWS sends a handshake (and extra, in the same write) on a plain TCP
// connection and reads the 101.
func (fs *flvServer) rawWS(t *testing.T, path string, extra []byte) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", fs.srv.Listener.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	req := "GET " + path + " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	_, err = c.Write(append([]byte(req), extra...))
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	return c, br
}

// readFrame reads one server frame: it must be unmasked and final.
func readFrame(t *testing.T, br *bufio.Reader) (op byte, payload []byte, err error) {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return 0, nil, err
	}
	require.Equal(t, byte(0x80), h[0]&0xf0, "FIN, no reserved bits")
	require.Zero(t, h[1]&0x80, "unmasked")
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		_, err = io.ReadFull(br, b[:])
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		_, err = io.ReadFull(br, b[:])
		n = binary.BigEndian.Uint64(b[:])
	}
	if err != nil {
		return 0, nil, err
	}
	payload = make([]byte, n)
	_, err = io.ReadFull(br, payload)
	return h[0] & 0x0f, payload, err
}

// TestWSFLVClientFrames: what the watcher does with each kind of client
// frame, on a raw connection: a ping sent before the 101 (net/http has
// read it already) and one fragmented among data frames are answered; a
// close with a bad code gets 1002; protocol errors disconnect.
func TestWSFLVClientFrames(t *testing.T) {
	fs := startFLV(t, play.DefaultConfig())
	fs.publish(t, "f")

	// Pings: one before the 101, one between two fragments of a message.
	_, br := fs.rawWS(t, "/live/f.flv", frame(0x89, []byte("early")))
	seen := map[byte][]byte{}
	for len(seen) < 2 {
		op, p, err := readFrame(t, br)
		require.NoError(t, err)
		seen[op] = p
	}
	require.Equal(t, []byte("early"), seen[opPong])

	c, br := fs.rawWS(t, "/live/f.flv", nil)
	_, err := c.Write(slicesConcat(frame(0x01, []byte("frag")), frame(0x89, []byte("mid")), frame(0x80, []byte("ment")),
		frame(0x88, []byte{0x03, 0xed}))) // close 1005: may not be sent
	require.NoError(t, err)
	var ops []byte
	var last []byte
	for {
		op, p, err := readFrame(t, br)
		if err != nil {
			require.ErrorIs(t, err, io.EOF, "the server closes after its close")
			break
		}
		if op != opBinary {
			ops = append(ops, op)
			last = p
		}
	}
	require.Equal(t, []byte{opPong, opClose}, ops)
	require.Equal(t, []byte{0x03, 0xea}, last, "1002")

	// A close without a status code (a browser's WebSocket.close()) is
	// answered with none.
	c, br = fs.rawWS(t, "/live/f.flv", nil)
	_, err = c.Write(frame(0x88, nil))
	require.NoError(t, err)
	for {
		op, p, err := readFrame(t, br)
		require.NoError(t, err)
		if op == opClose {
			require.Empty(t, p)
			break
		}
	}
	_, _, err = readFrame(t, br)
	require.ErrorIs(t, err, io.EOF)

	for _, tc := range []struct {
		name  string
		frame []byte
		why   string
	}{
		{"unmasked", []byte{0x82, 0x01, 'x'}, "client protocol error: unmasked frame"},
		{"reserved bit", frame(0xc2, []byte("x")), "client protocol error: reserved bits set"},
		{"unknown opcode", frame(0x83, nil), "client protocol error: opcode 3"},
		{"fragmented ping", frame(0x09, nil), "client protocol error: bad control frame"},
		{"long ping", frame(0x89, make([]byte, 126)), "client protocol error: bad control frame"},
		{"continuation first", frame(0x80, []byte("x")), "client protocol error: bad fragmentation"},
		{"64 KiB and one", frame(0x82, make([]byte, 64<<10+1)), "client sent more than 65536 bytes"},
	} {
		before := len(fs.logs.stops(t))
		c, br := fs.rawWS(t, "/live/f.flv", nil)
		_, err := c.Write(tc.frame)
		require.NoError(t, err, tc.name)
		for err == nil {
			_, _, err = readFrame(t, br)
		}
		require.Truef(t, errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "reset"), "%s: %v", tc.name, err)
		// The stop of an earlier session may be logged after before was
		// taken: look for this one's among the new lines.
		logged := func() bool {
			for _, stop := range fs.logs.stops(t)[before:] {
				if stop["reason"] == tc.why {
					return true
				}
			}
			return false
		}
		if !assert.Eventually(t, logged, 10*time.Second, time.Millisecond) {
			t.Fatalf("%s: no stop logged with reason %q; new stops: %v", tc.name, tc.why, fs.logs.stops(t)[before:])
		}
	}
}

// TestWSFLVCloseHandshakeDeadline: when the stream ends, a client that
// does not answer the server's close frame is disconnected after the
// drain timeout; one that answers, at once.
func TestWSFLVCloseHandshakeDeadline(t *testing.T) {
	cfg := play.DefaultConfig()
	cfg.DrainTimeout = 300 * time.Millisecond
	fs := startFLV(t, cfg)
	pub := fs.publish(t, "e")
	silent, silentBR := fs.rawWS(t, "/live/e.flv", nil)
	polite, politeBR := fs.rawWS(t, "/live/e.flv", nil)
	require.Eventually(t, func() bool { return fs.reg.Stats().Players == 2 }, 5*time.Second, time.Millisecond)
	pub.Release()
	ended := time.Now() // before the server's close frames
	closeFrame := func(br *bufio.Reader) []byte {
		for {
			op, p, err := readFrame(t, br)
			require.NoError(t, err)
			if op == opClose {
				return p
			}
		}
	}
	require.Equal(t, slicesConcat([]byte{0x03, 0xe8}, []byte(play.ReasonEnded)), closeFrame(silentBR), "1000")
	require.Equal(t, slicesConcat([]byte{0x03, 0xe8}, []byte(play.ReasonEnded)), closeFrame(politeBR))
	start := time.Now()
	_, err := polite.Write(frame(0x88, []byte{0x03, 0xe8}))
	require.NoError(t, err)
	_, _, err = readFrame(t, politeBR)
	require.ErrorIs(t, err, io.EOF, "no answer to the answer, then the end")
	require.Less(t, time.Since(start), cfg.DrainTimeout)
	_, _, err = readFrame(t, silentBR)
	require.ErrorIs(t, err, io.EOF)
	require.GreaterOrEqual(t, time.Since(ended), cfg.DrainTimeout)
	require.NoError(t, silent.Close())
}

func slicesConcat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

// TestWSFLVShutdown: cancelling the request contexts (server shutdown)
// ends a WebSocket-FLV player blocked writing to a client that does not
// read, at once; Wait returns.
func TestWSFLVShutdown(t *testing.T) {
	cfg := play.DefaultConfig()
	cfg.WriteTimeout = time.Minute
	fs := startFLV(t, cfg)
	pub := fs.publish(t, "y")
	fs.dialWS(t, "/live/y.flv", 4096)
	require.Eventually(t, func() bool { return fs.reg.Stats().Players == 1 }, 5*time.Second, time.Millisecond)
	for i := 1; i <= 100; i++ {
		require.NoError(t, pub.Write(flv.TagVideo, uint32(i), st.AVCFrame(false, 64<<10)))
	}
	start := time.Now()
	fs.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	require.NoError(t, fs.h.Wait(ctx))
	require.Less(t, time.Since(start), time.Second)
	require.Equal(t, play.ReasonGone, fs.logs.stops(t)[0]["reason"])
}

// TestWSFLVPullsOnAnEdge: a WebSocket-FLV player of a stream that is not
// live asks the registry's Puller (an edge's pull) and plays what it
// publishes.
func TestWSFLVPullsOnAnEdge(t *testing.T) {
	var (
		fs    *flvServer
		pulls atomic.Int32
		pub   atomic.Pointer[registry.Publisher]
	)
	fs = startFLV(t, play.DefaultConfig(), registry.WithPuller(registry.PullerFunc(
		func(_ context.Context, key registry.Key, _ string) error {
			pulls.Add(1)
			p, err := fs.reg.Publish(key, registry.PublisherInfo{Kind: registry.KindEdgePull}, nil)
			if err != nil {
				return err
			}
			pub.Store(p)
			if err := p.Write(flv.TagVideo, 0, st.AVCSeqHeader()); err != nil {
				return err
			}
			return p.Write(flv.TagVideo, 0, st.AVCFrame(true, 1000))
		})))
	c := fs.dialWS(t, "/live/pulled.flv", 0)
	for range 2 { // the FLV header, the join batch
		_, _, err := c.Read(context.Background())
		require.NoError(t, err)
	}
	require.EqualValues(t, 1, pulls.Load())
	pub.Load().Release()
	_, err := readWS(c)
	require.Equal(t, websocket.StatusNormalClosure, websocket.CloseStatus(err))
}

// TestWSFLVSendPathAllocatesNothing: as TestSendPathAllocatesNothing,
// through WebSocket-FLV's framer: a tag written by the publisher and
// taken and written by 10 players costs at most one allocation in all.
func TestWSFLVSendPathAllocatesNothing(t *testing.T) {
	if lockcheck.Enabled() {
		t.Skip("go-deadlock's mutexes allocate on every lock; the count is only meaningful in normal builds")
	}
	b := playtest.NewSendBench(t, 10, func() play.Framer { return newWSFramer("x") })
	defer b.Close()
	buf := st.AVCFrame(false, 11000)
	ts := uint32(0)
	allocs := testing.AllocsPerRun(200, func() {
		ts += 33
		if err := b.S.Write(flv.TagVideo, ts, buf); err != nil {
			t.Fatal(err)
		}
		b.Step(t)
	})
	require.LessOrEqual(t, allocs, 1.0, "allocations per tag, 10 players")
}
