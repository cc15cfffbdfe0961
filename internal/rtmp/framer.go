package rtmp

import (
	"bytes"
	"encoding/binary"
	"net"

	rtmpmsg "github.com/yutopp/go-rtmp/message"

	"github.com/headwater-media/headwater/internal/rtmp/chunk"
	"github.com/headwater-media/headwater/internal/stream"
	"github.com/headwater-media/headwater/pkg/flv"
)

// PlayChunkSize is the chunk size RTMP play sessions write at, announced
// with Set Chunk Size before anything else: most tags fit in one chunk,
// so a tag costs one 12-byte header around its shared payload. SRS uses
// the same by default; ffmpeg, librtmp and GStreamer accept it.
const PlayChunkSize = 60000

// Chunk stream ids of a play session (nginx-rtmp's): once go-rtmp has
// handed the connection's writer over, these are the only chunk streams
// written, each message with a full (type 0) header.
const (
	csidControl = 2
	csidStatus  = 5
	csidAudio   = 6
	csidVideo   = 7
)

// RTMP message type ids written by play sessions (RTMP spec 5.4, 7.1).
const (
	msgSetChunkSize = 1
	msgUserControl  = 4
	msgData         = 18
	msgCommand      = 20
)

// User control events (RTMP spec 7.1.7).
const (
	eventStreamBegin = 0
	eventStreamEOF   = 1
)

// Status codes go-rtmp does not name.
const (
	codePlayReset           rtmpmsg.NetStreamOnStatusCode = "NetStream.Play.Reset"
	codePlayStop            rtmpmsg.NetStreamOnStatusCode = "NetStream.Play.Stop"
	codePlayStreamNotFound  rtmpmsg.NetStreamOnStatusCode = "NetStream.Play.StreamNotFound"
	codePlayUnpublishNotify rtmpmsg.NetStreamOnStatusCode = "NetStream.Play.UnpublishNotify"
	codePublishUnauthorized rtmpmsg.NetStreamOnStatusCode = "NetStream.Publish.Unauthorized"
)

// framer is RTMP play's play.Framer. Each tag becomes one RTMP message
// on the message stream the player created: a type 0 chunk header (built
// in the framer's scratch buffer), then the tag's shared payload, cut
// into PlayChunkSize chunks with one-byte type 3 headers (five with an
// extended timestamp) between them. The payload is never copied.
type framer struct {
	msid    uint32 // the message stream played on
	name    string // the stream's name, in the statuses
	scratch []byte // chunk headers of the writev in progress
}

func newFramer(msid uint32, name string) *framer {
	return &framer{msid: msid, name: name, scratch: make([]byte, 0, 32*chunk.MaxHeader)}
}

// Head is what a player gets as soon as its play is accepted: the chunk
// size, Stream Begin, Play.Reset, Play.Start and |RtmpSampleAccess, as
// Flash Media Server, SRS and nginx-rtmp send them.
func (f *framer) Head() []byte {
	var b []byte
	b = chunk.AppendMessage(b, csidControl, msgSetChunkSize, 0, 0, binary.BigEndian.AppendUint32(nil, PlayChunkSize), PlayChunkSize)
	b = chunk.AppendMessage(b, csidControl, msgUserControl, 0, 0, userControl(eventStreamBegin, f.msid), PlayChunkSize)
	b = chunk.AppendMessage(b, csidStatus, msgCommand, 0, f.msid, onStatus(codePlayReset, "Playing and resetting "+f.name+"."), PlayChunkSize)
	b = chunk.AppendMessage(b, csidStatus, msgCommand, 0, f.msid, onStatus(rtmpmsg.NetStreamOnStatusCodePlayStart, "Started playing "+f.name+"."), PlayChunkSize)
	b = chunk.AppendMessage(b, csidStatus, msgData, 0, f.msid, sampleAccess(), PlayChunkSize)
	return b
}

// Start is nil: RTMP has no stream header; onMetaData and the sequence
// headers come as the first tags.
func (f *framer) Start(_, _ bool) []byte { return nil }

// Append frames t as one message: its header in scratch, its payload
// shared.
func (f *framer) Append(iov net.Buffers, t *stream.Tag) net.Buffers {
	csid := csidVideo
	switch t.Type {
	case flv.TagAudio:
		csid = csidAudio
	case flv.TagScript:
		csid = csidStatus
	}
	p := t.Payload()
	ts := t.Timestamp
	at := len(f.scratch)
	f.scratch = chunk.AppendHeader(f.scratch, csid, t.Type, ts, f.msid, len(p))
	n := min(len(p), PlayChunkSize)
	iov = append(iov, f.scratch[at:len(f.scratch):len(f.scratch)], p[:n])
	for p = p[n:]; len(p) > 0; p = p[n:] {
		at = len(f.scratch)
		f.scratch = chunk.AppendContinuation(f.scratch, csid, ts)
		n = min(len(p), PlayChunkSize)
		iov = append(iov, f.scratch[at:len(f.scratch):len(f.scratch)], p[:n])
	}
	return iov
}

// Flushed reuses the scratch buffer; a buffer that grew for a long batch
// stays.
func (f *framer) Flushed() { f.scratch = f.scratch[:0] }

// End tells the player that the stream ended: Stream EOF,
// Play.UnpublishNotify and Play.Stop; the session then closes the
// connection.
func (f *framer) End() []byte {
	var b []byte
	b = chunk.AppendMessage(b, csidControl, msgUserControl, 0, 0, userControl(eventStreamEOF, f.msid), PlayChunkSize)
	b = chunk.AppendMessage(b, csidStatus, msgCommand, 0, f.msid, onStatus(codePlayUnpublishNotify, f.name+" is now unpublished."), PlayChunkSize)
	b = chunk.AppendMessage(b, csidStatus, msgCommand, 0, f.msid, onStatus(codePlayStop, "Stopped playing "+f.name+"."), PlayChunkSize)
	return b
}

func userControl(event uint16, msid uint32) []byte {
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint16(nil, event), msid)
}

// onStatus is the payload of an AMF0 onStatus command.
func onStatus(code rtmpmsg.NetStreamOnStatusCode, description string) []byte {
	level := rtmpmsg.NetStreamOnStatusLevelStatus
	if code == rtmpmsg.NetStreamOnStatusCodePlayFailed || code == codePlayStreamNotFound {
		level = rtmpmsg.NetStreamOnStatusLevelError
	}
	return chunk.Command("onStatus", 0, &rtmpmsg.NetStreamOnStatus{InfoObject: rtmpmsg.NetStreamOnStatusInfoObject{
		Level: level, Code: code, Description: description,
	}})
}

// sampleAccess is the |RtmpSampleAccess data message (audio and video
// sample access allowed) that Flash players expect before media.
func sampleAccess() []byte {
	var out bytes.Buffer
	if err := rtmpmsg.NewEncoder(&out).Encode(&rtmpmsg.DataMessage{
		Name: "|RtmpSampleAccess", Encoding: rtmpmsg.EncodingTypeAMF0,
		Body: bytes.NewReader([]byte{0x01, 0x01, 0x01, 0x01}), // AMF0 true, true
	}); err != nil {
		panic(err)
	}
	return out.Bytes()
}
