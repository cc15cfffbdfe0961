package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/internal/auth"
	"github.com/headwater-media/headwater/internal/config"
	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/rtmpclient"
	"github.com/headwater-media/headwater/internal/rtmptest"
	st "github.com/headwater-media/headwater/internal/stream/streamtest"
	"github.com/headwater-media/headwater/pkg/flv"
)

// hookServer is a test HTTP server for hooks: answer decides each call;
// every event received is recorded.
type hookServer struct {
	*httptest.Server
	mu     sync.Mutex
	events []auth.HookEvent
	answer func(ev auth.HookEvent, w http.ResponseWriter)
}

func newHookServer(t *testing.T) *hookServer {
	h := &hookServer{answer: func(auth.HookEvent, http.ResponseWriter) {}}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev auth.HookEvent
		_ = json.NewDecoder(r.Body).Decode(&ev)
		h.mu.Lock()
		h.events = append(h.events, ev)
		answer := h.answer
		h.mu.Unlock()
		answer(ev, w)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) set(answer func(ev auth.HookEvent, w http.ResponseWriter)) {
	h.mu.Lock()
	h.answer = answer
	h.mu.Unlock()
}

// count returns how many events of action were received.
func (h *hookServer) count(action string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, ev := range h.events {
		if ev.Action == action {
			n++
		}
	}
	return n
}

// TestHooksDecide: on_publish and on_play allow on 2xx and deny on
// anything else (403, 500, a timeout, a refused connection, a redirect),
// fail_open lets the unreachable ones through, a 10 MB answer is read no
// further than 64 KiB, and every event carries what the docs list.
func TestHooksDecide(t *testing.T) {
	if testing.Short() {
		t.Skip("integration")
	}
	hs := newHookServer(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	start := func(onPlay string, failOpen bool) *testServer {
		return startServer(t, func(c *config.Config) {
			c.Hooks.OnPublish, c.Hooks.OnPlay, c.Hooks.Timeout, c.Hooks.FailOpen = hs.URL+"/publish", onPlay, 500*time.Millisecond, failOpen
			c.Auth.Backoff = 0
		})
	}
	s := start(hs.URL+"/play", false)

	// on_publish: a 2xx allows.
	key := registry.Key{App: "live", Name: "h"}
	hs.set(func(auth.HookEvent, http.ResponseWriter) {})
	c, err := rtmptest.Dial(s.RTMPAddr().String(), 10*time.Second)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Connect("live"))
	require.NoError(t, c.Publish("h?token=abc"))
	require.Eventually(t, func() bool { _, err := s.Registry().Stream(key); return err == nil }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, c.Send(rtmptest.TypeVideo, 0, st.Payload(st.AVCSeqHeader())))
	require.NoError(t, c.Send(rtmptest.TypeVideo, 0, st.Payload(st.AVCFrame(true, 100))))

	playURL := s.httpURL + "/live/h.flv"
	for _, tc := range []struct {
		name   string
		answer func(auth.HookEvent, http.ResponseWriter)
		status int
	}{
		{"allow", func(auth.HookEvent, http.ResponseWriter) {}, http.StatusOK},
		{"deny", func(_ auth.HookEvent, w http.ResponseWriter) {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"reason":"not a subscriber"}`)
		}, http.StatusForbidden},
		{"500", func(_ auth.HookEvent, w http.ResponseWriter) { w.WriteHeader(http.StatusInternalServerError) }, http.StatusForbidden},
		{"timeout", func(auth.HookEvent, http.ResponseWriter) { time.Sleep(time.Second) }, http.StatusForbidden},
		{"redirect", func(_ auth.HookEvent, w http.ResponseWriter) {
			w.Header().Set("Location", "/elsewhere")
			w.WriteHeader(http.StatusFound)
		}, http.StatusForbidden},
		{"10 MB body", func(_ auth.HookEvent, w http.ResponseWriter) {
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(make([]byte, 10<<20))
		}, http.StatusOK},
	} {
		hs.set(tc.answer)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, playURL+"?sign=x", nil)
		resp, err := httpClient.Do(req)
		require.NoError(t, err, tc.name)
		resp.Body.Close()
		cancel()
		require.Equal(t, tc.status, resp.StatusCode, tc.name)
	}
	// RTMP play: the same hook.
	hs.set(func(_ auth.HookEvent, w http.ResponseWriter) { w.WriteHeader(http.StatusForbidden) })
	_, err = rtmpclient.Play(context.Background(), s.rtmpURL+"/live/h", rtmpclient.Options{Timeout: 5 * time.Second})
	require.ErrorIs(t, err, rtmpclient.ErrPlayFailed)
	hs.set(func(auth.HookEvent, http.ResponseWriter) {})
	p, err := rtmpclient.Play(context.Background(), s.rtmpURL+"/live/h", rtmpclient.Options{Timeout: 5 * time.Second})
	require.NoError(t, err)
	p.Close()

	// The publish's on_publish event (the plays above may have reached
	// the hook server first: the stream is in the registry while its
	// on_publish hook runs).
	hs.mu.Lock()
	var first auth.HookEvent
	for _, ev := range hs.events {
		if ev.Action == auth.OnPublish {
			first = ev
			break
		}
	}
	hs.mu.Unlock()
	require.Equal(t, auth.OnPublish, first.Action)
	require.Equal(t, "live", first.App)
	require.Equal(t, "h", first.Stream)
	require.Equal(t, "token=abc", first.Query, "the hook gets the query (it may check a token)")
	require.Equal(t, "127.0.0.1", first.ClientIP)
	require.Equal(t, "rtmp", first.Protocol)
	require.NotZero(t, first.ClientID)
	require.NotEmpty(t, first.ServerID)

	// on_publish denies: nothing is registered.
	hs.set(func(_ auth.HookEvent, w http.ResponseWriter) { w.WriteHeader(http.StatusForbidden) })
	c2, err := rtmptest.Dial(s.RTMPAddr().String(), 10*time.Second)
	require.NoError(t, err)
	require.NoError(t, c2.Connect("live"))
	require.NoError(t, c2.Publish("other"))
	select {
	case <-c2.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a denied publisher is disconnected")
	}
	c2.Close()
	_, err = s.Registry().Stream(registry.Key{App: "live", Name: "other"})
	require.ErrorIs(t, err, registry.ErrNotFound)

	// Unreachable on_play: denied, or allowed with fail_open.
	for _, failOpen := range []bool{false, true} {
		s2 := start(deadURL, failOpen)
		pub, err := s2.Registry().Publish(key, registry.PublisherInfo{}, nil)
		require.NoError(t, err)
		require.NoError(t, pub.Write(flv.TagVideo, 0, st.AVCSeqHeader()))
		require.NoError(t, pub.Write(flv.TagVideo, 0, st.AVCFrame(true, 100)))
		want := http.StatusForbidden
		if failOpen {
			want = http.StatusOK
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s2.httpURL+"/live/h.flv", nil)
		resp, err := httpClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		cancel()
		require.Equal(t, want, resp.StatusCode, "fail_open %v", failOpen)
		pub.Release()
	}
	c.Close()
}

// TestSlowHookWhileThePublisherLeavesAndPlayersChurn: the SRS bug's
// scenario. on_play takes 2 s; the publisher unpublishes while 50 players
// are in their hooks and more come and go. No crash, nothing leaked, the
// stream is freed only after the last handle (the registry empties,
// goleak in TestMain; -tags deadlock in make test). on_unpublish and
// on_stop are called exactly once per admitted session, kicks and
// shutdown included.
func TestSlowHookWhileThePublisherLeavesAndPlayersChurn(t *testing.T) {
	if testing.Short() {
		t.Skip("integration")
	}
	hs := newHookServer(t)
	hs.set(func(ev auth.HookEvent, w http.ResponseWriter) {
		if ev.Action == auth.OnPlay {
			time.Sleep(2 * time.Second)
		}
	})
	s := startServer(t, func(c *config.Config) {
		c.Hooks.OnPlay, c.Hooks.OnStop, c.Hooks.OnUnpublish = hs.URL, hs.URL, hs.URL
		c.Hooks.Timeout = 5 * time.Second
	})
	key := registry.Key{App: "live", Name: "slow"}
	c, err := rtmptest.Dial(s.RTMPAddr().String(), 10*time.Second)
	require.NoError(t, err)
	require.NoError(t, c.Connect("live"))
	require.NoError(t, c.Publish("slow"))
	require.Eventually(t, func() bool { _, err := s.Registry().Stream(key); return err == nil }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, c.Send(rtmptest.TypeVideo, 0, st.Payload(st.AVCSeqHeader())))
	require.NoError(t, c.Send(rtmptest.TypeVideo, 0, st.Payload(st.AVCFrame(true, 100))))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pctx, pcancel := context.WithTimeout(ctx, time.Duration(500+i*60)*time.Millisecond)
			defer pcancel()
			req, _ := http.NewRequestWithContext(pctx, http.MethodGet, s.httpURL+"/live/slow.flv", nil)
			resp, err := httpClient.Do(req)
			if err != nil {
				return // gave up during its hook
			}
			mu.Lock()
			statuses[resp.StatusCode]++
			mu.Unlock()
			buf := make([]byte, 4096)
			for {
				if _, err := resp.Body.Read(buf); err != nil {
					break
				}
			}
			resp.Body.Close()
		}()
	}
	// While the players are in their hooks: the publisher leaves.
	require.Eventually(t, func() bool { return s.Registry().Stats().Players >= 40 }, 5*time.Second, 5*time.Millisecond)
	c.Close()
	require.Eventually(t, func() bool { _, err := s.Registry().Stream(key); return err != nil }, 5*time.Second, 5*time.Millisecond)
	require.Positive(t, s.Registry().Stats().Alive, "the stream is held by the players in their hooks")
	wg.Wait()
	require.Eventually(t, func() bool { return s.Registry().Stats() == registry.Stats{} }, 10*time.Second, 10*time.Millisecond,
		"freed after the last handle")
	mu.Lock()
	t.Logf("player statuses: %v", statuses)
	mu.Unlock()
	require.Eventually(t, func() bool { return hs.count(auth.OnUnpublish) == 1 }, 10*time.Second, 10*time.Millisecond)
	// on_stop: once for every player that got its 200 (a player that went
	// away during its hook was denied, and gets none), never twice, and
	// only for players that went through on_play.
	mu.Lock()
	admitted := statuses[http.StatusOK]
	mu.Unlock()
	require.Eventually(t, func() bool { return hs.count(auth.OnStop) >= admitted }, 10*time.Second, 10*time.Millisecond)
	hs.mu.Lock()
	played, stopped := map[uint64]bool{}, map[uint64]int{}
	for _, ev := range hs.events {
		switch ev.Action {
		case auth.OnPlay:
			played[ev.ClientID] = true
		case auth.OnStop:
			stopped[ev.ClientID]++
		}
	}
	hs.mu.Unlock()
	for id, n := range stopped {
		require.Equal(t, 1, n, "on_stop of player %d", id)
		require.True(t, played[id], "on_stop of player %d that had no on_play", id)
	}

	// A kick and a shutdown: on_unpublish and on_stop once each.
	hs.set(func(auth.HookEvent, http.ResponseWriter) {})
	pub, err := rtmptest.Dial(s.RTMPAddr().String(), 10*time.Second)
	require.NoError(t, err)
	defer pub.Close()
	require.NoError(t, pub.Connect("live"))
	require.NoError(t, pub.Publish("slow"))
	require.Eventually(t, func() bool { _, err := s.Registry().Stream(key); return err == nil }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, pub.Send(rtmptest.TypeVideo, 0, st.Payload(st.AVCSeqHeader())))
	require.NoError(t, pub.Send(rtmptest.TypeVideo, 0, st.Payload(st.AVCFrame(true, 100))))
	p := play(ctx, s.httpURL+"/live/slow.flv")
	p.waitKey(t, 10*time.Second)
	kickedID := onlyPlayer(t, s)
	code, body := apiDo(t, http.MethodDelete, s.httpURL+"/api/v1/streams/live/slow", "")
	require.Equal(t, http.StatusNoContent, code, body)
	p.result(t, 10*time.Second)
	require.Eventually(t, func() bool { return hs.count(auth.OnUnpublish) == 2 && hs.stops(kickedID) == 1 },
		10*time.Second, 10*time.Millisecond)
	require.True(t, strings.HasPrefix(hs.URL, "http://"))

	// A shutdown: the publisher's and the player's sessions end, and their
	// on_unpublish and on_stop are out before Shutdown returns.
	pub2, err := rtmptest.Dial(s.RTMPAddr().String(), 10*time.Second)
	require.NoError(t, err)
	defer pub2.Close()
	require.NoError(t, pub2.Connect("live"))
	require.NoError(t, pub2.Publish("slow"))
	require.Eventually(t, func() bool { _, err := s.Registry().Stream(key); return err == nil }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, pub2.Send(rtmptest.TypeVideo, 0, st.Payload(st.AVCSeqHeader())))
	require.NoError(t, pub2.Send(rtmptest.TypeVideo, 0, st.Payload(st.AVCFrame(true, 100))))
	p2 := play(ctx, s.httpURL+"/live/slow.flv")
	p2.waitKey(t, 10*time.Second)
	lastID := onlyPlayer(t, s)
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	require.NoError(t, s.Shutdown(sctx))
	scancel()
	require.Equal(t, 3, hs.count(auth.OnUnpublish), "on_unpublish of the session that shutdown ended, once")
	require.Equal(t, 1, hs.stops(lastID), "on_stop of the player that shutdown ended, once")
	require.Equal(t, 1, hs.stops(kickedID))
	hs.mu.Lock()
	seen := map[uint64]int{}
	for _, ev := range hs.events {
		if ev.Action == auth.OnStop {
			seen[ev.ClientID]++
		}
	}
	hs.mu.Unlock()
	for id, n := range seen {
		require.Equal(t, 1, n, "on_stop of player %d", id)
	}
	p2.result(t, 5*time.Second)
}

// stops counts the on_stop events of player id.
func (h *hookServer) stops(id uint64) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, ev := range h.events {
		if ev.Action == auth.OnStop && ev.ClientID == id {
			n++
		}
	}
	return n
}

// onlyPlayer is the id of s's one player.
func onlyPlayer(t *testing.T, s *testServer) uint64 {
	t.Helper()
	var id uint64
	require.Eventually(t, func() bool {
		ps := s.Registry().Players()
		if len(ps) != 1 {
			return false
		}
		id = ps[0].ID
		return true
	}, 5*time.Second, 5*time.Millisecond)
	return id
}
