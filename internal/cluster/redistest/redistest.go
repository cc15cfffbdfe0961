// Package redistest runs a real redis-server (Debian's redis-server
// package; `make deps` installs it) on a free loopback port for a test,
// without persistence, and stops it when the test ends.
package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// Need skips the test when redis-server is missing, except in CI (CI set),
// where `make test` installs it and a silent skip would prove nothing.
func Need(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redis-server not found: make test installs it (scripts/install-deps.sh)")
		}
		t.Skip("redis-server not found; run `make deps`")
	}
}

// Server is a running (or stopped) redis-server.
type Server struct {
	t    testing.TB
	Addr string // 127.0.0.1:port, kept across Stop and Start

	password string // requirepass, "" for none

	mu   sync.Mutex // guards cmd and done
	cmd  *exec.Cmd
	done chan struct{}
}

// Start starts redis-server on a free port and waits until it answers
// PING; it is killed when the test ends.
func Start(t testing.TB) *Server { t.Helper(); return StartWith(t, "") }

// StartWith is Start with a password (requirepass), "" for none.
func StartWith(t testing.TB, password string) *Server {
	t.Helper()
	Need(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	s := &Server{t: t, Addr: addr, password: password}
	s.Restart()
	t.Cleanup(s.Kill)
	return s
}

// URL is redis://ADDR/0, with the password if there is one.
func (s *Server) URL() string {
	if s.password != "" {
		return "redis://:" + s.password + "@" + s.Addr + "/0"
	}
	return "redis://" + s.Addr + "/0"
}

// Restart starts the server again (empty) on the same port after Kill.
func (s *Server) Restart() {
	s.t.Helper()
	_, port, _ := net.SplitHostPort(s.Addr)
	cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--protected-mode", "no", "--loglevel", "warning", "--requirepass", s.password)
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := s.Ping(); err == nil {
			return
		}
		select {
		case <-done:
			s.t.Fatalf("redis-server on %s exited at start", s.Addr)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on %s did not answer PING within 10 s", s.Addr)
		}
	}
}

// Kill kills the server (SIGKILL) and waits for it; idempotent.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// Ping sends PING over a new connection and checks the answer.
func (s *Server) Ping() error {
	_, err := s.Do("PING")
	return err
}

// Do sends one command (inline, arguments without spaces) over a new
// connection and returns the first line of the answer.
func (s *Server) Do(args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	r := bufio.NewReader(c)
	if s.password != "" {
		if _, err := fmt.Fprintf(c, "AUTH %s\r\n", s.password); err != nil {
			return "", err
		}
		if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "+OK") {
			return "", fmt.Errorf("redis AUTH: %q %v", line, err)
		}
	}
	if _, err := fmt.Fprintf(c, "%s\r\n", strings.Join(args, " ")); err != nil {
		return "", err
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if strings.HasPrefix(line, "$") && line != "$-1" { // a bulk string: its body is the next line
		body, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		return strings.TrimRight(body, "\r\n"), nil
	}
	if strings.HasPrefix(line, "-") {
		return "", fmt.Errorf("redis: %s", line[1:])
	}
	return line, nil
}
