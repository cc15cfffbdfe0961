// Package rtmp is headwater's RTMP server: it accepts connections, runs
// go-rtmp (imported as gortmp) on each behind deadlines and input bounds,
// feeds published media into the registry (publish sessions, a source)
// and plays streams out of it (play sessions, a sink: play.go, through
// internal/play's loop with an RTMP framer, framer.go).
//
// go-rtmp v0.0.7 is used through a patched copy (third_party/go-rtmp, see its
// PATCHES.md) and contained here: this package owns the accept loop (with
// backoff and a connection limit), one goroutine per connection that it
// waits for on Shutdown, a deadline on every read and write, bounds on
// buffered input, and the routing of go-rtmp's logrus output into zerolog.
package rtmp

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/sirupsen/logrus"
	gortmp "github.com/yutopp/go-rtmp"

	"github.com/headwater-media/headwater/internal/auth"
	"github.com/headwater-media/headwater/internal/lockcheck"
	"github.com/headwater-media/headwater/internal/play"
	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/stream"
)

// Config bounds what one RTMP connection may do.
type Config struct {
	// HandshakeTimeout is how long a connection may take to start
	// publishing: the RTMP handshake, connect, createStream and publish.
	// It starts again when a publisher unpublishes and stays connected.
	HandshakeTimeout time.Duration
	// ReadTimeout drops a connection that sends nothing for this long.
	ReadTimeout time.Duration
	// MediaTimeout drops a publisher that sends no coded audio or video
	// frame for this long.
	MediaTimeout time.Duration
	// WriteTimeout bounds every write to the peer.
	WriteTimeout time.Duration
	// MaxConns caps concurrent RTMP connections; more are closed at accept.
	MaxConns int
	// MaxConnsPerIP caps concurrent RTMP connections from one client IP;
	// more are closed at accept. 0 is off.
	MaxConnsPerIP int
	// MaxPublishBitrate (bits/s) disconnects a publisher whose audio and
	// video payload averages more over the last 5 whole seconds. 0 is off.
	MaxPublishBitrate int64
	// MaxMessageSize caps one RTMP message.
	MaxMessageSize uint32
	// MaxPartialBytes caps the announced size of incomplete messages
	// buffered per connection, across all chunk streams.
	MaxPartialBytes uint32
	// MaxChunkStreams caps the chunk streams one connection may open.
	MaxChunkStreams int
	// RefusePublish refuses every publish (an edge that only relays its
	// origins: edge.allow_publish false).
	RefusePublish bool
	// ProxyProtocol: every connection starts with a PROXY protocol v1 or
	// v2 header, whose source is the client's address.
	ProxyProtocol bool
	// GraceOnCleanStop gives a publisher that unpublishes cleanly
	// (FCUnpublish or deleteStream) the registry's grace too, as one that
	// drops does (registry.Publisher.Drop); off, its players end at once.
	GraceOnCleanStop bool
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		HandshakeTimeout: 10 * time.Second,
		ReadTimeout:      10 * time.Second,
		MediaTimeout:     10 * time.Second,
		WriteTimeout:     10 * time.Second,
		MaxConns:         1000,
		MaxMessageSize:   4 << 20,
		MaxPartialBytes:  5 << 20,
		MaxChunkStreams:  64,
	}
}

// Server accepts RTMP publishers and players.
type Server struct {
	cfg     Config
	reg     *registry.Registry
	log     zerolog.Logger
	playCfg play.Config      // play sessions' loop (WithPlay)
	auth    *auth.Authorizer // publish and play rules (WithAuth); nil allows all
	hooks   *auth.Hooks      // HTTP hooks (WithAuth); nil: none
	claimer Claimer          // the cluster directory (WithClaimer); nil: no cluster
	totals  *stream.Totals   // server-wide bytes out of play sessions; may be nil
	relays  Relays           // push relays of streams going live (WithRelays); may be nil
	nodeID  string           // this node's id: a publish that came through it is refused (WithRelays)
	// baseCtx is the parent of every play session's context, cancelled by
	// Shutdown.
	baseCtx    context.Context
	baseCancel context.CancelFunc
	// refSampler rate-limits refusal log lines (lock-free): a flood is
	// counted in full, logged in part.
	refSampler zerolog.Sampler
	rtmpLg     *logrus.Logger
	done       chan struct{} // closed by Shutdown

	wg sync.WaitGroup // one per connection goroutine

	refusedConns   atomic.Uint64
	refusedPerIP   atomic.Uint64
	refusedBitrate atomic.Uint64

	logBudget         *lineBudget   // all connections' log lines (logsample.go)
	suppressedLines   atomic.Uint64 // log lines sampled away
	handshakeTimeouts atomic.Uint64 // connections closed for not publishing in time
	ignored           [ignoredKinds]atomic.Uint64

	// maxBitrate is Config.MaxPublishBitrate, replaceable by SetLimits;
	// each publisher reads it per media message.
	maxBitrate atomic.Int64

	// mu guards lns, conns, perIP, closing, maxConns and maxPerIP. Leaf lock: nothing is called
	// under it but net.Conn.Close and net.Listener.Close, which do not block.
	mu      lockcheck.Mutex
	lns     []net.Listener     // every listener Serve runs on (RTMP, RTMPS)
	conns   map[net.Conn]bool  // true: counted in perIP
	perIP   map[netip.Addr]int // connections per client IP, when maxPerIP > 0
	closing bool
	// maxConns and maxPerIP are Config.MaxConns and MaxConnsPerIP,
	// replaceable by SetLimits.
	maxConns, maxPerIP int
}

// Relays starts the push relays of a stream whose publish was accepted
// (internal/relay's Manager).
type Relays interface {
	// Live is called once per accepted primary publish, after the
	// on_publish hook, with the chain of nodes the stream came through
	// (registry.ViaParam, "" if none) and the hook's answer; it must not
	// block.
	Live(key registry.Key, via string, ans auth.HookAnswer)
}

// WithRelays makes accepted publishes start their push relays, and
// refuses a publish whose via chain (registry.ViaParam, in the name's
// query or connect's tcUrl) holds nodeID: a push that came back to this
// node.
func WithRelays(r Relays, nodeID string) Option {
	return func(s *Server) { s.relays, s.nodeID = r, nodeID }
}

// Option configures a Server in NewServer.
type Option func(*Server)

// WithPlay sets the play sessions' loop configuration (its WriteTimeout
// is replaced by Config.WriteTimeout) and the totals their bytes out are
// added to. Without it, play.DefaultConfig.
func WithPlay(cfg play.Config, totals *stream.Totals) Option {
	return func(s *Server) { s.playCfg, s.totals = cfg, totals }
}

// WithAuth checks every publish and play against a before the handle is
// taken, and calls hooks' deciding hooks after it (hooks may be nil).
func WithAuth(a *auth.Authorizer, hooks *auth.Hooks) Option {
	return func(s *Server) { s.auth, s.hooks = a, hooks }
}

// Claimer takes a stream's key cluster-wide (internal/cluster's
// Directory) before a publish is admitted.
type Claimer interface {
	// Claim returns within its own timeout. An error wrapping
	// registry.ErrStreamBusy means another node publishes key (the
	// publish gets BadName, as for a local duplicate); any other error
	// refuses the publish with Publish.Failed. lost is called, from
	// another goroutine, when the claim is later lost to another node;
	// release (idempotent) gives the claim up.
	Claim(ctx context.Context, key registry.Key, lost func()) (release func(), err error)
}

// WithClaimer makes every publish claim its key through c after the
// local publisher handle is taken and before Publish.Start; the claim is
// released with the handle, whatever ends the publish.
func WithClaimer(c Claimer) Option { return func(s *Server) { s.claimer = c } }

// NewServer returns a server that publishes into and plays from reg.
func NewServer(cfg Config, reg *registry.Registry, log zerolog.Logger, opts ...Option) *Server {
	log = log.With().Str("component", "rtmp").Logger()
	s := &Server{
		cfg: cfg, reg: reg, log: log, rtmpLg: newLogrusBridge(log), playCfg: play.DefaultConfig(),
		refSampler: &zerolog.BurstSampler{Burst: 20, Period: time.Second},
		logBudget:  newLineBudget(globalLogBurst, globalLogPeriod),
		done:       make(chan struct{}), conns: make(map[net.Conn]bool), perIP: make(map[netip.Addr]int),
		maxConns: cfg.MaxConns, maxPerIP: cfg.MaxConnsPerIP,
	}
	s.maxBitrate.Store(cfg.MaxPublishBitrate)
	for _, o := range opts {
		o(s)
	}
	s.playCfg.WriteTimeout = cfg.WriteTimeout
	s.baseCtx, s.baseCancel = context.WithCancel(context.Background())
	return s
}

// SetLimits replaces MaxConns, MaxConnsPerIP and MaxPublishBitrate (on
// SIGHUP). Connections already accepted stay even if now over a lowered
// limit; a publisher over a new bitrate limit is disconnected once its
// 5 s average exceeds it.
func (s *Server) SetLimits(maxConns, maxConnsPerIP int, maxPublishBitrate int64) {
	s.maxBitrate.Store(maxPublishBitrate)
	s.mu.Lock()
	s.maxConns, s.maxPerIP = maxConns, maxConnsPerIP
	s.mu.Unlock()
}

// Refusals counts what the RTMP side refused for a limit since NewServer.
type Refusals struct {
	Conns          uint64 // over MaxConns, closed at accept
	ConnsPerIP     uint64 // over MaxConnsPerIP, closed at accept
	PublishBitrate uint64 // publishers disconnected over MaxPublishBitrate
}

// Refusals returns the refusal counts (atomics; safe at any time).
func (s *Server) Refusals() Refusals {
	return Refusals{Conns: s.refusedConns.Load(), ConnsPerIP: s.refusedPerIP.Load(), PublishBitrate: s.refusedBitrate.Load()}
}

// Kinds of ignored messages, as the metric's kind label.
const (
	IgnoredType    = "type"    // a message type headwater does not handle (aggregates are split, not ignored)
	IgnoredData    = "data"    // a data message other than @setDataFrame and onMetaData
	IgnoredCommand = "command" // a command headwater does not know
)

const (
	ignoredType = iota
	ignoredData
	ignoredCommand
	ignoredKinds
)

// Counts is what the RTMP side counted besides refusals since NewServer.
type Counts struct {
	// HandshakeTimeouts counts connections closed because they had not
	// started to publish within Config.HandshakeTimeout.
	HandshakeTimeouts uint64
	// Ignored counts the messages ignored, by IgnoredType, IgnoredData
	// and IgnoredCommand.
	Ignored map[string]uint64
	// SuppressedLogLines counts per-connection log lines sampled away.
	SuppressedLogLines uint64
}

// Counts returns the counts (atomics; safe at any time).
func (s *Server) Counts() Counts {
	return Counts{
		HandshakeTimeouts: s.handshakeTimeouts.Load(),
		Ignored: map[string]uint64{
			IgnoredType:    s.ignored[ignoredType].Load(),
			IgnoredData:    s.ignored[ignoredData].Load(),
			IgnoredCommand: s.ignored[ignoredCommand].Load(),
		},
		SuppressedLogLines: s.suppressedLines.Load(),
	}
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("rtmp: server closed")

// Serve accepts connections on ln until Shutdown; it may run on several
// listeners at once (RTMP and RTMPS, a crypto/tls listener). Accept errors (such as
// EMFILE) back off from 5 ms up to 1 s instead of spinning.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		_ = ln.Close()
		return ErrServerClosed
	}
	s.lns = append(s.lns, ln)
	s.mu.Unlock()

	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return ErrServerClosed
			default:
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn().Err(err).Dur("retry_in", backoff).Msg("accept failed")
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-s.done:
				t.Stop()
				return ErrServerClosed
			}
			continue
		}
		backoff = 0
		ip := remoteIP(c.RemoteAddr())
		refused, bound := s.track(c, ip)
		if refused != refusedNone {
			// RTMP has no way to say why before connect: count, close, then
			// log (sampled), all after track has unlocked.
			limit := LimitConns
			switch refused {
			case refusedConns:
				s.refusedConns.Add(1)
			case refusedPerIP:
				s.refusedPerIP.Add(1)
				limit = LimitConnsPerIP
			}
			_ = c.Close()
			if refused != refusedClosing {
				s.refusalLog(s.log).Warn().Str("limit", limit).Str("remote", c.RemoteAddr().String()).
					Int("max", bound).Msg("connection refused: limit reached")
			}
			continue
		}
		go s.serveConn(c, ip)
	}
}

// refusalLog returns l rate-limited for refusal lines.
func (s *Server) refusalLog(l zerolog.Logger) *zerolog.Logger {
	l = l.Sample(s.refSampler)
	return &l
}

// Limit names, as logged and as the metric's limit label.
const (
	LimitConns          = "rtmp_conns"
	LimitConnsPerIP     = "rtmp_conns_per_ip"
	LimitStreams        = "streams"
	LimitPublishBitrate = "publish_bitrate"
)

// refusal is why track refused a connection.
type refusal int

const (
	refusedNone    refusal = iota
	refusedClosing         // shutting down: not a limit
	refusedConns
	refusedPerIP
)

// track registers c (from ip), or says why it is refused and the bound
// it hit.
func (s *Server) track(c net.Conn, ip netip.Addr) (refusal, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return refusedClosing, 0
	}
	if s.maxConns > 0 && len(s.conns) >= s.maxConns {
		return refusedConns, s.maxConns
	}
	counted := s.maxPerIP > 0
	if counted {
		if s.perIP[ip] >= s.maxPerIP {
			return refusedPerIP, s.maxPerIP
		}
		s.perIP[ip]++
	}
	s.conns[c] = counted
	s.wg.Add(1)
	return refusedNone, 0
}

func (s *Server) untrack(c net.Conn, ip netip.Addr) {
	s.mu.Lock()
	counted := s.conns[c]
	delete(s.conns, c)
	if counted {
		if s.perIP[ip]--; s.perIP[ip] <= 0 {
			delete(s.perIP, ip)
		}
	}
	s.mu.Unlock()
	s.wg.Done()
}

// remoteIP is the client IP of addr (IPv4-mapped addresses unmapped); the
// zero Addr for a non-TCP address.
func remoteIP(addr net.Addr) netip.Addr {
	if ta, ok := addr.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// serveConn runs one connection to its end; it owns c and closes it.
func (s *Server) serveConn(c net.Conn, ip netip.Addr) {
	defer s.untrack(c, ip)
	if s.cfg.ProxyProtocol {
		// The load balancer's header comes first, within the handshake
		// deadline; its source is the client's address from here on.
		_ = c.SetReadDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
		addr, err := readProxyHeader(c)
		_ = c.SetReadDeadline(time.Time{})
		if err != nil {
			s.log.Debug().Err(err).Str("remote", c.RemoteAddr().String()).Msg("rtmp connection closed: no PROXY protocol header")
			_ = c.Close()
			return
		}
		if addr != nil {
			c = &proxiedConn{Conn: c, remote: addr}
		}
	}
	dc := newDeadlineConn(c, &s.cfg)
	remote := c.RemoteAddr().String()
	// Every line this connection causes, ours and go-rtmp's, goes through
	// one sampler: a client cannot flood the log.
	cs := &connSampler{own: newLineBudget(connLogBurst, connLogPeriod), global: s.logBudget, total: &s.suppressedLines}
	h := &handler{srv: s, conn: dc, log: cs.sampled(s.log.With().Str("remote", remote).Logger())}
	rtmpLog := cs.sampled(s.log.With().Str("component", "go-rtmp").Str("remote", remote).Logger())
	srv := gortmp.NewServer(&gortmp.ServerConfig{
		OnConnect: func(net.Conn) (io.ReadWriteCloser, *gortmp.ConnConfig) {
			return dc, &gortmp.ConnConfig{
				Handler:          h,
				Logger:           s.rtmpLg.WithField(connLogField, &rtmpLog),
				ReaderBufferSize: 64 << 10,
				WriterBufferSize: 4 << 10,
				ControlState: gortmp.StreamControlStateConfig{
					MaxMessageSize:    s.cfg.MaxMessageSize,
					MaxPartialBytes:   s.cfg.MaxPartialBytes,
					MaxChunkStreams:   s.cfg.MaxChunkStreams,
					MaxMessageStreams: 16,
				},
			}
		},
	})
	start := time.Now()
	err := srv.ServeConn(c)
	lvl := zerolog.InfoLevel
	switch {
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		lvl = zerolog.DebugLevel
	case errors.Is(err, errHandshakeTimeout):
		s.handshakeTimeouts.Add(1)
	case errors.Is(err, gortmp.ErrHandshake):
		lvl = zerolog.DebugLevel // port scanners and health checks
	}
	// The last line of a connection skips its own budget (so that it can
	// tell how many of its lines were suppressed), not the server's.
	last := s.log.Sample(&connSampler{global: s.logBudget, total: &s.suppressedLines})
	ev := last.WithLevel(lvl)
	if n := cs.suppressed.Load(); n > 0 {
		ev = ev.Uint64("suppressed", n)
	}
	ev.Str("remote", remote).Dur("duration", time.Since(start)).Int64("bytes_in", dc.bytesIn.Load()).
		AnErr("error", err).Msg("rtmp connection closed")
}

// Shutdown stops accepting, closes every connection (publishers release
// their streams, so players drain and end) and waits for the connection
// goroutines, or for ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closing {
		s.closing = true
		close(s.done)
		s.baseCancel()
		for _, ln := range s.lns {
			_ = ln.Close()
		}
		for c := range s.conns {
			_ = c.Close()
		}
	}
	s.mu.Unlock()
	waited := make(chan struct{})
	go func() { s.wg.Wait(); close(waited) }()
	select {
	case <-waited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
