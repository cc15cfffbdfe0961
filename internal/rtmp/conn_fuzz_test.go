package rtmp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/yutopp/go-rtmp/handshake"
	rtmpmsg "github.com/yutopp/go-rtmp/message"

	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/rtmptest"
	"github.com/headwater-media/headwater/internal/stream"
	st "github.com/headwater-media/headwater/internal/stream/streamtest"
	"github.com/headwater-media/headwater/pkg/flv"
)

// FuzzRTMPConn inputs are (mode, data). mode%16 picks what the client does
// before and after sending data:
//
//	0        data is all there is: it starts with the handshake's C0/C1
//	1 to 7   a valid handshake, then data
//	8 to 15  a valid handshake, connect("live"), createStream and
//	         publish("fuzz") (rtmpPublishPrefix), then data on message stream 1
//
// The client then half-closes (the server reads EOF, its writes still go
// through), except in modes 7 and 15 ("linger"): there the client stays
// silent and the server must end the connection through its own read and
// media timeouts, which are then 5 ms.
const (
	fuzzModeRaw       = 0
	fuzzModeHandshake = 1
	fuzzModePublish   = 8
	fuzzModeLinger    = 7 // and 15

	// fuzzEndBound is how long the server may take to end the connection
	// once the client is done (or, lingering, once the data is sent).
	fuzzEndBound = 10 * time.Second
	// fuzzHeapBound caps the heap growth during one connection. The ingest
	// caps a message at 4 MiB and incomplete messages at 5 MiB.
	fuzzHeapBound = 64 << 20
)

func tagPayload(buf []byte) []byte { return buf[flv.TagHeaderSize : len(buf)-flv.PrevTagSizeLen] }

const (
	typeCommand = byte(rtmpmsg.TypeIDCommandMessageAMF0)
	typeData    = byte(rtmpmsg.TypeIDDataMessageAMF0)
	typeAudio   = byte(rtmpmsg.TypeIDAudioMessage)
	typeVideo   = byte(rtmpmsg.TypeIDVideoMessage)
)

// rtmpPublishPrefix is what ffmpeg sends after the handshake, less the
// optional commands: connect to app "live", createStream (which makes
// message stream 1) and publish "fuzz".
var rtmpPublishPrefix = sync.OnceValue(func() []byte {
	c := rtmptest.NewChunker()
	c.Msg(3, typeCommand, 0, 0, rtmptest.Command("connect", 1, &rtmpmsg.NetConnectionConnect{
		Command: rtmpmsg.NetConnectionConnectCommand{
			App: "live", Type: "nonprivate", FlashVer: "FMLE/3.0 (compatible; Lavf61.7.100)", TCURL: "rtmp://127.0.0.1:1935/live",
		},
	}))
	c.Msg(3, typeCommand, 0, 0, rtmptest.Command("createStream", 2, &rtmpmsg.NetConnectionCreateStream{}))
	c.Msg(4, typeCommand, 0, 1, rtmptest.Command("publish", 0, &rtmpmsg.NetStreamPublish{PublishingName: "fuzz", PublishingType: "live"}))
	return c.B
})

// fuzzListener hands out one connection, then blocks until closed.
type fuzzListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newFuzzListener(c net.Conn) *fuzzListener {
	l := &fuzzListener{conns: make(chan net.Conn, 1), closed: make(chan struct{})}
	l.conns <- c
	return l
}

func (l *fuzzListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *fuzzListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *fuzzListener) Addr() net.Addr { return fuzzAddr{} }

type fuzzAddr struct{}

func (fuzzAddr) Network() string { return "pipe" }
func (fuzzAddr) String() string  { return "fuzz" }

// serverConn is the server's end of the pipe. It reports when the server
// closes it, and lets the client half-close the connection as a TCP client
// can (shutdown(SHUT_WR)): once the client has written everything, the
// server reads io.EOF while its own writes still reach the client. A full
// close instead would fail the server's pending writes, which makes go-rtmp
// wait 3 s in Conn.Close (see the report in the fuzz notes).
type serverConn struct {
	net.Conn
	closeOnce sync.Once
	closed    chan struct{}

	mu  sync.Mutex // orders SetReadDeadline against shutdownWrite
	eof chan struct{}
}

func newServerConn(c net.Conn) *serverConn {
	return &serverConn{Conn: c, closed: make(chan struct{}), eof: make(chan struct{})}
}

func (c *serverConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// shutdownWrite is the client's half-close. Every byte the client wrote has
// been read, as net.Pipe writes return only once read.
func (c *serverConn) shutdownWrite() {
	c.mu.Lock()
	defer c.mu.Unlock()
	close(c.eof)
	_ = c.Conn.SetReadDeadline(time.Unix(1, 0)) // wake a pending Read
}

func (c *serverConn) Read(b []byte) (int, error) {
	select {
	case <-c.eof:
		return 0, io.EOF
	default:
	}
	n, err := c.Conn.Read(b)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		select {
		case <-c.eof:
			return n, io.EOF
		default:
		}
	}
	return n, err
}

func (c *serverConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.eof:
		return nil
	default:
		return c.Conn.SetReadDeadline(t)
	}
}

func (c *serverConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetWriteDeadline(t)
}

// pipeWriter writes to the client's end of the pipe in order from its own
// goroutine, so that the client never blocks on a net.Pipe write while the
// server is writing to it. After an error it discards the rest; at the end
// it calls done, if set.
type pipeWriter struct {
	ch   chan []byte
	done chan struct{}
}

func newPipeWriter(c net.Conn, done func()) *pipeWriter {
	w := &pipeWriter{ch: make(chan []byte, 16), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		var err error
		for b := range w.ch {
			if err == nil {
				_, err = c.Write(b)
			}
		}
		if done != nil {
			done()
		}
	}()
	return w
}

func (w *pipeWriter) Write(b []byte) (int, error) {
	w.ch <- bytes.Clone(b)
	return len(b), nil
}

func (w *pipeWriter) finish() { close(w.ch) }

// heapBytes returns the bytes of heap objects, live or not yet swept, like
// MemStats.HeapAlloc but without stopping the world.
func heapBytes() uint64 {
	s := [1]metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s[:])
	return s[0].Value.Uint64()
}

// stacks returns every goroutine's stack, for failures.
func stacks() string {
	buf := make([]byte, 4<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

// FuzzRTMPConn runs the RTMP ingest on one connection over net.Pipe: after
// a valid handshake (and, by mode, a valid publish) the client sends
// fuzzed bytes and half-closes, or goes silent. It asserts that no panic escapes, that the
// server ends the connection in bounded time (also when the client goes
// silent without closing), that the heap grows by less than fuzzHeapBound
// meanwhile, and that afterwards the registry is empty and no goroutine of
// the connection is left.
func FuzzRTMPConn(f *testing.F) {
	// The seed corpus is testdata/fuzz/FuzzRTMPConn, built by rtmpFuzzSeeds
	// (see TestWriteRTMPFuzzSeeds).

	// Log errors with their pkg/errors stacks: go-rtmp recovers panics in
	// its message loop into such an error, which this package logs when the
	// connection ends; see swallowedPanic.
	prev := zerolog.ErrorMarshalFunc
	zerolog.ErrorMarshalFunc = func(err error) any { return fmt.Sprintf("%+v", err) }
	f.Cleanup(func() { zerolog.ErrorMarshalFunc = prev })
	f.Fuzz(fuzzRTMPConn)
}

// logSink collects a server's log output.
type logSink struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// swallowedPanic returns the part of the log that shows a panic go-rtmp
// recovered from while headwater code was on the stack, or "". go-rtmp
// turns a panic in its message loop (handlers included) into an error
// whose stack, taken in the deferred recover, runs from runtime.gopanic
// through the panicking frames down to serveConn. A panic within
// go-rtmp alone is go-rtmp's way of failing a connection; one in our
// handler would leave our state half-updated.
func swallowedPanic(log string) string {
	i := strings.Index(log, "runtime.gopanic")
	if i < 0 {
		return ""
	}
	frames := log[i:]
	if j := strings.Index(frames, "internal/rtmp.(*Server).serveConn"); j >= 0 {
		frames = frames[:j]
	}
	if strings.Contains(frames, "headwater-media/headwater/internal/") {
		return frames
	}
	return ""
}

func fuzzRTMPConn(t *testing.T, mode byte, data []byte) {
	mode %= 16
	linger := mode%8 == fuzzModeLinger
	goroutines := runtime.NumGoroutine()
	heapBase := heapBytes()

	cfg := DefaultConfig()
	cfg.HandshakeTimeout, cfg.ReadTimeout, cfg.MediaTimeout, cfg.WriteTimeout = 5*time.Second, 5*time.Second, 5*time.Second, 5*time.Second
	if linger {
		cfg.ReadTimeout, cfg.MediaTimeout = 5*time.Millisecond, 5*time.Millisecond
	}
	reg := registry.New(stream.DefaultConfig())
	var logs logSink
	s := NewServer(cfg, reg, zerolog.New(&logs).Level(zerolog.InfoLevel))
	client, server := net.Pipe()
	sc := newServerConn(server)
	served := make(chan error, 1)
	go func() { served <- s.Serve(newFuzzListener(sc)) }()

	// Sample the heap while the connection runs.
	heapPeak := make(chan uint64, 1)
	stopSampling := make(chan struct{})
	go func() {
		peak := heapBytes()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				peak = max(peak, heapBytes())
			case <-stopSampling:
				heapPeak <- max(peak, heapBytes())
				return
			}
		}
	}()

	fail := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		dump := stacks()
		_ = client.Close()
		_ = server.Close()
		t.Fatalf("mode %d, %d bytes: %s\n\n%s", mode, len(data), msg, dump)
	}

	var halfClose func()
	if !linger {
		halfClose = sc.shutdownWrite
	}
	w := newPipeWriter(client, halfClose)
	drained := make(chan struct{})
	drain := func() {
		go func() {
			defer close(drained)
			_, _ = io.Copy(io.Discard, client)
		}()
	}
	if mode == fuzzModeRaw {
		drain()
	} else {
		_ = client.SetReadDeadline(time.Now().Add(fuzzEndBound))
		err := handshake.HandshakeWithServer(client, w, &handshake.Config{})
		_ = client.SetReadDeadline(time.Time{})
		drain()
		switch {
		case err != nil:
			// Only a server that gave up (a lingering client's 5 ms
			// timeouts on a busy machine) fails a valid handshake; it
			// must still end the connection, which is checked below.
			data = nil
		case mode >= fuzzModePublish:
			_, _ = w.Write(rtmpPublishPrefix())
		}
	}
	if len(data) > 0 {
		_, _ = w.Write(data)
	}
	w.finish()

	// The client is done: the server must end the connection.
	timer := time.NewTimer(fuzzEndBound)
	defer timer.Stop()
	select {
	case <-sc.closed:
	case <-timer.C:
		fail("the server did not end the connection within %v (linger=%v)", fuzzEndBound, linger)
	}
	_ = client.Close()
	for _, ch := range []chan struct{}{w.done, drained} {
		select {
		case <-ch:
		case <-timer.C:
			fail("the client's goroutines did not end")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), fuzzEndBound)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		fail("Shutdown: the connection goroutine did not end: %v", err)
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		fail("Serve returned %v", err)
	}
	close(stopSampling)
	if peak := <-heapPeak; peak > heapBase && peak-heapBase > fuzzHeapBound {
		fail("the heap grew by %d MiB during the connection", (peak-heapBase)>>20)
	}
	if got := reg.Stats(); got != (registry.Stats{}) {
		fail("registry not empty after the connection: %+v", got)
	}
	if p := swallowedPanic(logs.String()); p != "" {
		fail("go-rtmp recovered a panic in headwater code:\n%s", strings.NewReplacer(`\n`, "\n", `\t`, "\t").Replace(p))
	}

	// Nothing of the connection may be left running. Every goroutine of
	// the test has been waited for, but may not have returned yet.
	for deadline := time.Now().Add(time.Second); runtime.NumGoroutine() > goroutines; {
		if time.Now().After(deadline) {
			// Other goroutines than ours (the first) that run server code.
			others := strings.SplitN(stacks(), "\n\n", 2)
			if len(others) == 2 && (strings.Contains(others[1], "yutopp/go-rtmp") ||
				strings.Contains(others[1], "headwater-media/headwater/internal/")) {
				fail("goroutines left: %d, was %d", runtime.NumGoroutine(), goroutines)
			}
			break
		}
		time.Sleep(time.Millisecond)
	}
}

// rtmpFuzzSeeds returns the seed corpus of FuzzRTMPConn by name.
func rtmpFuzzSeeds(tb testing.TB) map[string]struct {
	mode byte
	data []byte
} {
	type seed = struct {
		mode byte
		data []byte
	}
	seeds := make(map[string]seed)
	const msid = 1 // the stream createStream makes

	// A publish with metadata, sequence headers and a few frames; the
	// client then unpublishes and deletes the stream.
	c := rtmptest.NewChunker().SetChunkSize(4096)
	c.Msg(4, typeData, 0, msid, rtmptest.SetDataFrame(tagPayload(st.Metadata(true, true))))
	c.Msg(6, typeVideo, 0, msid, tagPayload(st.AVCSeqHeader()))
	c.Msg(4, typeAudio, 0, msid, tagPayload(st.AACSeqHeader()))
	c.Msg(6, typeVideo, 0, msid, tagPayload(st.AVCFrame(true, 300)))
	c.Msg(4, typeAudio, 10, msid, tagPayload(st.AACFrame(40)))
	c.Msg(6, typeVideo, 33, msid, tagPayload(st.AVCFrame(false, 100)))
	c.Msg(4, typeAudio, 33, msid, tagPayload(st.AACFrame(40)))
	seeds["publish_av"] = seed{fuzzModePublish, bytes.Clone(c.B)}
	c.Msg(3, typeCommand, 0, 0, rtmptest.Command("FCUnpublish", 5, rtmptest.Args{nil, "fuzz"}))
	c.Msg(3, typeCommand, 0, 0, rtmptest.Command("deleteStream", 6, rtmptest.Args{nil, float64(msid)}))
	seeds["publish_av_unpublish"] = seed{fuzzModePublish, c.B}

	// The real ffmpeg capture in pkg/flv/testdata as RTMP messages,
	// in 128-byte chunks with type 0 headers.
	raw, err := os.ReadFile(filepath.Join("..", "..", "pkg", "flv", "testdata", "avc_aac_160x120.flv"))
	if err != nil {
		tb.Fatal(err)
	}
	c = rtmptest.NewChunker()
	r := flv.NewReader(bytes.NewReader(raw))
	if _, err := r.ReadHeader(); err != nil {
		tb.Fatal(err)
	}
	for {
		tag, err := r.ReadTag()
		if err == io.EOF {
			break
		}
		if err != nil {
			tb.Fatal(err)
		}
		switch tag.Type {
		case flv.TagScript:
			c.Msg(4, typeData, tag.Timestamp, msid, rtmptest.SetDataFrame(tag.Data))
		case flv.TagAudio:
			c.Msg(4, typeAudio, tag.Timestamp, msid, tag.Data)
		case flv.TagVideo:
			c.Msg(6, typeVideo, tag.Timestamp, msid, tag.Data)
		}
	}
	seeds["publish_ffmpeg_capture"] = seed{fuzzModePublish, c.B}

	// Announced lengths: 16 MiB - 1 (over MaxMessageSize), MaxMessageSize
	// exactly on several chunk streams (over MaxPartialBytes), and a fmt 1
	// header that changes the length of a message half received.
	c = rtmptest.NewChunker().SetChunkSize(1 << 16)
	c.Raw([]byte{6, 0, 0, 0, 0xff, 0xff, 0xff, typeVideo, 1, 0, 0, 0}, make([]byte, 64))
	seeds["huge_length_16MiB"] = seed{fuzzModePublish, c.B}
	c = rtmptest.NewChunker().SetChunkSize(1 << 16)
	for cs := 4; cs < 8; cs++ {
		c.Raw([]byte{byte(cs), 0, 0, 0, 0x40, 0, 0, typeVideo, 1, 0, 0, 0}, make([]byte, 16))
	}
	seeds["partial_messages_over_limit"] = seed{fuzzModePublish, c.B}
	c = rtmptest.NewChunker()
	c.Raw([]byte{6, 0, 0, 0, 0, 1, 0, typeVideo, 1, 0, 0, 0}, bytes.Repeat([]byte{0x17}, 128))
	c.Raw([]byte{0x46, 0, 0, 0, 0, 0, 8, typeVideo}, bytes.Repeat([]byte{0x27}, 8))
	seeds["length_shrinks_mid_message"] = seed{fuzzModePublish, c.B}

	// Extended timestamps: a type 0 header at 0xffffff and above with type 3
	// continuation chunks (each with the field), a type 3 chunk starting a
	// new message, and a type 1 header with an extended delta.
	c = rtmptest.NewChunker()
	c.Msg(6, typeVideo, 0, msid, tagPayload(st.AVCSeqHeader()))
	c.Msg(6, typeVideo, 0xffffff, msid, tagPayload(st.AVCFrame(true, 300)))
	c.Msg(6, typeVideo, 0x1000000, msid, tagPayload(st.AVCFrame(false, 200)))
	c.Raw([]byte{0xc6, 0x01, 0, 0, 0}, tagPayload(st.AVCFrame(false, 200))[:128])
	c.Raw([]byte{0xc6, 0x01, 0, 0, 0}, tagPayload(st.AVCFrame(false, 200))[128:])
	c.Raw([]byte{0x46, 0xff, 0xff, 0xff, 0, 0, 10, typeVideo, 0xff, 0xff, 0xff, 0xff}, tagPayload(st.AVCFrame(false, 10)))
	c.Raw([]byte{0xc6, 0xff, 0xff, 0xff, 0xff}, tagPayload(st.AVCFrame(false, 10)))
	c.Msg(4, typeAudio, 0xfffffffe, msid, tagPayload(st.AACFrame(10)))
	seeds["extended_timestamps"] = seed{fuzzModePublish, c.B}

	// Chunk size changes: to 1 (one byte per chunk), mid-message on
	// another chunk stream, to the maximum, then 0 and 2^31 (invalid).
	c = rtmptest.NewChunker().SetChunkSize(1)
	c.Msg(4, typeAudio, 0, msid, tagPayload(st.AACSeqHeader()))
	c.Msg(6, typeVideo, 0, msid, tagPayload(st.AVCFrame(true, 8)))
	c.Raw([]byte{6, 0, 0, 0, 0, 0, 20, typeVideo, 1, 0, 0, 0}, []byte{0x27})
	c.SetChunkSize(64)
	c.Raw([]byte{0xc6}, bytes.Repeat([]byte{1}, 19))
	c.SetChunkSize(0x7fffffff)
	c.Msg(6, typeVideo, 40, msid, tagPayload(st.AVCFrame(false, 1000)))
	c.SetChunkSize(0)
	c.SetChunkSize(0x80000000)
	seeds["chunk_size_changes"] = seed{fuzzModePublish, c.B}

	// Zero-length messages: audio, video, data and command on type 0
	// headers, a type 3 new zero-length message, then real media.
	c = rtmptest.NewChunker()
	c.Msg(4, typeAudio, 0, msid, nil)
	c.Msg(6, typeVideo, 0, msid, nil)
	c.Raw([]byte{0xc6})
	c.Msg(5, typeData, 0, msid, nil)
	c.Msg(3, typeCommand, 0, 0, nil)
	c.Msg(2, byte(rtmpmsg.TypeIDSetChunkSize), 0, 0, nil)
	c.Msg(6, typeVideo, 1, msid, tagPayload(st.AVCFrame(true, 20)))
	seeds["zero_length_messages"] = seed{fuzzModePublish, c.B}

	// Protocol control and other message types: abort, ack, window ack
	// size, peer bandwidth, user control (ping request), AMF3 data and
	// command, shared objects, aggregate, and reserved type ids.
	c = rtmptest.NewChunker()
	c.Msg(2, 2, 0, 0, []byte{0, 0, 0, 6})
	c.Msg(2, 3, 0, 0, []byte{0, 0, 0x10, 0})
	c.Msg(2, 5, 0, 0, []byte{0, 0x26, 0x25, 0xa0})
	c.Msg(2, 6, 0, 0, []byte{0, 0x26, 0x25, 0xa0, 2})
	c.Msg(2, 4, 0, 0, []byte{0, 6, 0, 0, 0, 1})
	c.Msg(2, 4, 0, 0, []byte{0, 3, 0, 0, 0, 1, 0, 0, 0x0b, 0xb8})
	c.Msg(4, 15, 0, msid, append([]byte{0}, rtmptest.SetDataFrame(tagPayload(st.Metadata(true, false)))...))
	c.Msg(3, 17, 0, 0, append([]byte{0}, rtmptest.Command("releaseStream", 3, rtmptest.Args{nil, "fuzz"})...))
	c.Msg(3, 16, 0, 0, []byte{0, 1, 'x'})
	c.Msg(3, 19, 0, 0, []byte{0, 1, 'x'})
	c.Msg(6, 22, 0, msid, []byte{9, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0x17, 1, 0, 0, 0, 0, 0, 0, 16})
	c.Msg(6, 7, 0, msid, []byte{1})
	c.Msg(6, 0xff, 0, msid, []byte{1})
	seeds["control_and_other_types"] = seed{fuzzModePublish, c.B}

	// Basic header forms (2 and 3 bytes), chunk streams past
	// MaxChunkStreams, a type 3 chunk on a chunk stream never seen, and
	// media on a message stream that does not exist.
	c = rtmptest.NewChunker()
	c.Msg(64, typeAudio, 0, msid, tagPayload(st.AACSeqHeader()))
	c.Msg(319, typeAudio, 0, msid, tagPayload(st.AACFrame(4)))
	c.Msg(320, typeAudio, 0, msid, tagPayload(st.AACFrame(4)))
	c.Msg(65599, typeAudio, 0, msid, tagPayload(st.AACFrame(4)))
	c.Raw([]byte{0xc0 | 9})
	c.Msg(6, typeVideo, 0, 7, tagPayload(st.AVCFrame(true, 4)))
	seeds["chunk_stream_ids"] = seed{fuzzModePublish, c.B}
	c = rtmptest.NewChunker()
	for cs := 4; cs < 80; cs++ {
		c.Msg(cs, typeAudio, 0, msid, tagPayload(st.AACFrame(4)))
	}
	seeds["many_chunk_streams"] = seed{fuzzModePublish, c.B}

	// Commands after the prefix: a second publish, play, bad and odd
	// arguments, createStream past MaxMessageStreams, a second connect.
	c = rtmptest.NewChunker()
	c.Msg(4, typeCommand, 0, msid, rtmptest.Command("publish", 0, &rtmpmsg.NetStreamPublish{PublishingName: "other", PublishingType: "live"}))
	c.Msg(4, typeCommand, 0, msid, rtmptest.Command("play", 0, rtmptest.Args{nil, "fuzz"}))
	c.Msg(3, typeCommand, 0, 0, rtmptest.Command("deleteStream", 7, rtmptest.Args{nil, "x"}))
	c.Msg(3, typeCommand, 0, 0, rtmptest.Command("FCUnpublish", 8, rtmptest.Args{nil, 1.5}))
	for i := 0; i < 18; i++ {
		c.Msg(3, typeCommand, 0, 0, rtmptest.Command("createStream", int64(9+i), &rtmpmsg.NetConnectionCreateStream{}))
	}
	c.Msg(3, typeCommand, 0, 0, rtmptest.Command("connect", 1, rtmptest.Args{map[string]any{"app": "live"}}))
	seeds["commands_after_publish"] = seed{fuzzModePublish, c.B}

	// The client's own session after a handshake: bad app names, a publish
	// name with a query, publish before createStream, non-string arguments.
	c = rtmptest.NewChunker()
	c.Msg(3, typeCommand, 0, 0, rtmptest.Command("connect", 1, &rtmpmsg.NetConnectionConnect{
		Command: rtmpmsg.NetConnectionConnectCommand{App: "live", TCURL: "rtmp://h/live"},
	}))
	c.Msg(3, typeCommand, 0, 0, rtmptest.Command("releaseStream", 2, rtmptest.Args{nil, "k?token=x"}))
	c.Msg(3, typeCommand, 0, 0, rtmptest.Command("FCPublish", 3, rtmptest.Args{nil, "k?token=x"}))
	c.Msg(3, typeCommand, 0, 0, rtmptest.Command("createStream", 4, &rtmpmsg.NetConnectionCreateStream{}))
	c.Msg(8, typeCommand, 0, msid, rtmptest.Command("publish", 5, rtmptest.Args{nil, "k?token=x", "live"}))
	c.Msg(6, typeVideo, 0, msid, tagPayload(st.AVCFrame(true, 10)))
	seeds["session_with_query"] = seed{fuzzModeHandshake, c.B}
	c = rtmptest.NewChunker()
	c.Msg(3, typeCommand, 0, 0, rtmptest.Command("connect", 1, rtmptest.Args{map[string]any{"app": "../etc"}}))
	seeds["connect_bad_app"] = seed{fuzzModeHandshake, c.B}
	c = rtmptest.NewChunker()
	c.Msg(3, typeCommand, 0, 0, rtmptest.Command("connect", 1, rtmptest.Args{map[string]any{"app": 5.0}}))
	seeds["connect_app_not_a_string"] = seed{fuzzModeHandshake, c.B}
	c = rtmptest.NewChunker()
	c.Msg(3, typeCommand, 0, 0, rtmptest.Command("connect", 1, rtmptest.Args{map[string]any{"app": "live"}}))
	c.Msg(3, typeCommand, 0, 0, rtmptest.Command("createStream", 2, &rtmpmsg.NetConnectionCreateStream{}))
	c.Msg(8, typeCommand, 0, msid, rtmptest.Command("publish", 3, rtmptest.Args{nil, 42.0, "live"}))
	seeds["publish_name_not_a_string"] = seed{fuzzModeHandshake, c.B}
	c = rtmptest.NewChunker()
	c.Msg(8, typeCommand, 0, msid, rtmptest.Command("publish", 3, rtmptest.Args{nil, "fuzz", "live"}))
	c.Msg(6, typeVideo, 0, 0, tagPayload(st.AVCFrame(true, 10)))
	seeds["publish_before_connect"] = seed{fuzzModeHandshake, c.B}

	// Raw: handshakes that go wrong.
	c0c1 := append([]byte{3}, make([]byte, 1536)...)
	seeds["raw_bad_c2"] = seed{fuzzModeRaw, append(bytes.Clone(c0c1), make([]byte, 1536)...)}
	seeds["raw_truncated_c1"] = seed{fuzzModeRaw, c0c1[:700]}
	seeds["raw_http_request"] = seed{fuzzModeRaw, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")}

	// Lingering clients: a publisher that goes silent, and one that only
	// connects.
	c = rtmptest.NewChunker()
	c.Msg(6, typeVideo, 0, msid, tagPayload(st.AVCFrame(true, 10)))
	seeds["linger_publisher"] = seed{fuzzModePublish + fuzzModeLinger, c.B}
	c = rtmptest.NewChunker()
	c.Msg(3, typeCommand, 0, 0, rtmptest.Command("connect", 1, rtmptest.Args{map[string]any{"app": "live"}}))
	seeds["linger_connected"] = seed{fuzzModeLinger, c.B}
	seeds["linger_partial_message"] = seed{fuzzModePublish + fuzzModeLinger, []byte{6, 0, 0, 0, 0, 1, 0, typeVideo, 1, 0, 0, 0, 0x17}}
	return seeds
}

// TestWriteRTMPFuzzSeeds keeps testdata/fuzz/FuzzRTMPConn in step with
// rtmpFuzzSeeds; HEADWATER_WRITE_FUZZ_SEEDS=1 rewrites the files.
func TestWriteRTMPFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzRTMPConn")
	write := os.Getenv("HEADWATER_WRITE_FUZZ_SEEDS") != ""
	for name, s := range rtmpFuzzSeeds(t) {
		want := fmt.Sprintf("go test fuzz v1\nbyte(%q)\n[]byte(%q)\n", rune(s.mode), s.data)
		path := filepath.Join(dir, name)
		if write {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != want {
			t.Errorf("%s is missing or stale (%v): run HEADWATER_WRITE_FUZZ_SEEDS=1 go test -run '^TestWriteRTMPFuzzSeeds$' .", path, err)
		}
	}
}

// TestRTMPPublishPrefixPublishes checks that rtmpPublishPrefix really makes
// the client a publisher, so that FuzzRTMPConn's data reaches the stream.
func TestRTMPPublishPrefixPublishes(t *testing.T) {
	reg := registry.New(stream.DefaultConfig())
	s := NewServer(DefaultConfig(), reg, zerolog.Nop())
	client, server := net.Pipe()
	served := make(chan error, 1)
	go func() { served <- s.Serve(newFuzzListener(server)) }()
	defer func() {
		_ = client.Close()
		if err := s.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
		<-served
	}()
	w := newPipeWriter(client, nil)
	defer w.finish()
	if err := handshake.HandshakeWithServer(client, w, &handshake.Config{}); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, client) }()
	_, _ = w.Write(rtmpPublishPrefix())
	c := rtmptest.NewChunker()
	c.Msg(6, typeVideo, 0, 1, tagPayload(st.AVCSeqHeader()))
	c.Msg(6, typeVideo, 0, 1, tagPayload(st.AVCFrame(true, 10)))
	_, _ = w.Write(c.B)

	key := registry.Key{App: "live", Name: "fuzz"}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		if p, err := reg.Play(key, "test"); err == nil {
			sub, err := p.Subscribe()
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			tags, err := sub.Next(ctx, nil)
			cancel()
			p.Release()
			if err != nil || len(tags) != 2 || !tags[1].Keyframe {
				t.Fatalf("the published stream gave %d tags, %v", len(tags), err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no publisher after the prefix: %+v", reg.Stats())
		}
	}
}
