package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/internal/registry"
)

// TestBackupPublisherTakesOver: two ffmpeg publishers of one key, the
// second with ?role=backup and another test pattern. The primary is
// killed: HTTP-FLV and RTMP players go on with the backup's stream within
// publish.failover_after + one GOP, with one FLV header and timestamps
// that never go back. The primary, started again, is the backup; a third
// publisher without the role is refused as before.
func TestBackupPublisherTakesOver(t *testing.T) {
	needFFmpeg(t)
	s := startServer(t, nil)
	primary := ffmpegPublish(t, s.rtmpURL+"/live/bk", "320x240")
	s.waitLive(t, "live", "bk")
	backup := ffmpegPublish(t, s.rtmpURL+"/live/bk?role=backup", "320x240", "-vf", "negate")
	require.Eventually(t, func() bool {
		st, err := s.Registry().Stream(keyOf("live", "bk"))
		return err == nil && st.Backup != nil
	}, 10*time.Second, 10*time.Millisecond, "the backup joined")
	var st struct {
		Publisher struct{ Remote string }  `json:"publisher"`
		Backup    *struct{ Remote string } `json:"backup"`
	}
	apiGet(t, s.httpURL+"/api/v1/streams/live/bk", &st)
	require.NotNil(t, st.Backup)
	primaryRemote := st.Publisher.Remote

	// A third publisher without the role: refused, nothing changes.
	third := ffmpegPublish(t, s.rtmpURL+"/live/bk", "320x240")
	require.Error(t, third.wait(t, 10*time.Second), "refused with BadName")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hp := play(ctx, s.httpURL+"/live/bk.flv")
	rp := play(ctx, s.rtmpURL+"/live/bk")
	for _, p := range []*player{hp, rp} {
		p.waitTags(t, 80, 15*time.Second)
	}
	primary.kill()
	killed := time.Now()
	for _, p := range []*player{hp, rp} {
		n := waitCount(t, p)
		p.waitTags(t, n+80, 10*time.Second)
	}
	t.Logf("players go on %v after the primary was killed", time.Since(killed))
	apiGet(t, s.httpURL+"/api/v1/streams/live/bk", &st)
	require.NotEqual(t, primaryRemote, st.Publisher.Remote, "the backup publishes now")
	require.Nil(t, st.Backup)

	// The primary comes back: it is the standby.
	again := ffmpegPublish(t, s.rtmpURL+"/live/bk", "320x240")
	require.Eventually(t, func() bool {
		st, err := s.Registry().Stream(keyOf("live", "bk"))
		return err == nil && st.Backup != nil
	}, 10*time.Second, 10*time.Millisecond, "the returning primary is the backup")

	backup.kill()
	again.kill()
	for _, p := range []*player{hp, rp} {
		res := p.result(t, 15*time.Second)
		require.True(t, isCleanEnd(res.err), "ended with %v (a second FLV header would be a parse error)", res.err)
		require.Empty(t, res.backwards)
		res.checkTimeline(t, 1000)
		require.True(t, res.firstKey)
	}
	require.Equal(t, 1, hp.res.headers)
	t.Logf("failover gap at the players: HTTP-FLV %v, RTMP %v (longest wait between two tags)", hp.res.maxGap, rp.res.maxGap)
	require.Less(t, hp.res.maxGap, 2*time.Second+time.Second, "within publish.failover_after + one GOP")
	_, body := getBody(t, s.httpURL+"/api/v1/streams/live/bk")
	require.True(t, strings.Contains(body, "not found"), body)
	code, _ := getBody(t, s.httpURL+"/live/bk.flv")
	require.Equal(t, http.StatusNotFound, code)
}

func keyOf(app, name string) registry.Key { return registry.Key{App: app, Name: name} }
