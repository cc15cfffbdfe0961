// Package stream holds one live stream in memory: its metadata, sequence
// headers and GOP cache, and the fan-out of every tag to its subscribers.
//
// Data flows one way: the publisher calls Write; Write turns the message into
// FLV tag bytes once and hands the same *Tag to every Subscriber's bounded
// queue without blocking; each subscriber's writer drains its own queue with
// Next. Nothing a subscriber does can block Write.
//
// Locks: Stream.mu is taken before Subscriber.mu, never the other way round,
// and neither is held across I/O or a blocking channel operation.
package stream

import (
	"bytes"
	"errors"
	"sync/atomic"
	"time"

	"github.com/headwater-media/headwater/internal/flv"
	"github.com/headwater-media/headwater/internal/lockcheck"
)

// Errors returned by Stream and Subscriber.
var (
	// ErrEnded is returned by Write after End, and by Next once an ended
	// stream's queue has been drained.
	ErrEnded = errors.New("stream ended")
	// ErrClosed is returned by Next after the subscriber was removed.
	ErrClosed = errors.New("subscriber closed")
	// ErrBadTag is returned by Write for a message that is not a valid
	// audio, video or script tag; the stream carries on.
	ErrBadTag = errors.New("bad tag")
)

// Config bounds the memory a stream and its subscribers may hold.
type Config struct {
	// GOPCacheBytes caps the cached GOP; a longer GOP is not cached and
	// players joining during it wait for the next keyframe. 0 disables the cache.
	GOPCacheBytes int
	// QueueBytes caps the bytes queued for one subscriber.
	QueueBytes int
	// QueueDuration caps the media duration queued for one subscriber.
	QueueDuration time.Duration
	// Totals, if set, receives server-wide byte and drop counts.
	Totals *Totals
}

// DefaultConfig returns the bounds used when the operator sets none.
func DefaultConfig() Config {
	return Config{
		GOPCacheBytes: 16 << 20,
		QueueBytes:    24 << 20,
		QueueDuration: 10 * time.Second,
	}
}

// Totals are server-wide counters, updated with atomics on the hot path.
type Totals struct {
	BytesIn       atomic.Uint64
	BytesOut      atomic.Uint64
	FramesDropped atomic.Uint64
}

// readyFallbackTags is how many media tags make a stream ready even when its
// metadata announced a track that never sent anything.
const readyFallbackTags = 64

const (
	trackAudio = 0
	trackVideo = 1
)

// Stream is one live stream. Create it with New; the publisher calls Write
// and End, players call Subscribe and Unsubscribe.
type Stream struct {
	cfg Config

	// mu guards every field below it. Lock order: Stream.mu, then
	// Subscriber.mu. Never held across I/O or a blocking send.
	mu        lockcheck.Mutex
	meta      *Tag
	videoSeq  *Tag
	audioSeq  *Tag
	gop       []*Tag // from the last video keyframe; nil when not cacheable
	gopBytes  int
	metaVideo bool // onMetaData announced a video track
	metaAudio bool // onMetaData announced an audio track
	seen      [2]bool
	lastTS    [2]uint32
	mediaTags int
	ready     bool // tracks are known: subscribers may start
	subs      map[*Subscriber]struct{}
	slab      []Tag // unused Tags of the current slab (newTagLocked)
	ended     bool
	freed     bool
	media     mediaState // codecs, sizes and rates, for Info (info.go)

	// out
	bytesIn       atomic.Uint64
	framesDropped atomic.Uint64
}

// New returns an empty live stream.
func New(cfg Config) *Stream {
	return &Stream{cfg: cfg, subs: make(map[*Subscriber]struct{})}
}

// BytesIn returns the bytes of media accepted so far.
func (s *Stream) BytesIn() uint64 { return s.bytesIn.Load() }

// FramesDropped returns the frames dropped for slow subscribers so far.
func (s *Stream) FramesDropped() uint64 { return s.framesDropped.Load() }

// Tracks reports which tracks the stream carries so far.
func (s *Stream) Tracks() (audio, video bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hasAudioLocked(), s.hasVideoLocked()
}

func (s *Stream) hasAudioLocked() bool { return s.audioSeq != nil || s.seen[trackAudio] }
func (s *Stream) hasVideoLocked() bool { return s.videoSeq != nil || s.seen[trackVideo] }

// Write accepts one RTMP message as a complete FLV tag buffer: data must be
// flv.TagSize(n) bytes long with the n-byte payload already in place at
// data[flv.TagHeaderSize:]. Write fills in the header and the trailing
// PreviousTagSize and takes ownership of data. It never blocks on subscribers.
func (s *Stream) Write(typ uint8, timestamp uint32, data []byte) error {
	if len(data) < flv.TagSize(0) {
		return ErrBadTag
	}
	n := len(data) - flv.TagSize(0)
	payload := data[flv.TagHeaderSize : flv.TagHeaderSize+n]
	var (
		track            = -1
		keyframe, header bool
	)
	switch typ {
	case flv.TagVideo:
		vi, err := flv.ParseVideo(payload)
		if err != nil && !errors.Is(err, flv.ErrUnsupported) {
			return errors.Join(ErrBadTag, err)
		}
		// A codec or packet type we do not know is relayed as a plain
		// frame; an end-of-sequence tag carries frame type 1 but is no
		// place to start playing.
		track = trackVideo
		keyframe = err == nil && vi.Keyframe && !vi.SequenceHeader && !vi.EndOfSequence
		header = err == nil && vi.SequenceHeader
	case flv.TagAudio:
		ai, err := flv.ParseAudio(payload)
		if err != nil && !errors.Is(err, flv.ErrUnsupported) {
			return errors.Join(ErrBadTag, err)
		}
		track = trackAudio
		header = err == nil && ai.SequenceHeader
	case flv.TagScript:
		header = true
	default:
		return ErrBadTag
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return ErrEnded
	}
	if track >= 0 {
		// Timestamps never go backwards within a track.
		if s.seen[track] && timestamp < s.lastTS[track] {
			timestamp = s.lastTS[track]
		}
		s.lastTS[track] = timestamp
		s.seen[track] = true
	}
	tag := s.newTagLocked(header)
	*tag = Tag{Type: typ, Timestamp: timestamp, Keyframe: keyframe, Header: header, Data: data}
	flv.PutTagHeader(data, typ, timestamp, n)
	flv.PutPrevTagSize(data[flv.TagHeaderSize+n:], n)
	s.bytesIn.Add(uint64(len(data)))
	if t := s.cfg.Totals; t != nil {
		t.BytesIn.Add(uint64(len(data)))
	}
	s.media.noteLocked(tag, payload, time.Now())

	switch {
	case typ == flv.TagScript:
		s.meta = tag
		s.metaVideo = bytes.Contains(payload, []byte("\x00\x0cvideocodecid"))
		s.metaAudio = bytes.Contains(payload, []byte("\x00\x0caudiocodecid"))
	case tag.Header && track == trackVideo:
		s.videoSeq = tag
	case tag.Header:
		s.audioSeq = tag
	default:
		s.mediaTags++
		s.cacheLocked(tag)
	}

	if !s.ready {
		s.ready = s.readyLocked()
		if !s.ready {
			return nil
		}
		// Tracks are known now: start everyone who was waiting. This tag
		// is part of what they get (cached GOP or headers).
		for sub := range s.subs {
			s.startLocked(sub)
		}
		return nil
	}
	for sub := range s.subs {
		sub.push(tag)
	}
	return nil
}

// tagSlab is how many media Tags Stream.Write allocates at once.
const tagSlab = 32

// newTagLocked returns a Tag to fill. Media tags come out of a slab of
// tagSlab, so that ingest costs one allocation per tag (the payload
// buffer, made by the publisher) plus 1/tagSlab. A slab lives as long as
// any of its tags is referenced, so a tag pins up to tagSlab-1 neighbours'
// bytes; the only long-lived media references are the cached GOP's, whose
// keyframe pins at most the tagSlab-1 tags before it, for one GOP. Headers,
// kept for the stream's whole life, are allocated alone.
func (s *Stream) newTagLocked(header bool) *Tag {
	if header {
		return new(Tag)
	}
	if len(s.slab) == 0 {
		s.slab = make([]Tag, tagSlab)
	}
	t := &s.slab[0]
	s.slab = s.slab[1:]
	return t
}

// readyLocked decides whether the tracks are known well enough to write an
// FLV header whose flags match the stream.
func (s *Stream) readyLocked() bool {
	a, v := s.hasAudioLocked(), s.hasVideoLocked()
	if !a && !v {
		return false
	}
	if s.mediaTags >= readyFallbackTags {
		return true
	}
	if s.meta != nil && ((s.metaVideo && !v) || (s.metaAudio && !a)) {
		return false
	}
	// Wait for the first media frame so that headers and GOP go out together.
	return s.mediaTags > 0
}

// cacheLocked keeps the GOP that starts at the last video keyframe.
func (s *Stream) cacheLocked(tag *Tag) {
	if s.cfg.GOPCacheBytes <= 0 {
		return
	}
	if tag.Keyframe {
		clear(s.gop)
		if len(tag.Data) > s.cfg.GOPCacheBytes {
			s.gop, s.gopBytes = nil, 0
			return
		}
		s.gop = append(s.gop[:0], tag)
		s.gopBytes = len(tag.Data)
		return
	}
	if s.gop == nil {
		return
	}
	if s.gopBytes+len(tag.Data) > s.cfg.GOPCacheBytes {
		s.gop, s.gopBytes = nil, 0 // too long to cache: joiners wait for the next keyframe
		return
	}
	s.gop = append(s.gop, tag)
	s.gopBytes += len(tag.Data)
}

// startLocked gives a subscriber its join batch: metadata, sequence headers,
// then the cached GOP from its keyframe.
func (s *Stream) startLocked(sub *Subscriber) {
	audio, video := s.hasAudioLocked(), s.hasVideoLocked()
	join := make([]*Tag, 0, 3+len(s.gop))
	for _, t := range []*Tag{s.meta, s.videoSeq, s.audioSeq} {
		if t != nil {
			join = append(join, t)
		}
	}
	join = append(join, s.gop...)
	// Without a cached GOP a video subscriber must wait for a keyframe.
	sub.start(audio, video, join, video && len(s.gop) == 0)
}

// Subscribe adds a subscriber. It receives nothing until the stream is
// ready; then the join batch; then every tag live. Subscribing to an ended
// stream returns a subscriber whose Next reports ErrEnded.
func (s *Stream) Subscribe() *Subscriber {
	sub := newSubscriber(s)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		sub.end()
		return sub
	}
	s.subs[sub] = struct{}{}
	if s.ready {
		s.startLocked(sub)
	}
	return sub
}

// Unsubscribe removes sub and wakes its writer with ErrClosed. It is
// idempotent.
func (s *Stream) Unsubscribe(sub *Subscriber) {
	s.mu.Lock()
	delete(s.subs, sub)
	s.mu.Unlock()
	sub.close()
}

// End marks the stream as ended: further writes fail and every subscriber
// gets what is already queued, then ErrEnded. It is idempotent.
func (s *Stream) End() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	s.ended = true
	for sub := range s.subs {
		sub.end()
	}
}

// Free drops the caches once nobody can use the stream any more. It implies
// End and is idempotent; a freed stream stays safe to call.
func (s *Stream) Free() {
	s.End()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.freed = true
	s.meta, s.videoSeq, s.audioSeq = nil, nil, nil
	s.gop, s.gopBytes = nil, 0
	s.slab = nil
	clear(s.subs)
}

// Subscribers returns the number of current subscribers.
func (s *Stream) Subscribers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.subs)
}

func (s *Stream) dropped(n int) {
	s.framesDropped.Add(uint64(n))
	if t := s.cfg.Totals; t != nil {
		t.FramesDropped.Add(uint64(n))
	}
}
