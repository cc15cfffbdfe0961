package httpflv

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/headwater-media/headwater/internal/play"
	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/stream"
	"github.com/headwater-media/headwater/pkg/flv"
)

// WebSocket-FLV: the same URL as HTTP-FLV, asked for with
// "Upgrade: websocket", gets the same FLV bytes in binary WebSocket
// messages (RFC 6455): the FLV header in the first, then the tags of
// each write in one message. mpegts.js and flv.js play it (type 'flv', a
// ws:// URL).
//
// The server side is this file's small code, not a library's: the
// handshake (validated before the player's handle is taken, answered by
// the session as its head), the frames the server sends (a 2 to 10 byte
// header in front of each shared tag, written with writev by
// play.Session: the tag bytes are never copied), and a reader of what the
// client sends. coder/websocket, the tests' and hwbench's client, checks
// it: its Conn owns its connection, writes each message through its own
// buffer under a per-write context, so it cannot put a header in front of
// a tag shared by every player without copying the tag.

// WSProtocol names WebSocket-FLV players in the API and metrics.
const WSProtocol = "ws-flv"

// WebSocket opcodes (RFC 6455 5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xa
)

// Close status codes (RFC 6455 7.4.1).
const (
	closeNormal        = 1000
	closeProtocolError = 1002
	closeInvalidData   = 1007
)

// maxControlPayload is the longest payload a control frame may carry
// (RFC 6455 5.5).
const maxControlPayload = 125

// wsGUID is the key suffix of Sec-WebSocket-Accept (RFC 6455 1.3).
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// isWebSocket reports whether r asks for WebSocket-FLV: a GET with
// "Upgrade: websocket". A HEAD never upgrades.
func isWebSocket(r *http.Request) bool {
	return r.Method == http.MethodGet && headerHasToken(r.Header, "Upgrade", "websocket")
}

// wsAccept checks r's opening handshake (RFC 6455 4.2.1) and returns its
// Sec-WebSocket-Accept, or the HTTP status and reason to refuse it with.
// It is called before the player's handle is taken: a bad handshake
// costs nothing. Any Origin is accepted: the stream is as public as its
// HTTP-FLV URL, whose CORS is open, and no cookie or credential is used.
func wsAccept(r *http.Request) (accept string, status int, err error) {
	if !r.ProtoAtLeast(1, 1) {
		return "", http.StatusBadRequest, errors.New("bad WebSocket handshake: HTTP/1.1 or later is required")
	}
	if !headerHasToken(r.Header, "Connection", "upgrade") {
		return "", http.StatusBadRequest, errors.New("bad WebSocket handshake: Connection has no upgrade")
	}
	if v := r.Header.Get("Sec-WebSocket-Version"); v != "13" {
		return "", http.StatusUpgradeRequired, fmt.Errorf("bad WebSocket handshake: version %q, not 13", v)
	}
	key := r.Header.Get("Sec-WebSocket-Key")
	if raw, err := base64.StdEncoding.DecodeString(key); err != nil || len(raw) != 16 {
		return "", http.StatusBadRequest, errors.New("bad WebSocket handshake: Sec-WebSocket-Key is not 16 bytes in base64")
	}
	sum := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(sum[:]), 0, nil
}

// refuseHandshake answers a bad opening handshake.
func refuseHandshake(w http.ResponseWriter, status int, err error) {
	if status == http.StatusUpgradeRequired {
		w.Header().Set("Sec-WebSocket-Version", "13")
	}
	http.Error(w, err.Error(), status)
}

// headerHasToken reports whether one of h's name fields, a
// comma-separated list, has token (case-insensitive).
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// switchingProtocols is the head of a WebSocket-FLV response: the 101
// that completes the opening handshake. No subprotocol or extension is
// chosen (a browser's offer of permessage-deflate is declined: FLV does
// not compress, and the frames are shared bytes).
func switchingProtocols(accept string) []byte {
	return []byte("HTTP/1.1 101 Switching Protocols\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + accept + "\r\n" +
		"\r\n")
}

// appendFrameHeader appends an unmasked (server) frame header, FIN set:
// 2 bytes, 4 from 126 bytes of payload on, 10 from 64 KiB on (the
// shortest form, as RFC 6455 5.2 requires).
func appendFrameHeader(b []byte, op byte, n int) []byte {
	b = append(b, 0x80|op)
	switch {
	case n < 126:
		return append(b, byte(n))
	case n <= 0xffff:
		return append(b, 126, byte(n>>8), byte(n))
	default:
		return binary.BigEndian.AppendUint64(append(b, 127), uint64(n))
	}
}

// appendClose appends a close frame with code and reason (at most 123
// bytes).
func appendClose(b []byte, code uint16, reason string) []byte {
	b = appendFrameHeader(b, opClose, 2+len(reason))
	return append(binary.BigEndian.AppendUint16(b, code), reason...)
}

// wsFramer is WebSocket-FLV's play.Framer. The head is the 101; the FLV
// header is the first binary message; then each writev of the session
// is one binary message: a frame header in front of the shared bytes of
// the tags it carries. As the session appends a writev's tags, the framer
// rewrites that header (in its own buffer, the iov element it put there)
// to the length so far; the session writes once Append has returned, and
// calls Flushed after each writev, which ends the message. A tag thus
// costs one buffer of the writev and no copy, as for HTTP-FLV: 15 tags a
// writev rather than the 8 of a message per tag (two buffers a tag).
// Measured with 50 players on loopback: a batch of 60 small tags (a
// join, a catch-up) cost 2.2-2.8 ms this way (HTTP-FLV 2.1-2.4 ms) and
// 4.0-5.0 ms with a message per tag; batches of 1 to 3 tags, the steady
// state with the merge window, cost the same either way. mpegts.js and
// flv.js take FLV bytes split anywhere across messages. Every writev
// carries whole frames, which lets the watcher write a control frame
// between two of them (see wsWatcher.control).
type wsFramer struct {
	head []byte
	hdr  [10]byte // the message header of the writev being built
	at   int      // its index in the iov; -1 before the writev's first tag
	n    int      // the message's length so far
	// framed counts the bytes handed to the session after the head
	// (Start, frames, End); once Run has returned, Result.Sent equal to
	// it means the last write ended on a frame boundary.
	framed  int64
	endSent bool // End returned a close frame
	// closing is set once a close frame is sent or being sent, by End
	// or by the watcher answering the client's: no frame may follow it.
	// The only state the session's goroutine and the watcher share.
	closing atomic.Bool
}

func newWSFramer(accept string) *wsFramer {
	return &wsFramer{head: switchingProtocols(accept), at: -1}
}

// Head is the 101 response.
func (f *wsFramer) Head() []byte { return f.head }

// Start is the first message: the FLV header and PreviousTagSize0.
func (f *wsFramer) Start(audio, video bool) []byte {
	const n = flv.HeaderSize + flv.PrevTagSizeLen
	b := flv.AppendHeader(appendFrameHeader(make([]byte, 0, 2+n), opBinary, n), audio, video)
	f.framed += int64(len(b))
	return b
}

// Append adds t to the writev's message: its header first if t is the
// writev's first tag, rewritten to the new length. After a close frame
// it appends nothing.
func (f *wsFramer) Append(iov net.Buffers, t *stream.Tag) net.Buffers {
	if f.closing.Load() {
		return iov
	}
	if f.at < 0 {
		f.at, f.n = len(iov), 0
		iov = append(iov, nil)
	}
	before := len(iov[f.at])
	f.n += len(t.Data)
	iov[f.at] = appendFrameHeader(f.hdr[:0], opBinary, f.n)
	f.framed += int64(len(iov[f.at]) - before + len(t.Data))
	return append(iov, t.Data)
}

// Flushed ends the message: the next tag starts another.
func (f *wsFramer) Flushed() { f.at = -1 }

// End is a close frame, 1000 "stream ended", unless the watcher has
// already answered the client's close.
func (f *wsFramer) End() []byte {
	if !f.closing.CompareAndSwap(false, true) {
		return nil
	}
	b := appendClose(nil, closeNormal, play.ReasonEnded)
	f.endSent = true
	f.framed += int64(len(b))
	return b
}

// serveWS runs one WebSocket-FLV player on its hijacked connection. pre
// is what the client sent after its request that net/http had already
// read. As HTTP-FLV's serve, it returns when the stream ends, the client
// goes, ctx is done or a write fails, having closed the connection and
// waited for the watcher. After the stream's end (the session's last
// write is the close frame) it waits up to the drain timeout for the
// client's close frame before closing the connection: the close
// handshake.
func (h *Handler) serveWS(ctx context.Context, cancel context.CancelFunc, conn net.Conn, pre []byte, accept string, sub *stream.Subscriber, player *registry.Player) play.Result {
	raw := play.Innermost(conn)
	f := newWSFramer(accept)
	w := &wsWatcher{conn: raw, ctx: ctx, cancel: cancel, framer: f, writeTimeout: h.Config.WriteTimeout}
	if len(pre) > len(w.buf) {
		// More than a whole control frame before the 101: a client
		// must wait for the handshake's answer (RFC 6455 4.1).
		_ = conn.Close()
		return play.Result{Reason: "client sent frames before the handshake"}
	}
	w.w = copy(w.buf[:], pre)
	// The 101 goes out before the watcher starts: a pong to a ping the
	// client sent early must not precede it. (The session then writes no
	// head of its own.)
	if err := raw.SetWriteDeadline(time.Now().Add(h.Config.WriteTimeout)); err != nil || ctx.Err() != nil {
		_ = conn.Close()
		return play.Result{Reason: play.ReasonGone}
	}
	if _, err := raw.Write(f.head); err != nil {
		_ = conn.Close()
		return play.Result{Writes: 1, Reason: "write: " + err.Error()}
	}
	f.head = nil
	watched := make(chan struct{})
	go w.run(watched)
	res := play.NewSession(conn, f, h.Config, player, h.Totals).Run(ctx, sub)
	if res.Reason == play.ReasonEnded && f.endSent && res.Sent == f.framed {
		// The close frame went out whole: give the client the drain
		// timeout to answer it (the watcher reads its close and
		// returns; a client that does not answer is not waited for
		// longer).
		_ = raw.SetReadDeadline(time.Now().Add(min(h.Config.WriteTimeout, h.Config.DrainTimeout)))
		<-watched
	}
	_ = conn.Close() // the outermost conn: a wrapper may account for it
	cancel()
	<-watched
	if w.why != "" && res.Reason == play.ReasonGone {
		res.Reason = w.why
	}
	return res
}

// wsWatcher is a WebSocket-FLV player's reader of what the client sends,
// the counterpart of HTTP-FLV's close watcher, in its own goroutine. It
// answers pings, answers a close frame with a close frame, discards data
// messages (up to maxClientBytes of payload in all), and cancels the
// player's context when the client closes, goes away or breaks the
// protocol, or when its read fails because the handler closed the
// connection or moved its deadline (kick, shutdown, close handshake
// over).
//
// Its reads have no deadline while the player plays: a client has
// nothing to send, and the session's write deadline cuts off one that is
// gone without a word. Its writes (a pong, a close frame) are single
// Writes of whole frames made while the session may be in a writev:
// internal/poll holds a connection's write lock for the whole of each
// Write and writev, and every writev of the session carries whole frames,
// so a control frame always falls between two of the session's frames.
// They run under the session's write deadline (see control).
type wsWatcher struct {
	conn         net.Conn // the innermost connection
	ctx          context.Context
	cancel       context.CancelFunc
	framer       *wsFramer // only its closing flag
	writeTimeout time.Duration

	buf  [256]byte // a frame header (at most 14 bytes) and a control payload fit
	r, w int       // buf[r:w] is read and not yet parsed
	data int64     // data payload bytes received so far
	out  [2 + maxControlPayload]byte

	// why says why the client's side ended the player (its close frame,
	// a protocol error), for the "play stop" line; set before cancel,
	// read by the handler after done is closed.
	why string
}

// run reads frames until the read fails or the client closes or breaks
// the protocol, then cancels the player's context and closes done.
func (w *wsWatcher) run(done chan<- struct{}) {
	defer close(done)
	defer w.cancel()
	w.why = w.read()
}

// read parses frames (RFC 6455 5.2) until one ends the player, and
// returns why: the client's close or a protocol violation, or "" when a
// read or write failed (the session's result says why).
func (w *wsWatcher) read() string {
	fragmented := false // a data message is being continued
	for {
		if w.need(2) != nil {
			return ""
		}
		b0, b1 := w.buf[w.r], w.buf[w.r+1]
		fin, op, n := b0&0x80 != 0, b0&0x0f, uint64(b1&0x7f)
		switch {
		case b0&0x70 != 0:
			return "client protocol error: reserved bits set"
		case b1&0x80 == 0:
			return "client protocol error: unmasked frame"
		}
		hl := 2 + 4 // and the masking key
		switch n {
		case 126:
			hl += 2
		case 127:
			hl += 8
		}
		if w.need(hl) != nil {
			return ""
		}
		switch n {
		case 126:
			n = uint64(binary.BigEndian.Uint16(w.buf[w.r+2:]))
		case 127:
			n = binary.BigEndian.Uint64(w.buf[w.r+2:])
		}
		mask := [4]byte(w.buf[w.r+hl-4 : w.r+hl])
		w.r += hl
		switch op {
		case opContinuation, opText, opBinary:
			if (op == opContinuation) != fragmented {
				return "client protocol error: bad fragmentation"
			}
			fragmented = !fin
			if n > maxClientBytes || w.data+int64(n) > maxClientBytes {
				return fmt.Sprintf("client sent more than %d bytes", maxClientBytes)
			}
			w.data += int64(n)
			if w.discard(int(n)) != nil {
				return ""
			}
		case opPing, opPong, opClose:
			if !fin || n > maxControlPayload {
				return "client protocol error: bad control frame"
			}
			if w.need(int(n)) != nil {
				return ""
			}
			p := w.buf[w.r : w.r+int(n)]
			w.r += int(n)
			for i := range p {
				p[i] ^= mask[i&3]
			}
			switch op {
			case opPing:
				if w.framer.closing.Load() {
					continue // a close frame is out: nothing follows it
				}
				if w.control(appendFrameHeader(w.out[:0], opPong, len(p)), p) != nil {
					return ""
				}
			case opClose:
				return w.closed(p)
			}
		default:
			return fmt.Sprintf("client protocol error: opcode %d", op)
		}
	}
}

// closed handles the client's close frame with payload p: unless the
// server has sent its own close (the stream ended), it answers with the
// client's status code (RFC 6455 5.5.1), or 1002 or 1007 for a bad one,
// and returns why the player ends.
func (w *wsWatcher) closed(p []byte) string {
	var code uint16 // none: the answer has none either
	switch {
	case len(p) == 0:
	case len(p) == 1 || !validCloseCode(binary.BigEndian.Uint16(p)):
		code = closeProtocolError
	case !utf8.Valid(p[2:]):
		code = closeInvalidData
	default:
		code = binary.BigEndian.Uint16(p)
	}
	why := "client sent close"
	if len(p) >= 2 {
		why += " " + strconv.Itoa(int(binary.BigEndian.Uint16(p)))
	}
	if !w.framer.closing.CompareAndSwap(false, true) {
		return why // the answer to the server's close
	}
	var hdr []byte
	if code == 0 {
		hdr = appendFrameHeader(w.out[:0], opClose, 0)
	} else {
		hdr = binary.BigEndian.AppendUint16(appendFrameHeader(w.out[:0], opClose, 2), code)
	}
	_ = w.control(hdr, nil)
	return why
}

// validCloseCode reports whether a client may send code (RFC 6455 7.4).
func validCloseCode(code uint16) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1011:
		return true
	default:
		return code >= 3000 && code <= 4999
	}
}

// control writes the frame hdr+p (copied into out, where hdr was built)
// in one Write, between two of the session's writevs (see wsWatcher). It
// runs under the session's write deadline, which moves as the session
// writes; if that has passed (no tag for WriteTimeout, the Write fails
// at once having written nothing), it sets one WriteTimeout away first
// and then checks the context, as the session does: a kick or shutdown
// in between moves it back into the past.
func (w *wsWatcher) control(hdr, p []byte) error {
	frame := append(hdr, p...)
	n, err := w.conn.Write(frame)
	if err == nil || n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) || w.ctx.Err() != nil {
		return err
	}
	if err := w.conn.SetWriteDeadline(time.Now().Add(w.writeTimeout)); err != nil {
		return err
	}
	if err := w.ctx.Err(); err != nil {
		_ = w.conn.SetDeadline(time.Unix(1, 0))
		return err
	}
	_, err = w.conn.Write(frame)
	return err
}

// need reads until buf[r:] holds n bytes (n <= len(buf)).
func (w *wsWatcher) need(n int) error {
	if w.w-w.r >= n {
		return nil
	}
	if w.r > 0 {
		w.w = copy(w.buf[:], w.buf[w.r:w.w])
		w.r = 0
	}
	for w.w < n {
		m, err := w.conn.Read(w.buf[w.w:])
		if err != nil {
			return err
		}
		w.w += m
	}
	return nil
}

// discard skips n bytes of payload.
func (w *wsWatcher) discard(n int) error {
	for {
		k := min(n, w.w-w.r)
		w.r += k
		if n -= k; n == 0 {
			return nil
		}
		w.r, w.w = 0, 0
		if err := w.need(1); err != nil {
			return err
		}
	}
}
