package stream

import (
	"time"

	"github.com/headwater-media/headwater/pkg/flv"
)

// Tag is one media message, encoded once as a complete FLV tag (header,
// payload, PreviousTagSize) and shared read-only by every subscriber.
// Nothing may modify a Tag after Stream.Write has accepted it.
type Tag struct {
	// Type is flv.TagAudio, flv.TagVideo or flv.TagScript.
	Type uint8
	// Timestamp is the tag's timestamp in ms after repair (see trackClock):
	// per track it never goes backwards and steps by at most
	// Config.MaxTSJump.
	Timestamp uint32
	// Keyframe is set on video key frames.
	Keyframe bool
	// Header is set on metadata and sequence headers: they are never dropped.
	Header bool
	// Data is the whole tag as written to players.
	Data []byte

	arrival time.Duration // when Write accepted it, since Stream.epoch
}

// Payload returns the tag body (the RTMP message payload).
func (t *Tag) Payload() []byte {
	return t.Data[flv.TagHeaderSize : len(t.Data)-flv.PrevTagSizeLen]
}
