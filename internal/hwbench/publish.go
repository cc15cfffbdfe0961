package hwbench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	rtmp "github.com/yutopp/go-rtmp"
	rtmpmsg "github.com/yutopp/go-rtmp/message"

	"github.com/headwater-media/headwater/pkg/flv"
)

// rtmpTarget is a parsed rtmp://host[:port]/app/stream[?query] URL.
type rtmpTarget struct {
	addr   string // host:port
	app    string
	stream string // publishing name, with the query if any
	tcURL  string // rtmp://host[:port]/app
}

func parseRTMPURL(s string) (rtmpTarget, error) {
	u, err := url.Parse(s)
	if err != nil {
		return rtmpTarget{}, err
	}
	if u.Scheme != "rtmp" || u.Host == "" {
		return rtmpTarget{}, fmt.Errorf("%q: want rtmp://host[:port]/app/stream", s)
	}
	app, name, ok := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if !ok || app == "" || name == "" {
		return rtmpTarget{}, fmt.Errorf("%q: want rtmp://host[:port]/app/stream", s)
	}
	t := rtmpTarget{addr: u.Host, app: app, stream: name, tcURL: "rtmp://" + u.Host + "/" + app}
	if u.Port() == "" {
		t.addr = net.JoinHostPort(u.Hostname(), "1935")
	}
	if u.RawQuery != "" {
		t.stream += "?" + u.RawQuery
	}
	return t, nil
}

// publisher publishes one input to one RTMP URL at real-time pace, looping
// with continuous timestamps, reconnecting after failures.
type publisher struct {
	target     rtmpTarget
	in         *Input
	sh         *shard
	startDelay time.Duration
	stamper    Stamper

	ready     chan error   // the first session's setup result (buffered, one value)
	readyOnce sync.Once    // guards the send on ready
	keyframes atomic.Int64 // video key frames sent, over all sessions
	live      atomic.Bool  // a session is publishing

	errMu   sync.Mutex // guards lastErr
	lastErr error
}

func newPublisher(target rtmpTarget, in *Input, sh *shard, delay time.Duration) *publisher {
	return &publisher{target: target, in: in, sh: sh, startDelay: delay,
		stamper: Stamper{LengthSize: in.LengthSize}, ready: make(chan error, 1)}
}

func (p *publisher) setReady(err error) {
	p.readyOnce.Do(func() { p.ready <- err })
}

func (p *publisher) noteErr(err error) {
	p.sh.errs[EPublish].Add(1)
	p.errMu.Lock()
	p.lastErr = err
	p.errMu.Unlock()
}

// run publishes until ctx is done.
func (p *publisher) run(ctx context.Context) {
	if !SleepCtx(ctx, p.startDelay) {
		p.setReady(ctx.Err())
		return
	}
	for {
		err := p.session(ctx)
		if ctx.Err() != nil {
			p.setReady(ctx.Err())
			return
		}
		p.noteErr(err)
		p.setReady(err)
		if !SleepCtx(ctx, time.Second) {
			return
		}
	}
}

// statusHook picks the onStatus commands out of go-rtmp's client log: the
// client does not decode onStatus and logs it as an unknown command.
type statusHook struct{ ch chan string }

func (h statusHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h statusHook) Fire(e *logrus.Entry) error {
	if strings.Contains(e.Message, "Name = onStatus") {
		select {
		case h.ch <- e.Message:
		default:
		}
	}
	return nil
}

// setupTimeout bounds connect, handshake and publish.
const setupTimeout = 10 * time.Second

// session runs one RTMP connection: connect, publish, send until ctx is
// done or a write fails.
func (p *publisher) session(ctx context.Context) error {
	d := net.Dialer{Timeout: 5 * time.Second}
	raw, err := d.DialContext(ctx, "tcp", p.target.addr)
	if err != nil {
		return fmt.Errorf("dial %s: %w", p.target.addr, err)
	}
	defer raw.Close()
	stop := context.AfterFunc(ctx, func() { _ = raw.Close() })
	defer stop()
	_ = raw.SetDeadline(time.Now().Add(setupTimeout))

	log := logrus.New()
	log.Out = io.Discard
	log.Level = logrus.WarnLevel
	status := make(chan string, 4)
	log.AddHook(statusHook{status})

	// go-rtmp's Connect and CreateStream wait for the server's answer
	// without a timeout; the setup steps run aside so that a mute server
	// fails the session instead of hanging it (the helper goroutine then
	// stays blocked until the process exits).
	type setup struct {
		cc  *rtmp.ClientConn
		s   *rtmp.Stream
		err error
	}
	done := make(chan setup, 1)
	go func() {
		var r setup
		r.cc, r.err = rtmp.NewClientConn(raw, &rtmp.ConnConfig{Logger: log})
		if r.err == nil {
			r.err = r.cc.Connect(&rtmpmsg.NetConnectionConnect{Command: rtmpmsg.NetConnectionConnectCommand{
				App: p.target.app, Type: "nonprivate", FlashVer: "FMLE/3.0 (compatible; hwbench)", TCURL: p.target.tcURL}})
		}
		if r.err == nil {
			r.s, r.err = r.cc.CreateStream(nil, 4096)
		}
		if r.err == nil {
			r.err = r.s.Publish(&rtmpmsg.NetStreamPublish{PublishingName: p.target.stream, PublishingType: "live"})
		}
		done <- r
	}()
	var r setup
	select {
	case r = <-done:
	case <-time.After(setupTimeout):
		r.err = errors.New("no answer to connect/createStream")
	case <-ctx.Done():
		r.err = ctx.Err()
	}
	if r.cc != nil {
		defer r.cc.Close()
	}
	if r.err != nil {
		return fmt.Errorf("publish %s/%s: %w", p.target.app, p.target.stream, r.err)
	}
	// Wait for onStatus; servers that do not send one are given the benefit of the doubt.
	select {
	case msg := <-status:
		if !strings.Contains(msg, "NetStream.Publish.Start") {
			return fmt.Errorf("publish %s/%s refused: %s", p.target.app, p.target.stream, statusText(msg))
		}
	case <-time.After(3 * time.Second):
	case <-ctx.Done():
		return ctx.Err()
	}
	_ = raw.SetDeadline(time.Time{})
	p.live.Store(true)
	defer p.live.Store(false)
	p.setReady(nil)
	return p.send(ctx, r.s)
}

// statusText extracts the code of a logged onStatus.
func statusText(msg string) string {
	if i := strings.Index(msg, "code:"); i >= 0 {
		code, _, _ := strings.Cut(msg[i+5:], " ")
		return code
	}
	return msg
}

// send writes headers once, then the media in a loop, paced by timestamp.
func (p *publisher) send(ctx context.Context, s *rtmp.Stream) error {
	var rd bytes.Reader
	audio := &rtmpmsg.AudioMessage{Payload: &rd}
	video := &rtmpmsg.VideoMessage{Payload: &rd}
	in := p.in
	if in.Metadata != nil {
		rd.Reset(in.Metadata)
		if err := s.Write(4, 0, &rtmpmsg.DataMessage{Name: "@setDataFrame", Encoding: rtmpmsg.EncodingTypeAMF0, Body: &rd}); err != nil {
			return err
		}
	}
	if in.AudioHeader != nil {
		rd.Reset(in.AudioHeader)
		if err := s.Write(4, 0, audio); err != nil {
			return err
		}
	}
	if in.VideoHeader != nil {
		rd.Reset(in.VideoHeader)
		if err := s.Write(5, 0, video); err != nil {
			return err
		}
	}
	start := time.Now()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for loop := time.Duration(0); ; loop += in.Period {
		for i := range in.Media {
			m := &in.Media[i]
			at := loop + time.Duration(m.Timestamp)*time.Millisecond
			if wait := at - time.Since(start); wait > 0 {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-ctx.Done():
					return ctx.Err()
				}
			} else if ctx.Err() != nil {
				return ctx.Err()
			}
			now := time.Now()
			if late := now.Sub(start) - at; late > 0 {
				storeMax(&p.sh.counter[CPublishLagMicros], micros(late))
			}
			ts := uint32(at / time.Millisecond)
			var err error
			if m.Type == flv.TagVideo {
				payload, _ := p.stamper.Stamp(m.Payload, now.UnixNano())
				rd.Reset(payload)
				err = s.Write(5, ts, video)
			} else {
				rd.Reset(m.Payload)
				err = s.Write(4, ts, audio)
			}
			if err != nil {
				return fmt.Errorf("write: %w", err)
			}
			p.sh.counter[CPublishedTags].Add(1)
			p.sh.counter[CPublishedBytes].Add(uint64(rd.Size()))
			if m.Keyframe {
				p.keyframes.Add(1)
			}
		}
	}
}

// SleepCtx sleeps for d or until ctx is done; it reports whether it slept fully.
func SleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
