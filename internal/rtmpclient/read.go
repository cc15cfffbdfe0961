package rtmpclient

import (
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strings"

	"github.com/yutopp/go-rtmp/message"

	"github.com/headwater-media/headwater/pkg/flv"
)

// errAckTrap is the one panic of go-rtmp's read path that read turns into
// an error (see read).
var errAckTrap = errors.New("rtmp: go-rtmp's acknowledgement counter hit its threshold (a chunk ended at byte 2^32-1 mod 2^32); message lost")

// onMetaData is the AMF0 string "onMetaData", how an FLV script tag body starts.
var onMetaData = []byte{0x02, 0x00, 0x0a, 'o', 'n', 'M', 'e', 't', 'a', 'D', 'a', 't', 'a'}

// lener is a payload that knows its size (go-rtmp's *ChunkStreamReader).
type lener interface{ Len() int }

// next returns the next tag, if the next message (or sub-message of an
// aggregate) is one.
func (p *Player) next() (flv.Tag, bool, error) {
	if len(p.agg) > 0 {
		return p.nextSub()
	}
	return p.step()
}

// read reads the next message into p.cmsg with go-rtmp.
//
// go-rtmp's ChunkStreamer acknowledges what it read through a callback that
// only go-rtmp's own Conn can set (controlStreamWriter is unexported): used
// on its own, it calls a nil function, and panics, once the bytes it read
// since its last acknowledgement reach half the peer's window (after 1 GiB
// with its default window). The client gives it the window -2 instead,
// whose threshold, uint32(-2/2), is 2^32-1, and acknowledges by itself
// (ack). go-rtmp's counter is a uint32 that only an acknowledgement
// resets, so it is compared with that threshold after every chunk and
// equals it only when a chunk ends exactly at byte 2^32-1 of some 4 GiB
// span. read turns that panic, and only that one, into errAckTrap; the
// message that chunk completed is lost inside go-rtmp, so the play ends.
func (p *Player) read() (ts uint32, err error) {
	defer func() {
		if r := recover(); r != nil {
			if uint32(p.consumed()-p.csBase) != p.ackTrapAt {
				panic(r)
			}
			err = errAckTrap
		}
	}()
	_, ts, err = p.cs.Read(&p.cmsg)
	return ts, err
}

// unknownUserControl reports go-rtmp's decoder refusing a User Control
// event type it does not know (such as FMS's BufferEmpty 31 and
// BufferReady 32). The message has been read whole by then, so reading can
// go on. go-rtmp says so only in the error's text (vendored, pinned;
// TestUnknownUserControlEventIsIgnored covers it).
func unknownUserControl(err error) bool {
	return strings.Contains(err.Error(), "Unsupported type for UserCtrl")
}

// commandWithoutTransaction reports go-rtmp's decoder refusing a command
// that has no transaction ID, such as ffmpeg's onFCPublish (its name
// alone) when it listens (-listen 1) for a publisher. The message has been
// read whole by then, and the client needs none of those: reading goes
// on. go-rtmp says so only in the error's text (vendored, pinned;
// TestCommandWithoutTransactionIsIgnored covers it).
func commandWithoutTransaction(err error) bool {
	return strings.Contains(err.Error(), "Failed to decode transactionID")
}

// step reads one message and handles it; it returns a tag for media and
// metadata.
func (p *Player) step() (flv.Tag, bool, error) {
	if err := p.writerErr(); err != nil {
		return flv.Tag{}, false, err
	}
	ts, err := p.read()
	if err != nil {
		if p.dc.readErr == nil && (unknownUserControl(err) || commandWithoutTransaction(err)) {
			return flv.Tag{}, false, nil
		}
		if p.ctx.Err() != nil {
			return flv.Tag{}, false, errClosed
		}
		return flv.Tag{}, false, fmt.Errorf("rtmp: read: %w", err)
	}
	if err := p.ack(); err != nil {
		return flv.Tag{}, false, err
	}
	switch m := p.cmsg.Message.(type) {
	case *message.AudioMessage:
		return p.media(flv.TagAudio, ts, m.Payload)
	case *message.VideoMessage:
		return p.media(flv.TagVideo, ts, m.Payload)
	case *message.DataMessage:
		return p.onData(ts, m)
	case *message.AggregateMessage:
		p.agg, p.aggBase, p.aggStarted = m.Data, ts, false
		return flv.Tag{}, false, nil
	case *message.CommandMessage:
		return flv.Tag{}, false, p.onCommand(m)
	case *message.UserCtrl:
		return flv.Tag{}, false, p.onUserControl(m.Event)
	case *message.SetChunkSize:
		if err := p.cs.PeerState().SetChunkSize(m.ChunkSize); err != nil {
			return flv.Tag{}, false, fmt.Errorf("rtmp: set chunk size: %w", err)
		}
	case *message.WinAckSize:
		if m.Size > 0 {
			p.ackWindow = uint32(m.Size)
		}
	}
	// Acknowledgements, Set Peer Bandwidth, Abort, unknown types: nothing to do.
	return flv.Tag{}, false, nil
}

// ack acknowledges the bytes received once half the server's window has
// come since the last acknowledgement (go-rtmp's server does the same;
// a server may stop sending at a full window).
func (p *Player) ack() error {
	if p.ackWindow == 0 {
		return nil
	}
	n := p.dc.n.Load()
	if n-p.lastAck < uint64(p.ackWindow/2) {
		return nil
	}
	p.lastAck = n
	return p.write(csidControl, 0, &message.Ack{SequenceNumber: uint32(n)})
}

// grow returns p.buf resized to n bytes, its content undefined.
func (p *Player) grow(n int) []byte {
	if cap(p.buf) < n {
		p.buf = make([]byte, n)
	}
	return p.buf[:n]
}

// media copies an audio or video payload into p.buf.
func (p *Player) media(typ uint8, ts uint32, r io.Reader) (flv.Tag, bool, error) {
	l, ok := r.(lener)
	if !ok {
		return flv.Tag{}, false, fmt.Errorf("rtmp: payload reader %T has no Len", r)
	}
	b := p.grow(l.Len())
	if _, err := io.ReadFull(r, b); err != nil {
		return flv.Tag{}, false, fmt.Errorf("rtmp: read payload: %w", err)
	}
	return flv.Tag{Type: typ, Timestamp: ts, Data: b}, true, nil
}

// onData turns @setDataFrame and onMetaData into a script tag and handles
// onPlayStatus; it ignores other data messages (|RtmpSampleAccess, ...).
func (p *Player) onData(ts uint32, m *message.DataMessage) (flv.Tag, bool, error) {
	l, ok := m.Body.(lener)
	if !ok {
		return flv.Tag{}, false, fmt.Errorf("rtmp: data body reader %T has no Len", m.Body)
	}
	off := 0 // bytes of the name to put back in front of the body
	switch m.Name {
	case "@setDataFrame": // its body starts with "onMetaData"
	case "onMetaData":
		off = len(onMetaData)
	case "onPlayStatus": // FMS: NetStream.Play.Complete, Play.Switch
		vals, err := decodeValues(m.Body)
		if err != nil {
			return flv.Tag{}, false, err
		}
		return flv.Tag{}, false, p.onStatus(infoOf(vals))
	default:
		return flv.Tag{}, false, nil
	}
	b := p.grow(off + l.Len())
	copy(b, onMetaData[:off])
	if _, err := io.ReadFull(m.Body, b[off:]); err != nil {
		return flv.Tag{}, false, fmt.Errorf("rtmp: read data: %w", err)
	}
	return flv.Tag{Type: flv.TagScript, Timestamp: ts, Data: b}, true, nil
}

// decodeValues decodes the AMF0 values of a command or status body, at
// most four, stopping at the first it cannot decode.
func decodeValues(body io.Reader) ([]any, error) {
	if l, ok := body.(lener); ok && l.Len() > maxCommandSize {
		return nil, fmt.Errorf("rtmp: command body of %d bytes, over %d", l.Len(), maxCommandSize)
	}
	d := message.NewAMFDecoder(body, message.EncodingTypeAMF0)
	var vals []any
	for len(vals) < 4 {
		var v any
		if err := d.Decode(&v); err != nil {
			break
		}
		vals = append(vals, v)
	}
	return vals, nil
}

// status is an info object's code, level and description.
type status struct{ code, level, description string }

// String is the code and the server's description.
func (s status) String() string {
	switch {
	case s.description == "":
		return s.code
	case s.code == "":
		return s.description
	}
	return s.code + ": " + s.description
}

var mapType = reflect.TypeFor[map[string]any]()

// infoOf finds the info object among a command's values: the first object
// with a code or a level (connect's _result has a properties object
// before it; onStatus, a null command object).
func infoOf(vals []any) status {
	for _, v := range vals {
		m, ok := v.(map[string]any) // an AMF0 object
		if !ok {
			// An ECMA array decodes to go-amf0's ECMAArray, a map[string]any.
			rv := reflect.ValueOf(v)
			if rv.Kind() != reflect.Map || !rv.Type().ConvertibleTo(mapType) {
				continue
			}
			m = rv.Convert(mapType).Interface().(map[string]any)
		}
		str := func(k string) string { s, _ := m[k].(string); return s }
		if s := (status{code: str("code"), level: str("level"), description: str("description")}); s.code != "" || s.level != "" {
			return s
		}
	}
	return status{}
}

// onCommand handles the answers to connect and createStream, onStatus,
// close and deleteStream; other commands (onBWDone, _onbwcheck,
// onFCSubscribe, FCUnpublish, ...) are ignored.
func (p *Player) onCommand(m *message.CommandMessage) error {
	switch m.CommandName {
	case "_result", "_error", "onStatus":
	case "close", "deleteStream":
		// ffmpeg as a server (-listen 1) ends a stream with the
		// publisher's FCUnpublish and deleteStream, then hangs up.
		if p.state != stateStarted {
			return fmt.Errorf("%w: the server sent %s", p.refused(), m.CommandName)
		}
		return fmt.Errorf("%w: the server sent %s", ErrStreamEnded, m.CommandName)
	default:
		return nil
	}
	vals, err := decodeValues(m.Body)
	if err != nil {
		return err
	}
	switch m.CommandName {
	case "_result":
		switch {
		case m.TransactionID == txConnect && p.state == stateConnecting:
			if s := infoOf(vals); s.code != "" && s.code != string(message.NetConnectionConnectCodeSuccess) {
				return fmt.Errorf("%w: connect: %s", p.refused(), s)
			}
			p.state = stateCreating
			return p.sendCreateStream()
		case m.TransactionID == txCreateStream && p.state == stateCreating:
			id, ok := streamIDOf(vals)
			if !ok {
				return fmt.Errorf("%w: createStream: no stream ID in the result %v", p.refused(), vals)
			}
			p.streamID, p.state = id, statePlaying
			if p.publish {
				return p.sendPublish()
			}
			return p.sendPlay()
		}
	case "_error":
		switch {
		case m.TransactionID == txConnect && p.state == stateConnecting:
			return fmt.Errorf("%w: connect: %s", p.refused(), infoOf(vals))
		case m.TransactionID == txCreateStream && p.state == stateCreating:
			return fmt.Errorf("%w: createStream: %s", p.refused(), infoOf(vals))
		}
	case "onStatus":
		return p.onStatus(infoOf(vals))
	}
	return nil
}

// refused is the error of a refused set-up: ErrPublishFailed or ErrPlayFailed.
func (p *Player) refused() error {
	if p.publish {
		return ErrPublishFailed
	}
	return ErrPlayFailed
}

// streamIDOf is createStream's result: a number after the command object.
func streamIDOf(vals []any) (uint32, bool) {
	if len(vals) < 2 {
		return 0, false
	}
	f, ok := vals[1].(float64)
	if !ok || f < 0 || f > math.MaxUint32 || f != math.Trunc(f) {
		return 0, false
	}
	return uint32(f), true
}

// onStatus handles a NetStream status.
func (p *Player) onStatus(s status) error {
	if p.publish {
		return p.onPublishStatus(s)
	}
	switch s.code {
	case "NetStream.Play.Start":
		if p.state == statePlaying {
			p.state = stateStarted
		}
		return nil
	case "NetStream.Play.StreamNotFound":
		return fmt.Errorf("%w: %s", ErrStreamNotFound, s)
	case "NetStream.Play.UnpublishNotify", "NetStream.Play.Stop", "NetStream.Play.Complete":
		return fmt.Errorf("%w: %s", ErrStreamEnded, s)
	case "NetStream.Play.Failed":
		return fmt.Errorf("%w: %s", ErrPlayFailed, s)
	}
	if s.level == "error" {
		return fmt.Errorf("%w: %s", ErrPlayFailed, s)
	}
	return nil // Play.Reset, Play.PublishNotify, Data.Start, ...
}

// onUserControl answers pings and ends on StreamEOF of the playing stream.
func (p *Player) onUserControl(ev message.UserCtrlEvent) error {
	switch e := ev.(type) {
	case *message.UserCtrlEventPingRequest:
		return p.write(csidControl, 0, &message.UserCtrl{Event: &message.UserCtrlEventPingResponse{Timestamp: e.Timestamp}})
	case *message.UserCtrlEventStreamEOF:
		if p.state == stateStarted && e.StreamID == p.streamID {
			return fmt.Errorf("%w: StreamEOF", ErrStreamEnded)
		}
	}
	return nil // StreamBegin, StreamDry, StreamIsRecorded, ...
}

// Aggregate sub-message layout: an FLV tag header, the payload, a back pointer.
const (
	aggHeaderSize  = 11
	aggBackPointer = 4
)

// nextSub returns the next sub-message of the aggregate being split when
// it is a tag. A sub-message's timestamp is the aggregate's plus its offset
// from the first sub-message's (wrapping, as FMS and ffmpeg do); its stream
// ID and back pointer are not checked, trailing bytes shorter than a header
// are ignored, and nested aggregates and other types are skipped.
func (p *Player) nextSub() (flv.Tag, bool, error) {
	for len(p.agg) >= aggHeaderSize {
		h := p.agg
		typ := h[0]
		size := int(h[1])<<16 | int(h[2])<<8 | int(h[3])
		ts := uint32(h[7])<<24 | uint32(h[4])<<16 | uint32(h[5])<<8 | uint32(h[6])
		if size > len(h)-aggHeaderSize {
			p.agg = nil
			return flv.Tag{}, false, fmt.Errorf("%w: a sub-message of %d bytes in %d", errMalformedAggregate, size, len(h)-aggHeaderSize)
		}
		end := aggHeaderSize + size
		payload := h[aggHeaderSize:end:end]
		p.agg = h[min(end+aggBackPointer, len(h)):]
		if !p.aggStarted {
			p.aggFirst, p.aggStarted = ts, true
		}
		ts = p.aggBase + (ts - p.aggFirst)
		switch typ {
		case flv.TagAudio, flv.TagVideo:
			return flv.Tag{Type: typ, Timestamp: ts, Data: payload}, true, nil
		case flv.TagScript:
			if data, ok := scriptBody(payload); ok {
				return flv.Tag{Type: flv.TagScript, Timestamp: ts, Data: data}, true, nil
			}
		}
	}
	p.agg = nil
	return flv.Tag{}, false, nil
}

// scriptBody is the script tag body of a raw AMF0 data message payload:
// the payload itself for onMetaData, the rest after the name for
// @setDataFrame.
func scriptBody(b []byte) ([]byte, bool) {
	if len(b) < 3 || b[0] != 0x02 {
		return nil, false
	}
	n := 3 + (int(b[1])<<8 | int(b[2]))
	if n > len(b) {
		return nil, false
	}
	switch string(b[3:n]) {
	case "onMetaData":
		return b, true
	case "@setDataFrame":
		return b[n:], true
	}
	return nil, false
}

// onPublishStatus handles a NetStream status of a publish: Publish.Start
// starts it; BadName, Failed, Unauthorized (or any error level) refuse
// it, and after the start they end it (ErrPublishFailed with the code);
// an unpublish or a stop ends it (ErrStreamEnded).
func (p *Player) onPublishStatus(s status) error {
	switch s.code {
	case "NetStream.Publish.Start":
		if p.state == statePlaying {
			p.state = stateStarted
		}
		return nil
	case "NetStream.Unpublish.Success", "NetStream.Play.Stop", "NetStream.Play.UnpublishNotify":
		return fmt.Errorf("%w: %s", ErrStreamEnded, s)
	case "NetStream.Publish.BadName", "NetStream.Publish.Failed", "NetStream.Publish.Unauthorized":
		return fmt.Errorf("%w: %s", ErrPublishFailed, s)
	}
	if s.level == "error" {
		return fmt.Errorf("%w: %s", ErrPublishFailed, s)
	}
	return nil // Publish.Idle, Data.Start, ...
}
