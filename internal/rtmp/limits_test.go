package rtmp

import (
	"bytes"
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	gortmp "github.com/yutopp/go-rtmp"
	rtmpmsg "github.com/yutopp/go-rtmp/message"

	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/stream"
)

// TestMaxStreamsGetsPublishFailed: the publisher over registry's
// MaxStreams gets NetStream.Publish.Failed with a reason (and go-rtmp then
// closes the connection); the live publisher is untouched.
func TestMaxStreamsGetsPublishFailed(t *testing.T) {
	reg := registry.New(stream.DefaultConfig(), registry.WithLimits(registry.Limits{MaxStreams: 1}))
	first := newTestHandler(t, reg)
	require.NoError(t, connect(t, first, "live"))
	require.NoError(t, publish(first, "a"))

	second := newTestHandler(t, reg)
	require.NoError(t, connect(t, second, "live"))
	err := publish(second, "b")
	require.ErrorIs(t, err, registry.ErrTooManyStreams)
	require.Equal(t, rtmpmsg.NetStreamOnStatusCodePublishFailed, statusCode(t, err))
	var se *gortmp.StatusError
	require.True(t, errors.As(err, &se))
	require.Contains(t, se.Description, "too many live streams")
	require.Equal(t, registry.Refusals{Streams: 1}, reg.Refusals())
	require.Len(t, reg.Streams(), 1)

	second.OnClose()
	first.OnClose()
	require.Equal(t, registry.Stats{}, reg.Stats())
}

func TestRateMeter(t *testing.T) {
	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	m := rateMeter{start: t0}
	// 1 MB in the first 100 ms: a burst, not an average.
	require.EqualValues(t, -1, m.add(at(0), 500_000))
	require.EqualValues(t, -1, m.add(at(100), 500_000))
	// Second 1 starts: the average of seconds -4..0 is 1 MB / 5 s.
	require.EqualValues(t, 1_000_000*8/5, m.add(at(1000), 100))
	require.EqualValues(t, -1, m.add(at(1999), 100))
	// Second 2: seconds -3..1 hold 1 MB + 200 bytes.
	require.EqualValues(t, 1_000_200*8/5, m.add(at(2000), 0))
	// Silence from 2 s to 9.5 s: everything before is out of the window.
	require.EqualValues(t, 0, m.add(at(9500), 7))
	require.EqualValues(t, -1, m.add(at(9600), 3))
	require.EqualValues(t, 10*8/5, m.add(at(10_000), 0))
	// A steady 1000 bytes every 10 ms (800 kbit/s) settles at 800 kbit/s.
	m = rateMeter{start: t0}
	var last int64
	for ms := 0; ms <= 10_000; ms += 10 {
		if avg := m.add(at(ms), 1000); avg >= 0 {
			last = avg
		}
	}
	require.EqualValues(t, 800_000, last)
}

// bytesPayload is an RTMP payload reader with Len, as go-rtmp's is.
func bytesPayload(n int) *bytes.Reader { return bytes.NewReader(make([]byte, n)) }

// TestBitrateLimitDisconnects: media over MaxPublishBitrate (averaged over
// the window) fails the handler, which ends the connection; under it, and
// with the limit off, nothing happens.
func TestBitrateLimitDisconnects(t *testing.T) {
	reg := registry.New(stream.DefaultConfig())
	h := newTestHandler(t, reg)
	h.srv.SetLimits(h.srv.cfg.MaxConns, 0, 1_000_000)
	require.NoError(t, connect(t, h, "live"))
	require.NoError(t, publish(h, "fast"))

	// Pretend the publish started 1 s ago; 600 kB arrive in second 1.
	h.rate.start = time.Now().Add(-time.Second)
	require.NoError(t, h.OnVideo(0, bytesPayload(600_000)))
	// One second later, seconds -4..0 averaged 0 and second 1 is still
	// being filled: fine.
	h.rate.start = h.rate.start.Add(-time.Second)
	require.NoError(t, h.OnAudio(0, bytesPayload(10)), "no excess yet: 600 kB over 5 s is 960 kbit/s")
	require.EqualValues(t, 0, h.srv.Refusals().PublishBitrate)
	require.NoError(t, h.OnVideo(0, bytesPayload(50_000)))
	h.rate.start = h.rate.start.Add(-time.Second)
	err := h.OnVideo(0, bytesPayload(10))
	require.ErrorIs(t, err, errBitrate, "650 kB over 5 s is 1.04 Mbit/s")
	require.EqualValues(t, 1, h.srv.Refusals().PublishBitrate)
	h.OnClose()
	require.Equal(t, registry.Stats{}, reg.Stats())

	// Off by default.
	h = newTestHandler(t, reg)
	require.NoError(t, connect(t, h, "live"))
	require.NoError(t, publish(h, "fast"))
	for range 5 {
		h.rate.start = h.rate.start.Add(-time.Second)
		require.NoError(t, h.OnVideo(0, bytesPayload(4<<20)))
	}
	h.OnClose()
	require.Equal(t, registry.Stats{}, reg.Stats())
}

// handshakeStarts reports whether the server answers C0+C1 on c, that is,
// the connection is being served.
func handshakeStarts(t *testing.T, c net.Conn) bool {
	t.Helper()
	c0c1 := make([]byte, 1537)
	c0c1[0] = 3
	if _, err := c.Write(c0c1); err != nil {
		return false
	}
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "closed or served, not left hanging: %v", err)
	return err == nil
}

func TestMaxConnsPerIPRefusesExtraConnections(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxConnsPerIP = 1
	s := NewServer(cfg, registry.New(stream.DefaultConfig()), zerolog.Nop())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	addr := ln.Addr().String()

	first, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	require.True(t, handshakeStarts(t, first))

	second, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer second.Close()
	require.False(t, handshakeStarts(t, second), "a second connection from 127.0.0.1 is closed")
	require.Equal(t, Refusals{ConnsPerIP: 1}, s.Refusals())

	// Another address is not affected (Linux routes 127/8 to loopback).
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	other, err := d.Dial("tcp", addr)
	require.NoError(t, err)
	defer other.Close()
	require.True(t, handshakeStarts(t, other), "127.0.0.2 has its own count")

	// Closing the first frees its slot.
	require.NoError(t, first.Close())
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return false
		}
		defer c.Close()
		return handshakeStarts(t, c)
	}, 5*time.Second, 20*time.Millisecond)

	require.NoError(t, s.Shutdown(context.Background()))
	require.ErrorIs(t, <-served, ErrServerClosed)
	s.mu.Lock()
	require.Empty(t, s.perIP, "no per-IP entry outlives its connections")
	s.mu.Unlock()
}

// TestSetLimitsAppliesToNextConnections: per-IP turned on while a
// connection is open does not count it (nor miscount it when it closes);
// a lowered total refuses the next connection only.
func TestSetLimitsAppliesToNextConnections(t *testing.T) {
	s := NewServer(DefaultConfig(), registry.New(stream.DefaultConfig()), zerolog.Nop())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	addr := ln.Addr().String()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		return c
	}

	before := dial()
	require.True(t, handshakeStarts(t, before))
	s.SetLimits(1000, 1, 0)
	during := dial()
	require.True(t, handshakeStarts(t, during), "the earlier connection is not counted per IP")
	require.False(t, handshakeStarts(t, dial()), "per IP applies to the next one")
	require.Equal(t, Refusals{ConnsPerIP: 1}, s.Refusals())

	s.SetLimits(2, 0, 0)
	require.False(t, handshakeStarts(t, dial()), "two are open: the total applies")
	require.Equal(t, Refusals{Conns: 1, ConnsPerIP: 1}, s.Refusals())
	require.NoError(t, before.Close())
	require.NoError(t, during.Close())
	require.Eventually(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.conns) == 0 && len(s.perIP) == 0
	}, 5*time.Second, 10*time.Millisecond, "counted and uncounted connections untrack cleanly")

	require.NoError(t, s.Shutdown(context.Background()))
	require.ErrorIs(t, <-served, ErrServerClosed)
}
