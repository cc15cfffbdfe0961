package registry

import (
	"errors"
	"sort"
	"time"
)

// Errors of the player API.
var (
	// ErrPlayerNotFound: no player handle with that id is held.
	ErrPlayerNotFound = errors.New("player not found")
	// ErrKicked: KickPlayer ended this player; it may not subscribe.
	ErrKicked = errors.New("player kicked")
)

// PlayerInfo describes a player for the API and logs.
type PlayerInfo struct {
	Remote    string
	UserAgent string
	// Protocol is how it plays, as its sink names it: "http-flv",
	// "rtmp", "ws-flv".
	Protocol string
	// Relay marks an edge's upstream pull (a request with ViaParam): it
	// is kicked when the stream's publisher drops into its grace, and
	// refused during it, so that the edge fails over to a live origin.
	Relay bool
}

// AddSent counts n bytes written to the player (and to its stream's bytes
// out). Lock-free; safe after Release.
func (p *Player) AddSent(n int64) {
	if n <= 0 {
		return
	}
	p.sent.Add(uint64(n))
	p.e.bytesOut.Add(uint64(n))
}

// FirstFrame records that the player's first audio or video frame has
// been written: the time since Subscribe is the player's time to first
// frame, reported to the registry's Observer. Only the first call counts.
func (p *Player) FirstFrame() {
	if p.ttff.Load() != 0 {
		return
	}
	p.mu.Lock()
	at := p.subscribed
	p.mu.Unlock()
	if at.IsZero() {
		at = p.started
	}
	d := max(time.Since(at), 1)
	if !p.ttff.CompareAndSwap(0, int64(d)) {
		return
	}
	if o := p.r.observer; o != nil {
		o.FirstFrame(d)
	}
}

// KickPlayer ends the player with handle id: its subscription is closed,
// so that its writer's Next returns stream.ErrClosed, then the kick given
// to PlayWith runs. It returns ErrPlayerNotFound if no such handle is
// held. The player's handle stays held until its owner releases it.
func (r *Registry) KickPlayer(id uint64) error {
	r.mu.Lock()
	p, ok := r.byID[id]
	r.mu.Unlock()
	if !ok {
		return ErrPlayerNotFound
	}
	p.kickNow()
	return nil
}

// kickNow closes the player's subscription (or forbids one) and calls its
// kick, without holding any lock while it calls out. Only the first call
// has an effect.
func (p *Player) kickNow() {
	p.mu.Lock()
	if p.released || p.kicked {
		p.mu.Unlock()
		return
	}
	p.kicked = true
	sub := p.sub
	p.mu.Unlock()
	if sub != nil {
		p.e.s.Unsubscribe(sub)
	}
	if p.kick != nil {
		p.kick()
	}
}

// PlayerStats describes one player for the API.
type PlayerStats struct {
	ID        uint64
	Key       Key
	StreamID  uint64 // the stream (publishing session) it plays
	Remote    string
	UserAgent string
	Protocol  string
	Started   time.Time
	BytesSent uint64
	// QueueTags and QueueBytes are what waits in its queue now.
	QueueTags, QueueBytes int
	// Dropped counts the frames dropped because it was too slow.
	Dropped uint64
	// TimeToFirstFrame is 0 until its first frame was written.
	TimeToFirstFrame time.Duration
}

// Players returns every player handle held, those still draining a stream
// whose publisher has gone included, sorted by id.
func (r *Registry) Players() []PlayerStats {
	r.mu.Lock()
	ps := make([]*Player, 0, len(r.byID))
	for _, p := range r.byID {
		ps = append(ps, p)
	}
	r.mu.Unlock()
	return playerStats(ps)
}

// Player describes the player with handle id, or returns
// ErrPlayerNotFound.
func (r *Registry) Player(id uint64) (PlayerStats, error) {
	r.mu.Lock()
	p, ok := r.byID[id]
	r.mu.Unlock()
	if !ok {
		return PlayerStats{}, ErrPlayerNotFound
	}
	return playerStats([]*Player{p})[0], nil
}

// StreamPlayers returns the players of the live stream under key, sorted
// by id, or ErrNotFound.
func (r *Registry) StreamPlayers(key Key) ([]PlayerStats, error) {
	r.mu.Lock()
	e, ok := r.live[key]
	var ps []*Player
	if ok {
		ps = make([]*Player, 0, len(e.players))
		for p := range e.players {
			ps = append(ps, p)
		}
	}
	r.mu.Unlock()
	if !ok {
		return nil, ErrNotFound
	}
	return playerStats(ps), nil
}

// playerStats reads each player's statistics, taking Player.mu and then
// Subscriber.mu one after the other, never together, and no registry lock.
func playerStats(ps []*Player) []PlayerStats {
	out := make([]PlayerStats, len(ps))
	for i, p := range ps {
		p.mu.Lock()
		sub := p.sub
		p.mu.Unlock()
		st := PlayerStats{
			ID: p.id, Key: p.e.key, StreamID: p.e.id,
			Remote: p.info.Remote, UserAgent: p.info.UserAgent, Protocol: p.info.Protocol, Started: p.started,
			BytesSent:        p.sent.Load(),
			TimeToFirstFrame: time.Duration(p.ttff.Load()),
		}
		if sub != nil {
			st.QueueTags, st.QueueBytes = sub.Queued()
			st.Dropped = sub.Dropped()
		}
		out[i] = st
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
