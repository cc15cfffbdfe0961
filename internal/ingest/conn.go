package ingest

import (
	"errors"
	"net"
	"sync/atomic"
	"time"
)

// errNoMedia ends a publisher that keeps the socket busy without media.
var errNoMedia = errors.New("no media within the timeout")

// deadlineConn puts a deadline on every read and write go-rtmp makes, which
// go-rtmp does not do itself. Until the RTMP connect command has been
// handled, reads also share one overall handshake deadline. Once publishing,
// a read fails when no media arrived for mediaTimeout, even if the peer
// keeps sending other messages.
type deadlineConn struct {
	net.Conn
	readTimeout  time.Duration
	writeTimeout time.Duration
	mediaTimeout time.Duration
	handshakeBy  time.Time

	connected  atomic.Bool
	publishing atomic.Bool
	lastMedia  atomic.Int64 // unix nanoseconds
	bytesIn    atomic.Int64
}

func (c *deadlineConn) Read(b []byte) (int, error) {
	now := time.Now()
	dl := now.Add(c.readTimeout)
	if !c.connected.Load() && c.handshakeBy.Before(dl) {
		dl = c.handshakeBy
	}
	if c.publishing.Load() {
		last := time.Unix(0, c.lastMedia.Load())
		if now.Sub(last) > c.mediaTimeout {
			return 0, errNoMedia
		}
		if by := last.Add(c.mediaTimeout); by.Before(dl) {
			dl = by
		}
	}
	if err := c.Conn.SetReadDeadline(dl); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(b)
	c.bytesIn.Add(int64(n))
	return n, err
}

func (c *deadlineConn) Write(b []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.writeTimeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

func (c *deadlineConn) gotMedia(now time.Time) { c.lastMedia.Store(now.UnixNano()) }

func (c *deadlineConn) startPublishing() {
	c.gotMedia(time.Now())
	c.publishing.Store(true)
}
