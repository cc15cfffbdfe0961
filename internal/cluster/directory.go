package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/headwater-media/headwater/internal/lockcheck"
	"github.com/headwater-media/headwater/internal/registry"
)

// Claim results, as the metric's result label.
const (
	ClaimOK      = "ok"      // claimed in Redis
	ClaimBusy    = "busy"    // another node holds the key: refused
	ClaimLocal   = "local"   // Redis down, OnDownLocal: admitted, claimed once Redis is back
	ClaimRefused = "refused" // Redis down, OnDownRefuse: refused
	ClaimLost    = "lost"    // re-established after an outage: an older session held the key
	ClaimFenced  = "fenced"  // not renewed in time (Config.Fence): its publishers ended
)

// Lookup results, as the metric's result label: each is one Redis read.
const (
	LookupFound    = "found"
	LookupNotFound = "not_found"
	LookupError    = "error"
)

// Directory claims keys for this node and looks up other nodes' claims.
// Make it with New, then Start; Close releases what is left.
type Directory struct {
	cfg    Config
	client *redis.Client
	log    zerolog.Logger

	ctx    context.Context // cancelled by Close: the keeper ends
	cancel context.CancelFunc
	done   chan struct{} // closed when the keeper has returned
	kept   atomic.Bool   // Start started the keeper
	wake   chan struct{} // capacity 1: Redis looked down, reconnect now

	up        atomic.Bool  // Redis answered the last call
	downSince atomic.Int64 // Unix ms of the last up → down, 0 while up

	claims   [6]atomic.Uint64 // by ClaimOK .. ClaimFenced (claimIndex)
	lookups  [3]atomic.Uint64 // by LookupFound .. LookupError
	cacheHit atomic.Uint64    // lookups answered from the cache or a lookup in flight
	errs     atomic.Uint64    // failed Redis calls
	latency  *prometheus.HistogramVec

	// mu guards held, orphans, closed and seq, and every claim's holders,
	// inRedis, maybe and gone. Leaf lock: no Redis call, callback
	// or blocking send under it.
	mu      lockcheck.Mutex
	held    map[registry.Key]*claim
	orphans []*claim // released while Redis was down: deleted when it answers
	closed  bool
	seq     uint64

	// lmu guards cache and flights (Lookup). Leaf lock.
	lmu     lockcheck.Mutex
	cache   map[registry.Key]cached
	flights map[registry.Key]*flight
}

// claim is one key this node holds, shared by its local publishers (a
// primary and its backup).
type claim struct {
	key     registry.Key
	value   string    // claimValue.String()
	since   time.Time // the claiming session's start
	ready   chan struct{}
	err     error             // set before ready closes: the claim failed
	holders map[uint64]func() // release id → lost callback
	// inRedis: Redis holds value (as far as the last call knew); false
	// for a claim admitted while Redis was down.
	inRedis bool
	// maybe: the claim's SET failed (a timeout, a reset): it may have
	// reached Redis all the same.
	maybe bool
	// renewed is when the last claim or renewal that Redis applied was
	// sent (admission, for a claim made without Redis): Config.Fence
	// ends the claim fenceAfter it.
	renewed time.Time
	gone    bool // released or lost: nothing may renew it any more
}

// cached is a lookup's answer, kept for lookupTTL.
type cached struct {
	node    string
	err     error
	expires time.Time
}

// flight is a Redis lookup in progress; its waiters share its answer.
type flight struct {
	done chan struct{}
	node string
	err  error
}

// lookupTTL is how long a lookup's answer is reused.
const lookupTTL = time.Second

// New returns a directory for cfg; nothing talks to Redis until Start.
func New(cfg Config, log zerolog.Logger) (*Directory, error) {
	if cfg.NodeURL != "" {
		if _, err := ParseNodeURL(cfg.NodeURL); err != nil {
			return nil, err
		}
	}
	if cfg.Lease <= 0 || cfg.Timeout <= 0 {
		return nil, errors.New("cluster: lease and timeout must be > 0")
	}
	if cfg.NodeID == "" {
		cfg.NodeID = newID()
	}
	c, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	d := &Directory{cfg: cfg, client: c, log: log.With().Str("component", "cluster").Logger(),
		done: make(chan struct{}), wake: make(chan struct{}, 1),
		held: make(map[registry.Key]*claim), cache: make(map[registry.Key]cached), flights: make(map[registry.Key]*flight),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "headwater_cluster_redis_seconds",
			Help:    "Redis calls of the cluster directory by op (claim, renew, release, lookup, ping), seconds.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}, []string{"op"}),
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	return d, nil
}

// SetNodeURL sets the node URL (Config.NodeURL) of a directory made
// without one, which makes it claim: only before Start.
func (d *Directory) SetNodeURL(u string) error {
	if _, err := ParseNodeURL(u); err != nil {
		return err
	}
	d.cfg.NodeURL = u
	return nil
}

// Start checks Redis once (within Timeout; down is no error: the keeper
// reconnects) and starts the keeper, which Close stops.
func (d *Directory) Start() {
	ctx, cancel := context.WithTimeout(d.ctx, d.cfg.Timeout)
	err := d.ping(ctx)
	cancel()
	if err != nil {
		d.downSince.Store(time.Now().UnixMilli())
		d.log.Warn().Err(err).Str("redis", RedactURL(d.cfg.Redis)).Msg("cluster: Redis unreachable at start; retrying")
	} else {
		d.up.Store(true)
		d.log.Info().Str("redis", RedactURL(d.cfg.Redis)).Str("node_url", d.cfg.NodeURL).Msg("cluster: Redis up")
	}
	d.kept.Store(true)
	go d.keep()
}

// Config returns the directory's configuration.
func (d *Directory) Config() Config { return d.cfg }

// Up reports whether Redis answered the last call.
func (d *Directory) Up() bool { return d.up.Load() }

func claimIndex(result string) int {
	switch result {
	case ClaimOK:
		return 0
	case ClaimBusy:
		return 1
	case ClaimLocal:
		return 2
	case ClaimRefused:
		return 3
	case ClaimLost:
		return 4
	default:
		return 5
	}
}

// Claim takes key for this node before a publish is admitted. It returns
// at once when Redis is known to be down, and otherwise within Timeout
// (or ctx). Errors: ErrClaimed (another node holds key), ErrRedisDown
// (OnDownRefuse), ErrClosed. lost is called, from another goroutine and
// without locks held, if the claim is later lost to an older session of
// another node; the publisher should then end. release is idempotent;
// the last holder's release deletes the claim (compare-and-delete).
func (d *Directory) Claim(ctx context.Context, key registry.Key, lost func()) (release func(), err error) {
	if d.cfg.NodeURL == "" {
		return nil, errors.New("cluster: no node URL: this directory only looks up")
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, ErrClosed
	}
	d.seq++
	id := d.seq
	c, shared := d.held[key]
	if !shared {
		now := time.Now()
		c = &claim{key: key, since: now, renewed: now, ready: make(chan struct{}), holders: map[uint64]func(){},
			value: claimValue{NodeURL: d.cfg.NodeURL, Session: d.cfg.NodeID + "-" + strconv.FormatUint(id, 10), Start: now}.String()}
		d.held[key] = c
	}
	c.holders[id] = lost
	d.mu.Unlock()
	release = func() { d.release(c, id) }

	if shared {
		// A claim of this key is held or being made by this node (a
		// backup joining its primary): share its outcome.
		select {
		case <-c.ready:
		case <-ctx.Done():
			release()
			return nil, ctx.Err()
		}
		if c.err != nil {
			release()
			return nil, c.err
		}
		return release, nil
	}
	err = d.claimRedis(ctx, c)
	c.err = err
	close(c.ready)
	if err != nil {
		release()
		return nil, err
	}
	return release, nil
}

// claimRedis makes c's claim in Redis, or decides without it when Redis
// is down.
func (d *Directory) claimRedis(ctx context.Context, c *claim) error {
	log := d.log.With().Str("app", c.key.App).Str("stream", c.key.Name).Logger()
	down := func(err error) error {
		if d.cfg.OnRedisDown == OnDownRefuse {
			d.claims[claimIndex(ClaimRefused)].Add(1)
			log.Warn().AnErr("redis", err).Msg("cluster: publish refused: Redis unreachable (cluster.on_redis_down: refuse)")
			return ErrRedisDown
		}
		d.claims[claimIndex(ClaimLocal)].Add(1)
		log.Warn().AnErr("redis", err).Msg("cluster: publish admitted without a claim: Redis unreachable; claiming once it is back")
		return nil
	}
	if !d.up.Load() {
		return down(ErrRedisDown)
	}
	cctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	start := time.Now()
	// SET key value NX PX lease: nil when the key is held.
	err := d.client.Do(cctx, "SET", KeyPrefix+c.key.String(), c.value, "NX", "PX", d.cfg.Lease.Milliseconds()).Err()
	d.observe("claim", start)
	ok := err == nil
	if errors.Is(err, redis.Nil) {
		err = nil
	}
	if err != nil {
		d.mu.Lock()
		c.maybe = true
		d.mu.Unlock()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		d.failed(err)
		return down(err)
	}
	if ok {
		d.mu.Lock()
		c.inRedis, c.renewed = true, start
		d.mu.Unlock()
		d.claims[claimIndex(ClaimOK)].Add(1)
		log.Debug().Dur("took", time.Since(start)).Msg("cluster: claimed")
		return nil
	}
	d.claims[claimIndex(ClaimBusy)].Add(1)
	holder := "?"
	if v, err := d.client.Get(cctx, KeyPrefix+c.key.String()).Result(); err == nil {
		if cv, err := parseValue(v); err == nil {
			holder = cv.NodeURL
		}
	}
	log.Warn().Str("holder", holder).Msg("cluster: publish refused: another node publishes this key")
	return fmt.Errorf("%w (%s)", ErrClaimed, holder)
}

// release drops holder id of c; the last one deletes the claim in Redis
// (only if it is still c's: compare-and-delete), within Timeout.
func (d *Directory) release(c *claim, id uint64) {
	d.mu.Lock()
	if _, ok := c.holders[id]; !ok {
		d.mu.Unlock()
		return // released already
	}
	delete(c.holders, id)
	last := len(c.holders) == 0 && !c.gone
	if last {
		c.gone = true
		if d.held[c.key] == c {
			delete(d.held, c.key)
		}
	}
	inRedis := c.inRedis || c.maybe
	d.mu.Unlock()
	if !last || !inRedis {
		return // not in Redis: nothing to delete
	}
	if !d.up.Load() || d.deleteClaim(c) != nil {
		d.orphan(c)
	}
}

// maxOrphans bounds the claims kept for deletion while Redis is down;
// beyond it their leases end them.
const maxOrphans = 10000

// orphan keeps c, released while Redis could not be told, for the keeper
// to delete once Redis answers (so that the key is free before its lease
// runs out when Redis was only out of reach).
func (d *Directory) orphan(c *claim) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.orphans) < maxOrphans && !d.closed {
		d.orphans = append(d.orphans, c)
	}
}

// deleteOrphans deletes the claims released while Redis was down (each
// only if it still holds its value), in one pipeline within Timeout.
func (d *Directory) deleteOrphans() {
	d.mu.Lock()
	todo := d.orphans
	d.orphans = nil
	d.mu.Unlock()
	if len(todo) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(d.ctx, d.cfg.Timeout)
	defer cancel()
	pipe := d.client.Pipeline()
	for _, c := range todo {
		pipe.Eval(ctx, deleteLua, []string{KeyPrefix + c.key.String()}, c.value)
	}
	start := time.Now()
	_, err := pipe.Exec(ctx)
	d.observe("release", start)
	if err != nil {
		d.failed(err)
		d.mu.Lock()
		if len(d.orphans)+len(todo) <= maxOrphans {
			d.orphans = append(d.orphans, todo...)
		}
		d.mu.Unlock()
		return
	}
	d.log.Info().Int("claims", len(todo)).Msg("cluster: claims released while Redis was down deleted")
}

// deleteClaim deletes c's claim if Redis still holds its value.
func (d *Directory) deleteClaim(c *claim) error {
	// Not d.ctx: Close deletes what is left after cancelling it.
	ctx, cancel := context.WithTimeout(context.Background(), d.cfg.Timeout)
	defer cancel()
	start := time.Now()
	err := deleteScript.Run(ctx, d.client, []string{KeyPrefix + c.key.String()}, c.value).Err()
	d.observe("release", start)
	if err != nil {
		d.failed(err)
		d.log.Warn().Err(err).Str("app", c.key.App).Str("stream", c.key.Name).
			Msg("cluster: claim not deleted (Redis error); deleted when Redis answers, or at the end of its lease")
	}
	return err
}

// deleteScript is compare-and-delete: KEYS[1] is deleted only if it holds
// ARGV[1].
var deleteScript = redis.NewScript(deleteLua)

const deleteLua = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

// renewLua renews a claim, or re-establishes it after an outage:
// KEYS[1] the key, ARGV[1] our value, ARGV[2] the lease (ms), ARGV[3]
// our session's start (ms). The key absent or ours: set (again), 0 renewed
// / 1 re-established. Held by another session: the older session wins
// (the smaller value on a tie); 2 we took it over (a younger one held it),
// 3 we lost it (an older one holds it). The holder's value comes second.
const renewLua = `
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {0, ''}
end
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {1, ''}
end
local theirs = tonumber(string.match(v, '|(%d+)$'))
local ours = tonumber(ARGV[3])
if theirs == nil or theirs > ours or (theirs == ours and v > ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {2, v}
end
return {3, v}`

// Renewal outcomes (renewLua's first result).
const (
	renewed = iota
	reestablished
	tookOver
	lostToOlder
)

// failed counts a Redis error and marks Redis down (the keeper then
// reconnects).
func (d *Directory) failed(err error) {
	d.errs.Add(1)
	if errors.Is(err, context.Canceled) && d.ctx.Err() != nil {
		return // closing
	}
	if d.up.CompareAndSwap(true, false) {
		d.downSince.Store(time.Now().UnixMilli())
		d.log.Warn().Err(err).Str("redis", RedactURL(d.cfg.Redis)).Msg("cluster: Redis down; reconnecting")
	}
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *Directory) observe(op string, start time.Time) {
	d.latency.WithLabelValues(op).Observe(time.Since(start).Seconds())
}

func (d *Directory) ping(ctx context.Context) error {
	start := time.Now()
	err := d.client.Ping(ctx).Err()
	d.observe("ping", start)
	return err
}

// keep is the keeper goroutine: every Lease/3 it renews this node's
// claims and its entry in NodesKey; while Redis is down it pings with a
// backoff (100 ms doubling to Lease/3) and, once Redis answers, renews
// (re-establishes) every claim at once. It exits when Close cancels ctx.
func (d *Directory) keep() {
	defer close(d.done)
	period := d.cfg.Lease / 3
	const minBackoff = 100 * time.Millisecond
	backoff := minBackoff
	t := time.NewTimer(0) // the node entry at once, then every period
	defer t.Stop()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-d.wake:
		case <-t.C:
		}
		next := d.fence()
		if !d.up.Load() {
			ctx, cancel := context.WithTimeout(d.ctx, d.cfg.Timeout)
			err := d.ping(ctx)
			cancel()
			if err != nil {
				if d.ctx.Err() == nil {
					d.errs.Add(1)
				}
				t.Reset(min(backoff, next))
				backoff = min(2*backoff, period)
				continue
			}
			d.log.Info().Dur("down_for", time.Since(time.UnixMilli(d.downSince.Load()))).
				Msg("cluster: Redis back; re-establishing claims")
			d.up.Store(true)
			d.downSince.Store(0)
			backoff = minBackoff
		}
		d.renewAll()
		d.deleteOrphans()
		t.Reset(min(period, d.fence()))
	}
}

// fenceAfter is how long a claim may go unrenewed before Config.Fence
// ends it: the lease, less a tenth, less two Timeouts (the keeper may be
// in a ping or a renewal when the time comes), and at least half the
// lease; the key cannot lapse in Redis before.
func (d *Directory) fenceAfter() time.Duration {
	return max(d.cfg.Lease/2, d.cfg.Lease-d.cfg.Lease/10-2*d.cfg.Timeout)
}

// fence ends (Config.Fence) the claims not renewed for fenceAfter: their
// keys may be claimed elsewhere from the lease's end on. It returns how
// long until the next claim's fence time (a lease without Fence).
func (d *Directory) fence() time.Duration {
	next := d.cfg.Lease
	if !d.cfg.Fence {
		return next
	}
	limit := d.fenceAfter()
	now := time.Now()
	var ended []*claim
	var lost []func()
	d.mu.Lock()
	for k, c := range d.held {
		select {
		case <-c.ready:
		default:
			continue // being made: its Claim decides
		}
		if c.err != nil || c.gone {
			continue
		}
		left := limit - now.Sub(c.renewed)
		if left > 0 {
			next = min(next, left)
			continue
		}
		c.gone = true
		delete(d.held, k)
		ended = append(ended, c)
		for _, f := range c.holders {
			if f != nil {
				lost = append(lost, f)
			}
		}
	}
	d.mu.Unlock()
	for _, c := range ended {
		d.claims[claimIndex(ClaimFenced)].Add(1)
		d.log.Warn().Str("app", c.key.App).Str("stream", c.key.Name).Dur("since_renewal", now.Sub(c.renewed)).
			Msg("cluster: claim not renewed in time: ending its publisher before its lease can run out (cluster.fence)")
		d.orphan(c) // deleted when Redis answers, if it still holds it
	}
	for _, f := range lost {
		f()
	}
	return max(next, time.Millisecond)
}

// renewAll renews every claim held (batches of 100 in one pipeline,
// each batch within Timeout) and this node's heartbeat.
func (d *Directory) renewAll() {
	d.mu.Lock()
	todo := make([]*claim, 0, len(d.held))
	for _, c := range d.held {
		select {
		case <-c.ready:
			if c.err == nil && !c.gone {
				todo = append(todo, c)
			}
		default: // a Claim in flight makes its own
		}
	}
	n := len(d.held)
	d.mu.Unlock()
	lease := strconv.FormatInt(d.cfg.Lease.Milliseconds(), 10)
	for len(todo) > 0 {
		batch := todo[:min(len(todo), 100)]
		todo = todo[len(batch):]
		ctx, cancel := context.WithTimeout(d.ctx, d.cfg.Timeout)
		start := time.Now() // before the send: what the fence counts from
		pipe := d.client.Pipeline()
		cmds := make([]*redis.Cmd, len(batch))
		for i, c := range batch {
			cv, _ := parseValue(c.value)
			cmds[i] = pipe.Eval(ctx, renewLua, []string{KeyPrefix + c.key.String()},
				c.value, lease, strconv.FormatInt(cv.Start.UnixMilli(), 10))
		}
		_, err := pipe.Exec(ctx)
		cancel()
		d.observe("renew", start)
		if err != nil {
			d.failed(err)
			return
		}
		for i, c := range batch {
			res, err := cmds[i].Slice()
			if err != nil || len(res) != 2 {
				continue
			}
			code, _ := res[0].(int64)
			holder, _ := res[1].(string)
			d.renewedOne(c, int(code), holder, start)
		}
	}
	if d.cfg.NodeURL == "" {
		return
	}
	ctx, cancel := context.WithTimeout(d.ctx, d.cfg.Timeout)
	defer cancel()
	now := time.Now().UnixMilli()
	err := d.client.HSet(ctx, NodesKey, d.cfg.NodeURL, d.cfg.NodeID+"|"+strconv.FormatInt(now, 10)+"|"+strconv.Itoa(n)).Err()
	if err != nil {
		d.failed(err)
		return
	}
	// Forget nodes unseen for 10 leases.
	nodes, err := d.client.HGetAll(ctx, NodesKey).Result()
	if err != nil {
		d.failed(err)
		return
	}
	for u, v := range nodes {
		if n, ok := parseNode(u, v); ok && time.Since(n.LastSeen) > 10*d.cfg.Lease {
			d.client.HDel(ctx, NodesKey, u)
		}
	}
}

// renewedOne applies one renewal's outcome to c.
func (d *Directory) renewedOne(c *claim, code int, holder string, sent time.Time) {
	log := d.log.With().Str("app", c.key.App).Str("stream", c.key.Name).Logger()
	d.mu.Lock()
	gone := c.gone
	if code == lostToOlder {
		c.gone = true
		if d.held[c.key] == c {
			delete(d.held, c.key)
		}
	} else {
		c.inRedis = true
		c.renewed = sent
	}
	var lost []func()
	if code == lostToOlder && !gone {
		for _, f := range c.holders {
			if f != nil {
				lost = append(lost, f)
			}
		}
	}
	d.mu.Unlock()
	if gone && code != lostToOlder {
		// Released while the renewal was on its way: do not let it
		// outlive its publishers.
		_ = d.deleteClaim(c)
		return
	}
	switch code {
	case reestablished:
		log.Info().Msg("cluster: claim re-established")
	case tookOver:
		hv, _ := parseValue(holder)
		log.Warn().Str("other", hv.NodeURL).Time("other_since", hv.Start).Time("since", c.since).
			Msg("cluster: conflicting claim resolved: this node's older session keeps the key")
	case lostToOlder:
		if gone {
			return
		}
		d.claims[claimIndex(ClaimLost)].Add(1)
		hv, _ := parseValue(holder)
		log.Warn().Str("holder", hv.NodeURL).Time("holder_since", hv.Start).Time("since", c.since).
			Msg("cluster: conflicting claim resolved: an older session on another node keeps the key; ending the publisher here")
		for _, f := range lost {
			f()
		}
	}
}

// Lookup returns the URL of the node that holds key, or ErrNotFound, or
// ErrRedisDown (at once while Redis is down), or ctx's error. Answers are
// reused for a second, and concurrent lookups of a key share one Redis
// read.
func (d *Directory) Lookup(ctx context.Context, key registry.Key) (string, error) {
	now := time.Now()
	d.lmu.Lock()
	if c, ok := d.cache[key]; ok && now.Before(c.expires) {
		d.lmu.Unlock()
		d.cacheHit.Add(1)
		return c.node, c.err
	}
	f, joined := d.flights[key]
	if !joined {
		f = &flight{done: make(chan struct{})}
		d.flights[key] = f
	}
	d.lmu.Unlock()
	if joined {
		d.cacheHit.Add(1)
	} else {
		f.node, f.err = d.lookupRedis(key)
		d.lmu.Lock()
		delete(d.flights, key)
		if f.err == nil || errors.Is(f.err, ErrNotFound) {
			d.cache[key] = cached{node: f.node, err: f.err, expires: time.Now().Add(lookupTTL)}
		}
		for k, c := range d.cache { // bounded: expired answers go
			if time.Now().After(c.expires) {
				delete(d.cache, k)
			}
		}
		d.lmu.Unlock()
		close(f.done)
	}
	select {
	case <-f.done:
		return f.node, f.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// lookupRedis reads key's claim within Timeout.
func (d *Directory) lookupRedis(key registry.Key) (string, error) {
	if !d.up.Load() {
		d.lookups[2].Add(1)
		return "", ErrRedisDown
	}
	ctx, cancel := context.WithTimeout(d.ctx, d.cfg.Timeout)
	defer cancel()
	start := time.Now()
	v, err := d.client.Get(ctx, KeyPrefix+key.String()).Result()
	d.observe("lookup", start)
	switch {
	case errors.Is(err, redis.Nil):
		d.lookups[1].Add(1)
		return "", ErrNotFound
	case err != nil:
		d.lookups[2].Add(1)
		d.failed(err)
		return "", fmt.Errorf("%w: %w", ErrRedisDown, err)
	}
	cv, err := parseValue(v)
	if err != nil {
		d.lookups[2].Add(1)
		d.log.Warn().Str("app", key.App).Str("stream", key.Name).Msg("cluster: malformed claim in Redis ignored")
		return "", ErrNotFound
	}
	d.lookups[0].Add(1)
	return cv.NodeURL, nil
}

// Close stops the keeper and deletes the claims still held (their
// publishers should have gone first), each within Timeout, then closes
// the client. It is idempotent.
func (d *Directory) Close() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.closed = true
	var left []*claim
	for k, c := range d.held {
		c.gone = true
		delete(d.held, k)
		if c.inRedis || c.maybe {
			left = append(left, c)
		}
	}
	d.mu.Unlock()
	d.cancel()
	if d.kept.Load() {
		<-d.done
	}
	d.mu.Lock()
	left = append(left, d.orphans...)
	d.orphans = nil
	d.mu.Unlock()
	if d.up.Load() {
		for _, c := range left {
			_ = d.deleteClaim(c)
		}
		if d.cfg.NodeURL != "" {
			ctx, cancel := context.WithTimeout(context.Background(), d.cfg.Timeout)
			d.client.HDel(ctx, NodesKey, d.cfg.NodeURL)
			cancel()
		}
	}
	_ = d.client.Close()
}
