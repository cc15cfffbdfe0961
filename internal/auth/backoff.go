package auth

import (
	"container/list"
	"context"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/headwater-media/headwater/internal/lockcheck"
)

// DefaultBackoffEntries bounds the failure table: the client IPs that
// failed most recently are remembered, older ones forgotten.
const DefaultBackoffEntries = 4096

// DefaultBackoff is auth.backoff's default: the wait of an IP's second
// failure in a row.
const DefaultBackoff = 250 * time.Millisecond

// Backoff bounds: the first failure costs nothing; each further failure
// within backoffForget doubles the wait, from the base up to backoffMax.
const (
	backoffMax    = 5 * time.Second
	backoffForget = time.Minute
)

// Backoff slows down client IPs that keep failing authorization: each
// failure doubles how long the IP's next attempt waits before it is
// answered (up to 5 s), and a minute without failures forgets it. The
// table is bounded (least recently failed IPs go first), so a flood of
// addresses costs bounded memory. Safe for concurrent use.
type Backoff struct {
	max  int
	base atomic.Int64 // the first wait, in ns; 0: never wait (SetBase)

	// mu guards order and byIP. Leaf lock; nothing blocks under it.
	mu    lockcheck.Mutex
	order *list.List // of *failure, most recent first
	byIP  map[netip.Addr]*list.Element
}

type failure struct {
	ip    netip.Addr
	count int
	last  time.Time
}

// NewBackoff returns a table of at most max IPs whose waits start at base.
func NewBackoff(max int, base time.Duration) *Backoff {
	b := &Backoff{max: max, order: list.New(), byIP: make(map[netip.Addr]*list.Element)}
	b.SetBase(base)
	return b
}

// SetBase replaces the first wait (on SIGHUP); 0 turns the waits off.
func (b *Backoff) SetBase(base time.Duration) { b.base.Store(int64(base)) }

// Delay is how long ip's next attempt should wait at now.
func (b *Backoff) Delay(ip netip.Addr, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	el, ok := b.byIP[ip]
	if !ok {
		return 0
	}
	f := el.Value.(*failure)
	if now.Sub(f.last) > backoffForget {
		b.order.Remove(el)
		delete(b.byIP, ip)
		return 0
	}
	base := time.Duration(b.base.Load())
	if f.count < 2 || base <= 0 {
		return 0
	}
	return min(base<<min(f.count-2, 10), backoffMax)
}

// Fail records a failure of ip at now.
func (b *Backoff) Fail(ip netip.Addr, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if el, ok := b.byIP[ip]; ok {
		f := el.Value.(*failure)
		if now.Sub(f.last) > backoffForget {
			f.count = 0
		}
		f.count++
		f.last = now
		b.order.MoveToFront(el)
		return
	}
	b.byIP[ip] = b.order.PushFront(&failure{ip: ip, count: 1, last: now})
	for b.order.Len() > b.max {
		old := b.order.Back()
		b.order.Remove(old)
		delete(b.byIP, old.Value.(*failure).ip)
	}
}

// Len returns how many IPs the table holds.
func (b *Backoff) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.order.Len()
}

// Wait sleeps ip's delay, or until ctx ends; it reports whether ctx is
// still live.
func (b *Backoff) Wait(ctx context.Context, ip netip.Addr) bool {
	d := b.Delay(ip, time.Now())
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
