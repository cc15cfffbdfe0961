package httpflv

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/internal/play"
	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/stream"
)

func testHandler(reg *registry.Registry) *Handler {
	return &Handler{
		Registry: reg, Config: play.DefaultConfig(), Log: zerolog.Nop(),
		Params: func(r *http.Request) (string, string) {
			app, file, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
			return app, file
		},
	}
}

// TestTooManyPlayersIs503: a player over MaxPlayersPerStream gets 503 with
// Retry-After and a one-line reason, and holds no handle.
func TestTooManyPlayersIs503(t *testing.T) {
	reg := registry.New(stream.DefaultConfig(), registry.WithLimits(registry.Limits{MaxPlayersPerStream: 1}))
	key := registry.Key{App: "live", Name: "s"}
	pub, err := reg.Publish(key, registry.PublisherInfo{}, nil)
	require.NoError(t, err)
	held, err := reg.Play(key, "")
	require.NoError(t, err)

	h := testHandler(reg)
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, "/live/s.flv", nil))
		require.Equal(t, http.StatusServiceUnavailable, rec.Code, method)
		require.Equal(t, RetryAfter, rec.Header().Get("Retry-After"))
		require.Equal(t, "*", rec.Header().Get("Access-Control-Allow-Origin"))
		if method == http.MethodGet {
			require.Equal(t, "too many players on this stream, retry later\n", rec.Body.String())
		}
	}
	require.Equal(t, 1, reg.Stats().Players, "the refused requests hold nothing")
	require.Equal(t, registry.Refusals{PlayersPerStream: 2}, reg.Refusals())

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/live/other.flv", nil))
	require.Equal(t, http.StatusNotFound, rec.Code, "an unknown stream is still 404")

	held.Release()
	pub.Release()
	require.Equal(t, registry.Stats{}, reg.Stats())
}
