// Package edge makes headwater an edge: a stream that is not live here is
// pulled from the first origin that has it, on demand, and the pull is
// the stream's publisher, a source like an RTMP publish. Local players
// are ordinary players of that stream, so an origin sees one player per
// edge per stream whatever the viewer count.
//
// Lifecycle of a pull (one goroutine per stream, owned by Edge, waited
// for by Shutdown):
//
//   - Pull (registry.Puller) joins the stream's pull in flight, or starts
//     one: every player that asks for the same key while it connects waits
//     for that one pull (single flight), at most ConnectTimeout per origin.
//   - The pull tries the origins in order: a 404 / StreamNotFound moves to
//     the next at once, a connect error or a timeout too. When one answers,
//     the pull publishes the key in the registry and wakes the waiters.
//   - It copies tags from the upstream into the stream. When the upstream
//     ends or fails (or sends no media for MediaTimeout), it tries the
//     origins again for up to FailoverTimeout, keeping its publisher
//     handle, so that players stay connected and continue (the stream's
//     own timestamp repair keeps their timelines monotonic).
//   - When the stream has had no player for Linger, the pull releases its
//     publisher (Publisher.ReleaseIfIdle: no player can join in between)
//     and closes the upstream.
//
// Loops: every upstream request carries the chain of node ids it came
// through (registry.ViaParam); a node that finds its own id in the chain, or a
// chain of MaxHops, refuses to pull, so A → B → A ends in a 404 instead of
// spinning.
package edge

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/headwater-media/headwater/internal/lockcheck"
	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/stream"
	"github.com/headwater-media/headwater/pkg/flv"
)

// MaxHops is the longest chain of edges a pull may extend.
const MaxHops = registry.MaxViaHops

// Config configures an edge.
type Config struct {
	// Origins are tried in order: http://host:port (HTTP-FLV,
	// /{app}/{stream}.flv) or rtmp://host:port (RTMP play).
	Origins []string
	// ConnectTimeout bounds one origin's dial, request and answer.
	ConnectTimeout time.Duration
	// Linger is how long an upstream stays after its last local player.
	Linger time.Duration
	// FailoverTimeout is how long a failed upstream's players wait while
	// the origins are tried again.
	FailoverTimeout time.Duration
	// MediaTimeout fails an upstream that sends no audio or video for
	// this long (rtmp.media_timeout, as for an RTMP publisher).
	MediaTimeout time.Duration
	// MaxTagSize caps one upstream tag or message (rtmp.max_message_size).
	MaxTagSize uint32
	// WriteTimeout bounds each write to an origin.
	WriteTimeout time.Duration
	// Directory, when set, is asked first which node holds a stream
	// (edge.directory); that node is tried before Origins.
	Directory Directory
}

// Directory finds the node that holds a stream (internal/cluster): its
// URL, http://host:port or rtmp://host:port, or an error (not found,
// unreachable) after which the origins are tried.
type Directory interface {
	Lookup(ctx context.Context, key registry.Key) (string, error)
}

// DefaultConfig returns the defaults; Origins is empty (not an edge).
func DefaultConfig() Config {
	return Config{
		ConnectTimeout:  3 * time.Second,
		Linger:          5 * time.Second,
		FailoverTimeout: 3 * time.Second,
		MediaTimeout:    10 * time.Second,
		MaxTagSize:      4 << 20,
		WriteTimeout:    10 * time.Second,
	}
}

// Errors of Pull.
var (
	// ErrLoop: the request came through this node already, or through
	// MaxHops nodes. It wraps registry.ErrNotFound.
	ErrLoop = fmt.Errorf("%w: edge loop refused", registry.ErrNotFound)
	// ErrNoOrigin: no origin has the stream. It wraps registry.ErrNotFound.
	ErrNoOrigin = fmt.Errorf("%w on any origin", registry.ErrNotFound)
	// ErrClosed: the edge is shutting down.
	ErrClosed = errors.New("edge shutting down")
)

// Pull results, as the metric's result label.
const (
	ResultOK       = "ok"
	ResultNotFound = "not_found"
	ResultError    = "error"
	ResultLoop     = "loop"
)

// Edge pulls streams from origins into a registry.
type Edge struct {
	cfg     Config
	origins []*url.URL
	reg     *registry.Registry
	id      string // this node's id, in every via chain it extends
	log     zerolog.Logger

	ctx    context.Context // cancelled by Shutdown: every pull ends
	cancel context.CancelFunc
	wg     sync.WaitGroup // one per pull goroutine

	pullsOK, pullsNotFound, pullsError, pullsLoop atomic.Uint64
	failovers                                     atomic.Uint64
	bytesIn                                       atomic.Uint64
	lookups                                       atomic.Uint64 // Directory.Lookup calls

	// mu guards pulls and closed. Leaf lock: nothing blocks under it.
	mu     lockcheck.Mutex
	pulls  map[registry.Key]*pull
	closed bool
}

// New returns an edge over reg with node id id (unique per running
// server). Origins that do not parse are an error.
func New(cfg Config, reg *registry.Registry, id string, log zerolog.Logger) (*Edge, error) {
	e := &Edge{cfg: cfg, reg: reg, id: id, log: log.With().Str("component", "edge").Logger(),
		pulls: make(map[registry.Key]*pull)}
	for _, o := range cfg.Origins {
		u, err := ParseOrigin(o)
		if err != nil {
			return nil, err
		}
		e.origins = append(e.origins, u)
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	return e, nil
}

// ParseOrigin checks one origin URL: http:// or rtmp://, a host, and
// nothing else.
func ParseOrigin(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("edge origin %q: %w", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "rtmp") || u.Host == "" || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" {
		return nil, fmt.Errorf("edge origin %q: want http://host:port or rtmp://host:port", s)
	}
	return u, nil
}

// Counts is what an edge counted since New.
type Counts struct {
	// Pulls by result: ResultOK, ResultNotFound, ResultError, ResultLoop.
	Pulls map[string]uint64
	// Failovers counts upstreams that failed while players were
	// connected and were replaced by another origin's.
	Failovers uint64
	// BytesIn counts the bytes read from upstreams.
	BytesIn uint64
	// Lookups counts the directory lookups asked (each answered by a
	// Redis read or the directory's cache).
	Lookups uint64
}

// Counts returns the counts (atomics; safe at any time).
func (e *Edge) Counts() Counts {
	return Counts{
		Pulls: map[string]uint64{ResultOK: e.pullsOK.Load(), ResultNotFound: e.pullsNotFound.Load(),
			ResultError: e.pullsError.Load(), ResultLoop: e.pullsLoop.Load()},
		Failovers: e.failovers.Load(),
		BytesIn:   e.bytesIn.Load(),
		Lookups:   e.lookups.Load(),
	}
}

// Origins returns the configured origins.
func (e *Edge) Origins() []string { return append([]string(nil), e.cfg.Origins...) }

// pull is one stream's upstream pull.
type pull struct {
	key   registry.Key
	via   string        // the chain its upstream requests carry, ending in this node's id
	ready chan struct{} // closed once the first connect succeeded or failed
	err   error         // set before ready closes
}

// Pull implements registry.Puller: it returns nil once key is live here,
// or an error wrapping registry.ErrNotFound when no origin has it (within
// ConnectTimeout per origin), or ctx's error.
func (e *Edge) Pull(ctx context.Context, key registry.Key, via string) error {
	hops := registry.ViaHops(via)
	if slices.Contains(hops, e.id) || len(hops) >= MaxHops {
		e.pullsLoop.Add(1)
		return ErrLoop
	}
	if len(e.origins) == 0 && e.cfg.Directory == nil {
		return registry.ErrNotFound
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return ErrClosed
	}
	p, ok := e.pulls[key]
	if !ok {
		p = &pull{key: key, via: strings.Join(append(hops, e.id), ","), ready: make(chan struct{})}
		e.pulls[key] = p
		e.wg.Add(1)
		go e.run(p)
	}
	e.mu.Unlock()
	select {
	case <-p.ready:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Shutdown ends every pull (their players end as when a publisher
// leaves) and waits for them, or for ctx.
func (e *Edge) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	e.cancel()
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run is a pull's goroutine: connect, publish, copy, fail over, linger.
func (e *Edge) run(p *pull) {
	defer e.wg.Done()
	defer func() {
		e.mu.Lock()
		delete(e.pulls, p.key)
		e.mu.Unlock()
	}()
	log := e.log.With().Str("app", p.key.App).Str("stream", p.key.Name).Logger()
	up, origin, err := e.connect(e.ctx, p, nil)
	if err != nil {
		p.err = err
		close(p.ready)
		return
	}
	// The pull's context: cancelled by the linger, by a kick (DELETE
	// /api/v1/streams/... ends the pull like any publisher) or Shutdown;
	// copy closes whichever upstream is current when it ends.
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	var kicked atomic.Bool
	var pub *registry.Publisher
	pub, err = e.reg.Publish(p.key, registry.PublisherInfo{Kind: registry.KindEdgePull, Remote: origin.Host, Origin: origin.String()},
		func() { kicked.Store(true); cancel() })
	if err != nil {
		// A local publisher took the key meanwhile: players play it.
		up.Close()
		if errors.Is(err, registry.ErrStreamBusy) {
			err = nil
		}
		p.err = err
		close(p.ready)
		return
	}
	defer pub.Release()
	close(p.ready)
	log.Info().Str("origin", origin.String()).Msg("edge pull start")
	start := time.Now()

	lingered := make(chan struct{})
	go e.linger(ctx, pub, cancel, lingered)
	defer func() {
		cancel()
		<-lingered
	}()

	var (
		reason string
		// failingSince is when the last upstream that delivered media
		// failed; zero while one is delivering. An upstream that ends
		// without media (an origin whose stream flaps) does not restart
		// the failover timeout.
		failingSince time.Time
	)
	for {
		var media bool
		media, reason = e.copy(ctx, up, pub)
		up.Close()
		if ctx.Err() != nil {
			break
		}
		if media || failingSince.IsZero() {
			failingSince = time.Now()
		}
		left := e.cfg.FailoverTimeout - time.Since(failingSince)
		if left <= 0 {
			reason = "failover: no origin delivered media within the failover timeout (last: " + reason + ")"
			break
		}
		// The upstream ended or failed while players are connected: find
		// the stream elsewhere within the failover timeout.
		log.Warn().Str("origin", origin.String()).Str("reason", reason).Msg("edge upstream lost: failing over")
		fctx, fcancel := context.WithTimeout(ctx, left)
		if !media && !sleepCtx(fctx, failoverRetry) {
			fcancel()
			reason = "failover: " + reason
			break
		}
		up, origin, err = e.connect(fctx, p, origin)
		fcancel()
		if err != nil {
			reason = "failover: " + err.Error()
			break
		}
		e.failovers.Add(1)
		pub.SetOrigin(origin.String(), origin.Host)
		log.Info().Str("origin", origin.String()).Msg("edge failover")
	}
	switch {
	case e.ctx.Err() != nil:
		reason = "shutting down"
	case kicked.Load():
		reason = "kicked"
	case ctx.Err() != nil:
		reason = "no players for the linger"
	}
	log.Info().Dur("duration", time.Since(start)).Str("reason", reason).Msg("edge pull stop")
}

// linger cancels the pull once its stream has had no player for Linger,
// releasing the publisher first (only if still idle).
func (e *Edge) linger(ctx context.Context, pub *registry.Publisher, cancel context.CancelFunc, done chan<- struct{}) {
	defer close(done)
	t := time.NewTimer(e.cfg.Linger)
	defer t.Stop()
	idle := pub.Players() == 0
	if !idle {
		t.Stop()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-pub.PlayersChanged():
			now := pub.Players() == 0
			if now && !idle {
				t.Reset(e.cfg.Linger)
			} else if !now && idle {
				t.Stop()
			}
			idle = now
		case <-t.C:
			if pub.ReleaseIfIdle() {
				cancel()
				return
			}
			idle = false // a player came in between; its leaving re-arms
		}
	}
}

// upstream is one connection to an origin, read tag by tag.
type upstream interface {
	ReadTag() (flv.Tag, error)
	Close() error
}

// connect tries the node the directory names, then the origins in order
// (skipping last, tried at the end, after a failure), each within
// ConnectTimeout, until one plays the stream. During a failover (last !=
// nil) it goes round again, asking the directory again each round, until
// ctx ends.
func (e *Edge) connect(ctx context.Context, p *pull, last *url.URL) (upstream, *url.URL, error) {
	var errs []error
	for round := 0; ; round++ {
		order := e.order(ctx, p.key, last)
		if len(order) == 0 {
			return nil, nil, ErrNoOrigin
		}
		notFound := true
		for _, o := range order {
			if ctx.Err() != nil {
				return nil, nil, errors.Join(append(errs, ctx.Err())...)
			}
			up, err := e.dial(ctx, o, p)
			if err == nil {
				e.pullsOK.Add(1)
				return up, o, nil
			}
			if errors.Is(err, registry.ErrNotFound) {
				e.pullsNotFound.Add(1)
			} else {
				notFound = false
				e.pullsError.Add(1)
			}
			if round == 0 {
				errs = append(errs, fmt.Errorf("%s: %w", o.Redacted(), err))
			}
		}
		if last == nil {
			if notFound {
				return nil, nil, ErrNoOrigin
			}
			return nil, nil, fmt.Errorf("%w: %w", ErrNoOrigin, errors.Join(errs...))
		}
		// Failing over: try again shortly, until the failover timeout.
		if !sleepCtx(ctx, failoverRetry) {
			return nil, nil, errors.Join(append(errs, ctx.Err())...)
		}
	}
}

// order is the list of upstreams to try: the directory's node for key
// (if any), then the origins; last (the one that just failed) at the end.
func (e *Edge) order(ctx context.Context, key registry.Key, last *url.URL) []*url.URL {
	var all []*url.URL
	if e.cfg.Directory != nil {
		e.lookups.Add(1)
		node, err := e.cfg.Directory.Lookup(ctx, key)
		if err == nil {
			u, perr := ParseOrigin(node)
			if perr == nil {
				all = append(all, u)
			} else {
				e.log.Warn().Str("app", key.App).Str("stream", key.Name).Str("node", node).Msg("directory names an unusable node URL")
			}
		} else if !errors.Is(err, registry.ErrNotFound) && ctx.Err() == nil {
			e.log.Debug().Err(err).Str("app", key.App).Str("stream", key.Name).Msg("directory lookup failed: trying the origins")
		}
	}
	all = append(all, e.origins...)
	order := make([]*url.URL, 0, len(all))
	seen := make(map[string]bool, len(all))
	for _, o := range all {
		s := o.String()
		if seen[s] || (last != nil && s == last.String()) {
			continue
		}
		seen[s] = true
		order = append(order, o)
	}
	if last != nil {
		order = append(order, last)
	}
	return order
}

// dial opens one upstream, within ConnectTimeout.
func (e *Edge) dial(ctx context.Context, o *url.URL, p *pull) (upstream, error) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.ConnectTimeout)
	defer cancel()
	switch o.Scheme {
	case "rtmp":
		return dialRTMP(ctx, o, p.key, p.via, e.cfg)
	default:
		return dialHTTP(ctx, o, p.key, p.via, e.cfg)
	}
}

// copy writes the upstream's tags into the stream until it fails, ends,
// or sends no media for MediaTimeout; it returns whether any media came,
// and why it stopped.
func (e *Edge) copy(ctx context.Context, up upstream, pub *registry.Publisher) (media bool, reason string) {
	stop := context.AfterFunc(ctx, func() { up.Close() })
	defer stop()
	st, err := pub.Stream()
	if err != nil {
		return false, "stream: " + err.Error()
	}
	// Only coded frames count as media (stream.Frames), as for an RTMP
	// publisher: an upstream that repeats headers or metadata is stalled.
	frames, lastMedia := st.Frames(), time.Now()
	for {
		t, err := up.ReadTag()
		if err != nil {
			if ctx.Err() != nil {
				return media, "cancelled"
			}
			return media, err.Error()
		}
		e.bytesIn.Add(uint64(flv.TagSize(len(t.Data))))
		if t.Type != flv.TagAudio && t.Type != flv.TagVideo && t.Type != flv.TagScript {
			continue
		}
		buf := make([]byte, flv.TagSize(len(t.Data)))
		copy(buf[flv.TagHeaderSize:], t.Data)
		if err := pub.Write(t.Type, t.Timestamp, buf); err != nil && !errors.Is(err, stream.ErrBadTag) {
			return media, "stream: " + err.Error()
		}
		if f, now := st.Frames(), time.Now(); f != frames {
			frames, lastMedia, media = f, now, true
		} else if now.Sub(lastMedia) > e.cfg.MediaTimeout {
			return media, "no media within the media timeout"
		}
	}
}

// failoverRetry is the pause between two rounds of the origins during a
// failover, and after an upstream that ended without media.
const failoverRetry = 200 * time.Millisecond

// sleepCtx sleeps d, or until ctx ends; it reports whether ctx is live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
