package cluster

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Status is what GET /api/v1/cluster reports about a directory.
type Status struct {
	NodeURL     string        `json:"node_url,omitempty"`
	NodeID      string        `json:"node_id,omitempty"`
	LeaseMS     int64         `json:"lease_ms"`
	TimeoutMS   int64         `json:"timeout_ms"`
	OnRedisDown string        `json:"on_redis_down"`
	Redis       RedisStatus   `json:"redis"`
	Nodes       []Node        `json:"nodes"`
	Claims      []ClaimStatus `json:"claims"`
	Counts      Counts        `json:"counts"`
	Fence       bool          `json:"fence"`
}

// RedisStatus is the state of the connection to Redis.
type RedisStatus struct {
	URL   string `json:"url"`   // password redacted
	State string `json:"state"` // "up" or "down"
	// DownSince is when Redis stopped answering; absent while up.
	DownSince *time.Time `json:"down_since,omitempty"`
}

// Node is one node seen in Redis (its heartbeat, every lease/3).
type Node struct {
	URL      string    `json:"url"`
	ID       string    `json:"id"`
	LastSeen time.Time `json:"last_seen"`
	Claims   int       `json:"claims"`
	// Live: seen within two leases.
	Live bool `json:"live"`
}

// ClaimStatus is one key this node holds.
type ClaimStatus struct {
	App    string    `json:"app"`
	Stream string    `json:"stream"`
	Since  time.Time `json:"since"`
	// InRedis is false for a claim admitted while Redis was down and not
	// made since.
	InRedis bool `json:"in_redis"`
}

// Counts are the directory's counters since New.
type Counts struct {
	// Claims by result: ClaimOK, ClaimBusy, ClaimLocal, ClaimRefused,
	// ClaimLost, ClaimFenced.
	Claims map[string]uint64 `json:"claims"`
	// Lookups are the Redis reads of Lookup by result (LookupFound,
	// LookupNotFound, LookupError); LookupsShared the lookups answered
	// from the one-second cache or by a read in flight.
	Lookups       map[string]uint64 `json:"lookups"`
	LookupsShared uint64            `json:"lookups_shared"`
	// RedisErrors counts failed Redis calls.
	RedisErrors uint64 `json:"redis_errors"`
}

// Counts returns the counters (atomics; safe at any time).
func (d *Directory) Counts() Counts {
	c := Counts{Claims: map[string]uint64{}, Lookups: map[string]uint64{
		LookupFound: d.lookups[0].Load(), LookupNotFound: d.lookups[1].Load(), LookupError: d.lookups[2].Load()},
		LookupsShared: d.cacheHit.Load(), RedisErrors: d.errs.Load()}
	for _, r := range []string{ClaimOK, ClaimBusy, ClaimLocal, ClaimRefused, ClaimLost, ClaimFenced} {
		c.Claims[r] = d.claims[claimIndex(r)].Load()
	}
	return c
}

// Held returns how many keys this node holds.
func (d *Directory) Held() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.held)
}

// Status describes the directory; the nodes are read from Redis within
// Timeout (none while it is down).
func (d *Directory) Status(ctx context.Context) Status {
	st := Status{NodeURL: d.cfg.NodeURL, NodeID: d.cfg.NodeID, LeaseMS: d.cfg.Lease.Milliseconds(),
		TimeoutMS: d.cfg.Timeout.Milliseconds(), OnRedisDown: d.cfg.OnRedisDown, Fence: d.cfg.Fence,
		Redis: RedisStatus{URL: RedactURL(d.cfg.Redis), State: "up"}, Nodes: []Node{}, Claims: []ClaimStatus{},
		Counts: d.Counts()}
	if !d.up.Load() {
		st.Redis.State = "down"
		if ms := d.downSince.Load(); ms != 0 {
			t := time.UnixMilli(ms)
			st.Redis.DownSince = &t
		}
	}
	d.mu.Lock()
	for _, c := range d.held {
		select {
		case <-c.ready:
			if c.err == nil {
				st.Claims = append(st.Claims, ClaimStatus{App: c.key.App, Stream: c.key.Name, Since: c.since, InRedis: c.inRedis})
			}
		default:
		}
	}
	d.mu.Unlock()
	sort.Slice(st.Claims, func(i, j int) bool {
		return st.Claims[i].App+"/"+st.Claims[i].Stream < st.Claims[j].App+"/"+st.Claims[j].Stream
	})
	if d.up.Load() {
		ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
		defer cancel()
		nodes, err := d.client.HGetAll(ctx, NodesKey).Result()
		if err != nil {
			d.failed(err)
		}
		for u, v := range nodes {
			if n, ok := parseNode(u, v); ok {
				n.Live = time.Since(n.LastSeen) < 2*d.cfg.Lease
				st.Nodes = append(st.Nodes, n)
			}
		}
		sort.Slice(st.Nodes, func(i, j int) bool { return st.Nodes[i].URL < st.Nodes[j].URL })
	}
	return st
}

// parseNode reads one NodesKey entry: "NODE_ID|LAST_SEEN_MS|CLAIMS".
func parseNode(u, v string) (Node, bool) {
	parts := strings.Split(v, "|")
	if len(parts) != 3 {
		return Node{}, false
	}
	ms, err1 := strconv.ParseInt(parts[1], 10, 64)
	n, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil {
		return Node{}, false
	}
	return Node{URL: u, ID: parts[0], LastSeen: time.UnixMilli(ms), Claims: n}, true
}

// Latency is the histogram of the directory's Redis calls by op, for
// the metrics registry.
func (d *Directory) Latency() prometheus.Collector { return d.latency }
