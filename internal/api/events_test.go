package api

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/require"
)

// readEvent reads one SSE event's data line from r.
func readEvent(t *testing.T, r *bufio.Reader) Snapshot {
	t.Helper()
	var s Snapshot
	for {
		line, err := r.ReadString('\n')
		require.NoError(t, err)
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			require.NoError(t, json.Unmarshal([]byte(data), &s), data)
			return s
		}
	}
}

func TestEventsStreamSnapshotsWithoutTheToken(t *testing.T) {
	f := newFixture(t, "secret-token-0123456789")
	f.api.Events = &Events{Registry: f.reg, Totals: f.api.Totals, Started: time.Now(), MaxClients: 1,
		Refusals: map[string]func() uint64{"streams": func() uint64 { return 7 }}}
	mux := chi.NewRouter()
	f.api.Routes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/v1/events", nil)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "public, like /metrics")
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	r := bufio.NewReader(resp.Body)
	first := readEvent(t, r)
	require.Equal(t, 2, first.Streams)
	require.Equal(t, map[string]int{"http-flv": 3}, first.Players)
	require.Equal(t, uint64(7), first.Refusals)
	require.Len(t, first.StreamList, 2)
	require.Equal(t, "a", first.StreamList[0].Name)
	require.Positive(t, first.RSSBytes)
	body, _ := json.Marshal(first)
	require.NotContains(t, string(body), "192.0.2.1", "no addresses in the public snapshot")
	second := readEvent(t, r)
	require.InDelta(t, float64(time.Second.Milliseconds()), float64(second.Time-first.Time), 300, "one a second")

	// The cap: a second client gets 503 while the first is connected.
	resp2, err := http.Get(srv.URL + "/api/v1/events")
	require.NoError(t, err)
	resp2.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp2.StatusCode)
	open, refused, _ := f.api.Events.Counts()
	require.Equal(t, int64(1), open)
	require.Equal(t, uint64(1), refused)

	// Close (server shutdown) ends the stream.
	f.api.Events.Close()
	_, err = r.ReadString('\n')
	for err == nil {
		_, err = r.ReadString('\n')
	}
	require.Eventually(t, func() bool { open, _, _ := f.api.Events.Counts(); return open == 0 }, 2*time.Second, 10*time.Millisecond)
	resp3, err := http.Get(srv.URL + "/api/v1/events")
	require.NoError(t, err)
	resp3.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp3.StatusCode, "closed for good")
}
