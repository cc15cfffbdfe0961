package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/internal/config"
)

const e2eToken = "e2e-token-0123456789"

// apiDo sends one API request with the test token and returns the status
// and body.
func apiDo(t *testing.T, method, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// apiGet GETs url with the token, requires 200 and decodes the JSON body.
func apiGet(t *testing.T, url string, v any) {
	t.Helper()
	code, body := apiDo(t, http.MethodGet, url, e2eToken)
	require.Equal(t, http.StatusOK, code, body)
	require.NoError(t, json.Unmarshal([]byte(body), v), body)
}

// uaPlayer is an HTTP-FLV client with its own User-Agent that counts the
// bytes it reads until the body ends or its context is done.
type uaPlayer struct {
	ua    string
	bytes atomic.Int64
	done  chan struct{}
	err   error
}

func playAs(ctx context.Context, url, ua string) *uaPlayer {
	p := &uaPlayer{ua: ua, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			p.err = err
			return
		}
		req.Header.Set("User-Agent", ua)
		resp, err := httpClient.Do(req)
		if err != nil {
			p.err = err
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			p.err = fmt.Errorf("status %d", resp.StatusCode)
			return
		}
		buf := make([]byte, 64<<10)
		for {
			n, err := resp.Body.Read(buf)
			p.bytes.Add(int64(n))
			if err != nil {
				p.err = err
				return
			}
		}
	}()
	return p
}

func (p *uaPlayer) ended() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

type apiStream struct {
	App       string  `json:"app"`
	Name      string  `json:"name"`
	ID        uint64  `json:"id"`
	State     string  `json:"state"`
	Players   int     `json:"players"`
	BytesIn   uint64  `json:"bytes_in"`
	BytesOut  uint64  `json:"bytes_out"`
	BitrateIn float64 `json:"bitrate_in"`
	Publisher struct {
		ID      uint64 `json:"id"`
		Remote  string `json:"remote"`
		Encoder string `json:"encoder"`
	} `json:"publisher"`
	Video *struct {
		Codec   string  `json:"codec"`
		Profile string  `json:"profile"`
		Width   int     `json:"width"`
		Height  int     `json:"height"`
		FPS     float64 `json:"fps"`
	} `json:"video"`
	Audio *struct {
		Codec      string `json:"codec"`
		Profile    string `json:"profile"`
		SampleRate int    `json:"sample_rate"`
		Channels   int    `json:"channels"`
	} `json:"audio"`
}

type apiPlayer struct {
	ID         uint64   `json:"id"`
	App        string   `json:"app"`
	Stream     string   `json:"stream"`
	Remote     string   `json:"remote"`
	UserAgent  string   `json:"user_agent"`
	BytesSent  uint64   `json:"bytes_sent"`
	QueueDepth int      `json:"queue_depth"`
	TTFFMS     *float64 `json:"time_to_first_frame_ms"`
}

type apiPlayers struct {
	Players []apiPlayer `json:"players"`
	Total   int         `json:"total"`
}

// labelled is the regexp-quoted name of one per-stream series, for metric.
func labelled(name, app, stream string) string {
	return regexp.QuoteMeta(fmt.Sprintf(`%s{app=%q,stream=%q}`, name, app, stream))
}

// TestAPIStreamDetailsPlayersAndMetricsOfALiveStream checks the values the
// API and the per-stream metrics report against what ffmpeg sends and how
// many players are connected, with api.token set.
func TestAPIStreamDetailsPlayersAndMetricsOfALiveStream(t *testing.T) {
	needFFmpeg(t)
	s := startServer(t, func(c *config.Config) { c.API.Token = e2eToken })
	api := s.httpURL + "/api/v1"

	code, body := apiDo(t, http.MethodGet, api+"/streams", "")
	require.Equal(t, http.StatusUnauthorized, code, body)
	require.JSONEq(t, `{"error":"missing or invalid bearer token"}`, body)
	code, _ = apiDo(t, http.MethodGet, s.httpURL+"/metrics", "")
	require.Equal(t, http.StatusOK, code, "metrics are not behind the API token")

	// 640x360 at 25 fps (the helper's rate), AAC at 48 kHz stereo: the
	// legacy audio flags say 44.1 kHz for any AAC, so only the
	// AudioSpecificConfig has the rate.
	pub := ffmpegPublish(t, s.rtmpURL+"/live/details", "640x360", "-ar", "48000", "-ac", "2")
	s.waitLive(t, "live", "details")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url := s.httpURL + "/live/details.flv"
	players := []*uaPlayer{playAs(ctx, url, "e2e-player/0"), playAs(ctx, url, "e2e-player/1"), playAs(ctx, url, "e2e-player/2")}
	for _, p := range players {
		require.Eventually(t, func() bool { return p.bytes.Load() > 1000 || p.ended() }, 20*time.Second, 10*time.Millisecond)
		require.False(t, p.ended(), "player %s ended: %v", p.ua, p.err)
	}

	// The stream: sizes and codecs from the sequence headers, frame rate
	// from the timestamps (poll until 32 frames were measured).
	var st apiStream
	require.Eventually(t, func() bool {
		apiGet(t, api+"/streams/live/details", &st)
		return st.Video != nil && st.Video.FPS > 24.5 && st.Video.FPS < 25.5
	}, 10*time.Second, 50*time.Millisecond, "fps: %+v", st.Video)
	require.Equal(t, "live", st.App)
	require.Equal(t, "details", st.Name)
	require.Equal(t, "live", st.State)
	require.Equal(t, 3, st.Players)
	require.Equal(t, "h264", st.Video.Codec)
	require.Equal(t, 640, st.Video.Width)
	require.Equal(t, 360, st.Video.Height)
	require.NotEmpty(t, st.Video.Profile)
	require.NotNil(t, st.Audio)
	require.Equal(t, "aac", st.Audio.Codec)
	require.Equal(t, "LC", st.Audio.Profile)
	require.Equal(t, 48000, st.Audio.SampleRate)
	require.Equal(t, 2, st.Audio.Channels)
	require.Positive(t, st.BitrateIn)
	require.Positive(t, st.BytesIn)
	require.Equal(t, st.ID, st.Publisher.ID)
	require.Contains(t, st.Publisher.Remote, "127.0.0.1:")
	require.True(t, strings.HasPrefix(st.Publisher.Encoder, "Lavf"), "onMetaData's encoder: %q", st.Publisher.Encoder)

	// The players: one per client, with its User-Agent and bytes sent.
	var pl apiPlayers
	require.Eventually(t, func() bool {
		apiGet(t, api+"/players", &pl)
		if pl.Total != 3 || len(pl.Players) != 3 {
			return false
		}
		for _, p := range pl.Players {
			if p.BytesSent == 0 || p.TTFFMS == nil {
				return false
			}
		}
		return true
	}, 10*time.Second, 20*time.Millisecond, "players: %+v", pl)
	agents := map[string]uint64{}
	for _, p := range pl.Players {
		require.Equal(t, "live", p.App)
		require.Equal(t, "details", p.Stream)
		require.Contains(t, p.Remote, "127.0.0.1:")
		require.Positive(t, *p.TTFFMS)
		agents[p.UserAgent] = p.ID
	}
	require.Len(t, agents, 3)
	for _, p := range players {
		require.Contains(t, agents, p.ua)
	}
	var ofStream apiPlayers
	apiGet(t, api+"/streams/live/details/players", &ofStream)
	require.Equal(t, 3, ofStream.Total)

	// Metrics: the stream's series and one time to first frame per player.
	_, body = getBody(t, s.httpURL+"/metrics")
	require.Equal(t, 3.0, metric(t, body, labelled("headwater_stream_players", "live", "details")))
	require.Positive(t, metric(t, body, labelled("headwater_stream_bitrate_in_bits_per_second", "live", "details")))
	require.Positive(t, metric(t, body, labelled("headwater_stream_bytes_in_total", "live", "details")))
	require.Positive(t, metric(t, body, labelled("headwater_stream_bytes_out_total", "live", "details")))
	metric(t, body, labelled("headwater_stream_dropped_frames_total", "live", "details"))
	require.Equal(t, 3.0, metric(t, body, "headwater_player_time_to_first_frame_seconds_count"))
	require.Zero(t, metric(t, body, "headwater_publisher_session_duration_seconds_count"))

	// Kick one player: exactly that one ends, the others go on.
	kicked := players[1]
	code, _ = apiDo(t, http.MethodDelete, fmt.Sprintf("%s/players/%d", api, agents[kicked.ua]), "")
	require.Equal(t, http.StatusUnauthorized, code, "no kick without the token")
	code, body = apiDo(t, http.MethodDelete, fmt.Sprintf("%s/players/%d", api, agents[kicked.ua]), e2eToken)
	require.Equal(t, http.StatusNoContent, code, body)
	select {
	case <-kicked.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the kicked player's response did not end")
	}
	code, body = apiDo(t, http.MethodDelete, fmt.Sprintf("%s/players/%d", api, agents[kicked.ua]), e2eToken)
	require.Equal(t, http.StatusNotFound, code, body)
	require.JSONEq(t, `{"error":"player not found"}`, body)
	for _, p := range []*uaPlayer{players[0], players[2]} {
		before := p.bytes.Load()
		require.Eventually(t, func() bool { return p.bytes.Load() > before }, 10*time.Second, 10*time.Millisecond,
			"player %s no longer gets data", p.ua)
		require.False(t, p.ended())
	}
	require.Eventually(t, func() bool {
		apiGet(t, api+"/players", &pl)
		return pl.Total == 2
	}, 5*time.Second, 10*time.Millisecond)
	for _, p := range pl.Players {
		require.NotEqual(t, kicked.ua, p.UserAgent)
	}
	apiGet(t, api+"/streams/live/details", &st)
	require.Equal(t, 2, st.Players)
	_, body = getBody(t, s.httpURL+"/metrics")
	require.Equal(t, 2.0, metric(t, body, labelled("headwater_stream_players", "live", "details")))

	// The publisher goes: the stream and its series go, its session is
	// observed, the players end.
	pub.kill()
	for _, p := range []*uaPlayer{players[0], players[2]} {
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			t.Fatalf("player %s still playing after the publisher left", p.ua)
		}
	}
	require.Eventually(t, func() bool {
		_, body = getBody(t, s.httpURL+"/metrics")
		return !strings.Contains(body, `stream="details"`) &&
			metric(t, body, "headwater_publisher_session_duration_seconds_count") == 1
	}, 10*time.Second, 20*time.Millisecond, "per-stream series must go with the stream")
	require.Equal(t, 3.0, metric(t, body, "headwater_player_time_to_first_frame_seconds_count"))
	code, body = apiDo(t, http.MethodGet, api+"/streams/live/details", e2eToken)
	require.Equal(t, http.StatusNotFound, code, body)
	require.Eventually(t, func() bool {
		apiGet(t, api+"/players", &pl)
		return pl.Total == 0
	}, 5*time.Second, 10*time.Millisecond)
}
