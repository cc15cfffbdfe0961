package rtmpclient

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/yutopp/go-rtmp/message"

	"github.com/headwater-media/headwater/internal/rtmp/chunk"
	"github.com/headwater-media/headwater/pkg/flv"
)

// ErrPublishFailed is a refused publish: onStatus NetStream.Publish.BadName,
// Publish.Failed, Publish.Unauthorized (or any onStatus at level error),
// or _error to connect or createStream. The error wraps it with the
// server's status code and description.
var ErrPublishFailed = errors.New("rtmp: publish failed")

// PublishChunkSize is the chunk size a Publisher writes at, announced
// with Set Chunk Size right after Publish.Start: most messages fit in
// one chunk, so a message costs one 12-byte header around its payload
// (the server side's play chunk size, as SRS uses; ffmpeg, nginx-rtmp and
// go-rtmp accept it).
const PublishChunkSize = 60000

// RTMP message types a Publisher writes itself (RTMP spec 5.4, 7.1).
const (
	typeSetChunkSize = 1
	typeAck          = 3
)

// Chunk streams of a Publisher's media (as the server's play framer).
const (
	csidData  = 5
	csidAudio = 6
	csidVideo = 7
)

// pending marks a queued reply in Publisher.ack and Publisher.pong.
const pending = 1 << 63

// setDataFrame is the AMF0 string "@setDataFrame": put in front of a
// script tag's body (which starts with "onMetaData"), it asks the server
// to keep the metadata for its players, as ffmpeg and OBS publish it.
var setDataFrame = []byte{0x02, 0x00, 0x0d, '@', 's', 'e', 't', 'D', 'a', 't', 'a', 'F', 'r', 'a', 'm', 'e'}

// Publisher is one RTMP publish session: Publish sets it up (with the
// same connection, handshake and command code as Play), then its
// owner writes media messages to Conn, framed by AppendMessage, from one
// goroutine: that goroutine is the connection's only writer (go-rtmp's
// writer has been handed over). A reader goroutine that the Publisher
// owns reads what the server sends: acknowledgements, Set Chunk Size,
// pings, statuses. The replies the client owes (an Acknowledgement when
// the server's window asks for one, a ping response) are queued and
// written by the next AppendMessage, in front of its message. When the
// server ends the publish (an error status, close or deleteStream) or
// the connection fails, the reader stops and Context is done.
//
// Close closes the connection and waits for the reader; call it after
// the writing goroutine has stopped writing.
type Publisher struct {
	c    *Player // the connection: set-up, and the reading afterwards
	nc   net.Conn
	msid uint32 // the message stream createStream gave
	name string // the publishing name, with its query

	ended    context.Context // done when the reader has stopped
	end      context.CancelFunc
	readDone chan struct{}
	readErr  error // why the reader stopped; set before readDone is closed

	// Replies the reader queued for the writer: pending | the value.
	ack  atomic.Uint64 // the sequence number of an Acknowledgement
	pong atomic.Uint64 // the timestamp of a ping response

	scratch []byte // chunk headers of the batch being written; the writer's
}

// Publish dials rawURL (rtmp[s]://host[:port]/app/stream[?query]; port
// default 1935, 443 for rtmps://, TLS with Options.TLSConfig), connects
// to app with tcUrl rtmp[s]://host:port/app, sends releaseStream,
// FCPublish and createStream, publishes the stream name (with its query,
// like ffmpeg) as "live", and returns once the server answered
// NetStream.Publish.Start and the Set Chunk Size (PublishChunkSize) has
// been written. Options.Timeout bounds all of it, a ctx cancel aborts it.
// Errors: ErrPublishFailed (with the server's status code and
// description), ctx's error, or the I/O error (a timeout after
// Options.Timeout).
func Publish(ctx context.Context, rawURL string, opts Options) (*Publisher, error) {
	c, err := open(ctx, rawURL, opts, true, func(c *Player, setupCtx context.Context, setupBy time.Time) error {
		// Publish.Start came after the publish command: go-rtmp has
		// nothing left to write, and writes nothing from now on.
		if err := c.cs.HandOver(setupCtx); err != nil {
			return err
		}
		return writeSetChunkSize(c.nc, setupBy)
	})
	if err != nil {
		return nil, err
	}
	p := &Publisher{c: c, nc: c.nc, msid: c.streamID, name: c.target.name, readDone: make(chan struct{}),
		scratch: make([]byte, 0, 32*chunk.MaxHeader)}
	p.ended, p.end = context.WithCancel(context.Background())
	c.control, c.handedOver = p.queue, true
	go p.read()
	return p, nil
}

// writeSetChunkSize writes Set Chunk Size PublishChunkSize by deadline.
func writeSetChunkSize(nc net.Conn, deadline time.Time) error {
	if err := nc.SetWriteDeadline(deadline); err != nil {
		return err
	}
	b := chunk.AppendMessage(nil, csidControl, typeSetChunkSize, 0, 0, binary.BigEndian.AppendUint32(nil, PublishChunkSize), PublishChunkSize)
	if _, err := nc.Write(b); err != nil {
		return fmt.Errorf("set chunk size: %w", err)
	}
	return nil
}

// read is the reader goroutine: it reads and handles what the server
// sends until the session ends or the connection fails.
func (p *Publisher) read() {
	// Err is set before Context is done: readDone closes first (defers
	// run last-in first-out).
	defer p.end()
	defer close(p.readDone)
	for {
		if _, err := p.c.ReadTag(); err != nil { // a tag from the server is ignored
			p.readErr = err
			return
		}
	}
}

// queue keeps a reply the reader owes the server for the writer
// (Player.control); the latest of each kind wins.
func (p *Publisher) queue(msg message.Message) {
	switch m := msg.(type) {
	case *message.Ack:
		p.ack.Store(pending | uint64(m.SequenceNumber))
	case *message.UserCtrl:
		if e, ok := m.Event.(*message.UserCtrlEventPingResponse); ok {
			p.pong.Store(pending | uint64(e.Timestamp))
		}
	}
}

// Conn is the connection to write media messages to (with writev: the
// net package's own connection, or the TLS connection of rtmps://).
// The caller sets its write deadlines; it must not read from it nor close
// it (Close does).
func (p *Publisher) Conn() net.Conn { return p.nc }

// Context is done once the session has ended on the server's side: an
// error status or unpublish, close or deleteStream, or the connection
// failed or was closed. Err says why.
func (p *Publisher) Context() context.Context { return p.ended }

// Err is why the session ended (ErrPublishFailed, ErrStreamEnded, the
// read error) once Context is done; nil before.
func (p *Publisher) Err() error {
	select {
	case <-p.readDone:
		return p.readErr
	default:
		return nil
	}
}

// Close closes the connection and waits for the reader goroutine and
// go-rtmp's writer; it is idempotent. The writing goroutine must have
// stopped writing (a write in progress fails).
func (p *Publisher) Close() error {
	err := p.c.Close()
	<-p.readDone
	return err
}

// AppendMessage appends to iov the chunks of one message carrying
// payload, on the published message stream: audio (typ flv.TagAudio),
// video (flv.TagVideo) or an FLV script tag body (flv.TagScript, sent as
// @setDataFrame onMetaData ...), with the absolute timestamp ts
// (extended from 2^24 ms on). Replies the reader queued go in front. The
// chunk headers are built in the Publisher's scratch buffer; payload is
// not copied and must stay unchanged until written. Call Flushed once
// what was appended has been written. Used by the writing goroutine only.
func (p *Publisher) AppendMessage(iov net.Buffers, typ uint8, ts uint32, payload []byte) net.Buffers {
	if a := p.ack.Swap(0); a != 0 {
		iov = p.appendControl(iov, typeAck, binary.BigEndian.AppendUint32(nil, uint32(a)))
	}
	if pg := p.pong.Swap(0); pg != 0 {
		ev := binary.BigEndian.AppendUint16(nil, 7) // PingResponse
		iov = p.appendControl(iov, typeUserControl, binary.BigEndian.AppendUint32(ev, uint32(pg)))
	}
	csid, prefix := csidVideo, []byte(nil)
	switch typ {
	case flv.TagAudio:
		csid = csidAudio
	case flv.TagScript:
		csid, prefix = csidData, setDataFrame
	}
	at := len(p.scratch)
	p.scratch = chunk.AppendHeader(p.scratch, csid, typ, ts, p.msid, len(prefix)+len(payload))
	iov = append(iov, p.scratch[at:len(p.scratch):len(p.scratch)])
	left := PublishChunkSize
	for _, part := range [2][]byte{prefix, payload} {
		for len(part) > 0 {
			if left == 0 { // a type 3 header: the next chunk of the same message
				at = len(p.scratch)
				p.scratch = chunk.AppendContinuation(p.scratch, csid, ts)
				iov = append(iov, p.scratch[at:len(p.scratch):len(p.scratch)])
				left = PublishChunkSize
			}
			n := min(len(part), left)
			iov = append(iov, part[:n:n])
			part, left = part[n:], left-n
		}
	}
	return iov
}

// appendControl appends a protocol or user control message, built in
// scratch.
func (p *Publisher) appendControl(iov net.Buffers, typ uint8, body []byte) net.Buffers {
	at := len(p.scratch)
	p.scratch = chunk.AppendMessage(p.scratch, csidControl, typ, 0, 0, body, PublishChunkSize)
	return append(iov, p.scratch[at:len(p.scratch):len(p.scratch)])
}

// Flushed says that everything appended so far has been written (or
// failed): the scratch buffer is reused.
func (p *Publisher) Flushed() { p.scratch = p.scratch[:0] }

// EndMessages returns what ends the publish cleanly, as ffmpeg and OBS
// send it: FCUnpublish and deleteStream. Written after the last message,
// then the connection is closed.
func (p *Publisher) EndMessages() []byte {
	var b []byte
	b = chunk.AppendMessage(b, csidCommand, typeCommand, 0, 0, chunk.Command("FCUnpublish", 5, amfArgs{nil, p.name}), PublishChunkSize)
	b = chunk.AppendMessage(b, csidCommand, typeCommand, 0, 0, chunk.Command("deleteStream", 6, amfArgs{nil, float64(p.msid)}), PublishChunkSize)
	return b
}

// More message types.
const (
	typeUserControl = 4
	typeCommand     = 20 // AMF0 command
)
