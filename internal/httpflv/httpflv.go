// Package httpflv serves live streams as HTTP-FLV: GET /{app}/{stream}.flv.
//
// Each request acquires a player handle first (before any write that can
// block) and subscribes. It then takes the connection over from net/http
// (http.Hijacker): it writes the response head itself, without chunked
// encoding (the body ends when the connection closes, "Connection: close"),
// drops net/http's per-connection buffers, and writes the FLV header, the
// join batch and then the live tags from its own bounded queue straight to
// the socket, everything queued in one writev (net.Buffers). The tag bytes
// are the stream's shared, immutable FLV tags: nothing is copied or
// allocated per tag per player.
//
// Every write has a deadline; a player that makes no progress for
// WriteTimeout (90 to 100 % of it) is disconnected, and none can slow the
// publisher or another player. With a merge window, a player waits that
// long after each write before taking its next batch, so that a busy
// stream costs one write per window per player instead of one per tag.
//
// Goroutines: the request's own (net/http's) goroutine owns the hijacked
// connection, writes to it and closes it. One close watcher per player
// reads from it only to notice the client going away, and is waited for
// before the handler returns. See docs/concurrency.md.
package httpflv

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/headwater-media/headwater/internal/lockcheck"
	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/stream"
	"github.com/headwater-media/headwater/pkg/flv"
)

// Config tunes the player side.
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

// DefaultMergeWindow is play.merge_ms's default (config.Default has the
// same): with 1,000 players of a 2.7 Mbit/s stream it kept latency p99 at
// 42 ms, under the 50 ms goal with room to spare, where 40 ms gave 47 ms
// (docs/performance.md).
const DefaultMergeWindow = 35 * time.Millisecond

// RetryAfter is the Retry-After, in seconds, of a 503 for a limit.
const RetryAfter = "5"

// LimitPlayersPerStream names the players-per-stream limit in logs and
// metrics.
const LimitPlayersPerStream = "players_per_stream"

// refusalSampler rate-limits refusal log lines across the process
// (lock-free): a flood is counted in full by the registry, logged in part.
var refusalSampler = &zerolog.BurstSampler{Burst: 20, Period: time.Second}

// responseHead is the head of every HTTP-FLV response. There is no
// Content-Length and no chunked encoding: the body is the FLV stream and
// ends when the server closes the connection.
var responseHead = []byte("HTTP/1.1 200 OK\r\n" +
	"Content-Type: video/x-flv\r\n" +
	"Cache-Control: no-cache\r\n" +
	"Access-Control-Allow-Origin: *\r\n" +
	"Connection: close\r\n" +
	"\r\n")

const (
	// maxIOV is the most buffers one writev gets; a longer batch (a join
	// with a long GOP) takes several.
	maxIOV = 16
	// deadlineSlack: a batch moves the write deadline only when less than
	// WriteTimeout - WriteTimeout/deadlineSlack of it is left, so a
	// player that accepts nothing is cut off after 90 to 100 % of
	// WriteTimeout.
	deadlineSlack = 10
	// maxClientBytes is how much a client may send after its request
	// before it is disconnected: a player has nothing more to say.
	maxClientBytes = 64 << 10
)

// Passthrough is implemented by a net.Conn wrapper that passes bytes
// through unchanged (a listener's accounting wrapper, say) and returns the
// connection it wraps. A player writes (with writev, which only the net
// package's own connections can do), reads and sets deadlines on the
// innermost connection, and closes the outermost one.
type Passthrough interface {
	Passthrough() net.Conn
}

// Handler serves HTTP-FLV. App and stream names come from the path value
// functions so that any router can mount it.
type Handler struct {
	Registry *registry.Registry
	Config   Config
	Log      zerolog.Logger
	Totals   *stream.Totals
	// Params returns the {app} and {file} path segments of r.
	Params func(r *http.Request) (app, file string)

	// mu guards closing, idle and every active.Add, so that no Add can
	// race with Wait. Leaf lock, never held across I/O.
	mu      lockcheck.Mutex
	closing bool
	idle    chan struct{}  // closed once closing and active is done; nil before Wait
	active  sync.WaitGroup // one per request being served
}

// Wait refuses new requests (503) and blocks until every request being
// served has returned, or ctx is done. It may be called again, say with a
// longer deadline after the connections were told to end.
func (h *Handler) Wait(ctx context.Context) error {
	h.mu.Lock()
	h.closing = true
	if h.idle == nil {
		h.idle = make(chan struct{})
		go func(idle chan struct{}) { h.active.Wait(); close(idle) }(h.idle)
	}
	idle := h.idle
	h.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		w.Header().Set("Retry-After", "1")
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	h.active.Add(1)
	h.mu.Unlock()
	defer h.active.Done()
	app, file := h.Params(r)
	name, ok := strings.CutSuffix(file, ".flv")
	if !ok {
		http.NotFound(w, r)
		return
	}
	key, err := registry.NewKey(app, name)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	// Take the reference before anything that can block. Kicking the
	// player (DELETE /api/v1/players/{id}) cancels its context.
	ctx, kick := context.WithCancel(r.Context())
	defer kick()
	player, err := h.Registry.PlayWith(key, registry.PlayerInfo{Remote: r.RemoteAddr, UserAgent: r.UserAgent()}, kick)
	if errors.Is(err, registry.ErrNotFound) {
		http.Error(w, "stream not found", http.StatusNotFound)
		return
	}
	if errors.Is(err, registry.ErrTooManyPlayers) {
		log := h.Log.Sample(refusalSampler)
		log.Warn().Str("limit", LimitPlayersPerStream).Str("remote", r.RemoteAddr).
			Str("app", key.App).Str("stream", key.Name).Msg("play refused: limit reached")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Retry-After", RetryAfter)
		http.Error(w, "too many players on this stream, retry later", http.StatusServiceUnavailable)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer player.Release()

	if r.Method == http.MethodHead {
		hd := w.Header()
		hd.Set("Content-Type", "video/x-flv")
		hd.Set("Cache-Control", "no-cache")
		hd.Set("Access-Control-Allow-Origin", "*")
		w.WriteHeader(http.StatusOK)
		return
	}
	sub, err := player.Subscribe()
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// HTTP/2, or a ResponseWriter that cannot hand its connection over.
		http.Error(w, "HTTP-FLV is served over HTTP/1.x only", http.StatusHTTPVersionNotSupported)
		return
	}
	// net/http no longer touches the connection's buffers once it is
	// hijacked (the 4 KiB reader and writer it hands over): drop them
	// rather than hold 8 KiB per player for nothing.
	*rw.Reader, *rw.Writer = bufio.Reader{}, bufio.Writer{}

	// Two lines per player: no per-player logger (its context buffer)
	// is kept for the player's whole life.
	start := time.Now()
	h.Log.Info().Str("app", key.App).Str("stream", key.Name).Uint64("player_id", player.ID()).
		Str("remote", r.RemoteAddr).Str("user_agent", r.UserAgent()).Msg("play start")
	st := h.serve(ctx, kick, conn, sub, player)
	h.Log.Info().Str("app", key.App).Str("stream", key.Name).Uint64("player_id", player.ID()).
		Str("remote", r.RemoteAddr).Dur("duration", time.Since(start)).Int64("bytes", st.sent).
		Int64("writes", st.writes).Uint64("dropped", sub.Dropped()).Str("reason", st.reason).Msg("play stop")
}

// Why a player stopped, as logged.
const (
	reasonEnded = "stream ended"
	reasonGone  = "client gone or server shutting down"
)

// playStats is what a player's session did, for its "play stop" line.
type playStats struct {
	sent   int64  // body bytes written
	writes int64  // writev calls, the response head's included
	reason string // why it stopped
}

// serve runs one player on its hijacked connection until the stream ends,
// the client goes, ctx is done (server shutdown, kick) or a write fails,
// then closes the connection. cancel cancels ctx: the close watcher calls
// it when the client goes.
func (h *Handler) serve(ctx context.Context, cancel context.CancelFunc, conn net.Conn, sub *stream.Subscriber, player *registry.Player) playStats {
	raw := conn
	for {
		p, ok := raw.(Passthrough)
		if !ok {
			break
		}
		raw = p.Passthrough()
	}
	watched := make(chan struct{})
	go watchClose(raw, cancel, watched)
	// Once ctx is done (client gone, shutdown), a write blocked on a
	// stalled client must not wait for its deadline: move every deadline
	// into the past. writeBatch checks ctx after setting its own deadline,
	// so it cannot overwrite this one unnoticed.
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		stop()
		_ = conn.Close() // the outermost conn: a wrapper may account for it
		cancel()
		<-watched
	}()
	p := &session{raw: raw, player: player}
	if h.Config.MergeWindow > 0 {
		p.merge = newMergeTimer()
	}
	sent, reason := h.play(ctx, p, sub)
	return playStats{sent: sent, writes: p.writes, reason: reason}
}

// watchClose is a player's close watcher. It reads from c, discarding
// what a client sends after its request (up to maxClientBytes), until the
// read fails: the client closed or reset the connection, or the handler
// closed it or moved its deadline into the past. Then it cancels the
// player's context. It owns nothing and closes done when it returns; the
// handler goroutine waits for done after closing c.
func watchClose(c net.Conn, cancel context.CancelFunc, done chan<- struct{}) {
	defer close(done)
	defer cancel()
	var buf [64]byte
	for total := 0; total <= maxClientBytes; {
		n, err := c.Read(buf[:])
		if err != nil {
			return
		}
		total += n
	}
}

// session is one player's connection state, used by the handler goroutine
// only. It is allocated once per player, so that writing a batch
// allocates nothing.
type session struct {
	raw   net.Conn    // the innermost connection: writes and deadlines
	iov   net.Buffers // the buffers of the writev in progress; a slice of iovs
	iovs  [maxIOV][]byte
	hdr   [flv.HeaderSize + flv.PrevTagSizeLen]byte
	merge *mergeTimer // nil without a merge window
	// deadline is the connection's write deadline, as last set.
	deadline time.Time

	player     *registry.Player // counts bytes and the first frame (account); may be nil
	firstFrame bool             // a media frame was written

	writes int64 // write calls so far
}

// play writes until the stream ends, the client goes or a write fails. It
// returns the bytes written and why it stopped.
func (h *Handler) play(ctx context.Context, p *session, sub *stream.Subscriber) (int64, string) {
	if err := p.writeHead(ctx, h.Config.WriteTimeout); err != nil {
		return 0, "write: " + err.Error()
	}
	var (
		sent    int64
		batch   []*stream.Tag
		started bool
		err     error
	)
	for {
		if ctx.Err() != nil { // a busy stream never leaves Next waiting
			return sent, reasonGone
		}
		batch, err = sub.Next(ctx, batch[:0])
		ended := err != nil || sub.Ended()
		var wrote time.Time
		if len(batch) > 0 {
			var n int64
			var werr error
			wrote = time.Now()
			deadline := p.deadline
			switch {
			case ended:
				deadline = wrote.Add(min(h.Config.WriteTimeout, h.Config.DrainTimeout))
			case deadline.Sub(wrote) < h.Config.WriteTimeout-h.Config.WriteTimeout/deadlineSlack:
				// Moving a deadline costs a runtime timer update: do it
				// when a tenth of the timeout has gone, not every batch.
				deadline = wrote.Add(h.Config.WriteTimeout)
			}
			if started {
				n, werr = p.writeBatch(ctx, deadline, nil, batch)
			} else {
				audio, video := sub.Tracks()
				n, werr = p.writeBatch(ctx, deadline, flv.AppendHeader(p.hdr[:0], audio, video), batch)
				started = true
			}
			sent += n
			p.account(batch, n, werr)
			if h.Totals != nil {
				h.Totals.BytesOut.Add(uint64(n))
			}
			if cap(batch) > stream.KeepQueueCap {
				batch = nil // the join batch: do not keep its array
			} else {
				clear(batch)
			}
			if werr != nil {
				if ctx.Err() != nil {
					return sent, reasonGone
				}
				return sent, "write: " + werr.Error()
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, stream.ErrEnded):
			return sent, reasonEnded
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			return sent, reasonGone
		default:
			return sent, err.Error()
		}
		if p.merge != nil && !ended && !wrote.IsZero() {
			if !p.merge.wait(ctx, wrote.Add(h.Config.MergeWindow)) {
				return sent, reasonGone
			}
		}
	}
}

// writeHead writes the response head.
func (p *session) writeHead(ctx context.Context, timeout time.Duration) error {
	p.deadline = time.Now().Add(timeout)
	if err := p.raw.SetWriteDeadline(p.deadline); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	p.writes++
	_, err := p.raw.Write(responseHead)
	return err
}

// writeBatch writes first (if any) and the tags of batch with writev, at
// most maxIOV buffers a call, all by deadline. It allocates nothing.
func (p *session) writeBatch(ctx context.Context, deadline time.Time, first []byte, batch []*stream.Tag) (int64, error) {
	if !deadline.Equal(p.deadline) {
		if err := p.raw.SetWriteDeadline(deadline); err != nil {
			return 0, err
		}
		p.deadline = deadline
	}
	// After the deadline is set: a cancellation from now on moves it into
	// the past (see serve), one before is seen here.
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	p.iov = p.iovs[:0]
	if len(first) > 0 {
		p.iov = append(p.iov, first)
	}
	var n int64
	for i, t := range batch {
		p.iov = append(p.iov, t.Data)
		if len(p.iov) < maxIOV && i < len(batch)-1 {
			continue
		}
		p.writes++
		m, err := p.iov.WriteTo(p.raw) // consumes p.iov, clearing its buffers
		n += m
		if err != nil {
			clear(p.iovs[:])
			return n, err
		}
		p.iov = p.iovs[:0]
	}
	return n, nil
}
