package registry

import (
	"sync/atomic"
	"time"

	"github.com/headwater-media/headwater/internal/lockcheck"
	"github.com/headwater-media/headwater/internal/stream"
)

// Publisher is the publishing handle of one stream. Its methods are safe for
// concurrent use; after Release they return ErrReleased.
type Publisher struct {
	r *Registry
	e *entry

	// mu guards released. Held only to flip or read it; stream calls run
	// under it so that no write can start after Release has returned.
	// Lock order: Publisher.mu, then Stream.mu (inside Write); Registry.mu
	// is never taken under it.
	mu       lockcheck.Mutex
	released bool
}

// Key returns the stream's key.
func (p *Publisher) Key() Key { return p.e.key }

// ID returns the stream's unique id.
func (p *Publisher) ID() uint64 { return p.e.id }

// Write passes one message to the stream; see stream.Stream.Write.
func (p *Publisher) Write(typ uint8, timestamp uint32, data []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.released {
		return ErrReleased
	}
	return p.e.s.Write(typ, timestamp, data)
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

// SetOrigin records that an edge pull now reads from origin (remote: its
// address), after a failover; the API shows it from then on.
func (p *Publisher) SetOrigin(origin, remote string) {
	p.e.moved.Store(&[2]string{origin, remote})
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

// Release ends the stream, frees the key and drops the publisher's
// reference. Only the first call has an effect.
func (p *Publisher) Release() {
	p.mu.Lock()
	if p.released {
		p.mu.Unlock()
		return
	}
	p.released = true
	p.mu.Unlock()
	p.r.release(p.e, nil)
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

// Key returns the key of the stream played.
func (p *Player) Key() Key { return p.e.key }

// Subscribe starts receiving the stream's tags. One subscription per handle:
// a second call returns the same subscriber.
func (p *Player) Subscribe() (*stream.Subscriber, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.released {
		return nil, ErrReleased
	}
	if p.sub == nil {
		if p.kicked {
			return nil, ErrKicked
		}
		p.sub = p.e.s.Subscribe()
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
