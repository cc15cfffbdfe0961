// Package config is headwater's configuration: embedded defaults, an
// optional YAML file, HEADWATER_* environment variables (ApplyEnv), then
// command-line flags on top. Every key is listed in docs/config.md.
package config

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/headwater-media/headwater/internal/auth"
	"github.com/headwater-media/headwater/internal/clientip"
	"github.com/headwater-media/headwater/internal/cluster"
	"github.com/headwater-media/headwater/internal/edge"
	"github.com/headwater-media/headwater/internal/hls"
	"github.com/headwater-media/headwater/internal/play"
	"github.com/headwater-media/headwater/internal/record"
	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/relay"
	"github.com/headwater-media/headwater/internal/rtmp"
	"github.com/headwater-media/headwater/internal/stream"
)

// Config is the whole configuration. Every field has a default; see
// Default and docs/config.md (TestDocsListEveryKey keeps it complete).
// A new key is a leaf field with a yaml tag, of type string, int, int64,
// uint32 or time.Duration (ApplyEnv sets those), and restart-only unless
// added to reloadable and applied in server.Server.Reload.
type Config struct {
	RTMP    RTMP    `yaml:"rtmp"`
	HTTP    HTTP    `yaml:"http"`
	Play    Play    `yaml:"play"`
	Stream  Stream  `yaml:"stream"`
	Limits  Limits  `yaml:"limits"`
	Log     Log     `yaml:"log"`
	API     API     `yaml:"api"`
	Edge    Edge    `yaml:"edge"`
	Publish Publish `yaml:"publish"`
	Auth    Auth    `yaml:"auth"`
	Hooks   Hooks   `yaml:"hooks"`
	TLS     TLS     `yaml:"tls"`
	RTMPS   RTMPS   `yaml:"rtmps"`
	HTTPS   HTTPS   `yaml:"https"`
	Cluster Cluster `yaml:"cluster"`
	HLS     HLS     `yaml:"hls"`
	Relay   Relay   `yaml:"relay"`
	Record  Record  `yaml:"record"`
}

// Cluster makes origins behind a load balancer share a stream directory
// in Redis (docs/scaling.md#a-cluster-of-origins): a node claims each key
// it publishes, so another refuses it, and edges with edge.directory find
// the node that has it. Without Redis the other keys are unused.
type Cluster struct {
	// Redis is redis://[user:password@]host:port/db, or rediss:// (TLS);
	// empty: no cluster.
	Redis string `yaml:"redis"`
	// NodeURL is how edges reach this node: http://host:port (HTTP-FLV)
	// or rtmp://host:port (RTMP play). Empty: http:// and the HTTP
	// listener's address (the host name for an unspecified address).
	NodeURL string `yaml:"node_url"`
	// Lease is how long a node's claims outlive its last renewal (every
	// lease/3): a node that dies frees its keys after it.
	Lease time.Duration `yaml:"lease"`
	// Timeout bounds each Redis call made for a publish or a lookup.
	Timeout time.Duration `yaml:"timeout"`
	// OnRedisDown is "local" (keep admitting publishes, claim them once
	// Redis is back) or "refuse" (refuse new publishes meanwhile).
	OnRedisDown string `yaml:"on_redis_down"`
	// Fence ends a stream whose claim could not be renewed for 9/10 of a
	// lease (Redis unreachable, a partition), before another node can
	// take the key: never two publishers of a key, at the cost of every
	// stream when Redis is down that long.
	Fence bool `yaml:"fence"`
}

// HLS configures HLS and LL-HLS out (GET /{app}/{stream}/index.m3u8).
type HLS struct {
	// Variant is "fmp4" (fMP4 segments) or "mpegts" (MPEG-TS segments,
	// H.264 and AAC, for old devices).
	Variant string `yaml:"variant"`
	// LowLatency adds LL-HLS partial segments and blocking playlist
	// reload (_HLS_msn/_HLS_part); fmp4 only, segment_count >= 7.
	LowLatency bool `yaml:"low_latency"`
	// SegmentCount is how many segments a playlist lists (kept in memory).
	SegmentCount int `yaml:"segment_count"`
	// SegmentDuration is the least duration of a segment, cut at keyframes.
	SegmentDuration time.Duration `yaml:"segment_duration"`
	// PartDuration is the least duration of an LL-HLS part.
	PartDuration time.Duration `yaml:"part_duration"`
	// IdleTimeout releases a stream's muxer after this long without an
	// HLS request.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// AlwaysRemux starts the muxer when a stream goes live instead of at
	// the first HLS request, and keeps it while the stream is live.
	AlwaysRemux bool `yaml:"always_remux"`
}

// Relay pushes live streams to other RTMP servers: platforms, other
// headwater nodes (docs/relay.md).
type Relay struct {
	// Push maps an app ("*": every app without an entry of its own) to
	// the rtmp:// or rtmps:// URL templates its streams are pushed to,
	// with {app}, {stream} and {stream_key}.
	Push map[string][]string `yaml:"push"`
	// Streams maps "app/stream" to the stream's push list (replacing the
	// app's) and its {stream_key}.
	Streams map[string]relay.Override `yaml:"streams"`
	// ConnectTimeout bounds one connection to a destination, up to its
	// answer to publish.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// BackoffMin is the wait before a failed push's first retry; it
	// doubles up to BackoffMax, and starts over after a push that lasted
	// BackoffMax.
	BackoffMin time.Duration `yaml:"backoff_min"`
	BackoffMax time.Duration `yaml:"backoff_max"`
}

// Record is recording (DVR): streams written to FLV files (README,
// docs/config.md). The global keys apply to every app; Apps overrides
// them per app.
type Record struct {
	// Enabled records every stream from when it goes live.
	Enabled bool `yaml:"enabled"`
	// Path is the file path template: {app}, {stream}, {start:LAYOUT}
	// (UTC, a Go time layout), {seq}; no "..", every file inside the
	// directory before the first variable.
	Path string `yaml:"path"`
	// SegmentDuration, if > 0, cuts a new file at the first keyframe
	// after this much media time; 0 is one file per session.
	SegmentDuration time.Duration `yaml:"segment_duration"`
	// Format is flv or mp4 (fragmented MP4: H.264 and AAC only).
	Format string `yaml:"format"`
	// Apps overrides the keys above for an app.
	Apps map[string]record.App `yaml:"apps"`
}

// RecordConfig is the global recording configuration the keys give.
func (c Config) RecordConfig() record.Config {
	return record.Config{Enabled: c.Record.Enabled, Path: c.Record.Path, SegmentDuration: c.Record.SegmentDuration, Format: c.Record.Format}
}

// TLS is the certificate of the RTMPS and HTTPS listeners, re-read on
// SIGHUP (connections already open keep theirs).
type TLS struct {
	CertFile string `yaml:"cert_file"` // PEM, the chain after the leaf
	KeyFile  string `yaml:"key_file"`  // PEM
}

// RTMPS is RTMP over TLS (OBS: rtmps://HOST:443/live).
type RTMPS struct {
	Addr string `yaml:"addr"` // empty: off
}

// HTTPS is the HTTP side (HTTP-FLV, WebSocket-FLV, API, pages) over TLS.
type HTTPS struct {
	Addr string `yaml:"addr"` // empty: off
}

// Hooks are HTTP callbacks: each gets a POST with a JSON event
// (docs/security.md). on_publish and on_play decide (a 2xx allows); they
// run with the session's handle held. on_unpublish and on_stop tell.
type Hooks struct {
	OnPublish   string        `yaml:"on_publish"`
	OnPlay      string        `yaml:"on_play"`
	OnUnpublish string        `yaml:"on_unpublish"`
	OnStop      string        `yaml:"on_stop"`
	Timeout     time.Duration `yaml:"timeout"`
	// FailOpen allows when a deciding hook cannot be reached, times out
	// or answers 5xx.
	FailOpen bool `yaml:"fail_open"`
	// OnRecordDone is told of every recorded file closed: its path,
	// duration and size.
	OnRecordDone string `yaml:"on_record_done"`
}

// HookConfig is the hooks' configuration the keys give.
func (c Config) HookConfig() auth.HookConfig {
	return auth.HookConfig{OnPublish: c.Hooks.OnPublish, OnPlay: c.Hooks.OnPlay, OnUnpublish: c.Hooks.OnUnpublish,
		OnStop: c.Hooks.OnStop, OnRecordDone: c.Hooks.OnRecordDone, Timeout: c.Hooks.Timeout, FailOpen: c.Hooks.FailOpen}
}

// Auth is who may publish and play (docs/security.md): per app, ordered
// rules for each action.
type Auth struct {
	// Secret is the HMAC-SHA256 key of signed URLs; prefer the
	// environment (HEADWATER_AUTH_SECRET) to the file.
	Secret string `yaml:"secret"`
	// ClockSkew is how long after its expiry a signed URL is still good.
	ClockSkew time.Duration `yaml:"clock_skew"`
	// KeysFile holds stream keys, "app/stream KEY" or "app/* KEY" a line;
	// re-read on SIGHUP.
	KeysFile string `yaml:"keys_file"`
	// Keys maps "app/stream" or "app/*" to a stream key.
	Keys map[string]string `yaml:"keys"`
	// Apps maps an app (or "*") to its publish and play rules.
	Apps map[string]auth.App `yaml:"apps"`
	// Backoff is the wait of a client IP's second denial in a row,
	// doubling with each further one up to 5 s; 0 turns it off.
	Backoff time.Duration `yaml:"backoff"`
}

// Publish configures what happens around publishers.
type Publish struct {
	// Backup is "off" (a second publisher of a live key is refused unless
	// it asks to be the backup with ?role=backup) or "auto" (a second
	// publisher becomes the standby).
	Backup string `yaml:"backup"`
	// FailoverAfter: a backup takes over at its next keyframe when the
	// primary has sent no coded frame for this long (or has gone).
	FailoverAfter time.Duration `yaml:"failover_after"`
	// Grace keeps the stream of a publisher that drops (connection lost,
	// media timeout) live with its players for this long: a publish of
	// the key within it resumes the stream. 0 is off.
	Grace time.Duration `yaml:"grace"`
	// GraceOnCleanStop gives a publisher that unpublishes cleanly
	// (FCUnpublish, deleteStream) the grace too; off, its players end at
	// once.
	GraceOnCleanStop bool `yaml:"grace_on_clean_stop"`
}

// Edge makes the server an edge: streams not live here are pulled from
// the origins on demand (docs/scaling.md). Without origins or a
// directory it is an origin and the other keys are unused.
type Edge struct {
	// Origins are pulled from in order: http://host:port (HTTP-FLV) or
	// rtmp://host:port (RTMP play). In the environment, comma-separated.
	Origins []string `yaml:"origins"`
	// Directory is a cluster's Redis (redis://... as cluster.redis),
	// asked first which node holds a stream; the origins come after it.
	Directory string `yaml:"directory"`
	// AllowPublish lets an edge accept local RTMP publishes too.
	AllowPublish bool `yaml:"allow_publish"`
	// ConnectTimeout bounds one origin's connect and answer.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// Linger keeps an upstream this long after its last local player.
	Linger time.Duration `yaml:"linger"`
	// FailoverTimeout is how long players wait, connected, while a failed
	// upstream is looked for on the origins again.
	FailoverTimeout time.Duration `yaml:"failover_timeout"`
}

// RTMP configures the publishing side.
type RTMP struct {
	Addr             string        `yaml:"addr"`
	HandshakeTimeout time.Duration `yaml:"handshake_timeout"`
	ReadTimeout      time.Duration `yaml:"read_timeout"`
	MediaTimeout     time.Duration `yaml:"media_timeout"`
	WriteTimeout     time.Duration `yaml:"write_timeout"`
	MaxConns         int           `yaml:"max_conns"`
	MaxMessageSize   uint32        `yaml:"max_message_size"`
	MaxPartialBytes  uint32        `yaml:"max_partial_bytes"`
	MaxChunkStreams  int           `yaml:"max_chunk_streams"`
	// ProxyProtocol makes every RTMP connection start with a PROXY
	// protocol v1 or v2 header (from a TCP load balancer): its source is
	// the client address.
	ProxyProtocol bool `yaml:"proxy_protocol"`
}

// HTTP configures players, the API and metrics.
type HTTP struct {
	Addr         string        `yaml:"addr"`
	MaxConns     int           `yaml:"max_conns"`
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// TrustedProxies are CIDRs whose X-Forwarded-For / Forwarded give the
	// client address (IP rules, logs, the API); they are exempt from the
	// per-IP connection limit. From anyone else those headers are ignored.
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// Play tunes how players are written to.
type Play struct {
	// MergeMS is the merge window in milliseconds: after a write, a player
	// waits this long (rounded up to a 5 ms grid) before it takes its next
	// batch, so that a busy stream costs one write per window per player.
	// It adds up to that much latency; 0 writes each tag as soon as it
	// arrives. The default is play.DefaultConfig's.
	MergeMS int `yaml:"merge_ms"`
	// CORSOrigins are the origins a page may play HTTP-FLV from
	// (Access-Control-Allow-Origin); "*" (the default) is any.
	CORSOrigins []string `yaml:"cors_origins"`
}

// publish.backup values.
const (
	BackupOff  = "off"
	BackupAuto = "auto"
)

// MaxMergeMS is the largest play.merge_ms.
const MaxMergeMS = 1000

// Stream bounds per-stream and per-player memory.
type Stream struct {
	GOPCacheBytes int           `yaml:"gop_cache_bytes"`
	QueueBytes    int           `yaml:"queue_bytes"`
	QueueDuration time.Duration `yaml:"queue_duration"`
	// MaxTSJump is the largest forward step of a track's timestamps taken
	// as is; a larger one, or a step back, is repaired.
	MaxTSJump time.Duration `yaml:"max_ts_jump"`
}

// Limits caps what clients may use. A refusal is an HTTP 503 with
// Retry-After, or an RTMP error status and a close; see docs/limits.md. The
// totals are rtmp.max_conns and http.max_conns.
type Limits struct {
	// MaxStreams caps live streams (publishers); 0 is unlimited.
	MaxStreams int `yaml:"max_streams"`
	// MaxPlayersPerStream caps the players of one live stream; 0 is unlimited.
	MaxPlayersPerStream int `yaml:"max_players_per_stream"`
	// MaxConnsPerIP caps connections per client IP, RTMP and HTTP counted
	// separately; 0 is off (NATs and proxies put many clients behind one IP).
	MaxConnsPerIP int `yaml:"max_conns_per_ip"`
	// MaxPublishBitrate caps one publisher's media bits/s, averaged over
	// 5 s; 0 is off.
	MaxPublishBitrate int64 `yaml:"max_publish_bitrate"`
}

// MinPublishBitrate is the lowest non-zero limits.max_publish_bitrate, so
// that a value meant in kbit/s is an error rather than a limit no
// publisher can meet.
const MinPublishBitrate = 64000

// API configures the REST API under /api/v1.
type API struct {
	// Token, when set, is the bearer token every API request must carry
	// ("Authorization: Bearer TOKEN"); without it the API answers 401.
	// Players (/{app}/{stream}.flv), /metrics, /healthz and the web
	// pages are not behind it. Empty (the default) leaves the API open.
	Token string `yaml:"token"`
}

// MinAPITokenLen is the shortest api.token accepted.
const MinAPITokenLen = 16

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // trace, debug, info, warn, error
	Format string `yaml:"format"` // console or json
}

// Default returns the embedded defaults: RTMP on :1935, HTTP on :8080, and
// for every key that configures a component, that component's own default
// (rtmp, stream and play DefaultConfig), so the two cannot differ
// (server's TestComponentsRunWithTheirDefaults checks the way back).
func Default() Config {
	// Each component's own defaults are the defaults of its keys; only
	// what belongs to no component (addresses, totals, logging) is set here.
	in, st, fl, ed, bk := rtmp.DefaultConfig(), stream.DefaultConfig(), play.DefaultConfig(), edge.DefaultConfig(), registry.DefaultBackup()
	cl := cluster.DefaultConfig()
	hl := hls.DefaultConfig()
	rl := relay.DefaultConfig()
	rc := record.DefaultConfig()
	c := Config{
		RTMP:   RTMP{Addr: ":1935", MaxConns: in.MaxConns},
		HTTP:   HTTP{Addr: ":8080", MaxConns: 20000, WriteTimeout: fl.WriteTimeout, TrustedProxies: []string{}},
		Play:   Play{MergeMS: int(fl.MergeWindow / time.Millisecond), CORSOrigins: []string{"*"}},
		Limits: Limits{MaxStreams: 10000, MaxConnsPerIP: in.MaxConnsPerIP, MaxPublishBitrate: in.MaxPublishBitrate},
		Log:    Log{Level: "info", Format: "console"},
		Edge: Edge{Origins: append([]string{}, ed.Origins...), AllowPublish: !in.RefusePublish, ConnectTimeout: ed.ConnectTimeout,
			Linger: ed.Linger, FailoverTimeout: ed.FailoverTimeout},
		Publish: Publish{Backup: BackupOff, FailoverAfter: bk.FailoverAfter, Grace: registry.DefaultGrace,
			GraceOnCleanStop: in.GraceOnCleanStop},
		Auth: Auth{ClockSkew: auth.DefaultClockSkew, Keys: map[string]string{}, Apps: map[string]auth.App{},
			Backoff: auth.DefaultBackoff},
		Hooks: Hooks{Timeout: auth.DefaultHookTimeout},
		Cluster: Cluster{Redis: cl.Redis, NodeURL: cl.NodeURL, Lease: cl.Lease, Timeout: cl.Timeout, OnRedisDown: cl.OnRedisDown,
			Fence: cl.Fence},
		HLS: HLS{Variant: hl.Variant, LowLatency: hl.LowLatency, SegmentCount: hl.SegmentCount,
			SegmentDuration: hl.SegmentDuration, PartDuration: hl.PartDuration, IdleTimeout: hl.IdleTimeout,
			AlwaysRemux: hl.AlwaysRemux},
		Relay: Relay{Push: rl.Push, Streams: rl.Streams, ConnectTimeout: rl.ConnectTimeout,
			BackoffMin: rl.BackoffMin, BackoffMax: rl.BackoffMax},
		Record: Record{Enabled: rc.Enabled, Path: rc.Path, SegmentDuration: rc.SegmentDuration, Format: rc.Format,
			Apps: map[string]record.App{}},
	}
	if bk.Auto {
		c.Publish.Backup = BackupAuto
	}
	c.RTMP.HandshakeTimeout, c.RTMP.ReadTimeout, c.RTMP.MediaTimeout, c.RTMP.WriteTimeout =
		in.HandshakeTimeout, in.ReadTimeout, in.MediaTimeout, in.WriteTimeout
	c.RTMP.MaxMessageSize, c.RTMP.MaxPartialBytes, c.RTMP.MaxChunkStreams = in.MaxMessageSize, in.MaxPartialBytes, in.MaxChunkStreams
	c.Stream.GOPCacheBytes, c.Stream.QueueBytes, c.Stream.QueueDuration, c.Stream.MaxTSJump =
		st.GOPCacheBytes, st.QueueBytes, st.QueueDuration, st.MaxTSJump
	return c
}

// Load reads a YAML file over the defaults and validates the result.
// Unknown keys are errors.
func Load(path string) (Config, error) {
	cfg, err := Read(path)
	if err != nil {
		return cfg, err
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// Read reads a YAML file over the defaults without validating, for callers
// that apply more overrides (ApplyEnv, flags) and Validate at the end.
// Unknown keys are errors.
func Read(path string) (Config, error) {
	cfg := Default()
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// Validate rejects values the server cannot run with, naming the key.
func (c Config) Validate() error {
	var errs []error
	positive := func(key string, d time.Duration) {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be > 0, got %v", key, d))
		}
	}
	positive("rtmp.handshake_timeout", c.RTMP.HandshakeTimeout)
	positive("rtmp.read_timeout", c.RTMP.ReadTimeout)
	positive("rtmp.media_timeout", c.RTMP.MediaTimeout)
	positive("rtmp.write_timeout", c.RTMP.WriteTimeout)
	positive("http.write_timeout", c.HTTP.WriteTimeout)
	positive("stream.queue_duration", c.Stream.QueueDuration)
	if c.Stream.MaxTSJump < 10*time.Millisecond || c.Stream.MaxTSJump > time.Hour {
		errs = append(errs, fmt.Errorf("stream.max_ts_jump: must be in [10ms, 1h], got %v", c.Stream.MaxTSJump))
	}
	if c.RTMP.Addr == "" {
		errs = append(errs, errors.New("rtmp.addr: must not be empty"))
	}
	if c.HTTP.Addr == "" {
		errs = append(errs, errors.New("http.addr: must not be empty"))
	}
	if c.RTMP.MaxConns < 1 {
		errs = append(errs, fmt.Errorf("rtmp.max_conns: must be >= 1, got %d", c.RTMP.MaxConns))
	}
	if c.HTTP.MaxConns < 1 {
		errs = append(errs, fmt.Errorf("http.max_conns: must be >= 1, got %d", c.HTTP.MaxConns))
	}
	if c.RTMP.MaxMessageSize < 64<<10 || c.RTMP.MaxMessageSize > 0xffffff {
		errs = append(errs, fmt.Errorf("rtmp.max_message_size: must be in [65536, 16777215], got %d", c.RTMP.MaxMessageSize))
	}
	if c.RTMP.MaxPartialBytes < c.RTMP.MaxMessageSize {
		errs = append(errs, fmt.Errorf("rtmp.max_partial_bytes: must be >= rtmp.max_message_size, got %d", c.RTMP.MaxPartialBytes))
	}
	if c.RTMP.MaxChunkStreams < 4 {
		errs = append(errs, fmt.Errorf("rtmp.max_chunk_streams: must be >= 4, got %d", c.RTMP.MaxChunkStreams))
	}
	if c.Play.MergeMS < 0 || c.Play.MergeMS > MaxMergeMS {
		errs = append(errs, fmt.Errorf("play.merge_ms: must be in [0, %d], got %d", MaxMergeMS, c.Play.MergeMS))
	}
	if c.Stream.GOPCacheBytes < 0 {
		errs = append(errs, fmt.Errorf("stream.gop_cache_bytes: must be >= 0, got %d", c.Stream.GOPCacheBytes))
	}
	if c.Stream.QueueBytes < 1<<20 {
		errs = append(errs, fmt.Errorf("stream.queue_bytes: must be >= 1048576, got %d", c.Stream.QueueBytes))
	}
	nonNegative := func(key string, v int64) {
		if v < 0 {
			errs = append(errs, fmt.Errorf("%s: must be >= 0 (0 = unlimited), got %d", key, v))
		}
	}
	nonNegative("limits.max_streams", int64(c.Limits.MaxStreams))
	nonNegative("limits.max_players_per_stream", int64(c.Limits.MaxPlayersPerStream))
	nonNegative("limits.max_conns_per_ip", int64(c.Limits.MaxConnsPerIP))
	if b := c.Limits.MaxPublishBitrate; b != 0 && b < MinPublishBitrate {
		errs = append(errs, fmt.Errorf("limits.max_publish_bitrate: must be 0 (off) or >= %d bits/s, got %d", MinPublishBitrate, b))
	}
	if t := c.API.Token; t != "" && (len(t) < MinAPITokenLen || strings.ContainsAny(t, " \t\r\n")) {
		errs = append(errs, fmt.Errorf("api.token: must be empty (no token) or at least %d characters without spaces, got %d characters", MinAPITokenLen, len(t)))
	}
	positive("publish.failover_after", c.Publish.FailoverAfter)
	if c.HLS.SegmentDuration < time.Second {
		// gohlslib's playlists would say #EXT-X-TARGETDURATION:0, which
		// players refuse.
		errs = append(errs, fmt.Errorf("hls.segment_duration: must be at least 1s, got %s", c.HLS.SegmentDuration))
	}
	positive("hls.part_duration", c.HLS.PartDuration)
	positive("hls.idle_timeout", c.HLS.IdleTimeout)
	switch {
	case c.HLS.Variant != hls.VariantFMP4 && c.HLS.Variant != hls.VariantMPEGTS:
		errs = append(errs, fmt.Errorf("hls.variant: must be %s or %s, got %q", hls.VariantFMP4, hls.VariantMPEGTS, c.HLS.Variant))
	case c.HLS.LowLatency && c.HLS.Variant != hls.VariantFMP4:
		errs = append(errs, fmt.Errorf("hls.low_latency: needs hls.variant %s (LL-HLS parts are fMP4)", hls.VariantFMP4))
	}
	if least := hls.MinSegmentCount(c.HLS.LowLatency); c.HLS.SegmentCount < least {
		errs = append(errs, fmt.Errorf("hls.segment_count: must be at least %d%s, got %d", least,
			map[bool]string{true: " with hls.low_latency", false: ""}[c.HLS.LowLatency], c.HLS.SegmentCount))
	}
	if c.Publish.Grace < 0 {
		errs = append(errs, fmt.Errorf("publish.grace: must be 0 (off) or more, got %s", c.Publish.Grace))
	}
	positive("auth.clock_skew", c.Auth.ClockSkew)
	positive("hooks.timeout", c.Hooks.Timeout)
	if _, err := clientip.New(c.HTTP.TrustedProxies); err != nil {
		errs = append(errs, fmt.Errorf("http.trusted_proxies: %w", err))
	}
	if len(c.Play.CORSOrigins) == 0 {
		errs = append(errs, errors.New(`play.cors_origins: must not be empty (["*"] allows any origin)`))
	}
	if c.RTMPS.Addr != "" || c.HTTPS.Addr != "" {
		if c.TLS.CertFile == "" || c.TLS.KeyFile == "" {
			errs = append(errs, errors.New("tls.cert_file and tls.key_file: needed by rtmps.addr and https.addr"))
		} else if _, err := tls.LoadX509KeyPair(c.TLS.CertFile, c.TLS.KeyFile); err != nil {
			errs = append(errs, fmt.Errorf("tls.cert_file, tls.key_file: %w", err))
		}
	}
	for key, u := range map[string]string{"hooks.on_publish": c.Hooks.OnPublish, "hooks.on_play": c.Hooks.OnPlay,
		"hooks.on_unpublish": c.Hooks.OnUnpublish, "hooks.on_stop": c.Hooks.OnStop,
		"hooks.on_record_done": c.Hooks.OnRecordDone} {
		if u == "" {
			continue
		}
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			errs = append(errs, fmt.Errorf("%s: want an http:// or https:// URL, got %q", key, u))
		}
	}
	if c.Auth.Backoff < 0 {
		errs = append(errs, fmt.Errorf("auth.backoff: must be >= 0 (0 = off), got %v", c.Auth.Backoff))
	}
	if _, err := c.AuthConfig(); err != nil {
		errs = append(errs, err)
	}
	if c.Publish.Backup != BackupOff && c.Publish.Backup != BackupAuto {
		errs = append(errs, fmt.Errorf("publish.backup: must be %s or %s, got %q", BackupOff, BackupAuto, c.Publish.Backup))
	}
	errs = append(errs, c.Relay.validate()...)
	positive("edge.connect_timeout", c.Edge.ConnectTimeout)
	positive("edge.linger", c.Edge.Linger)
	positive("edge.failover_timeout", c.Edge.FailoverTimeout)
	for _, o := range c.Edge.Origins {
		if _, err := edge.ParseOrigin(o); err != nil {
			errs = append(errs, fmt.Errorf("edge.origins: %w", err))
		}
	}
	if c.Edge.Directory != "" {
		if _, err := cluster.ParseRedisURL(c.Edge.Directory); err != nil {
			errs = append(errs, fmt.Errorf("edge.directory: %w", err))
		}
	}
	errs = append(errs, c.validateCluster()...)
	if err := c.RecordConfig().Validate("record"); err != nil {
		errs = append(errs, err)
	}
	for app, a := range c.Record.Apps {
		if err := checkAppName(app); err != nil {
			errs = append(errs, fmt.Errorf("record.apps: %w", err))
			continue
		}
		if err := a.Apply(c.RecordConfig()).Validate("record.apps." + app); err != nil {
			errs = append(errs, err)
		}
	}
	switch c.Log.Format {
	case "console", "json":
	default:
		errs = append(errs, fmt.Errorf("log.format: must be console or json, got %q", c.Log.Format))
	}
	switch c.Log.Level {
	case "trace", "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level: must be trace, debug, info, warn or error, got %q", c.Log.Level))
	}
	return errors.Join(errs...)
}

// MinClusterLease is the shortest cluster.lease (renewed every lease/3).
const MinClusterLease = 300 * time.Millisecond

// IsEdge reports whether the server pulls streams it does not have:
// edge.origins or edge.directory is set.
func (c Config) IsEdge() bool { return len(c.Edge.Origins) > 0 || c.Edge.Directory != "" }

// validateCluster checks the cluster.* keys.
func (c Config) validateCluster() []error {
	var errs []error
	cl := c.Cluster
	if cl.Lease < MinClusterLease {
		errs = append(errs, fmt.Errorf("cluster.lease: must be >= %v, got %v", MinClusterLease, cl.Lease))
	}
	if cl.Timeout <= 0 || cl.Timeout >= cl.Lease {
		errs = append(errs, fmt.Errorf("cluster.timeout: must be > 0 and < cluster.lease, got %v", cl.Timeout))
	}
	if cl.OnRedisDown != cluster.OnDownLocal && cl.OnRedisDown != cluster.OnDownRefuse {
		errs = append(errs, fmt.Errorf("cluster.on_redis_down: must be %s or %s, got %q", cluster.OnDownLocal, cluster.OnDownRefuse, cl.OnRedisDown))
	}
	if cl.NodeURL != "" {
		if _, err := cluster.ParseNodeURL(cl.NodeURL); err != nil {
			errs = append(errs, fmt.Errorf("cluster.node_url: %w", err))
		}
	}
	if cl.Redis != "" {
		if _, err := cluster.ParseRedisURL(cl.Redis); err != nil {
			errs = append(errs, fmt.Errorf("cluster.redis: %w", err))
		}
	}
	return errs
}

// checkAppName refuses a record.apps key that cannot be an app.
func checkAppName(app string) error {
	_, err := registry.NewKey(app, "x")
	return err
}

// AuthConfig is the auth configuration the keys give, with the keys file
// read (the file's keys win over auth.keys), validated.
func (c Config) AuthConfig() (auth.Config, error) {
	keys := make(map[string]string, len(c.Auth.Keys))
	for k, v := range c.Auth.Keys {
		keys[k] = v
	}
	if c.Auth.KeysFile != "" {
		b, err := os.ReadFile(c.Auth.KeysFile)
		if err != nil {
			return auth.Config{}, fmt.Errorf("auth.keys_file: %w", err)
		}
		fk, err := auth.LoadKeys(string(b))
		if err != nil {
			return auth.Config{}, fmt.Errorf("auth.keys_file %s: %w", c.Auth.KeysFile, err)
		}
		for k, v := range fk {
			keys[k] = v
		}
	}
	ac := auth.Config{Secret: c.Auth.Secret, ClockSkew: c.Auth.ClockSkew, Keys: keys, Apps: c.Auth.Apps, Backoff: c.Auth.Backoff}
	return ac, auth.Validate(ac)
}

// validate checks the relay keys.
func (r Relay) validate() []error {
	var errs []error
	for app, list := range r.Push {
		if app != "*" {
			if _, err := registry.NewKey(app, "x"); err != nil {
				errs = append(errs, fmt.Errorf("relay.push: app %q: %w", app, err))
			}
		}
		for _, t := range list {
			if err := relay.CheckTemplate(t); err != nil {
				errs = append(errs, fmt.Errorf("relay.push: %s: %w", app, err))
			}
		}
	}
	for name, o := range r.Streams {
		app, stream, _ := strings.Cut(name, "/")
		if _, err := registry.NewKey(app, stream); err != nil {
			errs = append(errs, fmt.Errorf("relay.streams: %q: want \"app/stream\": %w", name, err))
		}
		for _, t := range o.Push {
			if err := relay.CheckTemplate(t); err != nil {
				errs = append(errs, fmt.Errorf("relay.streams: %s: %w", name, err))
			}
		}
	}
	if r.ConnectTimeout <= 0 {
		errs = append(errs, fmt.Errorf("relay.connect_timeout: must be > 0, got %v", r.ConnectTimeout))
	}
	if r.BackoffMin <= 0 || r.BackoffMax < r.BackoffMin {
		errs = append(errs, fmt.Errorf("relay.backoff_min, relay.backoff_max: want 0 < backoff_min <= backoff_max, got %v and %v", r.BackoffMin, r.BackoffMax))
	}
	return errs
}
