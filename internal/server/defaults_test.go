package server

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/internal/config"
	"github.com/headwater-media/headwater/internal/play"
	"github.com/headwater-media/headwater/internal/relay"
	"github.com/headwater-media/headwater/internal/rtmp"
	"github.com/headwater-media/headwater/internal/stream"
)

// TestComponentsRunWithTheirDefaults: with no file, no environment and no
// flag (what `headwater -print-config` prints, cmd/headwater's
// TestPrintConfigWithNothingSetIsTheDefault), every component runs with
// its own DefaultConfig: config.Default is built from them, and this
// proves the way back maps every key.
func TestComponentsRunWithTheirDefaults(t *testing.T) {
	cfg := config.Default()
	require.Equal(t, rtmp.DefaultConfig(), rtmpConfig(cfg))
	require.Equal(t, stream.DefaultConfig(), streamConfig(cfg))
	require.Equal(t, play.DefaultConfig(), flvConfig(cfg))
	rl := relay.DefaultConfig()
	rl.NodeID = "n"
	require.Equal(t, rl, relayConfig(cfg, "n"))
	lim := registryLimits(cfg)
	require.Equal(t, cfg.Limits.MaxStreams, lim.MaxStreams)
	require.Zero(t, lim.MaxPlayersPerStream, "unlimited by default")
}

// A key that is changed reaches its component (the mapping is not a
// constant).
func TestKeysReachTheirComponents(t *testing.T) {
	cfg := config.Default()
	cfg.RTMP.HandshakeTimeout *= 2
	cfg.RTMP.MaxChunkStreams++
	cfg.Limits.MaxPublishBitrate = 1e6
	cfg.Stream.MaxTSJump *= 3
	cfg.Play.MergeMS = 0
	cfg.HTTP.WriteTimeout *= 2
	in, st, fl := rtmpConfig(cfg), streamConfig(cfg), flvConfig(cfg)
	require.Equal(t, 2*rtmp.DefaultConfig().HandshakeTimeout, in.HandshakeTimeout)
	require.Equal(t, rtmp.DefaultConfig().MaxChunkStreams+1, in.MaxChunkStreams)
	require.Equal(t, int64(1e6), in.MaxPublishBitrate)
	require.Equal(t, 3*stream.DefaultConfig().MaxTSJump, st.MaxTSJump)
	require.Zero(t, fl.MergeWindow)
	require.Equal(t, 2*play.DefaultConfig().WriteTimeout, fl.WriteTimeout)
	cfg.Relay.BackoffMax *= 2
	cfg.RTMP.WriteTimeout *= 3
	rl := relayConfig(cfg, "n")
	require.Equal(t, 2*relay.DefaultConfig().BackoffMax, rl.BackoffMax)
	require.Equal(t, 3*rtmp.DefaultConfig().WriteTimeout, rl.Play.WriteTimeout, "a push is written as an RTMP client")
}
