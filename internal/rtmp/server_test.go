package rtmp

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/stream"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// emfileListener fails every Accept like a process out of descriptors.
type emfileListener struct {
	net.Listener
	calls atomic.Int64
}

func (l *emfileListener) Accept() (net.Conn, error) {
	l.calls.Add(1)
	return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
}

func TestAcceptErrorsBackOff(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ln := &emfileListener{Listener: inner}
	s := NewServer(DefaultConfig(), registry.New(stream.DefaultConfig()), zerolog.Nop())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	window := time.NewTimer(500 * time.Millisecond) // an observation window, not a synchronisation
	<-window.C
	require.NoError(t, s.Shutdown(context.Background()))
	require.ErrorIs(t, <-served, ErrServerClosed)
	// 5, 10, 20, 40, 80, 160, 320 ms: about 7 tries in 500 ms; a spinning
	// loop makes hundreds of thousands.
	require.Less(t, ln.calls.Load(), int64(20), "Accept must back off on EMFILE")
}

func TestMaxConnsRefusesExtraConnections(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxConns = 1
	s := NewServer(cfg, registry.New(stream.DefaultConfig()), zerolog.Nop())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()

	first, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer first.Close()
	// The first connection is being served once the server answers C0+C1.
	c0c1 := make([]byte, 1537)
	c0c1[0] = 3
	_, err = first.Write(c0c1)
	require.NoError(t, err)
	_, err = first.Read(make([]byte, 1))
	require.NoError(t, err)

	second, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer second.Close()
	require.NoError(t, second.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = second.Read(make([]byte, 1))
	require.Error(t, err, "the connection over the limit is closed at once")
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "closed, not left hanging: %v", err)
	require.Equal(t, Refusals{Conns: 1}, s.Refusals())

	require.NoError(t, s.Shutdown(context.Background()))
	require.ErrorIs(t, <-served, ErrServerClosed)
}
