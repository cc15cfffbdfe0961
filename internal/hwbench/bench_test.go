package hwbench

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// headwaterProc is the real binary on free loopback ports.
type headwaterProc struct {
	cmd        *exec.Cmd
	rtmp, http string
	out        *bytes.Buffer
	done       chan struct{}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

func startHeadwater(t *testing.T) *headwaterProc {
	t.Helper()
	bin := headwaterBin(t)
	p := &headwaterProc{rtmp: freeAddr(t), http: freeAddr(t), out: &bytes.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, "-rtmp-addr", p.rtmp, "-http-addr", p.http, "-log-level", "warn")
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	require.NoError(t, p.cmd.Start())
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	client := &http.Client{Timeout: time.Second}
	require.Eventually(t, func() bool {
		resp, err := client.Get("http://" + p.http + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 20*time.Second, 20*time.Millisecond, "headwater did not come up")
	client.CloseIdleConnections()
	return p
}

func needFFmpeg(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not found")
	}
}

// TestRunAgainstHeadwater publishes a generated stream into the real
// binary and plays it with five players.
func TestRunAgainstHeadwater(t *testing.T) {
	needFFmpeg(t)
	ctx := context.Background()
	path, cached, err := Generate(ctx, GenSpec{Size: "320x240", FPS: 25, VideoBitrate: "300k", AudioBitrate: "64k",
		Duration: 5 * time.Second, GOP: time.Second}, t.TempDir())
	require.NoError(t, err)
	require.False(t, cached)
	in, err := LoadInput(path)
	require.NoError(t, err)
	require.Equal(t, 4, in.LengthSize)
	require.Equal(t, time.Second, in.GOP)
	require.InDelta(t, 5.05, in.Period.Seconds(), 0.05, "5 s plus one frame")
	require.Equal(t, 320, in.Width)

	hw := startHeadwater(t)
	// Set-up (~1 s) + ramp + warm-up + window outlasts the 5 s loop, so
	// the players also check that timestamps continue across the loop.
	var progress bytes.Buffer
	cfg := &Config{
		Publish: "rtmp://" + hw.rtmp + "/live/bench", Play: "http://" + hw.http + "/live/bench.flv",
		Input: in, Streams: 1, Players: 5, Ramp: 500 * time.Millisecond, Warmup: time.Second,
		Duration: 3 * time.Second, PID: hw.cmd.Process.Pid, Stall: time.Second, Timeout: 5 * time.Second,
		Progress: &progress, Label: "headwater",
	}
	res, err := Run(ctx, cfg)
	require.NoError(t, err, "headwater log:\n%s", hw.out)
	t.Logf("progress:\n%s", progress.String())
	var sum bytes.Buffer
	res.WriteSummary(&sum)
	t.Logf("summary:\n%s", sum.String())

	require.Zero(t, res.Errors, "errors: %v %v", res.ErrorsByKind, res.ErrorSamples)
	require.EqualValues(t, 5, res.Window.PlayersMin)
	require.Positive(t, res.Window.Keyframes, "players received key frames")
	require.NotNil(t, res.TTFF)
	require.EqualValues(t, 5, res.TTFF.Samples, "every player got a key frame")
	require.NotNil(t, res.Latency)
	require.Greater(t, res.Latency.Samples, uint64(5*3*20), "about 25 stamped frames per second per player")
	require.Positive(t, res.Latency.P50)
	require.Less(t, res.Latency.Max, 2000.0, "latency is plausible")
	require.InDelta(t, 5*in.Bitrate()/1e6, res.Window.Mbps, 0.5*5*in.Bitrate()/1e6, "five players receive about five times the stream")
	require.NotNil(t, res.Server)
	require.Positive(t, res.Server.PeakRSSMiB)
	require.Positive(t, res.Server.Samples)
	require.Contains(t, progress.String(), "measure")
	require.Contains(t, progress.String(), "players 5/5")

	// The table row has every column.
	var row bytes.Buffer
	res.WriteTableRow(&row, 1)
	require.Equal(t, strings.Count(strings.SplitN(TableHeader, "\n", 2)[0], "|"), strings.Count(row.String(), "|"))

	// Two streams, churning players, someone else's key names (%d).
	cfg2 := &Config{
		Publish: "rtmp://" + hw.rtmp + "/live/s%d", Play: "http://" + hw.http + "/live/s%d.flv",
		Input: in, Streams: 2, Players: 3, Ramp: 200 * time.Millisecond, Warmup: 500 * time.Millisecond,
		Duration: 2 * time.Second, Churn: 700 * time.Millisecond, Stall: time.Second, Timeout: 5 * time.Second,
	}
	res2, err := Run(ctx, cfg2)
	require.NoError(t, err, "headwater log:\n%s", hw.out)
	require.Zero(t, res2.Errors, "errors: %v %v", res2.ErrorsByKind, res2.ErrorSamples)
	require.Positive(t, res2.Window.ChurnCloses)
	require.Positive(t, res2.Window.Connects)
	require.Greater(t, res2.TTFF.Samples, uint64(6), "reconnecting players get key frames again")
	require.NotNil(t, res2.Latency)
	require.Positive(t, res2.Window.Cached, "rejoining players get the GOP cache, not counted as latency")
}
