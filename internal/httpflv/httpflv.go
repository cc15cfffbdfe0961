// Package httpflv serves live streams as HTTP-FLV, GET /{app}/{stream}.flv,
// and on the same path as WebSocket-FLV, the same request with
// "Upgrade: websocket": the same FLV bytes in binary WebSocket messages
// (websocket.go). Both share everything up to the hijack below (key,
// handle, edge pull, limits, kick, log lines) and play.Session after it;
// they differ in their play.Framer and in how the client's side of the
// connection is read.
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
// reads from it only to notice the client going away (WebSocket-FLV's
// also answers pings and a close frame), and is waited for before the
// handler returns. See docs/concurrency.md.
package httpflv

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/headwater-media/headwater/internal/auth"
	"github.com/headwater-media/headwater/internal/clientip"
	"github.com/headwater-media/headwater/internal/lockcheck"
	"github.com/headwater-media/headwater/internal/play"
	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/stream"
	"github.com/headwater-media/headwater/pkg/flv"
)

// LimitConnsPerIP names the per-IP limit applied to the clients of
// trusted proxies, in logs and metrics (as the listener's own).
const LimitConnsPerIP = "http_conns_per_ip"

// ProxiedRefused counts the players refused over the per-IP limit behind
// trusted proxies.
func (h *Handler) ProxiedRefused() uint64 { return h.proxiedRefused.Load() }

// ipCounts counts players per client address. Leaf lock.
type ipCounts struct {
	mu lockcheck.Mutex // guards n
	n  map[netip.Addr]int
}

// acquire counts one more player of ip unless max (max() > 0) are there.
func (c *ipCounts) acquire(ip netip.Addr, max func() int) bool {
	limit := 0
	if max != nil {
		limit = max()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if limit > 0 && c.n[ip] >= limit {
		return false
	}
	if c.n == nil {
		c.n = make(map[netip.Addr]int)
	}
	c.n[ip]++
	return true
}

func (c *ipCounts) release(ip netip.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[ip]--; c.n[ip] <= 0 {
		delete(c.n, ip)
	}
}

// Protocol names HTTP-FLV players in the API and metrics.
const Protocol = "http-flv"

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

// maxClientBytes is how much a client may send after its request before
// it is disconnected: a player has nothing more to say.
const maxClientBytes = 64 << 10

// Handler serves HTTP-FLV. App and stream names come from the path value
// functions so that any router can mount it.
type Handler struct {
	Registry *registry.Registry
	Config   play.Config
	Log      zerolog.Logger
	Totals   *stream.Totals
	// ClientIP resolves a player's address (trusted proxies); nil: the
	// TCP peer's.
	ClientIP *clientip.Resolver
	// CORSOrigins are the origins allowed to play (play.cors_origins);
	// empty or "*": any.
	CORSOrigins []string
	// MaxPerIP returns limits.max_conns_per_ip (0: off), applied here to
	// the clients of trusted proxies; nil: off.
	MaxPerIP func() int
	// Auth checks every play before the handle is taken; nil allows all.
	Auth *auth.Authorizer
	// Hooks are called with the handle held (on_play) and after a player
	// ends (on_stop); nil: none.
	Hooks *auth.Hooks
	// Params returns the {app} and {file} path segments of r.
	Params func(r *http.Request) (app, file string)

	proxied        ipCounts      // players per client behind trusted proxies
	proxiedRefused atomic.Uint64 // refused over MaxPerIP behind trusted proxies

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
	// WebSocket-FLV: the same path with "Upgrade: websocket". Its
	// handshake is checked here; it is answered (101) by the session,
	// after the handle, like HTTP-FLV's response head.
	protocol, ws, accept := Protocol, isWebSocket(r), ""
	if ws {
		protocol = WSProtocol
		var status int
		if accept, status, err = wsAccept(r); err != nil {
			refuseHandshake(w, status, err)
			return
		}
	}
	// Rules that decide at once (keys, signed URLs, IP rules) run before
	// the handle; a client that keeps failing is slowed down first.
	// The client's address: the TCP peer's, or a trusted proxy's report.
	ip := h.ClientIP.Request(r)
	remote := r.RemoteAddr
	if ip != clientip.Peer(r.RemoteAddr) {
		remote = ip.String()
		// Behind a trusted proxy the per-IP limit, which the listener
		// cannot apply (it sees the proxy), counts the client's players.
		if !h.proxied.acquire(ip, h.MaxPerIP) {
			h.proxiedRefused.Add(1)
			log := h.Log.Sample(refusalSampler)
			log.Warn().Str("limit", LimitConnsPerIP).Str("remote", remote).Msg("play refused: limit reached")
			h.setCORS(w.Header(), r)
			w.Header().Set("Retry-After", RetryAfter)
			http.Error(w, "too many connections from your address, retry later", http.StatusServiceUnavailable)
			return
		}
		defer h.proxied.release(ip)
	}
	areq := auth.Request{Action: auth.Play, App: key.App, Stream: key.Name, Query: r.URL.RawQuery, IP: ip}
	d, askHook := h.Auth.Gate(r.Context(), h.Hooks, areq)
	if !d.Allow {
		log := h.Log.Sample(refusalSampler)
		log.Warn().Str("remote", remote).Str("app", key.App).Str("stream", key.Name).
			Str("reason", d.Reason).Msg("play refused: not authorized")
		h.setCORS(w.Header(), r)
		status := http.StatusForbidden
		if d.Unauthenticated {
			status = http.StatusUnauthorized
		}
		http.Error(w, "not authorized: "+d.Reason, status)
		return
	}
	// Take the reference before anything that can block. Kicking the
	// player (DELETE /api/v1/players/{id}) cancels its context.
	ctx, kick := context.WithCancel(r.Context())
	defer kick()
	via := r.URL.Query().Get(registry.ViaParam)
	info := registry.PlayerInfo{Remote: remote, UserAgent: r.UserAgent(), Protocol: protocol, Relay: via != ""}
	player, err := h.Registry.PlayWith(key, info, kick)
	if errors.Is(err, registry.ErrNotFound) {
		// Not live here: an edge pulls it from an origin (one pull for
		// every player asking), then it is an ordinary live stream.
		if perr := h.Registry.Pull(ctx, key, via); perr == nil {
			player, err = h.Registry.PlayWith(key, info, kick)
		}
	}
	if errors.Is(err, registry.ErrNotFound) {
		http.Error(w, "stream not found", http.StatusNotFound)
		return
	}
	if errors.Is(err, registry.ErrTooManyPlayers) {
		log := h.Log.Sample(refusalSampler)
		log.Warn().Str("limit", LimitPlayersPerStream).Str("remote", remote).
			Str("app", key.App).Str("stream", key.Name).Str("protocol", protocol).Msg("play refused: limit reached")
		h.setCORS(w.Header(), r)
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
		h.setCORS(hd, r)
		w.WriteHeader(http.StatusOK)
		return
	}
	// The on_play hook runs with the handle held: the stream cannot be
	// freed while it runs; a denial releases the handle (deferred above).
	ev := auth.HookEvent{App: key.App, Stream: key.Name, Query: r.URL.RawQuery, ClientIP: areq.IP.String(),
		ClientID: player.ID(), Protocol: protocol}
	if askHook {
		if ok, why := h.Hooks.Decide(ctx, auth.Play, ev); !ok {
			h.Auth.Fail(areq, auth.ReasonHook)
			log := h.Log.Sample(refusalSampler)
			log.Warn().Str("remote", remote).Str("app", key.App).Str("stream", key.Name).Str("hook", why).
				Msg("play refused by the on_play hook")
			h.setCORS(w.Header(), r)
			http.Error(w, "not authorized: "+why, http.StatusForbidden)
			return
		}
	}
	defer h.Hooks.Notify(auth.OnStop, ev) // once per play, when it ends
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
	// What the client sent after its request and net/http has read
	// already: nothing, but for a WebSocket client that did not wait for
	// the 101 (HTTP-FLV's close watcher discards it anyway).
	var pre []byte
	if ws && rw.Reader.Buffered() > 0 {
		pre, _ = rw.Reader.Peek(rw.Reader.Buffered())
		pre = bytes.Clone(pre)
	}
	// net/http no longer touches the connection's buffers once it is
	// hijacked (the 4 KiB reader and writer it hands over): drop them
	// rather than hold 8 KiB per player for nothing.
	*rw.Reader, *rw.Writer = bufio.Reader{}, bufio.Writer{}

	// Two lines per player: no per-player logger (its context buffer)
	// is kept for the player's whole life.
	start := time.Now()
	h.Log.Info().Str("app", key.App).Str("stream", key.Name).Uint64("player_id", player.ID()).
		Str("protocol", protocol).Str("remote", remote).Str("user_agent", r.UserAgent()).Msg("play start")
	var st play.Result
	if ws {
		st = h.serveWS(ctx, kick, conn, pre, accept, sub, player)
	} else {
		st = h.serve(ctx, kick, conn, sub, player, h.responseHead(r))
	}
	h.Log.Info().Str("app", key.App).Str("stream", key.Name).Uint64("player_id", player.ID()).
		Str("protocol", protocol).Str("remote", remote).Dur("duration", time.Since(start)).Int64("bytes", st.Sent).
		Int64("writes", st.Writes).Uint64("dropped", sub.Dropped()).Str("reason", st.Reason).Msg("play stop")
}

// serve runs one player on its hijacked connection until the stream ends,
// the client goes, ctx is done (server shutdown, kick) or a write fails,
// then closes the connection. cancel cancels ctx: the close watcher calls
// it when the client goes.
func (h *Handler) serve(ctx context.Context, cancel context.CancelFunc, conn net.Conn, sub *stream.Subscriber, player *registry.Player, head []byte) play.Result {
	raw := play.Innermost(conn)
	watched := make(chan struct{})
	go watchClose(raw, cancel, watched)
	defer func() {
		_ = conn.Close() // the outermost conn: a wrapper may account for it
		cancel()
		<-watched
	}()
	return play.NewSession(conn, framer{head: head}, h.Config, player, h.Totals).Run(ctx, sub)
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

// framer is HTTP-FLV's play.Framer: the response head, the FLV header,
// then each tag's shared bytes as they are.
type framer struct {
	head []byte // the response head (responseHead, or one with this request's CORS)
}

func (f framer) Head() []byte { return f.head }

func (framer) Start(audio, video bool) []byte {
	return flv.AppendHeader(make([]byte, 0, flv.HeaderSize+flv.PrevTagSizeLen), audio, video)
}

func (framer) Append(iov net.Buffers, t *stream.Tag) net.Buffers { return append(iov, t.Data) }

func (framer) Flushed() {}

func (framer) End() []byte { return nil }

// setCORS sets Access-Control-Allow-Origin for r, as play.cors_origins
// says.
func (h *Handler) setCORS(hd http.Header, r *http.Request) {
	if origin := h.allowOrigin(r); origin != "" {
		hd.Set("Access-Control-Allow-Origin", origin)
		if origin != "*" {
			hd.Add("Vary", "Origin")
		}
	}
}

// allowOrigin is r's Access-Control-Allow-Origin: "*" when any origin may
// play, the request's Origin when it is listed, "" otherwise.
func (h *Handler) allowOrigin(r *http.Request) string {
	if len(h.CORSOrigins) == 0 {
		return "*"
	}
	origin := r.Header.Get("Origin")
	for _, o := range h.CORSOrigins {
		if o == "*" {
			return "*"
		}
		if origin != "" && o == origin {
			return origin
		}
	}
	return ""
}

// responseHead is the response head for r: the shared one when any
// origin may play, else one built for r's origin.
func (h *Handler) responseHead(r *http.Request) []byte {
	origin := h.allowOrigin(r)
	if origin == "*" {
		return responseHead
	}
	head := "HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\nCache-Control: no-cache\r\n"
	if origin != "" {
		head += "Access-Control-Allow-Origin: " + origin + "\r\nVary: Origin\r\n"
	}
	return []byte(head + "Connection: close\r\n\r\n")
}
