package rtmp

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/yutopp/go-rtmp/handshake"
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

// TestClientCallsEndWhenTheConnectionDies: a server that completes the
// handshake, then drops the connection without replying, must make
// Connect return an error instead of waiting forever. (headwater patch 10;
// found by headwater's torture test, where a CreateStream hung the run.)
func TestClientCallsEndWhenTheConnectionDies(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	go func() {
		server, err := l.Accept()
		if err != nil {
			return
		}
		defer server.Close()
		if err := handshake.HandshakeWithClient(server, server, &handshake.Config{}); err != nil {
			return
		}
		var buf [256]byte
		_, _ = server.Read(buf[:]) // the start of connect, then hang up
	}()
	client, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	cc, err := NewClientConn(client, &ConnConfig{})
	require.NoError(t, err)
	defer cc.Close()
	done := make(chan error, 1)
	go func() { done <- cc.Connect(&message.NetConnectionConnect{}) }()
	select {
	case err := <-done:
		require.Error(t, err)
	case <-time.After(5 * time.Second):
		_ = client.Close()
		t.Fatal("Connect still waiting 5 s after the connection died")
	}
}
