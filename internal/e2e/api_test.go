package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func getBody(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := httpClient.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func metric(t *testing.T, body, name string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindStringSubmatch(body)
	require.NotNil(t, m, "metric %s missing", name)
	v, err := strconv.ParseFloat(m[1], 64)
	require.NoError(t, err)
	return v
}

// TestAPIAndMetricsReflectALiveStream checks values, not just shapes.
func TestAPIAndMetricsReflectALiveStream(t *testing.T) {
	needFFmpeg(t)
	s := startServer(t, nil)
	code, body := getBody(t, s.httpURL+"/healthz")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ok\n", body)
	code, body = getBody(t, s.httpURL+"/metrics")
	require.Equal(t, http.StatusOK, code)
	require.Zero(t, metric(t, body, "headwater_streams"))
	require.Contains(t, body, "go_goroutines")

	pub := ffmpegPublish(t, s.rtmpURL+"/live/api?token=secret", "320x240")
	s.waitLive(t, "live", "api")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	players := []*player{play(ctx, s.httpURL+"/live/api.flv"), play(ctx, s.httpURL+"/live/api.flv"), play(ctx, s.httpURL+"/live/api.flv")}
	for _, p := range players {
		p.waitKey(t, 20*time.Second)
	}

	code, body = getBody(t, s.httpURL+"/api/v1/streams")
	require.Equal(t, http.StatusOK, code)
	var list struct {
		Streams []struct {
			App       string `json:"app"`
			Name      string `json:"name"`
			Players   int    `json:"players"`
			BytesIn   uint64 `json:"bytes_in"`
			Publisher struct {
				Remote  string `json:"remote"`
				Encoder string `json:"encoder"`
			} `json:"publisher"`
		} `json:"streams"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &list), body)
	require.Len(t, list.Streams, 1)
	st := list.Streams[0]
	require.Equal(t, "live", st.App)
	require.Equal(t, "api", st.Name, "the ?query is not part of the name")
	require.Equal(t, 3, st.Players)
	require.Positive(t, st.BytesIn)
	require.Contains(t, st.Publisher.Remote, "127.0.0.1:")
	require.NotContains(t, body, "secret", "the publish query is not exposed")

	_, body = getBody(t, s.httpURL+"/metrics")
	require.Equal(t, 1.0, metric(t, body, "headwater_streams"))
	require.Equal(t, 1.0, metric(t, body, "headwater_publishers"))
	require.Equal(t, 3.0, metric(t, body, "headwater_players"))
	require.Positive(t, metric(t, body, "headwater_bytes_in_total"))
	require.Positive(t, metric(t, body, "headwater_bytes_out_total"))
	metric(t, body, "headwater_dropped_frames_total")

	pub.kill()
	for _, p := range players {
		require.True(t, isCleanEnd(p.result(t, 15*time.Second).err))
	}
	// The stream left the registry before its players' bodies ended; each
	// player's handle goes when its handler returns, which the client
	// cannot see: poll for it.
	_, body = getBody(t, s.httpURL+"/metrics")
	require.Zero(t, metric(t, body, "headwater_streams"))
	require.Eventually(t, func() bool {
		_, body := getBody(t, s.httpURL+"/metrics")
		return metric(t, body, "headwater_players") == 0
	}, 5*time.Second, 10*time.Millisecond, "the players' handles are released")
}
