package stream

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/headwater-media/headwater/internal/lockcheck"
	"github.com/headwater-media/headwater/pkg/flv"
)

// Subscriber is one consumer's bounded queue of tags. The stream pushes into
// it without blocking; the consumer's writer drains it with Next. When the
// queue overflows (bytes or media duration), everything but headers is
// dropped and the subscriber skips ahead to the next keyframe.
type Subscriber struct {
	s    *Stream
	wake chan struct{} // capacity 1: a pending wake-up for Next
	// bounds, when non-zero, replace the stream's QueueBytes and
	// QueueDuration for this subscriber (SubscribeBounded); set before
	// it is added, read-only after.
	maxBytes int
	maxDur   time.Duration

	// mu guards every field below it. Taken after Stream.mu (push is
	// called with Stream.mu held); never held across I/O.
	mu       lockcheck.Mutex
	q        []*Tag
	qBytes   int
	qFirst   time.Duration // arrival of the oldest queued media tag
	qMedia   bool          // q holds at least one media (non-header) tag
	waitKey  bool          // skipping until the next resync point
	videoKey bool          // video was announced, not seen, at start: its tags wait for a keyframe
	started  bool          // the join batch was queued; tracks are known
	audio    bool
	video    bool
	ended    bool
	closed   bool

	// out
	dropped atomic.Uint64
}

func newSubscriber(s *Stream) *Subscriber {
	return &Subscriber{s: s, wake: make(chan struct{}, 1)}
}

// Dropped returns the number of frames dropped because this subscriber was
// too slow.
func (sub *Subscriber) Dropped() uint64 { return sub.dropped.Load() }

// Tracks reports the tracks the stream had when this subscriber started.
// It is valid once Next has returned tags.
func (sub *Subscriber) Tracks() (audio, video bool) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.audio, sub.video
}

// Ended reports whether the stream has ended; Next still returns what is
// queued before it reports ErrEnded.
func (sub *Subscriber) Ended() bool {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.ended
}

// KeepQueueCap is the most tags a subscriber's queue array keeps room for
// once drained; a longer one (the join batch with the cached GOP, a
// backlog) is let go. A writer's batch slice should do the same, so that
// an idle player does not hold a GOP's worth of pointers twice.
const KeepQueueCap = 64

// Next appends every queued tag to dst and returns it. It blocks until there
// is at least one tag, the stream ends (ErrEnded, after the queue has been
// drained), the subscriber is closed (ErrClosed) or ctx is done.
func (sub *Subscriber) Next(ctx context.Context, dst []*Tag) ([]*Tag, error) {
	for {
		sub.mu.Lock()
		switch {
		case sub.closed:
			sub.mu.Unlock()
			return dst, ErrClosed
		case len(sub.q) > 0:
			dst = append(dst, sub.q...)
			if cap(sub.q) > KeepQueueCap {
				// A join batch or a backlog: do not keep its array for
				// the subscriber's whole life.
				sub.q = nil
			} else {
				clear(sub.q)
				sub.q = sub.q[:0]
			}
			sub.qBytes, sub.qMedia = 0, false
			sub.mu.Unlock()
			return dst, nil
		case sub.ended:
			sub.mu.Unlock()
			return dst, ErrEnded
		}
		sub.mu.Unlock()
		select {
		case <-sub.wake:
		case <-ctx.Done():
			return dst, ctx.Err()
		}
	}
}

// start queues the join batch. Called with Stream.mu held.
func (sub *Subscriber) start(audio, video bool, join []*Tag, waitKey, videoKey bool) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.closed || sub.ended || sub.started {
		return
	}
	sub.started, sub.audio, sub.video, sub.waitKey, sub.videoKey = true, audio, video, waitKey, videoKey
	for _, t := range join {
		sub.appendLocked(t)
	}
	sub.notify()
}

// push queues one live tag without blocking. Called with Stream.mu held.
func (sub *Subscriber) push(t *Tag) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.closed || sub.ended || !sub.started {
		return
	}
	if sub.videoKey && t.Type == flv.TagVideo && !t.Header {
		// The first video of a stream that started with audio only.
		if !t.Keyframe {
			sub.drop(1)
			return
		}
		sub.videoKey = false
	}
	if !t.Header && sub.waitKey {
		if !sub.resyncPoint(t) {
			sub.drop(1)
			return
		}
		sub.waitKey = false
	}
	if sub.overflowLocked(t) {
		// Too far behind: keep only headers, skip to the next keyframe.
		kept, n := sub.q[:0], 0
		for _, q := range sub.q {
			if q.Header {
				kept = append(kept, q)
			} else {
				n++
			}
		}
		clear(sub.q[len(kept):])
		sub.q = kept
		sub.qBytes, sub.qMedia = 0, false
		for _, q := range kept {
			sub.qBytes += len(q.Data)
		}
		sub.drop(n)
		if sub.overflowLocked(t) {
			// Headers alone exceed the bound (a publisher repeating
			// big headers to a stalled player): cut this player off.
			sub.closeLocked()
			return
		}
		switch {
		case t.Header:
			// Media was dropped: whatever follows must wait for a keyframe.
			sub.waitKey = sub.waitKey || n > 0
		case !sub.resyncPoint(t):
			sub.waitKey = true
			sub.drop(1)
			sub.notify()
			return
		default:
			sub.waitKey = false
		}
	}
	sub.appendLocked(t)
	sub.notify()
}

func (sub *Subscriber) appendLocked(t *Tag) {
	if !t.Header && !sub.qMedia {
		sub.qFirst, sub.qMedia = t.arrival, true
	}
	sub.q = append(sub.q, t)
	sub.qBytes += len(t.Data)
}

func (sub *Subscriber) overflowLocked(t *Tag) bool {
	cfg := &sub.s.cfg
	maxBytes, maxDur := cfg.QueueBytes, cfg.QueueDuration
	if sub.maxBytes > 0 {
		maxBytes, maxDur = sub.maxBytes, sub.maxDur
	}
	if maxBytes > 0 && sub.qBytes+len(t.Data) > maxBytes {
		return true
	}
	// How long the oldest queued media tag has waited, in wall-clock time:
	// timestamps say nothing about it (a publisher may jump them, or burst
	// faster than real time), and headers are never dropped anyway.
	if maxDur > 0 && !t.Header && sub.qMedia && t.arrival-sub.qFirst > maxDur {
		return true
	}
	return false
}

// resyncPoint reports whether a player can resume at t after dropping.
func (sub *Subscriber) resyncPoint(t *Tag) bool {
	if sub.video {
		return t.Keyframe
	}
	return true
}

func (sub *Subscriber) drop(n int) {
	if n == 0 {
		return
	}
	sub.dropped.Add(uint64(n))
	sub.s.dropped(n)
}

// notify wakes Next without blocking; a wake-up already pending suffices.
func (sub *Subscriber) notify() {
	select {
	case sub.wake <- struct{}{}:
	default:
	}
}

func (sub *Subscriber) end() {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	sub.ended = true
	sub.notify()
}

func (sub *Subscriber) close() {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	sub.closeLocked()
}

func (sub *Subscriber) closeLocked() {
	sub.closed = true
	clear(sub.q)
	sub.q, sub.qBytes = nil, 0
	sub.notify()
}
