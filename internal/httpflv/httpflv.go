// Package httpflv serves live streams as HTTP-FLV: GET /{app}/{stream}.flv.
//
// Each request acquires a player handle first (before any write that can
// block), subscribes, and writes the FLV header, the join batch and then the
// live tags from its own bounded queue. Every write has a deadline; a player
// that makes no progress for WriteTimeout is disconnected, and none can slow
// the publisher or another player.
package httpflv

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/headwater-media/headwater/internal/flv"
	"github.com/headwater-media/headwater/internal/lockcheck"
	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/stream"
)

// Config tunes the player side.
type Config struct {
	// WriteTimeout disconnects a player whose socket accepts nothing for
	// this long.
	WriteTimeout time.Duration
	// DrainTimeout bounds the last writes after the publisher has gone.
	DrainTimeout time.Duration
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{WriteTimeout: 10 * time.Second, DrainTimeout: time.Second}
}

// RetryAfter is the Retry-After, in seconds, of a 503 for a limit.
const RetryAfter = "5"

// LimitPlayersPerStream names the players-per-stream limit in logs and
// metrics.
const LimitPlayersPerStream = "players_per_stream"

// refusalSampler rate-limits refusal log lines across the process
// (lock-free): a flood is counted in full by the registry, logged in part.
var refusalSampler = &zerolog.BurstSampler{Burst: 20, Period: time.Second}

// Handler serves HTTP-FLV. App and stream names come from the path value
// functions so that any router can mount it.
type Handler struct {
	Registry *registry.Registry
	Config   Config
	Log      zerolog.Logger
	Totals   *stream.Totals
	// Params returns the {app} and {file} path segments of r.
	Params func(r *http.Request) (app, file string)

	// mu guards closing and every active.Add, so that no Add can race
	// with Wait. Leaf lock, never held across I/O.
	mu      lockcheck.Mutex
	closing bool
	active  sync.WaitGroup // one per request being served
}

// Wait refuses new requests (503) and blocks until every request being
// served has returned, or ctx is done.
func (h *Handler) Wait(ctx context.Context) error {
	h.mu.Lock()
	h.closing = true
	h.mu.Unlock()
	done := make(chan struct{})
	go func() { h.active.Wait(); close(done) }()
	select {
	case <-done:
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
	// Take the reference before anything that can block.
	player, err := h.Registry.Play(key, r.RemoteAddr)
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

	hd := w.Header()
	hd.Set("Content-Type", "video/x-flv")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("Access-Control-Allow-Origin", "*")
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	sub, err := player.Subscribe()
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}

	log := h.Log.With().Str("app", key.App).Str("stream", key.Name).
		Uint64("player_id", player.ID()).Str("remote", r.RemoteAddr).Logger()
	start := time.Now()
	log.Info().Str("user_agent", r.UserAgent()).Msg("play start")
	sent, reason := h.play(r.Context(), w, sub)
	log.Info().Dur("duration", time.Since(start)).Int64("bytes", sent).
		Uint64("dropped", sub.Dropped()).Str("reason", reason).Msg("play stop")
}

// play writes until the stream ends, the client goes or a write fails. It
// returns the bytes written and why it stopped.
func (h *Handler) play(ctx context.Context, w http.ResponseWriter, sub *stream.Subscriber) (int64, string) {
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(h.Config.WriteTimeout))
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return 0, "write: " + err.Error()
	}
	var (
		sent    int64
		batch   []*stream.Tag
		started bool
		hdr     [flv.HeaderSize + flv.PrevTagSizeLen]byte
		err     error
	)
	for {
		if ctx.Err() != nil { // a busy stream never leaves Next waiting
			return sent, "client gone or server shutting down"
		}
		batch, err = sub.Next(ctx, batch[:0])
		if len(batch) > 0 {
			timeout := h.Config.WriteTimeout
			if err != nil || sub.Ended() {
				timeout = min(timeout, h.Config.DrainTimeout)
			}
			_ = rc.SetWriteDeadline(time.Now().Add(timeout))
			n, werr := h.writeBatch(w, rc, batch, !started, hdr[:0], sub)
			started = true
			sent += n
			if h.Totals != nil {
				h.Totals.BytesOut.Add(uint64(n))
			}
			clear(batch)
			if werr != nil {
				return sent, "write: " + werr.Error()
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, stream.ErrEnded):
			return sent, "stream ended"
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			return sent, "client gone or server shutting down"
		default:
			return sent, err.Error()
		}
	}
}

func (h *Handler) writeBatch(w http.ResponseWriter, rc *http.ResponseController, batch []*stream.Tag,
	first bool, hdr []byte, sub *stream.Subscriber) (int64, error) {
	var n int64
	if first {
		audio, video := sub.Tracks()
		hdr = flv.AppendHeader(hdr, audio, video)
		m, err := w.Write(hdr)
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
	for _, t := range batch {
		m, err := w.Write(t.Data)
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
	return n, rc.Flush()
}
