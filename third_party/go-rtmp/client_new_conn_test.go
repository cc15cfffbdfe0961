package rtmp

import (
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/yutopp/go-rtmp/message"
)

// TestNewClientConnOverOwnConn: a client built on a net.Conn the caller
// owns connects like one from Dial, and closing that conn ends it.
func TestNewClientConnOverOwnConn(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := NewServer(&ServerConfig{
		OnConnect: func(conn net.Conn) (io.ReadWriteCloser, *ConnConfig) {
			return conn, &ConnConfig{Handler: &DefaultHandler{}}
		},
	})
	served := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			served <- err
			return
		}
		served <- srv.ServeConn(c)
	}()
	defer l.Close()

	raw, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	cc, err := NewClientConn(raw, &ConnConfig{})
	require.NoError(t, err)
	require.NoError(t, cc.Connect(&message.NetConnectionConnect{}))
	require.NoError(t, raw.Close())
	<-served
	_ = cc.Close()
}
