// Package chunk writes RTMP chunks (RTMP 1.0 section 5.3) for the code
// that frames its own messages instead of going through go-rtmp's writer:
// RTMP play sessions (internal/rtmp) and the push client
// (internal/rtmpclient). Headers are appended to a caller's buffer, so a
// media payload can be sent after its header without being copied.
package chunk

import (
	"bytes"
	"encoding/binary"

	rtmpmsg "github.com/yutopp/go-rtmp/message"
)

// MaxHeader is the longest chunk header: basic header (1), type 0 message
// header (11), extended timestamp (4).
const MaxHeader = 16

// AppendHeader appends a type 0 chunk header: basic header, timestamp
// (0xffffff and the extended field from 2^24 ms on), length n, type and
// message stream id (little-endian, as the spec has it).
func AppendHeader(b []byte, csid int, typ uint8, ts, msid uint32, n int) []byte {
	t24 := min(ts, 0xffffff)
	b = append(b, byte(csid), byte(t24>>16), byte(t24>>8), byte(t24), byte(n>>16), byte(n>>8), byte(n), typ)
	b = binary.LittleEndian.AppendUint32(b, msid)
	if ts >= 0xffffff {
		b = binary.BigEndian.AppendUint32(b, ts)
	}
	return b
}

// AppendContinuation appends the type 3 header of a message's next chunk,
// with the extended timestamp repeated from 2^24 ms on (as the type 0
// header had it).
func AppendContinuation(b []byte, csid int, ts uint32) []byte {
	b = append(b, 3<<6|byte(csid))
	if ts >= 0xffffff {
		b = binary.BigEndian.AppendUint32(b, ts)
	}
	return b
}

// AppendMessage appends a whole message, chunked at size, copying p (for
// the few control, command and status messages; media payloads go after
// an AppendHeader uncopied).
func AppendMessage(b []byte, csid int, typ uint8, ts, msid uint32, p []byte, size int) []byte {
	b = AppendHeader(b, csid, typ, ts, msid, len(p))
	for {
		n := min(len(p), size)
		b, p = append(b, p[:n]...), p[n:]
		if len(p) == 0 {
			return b
		}
		b = AppendContinuation(b, csid, ts)
	}
}

// Command encodes an AMF0 command message's payload: our own bodies of
// strings, numbers, null and go-rtmp's message types, which cannot fail
// to encode (it panics if one does).
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
