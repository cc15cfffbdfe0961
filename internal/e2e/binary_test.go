package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/yutopp/go-rtmp/handshake"

	"github.com/headwater-media/headwater/internal/rtmptest"
	st "github.com/headwater-media/headwater/internal/stream/streamtest"
)

var (
	binDir   string
	binPath  string
	binErr   error
	buildBin sync.Once
)

// headwaterBin builds cmd/headwater once per test run; HW_BIN names
// a binary to test instead (an older build, to show what a fix changed).
func headwaterBin(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
	if bin := os.Getenv("HW_BIN"); bin != "" {
		return bin
	}
	buildBin.Do(func() {
		binDir, binErr = os.MkdirTemp("", "headwater-e2e")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "headwater")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/headwater-media/headwater/cmd/headwater").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, binErr)
	return binPath
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

type proc struct {
	cmd    *exec.Cmd
	out    *syncBuffer // stdout and stderr
	done   chan struct{}
	err    error
	rtmp   string
	httpAd string
}

// syncBuffer is a bytes.Buffer safe to read while a process writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startBinary runs headwater on free ports and waits for /healthz.
func startBinary(t testing.TB, args ...string) *proc { return startBinaryEnv(t, nil, args...) }

// startBinaryEnv is startBinary with env (KEY=VALUE) added to the environment.
func startBinaryEnv(t testing.TB, env []string, args ...string) *proc {
	t.Helper()
	return startBinaryOn(t, freePort(t), freePort(t), env, args...)
}

// startBinaryOn is startBinaryEnv on the given addresses (a restart on
// the ports of a process that was killed).
func startBinaryOn(t testing.TB, rtmpAddr, httpAddr string, env []string, args ...string) *proc {
	t.Helper()
	bin := headwaterBin(t)
	p := &proc{rtmp: rtmpAddr, httpAd: httpAddr, out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"-rtmp-addr", p.rtmp, "--http-addr", p.httpAd, "-log-format", "json"}, args...)...)
	// As in startServer: no grace unless the scenario asks for one.
	p.cmd.Env = append(append(os.Environ(), "HEADWATER_PUBLISH_GRACE=0"), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	require.NoError(t, p.cmd.Start())
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := httpClient.Get("http://" + p.httpAd + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-p.done:
			t.Fatalf("headwater exited before it came up (%v); its output:\n%s", p.err, p.out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("headwater did not come up within 30 s; its output:\n%s", p.out.String())
		}
	}
}

// rssKiB reads VmRSS of pid from /proc.
func rssKiB(t testing.TB, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			require.NoError(t, err)
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

func TestFlagsAndExitCodes(t *testing.T) {
	bin := headwaterBin(t)
	out, err := exec.Command(bin, "-version").CombinedOutput()
	require.NoError(t, err)
	require.Contains(t, string(out), "headwater")

	out, err = exec.Command(bin, "--no-such-flag").CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 2, ee.ExitCode())
	require.Contains(t, string(out), "no-such-flag")

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("rtmp:\n  nope: 1\n"), 0o600))
	out, err = exec.Command(bin, "-config", bad).CombinedOutput()
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 2, ee.ExitCode())
	require.Contains(t, string(out), "nope")

	out, err = exec.Command(bin, "-config", filepath.Join(t.TempDir(), "missing.yaml")).CombinedOutput()
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 2, ee.ExitCode(), "%s", out)

	out, err = exec.Command(bin, "-h").CombinedOutput()
	require.NoError(t, err)
	for _, f := range []string{"-rtmp-addr", "-http-addr", "-config", "-log-level", "-log-format", "-version", "-pprof-addr", "-print-config"} {
		require.Contains(t, string(out), f)
	}
}

// TestPprofAddr: -pprof-addr serves net/http/pprof on its own listener;
// the player and API listener does not serve it.
func TestPprofAddr(t *testing.T) {
	addr := freePort(t)
	p := startBinary(t, "-pprof-addr", addr)
	resp, err := httpClient.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), "goroutine profile:")

	resp, err = httpClient.Get("http://" + p.httpAd + "/debug/pprof/")
	require.NoError(t, err)
	resp.Body.Close()
	require.NotEqual(t, http.StatusOK, resp.StatusCode, "not on the public listener")
}

// requireExitZero waits for the process, sent SIGTERM at start, to exit
// with code 0 within 5 s (it gives up at 6 s).
func (p *proc) requireExitZero(t *testing.T, start time.Time) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(time.Until(start.Add(6 * time.Second))):
		t.Fatalf("still running 6 s after SIGTERM; log:\n%s", p.out)
	}
	require.Less(t, time.Since(start), 5*time.Second)
	require.NoError(t, p.err, "exit code 0; log:\n%s", p.out)
}

// TestSIGTERMEndsPlayersAndExitsZero runs the binary with a publisher and
// players, sends SIGTERM, and expects exit 0 within 5 s with players ended.
func TestSIGTERMEndsPlayersAndExitsZero(t *testing.T) {
	needFFmpeg(t)
	p := startBinary(t)
	pub := ffmpegPublish(t, "rtmp://"+p.rtmp+"/live/term", "320x240")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var players []*player
	waitLive(t, "http://"+p.httpAd+"/live/term.flv")
	for i := 0; i < 3; i++ {
		players = append(players, play(ctx, "http://"+p.httpAd+"/live/term.flv"))
	}
	for _, pl := range players {
		pl.waitKey(t, 20*time.Second)
	}
	start := time.Now()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	p.requireExitZero(t, start)
	for _, pl := range players {
		pl.result(t, 5*time.Second) // ended, one way or the other
	}
	pub.kill()
}

// TestMessageLengthBombKeepsMemoryFlat announces huge RTMP messages on many
// chunk streams from many connections and feeds them slowly. The server must
// cut the connections off and its RSS must stay flat.
func TestMessageLengthBombKeepsMemoryFlat(t *testing.T) {
	p := startBinary(t)
	base := rssKiB(t, p.cmd.Process.Pid)

	const conns = 40
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- bomb(p.rtmp, 40, uint32(4<<20-1), i%2 == 0)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	grown := rssKiB(t, p.cmd.Process.Pid) - base
	t.Logf("RSS base %d KiB, growth after %d bomb connections: %d KiB", base, conns, grown)
	require.Less(t, grown, 96<<10, "RSS must stay flat (grew %d KiB)", grown)

	resp, err := httpClient.Get("http://" + p.httpAd + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
}

// bomb opens one RTMP connection, raises the chunk size, announces a
// msgLen-byte video message on each of csids chunk streams (or one oversized
// 16 MiB message when huge) and sends 1 MiB of each. It returns nil when the
// server closed the connection before accepting everything.
func bomb(addr string, csids int, msgLen uint32, huge bool) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if err := handshake.HandshakeWithServer(c, c, &handshake.Config{}); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	// SetChunkSize (type 1) on csid 2: 1 MiB chunks.
	hdr := []byte{0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0}
	hdr = binary.BigEndian.AppendUint32(hdr, 1<<20)
	if _, err := c.Write(hdr); err != nil {
		return err
	}
	if huge {
		msgLen = 0xffffff
	}
	// A write error means the server closed us; a write timeout means it
	// stopped reading without closing, which is a failure.
	closed := func(err error) error {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return fmt.Errorf("server stalled instead of closing: %w", err)
		}
		return nil
	}
	payload := make([]byte, 1<<20)
	for cs := 3; cs < 3+csids; cs++ {
		h := []byte{byte(cs & 0x3f), 0, 0, 0, byte(msgLen >> 16), byte(msgLen >> 8), byte(msgLen), 9, 1, 0, 0, 0}
		if cs > 63 {
			h = append([]byte{0, byte(cs - 64)}, h[1:]...)
		}
		if _, err := c.Write(h); err != nil {
			return closed(err)
		}
		if _, err := c.Write(payload); err != nil {
			return closed(err)
		}
	}
	// Everything was written: the server must still close us.
	_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
	buf := make([]byte, 4096)
	for {
		if _, err := c.Read(buf); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return fmt.Errorf("server kept a connection holding %d partial messages", csids)
			}
			return nil
		}
	}
}

// TestSIGTERMDoesNotWaitForAGrace: a stream whose publisher dropped waits
// in its grace (a minute here) with a player; SIGTERM ends the grace and
// the player at once, and the binary exits 0 within 5 s.
func TestSIGTERMDoesNotWaitForAGrace(t *testing.T) {
	if testing.Short() {
		t.Skip("integration")
	}
	p := startBinaryEnv(t, []string{"HEADWATER_PUBLISH_GRACE=1m"})
	c, err := rtmptest.Dial(p.rtmp, 10*time.Second)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Connect("live"))
	require.NoError(t, c.Publish("g"))
	require.NoError(t, c.Send(rtmptest.TypeVideo, 0, st.Payload(st.AVCSeqHeader())))
	require.NoError(t, c.Send(rtmptest.TypeVideo, 0, st.Payload(st.AVCFrame(true, 100))))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url := "http://" + p.httpAd + "/live/g.flv"
	waitLive(t, url)
	pl := play(ctx, url)
	pl.waitKey(t, 10*time.Second)

	c.Close() // dropped: the stream goes into its grace
	require.Eventually(t, func() bool {
		_, body := getBody(t, "http://"+p.httpAd+"/api/v1/streams/live/g")
		return strings.Contains(body, `"state":"grace"`)
	}, 5*time.Second, 10*time.Millisecond)
	start := time.Now()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	// The grace ends first thing: the player's stream ends, and it is not
	// left for the shutdown's last resort (cancelling what is left after
	// 1.5 s).
	res := pl.result(t, 6*time.Second)
	ended := time.Since(start)
	require.True(t, isCleanEnd(res.err), "the player ended as when a publisher leaves: %v", res.err)
	require.Less(t, ended, time.Second, "the player ended with the grace, at once")
	p.requireExitZero(t, start)
	t.Logf("SIGTERM with a stream in its grace: the player ended after %v, the process after %v",
		ended.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}
