package server

import (
	"net"
	"sync"
	"sync/atomic"
)

// limitListener closes connections accepted beyond max at once, instead of
// leaving them queued, and counts them. Unlike netutil.LimitListener it
// never blocks Accept, so a flood cannot stall the accept loop.
type limitListener struct {
	net.Listener
	max     int64
	active  atomic.Int64
	refused atomic.Uint64
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.active.Add(1) > l.max {
			l.active.Add(-1)
			l.refused.Add(1)
			_ = c.Close()
			continue
		}
		return &limitConn{Conn: c, l: l}, nil
	}
}

type limitConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.active.Add(-1) })
	return err
}
