package registry

import "time"

// DefaultGrace is the default of publish.grace: how long a stream whose
// publisher dropped (Publisher.Drop) stays live for a publish of its key
// to resume.
const DefaultGrace = 10 * time.Second

// WithGrace sets the grace of dropped publishers; 0 turns it off (Drop is
// then Release). Without it a registry has none; the server passes
// publish.grace (DefaultGrace unless set).
func WithGrace(d time.Duration) Option { return func(r *Registry) { r.grace = d } }

// GraceEnd is how a grace ended.
type GraceEnd int

// How a grace ends.
const (
	GraceResumed  GraceEnd = iota // a publish of the key took the stream on
	GraceExpired                  // it ran out: the stream ended
	GraceKicked                   // Kick ended it
	GraceShutdown                 // EndGraces ended it (shutdown)
	graceEnds
)

// String names the end for metrics: resumed, expired, kicked, shutdown.
func (g GraceEnd) String() string {
	switch g {
	case GraceResumed:
		return "resumed"
	case GraceExpired:
		return "expired"
	case GraceKicked:
		return "kicked"
	case GraceShutdown:
		return "shutdown"
	}
	return "unknown"
}

// Graces returns how many graces ended each way, indexed by GraceEnd.
func (r *Registry) Graces() [graceEnds]uint64 {
	var out [graceEnds]uint64
	for i := range out {
		out[i] = r.graces[i].Load()
	}
	return out
}

// startGraceLocked holds e until its grace runs out with the reference of the
// primary that dropped, and arms the timer that ends it. It returns the
// relays playing e: an edge pulling the stream must look for a live
// publisher elsewhere rather than wait (its own failover decides), so
// they are kicked, and refused until the grace ends. Registry.mu is held.
//
// The grace reference is released exactly once, by whichever of resume,
// endGrace (expiry, Kick, EndGraces) first finds graceGen unchanged under
// Registry.mu and moves it on.
func (r *Registry) startGraceLocked(e *entry, until time.Time) (relays []*Player) {
	e.graceGen++
	gen := e.graceGen
	e.graceUntil = until
	// The timer's goroutine is owned by the grace: it runs once and
	// returns at once if the grace has ended by then.
	e.graceTimer = time.AfterFunc(time.Until(until), func() { r.endGrace(e, gen, GraceExpired) })
	r.graced++
	for p := range e.players {
		if p.info.Relay {
			relays = append(relays, p)
		}
	}
	return relays
}

// stopGraceLocked ends e's grace (Registry.mu held): the timer is stopped
// (a callback already running finds graceGen moved on) and the grace
// reference is the caller's to pass on or drop.
func (r *Registry) stopGraceLocked(e *entry) {
	e.graceGen++
	e.graceTimer.Stop()
	e.graceTimer, e.graceUntil = nil, time.Time{}
	r.graced--
}

// endGrace ends e's grace gen, if it is still on: the stream ends as when
// its publisher leaves, and the grace reference is dropped (the last
// reference frees the stream). It reports whether it ended it.
func (r *Registry) endGrace(e *entry, gen uint64, how GraceEnd) bool {
	e.roleMu.Lock()
	defer e.roleMu.Unlock()
	r.mu.Lock()
	if e.graceUntil.IsZero() || e.graceGen != gen {
		r.mu.Unlock()
		return false
	}
	r.stopGraceLocked(e)
	r.unpublishLocked(e) // published: it kept its key for the grace
	free := r.unrefLocked(e)
	r.mu.Unlock()
	r.graces[how].Add(1)
	r.ended(e, true, free)
	return true
}

// resume makes a new publisher the primary of e, which is in its grace:
// it takes the grace reference over, and writes the stream from its first
// keyframe on, after its metadata and sequence headers (in-band), on the
// stream's timeline (Stream.Rebase). errGraceGone if the grace ended
// first.
func (r *Registry) resume(e *entry, info PublisherInfo, kick func()) (*Publisher, error) {
	e.roleMu.Lock()
	defer e.roleMu.Unlock()
	r.mu.Lock()
	if r.live[e.key] != e || e.graceUntil.IsZero() {
		r.mu.Unlock()
		return nil, errGraceGone
	}
	until := e.graceUntil
	r.stopGraceLocked(e)
	p := &Publisher{r: r, e: e, id: r.nextID.Add(1), info: info, kick: kick, resumed: true, resumedUntil: until}
	p.mode.Store(modePromoting)
	e.primary = p
	r.mu.Unlock()
	r.graces[GraceResumed].Add(1)
	e.current.Store(&p.info)
	e.s.SetWriter(p.id)
	e.s.Rebase()
	return p, nil
}

// EndGraces turns grace off for good and ends every grace now: from then
// on Drop is Release. A server shutting down calls it first, so that it
// waits for no grace.
func (r *Registry) EndGraces() {
	type graced struct {
		e   *entry
		gen uint64
	}
	r.mu.Lock()
	r.closing = true
	var ends []graced
	for _, e := range r.live {
		if !e.graceUntil.IsZero() {
			ends = append(ends, graced{e, e.graceGen})
		}
	}
	r.mu.Unlock()
	for _, g := range ends {
		r.endGrace(g.e, g.gen, GraceShutdown)
	}
}
