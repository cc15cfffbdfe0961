package server

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/headwater-media/headwater/internal/clientip"
	"github.com/headwater-media/headwater/internal/lockcheck"
)

// HTTP limit names, as logged and as the metric's limit label.
const (
	limitHTTPConns      = "http_conns"
	limitHTTPConnsPerIP = "http_conns_per_ip"
)

const (
	// refuseTimeout bounds a refused connection's whole life: writing the
	// 503, then reading the client's request until it closes.
	refuseTimeout = time.Second
	// maxRefusers caps the refused connections being answered at once;
	// beyond that (a flood) they are closed without an answer.
	maxRefusers = 64
)

// The answers to refused connections, built once.
var (
	refusedConnsResponse = response503("too many connections, retry later")
	refusedPerIPResponse = response503("too many connections from your address, retry later")
)

// response503 is a complete HTTP/1.1 503 response with Retry-After and a
// one-line reason.
func response503(reason string) string {
	body := reason + "\n"
	return fmt.Sprintf("HTTP/1.1 503 Service Unavailable\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n"+
		"Retry-After: 5\r\n"+
		"Access-Control-Allow-Origin: *\r\n"+
		"Connection: close\r\n"+
		"Content-Length: %d\r\n\r\n%s", len(body), body)
}

// limitListener refuses connections beyond max in total, or beyond perIP
// (when > 0) from one client IP, and counts them. It never blocks Accept,
// so a flood cannot stall the accept loop: a refused connection is handed
// to one of at most maxRefusers short-lived goroutines, which reads the
// request head, writes a minimal 503 with Retry-After, half-closes, drains
// and closes, all within refuseTimeout (closing with the request unread
// would reset the connection and the client could lose the 503). When all
// refusers are busy the connection is closed at once.
type limitListener struct {
	net.Listener
	// max and perIP are the limits, replaceable by setLimits (SIGHUP);
	// each Accept reads them once.
	max   atomic.Int64
	perIP atomic.Int64
	// proxies are the trusted proxies (http.trusted_proxies), exempt from
	// the per-IP limit; set before Accept runs.
	proxies *clientip.Resolver
	log     zerolog.Logger // sampled

	active       atomic.Int64
	refusedConns atomic.Uint64
	refusedPerIP atomic.Uint64

	refusers chan struct{}  // one token per refuser goroutine running
	wg       sync.WaitGroup // refuser goroutines; Add only in Accept

	// mu guards ips. Leaf lock, taken only for connections counted per IP
	// (accepted while perIP > 0), only to update
	// the map: no I/O or call under it.
	mu  lockcheck.Mutex
	ips map[netip.Addr]int
}

// newLimitListener wraps ln with the HTTP connection limits; perIP <= 0 is
// off. log gets one (sampled) warning per refusal.
func newLimitListener(ln net.Listener, maxConns, perIP int, log zerolog.Logger) *limitListener {
	l := &limitListener{
		Listener: ln,
		log:      log.Sample(&zerolog.BurstSampler{Burst: 20, Period: time.Second}),
		refusers: make(chan struct{}, maxRefusers),
		ips:      make(map[netip.Addr]int),
	}
	l.setLimits(maxConns, perIP)
	return l
}

// setLimits replaces the limits. Connections already accepted stay, even
// over a lowered limit; one accepted while perIP was off is not counted per
// IP until it closes.
func (l *limitListener) setLimits(maxConns, perIP int) {
	l.max.Store(int64(maxConns))
	l.perIP.Store(int64(perIP))
}

// Accept returns the next connection within the limits.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if m := l.max.Load(); l.active.Add(1) > m {
			l.active.Add(-1)
			l.refusedConns.Add(1)
			l.refuse(c, limitHTTPConns, int(m), refusedConnsResponse)
			continue
		}
		ip := remoteIP(c.RemoteAddr())
		perIP := int(l.perIP.Load())
		if l.proxies.Trusted(ip) {
			// A trusted proxy carries many clients: the per-IP limit is
			// not its to meet.
			perIP = 0
		}
		if !l.acquireIP(ip, perIP) {
			l.active.Add(-1)
			l.refusedPerIP.Add(1)
			l.refuse(c, limitHTTPConnsPerIP, perIP, refusedPerIPResponse)
			continue
		}
		return &limitConn{Conn: c, l: l, ip: ip, counted: perIP > 0}, nil
	}
}

// acquireIP counts one more connection from ip, or reports false at
// perIP; perIP <= 0 is off (nothing counted).
func (l *limitListener) acquireIP(ip netip.Addr, perIP int) bool {
	if perIP <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ips[ip] >= perIP {
		return false
	}
	l.ips[ip]++
	return true
}

// releaseIP gives back a connection counted by acquireIP.
func (l *limitListener) releaseIP(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ips[ip]--; l.ips[ip] <= 0 {
		delete(l.ips, ip)
	}
}

// refuse logs c's refusal (sampled) and answers it off the accept loop, or
// closes it at once when maxRefusers are busy.
func (l *limitListener) refuse(c net.Conn, limit string, bound int, response string) {
	l.log.Warn().Str("limit", limit).Str("remote", c.RemoteAddr().String()).Int("max", bound).
		Msg("connection refused: limit reached")
	select {
	case l.refusers <- struct{}{}:
	default:
		_ = c.Close()
		return
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer func() { <-l.refusers }()
		answer503(c, response)
	}()
}

// wait waits for the refuser goroutines (each ends within refuseTimeout).
// Call it only once Accept can no longer be called.
func (l *limitListener) wait() { l.wg.Wait() }

// answer503 reads the request head from c, writes response, half-closes,
// reads what else the client sends until it closes (or 64 KiB) and closes
// c, all within refuseTimeout. The response waits for the request because
// a client may treat bytes that arrive before it has sent its request as an
// error (Go's http.Transport does: "unsolicited response").
func answer503(c net.Conn, response string) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(refuseTimeout))
	var buf [4096]byte
	head := 0 // bytes of the request read so far, up to 16 KiB
	for tail := []byte(nil); ; {
		n, err := c.Read(buf[:])
		tail = append(tail, buf[:n]...)
		if bytes.Contains(tail, []byte("\r\n\r\n")) {
			break
		}
		if head += n; err != nil || head > 16<<10 {
			return // gone, silent or not HTTP: no answer
		}
		tail = tail[max(0, len(tail)-3):] // a \r\n\r\n may straddle reads
	}
	if _, err := io.WriteString(c, response); err != nil {
		return
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(c, 64<<10))
}

// remoteIP is the client IP of addr (IPv4-mapped addresses unmapped); the
// zero Addr for a non-TCP address.
func remoteIP(addr net.Addr) netip.Addr {
	if ta, ok := addr.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// limitConn gives its slots back on the first Close.
type limitConn struct {
	net.Conn
	l  *limitListener
	ip netip.Addr
	// counted: acquireIP counted it (perIP was on at accept).
	counted bool
	once    sync.Once
}

// Passthrough returns the wrapped connection: limitConn passes bytes
// through unchanged, so HTTP-FLV writes to it directly (with writev) and
// still closes the limitConn (httpflv.Passthrough).
func (c *limitConn) Passthrough() net.Conn { return c.Conn }

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.active.Add(-1)
		if c.counted {
			c.l.releaseIP(c.ip)
		}
	})
	return err
}
