// Package relay pushes live streams to other RTMP servers: multistreaming
// to platforms (rtmp://a.rtmp.youtube.com/live2/{stream_key}) or to other
// headwater nodes.
//
// A push is a sink, like a player: it holds a registry.Player handle on
// the stream for its whole life, and writes the stream's shared tags
// through internal/play's loop (bounded queue, keyframe skip, write
// deadlines, stall cut-off, accounting) with a framer that makes them the
// media messages of an RTMP publish (rtmpclient.Publisher, the client the
// edge pulls with). A slow destination only fills its own queue: the
// origin's publisher and players never wait for it.
//
// Lifecycle (one goroutine per push, owned by the Manager, waited for by
// Shutdown):
//
//   - Live (a stream's RTMP publish was accepted) or Start (the API) takes
//     the handle first, then starts the goroutine.
//   - The goroutine publishes to the destination (rtmpclient.Publish,
//     within ConnectTimeout), subscribes anew (headers and the cached GOP
//     first, so the destination starts on a keyframe) and runs the play
//     loop until the stream ends, the destination fails or ends the
//     publish, or the push is stopped.
//   - A failure is retried while the stream is live, after a backoff that
//     doubles from BackoffMin to BackoffMax, and starts again from
//     BackoffMin after a connection that pushed for BackoffMax. While it
//     waits, the push drains its subscription, so the end of the stream is
//     seen at once.
//   - The end of the stream (after its queue drained: FCUnpublish and
//     deleteStream are sent), Stop (DELETE in the API), a kick of its
//     player handle or Shutdown end the goroutine, which releases the
//     handle.
//
// Loops: a push carries the chain of nodes its stream came through
// (registry.ViaParam, as the edge's pulls do), with this node appended,
// in the query of connect's tcUrl: the stream name stays as configured
// (ffmpeg -listen 1 refuses a name other than the one it expects, and a
// platform's stream key must not change). A node does not push a stream
// that came through itself, and its RTMP server refuses such a publish.
package relay

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/headwater-media/headwater/internal/auth"
	"github.com/headwater-media/headwater/internal/lockcheck"
	"github.com/headwater-media/headwater/internal/play"
	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/rtmpclient"
	"github.com/headwater-media/headwater/internal/stream"
)

// Protocol names push relays in the player lists and metrics.
const Protocol = "rtmp-push"

// Config configures the push relays.
type Config struct {
	// Push maps an app ("*": every app without an entry of its own) to
	// the URL templates its streams are pushed to.
	Push map[string][]string
	// Streams maps "app/stream" to that stream's overrides.
	Streams map[string]Override
	// ConnectTimeout bounds one connection to a destination: dial, TLS,
	// handshake, connect, publish and its answer.
	ConnectTimeout time.Duration
	// BackoffMin is the wait before the first retry of a failed push; it
	// doubles with each failure up to BackoffMax.
	BackoffMin time.Duration
	BackoffMax time.Duration
	// Play is how pushes are written: the write timeout cuts off a
	// destination that accepts nothing for that long.
	Play play.Config
	// NodeID is this node's id, in the chain of nodes a push carries.
	NodeID string
}

// Override is one stream's push settings.
type Override struct {
	// Push, when set (even to an empty list), replaces the app's list.
	Push []string `yaml:"push"`
	// StreamKey is the value of {stream_key} in the stream's templates.
	StreamKey string `yaml:"stream_key"`
}

// DefaultConfig returns the defaults: no pushes, 5 s to connect, retries
// after 1 s doubling to 30 s.
func DefaultConfig() Config {
	return Config{Push: map[string][]string{}, Streams: map[string]Override{},
		ConnectTimeout: 5 * time.Second, BackoffMin: time.Second, BackoffMax: 30 * time.Second,
		Play: play.DefaultConfig()}
}

// States of a push, as the API shows them.
const (
	StateConnecting = "connecting" // publishing to the destination
	StatePushing    = "pushing"    // the destination takes the stream
	StateBackoff    = "backoff"    // waiting to retry after a failure
	StateStopped    = "stopped"    // ended; its handle is released
)

// Errors callers branch on.
var (
	// ErrDuplicate: the stream is pushed to that URL already.
	ErrDuplicate = errors.New("the stream is pushed to that URL already")
	// ErrPushNotFound: no such push on the stream.
	ErrPushNotFound = errors.New("push not found")
	// ErrClosed: the Manager is shutting down.
	ErrClosed = errors.New("push relays are shutting down")
	// ErrLoop: the stream came through this node; pushing it would loop.
	ErrLoop = errors.New("the stream came through this node (" + registry.ViaParam + "): not pushed again")
)

// Status describes one push for the API.
type Status struct {
	ID  uint64
	URL string // redacted (Redact)
	// Source is what started it: "config", "hook" or "api".
	Source     string
	State      string
	Bytes      uint64 // written to the destination, every connection's
	Reconnects uint64 // connections after the first
	LastError  string // why the last connection failed or ended; "" if none
	PlayerID   uint64 // its player handle (DELETE /api/v1/players/{id} stops it too)
	Dropped    uint64 // frames its queue dropped (keyframe skip) on the current connection
	StartedAt  time.Time
}

// Manager runs the push relays. Safe for concurrent use.
type Manager struct {
	reg    *registry.Registry
	log    zerolog.Logger
	totals *stream.Totals // may be nil
	cfg    atomic.Pointer[Config]

	ctx        context.Context // parent of every push's; cancelled by Shutdown
	cancel     context.CancelFunc
	nextID     atomic.Uint64
	reconnects atomic.Uint64  // every push's connection attempts after its first
	wg         sync.WaitGroup // the push goroutines

	// mu guards pushes and closed. A leaf: nothing else is locked, no
	// handle taken or released, no I/O done while it is held.
	mu     lockcheck.Mutex
	pushes map[registry.Key][]*push
	closed bool
}

// New returns a Manager; totals (bytes out) may be nil.
func New(cfg Config, reg *registry.Registry, totals *stream.Totals, log zerolog.Logger) *Manager {
	m := &Manager{reg: reg, log: log, totals: totals, pushes: make(map[registry.Key][]*push)}
	m.cfg.Store(&cfg)
	m.ctx, m.cancel = context.WithCancel(context.Background())
	return m
}

// SetConfig replaces the push templates and overrides (SIGHUP): streams
// that go live afterwards use them; running pushes go on.
func (m *Manager) SetConfig(push map[string][]string, streams map[string]Override) {
	cfg := *m.cfg.Load()
	cfg.Push, cfg.Streams = push, streams
	m.cfg.Store(&cfg)
}

// push is one relay of one stream to one destination.
type push struct {
	id      uint64
	key     registry.Key
	stream  uint64 // the id of the stream pushed (registry.StreamInfo.ID)
	url     string // expanded; never shown
	via     string // the via chain, as connect's tcUrl query
	shown   string // Redact(url)
	source  string
	player  *registry.Player // held until the goroutine ends
	started time.Time
	cancel  context.CancelFunc
	done    chan struct{} // closed when the goroutine has returned

	// out
	state      atomic.Pointer[string]
	reconnects atomic.Uint64
	lastErr    atomic.Pointer[string]
}

func (p *push) setState(s string) { p.state.Store(&s) }

// setErr records err as the push's last error, the destination's stream
// name masked in it (rtmpclient's errors name the stream), and returns
// that text.
func (p *push) setErr(err error) string {
	s := maskName(err.Error(), p.url)
	p.lastErr.Store(&s)
	return s
}

// Live starts the pushes of a stream whose RTMP publish was just
// accepted: the on_publish hook's list if it gave one, else relay.streams'
// for the stream, else relay.push's for its app (or "*"). via is the
// chain of nodes the stream came through; ans the hook's answer. It
// takes each push's handle before it returns and never blocks. A stream
// that came through this node is not pushed (ErrLoop, logged).
func (m *Manager) Live(key registry.Key, via string, ans auth.HookAnswer) {
	cfg := m.cfg.Load()
	o, hasOverride := cfg.Streams[key.String()]
	templates, source := cfg.Push[key.App], "config"
	if _, ok := cfg.Push[key.App]; !ok {
		templates = cfg.Push["*"]
	}
	if hasOverride && o.Push != nil {
		templates = o.Push
	}
	if ans.PushSet {
		templates, source = ans.Push, "hook"
	}
	if len(templates) == 0 {
		return
	}
	vars := Vars{App: key.App, Stream: key.Name, StreamKey: o.StreamKey}
	if ans.StreamKey != "" {
		vars.StreamKey = ans.StreamKey
	}
	for _, t := range templates {
		if _, err := m.start(key, t, vars, via, source); err != nil && !errors.Is(err, ErrDuplicate) {
			m.log.Warn().Str("app", key.App).Str("stream", key.Name).Str("url", Redact(t)).Err(err).Msg("push not started")
		}
	}
}

// Start starts a push of the live stream key to the URL template tmpl
// ({app}, {stream}, and {stream_key} from relay.streams), as POST
// /api/v1/streams/{app}/{stream}/pushes does. Errors: registry.ErrNotFound
// (not live), ErrDuplicate, ErrLoop, ErrClosed, a bad template or URL.
func (m *Manager) Start(key registry.Key, tmpl string) (Status, error) {
	info, err := m.reg.Stream(key)
	if err != nil {
		return Status{}, err
	}
	o := m.cfg.Load().Streams[key.String()]
	p, err := m.start(key, tmpl, Vars{App: key.App, Stream: key.Name, StreamKey: o.StreamKey}, info.Publisher.Via, "api")
	if err != nil {
		return Status{}, err
	}
	return m.status(p), nil
}

// start expands tmpl, takes the push's handle, and starts its goroutine.
func (m *Manager) start(key registry.Key, tmpl string, vars Vars, via, source string) (*push, error) {
	u, err := Expand(tmpl, vars)
	if err != nil {
		return nil, err
	}
	if err := rtmpclient.CheckURL(u); err != nil {
		return nil, err
	}
	chain, err := viaChain(via, m.cfg.Load().NodeID)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(m.ctx)
	p := &push{id: m.nextID.Add(1), key: key, url: u, via: url.Values{registry.ViaParam: {chain}}.Encode(), shown: Redact(u), source: source,
		started: time.Now(), cancel: cancel, done: make(chan struct{})}
	p.setState(StateConnecting)
	// The handle first: from here the stream cannot be freed under the push.
	p.player, err = m.reg.PlayWith(key, registry.PlayerInfo{Remote: hostOf(u), UserAgent: "headwater push " + p.shown,
		Protocol: Protocol}, cancel)
	if err != nil {
		cancel()
		return nil, err
	}
	p.stream = p.player.StreamID()
	m.mu.Lock()
	switch {
	case m.closed:
		err = ErrClosed
	case m.find(key, p.stream, u) != nil:
		err = ErrDuplicate
	default:
		m.pushes[key] = append(m.pushes[key], p)
		m.wg.Add(1)
	}
	m.mu.Unlock()
	if err != nil {
		p.player.Release()
		cancel()
		return nil, err
	}
	go m.run(ctx, p)
	return p, nil
}

// find is the push of the stream key, id stream, to the expanded URL
// raw; Manager.mu is held. A push of an earlier stream of the key (still
// writing its end) is not a duplicate.
func (m *Manager) find(key registry.Key, stream uint64, raw string) *push {
	for _, p := range m.pushes[key] {
		if p.stream == stream && p.url == raw {
			return p
		}
	}
	return nil
}

// viaChain is the chain of nodes a push carries: the stream's own
// (via, comma-separated), then this node. ErrLoop if it has this node
// already, or MaxHops nodes.
func viaChain(via, node string) (string, error) {
	hops := registry.ViaHops(via)
	if slices.Contains(hops, node) {
		return "", ErrLoop
	}
	if len(hops) >= MaxHops {
		return "", fmt.Errorf("%w: a chain of %d nodes", ErrLoop, len(hops))
	}
	return strings.Join(append(hops, node), ","), nil
}

// MaxHops is the longest chain of nodes a push may extend (the edge's).
const MaxHops = registry.MaxViaHops

// hostOf is u's host:port, the push's "remote".
func hostOf(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return pu.Host
}

// remove drops p from the pushes (its goroutine is ending).
func (m *Manager) remove(p *push) {
	m.mu.Lock()
	defer m.mu.Unlock()
	list := m.pushes[p.key]
	for i, q := range list {
		if q == p {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(m.pushes, p.key)
	} else {
		m.pushes[p.key] = list
	}
}

// Pushes lists the pushes of key, in the order they started.
func (m *Manager) Pushes(key registry.Key) []Status {
	m.mu.Lock()
	list := append([]*push(nil), m.pushes[key]...)
	m.mu.Unlock()
	out := make([]Status, 0, len(list))
	for _, p := range list {
		out = append(out, m.status(p))
	}
	return out
}

// status describes p; it reads atomics and the registry's player stats.
func (m *Manager) status(p *push) Status {
	s := Status{ID: p.id, URL: p.shown, Source: p.source, State: *p.state.Load(), Reconnects: p.reconnects.Load(),
		PlayerID: p.player.ID(), StartedAt: p.started}
	if e := p.lastErr.Load(); e != nil {
		s.LastError = *e
	}
	if ps, err := m.reg.Player(p.player.ID()); err == nil {
		s.Bytes, s.Dropped = ps.BytesSent, ps.Dropped // of its current subscription
	}
	return s
}

// Counts is what the metrics show of the pushes.
type Counts struct {
	States     map[string]int // running pushes by state (StateConnecting, StatePushing, StateBackoff)
	Reconnects uint64         // connection attempts after a push's first, since New
}

// Counts counts the pushes by state (under mu, reading atomics).
func (m *Manager) Counts() Counts {
	c := Counts{States: map[string]int{StateConnecting: 0, StatePushing: 0, StateBackoff: 0}, Reconnects: m.reconnects.Load()}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, list := range m.pushes {
		for _, p := range list {
			if st := *p.state.Load(); st != StateStopped {
				c.States[st]++
			}
		}
	}
	return c
}

// Stop ends the push of key with id, or (id 0) to the URL rawURL (as
// given, or as the API shows it), and waits for its goroutine.
// ErrPushNotFound if there is none.
func (m *Manager) Stop(key registry.Key, id uint64, rawURL string) error {
	m.mu.Lock()
	var found *push
	for _, p := range m.pushes[key] {
		if (id != 0 && p.id == id) || (id == 0 && rawURL != "" && (p.url == rawURL || p.shown == rawURL)) {
			found = p
			break
		}
	}
	m.mu.Unlock()
	if found == nil {
		return ErrPushNotFound
	}
	found.cancel()
	<-found.done
	return nil
}

// Shutdown starts no more pushes and waits for the running ones to end
// by themselves (their streams end when the publishers do: they send
// their end) until ctx is done; then it stops them and waits for their
// goroutines, which cancellation ends at once (every wait and deadline
// of a push follows its context).
func (m *Manager) Shutdown(ctx context.Context) error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
		m.cancel()
		return nil
	case <-ctx.Done():
	}
	m.cancel()
	<-done
	return ctx.Err()
}

// run is a push's goroutine: connect, push, retry with backoff, until
// the stream ends or ctx is done. It owns p.player and releases it.
func (m *Manager) run(ctx context.Context, p *push) {
	defer m.wg.Done()
	defer close(p.done)
	defer m.remove(p)
	defer p.player.Release()
	defer p.cancel()
	log := m.log.With().Str("app", p.key.App).Str("stream", p.key.Name).Uint64("push_id", p.id).
		Str("url", p.shown).Uint64("player_id", p.player.ID()).Logger()
	log.Info().Str("source", p.source).Msg("push start")
	reason := "stopped"
	defer func() {
		p.setState(StateStopped)
		log.Info().Str("reason", reason).Uint64("reconnects", p.reconnects.Load()).Msg("push stop")
	}()
	// The first subscription only watches for the end of the stream
	// until the first connection subscribes anew.
	sub, err := p.player.Subscribe()
	if err != nil {
		reason = err.Error()
		return
	}
	cfg := m.cfg.Load()
	backoff := cfg.BackoffMin
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			p.reconnects.Add(1)
			m.reconnects.Add(1)
		}
		p.setState(StateConnecting)
		ended, pushed, err := m.pushOnce(ctx, p, &sub, log)
		switch {
		case ended:
			reason = play.ReasonEnded
			return
		case ctx.Err() != nil:
			return
		}
		why := p.setErr(err)
		if pushed >= cfg.BackoffMax {
			backoff = cfg.BackoffMin // it was stable: start over
		}
		log.Warn().Str("error", why).Dur("retry_in", backoff).Uint64("reconnects", p.reconnects.Load()).Msg("push failed")
		p.setState(StateBackoff)
		if !wait(ctx, sub, backoff) {
			if ctx.Err() == nil {
				reason = play.ReasonEnded
			}
			return
		}
		backoff = min(2*backoff, cfg.BackoffMax)
	}
}

// pushOnce makes one connection and pushes until it ends: ended reports
// that the stream ended (and the destination was told); pushed is how
// long the destination took the stream; err is why it failed.
func (m *Manager) pushOnce(ctx context.Context, p *push, sub **stream.Subscriber, log zerolog.Logger) (ended bool, pushed time.Duration, err error) {
	cfg := m.cfg.Load()
	// While it connects, a watcher drains the current subscription: the
	// end of the stream (or a kick) aborts the connect at once.
	cctx, ccancel := context.WithCancel(ctx)
	endedWhileConnecting := make(chan bool, 1)
	go func() {
		gone := !wait(cctx, *sub, time.Duration(math.MaxInt64))
		if gone && cctx.Err() == nil {
			ccancel()
			endedWhileConnecting <- true
			return
		}
		endedWhileConnecting <- false
	}()
	pub, err := rtmpclient.Publish(cctx, p.url, rtmpclient.Options{Timeout: cfg.ConnectTimeout, WriteTimeout: cfg.Play.WriteTimeout,
		TCURLQuery: p.via})
	ccancel()
	if <-endedWhileConnecting {
		if pub != nil {
			_ = pub.Close()
		}
		return true, 0, nil
	}
	if err != nil {
		return false, 0, err
	}
	defer pub.Close() // after the session: it is the connection's writer
	s, err := p.player.Resubscribe()
	if err != nil {
		return false, 0, err
	}
	*sub = s
	p.setState(StatePushing)
	log.Info().Uint64("reconnects", p.reconnects.Load()).Msg("push connected")
	// The session ends too when the destination ends the publish.
	sctx, scancel := context.WithCancel(ctx)
	stop := context.AfterFunc(pub.Context(), scancel)
	start := time.Now()
	res := play.NewSession(pub.Conn(), framer{pub}, cfg.Play, p.player, m.totals).Run(sctx, s)
	stop()
	scancel()
	pushed = time.Since(start)
	switch {
	case res.Reason == play.ReasonEnded:
		return true, pushed, nil
	case ctx.Err() != nil:
		return false, pushed, ctx.Err()
	case pub.Err() != nil:
		return false, pushed, fmt.Errorf("the destination ended the publish: %w", pub.Err())
	}
	return false, pushed, errors.New(res.Reason)
}

// wait drains sub for d (a push waiting to retry, or connecting): false
// if the stream ended, the subscription was closed (a kick) or ctx is
// done first.
func wait(ctx context.Context, sub *stream.Subscriber, d time.Duration) bool {
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var batch []*stream.Tag
	for {
		var err error
		batch, err = sub.Next(wctx, batch[:0])
		clear(batch)
		if cap(batch) > stream.KeepQueueCap {
			batch = nil
		}
		switch {
		case err == nil:
		case errors.Is(err, context.DeadlineExceeded):
			return ctx.Err() == nil
		default: // ended, closed, ctx cancelled
			return false
		}
	}
}

// framer is a push's play.Framer: each shared tag becomes one media
// message of the publish (rtmpclient.Publisher.AppendMessage), the
// payload not copied; the end is FCUnpublish and deleteStream.
type framer struct{ pub *rtmpclient.Publisher }

func (framer) Head() []byte           { return nil }
func (framer) Start(_, _ bool) []byte { return nil }
func (f framer) Flushed()             { f.pub.Flushed() }
func (f framer) End() []byte          { return f.pub.EndMessages() }

func (f framer) Append(iov net.Buffers, t *stream.Tag) net.Buffers {
	return f.pub.AppendMessage(iov, t.Type, t.Timestamp, t.Payload())
}
