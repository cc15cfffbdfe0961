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

	"github.com/headwater-media/headwater/internal/lockcheck"
	"github.com/headwater-media/headwater/pkg/flv"
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
	// ErrNotWriter is returned by WriteFrom when another writer holds the
	// stream (SetWriter); the data was not taken.
	ErrNotWriter = errors.New("not the stream's writer")
)

// Config bounds the memory a stream and its subscribers may hold.
type Config struct {
	// GOPCacheBytes caps the cached GOP; a longer GOP is not cached and
	// players joining during it wait for the next keyframe. 0 disables the cache.
	GOPCacheBytes int
	// QueueBytes caps the bytes queued for one subscriber.
	QueueBytes int
	// QueueDuration caps how long the oldest media tag queued for one
	// subscriber may wait, in wall-clock time since it arrived.
	QueueDuration time.Duration
	// MaxTSJump is the largest forward step of a track's timestamps taken
	// as is; a larger one, or any step back, is repaired (clock.go).
	// 0 is DefaultMaxTSJump.
	MaxTSJump time.Duration
	// Totals, if set, receives server-wide byte and drop counts.
	Totals *Totals
}

// DefaultConfig returns the bounds used when the operator sets none.
func DefaultConfig() Config {
	return Config{
		GOPCacheBytes: 16 << 20,
		QueueBytes:    24 << 20,
		QueueDuration: 10 * time.Second,
		MaxTSJump:     DefaultMaxTSJump,
	}
}

// Totals are server-wide counters, updated with atomics on the hot path.
type Totals struct {
	BytesIn          atomic.Uint64
	BytesOut         atomic.Uint64
	FramesDropped    atomic.Uint64
	TimestampRepairs atomic.Uint64
}

// readyFallbackTags is how many media tags make a stream ready even when its
// metadata announced a track that never sent anything.
const readyFallbackTags = 64

// metaTrustTags is how many media tags a track announced in onMetaData may
// be missing for before players stop being told it exists.
const metaTrustTags = 512

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
	metaVideo bool          // onMetaData announced a video track
	metaAudio bool          // onMetaData announced an audio track
	clock     [2]trackClock // per-track timestamp repair (clock.go)
	mediaTags int
	ready     bool // tracks are known: subscribers may start
	subs      map[*Subscriber]struct{}
	slab      []Tag // unused Tags of the current slab (newTagLocked)
	ended     bool
	freed     bool
	media     mediaState // codecs, sizes and rates, for Info (info.go)
	writer    uint64     // WriteFrom's writer allowed (SetWriter); 0: anyone

	epoch   time.Time        // Tag.arrival counts from here
	now     func() time.Time // time.Now; tests replace it
	maxJump int64            // Config.MaxTSJump in ms

	// out
	bytesIn       atomic.Uint64
	framesDropped atomic.Uint64
	frames        atomic.Uint64
	repairs       atomic.Uint64
	lastFrame     atomic.Int64 // unix nanoseconds of the last coded frame
}

// New returns an empty live stream.
func New(cfg Config) *Stream {
	if cfg.MaxTSJump <= 0 {
		cfg.MaxTSJump = DefaultMaxTSJump
	}
	return &Stream{cfg: cfg, subs: make(map[*Subscriber]struct{}), epoch: time.Now(), now: time.Now,
		maxJump: max(cfg.MaxTSJump.Milliseconds(), 1)}
}

// BytesIn returns the bytes of media accepted so far.
func (s *Stream) BytesIn() uint64 { return s.bytesIn.Load() }

// FramesDropped returns the frames dropped for slow subscribers so far.
func (s *Stream) FramesDropped() uint64 { return s.framesDropped.Load() }

// Frames returns the coded audio and video frames accepted so far:
// sequence headers, metadata, malformed tags, video commands and frames
// with no media bytes do not count. A codec the parser does not know
// counts.
func (s *Stream) Frames() uint64 { return s.frames.Load() }

// TimestampRepairs returns how many frames' timestamps were repaired (a
// step back, a jump beyond Config.MaxTSJump, a wrap) so far.
func (s *Stream) TimestampRepairs() uint64 { return s.repairs.Load() }

// Tracks reports which tracks the stream carries so far.
func (s *Stream) Tracks() (audio, video bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hasAudioLocked(), s.hasVideoLocked()
}

func (s *Stream) hasAudioLocked() bool { return s.audioSeq != nil || s.clock[trackAudio].started }
func (s *Stream) hasVideoLocked() bool { return s.videoSeq != nil || s.clock[trackVideo].started }

// Write accepts one RTMP message as a complete FLV tag buffer: data must be
// flv.TagSize(n) bytes long with the n-byte payload already in place at
// data[flv.TagHeaderSize:]. Write fills in the header and the trailing
// PreviousTagSize and takes ownership of data. It never blocks on subscribers.
func (s *Stream) Write(typ uint8, timestamp uint32, data []byte) error {
	return s.WriteFrom(0, typ, timestamp, data)
}

// SetWriter makes writer (a non-zero id its publisher chose) the only one
// WriteFrom accepts from now on, in one step under the stream's lock: a
// write already past the check is in, any later one from another writer
// is refused with ErrNotWriter. A backup publisher takes a stream over
// this way. 0 accepts anyone again.
func (s *Stream) SetWriter(writer uint64) {
	s.mu.Lock()
	s.writer = writer
	s.mu.Unlock()
}

// Rebase makes each track's next coded frame follow one frame interval
// after the track's last one, whatever its timestamp, and the frames
// after it keep their spacing from there: a publisher resuming the stream
// (the registry's grace) starts a clock of its own, and players see the
// track's timeline go on. A track's headers keep taking its current time.
func (s *Stream) Rebase() {
	s.mu.Lock()
	s.clock[trackAudio].rebase, s.clock[trackVideo].rebase = true, true
	s.mu.Unlock()
}

// SinceFrame returns how long ago the last coded frame was written (as
// Frames counts them), or since New when none was.
func (s *Stream) SinceFrame(now time.Time) time.Duration {
	last := s.lastFrame.Load()
	if last == 0 {
		return now.Sub(s.epoch)
	}
	return now.Sub(time.Unix(0, last))
}

// Headers returns copies of the payloads of the stream's current
// metadata and sequence headers (nil for one it has not had), to write
// into another stream.
func (s *Stream) Headers() (meta, video, audio []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	copyOf := func(t *Tag) []byte {
		if t == nil {
			return nil
		}
		return bytes.Clone(t.Payload())
	}
	return copyOf(s.meta), copyOf(s.videoSeq), copyOf(s.audioSeq)
}

// WriteFrom is Write by writer: refused with ErrNotWriter, without
// taking data, when SetWriter gave the stream to another writer.
func (s *Stream) WriteFrom(writer uint64, typ uint8, timestamp uint32, data []byte) error {
	if len(data) < flv.TagSize(0) {
		return ErrBadTag
	}
	n := len(data) - flv.TagSize(0)
	payload := data[flv.TagHeaderSize : flv.TagHeaderSize+n]
	var (
		track                   = -1
		keyframe, header, coded bool // coded: a frame with media in it (Frames)
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
		coded = err != nil || (!header && !vi.EndOfSequence && vi.FrameType != flv.FrameCommand && len(vi.Data) > 0)
	case flv.TagAudio:
		ai, err := flv.ParseAudio(payload)
		if err != nil && !errors.Is(err, flv.ErrUnsupported) {
			return errors.Join(ErrBadTag, err)
		}
		track = trackAudio
		header = err == nil && ai.SequenceHeader
		coded = err != nil || (!header && len(ai.Data) > 0)
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
	if s.writer != 0 && writer != s.writer {
		return ErrNotWriter
	}
	timestamp = s.timestampLocked(track, header, timestamp)
	now := s.now()
	tag := s.newTagLocked(header)
	*tag = Tag{Type: typ, Timestamp: timestamp, Keyframe: keyframe, Header: header, Data: data,
		arrival: now.Sub(s.epoch)}
	flv.PutTagHeader(data, typ, timestamp, n)
	flv.PutPrevTagSize(data[flv.TagHeaderSize+n:], n)
	s.bytesIn.Add(uint64(len(data)))
	if t := s.cfg.Totals; t != nil {
		t.BytesIn.Add(uint64(len(data)))
	}
	s.media.noteLocked(tag, payload, now)

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
		if coded {
			s.frames.Add(1)
			s.lastFrame.Store(now.UnixNano())
		}
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

// timestampLocked returns the timestamp players get for a tag stamped ts
// (see trackClock). Only coded frames move a track's clock; its headers
// take its current time (the stream's, or 0 before the first frame), as
// does metadata, so that an encoder that stamps its headers 0 and its
// frames hours later (ffmpeg -output_ts_offset) is not taken for a jump.
func (s *Stream) timestampLocked(track int, header bool, ts uint32) uint32 {
	if track >= 0 && !header {
		out, repaired := s.clock[track].repair(ts, &s.clock[1-track], s.maxJump)
		if repaired {
			s.repairs.Add(1)
			if t := s.cfg.Totals; t != nil {
				t.TimestampRepairs.Add(1)
			}
		}
		return out
	}
	if track >= 0 && s.clock[track].started {
		return s.clock[track].lastOut
	}
	a, v := &s.clock[trackAudio], &s.clock[trackVideo]
	switch {
	case a.started && v.started:
		if serialDelta(a.lastOut, v.lastOut) > 0 {
			return v.lastOut
		}
		return a.lastOut
	case a.started:
		return a.lastOut
	case v.started:
		return v.lastOut
	}
	return 0 // before the first frame: the start of any timeline
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
	// A track that onMetaData announced counts before its first tag, so
	// that a player joining an audio-first stream gets an FLV header that
	// says video too; its video then starts at the first keyframe. After
	// metaTrustTags media tags without it, the announcement is taken to be
	// wrong (mpegts.js would wait for ever for a track that never comes).
	trust := s.meta != nil && s.mediaTags < metaTrustTags
	announcedVideo := trust && s.metaVideo && !video
	audio = audio || (trust && s.metaAudio)
	video = video || announcedVideo
	join := make([]*Tag, 0, 3+len(s.gop))
	for _, t := range []*Tag{s.meta, s.videoSeq, s.audioSeq} {
		if t != nil {
			join = append(join, t)
		}
	}
	join = append(join, s.gop...)
	// Without a cached GOP a video subscriber must wait for a keyframe.
	sub.start(audio, video, join, video && !announcedVideo && len(s.gop) == 0, announcedVideo)
}

// Subscribe adds a subscriber. It receives nothing until the stream is
// ready; then the join batch; then every tag live. Subscribing to an ended
// stream returns a subscriber whose Next reports ErrEnded.
func (s *Stream) Subscribe() *Subscriber {
	return s.subscribe(newSubscriber(s))
}

// SubscribeBounded is Subscribe with a queue bounded by queueBytes and
// queueDuration instead of the stream's Config (a recorder's larger
// tolerance); queueBytes <= 0 keeps the Config's bounds.
func (s *Stream) SubscribeBounded(queueBytes int, queueDuration time.Duration) *Subscriber {
	sub := newSubscriber(s)
	if queueBytes > 0 {
		sub.maxBytes, sub.maxDur = queueBytes, queueDuration
	}
	return s.subscribe(sub)
}

func (s *Stream) subscribe(sub *Subscriber) *Subscriber {
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
