package hwbench

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// httpTarget is a parsed http:// or https://host[:port]/path URL.
type httpTarget struct {
	addr string // host:port to dial
	host string // Host header
	path string // request target, with the query
	tls  bool   // https: a TLS client over the connection (the server's certificate is not verified)
}

func parseHTTPURL(s string) (httpTarget, error) {
	u, err := url.Parse(s)
	if err != nil {
		return httpTarget{}, err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return httpTarget{}, fmt.Errorf("%q: want http[s]://host[:port]/path", s)
	}
	t := httpTarget{addr: u.Host, host: u.Host, path: u.RequestURI(), tls: u.Scheme == "https"}
	if u.Port() == "" {
		port := "80"
		if t.tls {
			port = "443"
		}
		t.addr = net.JoinHostPort(u.Hostname(), port)
	}
	return t, nil
}

// readBufSize is each player's socket read buffer: the only per-player
// buffer besides the parser's tag prefix.
const readBufSize = 32 << 10

// Reasons a player's connection was closed by hwbench itself.
const (
	closeNone  int32 = iota
	closeStop        // end of the run
	closeChurn       // lifetime over (-churn)
	closeIdle        // no byte for -timeout (watchdog)
)

// player plays one HTTP-FLV URL (or, with rtmpURL set, one RTMP URL; with
// wsURL, one WebSocket-FLV URL; with hlsURL, one HLS playlist) with one
// connection (HLS: one session) at a time,
// reconnecting after errors (and after its lifetime with -churn).
type player struct {
	id      int
	target  httpTarget
	rtmpURL string // rtmp://host[:port]/app/stream: an RTMP play session instead of a GET
	wsURL   string // ws://host[:port]/path: a WebSocket-FLV connection instead of a GET
	hlsURL  string // http[s]://host[:port]/path.m3u8: an HLS client (gohlslib) instead of a GET
	sh      *shard
	cfg     *Config
	bench   *bench
	rng     *rand.Rand // used by the player's goroutine only

	buf    []byte
	req    []byte
	parser Parser

	// Connection state, read by the progress and watchdog goroutines.
	connected atomic.Bool  // a 200 response is being read
	lastByte  atomic.Int64 // monotonic ns (since the run's epoch) of the last read
	lastFrame atomic.Int64 // monotonic ns of the last video (or audio) frame, 0 before the first
	reason    atomic.Int32 // closeStop/Churn/Idle once hwbench closed the connection

	connMu sync.Mutex // guards conn
	conn   io.Closer  // the net.Conn, the *rtmpclient.Player, a wsCloser or an *hlsStop

	// Per-connection state, owned by the player's goroutine.
	epoch    time.Time // the run's monotonic reference
	dialAt   time.Time
	respAt   time.Time // first byte of the response
	now      time.Time // time of the read being parsed
	gotKey   bool
	gotVideo bool
	lengthSz int
	lastFrm  time.Time
	rtmp     rtmpState // RTMP sessions only
}

func (p *player) setConn(c io.Closer) {
	p.connMu.Lock()
	p.conn = c
	p.connMu.Unlock()
}

// closeConn closes the current connection (if any) for reason.
func (p *player) closeConn(reason int32) {
	p.connMu.Lock()
	defer p.connMu.Unlock()
	if p.conn != nil {
		p.reason.CompareAndSwap(closeNone, reason)
		_ = p.conn.Close()
	}
}

// run plays from its start offset until ctx is done.
func (p *player) run(ctx context.Context, startAt time.Time) {
	if !SleepCtx(ctx, time.Until(startAt)) {
		return
	}
	play := p.playRTMP
	switch {
	case p.hlsURL != "":
		play = p.playHLS
	case p.wsURL != "":
		p.buf = make([]byte, readBufSize)
		play = p.playWS
	case p.rtmpURL == "":
		p.buf = make([]byte, readBufSize)
		p.req = appendRequest(nil, p.target.host, p.target.path)
		play = p.playOnce
	}
	for ctx.Err() == nil {
		kind, err := play(ctx)
		if ctx.Err() != nil {
			return
		}
		if kind < 0 { // churn: reconnect at once
			continue
		}
		p.sh.errs[kind].Add(1)
		p.bench.noteError(kind, err)
		// Back off 0.5-1.5 s so that a refusing server is not hammered.
		if !SleepCtx(ctx, 500*time.Millisecond+time.Duration(p.rng.Int64N(int64(time.Second)))) {
			return
		}
	}
}

// playOnce runs one HTTP-FLV connection. It returns -1 when the connection ended
// on purpose (churn, end of run), otherwise the error's kind.
func (p *player) playOnce(ctx context.Context) (ErrorKind, error) {
	p.reason.Store(closeNone)
	p.dialAt = time.Now()
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", p.target.addr)
	if err != nil {
		return EDial, err
	}
	if p.target.tls {
		// A load tool measures the server, not a PKI: the certificate is
		// not verified. HTTP/1.1 only, as HTTP-FLV needs.
		tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
		hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			_ = conn.Close()
			return EDial, err
		}
		conn = tc
	}
	p.lastByte.Store(int64(time.Since(p.epoch))) // before the watchdog can see the connection
	p.setConn(conn)
	defer func() {
		p.connected.Store(false)
		p.setConn(nil)
		_ = conn.Close()
	}()
	stop := context.AfterFunc(ctx, func() { p.closeConn(closeStop) })
	defer stop()
	var lifeTimer *time.Timer
	if p.cfg.Churn > 0 {
		life := time.Duration(float64(p.cfg.Churn) * (0.5 + p.rng.Float64()))
		lifeTimer = time.AfterFunc(life, func() { p.closeConn(closeChurn) })
		defer lifeTimer.Stop()
	}
	if _, err := conn.Write(p.req); err != nil {
		return p.classify(ERead, err)
	}

	// Response head.
	n := 0
	var head []byte
	for {
		if n == len(p.buf) {
			return EBadResponse, fmt.Errorf("%w: response head over %d bytes", ErrBadResponse, len(p.buf))
		}
		m, err := conn.Read(p.buf[n:])
		if m > 0 && n == 0 {
			p.respAt = time.Now()
			p.sh.ttfb.Record(p.respAt.Sub(p.dialAt))
		}
		n += m
		if i := bytes.Index(p.buf[:n], []byte("\r\n\r\n")); i >= 0 {
			head = p.buf[:i+4]
			break
		}
		if err != nil {
			return p.classify(EBadResponse, err)
		}
	}
	h, err := parseRespHeader(head)
	if err != nil {
		return EBadResponse, err
	}
	if h.status != 200 {
		return EHTTPStatus, fmt.Errorf("status %d", h.status)
	}
	p.sh.counter[CConnects].Add(1)
	p.connected.Store(true)
	p.parser.Reset()
	p.gotKey, p.gotVideo, p.lengthSz, p.lastFrm = false, false, 4, time.Time{}
	p.lastFrame.Store(0)

	var dec chunkDecoder
	body := p.buf[len(head):n]
	p.now = time.Now()
	for {
		if len(body) > 0 {
			if kind, err := p.consume(body, h.chunked, &dec); err != nil {
				return kind, err
			}
		}
		m, err := conn.Read(p.buf)
		if m > 0 {
			p.now = time.Now()
			p.lastByte.Store(int64(p.now.Sub(p.epoch)))
			body = p.buf[:m]
		} else {
			body = nil
		}
		if err != nil {
			if m > 0 {
				if kind, err := p.consume(body, h.chunked, &dec); err != nil {
					return kind, err
				}
			}
			if errors.Is(err, io.EOF) {
				if p.parser.Mid() {
					return p.classify(ETruncated, io.ErrUnexpectedEOF)
				}
				return p.classify(EEnded, errEnded)
			}
			return p.classify(ERead, err)
		}
	}
}

// classify turns an error after hwbench closed the connection into a
// purposeful end (-1) or an idle timeout.
func (p *player) classify(kind ErrorKind, err error) (ErrorKind, error) {
	switch p.reason.Load() {
	case closeStop:
		return -1, nil
	case closeChurn:
		p.sh.counter[CChurnCloses].Add(1)
		return -1, nil
	case closeIdle:
		return EIdle, fmt.Errorf("no data for %v", p.cfg.Timeout)
	}
	return kind, err
}

// consume de-chunks b and feeds the FLV parser.
func (p *player) consume(b []byte, chunked bool, dec *chunkDecoder) (ErrorKind, error) {
	p.sh.counter[CBytes].Add(uint64(len(b))) // includes chunk framing: bytes on the wire
	if !chunked {
		return p.feed(b)
	}
	for len(b) > 0 {
		data, rest, err := dec.next(b)
		if len(data) > 0 {
			if kind, err := p.feed(data); err != nil {
				return kind, err
			}
		}
		if err != nil {
			if errors.Is(err, errChunkEnd) {
				if p.parser.Mid() {
					return p.classify(ETruncated, io.ErrUnexpectedEOF)
				}
				return p.classify(EEnded, errEnded)
			}
			return EBadResponse, err
		}
		b = rest
	}
	return 0, nil
}

func (p *player) feed(b []byte) (ErrorKind, error) {
	if err := p.parser.Feed(b, p); err != nil {
		switch {
		case errors.Is(err, ErrBadFLVHeader):
			return EBadFLVHeader, err
		case errors.Is(err, ErrBadPrevTagSize):
			return EBadPrevSize, err
		default:
			return EBadTag, err
		}
	}
	return 0, nil
}

var (
	errEnded      = errors.New("the server ended the stream")
	errBackwards  = errors.New("a tag's timestamp is lower than the previous one of its track")
	errNoKeyframe = errors.New("the first video frame of a connection is not a key frame")
)

// Tag implements TagHandler: per-tag statistics, without allocating.
func (p *player) Tag(t *TagInfo) {
	sh := p.sh
	sh.counter[CTags].Add(1)
	if t.Backwards {
		sh.counter[CBackwards].Add(1)
		sh.errs[EBackwards].Add(1)
		p.bench.noteError(EBackwards, errBackwards)
	}
	b := t.Prefix
	switch t.Type {
	case 9:
		if len(b) == 0 {
			return
		}
		frameType := b[0] >> 4
		var coded, key, avc bool
		if b[0]&0x80 != 0 { // enhanced RTMP: ExVideoTagHeader
			frameType &= 7
			pt := b[0] & 0x0f
			coded = pt == 1 || pt == 3
			key = coded && frameType == 1
		} else {
			codec := b[0] & 0x0f
			if len(b) < 2 && (codec == 7 || codec == 12) {
				return
			}
			switch {
			case codec == 7 || codec == 12:
				if b[1] == 0 && codec == 7 && len(b) >= 10 {
					p.lengthSz = int(b[9]&3) + 1 // AVCDecoderConfigurationRecord.lengthSizeMinusOne
				}
				coded = b[1] == 1
				avc = codec == 7
			default:
				coded = frameType != 5
			}
			key = coded && frameType == 1
		}
		if !coded {
			return
		}
		sh.counter[CVideoFrames].Add(1)
		if key {
			sh.counter[CKeyframes].Add(1)
		}
		if !p.gotVideo {
			p.gotVideo = true
			if !key {
				sh.errs[ENoKeyframe].Add(1)
				p.bench.noteError(ENoKeyframe, errNoKeyframe)
			}
		}
		if key && !p.gotKey {
			p.gotKey = true
			sh.ttff.Record(p.now.Sub(p.dialAt))
		}
		if avc && len(b) > 5 {
			if ts, ok := FindStamp(b[5:], p.lengthSz); ok {
				// A frame sent before the server answered this request
				// is part of the join burst (GOP cache, or a backlog
				// while the server was busy): its age is not latency.
				if ts < p.respAt.UnixNano() {
					sh.counter[CCached].Add(1)
				} else {
					sh.counter[CStamped].Add(1)
					sh.latency.Record(time.Duration(p.now.UnixNano() - ts))
				}
			}
		}
		p.frame(sh)
	case 8:
		if len(b) == 0 || (b[0]>>4 == 10 && len(b) >= 2 && b[1] == 0) {
			return // AAC sequence header
		}
		sh.counter[CAudioFrames].Add(1)
		if !p.gotVideo {
			// Until video shows up (some servers announce video in the
			// FLV header of an audio-only stream), audio measures stalls.
			p.frame(sh)
		}
	}
}

// frame records the arrival of a frame for stall detection.
func (p *player) frame(sh *shard) {
	if !p.lastFrm.IsZero() {
		gap := p.now.Sub(p.lastFrm)
		sh.gap.Record(gap)
		if gap > p.cfg.Stall {
			sh.counter[CStalls].Add(1)
			sh.counter[CStallMicros].Add(micros(gap))
		}
	}
	p.lastFrm = p.now
	p.lastFrame.Store(int64(p.now.Sub(p.epoch)))
}
