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
	"context"
	"errors"
	"sort"
	"strings"
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

// WithOnPublish makes the registry call f with the key of every stream
// that a primary publisher has just made live (not a backup joining),
// without any lock held, from the publisher's goroutine: f must not
// block (a recorder starts its own goroutine; HLS with always_remux takes
// its muxer's handle). Each WithOnPublish adds one f; they are called in
// order.
func WithOnPublish(f func(Key)) Option {
	return func(r *Registry) { r.onPublish = append(r.onPublish, f) }
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
	// Kind is what publishes: KindRTMP (empty counts as it) or
	// KindEdgePull.
	Kind    string
	Remote  string
	Encoder string // flashVer from connect, when sent
	Query   string // the ?query of the publishing name, kept for auth
	// Origin is the URL an edge pull reads from (KindEdgePull).
	Origin string
	// Via is the chain of nodes a pushed stream came through (ViaParam,
	// from the publishing name's query or connect's tcUrl); "" if none.
	Via string
}

// Publisher kinds.
const (
	KindRTMP     = "rtmp"      // an RTMP publish session
	KindEdgePull = "edge-pull" // an edge's upstream pull from an origin
)

// Puller makes a stream that is not live here live by pulling it from
// elsewhere: an edge's origins. It is the registry's one on-demand
// source; see Registry.Pull.
type Puller interface {
	// Pull returns nil once key has a publisher here, or an error
	// (wrapping ErrNotFound when no origin has it) within its own bound
	// or ctx's. via is the chain of nodes the request came through, for
	// loop detection.
	Pull(ctx context.Context, key Key, via string) error
}

// ViaParam is the query parameter of a play request (HTTP-FLV's URL,
// RTMP's play name) that carries the chain of node ids it came through,
// comma-separated: what a sink passes to Pull as via.
const ViaParam = "hw_via"

// MaxViaHops is the longest via chain an edge's pull or a push relay
// extends: a longer one is taken for a loop.
const MaxViaHops = 8

// ViaHops returns the node ids of a via chain (ViaParam's value), blanks
// dropped.
func ViaHops(via string) []string {
	var hops []string
	for _, h := range strings.Split(via, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hops = append(hops, h)
		}
	}
	return hops
}

// PullerFunc adapts a function to Puller.
type PullerFunc func(ctx context.Context, key Key, via string) error

// Pull calls f.
func (f PullerFunc) Pull(ctx context.Context, key Key, via string) error { return f(ctx, key, via) }

// WithPuller makes Pull use p.
func WithPuller(p Puller) Option { return func(r *Registry) { r.puller = p } }

// Registry is the table of live streams. The zero value is not usable: call
// New.
type Registry struct {
	cfg      stream.Config
	observer Observer      // set in New, read-only after; may be nil
	puller   Puller        // set in New, read-only after; may be nil
	backup   Backup        // set in New, read-only after
	grace    time.Duration // set in New, read-only after (WithGrace); 0 is off
	nextID   atomic.Uint64

	graces [graceEnds]atomic.Uint64 // how graces ended, by graceEnd

	refusedStreams atomic.Uint64
	refusedPlayers atomic.Uint64

	// onPublish are WithOnPublish's; set in New, read-only after.
	onPublish []func(Key)

	// mu guards limits, live, byID, alive and every entry's refs, publisher and
	// players. It is a leaf lock: nothing else is locked while it is held,
	// and no stream method, callback or I/O runs under it.
	mu      lockcheck.Mutex
	limits  Limits // set in New and by SetLimits
	live    map[Key]*entry
	byID    map[uint64]*Player // every player handle held, on live and ended streams
	alive   int                // entries whose stream has not been freed
	players int                // player handles held, on live and ended streams
	graced  int                // live entries held only by their grace reference
	closing bool               // EndGraces ran: Drop is Release from now on
}

// entry is one stream object and its references. The stream may outlive
// its place in live: after the publisher leaves, its players still hold it.
type entry struct {
	key     Key
	id      uint64
	s       *stream.Stream
	started time.Time

	// changed gets a token (without blocking) whenever players changes.
	changed chan struct{}
	// current describes the publisher the stream is written by now: the
	// first one's, until a backup takes over or an edge pull fails over.
	current atomic.Pointer[PublisherInfo]

	// roleMu serializes changes of who writes the stream (a backup
	// joining, taking over, a publisher leaving) with the stream's writer
	// token (Stream.SetWriter). Lock order: Publisher.mu, then roleMu,
	// then Stream.mu; Registry.mu may be taken under it (it is a leaf).
	roleMu lockcheck.Mutex

	// guarded by Registry.mu
	refs      int
	published bool
	players   map[*Player]struct{}
	primary   *Publisher // writes the stream; nil once unpublished
	backup    *Publisher // standby (Backup), nil if none
	standbys  bool       // a backup has joined: a returning publisher becomes the backup
	noGrace   bool       // Kick ran: the publisher's Drop ends the stream
	// graceUntil is when the grace of a dropped publisher runs out (zero
	// when the stream has a publisher); graceTimer ends it then, unless
	// graceGen has moved on (a resume, a kick or shutdown ended it first).
	graceUntil time.Time
	graceTimer *time.Timer
	graceGen   uint64

	// out
	bytesOut atomic.Uint64 // written to its players (Player.AddSent)
}

// New returns an empty registry whose streams use cfg.
func New(cfg stream.Config, opts ...Option) *Registry {
	r := &Registry{cfg: cfg, live: make(map[Key]*entry), byID: make(map[uint64]*Player), backup: DefaultBackup()}
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
	return r.PublishAs(key, info, kick, RolePrimary)
}

// Role is what a publish asks to be.
type Role int

const (
	// RolePrimary publishes a key that is not live; on a live key it is
	// refused (ErrStreamBusy), unless Backup.Auto is set or the key had a
	// backup before (a returning primary), when it becomes the backup.
	RolePrimary Role = iota
	// RoleBackup (?role=backup) becomes the standby of a live key, or its
	// primary if the key is not live.
	RoleBackup
)

// Backup configures standby publishers (WithBackup).
type Backup struct {
	// Auto accepts a second publisher of a live key as its backup instead
	// of refusing it.
	Auto bool
	// FailoverAfter: a backup takes over at its next keyframe when the
	// primary has written no coded frame for this long (or has gone).
	FailoverAfter time.Duration
}

// DefaultBackup is publish.backup off, publish.failover_after 2 s.
func DefaultBackup() Backup { return Backup{FailoverAfter: 2 * time.Second} }

// WithBackup configures standby publishers; without it, DefaultBackup.
func WithBackup(b Backup) Option { return func(r *Registry) { r.backup = b } }

// PublishAs is Publish with a role: see Role. A backup's Write keeps its
// media ready (its own sequence headers and GOP) without fanning it out;
// it takes the stream over at its next keyframe when the primary goes or
// stalls for Backup.FailoverAfter, and players see one continuous stream.
func (r *Registry) PublishAs(key Key, info PublisherInfo, kick func(), role Role) (*Publisher, error) {
	for {
		p, err := r.publishAs(key, info, kick, role)
		if err == errGraceGone {
			continue
		}
		// A new stream, not a backup joining nor a resume (the stream
		// and its sinks go on).
		if err == nil && !p.Backup() {
			for _, f := range r.onPublish {
				f(key)
			}
		}
		return p, err
	}
}

// errGraceGone: the grace a publish was to resume ended meanwhile; the
// key is free, try again.
var errGraceGone = errors.New("grace ended")

func (r *Registry) publishAs(key Key, info PublisherInfo, kick func(), role Role) (*Publisher, error) {
	r.mu.Lock()
	if e, ok := r.live[key]; ok {
		if !e.graceUntil.IsZero() {
			r.mu.Unlock()
			return r.resume(e, info, kick)
		}
		if e.backup != nil || (role != RoleBackup && !r.backup.Auto && !e.standbys) {
			r.mu.Unlock()
			return nil, ErrStreamBusy
		}
		r.mu.Unlock()
		return r.joinAsBackup(e, info, kick)
	}
	if r.limits.MaxStreams > 0 && len(r.live) >= r.limits.MaxStreams {
		r.mu.Unlock()
		r.refusedStreams.Add(1)
		return nil, ErrTooManyStreams
	}
	e := &entry{
		key:       key,
		id:        r.nextID.Add(1),
		s:         stream.New(r.cfg),
		started:   time.Now(),
		refs:      1,
		published: true,
		players:   make(map[*Player]struct{}),
		changed:   make(chan struct{}, 1),
	}
	p := &Publisher{r: r, e: e, id: r.nextID.Add(1), info: info, kick: kick}
	e.primary = p
	e.current.Store(&p.info)
	r.live[key] = e
	r.alive++
	r.mu.Unlock()
	return p, nil
}

// joinAsBackup makes a standby publisher of e, if e is still live and has
// none; the stream's writer token goes to its primary.
func (r *Registry) joinAsBackup(e *entry, info PublisherInfo, kick func()) (*Publisher, error) {
	e.roleMu.Lock()
	defer e.roleMu.Unlock()
	r.mu.Lock()
	if r.live[e.key] != e || e.backup != nil || e.primary == nil {
		r.mu.Unlock()
		return nil, ErrStreamBusy
	}
	p := &Publisher{r: r, e: e, id: r.nextID.Add(1), info: info, kick: kick}
	p.mode.Store(modeBackup)
	e.backup, e.standbys = p, true
	e.refs++
	primary := e.primary.id
	r.mu.Unlock()
	e.s.SetWriter(primary)
	return p, nil
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
	if !ok || (info.Relay && !e.graceUntil.IsZero()) {
		return nil, ErrNotFound // an edge looks for a live publisher elsewhere
	}
	if r.limits.MaxPlayersPerStream > 0 && len(e.players) >= r.limits.MaxPlayersPerStream {
		r.refusedPlayers.Add(1)
		return nil, ErrTooManyPlayers
	}
	p := &Player{r: r, e: e, id: r.nextID.Add(1), info: info, kick: kick, started: time.Now()}
	e.refs++
	e.players[p] = struct{}{}
	e.notifyLocked()
	r.byID[p.id] = p
	r.players++
	return p, nil
}

// Pull asks the registry's Puller to make key live (an edge pulls it
// from an origin) and returns when it is, or with its error. Without a
// Puller it returns ErrNotFound at once. A sink calls it when PlayWith
// returned ErrNotFound, then calls PlayWith again: there is no handle to
// hold before the stream exists.
func (r *Registry) Pull(ctx context.Context, key Key, via string) error {
	if r.puller == nil {
		return ErrNotFound
	}
	return r.puller.Pull(ctx, key, via)
}

// notifyLocked tells a waiting PlayersChanged that players changed. It
// never blocks: a token already pending suffices.
func (e *entry) notifyLocked() {
	select {
	case e.changed <- struct{}{}:
	default:
	}
}

// Kick ends the publisher of key (its players end after draining), or
// returns ErrNotFound.
func (r *Registry) Kick(key Key) error {
	r.mu.Lock()
	e, ok := r.live[key]
	var kicks []func()
	for _, p := range []*Publisher{e.primaryLocked(ok), e.backupLocked(ok)} {
		if p != nil && p.kick != nil {
			kicks = append(kicks, p.kick)
		}
	}
	var graced bool
	var gen uint64
	if ok {
		e.noGrace = true // a kicked publisher's stream ends, grace or not
		graced, gen = !e.graceUntil.IsZero(), e.graceGen
	}
	r.mu.Unlock()
	if !ok {
		return ErrNotFound
	}
	if graced {
		r.endGrace(e, gen, GraceKicked)
	}
	for _, k := range kicks { // the backup too, or it would take over
		k()
	}
	return nil
}

// releasePublisher drops a publisher's reference. A backup just leaves;
// a primary with a backup hands the stream over to it (it writes from its
// next keyframe on); a primary alone ends the stream and frees the key.
// The last release frees the stream.
// With drop, a primary alone keeps the stream and its key for the grace
// (WithGrace) instead: its reference becomes the grace reference, and the
// relays (edges) playing the stream are returned, to be kicked by the
// caller once no lock is held.
func (r *Registry) releasePublisher(p *Publisher, drop bool) (graced bool, relays []*Player) {
	e := p.e
	e.roleMu.Lock()
	defer e.roleMu.Unlock()
	// A grace of its own, or, for a resume that wrote nothing, the rest
	// of the grace it took (none left: the stream ends).
	until, left := time.Now().Add(r.grace), true
	if p.resumed && p.frames.Load() == 0 {
		until = p.resumedUntil
		left = time.Until(until) > 0
	}
	r.mu.Lock()
	var promoted *Publisher
	unpublish := false
	switch {
	case e.backup == p:
		e.backup = nil
	case e.primary == p && e.backup != nil && e.published:
		promoted, e.primary, e.backup = e.backup, e.backup, nil
	case e.primary == p && drop && r.grace > 0 && !r.closing && !e.noGrace && e.published && left:
		e.primary = nil
		relays = r.startGraceLocked(e, until)
		graced = true
	case e.primary == p:
		e.primary = nil
		unpublish = r.unpublishLocked(e)
	}
	free := false
	if !graced { // else the reference is the grace's now
		free = r.unrefLocked(e)
	}
	r.mu.Unlock()

	if promoted != nil {
		promoted.mode.Store(modePromoting)
		e.current.Store(&promoted.info)
		e.s.SetWriter(promoted.id) // nothing is written until its keyframe
	}
	r.ended(e, unpublish, free)
	return graced, relays
}

// unpublishLocked takes e off the live keys; it reports whether e was
// published, for ended. Registry.mu is held.
func (r *Registry) unpublishLocked(e *entry) bool {
	was := e.published
	e.published = false
	if r.live[e.key] == e {
		delete(r.live, e.key)
	}
	return was
}

// unrefLocked drops one reference on e; it reports whether that was the
// last, for ended. Registry.mu is held.
func (r *Registry) unrefLocked(e *entry) bool {
	e.refs--
	if e.refs > 0 {
		return false
	}
	r.alive--
	return true
}

// ended finishes what unpublishLocked and unrefLocked decided, once no
// lock is held: an unpublished stream ends for its players (and the
// session is reported), the last reference frees it.
func (r *Registry) ended(e *entry, unpublished, free bool) {
	if unpublished {
		e.s.End()
		if r.observer != nil {
			r.observer.PublishEnded(time.Since(e.started))
		}
	}
	if free {
		e.s.Free()
	}
}

// release drops a player's reference; the last release frees the stream.
func (r *Registry) release(e *entry, player *Player) {
	r.mu.Lock()
	delete(e.players, player)
	e.notifyLocked()
	delete(r.byID, player.id)
	r.players--
	free := r.unrefLocked(e)
	r.mu.Unlock()
	r.ended(e, false, free)
}

// Stats is a snapshot of the registry's counts.
type Stats struct {
	Streams    int // live keys: with a publisher, or in their grace
	Publishers int // live keys with a publisher
	Players    int // player handles held, on live and ended streams
	Alive      int // stream objects not yet freed
}

// Stats returns the current counts.
func (r *Registry) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Stats{Streams: len(r.live), Publishers: len(r.live) - r.graced, Players: r.players, Alive: r.alive}
}

// PlayersByProtocol counts the player handles held by
// PlayerInfo.Protocol.
func (r *Registry) PlayersByProtocol() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	by := make(map[string]int, 2)
	for _, p := range r.byID {
		by[p.info.Protocol]++
	}
	return by
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
	// Backup describes the standby publisher, nil if none.
	Backup *PublisherInfo
	// GraceUntil is when the grace of a stream whose publisher dropped
	// runs out; zero while it has a publisher.
	GraceUntil time.Time
	Players    int
	BytesIn    uint64
	BytesOut   uint64 // written to its players, those gone included
	Dropped    uint64
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
		out = append(out, StreamInfo{Key: e.key, Players: len(e.players), Backup: e.backupInfoLocked(), GraceUntil: e.graceUntil})
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
		info = StreamInfo{Key: e.key, Players: len(e.players), Backup: e.backupInfoLocked(), GraceUntil: e.graceUntil}
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
	info.ID, info.Started, info.Publisher = e.id, e.started, *e.current.Load()
	info.BytesIn, info.Dropped, info.TimestampRepairs = e.s.BytesIn(), e.s.FramesDropped(), e.s.TimestampRepairs()
	info.BytesOut = e.bytesOut.Load()
	info.Media = e.s.Info()
}

// unpublishIfIdle ends e and frees its key if it has no players; the
// publisher's reference stays for its Release. It reports whether e is
// unpublished now (also when it already was).
func (r *Registry) unpublishIfIdle(e *entry) bool {
	r.mu.Lock()
	if len(e.players) > 0 {
		r.mu.Unlock()
		return false
	}
	unpublish := r.unpublishLocked(e)
	r.mu.Unlock()
	r.ended(e, unpublish, false)
	return true
}

// primaryLocked is e's primary (nil when !ok); Registry.mu is held.
func (e *entry) primaryLocked(ok bool) *Publisher {
	if !ok {
		return nil
	}
	return e.primary
}

// backupLocked is e's backup (nil when !ok); Registry.mu is held.
func (e *entry) backupLocked(ok bool) *Publisher {
	if !ok {
		return nil
	}
	return e.backup
}

// backupInfoLocked describes e's backup, nil if none; Registry.mu is held.
func (e *entry) backupInfoLocked() *PublisherInfo {
	if e.backup == nil {
		return nil
	}
	info := e.backup.info
	return &info
}
