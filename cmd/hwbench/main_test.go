package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/internal/hwbench"
)

func TestHelpListsEveryFlag(t *testing.T) {
	var out, errb bytes.Buffer
	require.Equal(t, 0, run([]string{"-h"}, &out, &errb))
	for _, f := range []string{"-publish", "-play", "-input", "-gen-size", "-gen-fps", "-gen-bitrate",
		"-gen-audio-bitrate", "-gen-duration", "-gen-gop", "-cache-dir", "-streams", "-players", "-ramp",
		"-warmup", "-duration", "-churn", "-pid", "-json", "-label", "-stall", "-timeout", "-seed",
		"-fail-on-errors", "-quiet", "-cpuprofile", "-gen-only", "hwbench table", "rtmp://host[:port]/app/stream",
		"ws://... (WebSocket-FLV)"} {
		require.Contains(t, errb.String(), f)
	}
}

func TestBadFlagsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"-no-such-flag"},
		{"-streams", "2"}, // the default URLs have no %d
		{"-play", "ftp://x/y.flv", "-publish", ""},
		{"-play", "rtmp://x/app-only", "-publish", ""},
		{"-play", "wss://x/y.flv", "-publish", ""},
		{"-publish", "", "-players", "0"},
		{"-gen-size", "big"},
		{"-duration", "0s"},
		{"extra"},
	} {
		var out, errb bytes.Buffer
		require.Equal(t, 2, run(args, &out, &errb), "%v", args)
		require.NotEmpty(t, errb.String(), "%v", args)
	}
}

func TestSetupFailureExit2(t *testing.T) {
	var out, errb bytes.Buffer
	// Nothing listens on port 1 of loopback.
	code := run([]string{"-publish", "rtmp://127.0.0.1:1/live/x", "-input", "../../pkg/flv/testdata/avc_aac_160x120.flv",
		"-players", "0", "-quiet"}, &out, &errb)
	require.Equal(t, 2, code, errb.String())
	require.Contains(t, errb.String(), "setup failed")
}

func TestTable(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for i, label := range []string{"headwater", "node-media-server"} {
		r := &hwbench.Result{Label: label, Players: 1000, Window: hwbench.Window{PlayersAvg: 1000, Mbps: 2700, Stalls: uint64(i)},
			Server:  &hwbench.ServerStats{CPUPercent: 42, CPUMsPerPlayerSecond: 0.42, PeakRSSMiB: 80, RSSPerPlayerKiB: 40},
			TTFF:    &hwbench.Percentiles{P50: 100, P95: 200},
			Latency: &hwbench.Percentiles{P50: 10, P99: 20}}
		f := filepath.Join(dir, label+".json")
		require.NoError(t, r.WriteJSON(f))
		files = append(files, f)
	}
	var out, errb bytes.Buffer
	require.Equal(t, 0, run(append([]string{"table"}, files...), &out, &errb), errb.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 4)
	require.Equal(t, "| 1 | headwater | 1000 | 42.0 | 0.420 | 80.0 | 40.0 | 100 / 200 | 10.0 / 20.0 | 0 | 0 | 2700.0 | 0.0 | n/a | n/a |", lines[2])
	require.Contains(t, lines[3], "node-media-server")

	require.Equal(t, 2, run([]string{"table"}, &out, &errb))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bad.json"), []byte("{"), 0o644))
	require.Equal(t, 2, run([]string{"table", filepath.Join(dir, "bad.json")}, &out, &errb))
}
