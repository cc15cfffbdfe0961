package rtmpclient

import (
	"net"
	"sync/atomic"
	"time"
)

// deadlineConn puts a deadline on every read and write, which go-rtmp does
// not do itself. During set-up (setupBy != 0) every read and write shares
// that one deadline, whatever the server sends; afterwards a read waits at
// most readTimeout (none when 0) and a write at most writeTimeout.
//
// Read is called from the player's goroutine only (through its
// bufio.Reader); Write from go-rtmp's writer goroutine (the handshake
// writes from the player's goroutine before that goroutine exists).
type deadlineConn struct {
	net.Conn
	readTimeout  time.Duration
	writeTimeout time.Duration

	setupBy atomic.Int64  // unix nanoseconds: the set-up deadline; 0 once playing
	n       atomic.Uint64 // bytes read from the connection

	readErr error // the first read error; read and written by the player's goroutine only
}

func (c *deadlineConn) Read(b []byte) (int, error) {
	if by := c.setupBy.Load(); by != 0 {
		if err := c.Conn.SetReadDeadline(time.Unix(0, by)); err != nil {
			return 0, c.fail(err)
		}
	} else if c.readTimeout > 0 {
		if err := c.Conn.SetReadDeadline(time.Now().Add(c.readTimeout)); err != nil {
			return 0, c.fail(err)
		}
	}
	n, err := c.Conn.Read(b)
	c.n.Add(uint64(n))
	if err != nil {
		c.fail(err)
	}
	return n, err
}

// fail records the first read error and returns err.
func (c *deadlineConn) fail(err error) error {
	if c.readErr == nil {
		c.readErr = err
	}
	return err
}

func (c *deadlineConn) Write(b []byte) (int, error) {
	dl := time.Now().Add(c.writeTimeout)
	if by := c.setupBy.Load(); by != 0 {
		dl = time.Unix(0, by)
	}
	if err := c.Conn.SetWriteDeadline(dl); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

// playing ends the set-up deadline: from now on reads and writes get their
// own timeouts. Called by the player's goroutine between reads.
func (c *deadlineConn) playing() error {
	c.setupBy.Store(0)
	if c.readTimeout == 0 {
		return c.Conn.SetReadDeadline(time.Time{})
	}
	return nil
}
