package server

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serveLimited runs an http.Server answering "ok" behind a limitListener.
func serveLimited(t *testing.T, maxConns, perIP int) (string, *limitListener) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	l := newLimitListener(ln, maxConns, perIP, zerolog.Nop())
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(l) }()
	t.Cleanup(func() {
		_ = srv.Close()
		<-served
		l.wait() // as Server.Shutdown does: refusers end within refuseTimeout
	})
	return ln.Addr().String(), l
}

// dialFrom connects to addr from the loopback address local (Linux routes
// all of 127/8 to lo).
func dialFrom(t *testing.T, local, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c, err := d.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// get sends one GET on c and reads the response and body.
func get(t *testing.T, c net.Conn) (*http.Response, string) {
	t.Helper()
	require.NoError(t, c.SetDeadline(time.Now().Add(5*time.Second)))
	_, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	return resp, string(b)
}

func require503(t *testing.T, c net.Conn, reason string) {
	t.Helper()
	resp, body := get(t, c)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Equal(t, "5", resp.Header.Get("Retry-After"))
	require.True(t, resp.Close, "Connection: close")
	require.Equal(t, reason+"\n", body)
	// And then the server closes.
	_, err := c.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF)
}

func TestHTTPMaxConnsGets503(t *testing.T) {
	addr, l := serveLimited(t, 1, 0)
	held := dialFrom(t, "127.0.0.1", addr)
	resp, body := get(t, held) // keep-alive: the connection stays counted
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "ok", body)

	require503(t, dialFrom(t, "127.0.0.2", addr), "too many connections, retry later")
	require.EqualValues(t, 1, l.refusedConns.Load())
	require.Zero(t, l.refusedPerIP.Load())

	// The held connection still works, and once it closes the slot is free.
	resp, _ = get(t, held)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, held.Close())
	require.Eventually(t, func() bool { return l.active.Load() == 0 }, 5*time.Second, 5*time.Millisecond)
	resp, _ = get(t, dialFrom(t, "127.0.0.1", addr))
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestHTTPMaxConnsPerIPGets503(t *testing.T) {
	addr, l := serveLimited(t, 100, 2)
	var held []net.Conn
	for range 2 {
		c := dialFrom(t, "127.0.0.1", addr)
		resp, _ := get(t, c)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		held = append(held, c)
	}
	require503(t, dialFrom(t, "127.0.0.1", addr), "too many connections from your address, retry later")
	require.EqualValues(t, 1, l.refusedPerIP.Load())

	// Another client IP has its own count.
	other := dialFrom(t, "127.0.0.2", addr)
	resp, _ := get(t, other)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, other.Close())
	// The held connections are unaffected.
	for _, c := range held {
		resp, _ := get(t, c)
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	// Closing one frees a slot for its IP; closing all leaves no map entry.
	conns := func() int {
		l.mu.Lock()
		defer l.mu.Unlock()
		n := 0
		for _, c := range l.ips {
			n += c
		}
		return n
	}
	require.NoError(t, held[0].Close())
	require.Eventually(t, func() bool { return conns() == 1 }, 5*time.Second, 5*time.Millisecond)
	again := dialFrom(t, "127.0.0.1", addr)
	resp, _ = get(t, again)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, again.Close())
	require.NoError(t, held[1].Close())
	require.Eventually(t, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.ips) == 0
	}, 5*time.Second, 5*time.Millisecond, "no per-IP entry outlives its connections")
	require.EqualValues(t, 1, l.refusedPerIP.Load())
	require.Zero(t, l.refusedConns.Load())
}

// TestRefusalFloodDoesNotStallAccept: refused clients that never send a
// request keep at most maxRefusers goroutines busy (each for at most
// refuseTimeout); the others are closed at once, and the accept loop keeps
// serving.
func TestRefusalFloodDoesNotStallAccept(t *testing.T) {
	addr, l := serveLimited(t, 1, 0)
	held := dialFrom(t, "127.0.0.1", addr)
	resp, _ := get(t, held)
	require.Equal(t, http.StatusOK, resp.StatusCode)

	for range maxRefusers {
		dialFrom(t, "127.0.0.1", addr) // silent: holds a refuser
	}
	require.Eventually(t, func() bool { return len(l.refusers) == maxRefusers }, 5*time.Second, time.Millisecond)
	start := time.Now()
	for range 36 {
		c := dialFrom(t, "127.0.0.1", addr)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
		n, err := c.Read(make([]byte, 1))
		require.Zero(t, n)
		require.True(t, errors.Is(err, io.EOF) || isReset(err), "closed at once, got %v", err)
	}
	require.Less(t, time.Since(start), refuseTimeout/2, "no refused client waited for a refuser")
	require.EqualValues(t, maxRefusers+36, l.refusedConns.Load())

	// The accept loop is free: once the slot is, a request is served at once.
	require.NoError(t, held.Close())
	require.Eventually(t, func() bool { return l.active.Load() == 0 }, 5*time.Second, time.Millisecond)
	t0 := time.Now()
	resp, _ = get(t, dialFrom(t, "127.0.0.1", addr))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Less(t, time.Since(t0), refuseTimeout/2)

	// The silent ones are let go within refuseTimeout.
	require.Eventually(t, func() bool { return len(l.refusers) == 0 }, 3*refuseTimeout, 5*time.Millisecond)
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

// TestHTTPSetLimits: limits replaced while connections are open apply to
// the next accept; a connection accepted while per-IP was off is not
// counted, so turning it on and off leaves no stray per-IP entry.
func TestHTTPSetLimits(t *testing.T) {
	addr, l := serveLimited(t, 100, 0)
	before := dialFrom(t, "127.0.0.1", addr)
	resp, _ := get(t, before)
	require.Equal(t, http.StatusOK, resp.StatusCode)

	l.setLimits(100, 1)
	during := dialFrom(t, "127.0.0.1", addr)
	resp, _ = get(t, during)
	require.Equal(t, http.StatusOK, resp.StatusCode, "the earlier connection is not counted per IP")
	require503(t, dialFrom(t, "127.0.0.1", addr), "too many connections from your address, retry later")

	l.setLimits(2, 0)
	require503(t, dialFrom(t, "127.0.0.2", addr), "too many connections, retry later")
	require.NoError(t, before.Close())
	require.NoError(t, during.Close())
	require.Eventually(t, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.ips) == 0 && l.active.Load() == 0
	}, 5*time.Second, 5*time.Millisecond, "counted and uncounted connections release cleanly")
	again := dialFrom(t, "127.0.0.1", addr)
	resp, _ = get(t, again)
	require.Equal(t, http.StatusOK, resp.StatusCode)
}
