package hwbench

import (
	"sync/atomic"
	"time"
)

// Counter indexes the per-shard counters.
type Counter int

// Counters kept by players and publishers.
const (
	CBytes            Counter = iota // HTTP body bytes received (chunk framing included); RTMP: bytes read from the connection
	CTags                            // FLV tags parsed
	CVideoFrames                     // video tags that are coded frames
	CAudioFrames                     // audio tags that are not sequence headers
	CKeyframes                       // coded video key frames
	CStamped                         // stamped video frames sent after the server answered the player
	CCached                          // stamped frames sent before that (the join burst: GOP cache)
	CStalls                          // gaps between frames longer than the stall threshold
	CStallMicros                     // total length of those gaps
	CConnects                        // responses with status 200, RTMP NetStream.Play.Start
	CChurnCloses                     // connections closed on purpose (-churn)
	CBackwards                       // tags whose timestamp went back (also an error)
	CPublishedTags                   // tags sent by hwbench's publishers
	CPublishedBytes                  // payload bytes sent by hwbench's publishers
	CPublishLagMicros                // worst lateness of a publisher send vs its schedule
	numCounters
)

// ErrorKind classifies player and publisher errors.
type ErrorKind int

// Error kinds, in report order.
const (
	EDial         ErrorKind = iota // TCP connect failed or timed out
	EHTTPStatus                    // response status other than 200
	EPlayRefused                   // RTMP: NetStream.Play.StreamNotFound, Play.Failed, an _error to connect or createStream
	EBadResponse                   // unreadable HTTP response head or chunking; RTMP handshake or set-up failed
	EBadFLVHeader                  // FLV file header wrong
	EBadPrevSize                   // PreviousTagSize does not match the tag
	EBadTag                        // unknown tag type or absurd size; RTMP: malformed chunk or message
	EBackwards                     // timestamp lower than the previous one of its track
	ETruncated                     // stream ended inside a tag
	EEnded                         // server ended the stream between tags
	ERead                          // read error (reset...)
	EIdle                          // no byte for -timeout
	ENoKeyframe                    // first video frame was not a keyframe
	EPublish                       // a publisher failed (connect, publish, write)
	EHLSSync                       // an HLS client lost the live edge (next segment missing, too far behind)
	numErrorKinds
)

var errorKindNames = [numErrorKinds]string{
	"dial", "http_status", "play_refused", "bad_response", "bad_flv_header", "bad_prev_tag_size",
	"bad_tag", "ts_backwards", "truncated", "ended", "read", "idle_timeout",
	"first_frame_not_key", "publish", "hls_sync",
}

// String returns the kind's name as used in JSON.
func (k ErrorKind) String() string { return errorKindNames[k] }

// shard holds the statistics of a group of players; everything is atomic
// so that the progress line can read while players write.
type shard struct {
	latency Histogram // publisher send → player receive, stamped frames
	ttfb    Histogram // dial start → first response byte
	ttff    Histogram // dial start → first complete video keyframe
	gap     Histogram // gaps between consecutive video frames of a player
	counter [numCounters]atomic.Uint64
	errs    [numErrorKinds]atomic.Uint64
	_       [64]byte // keep neighbouring shards' hot counters apart
}

// numShards spreads players' atomic updates over several cache lines.
const numShards = 16

// stats is the set of shards of one run.
type stats struct {
	shards [numShards]shard
}

func (s *stats) shard(i int) *shard { return &s.shards[i%numShards] }

// counters is a copy of every counter and error count.
type counters struct {
	c [numCounters]uint64
	e [numErrorKinds]uint64
}

func (s *stats) counters() counters {
	var c counters
	for i := range s.shards {
		sh := &s.shards[i]
		for k := range sh.counter {
			if Counter(k) == CPublishLagMicros {
				c.c[k] = max(c.c[k], sh.counter[k].Load())
				continue
			}
			c.c[k] += sh.counter[k].Load()
		}
		for k := range sh.errs {
			c.e[k] += sh.errs[k].Load()
		}
	}
	return c
}

func (c counters) sub(earlier counters) counters {
	d := c
	for k := range d.c {
		if Counter(k) != CPublishLagMicros {
			d.c[k] -= earlier.c[k]
		}
	}
	for k := range d.e {
		d.e[k] -= earlier.e[k]
	}
	return d
}

func (c counters) errors() uint64 {
	var n uint64
	for _, v := range c.e {
		n += v
	}
	return n
}

// hist selects one histogram of every shard.
func (s *stats) snapshot(which func(*shard) *Histogram) *HistSnapshot {
	var hs HistSnapshot
	for i := range s.shards {
		which(&s.shards[i]).AddTo(&hs)
	}
	return &hs
}

func latencyOf(s *shard) *Histogram { return &s.latency }
func ttfbOf(s *shard) *Histogram    { return &s.ttfb }
func ttffOf(s *shard) *Histogram    { return &s.ttff }
func gapOf(s *shard) *Histogram     { return &s.gap }

// storeMax raises a max-type counter to v.
func storeMax(c *atomic.Uint64, v uint64) {
	for {
		old := c.Load()
		if v <= old || c.CompareAndSwap(old, v) {
			return
		}
	}
}

// micros converts a duration to whole microseconds for counters.
func micros(d time.Duration) uint64 { return uint64(max(d, 0) / time.Microsecond) }
