package hwbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

// isWS reports whether a play URL asks for WebSocket-FLV players.
func isWS(u string) bool {
	return len(u) >= len("ws://") && strings.EqualFold(u[:len("ws://")], "ws://")
}

// checkWSURL checks a ws://host[:port]/path URL.
func checkWSURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "ws" || u.Host == "" {
		return fmt.Errorf("%q: want ws://host[:port]/path (wss is not supported)", s)
	}
	return nil
}

// wsClient is the HTTP client of every WebSocket-FLV player's handshake:
// a connection is never kept or reused (a refused handshake's is closed).
var wsClient = &http.Client{Transport: &http.Transport{
	DisableKeepAlives: true,
	DialContext:       (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
}}

// wsCloser closes a WebSocket connection at once, without a close
// handshake: hwbench's end of a connection (churn, end of run, idle).
type wsCloser struct{ c *websocket.Conn }

func (w wsCloser) Close() error { return w.c.CloseNow() }

// playWS runs one WebSocket-FLV connection with coder/websocket: the
// handshake (within -timeout), then every binary message's bytes through
// the same FLV Parser as an HTTP-FLV body (messages may split the FLV
// stream anywhere). Like playOnce, it returns -1 when hwbench ended the
// connection on purpose, otherwise the error's kind.
func (p *player) playWS(ctx context.Context) (ErrorKind, error) {
	p.reason.Store(closeNone)
	p.dialAt = time.Now()
	dctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	c, resp, err := websocket.Dial(dctx, p.wsURL, &websocket.DialOptions{HTTPClient: wsClient})
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return -1, nil
		}
		return wsSetupKind(resp, err), err
	}
	// The 101: the equivalent of an HTTP response's first byte. Frames
	// stamped before it are the join burst.
	p.respAt = time.Now()
	p.sh.ttfb.Record(p.respAt.Sub(p.dialAt))
	p.lastByte.Store(int64(p.respAt.Sub(p.epoch))) // before the watchdog can see the connection
	c.SetReadLimit(-1)                             // a message is a write's tags; the parser bounds each tag
	p.setConn(wsCloser{c})
	defer func() {
		p.connected.Store(false)
		p.setConn(nil)
		_ = c.CloseNow()
	}()
	stop := context.AfterFunc(ctx, func() { p.closeConn(closeStop) })
	defer stop()
	if p.cfg.Churn > 0 {
		// The lifetime counts from the dial, as for HTTP-FLV.
		life := time.Duration(float64(p.cfg.Churn)*(0.5+p.rng.Float64())) - time.Since(p.dialAt)
		lifeTimer := time.AfterFunc(max(life, 0), func() { p.closeConn(closeChurn) })
		defer lifeTimer.Stop()
	}
	p.sh.counter[CConnects].Add(1)
	p.connected.Store(true)
	p.parser.Reset()
	p.gotKey, p.gotVideo, p.lengthSz, p.lastFrm = false, false, 4, time.Time{}
	p.lastFrame.Store(0)
	for {
		// A context without Done: coder/websocket then sets up nothing
		// per message. Stopping is closeConn's job, as for HTTP-FLV.
		typ, r, err := c.Reader(context.Background())
		if err != nil {
			return p.classify(p.wsEndKind(err), err)
		}
		if typ != websocket.MessageBinary {
			return EBadResponse, fmt.Errorf("%w: a %v message", ErrBadResponse, typ)
		}
		for {
			m, err := r.Read(p.buf)
			if m > 0 {
				p.now = time.Now()
				p.lastByte.Store(int64(p.now.Sub(p.epoch)))
				if kind, err := p.consume(p.buf[:m], false, nil); err != nil {
					return kind, err
				}
			}
			if errors.Is(err, io.EOF) {
				break // the message's end
			}
			if err != nil {
				return p.classify(p.wsEndKind(err), err)
			}
		}
	}
}

// wsSetupKind classifies a failed handshake.
func wsSetupKind(resp *http.Response, err error) ErrorKind {
	if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
		return EHTTPStatus
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return EDial
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
		return EIdle // no answer within -timeout
	}
	return EBadResponse
}

// wsEndKind classifies the error that ended a connection: the server's
// close frame 1000 is the stream's end (truncated inside a tag), another
// close status or a failed read a read error, anything else (a protocol
// error coder/websocket found) a bad response.
func (p *player) wsEndKind(err error) ErrorKind {
	switch websocket.CloseStatus(err) {
	case websocket.StatusNormalClosure:
		if p.parser.Mid() {
			return ETruncated
		}
		return EEnded
	case -1:
	default:
		return ERead
	}
	var ne net.Error
	var errno syscall.Errno
	if errors.As(err, &ne) || errors.As(err, &errno) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return ERead
	}
	return EBadResponse
}
