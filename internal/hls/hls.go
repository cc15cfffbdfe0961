// Package hls serves live streams as HLS and Low-Latency HLS:
// GET /{app}/{stream}/index.m3u8, and the media playlists, segments, parts
// and init files under the same prefix. Segments are fMP4 (or MPEG-TS
// with the mpegts variant), made in memory by gohlslib, never on disk.
//
// Each stream's muxer is a sink like any player: it holds a player handle
// on the stream while it works, taken before anything that can block and
// released on every path. It starts on demand, with the first HLS request
// for a live stream (or when the stream goes live, with always_remux),
// and goes after the idle timeout without requests, or when the stream
// ends: then its playlists end with #EXT-X-ENDLIST, and what players may
// still fetch is kept until they stop asking.
package hls

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/rs/zerolog"

	"github.com/headwater-media/headwater/internal/auth"
	"github.com/headwater-media/headwater/internal/clientip"
	"github.com/headwater-media/headwater/internal/lockcheck"
	"github.com/headwater-media/headwater/internal/registry"
)

// Protocol is the muxer's PlayerInfo.Protocol.
const Protocol = "hls"

// Variants (hls.variant).
const (
	VariantFMP4   = "fmp4"
	VariantMPEGTS = "mpegts"
)

// Config configures the muxers.
type Config struct {
	// Variant is VariantFMP4 or VariantMPEGTS (H.264 and AAC only).
	Variant string
	// LowLatency adds LL-HLS partial segments and blocking playlist
	// reload (fMP4 only; needs SegmentCount >= 7).
	LowLatency bool
	// SegmentCount is how many segments a playlist lists (and memory
	// keeps).
	SegmentCount int
	// SegmentDuration is the least duration of a segment; segments are
	// cut at keyframes.
	SegmentDuration time.Duration
	// PartDuration is the least duration of an LL-HLS part.
	PartDuration time.Duration
	// IdleTimeout releases a muxer that has had no request for this long.
	IdleTimeout time.Duration
	// AlwaysRemux starts a muxer when a stream goes live, and keeps it
	// while the stream is live, requests or not.
	AlwaysRemux bool
}

// DefaultConfig returns the defaults of the hls.* keys.
func DefaultConfig() Config {
	return Config{Variant: VariantFMP4, SegmentCount: 7, SegmentDuration: 2 * time.Second,
		PartDuration: 200 * time.Millisecond, IdleTimeout: 30 * time.Second}
}

// MinSegmentCount is the least Config.SegmentCount gohlslib takes: 7
// with low latency, 3 without.
func MinSegmentCount(lowLatency bool) int {
	if lowLatency {
		return 7
	}
	return 3
}

func (c Config) variant() gohlslib.MuxerVariant {
	switch {
	case c.Variant == VariantMPEGTS:
		return gohlslib.MuxerVariantMPEGTS
	case c.LowLatency:
		return gohlslib.MuxerVariantLowLatency
	}
	return gohlslib.MuxerVariantFMP4
}

// Server serves HLS. Set the exported fields, then serve requests with
// ServeHTTP; Shutdown ends every muxer.
type Server struct {
	Registry *registry.Registry
	Config   Config
	Log      zerolog.Logger
	// ClientIP resolves a client's address (trusted proxies); nil: the
	// TCP peer's.
	ClientIP *clientip.Resolver
	// CORSOrigins are the origins allowed to play (play.cors_origins);
	// empty or "*": any.
	CORSOrigins []string
	// Auth checks every request (keys, signed URLs, IP rules; the query
	// of the playlist is carried into its segments' URLs); nil allows all.
	Auth *auth.Authorizer
	// Hooks: on_play is asked once per multivariant playlist request,
	// with the muxer's handle held; nil: none.
	Hooks *auth.Hooks
	// Params returns the {app}, {stream} and {file} path segments of r.
	Params func(r *http.Request) (app, stream, file string)

	requests atomic.Uint64 // every HLS request served by a muxer

	// mu guards muxers and closed. Taken before Registry.mu (muxerFor
	// takes the muxer's handle under it, so that two requests start one
	// muxer); nothing else is locked under it, nothing blocks under it.
	mu      lockcheck.Mutex
	muxers  map[registry.Key]*muxer
	closed  bool
	wg      sync.WaitGroup // one per muxer goroutine
	logOnce atomic.Int64   // unix s of the last error logged (one a second)
}

// fileName is what a muxer serves: gohlslib's playlists, init files,
// segments and parts.
var fileName = regexp.MustCompile(`^[A-Za-z0-9_-]+\.(m3u8|mp4|ts)$`)

// refusalSampler keeps refusal logs to a few a second.
var refusalSampler = &zerolog.BurstSampler{Burst: 5, Period: time.Second}

// readyTimeout bounds the wait of a first request for a muxer's tracks
// (the stream's next keyframe).
const readyTimeout = 10 * time.Second

// ServeHTTP implements http.Handler for GET /{app}/{stream}/{file}.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	app, name, file := s.Params(r)
	key, err := registry.NewKey(app, name)
	if err != nil || !fileName.MatchString(file) {
		http.NotFound(w, r)
		return
	}
	s.setCORS(w.Header(), r)
	ip := s.ClientIP.Request(r)
	areq := auth.Request{Action: auth.Play, App: key.App, Stream: key.Name, Query: r.URL.RawQuery, IP: ip}
	d, askHook := s.Auth.Gate(r.Context(), s.Hooks, areq)
	if !d.Allow {
		log := s.Log.Sample(refusalSampler)
		log.Warn().Str("remote", r.RemoteAddr).
			Str("app", key.App).Str("stream", key.Name).Str("reason", d.Reason).Msg("hls refused: not authorized")
		status := http.StatusForbidden
		if d.Unauthenticated {
			status = http.StatusUnauthorized
		}
		http.Error(w, "not authorized: "+d.Reason, status)
		return
	}
	m, status := s.muxerFor(r.Context(), key)
	if m == nil {
		http.Error(w, http.StatusText(status), status)
		return
	}
	defer m.begin()()
	m.touch(ip.String() + " " + r.UserAgent())
	if askHook && file == "index.m3u8" {
		ev := auth.HookEvent{App: key.App, Stream: key.Name, Query: r.URL.RawQuery, ClientIP: ip.String(),
			ClientID: m.playerID, Protocol: Protocol}
		if ok, why := s.Hooks.Decide(r.Context(), auth.Play, ev); !ok {
			s.Auth.Fail(areq, auth.ReasonHook)
			http.Error(w, "not authorized: "+why, http.StatusForbidden)
			return
		}
	}
	select {
	case <-m.ready:
	case <-r.Context().Done():
		return
	case <-time.After(readyTimeout):
		http.Error(w, "stream has no keyframe yet", http.StatusServiceUnavailable)
		return
	}
	m.serve(w, r, file)
}

// muxerFor returns key's muxer, starting one (with its handle) if the
// stream is live and has none, or nil and the status to answer: 404 for a
// stream that is not live (at once), 503 when refused.
func (s *Server) muxerFor(ctx context.Context, key registry.Key) (*muxer, int) {
	for pulled := false; ; pulled = true {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, http.StatusServiceUnavailable
		}
		m := s.muxers[key]
		if m != nil && !m.ended() {
			s.mu.Unlock()
			return m, 0
		}
		// None, or a frozen one of a stream that ended: a live stream
		// gets a new muxer, else the frozen one answers.
		nm := s.newMuxer(key)
		p, err := s.Registry.PlayWith(key, registry.PlayerInfo{Remote: "hls muxer", Protocol: Protocol}, nm.cancel)
		if err == nil {
			nm.playerID = p.ID()
			if m != nil {
				m.cancel() // the frozen muxer of the last session
			}
			s.muxers[key] = nm
			s.wg.Add(1)
			s.mu.Unlock()
			go nm.run(p)
			return nm, 0
		}
		nm.cancel()
		s.mu.Unlock()
		switch {
		case m != nil:
			return m, 0
		case errors.Is(err, registry.ErrNotFound) && !pulled:
			// Not live here: an edge pulls it from an origin first.
			if perr := s.Registry.Pull(ctx, key, ""); perr != nil {
				return nil, http.StatusNotFound
			}
		case errors.Is(err, registry.ErrNotFound):
			return nil, http.StatusNotFound
		default:
			return nil, http.StatusServiceUnavailable
		}
	}
}

func (s *Server) newMuxer(key registry.Key) *muxer {
	if s.muxers == nil {
		s.muxers = make(map[registry.Key]*muxer)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &muxer{s: s, key: key, ctx: ctx, cancel: cancel, ready: make(chan struct{}), done: make(chan struct{}),
		clients: make(map[string]time.Time),
		log:     s.Log.With().Str("app", key.App).Str("stream", key.Name).Logger()}
	m.lastRequest.Store(time.Now().UnixNano())
	return m
}

// remove forgets m when its goroutine ends.
func (s *Server) remove(m *muxer) {
	s.mu.Lock()
	if s.muxers[m.key] == m {
		delete(s.muxers, m.key)
	}
	s.mu.Unlock()
}

// Remux starts key's muxer if it has none (always_remux: a stream went
// live). It does nothing if the stream is not live.
func (s *Server) Remux(key registry.Key) {
	s.mu.Lock()
	_, has := s.muxers[key]
	s.mu.Unlock()
	if !has {
		_, _ = s.muxerFor(context.Background(), key)
	}
}

// Shutdown ends every muxer (releasing their handles) and waits for their
// goroutines, or ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	for _, m := range s.muxers {
		m.cancel()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Muxer returns the figures of key's muxer: the requests it has served,
// the distinct clients (address and user agent) that asked within the
// idle timeout, whether its stream has ended; ok false if it has none.
func (s *Server) Muxer(key registry.Key) (requests uint64, sessions int, ended, ok bool) {
	s.mu.Lock()
	m := s.muxers[key]
	s.mu.Unlock()
	if m == nil {
		return 0, 0, false, false
	}
	return m.requests.Load(), m.sessions(), m.ended(), true
}

// Muxers returns the muxers running (ended ones included) and every
// muxer's requests so far, by stream.
func (s *Server) Muxers() (running int, requests map[registry.Key]uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	requests = make(map[registry.Key]uint64, len(s.muxers))
	for k, m := range s.muxers {
		requests[k] = m.requests.Load()
	}
	return len(s.muxers), requests
}

// Requests returns the HLS requests served so far.
func (s *Server) Requests() uint64 { return s.requests.Load() }

// logError logs a muxing error, at most one a second.
func (s *Server) logError(log zerolog.Logger, err error) {
	now := time.Now().Unix()
	if last := s.logOnce.Load(); last == now || !s.logOnce.CompareAndSwap(last, now) {
		return
	}
	log.Warn().Err(err).Msg("hls muxing error")
}

func (s *Server) setCORS(hd http.Header, r *http.Request) {
	origin := r.Header.Get("Origin")
	switch {
	case len(s.CORSOrigins) == 0:
		hd.Set("Access-Control-Allow-Origin", "*")
		return
	}
	for _, o := range s.CORSOrigins {
		if o == "*" {
			hd.Set("Access-Control-Allow-Origin", "*")
			return
		}
		if origin != "" && o == origin {
			hd.Set("Access-Control-Allow-Origin", origin)
			hd.Add("Vary", "Origin")
			return
		}
	}
}
