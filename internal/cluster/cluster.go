// Package cluster is headwater's stream directory in Redis: which node
// holds which {app}/{stream}, so that several origins behind a load
// balancer refuse a key another one publishes, and edges pull a stream
// from the node that has it without asking every origin.
//
// An origin claims a key before it answers Publish.Start (Directory.Claim:
// SET key value NX PX lease), renews its claims every lease/3 (one
// goroutine per Directory, the keeper) and deletes each with a
// compare-and-delete when its last publisher goes. A node that dies loses
// its claims when the lease runs out. When Redis is unreachable, Claim
// answers at once without it (OnRedisDown: grant locally, or refuse), the
// keeper reconnects with backoff and then re-establishes every claim; a
// conflicting claim made meanwhile is resolved in favour of the older
// session, whose node keeps the key; the other's publishers are told
// (the lost callback) and kicked. Edges look keys up (Directory.Lookup),
// cached for a second and single-flight per key. See docs/scaling.md.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/headwater-media/headwater/internal/registry"
)

// OnRedisDown values.
const (
	// OnDownLocal keeps serving while Redis is unreachable: publishes are
	// admitted on local knowledge and their claims made once it is back.
	OnDownLocal = "local"
	// OnDownRefuse refuses new publishes while Redis is unreachable.
	OnDownRefuse = "refuse"
)

// Config configures a Directory.
type Config struct {
	// Redis is the server's URL: redis://[user:password@]host:port/db, or
	// rediss:// for TLS (go-redis's ParseURL, with its query options).
	Redis string
	// NodeURL is how edges reach this node (http://host:port or
	// rtmp://host:port); empty for a directory that only looks up.
	NodeURL string
	// NodeID identifies this running node (a new one per start).
	NodeID string
	// Lease is how long a claim outlives its node's last renewal.
	Lease time.Duration
	// Timeout bounds every Redis call made for a publish or a player.
	Timeout time.Duration
	// OnRedisDown is OnDownLocal or OnDownRefuse.
	OnRedisDown string
	// Fence ends a key's publishers when its claim could not be renewed
	// (or made) for lease − lease/10 − 2×Timeout (at least lease/2),
	// before another node can claim it: no two nodes publish one key at
	// once, but every stream ends when Redis stays unreachable that long.
	Fence bool
}

// DefaultConfig returns the defaults: a 10 s lease, a 500 ms timeout,
// keep serving when Redis is down. Redis and NodeURL are empty (off).
func DefaultConfig() Config {
	return Config{Lease: 10 * time.Second, Timeout: 500 * time.Millisecond, OnRedisDown: OnDownLocal}
}

// Redis key layout.
const (
	// KeyPrefix starts every claim's key: headwater:stream:{app}/{stream}.
	KeyPrefix = "headwater:stream:"
	// NodesKey is the hash of the nodes seen: field node URL, value
	// "NODE_ID|LAST_SEEN_MS|CLAIMS".
	NodesKey = "headwater:nodes"
)

// Errors of Claim and Lookup.
var (
	// ErrClaimed: another node holds the key. It wraps
	// registry.ErrStreamBusy (a publisher gets BadName, as for a local
	// duplicate).
	ErrClaimed = fmt.Errorf("%w on another node", registry.ErrStreamBusy)
	// ErrRedisDown: Redis is unreachable (a publish is refused with
	// OnDownRefuse; a lookup falls through).
	ErrRedisDown = errors.New("cluster directory (Redis) unreachable")
	// ErrNotFound: no node holds the key. It wraps registry.ErrNotFound.
	ErrNotFound = fmt.Errorf("%w in the cluster directory", registry.ErrNotFound)
	// ErrClosed: the directory is closed.
	ErrClosed = errors.New("cluster directory closed")
)

// ParseRedisURL checks a redis:// or rediss:// URL as go-redis reads it.
func ParseRedisURL(s string) (*redis.Options, error) {
	opt, err := redis.ParseURL(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", RedactURL(s), err)
	}
	return opt, nil
}

// ParseNodeURL checks a node URL: http:// or rtmp://, a host, nothing else
// (what an edge accepts as an origin).
func ParseNodeURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("node url %q: %w", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "rtmp") || u.Host == "" || strings.Trim(u.Path, "/") != "" ||
		u.RawQuery != "" || u.User != nil || strings.Contains(s, "|") {
		return nil, fmt.Errorf("node url %q: want http://host:port or rtmp://host:port", s)
	}
	return u, nil
}

// RedactURL hides a URL's password.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "<unparsable URL>"
	}
	return u.Redacted()
}

// quiet discards go-redis's own log lines (dial failures while Redis is
// down, once per attempt): the directory logs its state changes itself.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

var setLogger sync.Once

// newClient is a go-redis client whose every call is bounded by timeout:
// no retries, one dial attempt, context deadlines honoured.
func newClient(cfg Config) (*redis.Client, error) {
	opt, err := ParseRedisURL(cfg.Redis)
	if err != nil {
		return nil, err
	}
	setLogger.Do(func() { redis.SetLogger(quiet{}) })
	opt.MaxRetries = -1
	opt.DialerRetries = 1
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout, opt.PoolTimeout = cfg.Timeout, cfg.Timeout, cfg.Timeout, cfg.Timeout
	opt.ContextTimeoutEnabled = true
	opt.PoolSize = 16
	opt.DisableIdentity = true
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return redis.NewClient(opt), nil
}

// newID returns a random hex id.
func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
