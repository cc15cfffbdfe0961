// Package rtmptest is a raw RTMP client for tests. It writes chunks the
// way a publisher does, byte by byte, so that a test can send what no
// well-behaved client library would: any message type, any timestamp,
// aggregates, floods.
package rtmptest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/yutopp/go-rtmp/handshake"
	rtmpmsg "github.com/yutopp/go-rtmp/message"
)

// Message type IDs (RTMP spec 5.4, 7.1).
const (
	TypeSetChunkSize = 1
	TypeAck          = 3
	TypeAudio        = 8
	TypeVideo        = 9
	TypeData         = 18
	TypeCommand      = 20
	TypeAggregate    = 22
)

// Chunker appends RTMP chunks to B as a client writes them (or, as chunks
// are symmetric, as a server does).
type Chunker struct {
	B    []byte
	size int // the client's chunk size
	// ext records, per chunk stream, whether its last type 0, 1 or 2 header
	// had the extended timestamp field: type 3 chunks that follow carry it too.
	ext map[int]bool
}

// NewChunker returns a chunker at the default chunk size, 128.
func NewChunker() *Chunker { return &Chunker{size: 128} }

// BasicHeader appends a chunk basic header.
func BasicHeader(b []byte, fmtType byte, csid int) []byte {
	switch {
	case csid >= 2 && csid <= 63:
		return append(b, fmtType<<6|byte(csid))
	case csid >= 64 && csid <= 319:
		return append(b, fmtType<<6, byte(csid-64))
	default:
		v := csid - 64
		return append(b, fmtType<<6|1, byte(v), byte(v>>8))
	}
}

// Msg appends a message as a type 0 chunk and type 3 continuation chunks,
// with the extended timestamp field on every chunk when ts >= 0xffffff.
func (c *Chunker) Msg(csid int, typ byte, ts uint32, msid uint32, p []byte) *Chunker {
	ext := ts >= 0xffffff
	t24 := min(ts, 0xffffff)
	c.B = BasicHeader(c.B, 0, csid)
	c.B = append(c.B, byte(t24>>16), byte(t24>>8), byte(t24), byte(len(p)>>16), byte(len(p)>>8), byte(len(p)), typ)
	c.B = binary.LittleEndian.AppendUint32(c.B, msid)
	return c.body(csid, ext, ts, p)
}

// Next appends a message whose first chunk has a type 1, 2 or 3 header,
// which relies on the chunk stream's previous message: type 1 carries the
// timestamp delta, the length and the type; type 2 only the delta (the
// payload must have the previous message's length); type 3 nothing (the
// previous length and delta apply). The extended timestamp field is written
// as the RTMP spec says (5.3.1.3): for types 1 and 2 when delta >= 0xffffff;
// for type 3 when the chunk stream's last type 0, 1 or 2 header had it,
// with delta as its value.
func (c *Chunker) Next(fmtType byte, csid int, typ byte, delta uint32, p []byte) *Chunker {
	ext := c.ext[csid]
	c.B = BasicHeader(c.B, fmtType, csid)
	if fmtType == 1 || fmtType == 2 {
		ext = delta >= 0xffffff
		d24 := min(delta, 0xffffff)
		c.B = append(c.B, byte(d24>>16), byte(d24>>8), byte(d24))
		if fmtType == 1 {
			c.B = append(c.B, byte(len(p)>>16), byte(len(p)>>8), byte(len(p)), typ)
		}
	}
	return c.body(csid, ext, delta, p)
}

// body appends the extended timestamp field (when ext) and the payload of
// a message whose first chunk header is written, then its type 3
// continuation chunks.
func (c *Chunker) body(csid int, ext bool, ts uint32, p []byte) *Chunker {
	if c.ext == nil {
		c.ext = make(map[int]bool)
	}
	c.ext[csid] = ext
	for first := true; first || len(p) > 0; first = false {
		if !first {
			c.B = BasicHeader(c.B, 3, csid)
		}
		if ext {
			c.B = binary.BigEndian.AppendUint32(c.B, ts)
		}
		n := min(len(p), c.size)
		c.B = append(c.B, p[:n]...)
		p = p[n:]
	}
	return c
}

// Raw appends bytes as they are.
func (c *Chunker) Raw(parts ...[]byte) *Chunker {
	for _, p := range parts {
		c.B = append(c.B, p...)
	}
	return c
}

// SetChunkSize appends a Set Chunk Size message and chunks at n from then on.
func (c *Chunker) SetChunkSize(n uint32) *Chunker {
	c.Msg(2, TypeSetChunkSize, 0, 0, binary.BigEndian.AppendUint32(nil, n))
	if n >= 1 && n <= 0x7fffffff {
		c.size = int(n)
	}
	return c
}

// Args is a command body of arbitrary AMF0 values.
type Args []any

// FromArgs implements rtmpmsg.AMFConvertible.
func (a Args) FromArgs(...any) error { return nil }

// ToArgs implements rtmpmsg.AMFConvertible.
func (a Args) ToArgs(rtmpmsg.EncodingType) ([]any, error) { return a, nil }

// Command is the payload of an AMF0 command message.
func Command(name string, tx int64, body rtmpmsg.AMFConvertible) []byte {
	var args, out bytes.Buffer
	if err := rtmpmsg.EncodeBodyAnyValues(rtmpmsg.NewAMFEncoder(&args, rtmpmsg.EncodingTypeAMF0), body); err != nil {
		panic(err)
	}
	if err := rtmpmsg.NewEncoder(&out).Encode(&rtmpmsg.CommandMessage{
		CommandName: name, TransactionID: tx, Encoding: rtmpmsg.EncodingTypeAMF0, Body: &args,
	}); err != nil {
		panic(err)
	}
	return out.Bytes()
}

// SetDataFrame is the payload of an @setDataFrame data message carrying an
// FLV script tag body.
func SetDataFrame(script []byte) []byte {
	var out bytes.Buffer
	if err := rtmpmsg.NewEncoder(&out).Encode(&rtmpmsg.DataMessage{
		Name: "@setDataFrame", Encoding: rtmpmsg.EncodingTypeAMF0, Body: bytes.NewReader(script),
	}); err != nil {
		panic(err)
	}
	return out.Bytes()
}

// Sub is one sub-message of an aggregate message.
type Sub struct {
	Type    byte
	TS      uint32
	Payload []byte
}

// Aggregate is the payload of an aggregate message: its sub-messages laid
// out like FLV tags, each followed by its back pointer.
func Aggregate(subs ...Sub) []byte {
	var b []byte
	for _, s := range subs {
		n := len(s.Payload)
		b = append(b, s.Type, byte(n>>16), byte(n>>8), byte(n), byte(s.TS>>16), byte(s.TS>>8), byte(s.TS), byte(s.TS>>24), 0, 0, 0)
		b = append(b, s.Payload...)
		b = binary.BigEndian.AppendUint32(b, uint32(11+n))
	}
	return b
}

// StreamID is the message stream a publisher's media goes on: the first
// that createStream gives (go-rtmp's server counts from 1).
const StreamID = 1

// Conn is a raw client connection. A goroutine it owns reads and discards
// what the server sends until the connection ends; Close waits for it.
type Conn struct {
	net.Conn
	mu   sync.Mutex // guards ch and writes
	ch   *Chunker
	done chan struct{}
	err  error // the read error that ended the connection; set before done closes
}

// Dial connects to addr and does the RTMP handshake. Every read and write
// of the connection has timeout as its deadline, from now.
func Dial(addr string, timeout time.Duration) (*Conn, error) {
	nc, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	_ = nc.SetDeadline(time.Now().Add(timeout))
	if err := handshake.HandshakeWithServer(nc, nc, &handshake.Config{}); err != nil {
		nc.Close()
		return nil, fmt.Errorf("handshake: %w", err)
	}
	c := &Conn{Conn: nc, ch: NewChunker(), done: make(chan struct{})}
	go func() {
		_, err := io.Copy(io.Discard, nc)
		if err == nil {
			err = io.EOF
		}
		c.err = err
		close(c.done)
	}()
	return c, nil
}

// Done is closed when the server has closed the connection (or it failed).
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err is what ended the connection, once Done is closed.
func (c *Conn) Err() error { <-c.done; return c.err }

// Close closes the connection and waits for its reader.
func (c *Conn) Close() error {
	err := c.Conn.Close()
	<-c.done
	return err
}

// flushLocked writes what was chunked since the last flush; c.mu is held.
func (c *Conn) flushLocked() error {
	_, err := c.Conn.Write(c.ch.B)
	c.ch.B = c.ch.B[:0]
	return err
}

// Chunks chunks with f and sends the bytes.
func (c *Conn) Chunks(f func(*Chunker)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(c.ch)
	return c.flushLocked()
}

// Connect sends connect to app (without waiting for the reply).
func (c *Conn) Connect(app string) error {
	return c.Chunks(func(ch *Chunker) {
		ch.Msg(3, TypeCommand, 0, 0, Command("connect", 1, &rtmpmsg.NetConnectionConnect{
			Command: rtmpmsg.NetConnectionConnectCommand{App: app, Type: "nonprivate", FlashVer: "rtmptest", TCURL: "rtmp://test/" + app},
		}))
	})
}

// Publish raises the chunk size to 64 KiB and sends createStream and
// publish of name; the server handles them in order. Whether it accepted
// is for the test to find out (the API, a player).
func (c *Conn) Publish(name string) error {
	return c.Chunks(func(ch *Chunker) {
		ch.SetChunkSize(64 << 10)
		ch.Msg(3, TypeCommand, 0, 0, Command("createStream", 2, &rtmpmsg.NetConnectionCreateStream{}))
		ch.Msg(4, TypeCommand, 0, StreamID, Command("publish", 0, &rtmpmsg.NetStreamPublish{PublishingName: name, PublishingType: "live"}))
	})
}

// Send sends one message of type typ on the publisher's stream.
func (c *Conn) Send(typ byte, ts uint32, payload []byte) error {
	csid := 5
	switch typ {
	case TypeAudio:
		csid = 4
	case TypeVideo:
		csid = 6
	}
	return c.Chunks(func(ch *Chunker) { ch.Msg(csid, typ, ts, StreamID, payload) })
}

// Control sends a protocol control message (an acknowledgement, a window
// size) on chunk stream 2, message stream 0.
func (c *Conn) Control(typ byte, payload []byte) error {
	return c.Chunks(func(ch *Chunker) { ch.Msg(2, typ, 0, 0, payload) })
}
