package soak

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/headwater-media/headwater/internal/hwbench"
)

// server is the headwater process under test.
type server struct {
	cmd      *exec.Cmd
	rtmpAddr string
	httpAddr string
	client   *http.Client // for /healthz and /metrics, one kept-alive connection
	done     chan struct{}
	state    *os.ProcessState // valid after done
	waitErr  error
	exitedAt time.Time
}

// freePorts returns two distinct loopback addresses that were free a moment ago.
func freePorts() (string, string, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for range 2 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", "", err
		}
		ls = append(ls, l)
	}
	return ls[0].Addr().String(), ls[1].Addr().String(), nil
}

// startServer runs bin with its log in logPath and waits for /healthz. It
// retries with new ports when the server exits at once (a port taken
// between freePorts and the server's listen).
func startServer(bin string, log io.Writer) (*server, error) {
	var lastErr error
	for range 3 {
		rtmp, httpAddr, err := freePorts()
		if err != nil {
			return nil, err
		}
		s := &server{
			rtmpAddr: rtmp, httpAddr: httpAddr, done: make(chan struct{}),
			client: &http.Client{Timeout: 5 * time.Second},
		}
		s.cmd = exec.Command(bin, "-rtmp-addr", rtmp, "-http-addr", httpAddr,
			"-log-format", "json", "-log-level", "warn")
		s.cmd.Stdout, s.cmd.Stderr = log, log
		s.cmd.SysProcAttr = childAttr()
		if err := s.cmd.Start(); err != nil {
			return nil, err
		}
		go func() {
			s.waitErr = s.cmd.Wait()
			s.state = s.cmd.ProcessState
			s.exitedAt = time.Now()
			close(s.done)
		}()
		if lastErr = s.waitHealthy(15 * time.Second); lastErr == nil {
			return s, nil
		}
		if !s.exited() {
			_ = s.cmd.Process.Kill()
			<-s.done
			return nil, lastErr
		}
	}
	return nil, lastErr
}

func (s *server) pid() int { return s.cmd.Process.Pid }

func (s *server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// exitText describes how the process ended, e.g. "exit status 0".
func (s *server) exitText() string {
	if s.state == nil {
		return "running"
	}
	return s.state.String()
}

func (s *server) waitHealthy(within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		if s.exited() {
			return fmt.Errorf("headwater exited during start-up: %s", s.exitText())
		}
		resp, err := s.client.Get("http://" + s.httpAddr + "/healthz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("headwater not healthy within %v: %v", within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// metricNames are the /metrics lines hwsoak reads.
var metricNames = []string{
	"process_resident_memory_bytes", "go_goroutines", "process_open_fds",
	"headwater_streams", "headwater_publishers", "headwater_players",
}

// scrape fetches /metrics and returns the values of metricNames.
func (s *server) scrape(ctx context.Context) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.httpAddr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics: %s", resp.Status)
	}
	return parseMetrics(body, metricNames), nil
}

// parseMetrics reads the Prometheus text format minimally: for each wanted
// name, the value of an unlabelled sample line "name value [timestamp]".
func parseMetrics(body []byte, names []string) map[string]float64 {
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	out := make(map[string]float64, len(names))
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 || !want[f[0]] {
			continue
		}
		if v, err := strconv.ParseFloat(f[1], 64); err == nil {
			out[f[0]] = v
		}
	}
	return out
}

// vmRSS returns VmRSS from /proc/PID/status in bytes, or NaN.
func vmRSS(pid int) float64 {
	p, err := hwbench.ReadProc(pid)
	if err != nil {
		return math.NaN()
	}
	return float64(p.RSSKiB) * 1024
}

// terminate sends SIGTERM and waits up to within for the exit. It returns
// how long the exit took and an error when the server had to be killed.
func (s *server) terminate(within time.Duration) (time.Duration, error) {
	if s.exited() {
		return 0, errors.New("already exited")
	}
	start := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return 0, err
	}
	select {
	case <-s.done:
		return s.exitedAt.Sub(start), nil
	case <-time.After(within):
		_ = s.cmd.Process.Kill()
		<-s.done
		return time.Since(start), fmt.Errorf("no exit within %v of SIGTERM; killed", within)
	}
}

// kill ends the server at once (after a failure) and waits.
func (s *server) kill() {
	if !s.exited() {
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}
