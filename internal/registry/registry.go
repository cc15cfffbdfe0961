// Package registry maps {app}/{stream} to live streams and hands out
// reference-counted handles to them.
//
// The RTMP ingest acquires a stream as its Publisher; every HTTP-FLV request
// acquires a Player before it does anything that can block. A stream is freed
// exactly once, when its publisher and every player have released, in any
// order. Release is idempotent, and a released handle returns ErrReleased
// instead of touching the stream.
//
// When the publisher releases, the key is free at once for a new publisher,
// while players of the old stream drain what they have queued and end.
package registry

import (
	"errors"
	"sort"
	"sync/atomic"
	"time"

	"github.com/headwater-media/headwater/internal/lockcheck"
	"github.com/headwater-media/headwater/internal/stream"
)

// Errors callers branch on.
var (
	// ErrNotFound: no live stream under that key.
	ErrNotFound = errors.New("stream not found")
	// ErrStreamBusy: the key already has a publisher.
	ErrStreamBusy = errors.New("stream already publishing")
	// ErrReleased: the handle was released and may not touch the stream.
	ErrReleased = errors.New("handle released")
	// ErrTooManyStreams: Limits.MaxStreams streams are live.
	ErrTooManyStreams = errors.New("too many live streams")
	// ErrTooManyPlayers: the stream has Limits.MaxPlayersPerStream players.
	ErrTooManyPlayers = errors.New("too many players on this stream")
)

// Limits caps what the registry hands out. A zero field is unlimited.
type Limits struct {
	// MaxStreams caps live keys (streams with a publisher). Ended streams
	// whose players are still draining do not count.
	MaxStreams int
	// MaxPlayersPerStream caps the player handles of one live stream.
	MaxPlayersPerStream int
}

// Observer receives session durations, for metrics. Its methods are
// called without any lock held and must not block.
type Observer interface {
	// FirstFrame is called once per player that got media: the time from
	// its subscription to the write of its first audio or video frame.
	FirstFrame(d time.Duration)
	// PublishEnded is called when a publisher releases: how long it
	// published.
	PublishEnded(d time.Duration)
}

// Option configures a Registry in New.
type Option func(*Registry)

// WithLimits makes Publish and Play refuse beyond l.
func WithLimits(l Limits) Option { return func(r *Registry) { r.limits = l } }

// SetLimits replaces the limits (on SIGHUP). Streams and players already
// admitted stay, even if they are now over a lowered limit; later Publish
// and Play calls are checked against l.
func (r *Registry) SetLimits(l Limits) {
	r.mu.Lock()
	r.limits = l
	r.mu.Unlock()
}

// WithObserver reports session durations to o.
func WithObserver(o Observer) Option { return func(r *Registry) { r.observer = o } }

// Refusals counts the handles refused for a limit since New.
type Refusals struct {
	Streams          uint64 // ErrTooManyStreams
	PlayersPerStream uint64 // ErrTooManyPlayers
}

// PublisherInfo describes a publisher for the API and logs.
type PublisherInfo struct {
	Remote  string
	Encoder string // flashVer from connect, when sent
	Query   string // the ?query of the publishing name, kept for auth
}

// Registry is the table of live streams. The zero value is not usable: call
// New.
type Registry struct {
	cfg      stream.Config
	observer Observer // set in New, read-only after; may be nil
	nextID   atomic.Uint64

	refusedStreams atomic.Uint64
	refusedPlayers atomic.Uint64

	// mu guards limits, live, byID, alive and every entry's refs, publisher and
	// players. It is a leaf lock: nothing else is locked while it is held,
	// and no stream method, callback or I/O runs under it.
	mu      lockcheck.Mutex
	limits  Limits // set in New and by SetLimits
	live    map[Key]*entry
	byID    map[uint64]*Player // every player handle held, on live and ended streams
	alive   int                // entries whose stream has not been freed
	players int                // player handles held, on live and ended streams
}

// entry is one stream object and its references. The stream may outlive
// its place in live: after the publisher leaves, its players still hold it.
type entry struct {
	key     Key
	id      uint64
	s       *stream.Stream
	started time.Time
	pub     PublisherInfo
	kick    func()

	// guarded by Registry.mu
	refs      int
	published bool
	players   map[*Player]struct{}

	// out
	bytesOut atomic.Uint64 // written to its players (Player.AddSent)
}

// New returns an empty registry whose streams use cfg.
func New(cfg stream.Config, opts ...Option) *Registry {
	r := &Registry{cfg: cfg, live: make(map[Key]*entry), byID: make(map[uint64]*Player)}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Publish makes the caller the publisher of key. kick, called without locks
// held and possibly from another goroutine, must make the publisher's session
// end (and so release the handle). It fails with ErrStreamBusy if key is
// live, or ErrTooManyStreams if Limits.MaxStreams keys are.
func (r *Registry) Publish(key Key, info PublisherInfo, kick func()) (*Publisher, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.live[key]; ok {
		return nil, ErrStreamBusy
	}
	if r.limits.MaxStreams > 0 && len(r.live) >= r.limits.MaxStreams {
		r.refusedStreams.Add(1)
		return nil, ErrTooManyStreams
	}
	e := &entry{
		key:       key,
		id:        r.nextID.Add(1),
		s:         stream.New(r.cfg),
		started:   time.Now(),
		pub:       info,
		kick:      kick,
		refs:      1,
		published: true,
		players:   make(map[*Player]struct{}),
	}
	r.live[key] = e
	r.alive++
	return &Publisher{r: r, e: e}, nil
}

// Play acquires a player handle on the live stream under key, or fails with
// ErrNotFound, or ErrTooManyPlayers if the stream has
// Limits.MaxPlayersPerStream players. The handle holds the stream until
// Release.
func (r *Registry) Play(key Key, remote string) (*Player, error) {
	return r.PlayWith(key, PlayerInfo{Remote: remote}, nil)
}

// PlayWith is Play with the player described by info, and kick, which
// KickPlayer calls (without locks held, possibly from another goroutine)
// after closing the player's subscription: it should make the player's
// session end at once, say by cancelling its context. kick may be nil.
func (r *Registry) PlayWith(key Key, info PlayerInfo, kick func()) (*Player, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.live[key]
	if !ok {
		return nil, ErrNotFound
	}
	if r.limits.MaxPlayersPerStream > 0 && len(e.players) >= r.limits.MaxPlayersPerStream {
		r.refusedPlayers.Add(1)
		return nil, ErrTooManyPlayers
	}
	p := &Player{r: r, e: e, id: r.nextID.Add(1), info: info, kick: kick, started: time.Now()}
	e.refs++
	e.players[p] = struct{}{}
	r.byID[p.id] = p
	r.players++
	return p, nil
}

// Kick ends the publisher of key (its players end after draining), or
// returns ErrNotFound.
func (r *Registry) Kick(key Key) error {
	r.mu.Lock()
	e, ok := r.live[key]
	r.mu.Unlock()
	if !ok {
		return ErrNotFound
	}
	if e.kick != nil {
		e.kick()
	}
	return nil
}

// release drops one reference. The publisher's release also ends the stream
// and frees the key; the last release frees the stream.
func (r *Registry) release(e *entry, player *Player) {
	r.mu.Lock()
	unpublish := false
	if player != nil {
		delete(e.players, player)
		delete(r.byID, player.id)
		r.players--
	} else {
		unpublish = e.published
		e.published = false
		if r.live[e.key] == e {
			delete(r.live, e.key)
		}
	}
	e.refs--
	free := e.refs == 0
	if free {
		r.alive--
	}
	r.mu.Unlock()

	if unpublish {
		e.s.End()
		if r.observer != nil {
			r.observer.PublishEnded(time.Since(e.started))
		}
	}
	if free {
		e.s.Free()
	}
}

// Stats is a snapshot of the registry's counts.
type Stats struct {
	Streams    int // live keys (with a publisher)
	Publishers int
	Players    int // player handles held, on live and ended streams
	Alive      int // stream objects not yet freed
}

// Stats returns the current counts.
func (r *Registry) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Stats{Streams: len(r.live), Publishers: len(r.live), Players: r.players, Alive: r.alive}
}

// Refusals returns how many Publish and Play calls a limit refused.
func (r *Registry) Refusals() Refusals {
	return Refusals{Streams: r.refusedStreams.Load(), PlayersPerStream: r.refusedPlayers.Load()}
}

// StreamInfo describes one live stream for the API.
type StreamInfo struct {
	Key       Key
	ID        uint64 // also the publishing session's id
	Started   time.Time
	Publisher PublisherInfo
	Players   int
	BytesIn   uint64
	BytesOut  uint64 // written to its players, those gone included
	Dropped   uint64
	// TimestampRepairs counts the frames whose timestamps were repaired.
	TimestampRepairs uint64
	Media            stream.MediaInfo
}

// Streams returns the live streams sorted by key.
func (r *Registry) Streams() []StreamInfo {
	r.mu.Lock()
	out := make([]StreamInfo, 0, len(r.live))
	entries := make([]*entry, 0, len(r.live))
	for _, e := range r.live {
		out = append(out, StreamInfo{Key: e.key, Players: len(e.players)})
		entries = append(entries, e)
	}
	r.mu.Unlock()
	for i, e := range entries {
		e.fill(&out[i])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key.String() < out[j].Key.String() })
	return out
}

// Stream describes the live stream under key, or returns ErrNotFound.
func (r *Registry) Stream(key Key) (StreamInfo, error) {
	r.mu.Lock()
	e, ok := r.live[key]
	var info StreamInfo
	if ok {
		info = StreamInfo{Key: e.key, Players: len(e.players)}
	}
	r.mu.Unlock()
	if !ok {
		return info, ErrNotFound
	}
	e.fill(&info)
	return info, nil
}

// fill completes info with what needs no registry lock: the immutable
// fields, atomics and the stream's own (Stream.mu).
func (e *entry) fill(info *StreamInfo) {
	info.ID, info.Started, info.Publisher = e.id, e.started, e.pub
	info.BytesIn, info.Dropped, info.TimestampRepairs = e.s.BytesIn(), e.s.FramesDropped(), e.s.TimestampRepairs()
	info.BytesOut = e.bytesOut.Load()
	info.Media = e.s.Info()
}
