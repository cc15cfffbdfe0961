// Package server wires headwater together: registry, RTMP ingest, HTTP-FLV,
// API and metrics, with one Start and one Shutdown.
package server

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/headwater-media/headwater/internal/api"
	"github.com/headwater-media/headwater/internal/auth"
	"github.com/headwater-media/headwater/internal/clientip"
	"github.com/headwater-media/headwater/internal/cluster"
	"github.com/headwater-media/headwater/internal/config"
	"github.com/headwater-media/headwater/internal/edge"
	"github.com/headwater-media/headwater/internal/hls"
	"github.com/headwater-media/headwater/internal/httpflv"
	"github.com/headwater-media/headwater/internal/play"
	"github.com/headwater-media/headwater/internal/record"
	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/relay"
	"github.com/headwater-media/headwater/internal/rtmp"
	"github.com/headwater-media/headwater/internal/stream"
	"github.com/headwater-media/headwater/internal/web"
)

// Server is one running headwater.
type Server struct {
	cfg    config.Config
	log    zerolog.Logger
	totals *stream.Totals
	reg    *registry.Registry
	rtmp   *rtmp.Server
	http   *http.Server
	edge   *edge.Edge // nil unless edge.origins or edge.directory is set
	// cluster is the stream directory this node claims its keys in (nil
	// without cluster.redis); lookup the one edge pulls look keys up in
	// (nil without edge.directory; cluster itself when the URLs match).
	cluster, lookup *cluster.Directory
	relays          *relay.Manager
	rec             *record.Manager
	recFS           record.FS // WithRecordFS; nil: record.OS
	auth            *auth.Authorizer
	hooks           *auth.Hooks
	proxies         *clientip.Resolver // http.trusted_proxies
	id              string             // this node's id (edge loop detection, GET /api/v1/server)

	version string          // for GET /api/v1/server (WithVersion)
	hist    *api.Histograms // time to first frame, publish durations

	baseCtx    context.Context // parent of every request context
	baseCancel context.CancelFunc

	flv *httpflv.Handler
	hls *hls.Server
	api *api.API

	rtmpLn  net.Listener
	httpLn  *limitListener
	rtmpsLn net.Listener   // nil unless rtmps.addr is set
	httpsLn *limitListener // nil unless https.addr is set
	certs   certStore      // the RTMPS and HTTPS certificate
	wg      sync.WaitGroup // the two serve goroutines
}

// Option configures a Server in New.
type Option func(*Server)

// WithRecordFS makes recordings write through fsys (tests inject a full
// disk); the default is the operating system's.
func WithRecordFS(fsys record.FS) Option { return func(s *Server) { s.recFS = fsys } }

// WithVersion sets the version GET /api/v1/server reports ("dev" if unset).
func WithVersion(v string) Option { return func(s *Server) { s.version = v } }

// New builds a server from cfg; nothing listens until Start.
func New(cfg config.Config, log zerolog.Logger, opts ...Option) *Server {
	totals := &stream.Totals{}
	hist := api.NewHistograms()
	sc := streamConfig(cfg)
	sc.Totals = totals
	var ed *edge.Edge            // the registry's Puller, once made below
	var recorder *record.Manager // told of every stream going live, once made below
	ropts := []registry.Option{registry.WithLimits(registryLimits(cfg)), registry.WithObserver(hist), registry.WithBackup(backupConfig(cfg)),
		registry.WithOnPublish(func(key registry.Key) { recorder.Published(key) }),
		registry.WithGrace(cfg.Publish.Grace)}
	hlsSrv := &hls.Server{Config: hlsConfig(cfg), Log: log.With().Str("component", "hls").Logger()}
	if cfg.HLS.AlwaysRemux {
		ropts = append(ropts, registry.WithOnPublish(hlsSrv.Remux))
	}
	if cfg.IsEdge() {
		ropts = append(ropts, registry.WithPuller(registry.PullerFunc(func(ctx context.Context, key registry.Key, via string) error {
			return ed.Pull(ctx, key, via)
		})))
	}
	reg := registry.New(sc, ropts...)
	hlsSrv.Registry = reg
	s := &Server{cfg: cfg, log: log, totals: totals, reg: reg, version: "dev", hist: hist, id: newNodeID(), hls: hlsSrv}
	for _, o := range opts {
		o(s)
	}
	ac, err := cfg.AuthConfig()
	if err == nil {
		s.auth, err = auth.New(ac)
	}
	if err != nil {
		panic(err) // config.Validate checked it
	}
	s.hooks = auth.NewHooks(cfg.HookConfig(), s.id)
	recorder, err = record.NewManager(reg, cfg.RecordConfig(), cfg.Record.Apps, log.With().Str("component", "record").Logger(),
		record.WithFS(cmp.Or[record.FS](s.recFS, record.OS{})), record.WithDone(func(d record.Done) {
			s.hooks.Notify(auth.OnRecordDone, auth.HookEvent{App: d.Key.App, Stream: d.Key.Name, Protocol: record.Protocol,
				Path: d.Path, Duration: d.Duration.Seconds(), Bytes: d.Bytes})
		}))
	if err != nil {
		panic(err) // config.Validate checked it
	}
	s.rec = recorder
	if s.proxies, err = clientip.New(cfg.HTTP.TrustedProxies); err != nil {
		panic(err) // config.Validate checked it
	}
	if cfg.Cluster.Redis != "" {
		if s.cluster, err = cluster.New(clusterConfig(cfg, cfg.Cluster.Redis, s.id), log); err != nil {
			panic(err) // config.Validate checked it
		}
	}
	if d := cfg.Edge.Directory; d != "" {
		if d == cfg.Cluster.Redis {
			s.lookup = s.cluster
		} else if s.lookup, err = cluster.New(clusterConfig(cfg, d, s.id), log); err != nil {
			panic(err) // config.Validate checked it
		}
	}
	if cfg.IsEdge() {
		var err error
		ec := edgeConfig(cfg)
		if s.lookup != nil {
			ec.Directory = s.lookup
		}
		if ed, err = edge.New(ec, reg, s.id, log); err != nil {
			panic(err) // config.Validate checked every origin
		}
		s.edge = ed
	}
	s.baseCtx, s.baseCancel = context.WithCancel(context.Background())
	s.relays = relay.New(relayConfig(cfg, s.id), reg, totals, log.With().Str("component", "relay").Logger())
	ropt := []rtmp.Option{rtmp.WithPlay(flvConfig(cfg), totals), rtmp.WithAuth(s.auth, s.hooks), rtmp.WithRelays(s.relays, s.id)}
	if s.cluster != nil {
		ropt = append(ropt, rtmp.WithClaimer(s.cluster))
	}
	s.rtmp = rtmp.NewServer(rtmpConfig(cfg), reg, log, ropt...)
	return s
}

// The component configurations that cfg's keys give. With
// config.Default, each equals the component's DefaultConfig
// (TestComponentsRunWithTheirDefaults): config.Default is built from them.

func streamConfig(cfg config.Config) stream.Config {
	return stream.Config{
		GOPCacheBytes: cfg.Stream.GOPCacheBytes,
		QueueBytes:    cfg.Stream.QueueBytes,
		QueueDuration: cfg.Stream.QueueDuration,
		MaxTSJump:     cfg.Stream.MaxTSJump,
	}
}

func registryLimits(cfg config.Config) registry.Limits {
	return registry.Limits{MaxStreams: cfg.Limits.MaxStreams, MaxPlayersPerStream: cfg.Limits.MaxPlayersPerStream}
}

func rtmpConfig(cfg config.Config) rtmp.Config {
	c := rtmp.DefaultConfig() // the fields no key sets keep their default
	c.HandshakeTimeout, c.ReadTimeout, c.MediaTimeout, c.WriteTimeout =
		cfg.RTMP.HandshakeTimeout, cfg.RTMP.ReadTimeout, cfg.RTMP.MediaTimeout, cfg.RTMP.WriteTimeout
	c.MaxConns, c.MaxConnsPerIP, c.MaxPublishBitrate = cfg.RTMP.MaxConns, cfg.Limits.MaxConnsPerIP, cfg.Limits.MaxPublishBitrate
	c.MaxMessageSize, c.MaxPartialBytes, c.MaxChunkStreams = cfg.RTMP.MaxMessageSize, cfg.RTMP.MaxPartialBytes, cfg.RTMP.MaxChunkStreams
	c.RefusePublish = cfg.IsEdge() && !cfg.Edge.AllowPublish
	c.ProxyProtocol = cfg.RTMP.ProxyProtocol
	c.GraceOnCleanStop = cfg.Publish.GraceOnCleanStop
	return c
}

func backupConfig(cfg config.Config) registry.Backup {
	return registry.Backup{Auto: cfg.Publish.Backup == config.BackupAuto, FailoverAfter: cfg.Publish.FailoverAfter}
}

func hlsConfig(cfg config.Config) hls.Config {
	h := cfg.HLS
	return hls.Config{Variant: h.Variant, LowLatency: h.LowLatency, SegmentCount: h.SegmentCount,
		SegmentDuration: h.SegmentDuration, PartDuration: h.PartDuration, IdleTimeout: h.IdleTimeout, AlwaysRemux: h.AlwaysRemux}
}

func edgeConfig(cfg config.Config) edge.Config {
	c := edge.DefaultConfig()
	c.Origins = cfg.Edge.Origins
	c.ConnectTimeout, c.Linger, c.FailoverTimeout = cfg.Edge.ConnectTimeout, cfg.Edge.Linger, cfg.Edge.FailoverTimeout
	// An upstream gets the bounds of an RTMP publisher.
	c.MediaTimeout, c.MaxTagSize, c.WriteTimeout = cfg.RTMP.MediaTimeout, cfg.RTMP.MaxMessageSize, cfg.RTMP.WriteTimeout
	return c
}

// clusterConfig is the directory's configuration for the Redis at url:
// the cluster.* keys; only the claiming directory (cluster.redis) has a
// node URL.
func clusterConfig(cfg config.Config, url, id string) cluster.Config {
	c := cluster.DefaultConfig()
	c.Redis, c.NodeID = url, id
	if url == cfg.Cluster.Redis {
		c.NodeURL = cfg.Cluster.NodeURL
	}
	c.Lease, c.Timeout, c.OnRedisDown, c.Fence = cfg.Cluster.Lease, cfg.Cluster.Timeout, cfg.Cluster.OnRedisDown, cfg.Cluster.Fence
	return c
}

func relayConfig(cfg config.Config, nodeID string) relay.Config {
	c := relay.DefaultConfig()
	c.Push, c.Streams = cfg.Relay.Push, cfg.Relay.Streams
	c.ConnectTimeout, c.BackoffMin, c.BackoffMax = cfg.Relay.ConnectTimeout, cfg.Relay.BackoffMin, cfg.Relay.BackoffMax
	// A push is written like an RTMP player, and is an RTMP client.
	c.Play = flvConfig(cfg)
	c.Play.WriteTimeout = cfg.RTMP.WriteTimeout
	c.NodeID = nodeID
	return c
}

// newNodeID returns a random id for this running server.
func newNodeID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func flvConfig(cfg config.Config) play.Config {
	c := play.DefaultConfig() // DrainTimeout has no key
	c.WriteTimeout = cfg.HTTP.WriteTimeout
	c.MergeWindow = time.Duration(cfg.Play.MergeMS) * time.Millisecond
	return c
}

// Recorder returns the recordings' manager (for tests and embedding).
func (s *Server) Recorder() *record.Manager { return s.rec }

// Registry returns the stream registry (for tests and embedding).
func (s *Server) Registry() *registry.Registry { return s.reg }

// Start listens on the configured addresses and serves in the background.
func (s *Server) Start() error {
	rl, err := net.Listen("tcp", s.cfg.RTMP.Addr)
	if err != nil {
		return err
	}
	hl, err := net.Listen("tcp", s.cfg.HTTP.Addr)
	if err != nil {
		_ = rl.Close()
		return err
	}
	s.rtmpLn = rl
	s.httpLn = newLimitListener(hl, s.cfg.HTTP.MaxConns, s.cfg.Limits.MaxConnsPerIP,
		s.log.With().Str("component", "http").Logger())
	s.httpLn.proxies = s.proxies
	if err := s.listenTLS(); err != nil {
		_ = rl.Close()
		_ = hl.Close()
		return err
	}

	if s.cluster != nil && s.cfg.Cluster.NodeURL == "" {
		u := defaultNodeURL(hl.Addr())
		if err := s.cluster.SetNodeURL(u); err != nil {
			_ = rl.Close()
			_ = hl.Close()
			return fmt.Errorf("cluster.node_url: none set, and %w", err)
		}
		s.log.Warn().Str("node_url", u).Msg("cluster.node_url not set: edges will reach this node at its HTTP address")
	}
	for _, d := range s.directories() {
		d.Start()
	}

	// Deprecated: the same count as headwater_limit_refusals_total{limit="http_conns"}.
	refused := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "headwater_http_conns_refused_total", Help: "HTTP connections refused at accept because http.max_conns was reached (deprecated: headwater_limit_refusals_total{limit=\"http_conns\"}).",
	}, func() float64 { return float64(s.httpLn.refusedConns.Load()) })
	refusalCounts := map[string]func() uint64{
		limitHTTPConns:                s.httpLn.refusedConns.Load,
		limitHTTPConnsPerIP:           func() uint64 { return s.httpLn.refusedPerIP.Load() + s.flv.ProxiedRefused() },
		rtmp.LimitConns:               func() uint64 { return s.rtmp.Refusals().Conns },
		rtmp.LimitConnsPerIP:          func() uint64 { return s.rtmp.Refusals().ConnsPerIP },
		rtmp.LimitPublishBitrate:      func() uint64 { return s.rtmp.Refusals().PublishBitrate },
		rtmp.LimitStreams:             func() uint64 { return s.reg.Refusals().Streams },
		httpflv.LimitPlayersPerStream: func() uint64 { return s.reg.Refusals().PlayersPerStream },
	}
	ignored := func(kind string) func() uint64 { return func() uint64 { return s.rtmp.Counts().Ignored[kind] } }
	rtmpCounters := []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "headwater_rtmp_handshake_timeouts_total",
			Help: "RTMP connections closed because they had not started to publish within rtmp.handshake_timeout.",
		}, func() float64 { return float64(s.rtmp.Counts().HandshakeTimeouts) }),
		api.NewLabelledCounter("headwater_rtmp_ignored_messages_total",
			"RTMP messages ignored: of a type headwater does not handle, data messages other than metadata, unknown commands.",
			"kind", map[string]func() uint64{
				rtmp.IgnoredType: ignored(rtmp.IgnoredType), rtmp.IgnoredData: ignored(rtmp.IgnoredData),
				rtmp.IgnoredCommand: ignored(rtmp.IgnoredCommand),
			}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "headwater_log_lines_suppressed_total",
			Help: "Log lines caused by RTMP clients that sampling suppressed (a burst per connection and server-wide, then a count).",
		}, func() float64 { return float64(s.rtmp.Counts().SuppressedLogLines) }),
	}
	if s.edge != nil {
		ed := s.edge
		pulls := func(result string) func() uint64 { return func() uint64 { return ed.Counts().Pulls[result] } }
		rtmpCounters = append(rtmpCounters,
			api.NewLabelledCounter("headwater_edge_pulls_total",
				"Edge upstream connection attempts by result: ok, not_found (the origin has no such stream), error, loop (refused: the request came through this node).",
				"result", map[string]func() uint64{
					edge.ResultOK: pulls(edge.ResultOK), edge.ResultNotFound: pulls(edge.ResultNotFound),
					edge.ResultError: pulls(edge.ResultError), edge.ResultLoop: pulls(edge.ResultLoop),
				}),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "headwater_edge_failovers_total", Help: "Edge upstreams that failed with players connected and were replaced by another origin's.",
			}, func() float64 { return float64(ed.Counts().Failovers) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "headwater_edge_upstream_bytes_total", Help: "Bytes read from edge upstreams (FLV tags).",
			}, func() float64 { return float64(ed.Counts().BytesIn) }))
	}
	rtmpCounters = append(rtmpCounters, s.clusterMetrics()...)
	pushes := func(state string) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "headwater_pushes", Help: "Push relays by state: connecting, pushing, backoff (waiting to retry).",
			ConstLabels: prometheus.Labels{"state": state}}, func() float64 { return float64(s.relays.Counts().States[state]) })
	}
	rtmpCounters = append(rtmpCounters, pushes(relay.StateConnecting), pushes(relay.StatePushing), pushes(relay.StateBackoff),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "headwater_push_reconnects_total", Help: "Push relay connection attempts after each push's first (the destination failed, refused or went away).",
		}, func() float64 { return float64(s.relays.Counts().Reconnects) }))
	rtmpCounters = append(rtmpCounters, api.NewPairCounter("headwater_auth_denied_total",
		"Publishes and plays denied by the auth rules, by action (publish, play) and reason (no_key, bad_key, no_signature, expired, bad_signature, ip_denied, default_deny, deny_rule, hook).",
		"action", "reason", s.auth.Denied),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "headwater_hook_failures_total", Help: "HTTP hook calls that got no answer, timed out or answered 5xx.",
		}, func() float64 { return float64(s.hooks.Counts().Failed) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "headwater_hook_notifications_dropped_total", Help: "on_unpublish/on_stop calls dropped because 1,024 were already in flight.",
		}, func() float64 { return float64(s.hooks.Counts().Dropped) }))
	recCounts := func(reason string) func() uint64 {
		return func() uint64 { return s.rec.Counts().Errors[reason] }
	}
	recErrors := map[string]func() uint64{}
	for _, r := range record.Reasons {
		recErrors[r] = recCounts(r)
	}
	rtmpCounters = append(rtmpCounters,
		api.NewLabelledCounter("headwater_record_errors_total",
			"Recordings stopped by a file-system error, by reason: no_space (ENOSPC, EDQUOT), permission (EACCES, EPERM), read_only (EROFS), io (any other).",
			"reason", recErrors),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "headwater_recordings", Help: "Streams being recorded now.",
		}, func() float64 { return float64(s.rec.Active()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "headwater_record_dropped_frames_total", Help: "Frames a recorder skipped (to the next keyframe) because the disk was slower than the stream.",
		}, func() float64 { return float64(s.rec.Counts().Dropped) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "headwater_record_files_total", Help: "Recorded files closed (synced to disk).",
		}, func() float64 { return float64(s.rec.Counts().Files) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "headwater_record_bytes_total", Help: "Bytes written to recorded files.",
		}, func() float64 { return float64(s.rec.Counts().Bytes) }))
	events := &api.Events{Registry: s.reg, Totals: s.totals, Refusals: refusalCounts, Started: time.Now()}
	refusalCounts[api.LimitEventClients] = func() uint64 { _, refused, _ := events.Counts(); return refused }
	rtmpCounters = append(rtmpCounters,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "headwater_event_clients", Help: "Open GET /api/v1/events connections (the dashboard's).",
		}, func() float64 { open, _, _ := events.Counts(); return float64(open) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "headwater_event_clients_dropped_total", Help: "GET /api/v1/events clients dropped for not reading a snapshot within 5 s.",
		}, func() float64 { _, _, dropped := events.Counts(); return float64(dropped) }))
	a := &api.API{
		Registry: s.reg, Totals: s.totals, Events: events, HLS: s.hls, Pushes: s.relays, Recorder: s.rec,
		Metrics: api.NewMetrics(s.reg, s.totals, append(rtmpCounters, refused, api.NewLimitRefusals(refusalCounts), s.hist,
			api.NewHLSMetrics(s.hls.Muxers))...),
		Token: s.cfg.API.Token,
		Server: api.ServerInfo{Version: s.version, Started: time.Now(), Refusals: refusalCounts, Limits: apiLimits(s.cfg),
			ID: s.id, Origins: s.cfg.Edge.Origins, Edge: s.cfg.IsEdge()},
	}
	if s.cluster != nil || s.lookup != nil {
		a.Cluster = s.clusterStatus
	}
	s.api = a
	s.flv = &httpflv.Handler{
		Registry:    s.reg,
		Config:      flvConfig(s.cfg),
		Log:         s.log.With().Str("component", "httpflv").Logger(),
		Totals:      s.totals,
		Auth:        s.auth,
		Hooks:       s.hooks,
		ClientIP:    s.proxies,
		MaxPerIP:    func() int { return int(s.httpLn.perIP.Load()) },
		CORSOrigins: s.cfg.Play.CORSOrigins,
		Params: func(r *http.Request) (string, string) {
			return chi.URLParam(r, "app"), chi.URLParam(r, "file")
		},
	}
	s.hls.Auth, s.hls.Hooks, s.hls.ClientIP, s.hls.CORSOrigins = s.auth, s.hooks, s.proxies, s.cfg.Play.CORSOrigins
	s.hls.Params = func(r *http.Request) (string, string, string) {
		return chi.URLParam(r, "app"), chi.URLParam(r, "stream"), chi.URLParam(r, "file")
	}
	r := chi.NewRouter()
	a.Routes(r)
	r.Get("/{app}/{file}", s.flv.ServeHTTP)
	r.Head("/{app}/{file}", s.flv.ServeHTTP)
	r.Get("/{app}/{stream}/{file}", s.hls.ServeHTTP)
	// Dashboard at /, player at /play/{app}/{stream}, files under /static/;
	// none of them takes a /{app}/{stream}.flv path (see package web).
	web.Routes(r)

	s.http = &http.Server{
		Handler:           r,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return s.baseCtx },
		ErrorLog:          log.New(zerologWriter{s.log.With().Str("component", "http").Logger()}, "", 0),
	}
	s.http.RegisterOnShutdown(events.Close) // event streams never go idle by themselves
	serveRTMP := func(ln net.Listener) {
		defer s.wg.Done()
		if err := s.rtmp.Serve(ln); err != nil && !errors.Is(err, rtmp.ErrServerClosed) {
			s.log.Error().Err(err).Msg("rtmp server stopped")
		}
	}
	serveHTTP := func(ln net.Listener) {
		defer s.wg.Done()
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error().Err(err).Msg("http server stopped")
		}
	}
	s.wg.Add(2)
	go serveRTMP(rl)
	go serveHTTP(s.httpLn)
	ev := s.log.Info().Str("rtmp", rl.Addr().String()).Str("http", hl.Addr().String())
	if s.rtmpsLn != nil {
		s.wg.Add(1)
		go serveRTMP(tls.NewListener(s.rtmpsLn, s.certs.tlsConfig()))
		ev = ev.Str("rtmps", s.rtmpsLn.Addr().String())
	}
	if s.httpsLn != nil {
		s.wg.Add(1)
		go serveHTTP(tls.NewListener(s.httpsLn, s.certs.tlsConfig("http/1.1")))
		ev = ev.Str("https", s.httpsLn.Addr().String())
	}
	ev.Msg("headwater listening")
	return nil
}

// listenTLS loads the certificate and opens the RTMPS and HTTPS
// listeners that are configured.
func (s *Server) listenTLS() error {
	if s.cfg.RTMPS.Addr == "" && s.cfg.HTTPS.Addr == "" {
		return nil
	}
	if err := s.certs.load(s.cfg.TLS.CertFile, s.cfg.TLS.KeyFile); err != nil {
		return err
	}
	if s.cfg.RTMPS.Addr != "" {
		ln, err := net.Listen("tcp", s.cfg.RTMPS.Addr)
		if err != nil {
			return err
		}
		s.rtmpsLn = ln
	}
	if s.cfg.HTTPS.Addr != "" {
		ln, err := net.Listen("tcp", s.cfg.HTTPS.Addr)
		if err != nil {
			if s.rtmpsLn != nil {
				_ = s.rtmpsLn.Close()
			}
			return err
		}
		s.httpsLn = newLimitListener(ln, s.cfg.HTTP.MaxConns, s.cfg.Limits.MaxConnsPerIP,
			s.log.With().Str("component", "https").Logger())
		s.httpsLn.proxies = s.proxies
	}
	return nil
}

// defaultNodeURL is cluster.node_url when it is not set: http:// and the
// HTTP listener's address, with the host name in place of an unspecified
// address (":8080").
func defaultNodeURL(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return "http://" + a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		if h, err := os.Hostname(); err == nil && h != "" {
			host = h
		}
	}
	return "http://" + net.JoinHostPort(host, port)
}

// directories are the cluster directories this server uses (none, one,
// or two when edge.directory is another Redis than cluster.redis).
func (s *Server) directories() []*cluster.Directory {
	var ds []*cluster.Directory
	if s.cluster != nil {
		ds = append(ds, s.cluster)
	}
	if s.lookup != nil && s.lookup != s.cluster {
		ds = append(ds, s.lookup)
	}
	return ds
}

// clusterJSON is GET /api/v1/cluster: the claiming directory's status,
// and the edge's lookup counts (from edge.directory's own status when it
// is another Redis).
type clusterJSON struct {
	Enabled bool `json:"enabled"` // cluster.redis is set: this node claims its keys
	*cluster.Status
	// EdgeLookups counts the edge's directory lookups asked (one per
	// upstream connect round), whatever answered them.
	EdgeLookups *uint64 `json:"edge_lookups,omitempty"`
	// Directory is edge.directory's status when it is not cluster.redis.
	Directory *cluster.Status `json:"directory,omitempty"`
}

func (s *Server) clusterStatus(ctx context.Context) any {
	out := clusterJSON{Enabled: s.cluster != nil}
	if s.cluster != nil {
		st := s.cluster.Status(ctx)
		out.Status = &st
	}
	if s.lookup != nil && s.lookup != s.cluster {
		st := s.lookup.Status(ctx)
		out.Directory = &st
		if out.Status == nil {
			out.Status = &st
			out.Directory = nil
		}
	}
	if s.edge != nil && s.lookup != nil {
		n := s.edge.Counts().Lookups
		out.EdgeLookups = &n
	}
	return out
}

// clusterMetrics are the directories' metrics (one directory's, labelled
// by nothing else: with two, the claiming one's claims and the lookup
// one's lookups).
func (s *Server) clusterMetrics() []prometheus.Collector {
	claims, lookups := s.cluster, s.lookup
	if claims == nil && lookups == nil {
		return nil
	}
	first := claims
	if first == nil {
		first = lookups
	}
	var out []prometheus.Collector
	out = append(out, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "headwater_cluster_redis_up",
		Help: "1 while the cluster directory's Redis answers (cluster.redis, else edge.directory), 0 while it is down."},
		func() float64 {
			if first.Up() {
				return 1
			}
			return 0
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "headwater_cluster_redis_errors_total",
			Help: "Failed Redis calls of the cluster directories."},
			func() float64 {
				var n uint64
				for _, d := range s.directories() {
					n += d.Counts().RedisErrors
				}
				return float64(n)
			}),
		first.Latency())
	if claims != nil {
		count := func(r string) func() uint64 { return func() uint64 { return claims.Counts().Claims[r] } }
		out = append(out, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "headwater_cluster_claims",
			Help: "Stream keys this node holds in the cluster directory."}, func() float64 { return float64(claims.Held()) }),
			api.NewLabelledCounter("headwater_cluster_claims_total",
				"Cluster claims by result: ok, busy (another node holds the key: refused), local (Redis down: admitted, claimed when it is back), refused (Redis down, cluster.on_redis_down: refuse), lost (to an older session after an outage: the publisher is ended), fenced (not renewed for 9/10 of a lease with cluster.fence: the publisher is ended).",
				"result", map[string]func() uint64{cluster.ClaimOK: count(cluster.ClaimOK), cluster.ClaimBusy: count(cluster.ClaimBusy),
					cluster.ClaimLocal: count(cluster.ClaimLocal), cluster.ClaimRefused: count(cluster.ClaimRefused), cluster.ClaimLost: count(cluster.ClaimLost),
					cluster.ClaimFenced: count(cluster.ClaimFenced)}))
	}
	if lookups != nil {
		count := func(r string) func() uint64 { return func() uint64 { return lookups.Counts().Lookups[r] } }
		out = append(out, api.NewLabelledCounter("headwater_cluster_lookups_total",
			"Redis reads of the edge's directory lookups by result: found, not_found, error (a lookup answered by the one-second cache or a read in flight is not one).",
			"result", map[string]func() uint64{cluster.LookupFound: count(cluster.LookupFound),
				cluster.LookupNotFound: count(cluster.LookupNotFound), cluster.LookupError: count(cluster.LookupError)}),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "headwater_cluster_lookups_shared_total",
				Help: "Edge directory lookups answered by the one-second cache or by a Redis read in flight."},
				func() float64 { return float64(lookups.Counts().LookupsShared) }))
	}
	return out
}

// RTMPSAddr returns the RTMPS listener's address, nil if off.
func (s *Server) RTMPSAddr() net.Addr {
	if s.rtmpsLn == nil {
		return nil
	}
	return s.rtmpsLn.Addr()
}

// HTTPSAddr returns the HTTPS listener's address, nil if off.
func (s *Server) HTTPSAddr() net.Addr {
	if s.httpsLn == nil {
		return nil
	}
	return s.httpsLn.Addr()
}

func apiLimits(c config.Config) api.Limits {
	return api.Limits{
		MaxStreams:          c.Limits.MaxStreams,
		MaxPlayersPerStream: c.Limits.MaxPlayersPerStream,
		MaxConnsPerIP:       c.Limits.MaxConnsPerIP,
		MaxPublishBitrate:   c.Limits.MaxPublishBitrate,
		RTMPMaxConns:        c.RTMP.MaxConns,
		HTTPMaxConns:        c.HTTP.MaxConns,
	}
}

// Reload applies the reloadable keys of cfg (see config.Reloadable) to the
// running server (after Start): the limits, the API token and go-rtmp's
// log level (the caller sets zerolog's global level first). Nothing already
// admitted is dropped: streams, players and connections over a lowered
// limit stay, later ones are checked against the new limits. Other keys
// of cfg are ignored. Call it from one goroutine at a time.
func (s *Server) Reload(cfg config.Config) {
	s.reg.SetLimits(registryLimits(cfg))
	s.rtmp.SetLimits(cfg.RTMP.MaxConns, cfg.Limits.MaxConnsPerIP, cfg.Limits.MaxPublishBitrate)
	s.httpLn.setLimits(cfg.HTTP.MaxConns, cfg.Limits.MaxConnsPerIP)
	s.api.SetToken(cfg.API.Token)
	if ac, err := cfg.AuthConfig(); err != nil {
		s.log.Error().Err(err).Msg("reload: auth rules kept as they were")
	} else if err := s.auth.SetConfig(ac); err != nil {
		s.log.Error().Err(err).Msg("reload: auth rules kept as they were")
	}
	s.hooks.SetConfig(cfg.HookConfig())
	s.relays.SetConfig(cfg.Relay.Push, cfg.Relay.Streams)
	if s.rtmpsLn != nil || s.httpsLn != nil {
		if err := s.certs.load(cfg.TLS.CertFile, cfg.TLS.KeyFile); err != nil {
			s.log.Error().Err(err).Msg("reload: the TLS certificate in use stays")
		}
	}
	s.api.SetLimits(apiLimits(cfg)) // every field is reloadable
	s.rtmp.RefreshLogLevel()
}

// RTMPAddr returns the RTMP listener's address (after Start).
func (s *Server) RTMPAddr() net.Addr { return s.rtmpLn.Addr() }

// HTTPAddr returns the HTTP listener's address (after Start).
func (s *Server) HTTPAddr() net.Addr { return s.httpLn.Addr() }

// Shutdown stops accepting, ends publishers (so players drain and end),
// then ends remaining players and waits, all within ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	// No grace when shutting down: streams in theirs end now, and
	// publishers about to drop end theirs.
	s.reg.EndGraces()
	// RTMP first: publishers end, so players drain what is queued. Give it
	// 2 s here; if a connection is slower, it is waited for again below.
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	err := s.rtmp.Shutdown(rctx)
	cancel()
	if s.edge != nil {
		// Upstream pulls are publishers too: they end like RTMP's.
		ectx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if eerr := s.edge.Shutdown(ectx); eerr != nil && err == nil {
			err = eerr
		}
		cancel()
	}
	// Every publisher has released its claim; the directories delete
	// what is left and stop renewing.
	for _, d := range s.directories() {
		d.Close()
	}
	// HLS muxers go (their handles with them), and so do the playlist
	// requests waiting in them.
	if herr := s.hls.Shutdown(ctx); herr != nil && err == nil {
		err = herr
	}
	// Push relays of ended streams send their end (within the drain
	// timeout); the rest are stopped.
	pctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	_ = s.relays.Shutdown(pctx)
	cancel()
	// Recordings of the ended streams close their files (synced); the
	// on_record_done calls they make are waited for with the others below.
	rctx, cancel = context.WithTimeout(ctx, 2*time.Second)
	recErr := s.rec.Close(rctx)
	cancel()
	// Players of ended streams drain within their drain timeout; give them
	// that long, then cancel every request context. http.Server does not
	// track HTTP-FLV players (their connections are hijacked): the
	// handler's Wait does, and a cancelled context ends them.
	hctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	if herr := s.http.Shutdown(hctx); herr != nil {
		s.baseCancel()
		_ = s.http.Close()
	}
	_ = s.flv.Wait(hctx)
	cancel()
	s.baseCancel()
	if werr := s.flv.Wait(ctx); werr != nil {
		return werr
	}
	if err != nil {
		err = s.rtmp.Shutdown(ctx) // every connection is closed; wait for the rest
	}
	// Every session has ended: their on_unpublish and on_stop calls are
	// out; wait for them (each bounded by hooks.timeout).
	if herr := s.hooks.Wait(ctx); herr != nil && err == nil {
		err = herr
	}
	if recErr != nil && err == nil {
		err = fmt.Errorf("recordings: %w", recErr)
	}
	s.hooks.CloseIdle()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		s.httpLn.wait() // no Accept can run any more: the serve goroutines are done
		if s.httpsLn != nil {
			s.httpsLn.wait()
		}
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return err
}

// zerologWriter adapts net/http's error log (TLS noise, bad requests) to
// zerolog at debug level.
type zerologWriter struct{ log zerolog.Logger }

func (w zerologWriter) Write(p []byte) (int, error) {
	w.log.Debug().Msg(string(p))
	return len(p), nil
}
