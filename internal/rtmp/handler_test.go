package rtmp

import (
	"errors"
	"net"
	"testing"

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
