package hwbench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"
)

// isHLS reports whether a play URL asks for HLS clients: an http:// or
// https:// URL whose path ends in .m3u8.
func isHLS(s string) bool {
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	scheme := strings.ToLower(u.Scheme)
	return (scheme == "http" || scheme == "https") && strings.HasSuffix(strings.ToLower(u.Path), ".m3u8")
}

// errFewSegments is gohlslib's error when a live playlist lists fewer
// segments than the client starts behind the live edge (3): a playlist
// that has just started. A real player waits for it to grow; so does an
// HLS player, within -timeout.
const errFewSegments = "there aren't enough segments to fill the buffer"

// hlsFewSegmentsRetry is how long an HLS player waits before it asks a
// too short playlist again.
const hlsFewSegmentsRetry = 250 * time.Millisecond

// hlsSyncRestart is how long a client must have played for an hls_sync
// failure to restart it at once in the same session; a faster failure
// backs off and reconnects like any error.
const hlsSyncRestart = time.Second

// hlsMaxIdleConns is the keep-alive connections an HLS player keeps (the
// video and audio playlists are fetched in parallel).
const hlsMaxIdleConns = 4

// hlsState is the per-session state of an HLS player that gohlslib's
// goroutines share: the HTTP round trips run concurrently (video and
// audio renditions), so it is atomic.
type hlsState struct {
	answered atomic.Bool  // the session's first response arrived (TTFB)
	status   atomic.Int32 // the last status other than 200/206, 0 if none
}

// hlsStop closes a channel once: hwbench's end of an HLS session (churn,
// end of run, idle). It does not block; playHLS then closes the client.
type hlsStop struct {
	once sync.Once
	ch   chan struct{}
}

func (s *hlsStop) Close() error {
	s.once.Do(func() { close(s.ch) })
	return nil
}

// countingConn counts the bytes read from a connection of an HLS player
// (HTTP heads and chunk framing included: bytes on the wire, as for
// HTTP-FLV) and tells the watchdog that data arrives.
type countingConn struct {
	net.Conn
	p *player
}

func (c countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.p.sh.counter[CBytes].Add(uint64(n))
		c.p.lastByte.Store(int64(time.Since(c.p.epoch)))
	}
	return n, err
}

// hlsRoundTripper records the first response of a session (TTFB, and the
// player counts as connected from its 200) and any refusal.
type hlsRoundTripper struct {
	p  *player
	st *hlsState
	rt http.RoundTripper
}

func (t *hlsRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	p := t.p
	ok := resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusPartialContent
	if !ok {
		t.st.status.Store(int32(resp.StatusCode))
	}
	if t.st.answered.CompareAndSwap(false, true) {
		p.sh.ttfb.Record(time.Since(p.dialAt))
		if ok {
			p.sh.counter[CConnects].Add(1)
			p.connected.Store(true)
		}
	}
	return resp, nil
}

// newHLSClient returns the HTTP client of one HLS session: its own
// connection pool (a player is one viewer: it shares no connection with
// the others), connections whose bytes are counted, every request bounded
// by -timeout; https:// certificates are not verified, as for HTTP-FLV.
func (p *player) newHLSClient(st *hlsState) (*http.Client, *http.Transport) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return countingConn{Conn: c, p: p}, nil
		},
		TLSClientConfig:       &tls.Config{InsecureSkipVerify: true},
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: p.cfg.Timeout,
		MaxIdleConnsPerHost:   hlsMaxIdleConns,
		DisableCompression:    true,
	}
	return &http.Client{Transport: &hlsRoundTripper{p: p, st: st, rt: tr}, Timeout: p.cfg.Timeout}, tr
}

// playHLS runs one HLS session with gohlslib's client: the multivariant
// playlist, the media playlists (polled, or LL-HLS blocking reloads of the
// preload hints), the init files and the segments or parts, the samples
// handed over at their presentation time. Like playOnce, it returns -1
// when hwbench ended the session on purpose, otherwise the error's kind.
func (p *player) playHLS(ctx context.Context) (ErrorKind, error) {
	p.reason.Store(closeNone)
	p.dialAt = time.Now()
	p.lastByte.Store(int64(p.dialAt.Sub(p.epoch))) // before the watchdog can see the session
	var st hlsState
	hc, tr := p.newHLSClient(&st)
	defer tr.CloseIdleConnections()
	stop := &hlsStop{ch: make(chan struct{})}
	p.setConn(stop)
	defer func() {
		p.connected.Store(false)
		p.setConn(nil)
	}()
	unhook := context.AfterFunc(ctx, func() { p.closeConn(closeStop) })
	defer unhook()
	if p.cfg.Churn > 0 {
		life := time.Duration(float64(p.cfg.Churn) * (0.5 + p.rng.Float64()))
		lifeTimer := time.AfterFunc(life, func() { p.closeConn(closeChurn) })
		defer lifeTimer.Stop()
	}
	p.gotKey, p.gotVideo, p.lastFrm = false, false, time.Time{}
	p.lastFrame.Store(0)
	for {
		started := time.Now()
		err := p.hlsClient(hc, stop.ch)
		if err == nil { // stopped by hwbench
			return p.classify(ERead, errors.New("stopped"))
		}
		if err.Error() == errFewSegments && time.Since(p.dialAt) < p.cfg.Timeout {
			select {
			case <-stop.ch:
				return p.classify(ERead, errors.New("stopped"))
			case <-time.After(hlsFewSegmentsRetry):
			}
			continue
		}
		kind := hlsEndKind(&st, err)
		if err.Error() == errFewSegments {
			kind, err = EIdle, fmt.Errorf("the playlist listed fewer than 3 segments for %v", p.cfg.Timeout)
		}
		if kind == EHLSSync && p.reason.Load() == closeNone && time.Since(started) >= hlsSyncRestart {
			// gohlslib's client gives up where a player would wait
			// (a reload that does not list the next segment yet):
			// counted, and a new client goes on in the same session,
			// at once, as a player seeking back to the live edge would.
			p.sh.errs[EHLSSync].Add(1)
			p.bench.noteError(EHLSSync, err)
			continue
		}
		return p.classify(kind, err)
	}
}

// hlsClient runs gohlslib's client until it fails (its error) or stop
// closes (nil).
func (p *player) hlsClient(hc *http.Client, stop <-chan struct{}) error {
	nop := func(string) {}
	c := &gohlslib.Client{URI: p.hlsURL, HTTPClient: hc,
		OnDownloadPrimaryPlaylist: nop, OnDownloadStreamPlaylist: nop, OnDownloadSegment: nop, OnDownloadPart: nop,
		OnDecodeError: func(err error) {
			// Non-fatal (MPEG-TS): counted, the client goes on.
			p.sh.errs[EBadTag].Add(1)
			p.bench.noteError(EBadTag, err)
		},
	}
	c.OnTracks = func(tracks []*gohlslib.Track) error {
		video := false
		for _, t := range tracks {
			switch t.Codec.(type) {
			case *codecs.H264, *codecs.H265:
				if !video {
					video = true
					h265 := false
					if _, ok := t.Codec.(*codecs.H265); ok {
						h265 = true
					}
					c.OnDataH26x(t, func(_, _ int64, au [][]byte) { p.hlsAccessUnit(au, h265) })
				}
			case *codecs.MPEG4Audio:
				c.OnDataMPEG4Audio(t, func(_ int64, aus [][]byte) { p.hlsAudio(len(aus)) })
			case *codecs.Opus:
				c.OnDataOpus(t, func(_ int64, packets [][]byte) { p.hlsAudio(len(packets)) })
			}
		}
		return nil
	}
	if err := c.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait2() }()
	select {
	case err := <-done:
		return err
	case <-stop:
		c.Close()
		<-done
		return nil
	}
}

// hlsAccessUnit takes one H.264 (or H.265) access unit from gohlslib's
// video track goroutine, at its presentation time: as a player shows
// frames, so the latency of a stamped frame is how far behind the live
// edge the viewer is. Frames before a session's first key frame cannot be
// shown (an LL-HLS client starts at the part being made, which rarely
// starts with one): they are counted, nothing else. It does not allocate.
func (p *player) hlsAccessUnit(au [][]byte, h265 bool) {
	p.now = time.Now()
	sh := p.sh
	sh.counter[CTags].Add(1)
	sh.counter[CVideoFrames].Add(1)
	key, stamped := false, false
	var ts int64
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		if h265 {
			if typ := n[0] >> 1 & 0x3f; typ >= 16 && typ <= 21 { // BLA, IDR, CRA
				key = true
			}
			continue
		}
		switch n[0] & 0x1f {
		case 5:
			key = true
		case naluSEI:
			if !stamped {
				ts, stamped = ParseStampNALU(n)
			}
		}
	}
	p.gotVideo = true
	if key {
		sh.counter[CKeyframes].Add(1)
		if !p.gotKey {
			p.gotKey = true
			sh.ttff.Record(p.now.Sub(p.dialAt))
		}
	}
	if !p.gotKey {
		return
	}
	if stamped {
		sh.counter[CStamped].Add(1)
		sh.latency.Record(time.Duration(p.now.UnixNano() - ts))
	}
	p.frame(sh)
}

// hlsAudio counts n audio frames from gohlslib's audio track goroutine.
func (p *player) hlsAudio(n int) {
	p.sh.counter[CTags].Add(uint64(n))
	p.sh.counter[CAudioFrames].Add(uint64(n))
}

// hlsEndKind classifies the error that ended gohlslib's client.
func hlsEndKind(st *hlsState, err error) ErrorKind {
	if errors.Is(err, gohlslib.ErrClientEOS) {
		return EEnded
	}
	if st.status.Load() != 0 && strings.HasPrefix(err.Error(), "bad status code") {
		return EHTTPStatus
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return EDial
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return EIdle
	}
	var errno syscall.Errno
	if errors.As(err, &ne) || errors.As(err, &errno) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return ERead
	}
	switch err.Error() {
	case "next segment not found or not ready yet", "playback is too late",
		"difference between DTS and RTC is too big", "preload hint disappeared":
		return EHLSSync
	}
	return EBadResponse // an unreadable playlist, init file, segment or part
}
