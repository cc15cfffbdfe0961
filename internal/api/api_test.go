package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/stream"
	st "github.com/headwater-media/headwater/internal/stream/streamtest"
	"github.com/headwater-media/headwater/pkg/flv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testToken = "0123456789abcdef-token"

// fixture is an API over a registry with streams live/a (two players) and
// live/b (one), and the handles to end them.
type fixture struct {
	reg     *registry.Registry
	hist    *Histograms
	api     *API
	router  chi.Router
	pubs    []*registry.Publisher
	players []*registry.Player
	kicks   atomic.Int32 // publisher kicks
}

func newFixture(t *testing.T, token string) *fixture {
	t.Helper()
	f := &fixture{hist: NewHistograms()}
	totals := &stream.Totals{}
	cfg := stream.DefaultConfig()
	cfg.Totals = totals
	f.reg = registry.New(cfg, registry.WithObserver(f.hist))
	f.api = &API{
		Registry: f.reg, Totals: totals, Token: token,
		Metrics: NewMetrics(f.reg, totals, f.hist),
		Server: ServerInfo{Version: "v1.2.3", Started: time.Now().Add(-time.Minute),
			Limits:   Limits{MaxStreams: 10, HTTPMaxConns: 100, RTMPMaxConns: 50},
			Refusals: map[string]func() uint64{"streams": func() uint64 { return 7 }}},
	}
	f.router = chi.NewRouter()
	f.api.Routes(f.router)
	for _, name := range []string{"a", "b"} {
		pub, err := f.reg.Publish(registry.Key{App: "live", Name: name},
			registry.PublisherInfo{Remote: "192.0.2.1:1935", Encoder: "FMLE/3.0"}, func() { f.kicks.Add(1) })
		require.NoError(t, err)
		require.NoError(t, pub.Write(flv.TagVideo, 0, st.AVCSeqHeader()))
		require.NoError(t, pub.Write(flv.TagAudio, 0, st.AACSeqHeader()))
		require.NoError(t, pub.Write(flv.TagVideo, 0, st.AVCFrame(true, 1000)))
		f.pubs = append(f.pubs, pub)
	}
	for i, name := range []string{"a", "a", "b"} {
		p, err := f.reg.PlayWith(registry.Key{App: "live", Name: name},
			registry.PlayerInfo{Remote: fmt.Sprintf("198.51.100.%d:4000", i), UserAgent: fmt.Sprintf("agent-%d", i), Protocol: "http-flv"}, nil)
		require.NoError(t, err)
		_, err = p.Subscribe()
		require.NoError(t, err)
		p.AddSent(int64(100 * (i + 1)))
		f.players = append(f.players, p)
	}
	t.Cleanup(f.release)
	return f
}

func (f *fixture) release() {
	for _, p := range f.players {
		p.Release()
	}
	for _, p := range f.pubs {
		p.Release()
	}
}

// do serves one request and returns the status, the body and the headers.
func (f *fixture) do(t *testing.T, method, target, token string) (int, string, http.Header) {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	f.router.ServeHTTP(w, req)
	b, err := io.ReadAll(w.Result().Body)
	require.NoError(t, err)
	return w.Code, string(b), w.Header()
}

// getJSON does a GET that must answer want, and decodes the body into v.
func (f *fixture) getJSON(t *testing.T, target string, want int, v any) {
	t.Helper()
	code, body, h := f.do(t, http.MethodGet, target, f.api.Token)
	require.Equal(t, want, code, body)
	require.Equal(t, "application/json", h.Get("Content-Type"))
	require.NoError(t, json.Unmarshal([]byte(body), v), body)
}

// requireError checks a JSON error answer.
func requireError(t *testing.T, code int, body string, want int) {
	t.Helper()
	require.Equal(t, want, code, body)
	var e map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &e), body)
	require.Len(t, e, 1, body)
	msg, ok := e["error"].(string)
	require.True(t, ok, body)
	require.NotEmpty(t, msg)
}

func TestToken(t *testing.T) {
	f := newFixture(t, testToken)
	for _, tc := range []struct {
		name, method, path, auth string
		want                     int
	}{
		{"no token", "GET", "/api/v1/streams", "", 401},
		{"wrong token", "GET", "/api/v1/streams", "Bearer nope", 401},
		{"token as basic", "GET", "/api/v1/server", "Basic " + testToken, 401},
		{"prefix of the token", "GET", "/api/v1/streams", "Bearer " + testToken[:16], 401},
		{"unknown path", "GET", "/api/v1/nope", "", 401},
		{"delete without token", "DELETE", "/api/v1/streams/live/a", "", 401},
		{"kick player without token", "DELETE", fmt.Sprintf("/api/v1/players/%d", f.players[0].ID()), "", 401},
		{"token", "GET", "/api/v1/streams", "Bearer " + testToken, 200},
		{"scheme in lower case", "GET", "/api/v1/players", "bearer " + testToken, 200},
		{"unknown path with token", "GET", "/api/v1/nope", "Bearer " + testToken, 404},
		{"healthz is open", "GET", "/healthz", "", 200},
		{"metrics are open", "GET", "/metrics", "", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			w := httptest.NewRecorder()
			f.router.ServeHTTP(w, req)
			require.Equal(t, tc.want, w.Code, w.Body.String())
			if tc.want == 401 {
				requireError(t, w.Code, w.Body.String(), 401)
				require.Equal(t, `Bearer realm="headwater"`, w.Header().Get("WWW-Authenticate"))
			}
		})
	}
	require.Zero(t, f.kicks.Load(), "nothing was kicked without the token")
}

func TestNoTokenMeansOpen(t *testing.T) {
	f := newFixture(t, "")
	code, _, _ := f.do(t, "GET", "/api/v1/server", "")
	require.Equal(t, 200, code)
}

type listJSONOf[T any] struct {
	Streams []T `json:"streams"`
	Players []T `json:"players"`
	Total   int `json:"total"`
	Limit   int `json:"limit"`
	Offset  int `json:"offset"`
}

func TestListStreams(t *testing.T) {
	f := newFixture(t, "")
	// The fields of the first API, which the dashboard reads, keep their
	// names and types.
	var raw listJSONOf[map[string]any]
	f.getJSON(t, "/api/v1/streams", 200, &raw)
	require.Equal(t, 2, raw.Total)
	require.Equal(t, DefaultLimit, raw.Limit)
	require.Zero(t, raw.Offset)
	require.Len(t, raw.Streams, 2)
	a := raw.Streams[0]
	for k, want := range map[string]any{"app": "live", "name": "a", "players": 2.0, "state": "live"} {
		require.Equal(t, want, a[k], k)
	}
	for _, k := range []string{"id", "bytes_in", "dropped_frames", "uptime_seconds", "bitrate_in", "bytes_out", "started_at"} {
		require.Contains(t, a, k)
	}
	pub := a["publisher"].(map[string]any)
	require.Equal(t, "192.0.2.1:1935", pub["remote"])
	require.Equal(t, "FMLE/3.0", pub["encoder"])
	require.Equal(t, a["id"], pub["id"])
	require.Contains(t, pub, "started_at")
	require.Equal(t, map[string]any{"codec": "h264", "profile": "High", "level": "3.1", "width": 0.0, "height": 0.0, "fps": 0.0, "gop_frames": 0.0, "keyframe_interval_ms": 0.0}, a["video"],
		"streamtest's minimal record has no SPS: no size")
	require.Equal(t, map[string]any{"codec": "aac", "profile": "LC", "sample_rate": 44100.0, "channels": 2.0}, a["audio"])
	require.Equal(t, 300.0, a["bytes_out"], "the two players' bytes")

	for _, tc := range []struct {
		query string
		names []string
	}{
		{"?limit=1", []string{"a"}},
		{"?limit=1&offset=1", []string{"b"}},
		{"?offset=2", nil},
		{"?offset=1000", nil},
		{"?limit=1000", []string{"a", "b"}},
	} {
		var l listJSONOf[streamJSON]
		f.getJSON(t, "/api/v1/streams"+tc.query, 200, &l)
		require.Equal(t, 2, l.Total, tc.query)
		var names []string
		for _, s := range l.Streams {
			names = append(names, s.Name)
		}
		require.Equal(t, tc.names, names, tc.query)
		require.NotNil(t, l.Streams, "an empty page is [], not null")
	}
	for _, q := range []string{"?limit=0", "?limit=1001", "?limit=x", "?offset=-1", "?offset=1.5"} {
		code, body, _ := f.do(t, "GET", "/api/v1/streams"+q, "")
		requireError(t, code, body, 400)
	}
}

func TestGetStream(t *testing.T) {
	f := newFixture(t, "")
	var s streamJSON
	f.getJSON(t, "/api/v1/streams/live/b", 200, &s)
	require.Equal(t, "b", s.Name)
	require.Equal(t, 1, s.Players)
	require.Equal(t, f.pubs[1].ID(), s.ID)
	require.Equal(t, "h264", s.Video.Codec)
	require.Equal(t, 44100, s.Audio.SampleRate)
	require.Positive(t, s.BitrateIn)
	require.Equal(t, uint64(300), s.BytesOut)

	code, body, _ := f.do(t, "GET", "/api/v1/streams/live/none", "")
	requireError(t, code, body, 404)
	code, body, _ = f.do(t, "GET", "/api/v1/streams/live/bad!name", "")
	requireError(t, code, body, 400)
	code, body, _ = f.do(t, "POST", "/api/v1/streams/live/b", "")
	requireError(t, code, body, 405)
}

func TestDeleteStream(t *testing.T) {
	f := newFixture(t, "")
	code, body, _ := f.do(t, "DELETE", "/api/v1/streams/live/a", "")
	require.Equal(t, 204, code, body)
	require.Empty(t, body)
	require.Equal(t, int32(1), f.kicks.Load())
	code, body, _ = f.do(t, "DELETE", "/api/v1/streams/live/none", "")
	requireError(t, code, body, 404)
	code, body, _ = f.do(t, "DELETE", "/api/v1/streams/live/..", "")
	requireError(t, code, body, 400)
}

func TestPlayers(t *testing.T) {
	f := newFixture(t, "")
	var all listJSONOf[playerJSON]
	f.getJSON(t, "/api/v1/players", 200, &all)
	require.Equal(t, 3, all.Total)
	require.Len(t, all.Players, 3)
	p := all.Players[0]
	require.Equal(t, f.players[0].ID(), p.ID)
	require.Equal(t, "live", p.App)
	require.Equal(t, "a", p.Stream)
	require.Equal(t, f.pubs[0].ID(), p.StreamID)
	require.Equal(t, "198.51.100.0:4000", p.Remote)
	require.Equal(t, "agent-0", p.UserAgent)
	require.Equal(t, uint64(100), p.BytesSent)
	require.Equal(t, 3, p.QueueDepth, "the join batch waits: two headers and a keyframe")
	require.Positive(t, p.QueueBytes)
	require.Nil(t, p.TimeToFirstFrameMS)
	require.False(t, p.StartedAt.IsZero())

	var page listJSONOf[playerJSON]
	f.getJSON(t, "/api/v1/players?limit=2&offset=1", 200, &page)
	require.Equal(t, 3, page.Total)
	require.Equal(t, []uint64{f.players[1].ID(), f.players[2].ID()}, []uint64{page.Players[0].ID, page.Players[1].ID})

	var ofB listJSONOf[playerJSON]
	f.getJSON(t, "/api/v1/streams/live/b/players", 200, &ofB)
	require.Equal(t, 1, ofB.Total)
	require.Equal(t, "agent-2", ofB.Players[0].UserAgent)
	code, body, _ := f.do(t, "GET", "/api/v1/streams/live/none/players", "")
	requireError(t, code, body, 404)
	code, body, _ = f.do(t, "GET", "/api/v1/streams/live/b/players?limit=-3", "")
	requireError(t, code, body, 400)

	f.players[2].FirstFrame()
	var one playerJSON
	f.getJSON(t, fmt.Sprintf("/api/v1/players/%d", f.players[2].ID()), 200, &one)
	require.Equal(t, "agent-2", one.UserAgent)
	require.NotNil(t, one.TimeToFirstFrameMS)
	code, body, _ = f.do(t, "GET", "/api/v1/players/999999", "")
	requireError(t, code, body, 404)
	code, body, _ = f.do(t, "GET", "/api/v1/players/abc", "")
	requireError(t, code, body, 400)
}

func TestDeletePlayer(t *testing.T) {
	f := newFixture(t, "")
	target := f.players[1]
	sub, err := target.Subscribe()
	require.NoError(t, err)
	code, body, _ := f.do(t, "DELETE", fmt.Sprintf("/api/v1/players/%d", target.ID()), "")
	require.Equal(t, 204, code, body)
	require.True(t, closed(sub), "the kicked player's subscription is closed")
	for _, p := range []*registry.Player{f.players[0], f.players[2]} {
		s, err := p.Subscribe()
		require.NoError(t, err)
		require.False(t, closed(s), "player %d is untouched", p.ID())
	}
	code, body, _ = f.do(t, "DELETE", "/api/v1/players/999999", "")
	requireError(t, code, body, 404)
	code, body, _ = f.do(t, "DELETE", "/api/v1/players/0", "")
	requireError(t, code, body, 400)
	code, body, _ = f.do(t, "DELETE", "/api/v1/players", "")
	requireError(t, code, body, 405)
}

// closed reports whether Next on sub fails with ErrClosed (without waiting).
func closed(sub *stream.Subscriber) bool {
	ctx, cancel := contextDone()
	defer cancel()
	for {
		tags, err := sub.Next(ctx, nil)
		if err != nil || len(tags) == 0 {
			return errors.Is(err, stream.ErrClosed)
		}
	}
}

func TestServer(t *testing.T) {
	f := newFixture(t, "")
	var s struct {
		Version       string  `json:"version"`
		GoVersion     string  `json:"go_version"`
		UptimeSeconds float64 `json:"uptime_seconds"`
		Totals        struct {
			Streams       int               `json:"streams"`
			Publishers    int               `json:"publishers"`
			Players       int               `json:"players"`
			BytesIn       uint64            `json:"bytes_in"`
			LimitRefusals map[string]uint64 `json:"limit_refusals"`
		} `json:"totals"`
		Limits Limits `json:"limits"`
	}
	f.getJSON(t, "/api/v1/server", 200, &s)
	require.Equal(t, "v1.2.3", s.Version)
	require.True(t, strings.HasPrefix(s.GoVersion, "go"))
	require.GreaterOrEqual(t, s.UptimeSeconds, 60.0)
	require.Equal(t, 2, s.Totals.Streams)
	require.Equal(t, 2, s.Totals.Publishers)
	require.Equal(t, 3, s.Totals.Players)
	require.Positive(t, s.Totals.BytesIn)
	require.Equal(t, map[string]uint64{"streams": 7}, s.Totals.LimitRefusals)
	require.Equal(t, Limits{MaxStreams: 10, HTTPMaxConns: 100, RTMPMaxConns: 50}, s.Limits)
}

// TestSetTokenAndLimits: SetToken and SetLimits (SIGHUP) apply from the
// next request, on routes mounted before.
func TestSetTokenAndLimits(t *testing.T) {
	f := newFixture(t, "")
	code, _, _ := f.do(t, "GET", "/api/v1/streams", "")
	require.Equal(t, 200, code)

	f.api.SetToken(testToken)
	code, _, _ = f.do(t, "GET", "/api/v1/streams", "")
	require.Equal(t, 401, code)
	code, _, _ = f.do(t, "GET", "/api/v1/streams", testToken)
	require.Equal(t, 200, code)

	f.api.SetLimits(Limits{MaxStreams: 3, MaxPlayersPerStream: 1, HTTPMaxConns: 100, RTMPMaxConns: 50})
	var srv struct {
		Limits Limits `json:"limits"`
	}
	code, body, _ := f.do(t, "GET", "/api/v1/server", testToken)
	require.Equal(t, 200, code)
	require.NoError(t, json.Unmarshal([]byte(body), &srv), body)
	require.Equal(t, Limits{MaxStreams: 3, MaxPlayersPerStream: 1, HTTPMaxConns: 100, RTMPMaxConns: 50}, srv.Limits)

	f.api.SetToken("")
	code, _, _ = f.do(t, "GET", "/api/v1/streams", "")
	require.Equal(t, 200, code, "an empty token opens the API again")
}
