package hls

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/rs/zerolog"

	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/stream"
)

// muxer is one stream's HLS muxer: a sink that holds a player handle on
// the stream while it remuxes it into segments in memory (gohlslib). It is
// owned by its goroutine (run), started by Server.muxerFor with the handle
// already taken; run releases the handle on every path. When the stream
// ends, the playlists get #EXT-X-ENDLIST and what the players may still
// fetch is kept (frozen) until the idle timeout.
type muxer struct {
	s      *Server
	key    registry.Key
	log    zerolog.Logger
	ctx    context.Context
	cancel context.CancelFunc // ends run: idle, kick, shutdown

	ready chan struct{} // closed once the muxer serves (or is frozen)
	done  chan struct{} // closed when run has returned

	// hls is set before ready is closed, read-only after; nil once frozen
	// serves instead.
	hls atomic.Pointer[gohlslib.Muxer]
	// frozen is set when the stream has ended: every file the players
	// may still ask for, the playlists with #EXT-X-ENDLIST.
	frozen atomic.Pointer[map[string]file]

	lastRequest atomic.Int64 // unix ns: when the last request started or ended
	active      atomic.Int64 // requests being served: a muxer is not idle while one waits in it
	requests    atomic.Uint64
	playerID    uint64

	// clientsMu guards clients: who asked within the idle timeout (API
	// "HLS sessions"). Leaf lock.
	clientsMu sync.Mutex
	clients   map[string]time.Time
}

// file is a frozen response.
type file struct {
	contentType string
	body        []byte
}

// maxClients bounds the clients map.
const maxClients = 100000

func (m *muxer) touch(client string) {
	now := time.Now()
	m.lastRequest.Store(now.UnixNano())
	m.requests.Add(1)
	m.s.requests.Add(1)
	if client == "" {
		return
	}
	m.clientsMu.Lock()
	defer m.clientsMu.Unlock()
	if len(m.clients) >= maxClients {
		m.pruneLocked(now)
		if len(m.clients) >= maxClients {
			return
		}
	}
	m.clients[client] = now
}

func (m *muxer) pruneLocked(now time.Time) {
	for c, at := range m.clients {
		if now.Sub(at) > m.s.Config.IdleTimeout {
			delete(m.clients, c)
		}
	}
}

// sessions counts the clients that asked within the idle timeout.
func (m *muxer) sessions() int {
	m.clientsMu.Lock()
	defer m.clientsMu.Unlock()
	m.pruneLocked(time.Now())
	return len(m.clients)
}

func (m *muxer) ended() bool { return m.frozen.Load() != nil }

// run feeds the stream into gohlslib until the stream ends, the muxer has
// been idle for the idle timeout (unless always_remux), it is kicked, or
// the server shuts down. It owns p.
func (m *muxer) run(p *registry.Player) {
	defer m.s.wg.Done()
	defer close(m.done)
	defer m.s.remove(m)
	defer p.Release()
	defer m.cancel()
	defer func() {
		if h := m.hls.Load(); h != nil {
			h.Close()
		}
		select {
		case <-m.ready:
		default:
			close(m.ready) // nobody waits for a muxer that never started
		}
	}()
	m.watchIdle()

	sub, err := p.Subscribe()
	if err != nil {
		return
	}
	f := &feed{epoch: time.Now()}
	var batch []*stream.Tag
	for {
		batch, err = sub.Next(m.ctx, batch[:0])
		for _, tag := range batch {
			started := m.hls.Load() != nil
			if ferr := m.take(f, tag); ferr != nil {
				m.s.logError(m.log, ferr)
			}
			if !started && m.hls.Load() != nil {
				p.FirstFrame() // the muxer's time to first frame
			}
		}
		clear(batch)
		if cap(batch) > stream.KeepQueueCap {
			batch = nil
		}
		if err == nil {
			continue
		}
		if errors.Is(err, stream.ErrEnded) && m.hls.Load() != nil {
			// The publisher left: #EXT-X-ENDLIST, the handle goes now,
			// what the players may still fetch stays until they are gone.
			m.freeze()
			p.Release()
			<-m.ctx.Done()
		}
		return
	}
}

// take passes one tag to the feed, starting (or restarting, on a codec
// change) the gohlslib muxer when the tracks are known.
func (m *muxer) take(f *feed, tag *stream.Tag) error {
	if tag.Header {
		restart, err := f.header(tag)
		if err != nil || !restart {
			return err
		}
		// A new codec mid-stream: gohlslib keeps its tracks for life, so
		// this muxer's players reload; rare (a backup of another codec).
		m.log.Warn().Msg("codec changed: HLS muxer restarts")
		m.cancel()
		return nil
	}
	h := m.hls.Load()
	if h == nil {
		if !f.ready(tag) {
			return nil
		}
		var err error
		if h, err = m.start(f); err != nil {
			m.cancel()
			return err
		}
	}
	return f.write(h, tag)
}

// start starts gohlslib with the feed's tracks and opens the muxer to
// requests.
func (m *muxer) start(f *feed) (*gohlslib.Muxer, error) {
	c := m.s.Config
	h := &gohlslib.Muxer{
		Tracks:             f.tracks(),
		Variant:            c.variant(),
		SegmentCount:       c.SegmentCount,
		SegmentMinDuration: c.SegmentDuration,
		PartMinDuration:    c.PartDuration,
		OnEncodeError:      func(err error) { m.s.logError(m.log, err) },
	}
	if err := h.Start(); err != nil {
		return nil, err
	}
	f.started = true
	m.hls.Store(h)
	close(m.ready)
	m.log.Debug().Int("tracks", len(h.Tracks)).Msg("hls muxer started")
	return h, nil
}

// watchIdle cancels the muxer once no request has come for the idle
// timeout (none in flight), unless the server remuxes every stream
// (always_remux) and the stream is still live. Its goroutine is the
// muxer's: it returns when the muxer's context is done.
func (m *muxer) watchIdle() {
	timeout := m.s.Config.IdleTimeout
	m.s.wg.Add(1)
	go func() {
		defer m.s.wg.Done()
		t := time.NewTimer(timeout)
		defer t.Stop()
		for {
			select {
			case <-m.ctx.Done():
				return
			case <-t.C:
			}
			since := time.Since(time.Unix(0, m.lastRequest.Load()))
			if since >= timeout && m.active.Load() == 0 && (!m.s.Config.AlwaysRemux || m.ended()) {
				m.log.Debug().Dur("idle", since).Msg("hls muxer idle: released")
				m.cancel()
				return
			}
			t.Reset(max(timeout-since, 100*time.Millisecond))
		}
	}()
}

// begin counts a request in; end, which it returns, counts it out.
func (m *muxer) begin() (end func()) {
	m.active.Add(1)
	return func() {
		m.lastRequest.Store(time.Now().UnixNano())
		m.active.Add(-1)
	}
}

// serve answers one request for file of the muxer.
func (m *muxer) serve(w http.ResponseWriter, r *http.Request, name string) {
	if fz := m.frozen.Load(); fz != nil {
		f, ok := (*fz)[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", f.contentType)
		setCacheControl(w.Header(), name, true)
		_, _ = w.Write(f.body)
		return
	}
	h := m.hls.Load()
	if h == nil {
		http.NotFound(w, r)
		return
	}
	setCacheControl(w.Header(), name, false)
	h.Handle(w, r)
}

// setCacheControl: playlists change (a player must reload them), segments,
// parts and init files never do (their names are unique per muxer); an
// ended stream's playlists do not change either.
func setCacheControl(hd http.Header, name string, ended bool) {
	switch {
	case strings.HasSuffix(name, ".m3u8") && !ended:
		hd.Set("Cache-Control", "no-cache")
	case strings.HasSuffix(name, ".m3u8"):
		hd.Set("Cache-Control", "max-age=1")
	default:
		hd.Set("Cache-Control", "max-age=3600, immutable")
	}
}

// snapshotTimeout bounds one request to gohlslib while freezing: a
// playlist with no segment yet would wait for one forever.
const snapshotTimeout = 200 * time.Millisecond

// freeze keeps what the players may still ask for, the playlists ending
// in #EXT-X-ENDLIST, and closes gohlslib. A stream that ended before its
// first segment freezes empty (404s).
func (m *muxer) freeze() {
	h := m.hls.Load()
	out := map[string]file{}
	get := func(name string) (file, bool) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/"+m.key.App+"/"+m.key.Name+"/"+name, nil)
		done := make(chan struct{})
		go func() { defer close(done); h.Handle(rec, req) }()
		select {
		case <-done:
		case <-time.After(snapshotTimeout):
			return file{}, false // no content: Close below ends the wait
		}
		if rec.Code != http.StatusOK {
			return file{}, false
		}
		return file{contentType: rec.Header().Get("Content-Type"), body: rec.Body.Bytes()}, true
	}
	defer func() {
		// frozen first, then gohlslib goes: serve never finds neither.
		h.Close()
		m.hls.Store(nil)
	}()
	index, ok := get("index.m3u8")
	if !ok {
		m.frozen.Store(&out)
		return
	}
	out["index.m3u8"] = index
	for _, media := range playlistURIs(index.body) {
		pl, ok := get(media)
		if !ok {
			continue
		}
		var body strings.Builder
		sc := bufio.NewScanner(strings.NewReader(string(pl.body)))
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "#EXT-X-PRELOAD-HINT") {
				continue // announces a part that will not come
			}
			body.WriteString(line)
			body.WriteByte('\n')
		}
		body.WriteString("#EXT-X-ENDLIST\n")
		out[media] = file{contentType: pl.contentType, body: []byte(body.String())}
		for _, u := range playlistURIs(pl.body) {
			if _, seen := out[u]; seen || strings.HasSuffix(u, ".m3u8") {
				continue
			}
			if f, ok := get(u); ok {
				out[u] = f
			}
		}
	}
	m.frozen.Store(&out)
	m.log.Debug().Int("files", len(out)).Msg("hls muxer frozen: stream ended")
}

// playlistURIs returns the base names of the URIs a playlist refers to:
// its URI lines and URI="..." attributes (EXT-X-MAP, EXT-X-PART,
// EXT-X-MEDIA), queries dropped.
func playlistURIs(pl []byte) []string {
	var out []string
	add := func(u string) {
		if i := strings.IndexByte(u, '?'); i >= 0 {
			u = u[:i]
		}
		if b := path.Base(u); u != "" && b != "/" && b != "." && b != ".." {
			out = append(out, b)
		}
	}
	sc := bufio.NewScanner(strings.NewReader(string(pl)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
		case !strings.HasPrefix(line, "#"):
			add(line)
		case strings.HasPrefix(line, "#EXT-X-PRELOAD-HINT"):
		default:
			if i := strings.Index(line, `URI="`); i >= 0 {
				rest := line[i+5:]
				if j := strings.IndexByte(rest, '"'); j >= 0 {
					add(rest[:j])
				}
			}
		}
	}
	return out
}
