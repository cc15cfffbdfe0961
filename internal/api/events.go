package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/procfs"

	"github.com/headwater-media/headwater/internal/lockcheck"
	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/stream"
)

// Defaults of Events.
const (
	// DefaultEventClients is how many GET /api/v1/events connections may
	// be open at once; more get 503.
	DefaultEventClients = 64
	// EventInterval is how often each client gets a snapshot.
	EventInterval = time.Second
	// eventWriteTimeout drops a client that does not take a snapshot in
	// this long: a slow reader costs nothing but its own connection.
	eventWriteTimeout = 5 * time.Second
)

// LimitEventClients is the limit label of refused event clients.
const LimitEventClients = "event_clients"

// Events serves GET /api/v1/events: Server-Sent Events, one JSON Snapshot
// a second, built from the same counters as /metrics, for the dashboard's
// charts. It is public like /metrics (no bearer token: it carries no
// address, no encoder, nothing to act on). Each client is its own request
// goroutine writing under a deadline; a snapshot is built at most once
// per interval whatever the number of clients. Close (on shutdown) ends
// every client.
type Events struct {
	Registry *registry.Registry
	Totals   *stream.Totals
	// Refusals are the limit refusal counters (as in /metrics), summed.
	Refusals map[string]func() uint64
	// MaxClients caps the open connections; 0 is DefaultEventClients.
	MaxClients int
	// Started is when the server started, for uptime.
	Started time.Time

	clients atomic.Int64  // open connections
	refused atomic.Uint64 // connections refused over MaxClients
	dropped atomic.Uint64 // clients dropped for not reading

	// mu guards cached, cachedAt, done and closed. Leaf lock; the
	// snapshot is built under it (registry and stream locks are taken
	// inside, never the other way round).
	mu       lockcheck.Mutex
	cached   []byte // the last snapshot, as one SSE event
	cachedAt time.Time
	done     chan struct{} // closed by Close
	closed   bool
	proc     procState
}

// Snapshot is one event of GET /api/v1/events.
type Snapshot struct {
	// Time is when it was taken (Unix milliseconds).
	Time          int64   `json:"time"`
	UptimeSeconds float64 `json:"uptime_seconds"`
	Streams       int     `json:"streams"`
	Publishers    int     `json:"publishers"`
	// Players counts the players by protocol ("http-flv", "rtmp", "ws-flv").
	Players          map[string]int `json:"players"`
	BytesIn          uint64         `json:"bytes_in"`
	BytesOut         uint64         `json:"bytes_out"`
	DroppedFrames    uint64         `json:"dropped_frames"`
	TimestampRepairs uint64         `json:"timestamp_repairs"`
	Refusals         uint64         `json:"refusals"`
	// CPUSeconds is the process's user+system CPU time so far; RSSBytes
	// its resident memory (0 where /proc is missing).
	CPUSeconds   float64 `json:"cpu_seconds"`
	RSSBytes     uint64  `json:"rss_bytes"`
	EventClients int64   `json:"event_clients"`
	// StreamList is every live stream (the first 1000 by key).
	StreamList []eventStream `json:"stream_list"`
}

// eventStream is the public part of a live stream.
type eventStream struct {
	App              string     `json:"app"`
	Name             string     `json:"name"`
	ID               uint64     `json:"id"`
	State            string     `json:"state"`
	UptimeSeconds    float64    `json:"uptime_seconds"`
	Players          int        `json:"players"`
	BitrateIn        int64      `json:"bitrate_in"`
	BytesIn          uint64     `json:"bytes_in"`
	BytesOut         uint64     `json:"bytes_out"`
	DroppedFrames    uint64     `json:"dropped_frames"`
	TimestampRepairs uint64     `json:"timestamp_repairs"`
	Video            *videoJSON `json:"video"`
	Audio            *audioJSON `json:"audio"`
}

// maxEventStreams caps the streams of one snapshot.
const maxEventStreams = 1000

// Counts reports the open, refused and dropped event clients.
func (e *Events) Counts() (open int64, refused, dropped uint64) {
	return e.clients.Load(), e.refused.Load(), e.dropped.Load()
}

// Close ends every client and refuses new ones (server shutdown). It is
// idempotent.
func (e *Events) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.init()
	if !e.closed {
		e.closed = true
		close(e.done)
	}
}

func (e *Events) init() {
	if e.done == nil {
		e.done = make(chan struct{})
	}
}

func (e *Events) maxClients() int64 {
	if e.MaxClients > 0 {
		return int64(e.MaxClients)
	}
	return DefaultEventClients
}

// ServeHTTP streams snapshots until the client goes, is too slow, or
// Close is called.
func (e *Events) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	e.init()
	done, closed := e.done, e.closed
	e.mu.Unlock()
	if closed {
		writeError(w, http.StatusServiceUnavailable, "shutting down")
		return
	}
	if n := e.clients.Add(1); n > e.maxClients() {
		e.clients.Add(-1)
		e.refused.Add(1)
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "too many event clients, retry later")
		return
	}
	defer e.clients.Add(-1)

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	tick := time.NewTicker(EventInterval)
	defer tick.Stop()
	for {
		_ = rc.SetWriteDeadline(time.Now().Add(eventWriteTimeout))
		if _, err := w.Write(e.snapshot(time.Now())); err != nil {
			e.dropped.Add(1)
			return
		}
		if err := rc.Flush(); err != nil {
			e.dropped.Add(1)
			return
		}
		select {
		case <-tick.C:
		case <-r.Context().Done():
			return
		case <-done:
			return
		}
	}
}

// snapshot returns the current snapshot as an SSE event, built at most
// once per half interval whatever the number of clients.
func (e *Events) snapshot(now time.Time) []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cached != nil && now.Sub(e.cachedAt) < EventInterval/2 {
		return e.cached
	}
	s := e.build(now)
	var b bytes.Buffer
	b.WriteString("event: snapshot\ndata: ")
	_ = json.NewEncoder(&b).Encode(s) // ends with the newline that ends the data line
	b.WriteString("\n")
	e.cached, e.cachedAt = b.Bytes(), now
	return e.cached
}

func (e *Events) build(now time.Time) Snapshot {
	st := e.Registry.Stats()
	s := Snapshot{
		Time: now.UnixMilli(), UptimeSeconds: now.Sub(e.Started).Seconds(),
		Streams: st.Streams, Publishers: st.Publishers,
		Players:      e.Registry.PlayersByProtocol(),
		EventClients: e.clients.Load(),
	}
	if t := e.Totals; t != nil {
		s.BytesIn, s.BytesOut = t.BytesIn.Load(), t.BytesOut.Load()
		s.DroppedFrames, s.TimestampRepairs = t.FramesDropped.Load(), t.TimestampRepairs.Load()
	}
	for _, f := range e.Refusals {
		s.Refusals += f()
	}
	s.CPUSeconds, s.RSSBytes = e.proc.read()
	infos := e.Registry.Streams()
	s.StreamList = make([]eventStream, 0, min(len(infos), maxEventStreams))
	for _, in := range infos[:min(len(infos), maxEventStreams)] {
		full := newStreamJSON(in, now)
		s.StreamList = append(s.StreamList, eventStream{
			App: full.App, Name: full.Name, ID: full.ID, State: full.State, UptimeSeconds: full.UptimeSeconds,
			Players: full.Players, BitrateIn: full.BitrateIn, BytesIn: full.BytesIn, BytesOut: full.BytesOut,
			DroppedFrames: full.DroppedFrames, TimestampRepairs: full.TimestampRepairs,
			Video: full.Video, Audio: full.Audio,
		})
	}
	return s
}

// procState reads the process's CPU time and RSS from /proc.
type procState struct {
	once sync.Once
	p    *procfs.Proc
}

func (ps *procState) read() (cpuSeconds float64, rss uint64) {
	ps.once.Do(func() {
		if p, err := procfs.Self(); err == nil {
			ps.p = &p
		}
	})
	if ps.p == nil {
		return 0, 0
	}
	st, err := ps.p.Stat()
	if err != nil {
		return 0, 0
	}
	return st.CPUTime(), uint64(st.ResidentMemory())
}
