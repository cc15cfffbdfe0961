// Package play is the loop every sink shares that writes a live stream to
// a socket: HTTP-FLV, RTMP play and, later, WebSocket-FLV. A Framer per
// protocol says what goes around the stream's shared tag bytes; the loop
// does the rest once: take every queued tag from the subscriber's bounded
// queue (stream.Subscriber.Next, which skips to a keyframe when the player
// falls behind), write them with one writev of the shared buffers, keep a
// write deadline that moves cheaply, wait out the merge window, cut off a
// player that accepts nothing for WriteTimeout, stop at once when its
// context is cancelled (client gone, kick, shutdown), and count bytes and
// the first frame on the player's handle.
//
// Ownership: a Session is used by one goroutine, the sink's, which owns
// the connection. Run never closes the connection; its caller does. Run
// installs one context.AfterFunc that moves the connection's deadlines
// into the past when the context is done, so that a write blocked on a
// stalled peer returns at once; it is stopped before Run returns.
package play

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/stream"
)

// Config tunes how players are written to.
type Config struct {
	// WriteTimeout disconnects a player whose socket accepts nothing for
	// this long.
	WriteTimeout time.Duration
	// DrainTimeout bounds the last writes after the publisher has gone.
	DrainTimeout time.Duration
	// MergeWindow is how long a player waits after a write before it takes
	// its next batch: up to that much latency for fewer, larger writes. 0
	// writes each tag as soon as it arrives.
	MergeWindow time.Duration
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{WriteTimeout: 10 * time.Second, DrainTimeout: time.Second, MergeWindow: DefaultMergeWindow}
}

// DefaultMergeWindow is play.merge_ms's default: with 1,000 players of a
// 2.7 Mbit/s stream it kept latency p99 at 42 ms, under the 50 ms goal
// with room to spare, where 40 ms gave 47 ms (docs/performance.md).
const DefaultMergeWindow = 35 * time.Millisecond

// Framer is one protocol's framing of the stream's shared tags. It is
// used by its session's goroutine only.
type Framer interface {
	// Head returns what is written at once, before the stream's tracks
	// are known (an HTTP response head, RTMP's Play.Start); nil for none.
	Head() []byte
	// Start returns what goes before the first tag, once the tracks are
	// known (the FLV header); nil for none.
	Start(audio, video bool) []byte
	// Append appends the buffers that carry t to iov and returns it. The
	// tag's bytes are shared by every player: a framer adds its own
	// headers around them, never copies them. Buffers of its own must
	// stay valid until Flushed.
	Append(iov net.Buffers, t *stream.Tag) net.Buffers
	// Flushed says that everything appended so far has been written (or
	// failed): the framer may reuse its buffers.
	Flushed()
	// End returns what tells the peer that the stream ended (RTMP's
	// UnpublishNotify and Play.Stop), written after the last tag; nil for
	// none.
	End() []byte
}

// Why a session stopped, as logged.
const (
	ReasonEnded = "stream ended"
	ReasonGone  = "client gone or server shutting down"
)

const (
	// flushAt is how many buffers a writev collects before it is made; a
	// longer batch (a join with a long GOP) takes several.
	flushAt = 16
	// deadlineSlack: a batch moves the write deadline only when less than
	// WriteTimeout - WriteTimeout/deadlineSlack of it is left, so a
	// player that accepts nothing is cut off after 90 to 100 % of
	// WriteTimeout.
	deadlineSlack = 10
)

// Passthrough is implemented by a net.Conn wrapper that passes bytes
// through unchanged (a listener's accounting wrapper, say) and returns the
// connection it wraps. A session writes (with writev, which only the net
// package's own connections can do) and sets deadlines on the innermost
// connection; its owner closes the outermost one.
type Passthrough interface {
	Passthrough() net.Conn
}

// Innermost unwraps c through every Passthrough.
func Innermost(c net.Conn) net.Conn {
	for {
		p, ok := c.(Passthrough)
		if !ok {
			return c
		}
		c = p.Passthrough()
	}
}

// Session is one player's connection state. Make it with NewSession; it
// is allocated once per player so that writing a batch allocates nothing.
type Session struct {
	conn   net.Conn // the innermost connection: writes and deadlines
	framer Framer
	cfg    Config
	player *registry.Player // counts bytes and the first frame; may be nil
	totals *stream.Totals   // may be nil

	iov   []([]byte)  // the writev being built; its array is kept
	bufs  net.Buffers // iov as handed to writev (a field: it does not escape per call)
	merge *mergeTimer
	// deadline is the connection's write deadline, as last set.
	deadline   time.Time
	firstFrame bool // a media frame was written

	sent   int64 // body bytes written
	writes int64 // write calls so far
}

// NewSession returns a session that writes to conn (unwrapped with
// Innermost) through f. player (its bytes and first frame) and totals
// (server-wide bytes out) may be nil.
func NewSession(conn net.Conn, f Framer, cfg Config, player *registry.Player, totals *stream.Totals) *Session {
	s := &Session{conn: Innermost(conn), framer: f, cfg: cfg, player: player, totals: totals,
		iov: make([][]byte, 0, 2*flushAt)}
	if cfg.MergeWindow > 0 {
		s.merge = newMergeTimer()
	}
	return s
}

// Result is what a session did, for its "play stop" line.
type Result struct {
	Sent   int64  // bytes written after the head
	Writes int64  // write calls, the head's included
	Reason string // why it stopped
}

// Run writes the head, then every tag sub gives, until the stream ends
// (then the framer's End), ctx is done, or a write fails or misses its
// deadline. It does not close the connection.
func (s *Session) Run(ctx context.Context, sub *stream.Subscriber) Result {
	// Once ctx is done (client gone, kick, shutdown), a write blocked on a
	// stalled client must not wait for its deadline: move every deadline
	// into the past. WriteTags checks ctx after setting its own deadline,
	// so it cannot overwrite this one unnoticed.
	stop := context.AfterFunc(ctx, func() { _ = s.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	reason := s.run(ctx, sub)
	return Result{Sent: s.sent, Writes: s.writes, Reason: reason}
}

func (s *Session) run(ctx context.Context, sub *stream.Subscriber) string {
	s.deadline = time.Now().Add(s.cfg.WriteTimeout)
	if err := s.conn.SetWriteDeadline(s.deadline); err != nil {
		return "write: " + err.Error()
	}
	if head := s.framer.Head(); len(head) > 0 {
		if err := ctx.Err(); err != nil {
			return ReasonGone
		}
		s.writes++
		if _, err := s.conn.Write(head); err != nil {
			return s.writeFailed(ctx, err)
		}
	}
	var (
		batch   []*stream.Tag
		started bool
		err     error
	)
	for {
		if ctx.Err() != nil { // a busy stream never leaves Next waiting
			return ReasonGone
		}
		batch, err = sub.Next(ctx, batch[:0])
		ended := err != nil || sub.Ended()
		var wrote time.Time
		if len(batch) > 0 {
			wrote = time.Now()
			deadline := s.deadline
			switch {
			case ended:
				deadline = wrote.Add(min(s.cfg.WriteTimeout, s.cfg.DrainTimeout))
			case deadline.Sub(wrote) < s.cfg.WriteTimeout-s.cfg.WriteTimeout/deadlineSlack:
				// Moving a deadline costs a runtime timer update: do it
				// when a tenth of the timeout has gone, not every batch.
				deadline = wrote.Add(s.cfg.WriteTimeout)
			}
			var first []byte
			if !started {
				first = s.framer.Start(sub.Tracks())
				started = true
			}
			n, werr := s.WriteTags(ctx, deadline, first, batch)
			s.account(batch, n, werr)
			if cap(batch) > stream.KeepQueueCap {
				batch = nil // the join batch: do not keep its array
			} else {
				clear(batch)
			}
			if werr != nil {
				return s.writeFailed(ctx, werr)
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, stream.ErrEnded):
			s.end(ctx)
			return ReasonEnded
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			return ReasonGone
		default:
			return err.Error()
		}
		if s.merge != nil && !ended && !wrote.IsZero() {
			if !s.merge.wait(ctx, wrote.Add(s.cfg.MergeWindow)) {
				return ReasonGone
			}
		}
	}
}

func (s *Session) writeFailed(ctx context.Context, err error) string {
	if ctx.Err() != nil {
		return ReasonGone
	}
	return "write: " + err.Error()
}

// end writes the framer's End, within the drain timeout.
func (s *Session) end(ctx context.Context) {
	b := s.framer.End()
	if len(b) == 0 || ctx.Err() != nil {
		return
	}
	if err := s.conn.SetWriteDeadline(time.Now().Add(min(s.cfg.WriteTimeout, s.cfg.DrainTimeout))); err != nil {
		return
	}
	s.writes++
	n, _ := s.conn.Write(b)
	s.count(int64(n))
}

// WriteTags writes first (if any) and the tags of batch, framed, with
// writev, about flushAt buffers a call, all by deadline. It allocates
// nothing once the session's buffer array has grown to its batches. The
// loop uses it for every batch; benchmarks call it directly.
func (s *Session) WriteTags(ctx context.Context, deadline time.Time, first []byte, batch []*stream.Tag) (int64, error) {
	if !deadline.Equal(s.deadline) {
		if err := s.conn.SetWriteDeadline(deadline); err != nil {
			return 0, err
		}
		s.deadline = deadline
	}
	// After the deadline is set: a cancellation from now on moves it into
	// the past (see Run), one before is seen here.
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	iov := s.iov[:0]
	if len(first) > 0 {
		iov = append(iov, first)
	}
	var n int64
	for i, t := range batch {
		iov = s.framer.Append(iov, t)
		if len(iov) < flushAt && i < len(batch)-1 {
			continue
		}
		if cap(iov) > cap(s.iov) {
			s.iov = iov[:0] // keep the larger array (a framer's long tag)
		}
		s.writes++
		s.bufs = iov
		m, err := s.bufs.WriteTo(s.conn) // consumes s.bufs, clearing its buffers
		n += m
		s.framer.Flushed()
		if err != nil {
			clear(iov)
			return n, err
		}
		iov = s.iov[:0]
	}
	return n, nil
}

// count adds n bytes written to the session's and the server's totals and
// the player's handle.
func (s *Session) count(n int64) {
	s.sent += n
	if s.totals != nil {
		s.totals.BytesOut.Add(uint64(n))
	}
	if s.player != nil {
		s.player.AddSent(n)
	}
}
