package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// logLines collects a process's output and hands each complete line to
// whoever waits for one (waitLine).
type logLines struct {
	mu    sync.Mutex // guards buf and part; held only to append and copy
	buf   bytes.Buffer
	part  []byte
	lines chan string
}

func newLogLines() *logLines { return &logLines{lines: make(chan string, 4096)} }

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.buf.Write(p)
	l.part = append(l.part, p...)
	var done []string
	for {
		i := bytes.IndexByte(l.part, '\n')
		if i < 0 {
			break
		}
		done = append(done, string(l.part[:i]))
		l.part = l.part[i+1:]
	}
	l.mu.Unlock()
	for _, s := range done {
		select {
		case l.lines <- s:
		default: // nobody reads that far back
		}
	}
	return len(p), nil
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// waitLine returns the next line containing every one of want.
func (l *logLines) waitLine(t *testing.T, within time.Duration, want ...string) string {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case s := <-l.lines:
			ok := true
			for _, w := range want {
				ok = ok && strings.Contains(s, w)
			}
			if ok {
				return s
			}
		case <-deadline:
			t.Fatalf("no log line with %q within %v; log:\n%s", want, within, l)
			return ""
		}
	}
}

// TestSIGHUPReloadsLimitsWithoutDroppingStreams starts the binary with a
// config file, publishes and plays, lowers limits.max_players_per_stream to
// 1 and changes rtmp.addr in the file, and sends SIGHUP: the limit applies
// (a second player gets 503), rtmp.addr is reported as not reloaded, and
// the stream and its first player go on. An invalid file on a later SIGHUP
// is logged and changes nothing.
func TestSIGHUPReloadsLimitsWithoutDroppingStreams(t *testing.T) {
	needFFmpeg(t)
	bin := headwaterBin(t)
	rtmpAddr, httpAddr := freePort(t), freePort(t)
	file := filepath.Join(t.TempDir(), "headwater.yaml")
	writeCfg := func(body string) {
		require.NoError(t, os.WriteFile(file, []byte(body), 0o600))
	}
	base := "rtmp:\n  addr: " + rtmpAddr + "\nhttp:\n  addr: " + httpAddr + "\nlog:\n  format: json\n"
	writeCfg(base)
	out := newLogLines()
	cmd := exec.Command(bin, "-config", file)
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	out.waitLine(t, 20*time.Second, "headwater listening")

	pub := ffmpegPublish(t, "rtmp://"+rtmpAddr+"/live/hup", "320x240")
	url := "http://" + httpAddr + "/live/hup.flv"
	waitLive(t, url)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := play(ctx, url)
	first.waitKey(t, 20*time.Second)

	writeCfg(strings.Replace(base, rtmpAddr, freePort(t), 1) + "limits:\n  max_players_per_stream: 1\n")
	require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	applied := out.waitLine(t, 10*time.Second, "SIGHUP: config reloaded")
	require.Contains(t, applied, `"applied":["limits.max_players_per_stream"]`)
	warn := out.waitLine(t, 10*time.Second, "need a restart")
	require.Contains(t, warn, `"not_reloaded":["rtmp.addr"]`)
	require.Contains(t, warn, `"level":"warn"`)

	require503(t, httpClient, url, "too many players on this stream, retry later")
	n := <-first.tags
	first.waitTags(t, n+50, 20*time.Second) // two seconds of media and more
	select {
	case <-pub.done:
		t.Fatalf("publisher ended: %v\n%s", pub.err, pub.stderr)
	default:
	}

	// An invalid config is refused; the running one stays.
	writeCfg(base + "limits:\n  max_players_per_stream: -1\n")
	require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	bad := out.waitLine(t, 10*time.Second, "config not reloaded")
	require.Contains(t, bad, "limits.max_players_per_stream")
	require503(t, httpClient, url, "too many players on this stream, retry later")

	// Back to unlimited: a second player is admitted again.
	writeCfg(base)
	require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	out.waitLine(t, 10*time.Second, "SIGHUP: config reloaded", "limits.max_players_per_stream")
	second := play(ctx, url)
	second.waitKey(t, 20*time.Second)
	n = <-first.tags
	first.waitTags(t, n+25, 20*time.Second)
}

// TestSIGHUPDuringShutdownDoesNotKill: a SIGHUP while players drain (say
// from logrotate) must neither kill the process nor stop the shutdown, and
// a SIGTERM right behind a burst of SIGHUPs must not be lost.
func TestSIGHUPDuringShutdownDoesNotKill(t *testing.T) {
	needFFmpeg(t)
	bin := headwaterBin(t)
	rtmpAddr, httpAddr := freePort(t), freePort(t)
	out := newLogLines()
	cmd := exec.Command(bin, "-rtmp-addr", rtmpAddr, "-http-addr", httpAddr, "-log-format", "json")
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	out.waitLine(t, 20*time.Second, "headwater listening")

	pub := ffmpegPublish(t, "rtmp://"+rtmpAddr+"/live/drain", "320x240")
	defer pub.kill()
	url := "http://" + httpAddr + "/live/drain.flv"
	waitLive(t, url)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pl := play(ctx, url)
	pl.waitKey(t, 20*time.Second)

	for i := 0; i < 3; i++ {
		require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	out.waitLine(t, 10*time.Second, "shutting down")
	_ = cmd.Process.Signal(syscall.SIGHUP) // during the drain; the process may already be gone
	select {
	case err := <-done:
		require.NoError(t, err, "exit code 0 despite a SIGHUP during shutdown; log:\n%s", out)
	case <-time.After(10 * time.Second):
		t.Fatalf("still running 10 s after SIGTERM; log:\n%s", out)
	}
	pl.result(t, 5*time.Second)
}
