package rtmp

import (
	"errors"
	"io"
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

func newTestHandler(t testing.TB, reg *registry.Registry) *handler {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	srv := NewServer(DefaultConfig(), reg, zerolog.Nop())
	return &handler{srv: srv, conn: &deadlineConn{Conn: a}, log: zerolog.Nop()}
}

func connect(t testing.TB, h *handler, app string) error {
	t.Helper()
	return h.OnConnect(0, &rtmpmsg.NetConnectionConnect{Command: rtmpmsg.NetConnectionConnectCommand{App: app}})
}

func publish(h *handler, name string) error {
	return h.OnPublish(nil, 0, &rtmpmsg.NetStreamPublish{PublishingName: name, PublishingType: "live"})
}

func statusCode(t *testing.T, err error) rtmpmsg.NetStreamOnStatusCode {
	t.Helper()
	var se *gortmp.StatusError
	require.True(t, errors.As(err, &se), "want a *gortmp.StatusError, got %v", err)
	return se.Code
}

func TestDuplicatePublishGetsBadName(t *testing.T) {
	reg := registry.New(stream.DefaultConfig())
	first := newTestHandler(t, reg)
	require.NoError(t, connect(t, first, "live"))
	require.NoError(t, publish(first, "s?token=1"))

	second := newTestHandler(t, reg)
	require.NoError(t, connect(t, second, "live"))
	err := publish(second, "s")
	require.ErrorIs(t, err, registry.ErrStreamBusy)
	require.Equal(t, rtmpmsg.NetStreamOnStatusCodePublishBadName, statusCode(t, err))
	require.Equal(t, 1, reg.Stats().Publishers, "the first publisher is untouched")

	first.OnClose()
	first.OnClose() // idempotent
	second.OnClose()
	require.Equal(t, registry.Stats{}, reg.Stats())
}

func TestHostileNamesAreRefused(t *testing.T) {
	reg := registry.New(stream.DefaultConfig())
	h := newTestHandler(t, reg)
	require.Error(t, connect(t, h, "../etc"))
	require.NoError(t, connect(t, h, "live"))
	for _, name := range []string{"", "..", "a/b", "a b", "x\x00y", string(make([]byte, 200))} {
		err := publish(h, name)
		require.ErrorIs(t, err, registry.ErrBadName, "%q", name)
		require.Equal(t, rtmpmsg.NetStreamOnStatusCodePublishBadName, statusCode(t, err))
	}
	require.Equal(t, registry.Stats{}, reg.Stats())
}

func TestQueryIsSplitOffAndKept(t *testing.T) {
	reg := registry.New(stream.DefaultConfig())
	h := newTestHandler(t, reg)
	require.NoError(t, connect(t, h, "live"))
	require.NoError(t, publish(h, "cam1?token=abc"))
	st := reg.Streams()
	require.Len(t, st, 1)
	require.Equal(t, "cam1", st[0].Key.Name)
	require.Equal(t, "token=abc", st[0].Publisher.Query)
	h.OnClose()
}

// TestKickDuringPublish: a kick of the key (the API's DELETE, the
// cluster's fence) can come as soon as the registry has the publisher,
// before OnPublish has its handle; it closes the connection all the same
// (and, under -race, reads the handle safely).
func TestKickDuringPublish(t *testing.T) {
	key := registry.Key{App: "live", Name: "k"}
	closed := func(c net.Conn) bool { // the other end of the pipe
		if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			return errors.Is(err, io.ErrClosedPipe)
		}
		_, err := c.Read(make([]byte, 1))
		return errors.Is(err, io.EOF)
	}
	kicks := 0
	for range 50 {
		reg := registry.New(stream.DefaultConfig())
		a, b := net.Pipe()
		srv := NewServer(DefaultConfig(), reg, zerolog.Nop())
		h := &handler{srv: srv, conn: &deadlineConn{Conn: a}, log: zerolog.Nop()}
		require.NoError(t, connect(t, h, "live"))
		stop := make(chan struct{})
		kicked := make(chan bool, 1)
		go func() {
			for {
				if reg.Kick(key) == nil {
					kicked <- true
					return
				}
				select {
				case <-stop:
					kicked <- false
					return
				default:
				}
			}
		}()
		err := publish(h, "k") // an error once the kick closed the connection
		close(stop)
		if !<-kicked {
			require.NoError(t, err)
		} else {
			kicks++
			require.True(t, closed(b), "the kicked publisher's connection is closed")
		}
		h.OnClose()
		a.Close()
		b.Close()
		require.Equal(t, registry.Stats{}, reg.Stats())
	}
	t.Logf("%d of 50 publishes kicked while they started", kicks)
	require.Positive(t, kicks)
}
