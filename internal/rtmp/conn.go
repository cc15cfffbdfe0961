package rtmp

import (
	"errors"
	"net"
	"sync/atomic"
	"time"
)

var (
	// errNoMedia ends a publisher that keeps the socket busy without
	// coded audio or video frames.
	errNoMedia = errors.New("no media within the timeout")
	// errHandshakeTimeout ends a connection that has not started to
	// publish within Config.HandshakeTimeout.
	errHandshakeTimeout = errors.New("not publishing within the handshake timeout")
)

// deadlineConn puts a deadline on every read and write go-rtmp makes, which
// go-rtmp does not do itself. Until the connection publishes, reads also
// share one overall deadline, handshakeBy: the handshake, connect,
// createStream and publish must all be done by then, and nothing the peer
// sends moves it (a client that only sends acknowledgements or pings is
// still cut off). After an unpublish the deadline starts again. While
// publishing, a read fails when no coded frame arrived for mediaTimeout,
// even if the peer keeps sending other messages.
type deadlineConn struct {
	net.Conn
	readTimeout      time.Duration
	writeTimeout     time.Duration
	mediaTimeout     time.Duration
	handshakeTimeout time.Duration

	handshakeBy atomic.Int64 // unix nanoseconds; applies while !publishing && !playing
	publishing  atomic.Bool
	playing     atomic.Bool  // a play session writes: reads only notice the peer going
	lastMedia   atomic.Int64 // unix nanoseconds
	bytesIn     atomic.Int64
}

func newDeadlineConn(c net.Conn, cfg *Config) *deadlineConn {
	dc := &deadlineConn{
		Conn:             c,
		readTimeout:      cfg.ReadTimeout,
		writeTimeout:     cfg.WriteTimeout,
		mediaTimeout:     cfg.MediaTimeout,
		handshakeTimeout: cfg.HandshakeTimeout,
	}
	dc.handshakeBy.Store(time.Now().Add(cfg.HandshakeTimeout).UnixNano())
	return dc
}

func (c *deadlineConn) Read(b []byte) (int, error) {
	if c.playing.Load() {
		// A player has nothing to say but acknowledgements and a final
		// deleteStream: no read deadline. The play session's write
		// deadline cuts off a peer that went away, and closing the
		// connection ends this read.
		if err := c.Conn.SetReadDeadline(time.Time{}); err != nil {
			return 0, err
		}
		n, err := c.Conn.Read(b)
		c.bytesIn.Add(int64(n))
		return n, err
	}
	now := time.Now()
	dl := now.Add(c.readTimeout)
	idle := !c.publishing.Load()
	if idle {
		by := time.Unix(0, c.handshakeBy.Load())
		if !now.Before(by) {
			return 0, errHandshakeTimeout
		}
		if by.Before(dl) {
			dl = by
		}
	} else {
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
	if err != nil && idle && !c.publishing.Load() && !time.Now().Before(time.Unix(0, c.handshakeBy.Load())) {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return n, errHandshakeTimeout
		}
	}
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

// startPlaying ends the handshake deadline: the connection plays until
// its session ends, which closes it.
func (c *deadlineConn) startPlaying() { c.playing.Store(true) }

// stopPublishing makes the connection idle again: it must publish anew
// within the handshake timeout.
func (c *deadlineConn) stopPublishing() {
	c.handshakeBy.Store(time.Now().Add(c.handshakeTimeout).UnixNano())
	c.publishing.Store(false)
}
