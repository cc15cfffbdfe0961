package e2e

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/internal/auth"
	"github.com/headwater-media/headwater/internal/config"
	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/rtmpclient"
	"github.com/headwater-media/headwater/internal/rtmptest"
)

// signQuery computes a signed query from the formula in the docs,
// independently of the server's code.
func signQuery(secret, action, app, stream string, expires int64) string {
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "%s:/%s/%s:%d", action, app, stream, expires)
	return fmt.Sprintf("expires=%d&sign=%s", expires, hex.EncodeToString(m.Sum(nil)))
}

// TestStreamKeysAndSignedURLs: a publisher needs its stream key (OBS
// style, in the stream name); players need a signed URL, over HTTP-FLV
// and RTMP alike; every refusal has the right status and is counted; a
// refused publisher registers nothing; and no secret reaches the API.
func TestStreamKeysAndSignedURLs(t *testing.T) {
	needFFmpeg(t)
	const secret = "0123456789abcdef-test-secret"
	s := startServer(t, func(c *config.Config) {
		c.Auth.Secret = secret
		c.Auth.Backoff = 0 // every client here is 127.0.0.1: the brake is unit-tested
		c.Auth.Keys = map[string]string{"live/cam": "SECRETKEY"}
		c.Auth.Apps = map[string]auth.App{"live": {
			Publish: []auth.Rule{{Rule: auth.RuleKey}},
			Play:    []auth.Rule{{Rule: auth.RuleSign}, {Rule: auth.RuleDeny}},
		}}
	})

	// Wrong and missing keys: refused, nothing registered.
	for _, name := range []string{"cam?key=WRONG", "cam"} {
		p := ffmpegPublish(t, s.rtmpURL+"/live/"+name, "320x240")
		require.Error(t, p.wait(t, 15*time.Second), "publish of %s refused", name)
		require.Equal(t, 0, s.Registry().Stats().Streams)
	}
	pub := ffmpegPublish(t, s.rtmpURL+"/live/cam?key=SECRETKEY", "320x240")
	s.waitLive(t, "live", "cam")

	now := time.Now().Unix()
	good := signQuery(secret, auth.Play, "live", "cam", now+60)
	for _, tc := range []struct {
		name, query string
		status      int
	}{
		{"expired by 31 s", signQuery(secret, auth.Play, "live", "cam", now-31), http.StatusUnauthorized},
		{"forged", fmt.Sprintf("expires=%d&sign=%s", now+60, strings.Repeat("ab", 32)), http.StatusForbidden},
		{"signed for another stream", signQuery(secret, auth.Play, "live", "other", now+60), http.StatusForbidden},
		{"signed for publish", signQuery(secret, auth.Publish, "live", "cam", now+60), http.StatusForbidden},
		{"unsigned", "", http.StatusUnauthorized},
	} {
		code, _ := getBody(t, s.httpURL+"/live/cam.flv?"+tc.query)
		require.Equal(t, tc.status, code, "HTTP-FLV, %s", tc.name)
		_, err := rtmpclient.Play(context.Background(), s.rtmpURL+"/live/cam?"+tc.query, rtmpclient.Options{Timeout: 10 * time.Second})
		require.ErrorIs(t, err, rtmpclient.ErrPlayFailed, "RTMP, %s", tc.name)
	}
	// Signed for play, used to publish: refused.
	p := ffmpegPublish(t, s.rtmpURL+"/live/cam2?"+signQuery(secret, auth.Play, "live", "cam2", now+60), "320x240")
	require.Error(t, p.wait(t, 15*time.Second))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hp := play(ctx, s.httpURL+"/live/cam.flv?"+good)
	rp := play(ctx, s.rtmpURL+"/live/cam?"+good)
	hp.waitKey(t, 15*time.Second)
	rp.waitKey(t, 15*time.Second)

	_, metrics := getBody(t, s.httpURL+"/metrics")
	require.Equal(t, 2.0, metric(t, metrics, `headwater_auth_denied_total{action="play",reason="expired"}`))
	require.Equal(t, 1.0, metric(t, metrics, `headwater_auth_denied_total{action="publish",reason="bad_key"}`))
	_, body := getBody(t, s.httpURL+"/api/v1/streams")
	_, players := getBody(t, s.httpURL+"/api/v1/players")
	for _, secretPart := range []string{"SECRETKEY", secret, good[len(good)-64:]} {
		require.NotContains(t, body+players+metrics, secretPart, "no credential in the API or metrics")
	}
	pub.kill()
	for _, p := range []*player{hp, rp} {
		require.True(t, isCleanEnd(p.result(t, 10*time.Second).err))
	}
	// The RTMP session releases its handle just after the player saw the end.
	require.Eventually(t, func() bool { return s.Registry().Stats() == registry.Stats{} }, 5*time.Second, 5*time.Millisecond)
}

// TestKeysFileIsReloaded: the keys file is read again on a reload
// (SIGHUP): a changed key works for the next publish, the old one no
// longer does.
func TestKeysFileIsReloaded(t *testing.T) {
	if testing.Short() {
		t.Skip("integration")
	}
	keys := filepath.Join(t.TempDir(), "keys")
	require.NoError(t, os.WriteFile(keys, []byte("live/* OLDKEY\n"), 0o600))
	var cfg config.Config
	s := startServer(t, func(c *config.Config) {
		c.Auth.KeysFile, c.Auth.Backoff = keys, 0
		c.Auth.Apps = map[string]auth.App{"live": {Publish: []auth.Rule{{Rule: auth.RuleKey}}}}
		cfg = *c
	})
	publishes := func(name string) bool {
		c, err := rtmptest.Dial(s.RTMPAddr().String(), 10*time.Second)
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.Connect("live"))
		require.NoError(t, c.Publish(name))
		key := registry.Key{App: "live", Name: strings.Split(name, "?")[0]}
		for {
			if _, err := s.Registry().Stream(key); err == nil {
				return true
			}
			select {
			case <-c.Done():
				return false // refused: the server closed the connection
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	require.True(t, publishes("a?key=OLDKEY"))
	require.NoError(t, os.WriteFile(keys, []byte("live/* NEWKEY\n"), 0o600))
	s.Reload(cfg)
	require.False(t, publishes("b?key=OLDKEY"))
	require.True(t, publishes("c?key=NEWKEY"))
}
