package rtmpclient

import (
	"io"
	"net"
	"time"
)

// memConn is a connection whose server side is a reader; what the client
// writes is discarded.
type memConn struct{ r io.Reader }

func (c memConn) Read(b []byte) (int, error)       { return c.r.Read(b) }
func (c memConn) Write(b []byte) (int, error)      { return len(b), nil }
func (c memConn) Close() error                     { return nil }
func (c memConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c memConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c memConn) SetDeadline(time.Time) error      { return nil }
func (c memConn) SetReadDeadline(time.Time) error  { return nil }
func (c memConn) SetWriteDeadline(time.Time) error { return nil }

// newStartedPlayer is a Player over nc whose set-up is done without a
// handshake: playing message stream 1, at the default chunk size, with
// go-rtmp's chunk streamer reading what the server sends from now on.
func newStartedPlayer(nc net.Conn, opts Options) *Player {
	p := newPlayer(nc, opts.withDefaults(), time.Time{})
	p.startStreamer()
	p.state, p.streamID = stateStarted, playStreamID
	return p
}

// repeatReader reads b over and over.
type repeatReader struct {
	b   []byte
	off int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := copy(p, r.b[r.off:])
	r.off = (r.off + n) % len(r.b)
	return n, nil
}
