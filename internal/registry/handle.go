package registry

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/headwater-media/headwater/internal/lockcheck"
	"github.com/headwater-media/headwater/internal/stream"
	"github.com/headwater-media/headwater/pkg/flv"
)

// Publisher is the publishing handle of one stream: its primary, which
// writes it, or its backup (PublishAs), which keeps its own media ready
// and takes over. Its methods are safe for concurrent use; after Release
// they return ErrReleased.
type Publisher struct {
	r    *Registry
	e    *entry
	id   uint64 // the stream's writer token while it is the primary
	info PublisherInfo
	kick func() // may be nil
	// resumed: it took a stream over from its grace, which was to run
	// out at resumedUntil (both immutable).
	resumed      bool
	resumedUntil time.Time

	// mode is modePrimary, modeBackup or modePromoting. Changed under
	// entry.roleMu, read by Write under mu.
	mode atomic.Int32

	// mu guards released and standby. Held only to flip or read them;
	// stream calls run under it so that no write can start after Release
	// has returned. Lock order: Publisher.mu, then entry.roleMu, then
	// Stream.mu; Registry.mu is taken last or alone.
	mu       lockcheck.Mutex
	released bool
	// standby is a backup's own stream, never subscribed to: it keeps its
	// metadata, sequence headers and GOP ready for the takeover.
	standby *stream.Stream

	frames atomic.Uint64 // coded frames written, in any mode (Frames)
}

const (
	modePrimary   = iota // writes the stream
	modeBackup           // writes its standby
	modePromoting        // the stream is its; it writes from its next keyframe on
)

// Key returns the stream's key.
func (p *Publisher) Key() Key { return p.e.key }

// ID returns the stream's unique id.
func (p *Publisher) ID() uint64 { return p.e.id }

// Resumed reports whether the publisher resumed a stream in its grace
// (see Drop) rather than starting one.
func (p *Publisher) Resumed() bool { return p.resumed }

// Backup reports whether the publisher is a standby now.
func (p *Publisher) Backup() bool { return p.mode.Load() != modePrimary }

// Frames returns the coded audio and video frames this publisher has
// written so far (as stream.Stream.Frames counts them), as primary or
// backup: what a media timeout watches.
func (p *Publisher) Frames() uint64 { return p.frames.Load() }

// Write passes one message to the stream (see stream.Stream.Write), or,
// for a backup, to its standby. A backup takes the stream over at a
// keyframe when the primary has gone or written no coded frame for
// Backup.FailoverAfter: the stream gets the backup's metadata and sequence
// headers, then that keyframe, and its players see one stream go on.
func (p *Publisher) Write(typ uint8, timestamp uint32, data []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.released {
		return ErrReleased
	}
	s := p.e.s
	if p.mode.Load() != modePrimary {
		if !p.takeOver(typ, data) {
			return p.writeStandby(typ, timestamp, data)
		}
		p.flushHeaders()
	}
	before := s.Frames()
	err := s.WriteFrom(p.id, typ, timestamp, data)
	if errors.Is(err, stream.ErrNotWriter) {
		// A backup took over between our mode check and the write.
		return p.writeStandby(typ, timestamp, data)
	}
	if s.Frames() != before {
		p.frames.Add(1)
	}
	return err
}

// writeStandby keeps a backup's message in its standby stream; p.mu is
// held.
func (p *Publisher) writeStandby(typ uint8, timestamp uint32, data []byte) error {
	if p.standby == nil {
		cfg := p.r.cfg
		cfg.Totals = nil // a standby's bytes are not the server's ingress twice over
		p.standby = stream.New(cfg)
	}
	before := p.standby.Frames()
	err := p.standby.Write(typ, timestamp, data)
	if p.standby.Frames() != before {
		p.frames.Add(1)
	}
	return err
}

// takeOver decides, for a backup's message, whether it now becomes the
// stream's writer: only at a video keyframe (or any audio frame for an
// audio-only standby), and only when the stream is its (the primary
// left) or the primary has stalled; then it swaps roles with the primary.
// p.mu is held.
func (p *Publisher) takeOver(typ uint8, data []byte) bool {
	if !p.resyncPoint(typ, data) {
		return false
	}
	if p.mode.Load() == modePromoting {
		// A backup that joined meanwhile may have taken the stream over
		// from it (a stall: it had not written yet) and made it the
		// backup; then it stays one.
		return p.mode.CompareAndSwap(modePromoting, modePrimary)
	}
	e, r := p.e, p.r
	if e.s.SinceFrame(time.Now()) < r.backup.FailoverAfter {
		return false
	}
	e.roleMu.Lock()
	defer e.roleMu.Unlock()
	r.mu.Lock()
	old := e.primary
	ok := e.backup == p && old != nil && e.published
	if ok {
		e.primary, e.backup = p, old
	}
	r.mu.Unlock()
	if !ok {
		return p.mode.Load() == modePrimary
	}
	old.mode.Store(modeBackup)
	p.mode.Store(modePrimary)
	e.current.Store(&p.info)
	e.s.SetWriter(p.id)
	return true
}

// resyncPoint reports whether a backup's message is where players can
// switch to it: a video keyframe, or audio when its standby has no video.
func (p *Publisher) resyncPoint(typ uint8, data []byte) bool {
	if len(data) < flv.TagSize(0) {
		return false // not a tag buffer: the stream refuses it (ErrBadTag)
	}
	payload := data[flv.TagHeaderSize : len(data)-flv.PrevTagSizeLen]
	switch typ {
	case flv.TagVideo:
		vi, err := flv.ParseVideo(payload)
		return err == nil && vi.Keyframe && !vi.SequenceHeader && !vi.EndOfSequence
	case flv.TagAudio:
		if p.standby == nil {
			return false
		}
		if _, video := p.standby.Tracks(); video {
			return false
		}
		ai, err := flv.ParseAudio(payload)
		return err == nil && !ai.SequenceHeader && len(ai.Data) > 0
	}
	return false
}

// flushHeaders writes the standby's metadata and sequence headers into
// the stream it now writes, in-band, and drops the standby; p.mu is held.
func (p *Publisher) flushHeaders() {
	if p.standby == nil {
		return
	}
	meta, video, audio := p.standby.Headers()
	p.standby.Free()
	p.standby = nil
	for _, h := range []struct {
		typ     uint8
		payload []byte
	}{{flv.TagScript, meta}, {flv.TagVideo, video}, {flv.TagAudio, audio}} {
		if h.payload == nil {
			continue
		}
		buf := make([]byte, flv.TagSize(len(h.payload)))
		copy(buf[flv.TagHeaderSize:], h.payload)
		_ = p.e.s.WriteFrom(p.id, h.typ, 0, buf) // headers take the track's current time
	}
}

// Stream returns the stream for read-only statistics, or ErrReleased.
func (p *Publisher) Stream() (*stream.Stream, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.released {
		return nil, ErrReleased
	}
	return p.e.s, nil
}

// Release ends the publisher's part: a backup leaves; a primary hands the
// stream to its backup if it has one (which writes from its next
// keyframe), else ends the stream and frees the key. It drops the
// publisher's reference. Only the first Release or Drop has an effect.
func (p *Publisher) Release() { _ = p.release(false) }

// Drop is Release for a publisher that is gone without meaning to end
// the stream (its connection broke, its media stopped): a primary alone
// keeps the stream live and its key taken for the registry's grace
// (WithGrace), its players waiting, and a publish of the key within it
// resumes the stream. The publisher's reference becomes the grace's.
// Without a grace, after Kick or EndGraces, it is Release. A publisher
// that resumed a stream and dropped before its first coded frame (its
// hook or cluster claim refused it, say) gives the stream back to the
// grace it took it from, which ends when it would have. Only the first
// Release or Drop has an effect. It reports whether the stream went into
// its grace.
func (p *Publisher) Drop() bool { return p.release(true) }

func (p *Publisher) release(drop bool) (graced bool) {
	p.mu.Lock()
	if p.released {
		p.mu.Unlock()
		return false
	}
	p.released = true
	standby := p.standby
	p.standby = nil
	p.mu.Unlock()
	if standby != nil {
		standby.Free()
	}
	graced, relays := p.r.releasePublisher(p, drop)
	for _, relay := range relays {
		relay.kickNow()
	}
	return graced
}

// SetOrigin records that an edge pull now reads from origin (remote: its
// address), after a failover; the API shows it from then on.
func (p *Publisher) SetOrigin(origin, remote string) {
	info := *p.e.current.Load()
	info.Origin, info.Remote = origin, remote
	p.e.current.Store(&info)
}

// Players returns how many players the stream has now.
func (p *Publisher) Players() int {
	p.r.mu.Lock()
	defer p.r.mu.Unlock()
	return len(p.e.players)
}

// PlayersChanged receives a token after the stream's player count has
// changed (tokens coalesce: read Players after one).
func (p *Publisher) PlayersChanged() <-chan struct{} { return p.e.changed }

// ReleaseIfIdle releases the publisher, as Release does, if its stream has
// no players, and reports whether it did (or had already released).
// Checking and unpublishing are one step under the registry's lock: no
// player can get the stream in between and find it ending. An edge
// lets its upstream go this way after its linger.
func (p *Publisher) ReleaseIfIdle() bool {
	if !p.r.unpublishIfIdle(p.e) {
		return false
	}
	p.Release()
	return true
}

// Player is one player's handle on a stream. After Release its methods
// return ErrReleased.
type Player struct {
	r       *Registry
	e       *entry
	id      uint64
	info    PlayerInfo
	kick    func() // may be nil
	started time.Time

	// mu guards released, kicked, sub and subscribed. Lock order:
	// Player.mu, then Stream.mu.
	mu         lockcheck.Mutex
	released   bool
	kicked     bool // KickPlayer ran: no new subscription
	sub        *stream.Subscriber
	subscribed time.Time // when sub was made

	// out
	sent atomic.Uint64 // bytes written to the player (AddSent)
	ttff atomic.Int64  // time to first frame in ns (FirstFrame); 0 before
}

// ID returns the player's unique id.
func (p *Player) ID() uint64 { return p.id }

// StreamID returns the id of the stream (publishing session) played.
func (p *Player) StreamID() uint64 { return p.e.id }

// Key returns the key of the stream played.
func (p *Player) Key() Key { return p.e.key }

// Subscribe starts receiving the stream's tags. One subscription per handle:
// a second call returns the same subscriber.
func (p *Player) Subscribe() (*stream.Subscriber, error) {
	return p.SubscribeBounded(0, 0)
}

// SubscribeBounded is Subscribe with the subscriber's queue bounded by
// queueBytes and queueDuration instead of the stream's (see
// stream.Stream.SubscribeBounded): a recorder's larger tolerance.
func (p *Player) SubscribeBounded(queueBytes int, queueDuration time.Duration) (*stream.Subscriber, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.released {
		return nil, ErrReleased
	}
	if p.sub == nil {
		if p.kicked {
			return nil, ErrKicked
		}
		p.sub = p.e.s.SubscribeBounded(queueBytes, queueDuration)
		p.subscribed = time.Now()
	}
	return p.sub, nil
}

// Release unsubscribes and drops the player's reference; the last reference
// frees the stream. Only the first call has an effect.
func (p *Player) Release() {
	p.mu.Lock()
	if p.released {
		p.mu.Unlock()
		return
	}
	p.released = true
	sub := p.sub
	p.sub = nil
	p.mu.Unlock()
	if sub != nil {
		p.e.s.Unsubscribe(sub)
	}
	p.r.release(p.e, p)
}

// Resubscribe replaces the handle's subscription with a new one, which
// starts as a new player's does (metadata, sequence headers, the cached
// GOP, then live tags), and closes the old one: for a sink that has to
// start its output again on the same stream, as a push relay does after
// reconnecting to its destination. It returns ErrReleased after Release,
// ErrKicked after KickPlayer.
func (p *Player) Resubscribe() (*stream.Subscriber, error) {
	p.mu.Lock()
	if p.released || p.kicked {
		err := ErrReleased
		if !p.released {
			err = ErrKicked
		}
		p.mu.Unlock()
		return nil, err
	}
	old := p.sub
	sub := p.e.s.Subscribe()
	p.sub = sub
	if p.subscribed.IsZero() {
		p.subscribed = time.Now()
	}
	p.mu.Unlock()
	if old != nil {
		p.e.s.Unsubscribe(old)
	}
	return sub, nil
}
