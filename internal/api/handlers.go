package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/relay"
)

// Pagination of the list endpoints: ?limit=N&offset=M.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

type publisherJSON struct {
	// ID is the publishing session's id (the stream's id).
	ID uint64 `json:"id"`
	// Kind is "rtmp" (an RTMP publisher) or "edge-pull" (an edge's
	// upstream; Origin is the URL it pulls from).
	Kind   string `json:"kind"`
	Origin string `json:"origin,omitempty"`
	Remote string `json:"remote"`
	// Encoder is onMetaData's encoder when sent, else connect's flashVer.
	Encoder   string    `json:"encoder,omitempty"`
	FlashVer  string    `json:"flash_ver,omitempty"`
	StartedAt time.Time `json:"started_at"`
}

type backupJSON struct {
	Remote  string `json:"remote"`
	Encoder string `json:"encoder,omitempty"`
}

type videoJSON struct {
	Codec   string  `json:"codec"`
	Profile string  `json:"profile,omitempty"`
	Level   string  `json:"level,omitempty"`
	Width   int     `json:"width"`
	Height  int     `json:"height"`
	FPS     float64 `json:"fps"`
	// GOPFrames and KeyframeIntervalMS are the last complete GOP's length
	// in frames and time, as measured; 0 before the second keyframe.
	GOPFrames          int   `json:"gop_frames"`
	KeyframeIntervalMS int64 `json:"keyframe_interval_ms"`
}

type audioJSON struct {
	Codec      string `json:"codec"`
	Profile    string `json:"profile,omitempty"`
	SampleRate int    `json:"sample_rate"`
	Channels   int    `json:"channels"`
}

// streamJSON is one stream. The fields up to Publisher are what the first
// API had (the dashboard reads them); fields are only ever added.
type streamJSON struct {
	App           string        `json:"app"`
	Name          string        `json:"name"`
	ID            uint64        `json:"id"`
	Players       int           `json:"players"`
	BytesIn       uint64        `json:"bytes_in"`
	DroppedFrames uint64        `json:"dropped_frames"`
	UptimeSeconds float64       `json:"uptime_seconds"`
	Publisher     publisherJSON `json:"publisher"`
	// Backup is the hot standby publisher (?role=backup), null if none.
	Backup *backupJSON `json:"backup"`

	// State is "live" once players get media, "starting" before, "grace"
	// while its publisher has dropped (publish.grace).
	State string `json:"state"`
	// GraceEndsAt is when the grace runs out; only in state "grace".
	GraceEndsAt *time.Time `json:"grace_ends_at,omitempty"`
	StartedAt   time.Time  `json:"started_at"`
	BitrateIn   int64      `json:"bitrate_in"` // bits/s over stream.RateWindow
	BytesOut    uint64     `json:"bytes_out"`
	Video       *videoJSON `json:"video"`
	Audio       *audioJSON `json:"audio"`
	// TimestampRepairs counts frames whose timestamps were repaired
	// (steps back, jumps beyond stream.max_ts_jump, wraps).
	TimestampRepairs uint64 `json:"timestamp_repairs"`
	// HLS is the stream's HLS muxer, null when it has none (no HLS
	// request within hls.idle_timeout).
	HLS *HLSInfo `json:"hls"`
	// Pushes are the stream's push relays ([] if none; null only from
	// an API without relays, as in some unit tests).
	Pushes []pushJSON `json:"pushes"`
	// Recording is the file the stream is being recorded to, null when
	// it is not recorded ("" until its first file is open).
	Recording *string `json:"recording"`
}

// pushJSON is one push relay of a stream.
type pushJSON struct {
	ID uint64 `json:"id"`
	// URL is the destination, its stream name (the key) and secret
	// query parameters masked.
	URL string `json:"url"`
	// Source is "config" (relay.push, relay.streams), "hook" (the
	// on_publish hook's answer) or "api" (POST).
	Source string `json:"source"`
	// State is "connecting", "pushing", "backoff" (waiting to retry) or
	// "stopped".
	State      string    `json:"state"`
	Bytes      uint64    `json:"bytes"`
	Reconnects uint64    `json:"reconnects"`
	LastError  string    `json:"last_error"`
	PlayerID   uint64    `json:"player_id"`
	Dropped    uint64    `json:"frames_dropped"`
	StartedAt  time.Time `json:"started_at"`
}

func newPushJSON(s relay.Status) pushJSON {
	return pushJSON{ID: s.ID, URL: s.URL, Source: s.Source, State: s.State, Bytes: s.Bytes, Reconnects: s.Reconnects,
		LastError: s.LastError, PlayerID: s.PlayerID, Dropped: s.Dropped, StartedAt: s.StartedAt}
}

// pushesOf lists key's pushes, an empty list when a.Pushes is set and
// there is none, nil without a.Pushes.
func (a *API) pushesOf(key registry.Key) []pushJSON {
	if a.Pushes == nil {
		return nil
	}
	out := []pushJSON{}
	for _, s := range a.Pushes.Pushes(key) {
		out = append(out, newPushJSON(s))
	}
	return out
}

func newStreamJSON(s registry.StreamInfo, now time.Time) streamJSON {
	out := streamJSON{
		App: s.Key.App, Name: s.Key.Name, ID: s.ID, Players: s.Players,
		BytesIn: s.BytesIn, DroppedFrames: s.Dropped,
		UptimeSeconds: now.Sub(s.Started).Seconds(),
		Publisher: publisherJSON{ID: s.ID, Kind: publisherKind(s.Publisher.Kind), Origin: s.Publisher.Origin,
			Remote: s.Publisher.Remote, Encoder: s.Publisher.Encoder,
			FlashVer: s.Publisher.Encoder, StartedAt: s.Started},
		State: "starting", StartedAt: s.Started,
		BitrateIn: s.Media.BitrateIn, BytesOut: s.BytesOut, TimestampRepairs: s.TimestampRepairs,
	}
	if b := s.Backup; b != nil {
		out.Backup = &backupJSON{Remote: b.Remote, Encoder: b.Encoder}
	}
	if s.Media.Ready {
		out.State = "live"
	}
	if !s.GraceUntil.IsZero() {
		out.State, out.GraceEndsAt = "grace", &s.GraceUntil
	}
	if s.Media.Encoder != "" {
		out.Publisher.Encoder = s.Media.Encoder
	}
	if v := s.Media.Video; v != nil {
		out.Video = &videoJSON{Codec: v.Codec, Profile: v.Profile, Level: v.Level,
			Width: v.Width, Height: v.Height, FPS: math.Round(v.FPS*100) / 100,
			GOPFrames: v.GOPFrames, KeyframeIntervalMS: v.KeyframeInterval}
	}
	if a := s.Media.Audio; a != nil {
		out.Audio = &audioJSON{Codec: a.Codec, Profile: a.Profile, SampleRate: a.SampleRate, Channels: a.Channels}
	}
	return out
}

type playerJSON struct {
	ID       uint64 `json:"id"`
	App      string `json:"app"`
	Stream   string `json:"stream"`
	StreamID uint64 `json:"stream_id"`
	// Protocol is how the player plays: "http-flv" (HTTP-FLV), "rtmp"
	// (RTMP play), "ws-flv" (WebSocket-FLV) or "rtmp-push" (a push
	// relay), as its sink names it (httpflv.Protocol, rtmp.ProtocolRTMP,
	// httpflv.WSProtocol, relay.Protocol).
	Protocol        string    `json:"protocol"`
	Remote          string    `json:"remote"`
	UserAgent       string    `json:"user_agent"`
	StartedAt       time.Time `json:"started_at"`
	DurationSeconds float64   `json:"duration_seconds"`
	BytesSent       uint64    `json:"bytes_sent"`
	// QueueDepth is the tags waiting in the player's queue; QueueBytes
	// their size.
	QueueDepth    int    `json:"queue_depth"`
	QueueBytes    int    `json:"queue_bytes"`
	FramesDropped uint64 `json:"frames_dropped"`
	// TimeToFirstFrameMS is null until the first frame was written.
	TimeToFirstFrameMS *float64 `json:"time_to_first_frame_ms"`
}

func newPlayerJSON(p registry.PlayerStats, now time.Time) playerJSON {
	out := playerJSON{
		ID: p.ID, App: p.Key.App, Stream: p.Key.Name, StreamID: p.StreamID, Protocol: p.Protocol,
		Remote: p.Remote, UserAgent: p.UserAgent, StartedAt: p.Started,
		DurationSeconds: now.Sub(p.Started).Seconds(), BytesSent: p.BytesSent,
		QueueDepth: p.QueueTags, QueueBytes: p.QueueBytes, FramesDropped: p.Dropped,
	}
	if p.TimeToFirstFrame > 0 {
		ms := math.Round(float64(p.TimeToFirstFrame)/float64(time.Microsecond)) / 1000 // µs resolution: the first frame often goes out within 0.1 ms
		out.TimeToFirstFrameMS = &ms
	}
	return out
}

// page is a list endpoint's ?limit and ?offset.
type page struct{ limit, offset int }

// parsePage reads ?limit (1..MaxLimit, default DefaultLimit) and ?offset
// (>= 0, default 0).
func parsePage(r *http.Request) (page, error) {
	p := page{limit: DefaultLimit}
	q := r.URL.Query()
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxLimit {
			return p, fmt.Errorf("limit: must be an integer in [1, %d], got %q", MaxLimit, v)
		}
		p.limit = n
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return p, fmt.Errorf("offset: must be an integer >= 0, got %q", v)
		}
		p.offset = n
	}
	return p, nil
}

// bounds returns the [lo, hi) of a list of n that the page covers.
func (p page) bounds(n int) (lo, hi int) {
	lo = min(p.offset, n)
	return lo, min(lo+p.limit, n)
}

// listJSON is the envelope of every list: the items under their own name,
// then total (before pagination), limit and offset.
func listJSON[T any](name string, items []T, total int, p page) map[string]any {
	return map[string]any{name: items, "total": total, "limit": p.limit, "offset": p.offset}
}

func (a *API) listStreams(w http.ResponseWriter, r *http.Request) {
	p, err := parsePage(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	infos := a.Registry.Streams()
	lo, hi := p.bounds(len(infos))
	out := make([]streamJSON, 0, hi-lo)
	now := time.Now()
	for _, s := range infos[lo:hi] {
		js := a.withRecording(a.withHLS(newStreamJSON(s, now), s.Key))
		js.Pushes = a.pushesOf(s.Key)
		out = append(out, js)
	}
	writeJSON(w, http.StatusOK, listJSON("streams", out, len(infos), p))
}

// streamKey validates the {app} and {stream} path segments, answering 400
// when they cannot name a stream.
func streamKey(w http.ResponseWriter, r *http.Request) (registry.Key, bool) {
	key, err := registry.NewKey(chi.URLParam(r, "app"), chi.URLParam(r, "stream"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return key, false
	}
	return key, true
}

func (a *API) getStream(w http.ResponseWriter, r *http.Request) {
	key, ok := streamKey(w, r)
	if !ok {
		return
	}
	info, err := a.Registry.Stream(key)
	if err != nil {
		writeError(w, http.StatusNotFound, "stream not found")
		return
	}
	js := a.withRecording(a.withHLS(newStreamJSON(info, time.Now()), key))
	js.Pushes = a.pushesOf(key)
	writeJSON(w, http.StatusOK, js)
}

// withHLS fills in the stream's HLS muxer.
func (a *API) withHLS(s streamJSON, key registry.Key) streamJSON {
	if a.HLS != nil {
		if requests, sessions, ended, ok := a.HLS.Muxer(key); ok {
			s.HLS = &HLSInfo{Requests: requests, Sessions: sessions, Ended: ended}
		}
	}
	return s
}

// maxPushBody bounds a POST .../pushes body.
const maxPushBody = 16 << 10

func (a *API) listPushes(w http.ResponseWriter, r *http.Request) {
	key, ok := streamKey(w, r)
	if !ok {
		return
	}
	p, err := parsePage(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if _, err := a.Registry.Stream(key); err != nil {
		writeError(w, http.StatusNotFound, "stream not found")
		return
	}
	all := a.pushesOf(key)
	lo, hi := p.bounds(len(all))
	writeJSON(w, http.StatusOK, listJSON("pushes", all[lo:hi], len(all), p))
}

func (a *API) startPush(w http.ResponseWriter, r *http.Request) {
	key, ok := streamKey(w, r)
	if !ok {
		return
	}
	var body struct {
		URL string `json:"url"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxPushBody))
	if err := dec.Decode(&body); err != nil || body.URL == "" {
		writeError(w, http.StatusBadRequest, `want a JSON body {"url": "rtmp://host/app/stream"}`)
		return
	}
	s, err := a.Pushes.Start(key, body.URL)
	switch {
	case err == nil:
		writeJSON(w, http.StatusCreated, newPushJSON(s))
	case errors.Is(err, registry.ErrNotFound):
		writeError(w, http.StatusNotFound, "stream not found")
	case errors.Is(err, relay.ErrDuplicate), errors.Is(err, relay.ErrLoop):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, relay.ErrClosed), errors.Is(err, registry.ErrTooManyPlayers):
		writeError(w, http.StatusServiceUnavailable, err.Error())
	default:
		writeError(w, http.StatusBadRequest, err.Error())
	}
}

// stopPush stops the push .../pushes/{id}, or .../pushes?url=URL, or
// .../pushes with a JSON body {"url": URL} or {"id": ID}.
func (a *API) stopPush(w http.ResponseWriter, r *http.Request) {
	key, ok := streamKey(w, r)
	if !ok {
		return
	}
	var id uint64
	u := r.URL.Query().Get("url")
	if s := chi.URLParam(r, "id"); s != "" {
		var err error
		if id, err = strconv.ParseUint(s, 10, 64); err != nil || id == 0 {
			writeError(w, http.StatusBadRequest, "push id: must be a positive integer")
			return
		}
	} else if u == "" {
		var body struct {
			URL string `json:"url"`
			ID  uint64 `json:"id"`
		}
		_ = json.NewDecoder(http.MaxBytesReader(w, r.Body, maxPushBody)).Decode(&body)
		if u, id = body.URL, body.ID; u == "" && id == 0 {
			writeError(w, http.StatusBadRequest, `want /pushes/{id}, /pushes?url=URL or a JSON body {"url": URL}`)
			return
		}
	}
	if err := a.Pushes.Stop(key, id, u); err != nil {
		writeError(w, http.StatusNotFound, "push not found")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) kickStream(w http.ResponseWriter, r *http.Request) {
	key, ok := streamKey(w, r)
	if !ok {
		return
	}
	if err := a.Registry.Kick(key); errors.Is(err, registry.ErrNotFound) {
		writeError(w, http.StatusNotFound, "stream not found")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) listStreamPlayers(w http.ResponseWriter, r *http.Request) {
	key, ok := streamKey(w, r)
	if !ok {
		return
	}
	p, err := parsePage(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	players, err := a.Registry.StreamPlayers(key)
	if err != nil {
		writeError(w, http.StatusNotFound, "stream not found")
		return
	}
	a.writePlayers(w, players, p)
}

func (a *API) listPlayers(w http.ResponseWriter, r *http.Request) {
	p, err := parsePage(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	a.writePlayers(w, a.Registry.Players(), p)
}

func (a *API) writePlayers(w http.ResponseWriter, players []registry.PlayerStats, p page) {
	lo, hi := p.bounds(len(players))
	out := make([]playerJSON, 0, hi-lo)
	now := time.Now()
	for _, pl := range players[lo:hi] {
		out = append(out, newPlayerJSON(pl, now))
	}
	writeJSON(w, http.StatusOK, listJSON("players", out, len(players), p))
}

// playerID parses the {id} path segment, answering 400 when it is not one.
func playerID(w http.ResponseWriter, r *http.Request) (uint64, bool) {
	id, err := strconv.ParseUint(chi.URLParam(r, "id"), 10, 64)
	if err != nil || id == 0 {
		writeError(w, http.StatusBadRequest, "player id: must be a positive integer")
		return 0, false
	}
	return id, true
}

func (a *API) getPlayer(w http.ResponseWriter, r *http.Request) {
	id, ok := playerID(w, r)
	if !ok {
		return
	}
	p, err := a.Registry.Player(id)
	if err != nil {
		writeError(w, http.StatusNotFound, "player not found")
		return
	}
	writeJSON(w, http.StatusOK, newPlayerJSON(p, time.Now()))
}

func (a *API) kickPlayer(w http.ResponseWriter, r *http.Request) {
	id, ok := playerID(w, r)
	if !ok {
		return
	}
	if err := a.Registry.KickPlayer(id); errors.Is(err, registry.ErrPlayerNotFound) {
		writeError(w, http.StatusNotFound, "player not found")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type serverJSON struct {
	Version string `json:"version"`
	// ID is this running server's node id (in edge loop detection).
	ID string `json:"id"`
	// Mode is "origin", or "edge" with Origins, pulled in order.
	Mode          string     `json:"mode"`
	Origins       []string   `json:"origins"`
	GoVersion     string     `json:"go_version"`
	StartedAt     time.Time  `json:"started_at"`
	UptimeSeconds float64    `json:"uptime_seconds"`
	Totals        totalsJSON `json:"totals"`
	Limits        Limits     `json:"limits"`
}

type totalsJSON struct {
	Streams       int               `json:"streams"`
	Publishers    int               `json:"publishers"`
	Players       int               `json:"players"`
	BytesIn       uint64            `json:"bytes_in"`
	BytesOut      uint64            `json:"bytes_out"`
	DroppedFrames uint64            `json:"dropped_frames"`
	LimitRefusals map[string]uint64 `json:"limit_refusals"`
}

func (a *API) getServer(w http.ResponseWriter, _ *http.Request) {
	st := a.Registry.Stats()
	out := serverJSON{
		Version: a.Server.Version, GoVersion: runtime.Version(), ID: a.Server.ID, Mode: "origin",
		Origins:   append([]string{}, a.Server.Origins...),
		StartedAt: a.Server.Started, UptimeSeconds: time.Since(a.Server.Started).Seconds(),
		Totals: totalsJSON{Streams: st.Streams, Publishers: st.Publishers, Players: st.Players,
			LimitRefusals: make(map[string]uint64, len(a.Server.Refusals))},
		Limits: a.currentLimits(),
	}
	if t := a.Totals; t != nil {
		out.Totals.BytesIn, out.Totals.BytesOut, out.Totals.DroppedFrames = t.BytesIn.Load(), t.BytesOut.Load(), t.FramesDropped.Load()
	}
	if len(out.Origins) > 0 || a.Server.Edge {
		out.Mode = "edge"
	}
	for l, f := range a.Server.Refusals {
		out.Totals.LimitRefusals[l] = f()
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) getCluster(w http.ResponseWriter, r *http.Request) {
	if a.Cluster == nil {
		writeJSON(w, http.StatusOK, map[string]bool{"enabled": false})
		return
	}
	writeJSON(w, http.StatusOK, a.Cluster(r.Context()))
}

// publisherKind is k, with the RTMP publishers that predate kinds named.
func publisherKind(k string) string {
	if k == "" {
		return registry.KindRTMP
	}
	return k
}
