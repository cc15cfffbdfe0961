package hwbench

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/headwater-media/headwater/internal/rtmpclient"
	"github.com/headwater-media/headwater/pkg/flv"
)

// isRTMP reports whether a play URL asks for RTMP players.
func isRTMP(u string) bool {
	return len(u) >= len("rtmp://") && strings.EqualFold(u[:len("rtmp://")], "rtmp://")
}

// rtmpState is the per-connection state of an RTMP play session, owned by
// the player's goroutine.
type rtmpState struct {
	info   TagInfo // the message being handed to Tag, reused
	lastTS [2]uint32
	seenTS [2]bool
	read   uint64 // Player.BytesRead already added to CBytes
	first  bool   // a message has arrived on this connection
}

// playRTMP runs one RTMP play session: rtmpclient.Play (handshake,
// connect, createStream, play, until NetStream.Play.Start), then ReadTag
// until an error. Like playOnce, it returns -1 when hwbench ended the
// session on purpose, otherwise the error's kind.
func (p *player) playRTMP(ctx context.Context) (ErrorKind, error) {
	p.reason.Store(closeNone)
	p.dialAt = time.Now()
	rp, err := rtmpclient.Play(ctx, p.rtmpURL, rtmpclient.Options{Timeout: p.cfg.Timeout, MaxMessageSize: maxParserTagSize})
	if err != nil {
		if ctx.Err() != nil {
			return -1, nil
		}
		return rtmpSetupKind(err), err
	}
	// Play.Start: the equivalent of an HTTP response's first byte. Frames
	// stamped before it are the join burst.
	p.respAt = time.Now()
	p.lastByte.Store(int64(p.respAt.Sub(p.epoch))) // before the watchdog can see the session
	p.setConn(rp)
	defer func() {
		p.connected.Store(false)
		p.setConn(nil)
		_ = rp.Close()
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
	p.gotKey, p.gotVideo, p.lengthSz, p.lastFrm = false, false, 4, time.Time{}
	p.lastFrame.Store(0)
	p.rtmp = rtmpState{}
	for {
		t, err := rp.ReadTag()
		if err != nil {
			return p.classify(rtmpReadKind(err), err)
		}
		p.rtmpMessage(rp.BytesRead(), t)
	}
}

// rtmpMessage accounts for one message ReadTag returned (read is the
// connection's byte count after it) and hands it to Tag. It does not
// allocate.
func (p *player) rtmpMessage(read uint64, t flv.Tag) {
	p.now = time.Now()
	p.lastByte.Store(int64(p.now.Sub(p.epoch)))
	st := &p.rtmp
	p.sh.counter[CBytes].Add(read - st.read) // bytes on the wire: chunk headers, control messages and handshake included
	st.read = read
	if !st.first {
		st.first = true
		p.sh.ttfb.Record(p.now.Sub(p.dialAt))
	}
	info := &st.info
	*info = TagInfo{Type: t.Type, Timestamp: t.Timestamp, Size: len(t.Data), Prefix: t.Data[:min(len(t.Data), prefixCap)]}
	if t.Type == flv.TagAudio || t.Type == flv.TagVideo {
		k := t.Type & 1 // 0 audio, 1 video
		info.Backwards = st.seenTS[k] && t.Timestamp < st.lastTS[k]
		st.seenTS[k], st.lastTS[k] = true, t.Timestamp
	}
	p.Tag(info)
}

// rtmpSetupKind classifies a failed rtmpclient.Play.
func rtmpSetupKind(err error) ErrorKind {
	switch {
	case errors.Is(err, rtmpclient.ErrStreamNotFound), errors.Is(err, rtmpclient.ErrPlayFailed):
		return EPlayRefused
	case errors.Is(err, rtmpclient.ErrStreamEnded):
		return EEnded
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return EDial
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return EIdle // no answer to play within -timeout
	}
	return EBadResponse // handshake or set-up commands failed, or the server hung up
}

// rtmpReadKind classifies a failed ReadTag.
func rtmpReadKind(err error) ErrorKind {
	switch {
	case errors.Is(err, rtmpclient.ErrStreamEnded), errors.Is(err, io.EOF):
		return EEnded
	case errors.Is(err, io.ErrUnexpectedEOF):
		return ETruncated
	case errors.Is(err, rtmpclient.ErrStreamNotFound), errors.Is(err, rtmpclient.ErrPlayFailed):
		return EPlayRefused
	}
	var ne net.Error
	var errno syscall.Errno
	if errors.As(err, &ne) || errors.As(err, &errno) {
		return ERead
	}
	return EBadTag // a malformed chunk or message, or one over the size limit
}
