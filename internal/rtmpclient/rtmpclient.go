// Package rtmpclient is an RTMP client that plays one stream from an RTMP
// server and hands its audio, video and metadata over as FLV tags. headwater's
// edge mode pulls a stream from an origin with it, and its benchmark plays
// 1,000 streams at once with it, so reading a media message allocates
// nothing in the steady state.
//
// It is built on go-rtmp's lower layers (the patched copy in
// third_party/go-rtmp): handshake.HandshakeWithServer, rtmp.ChunkStreamer
// for chunks, with its size limits, and package message to encode commands
// and decode messages. go-rtmp's own ClientConn is not used: it cannot
// receive onStatus and panics on media.
//
// Goroutines and the connection. Play dials the connection and the Player
// owns it until Close. The caller's goroutine does all the reading (Play,
// then ReadTag); the replies the client owes the server (acknowledgements,
// ping responses) are written from inside ReadTag. go-rtmp's chunk streamer
// runs one writer goroutine per Player, which writes what ReadTag queues;
// Close stops it and waits for it. While Play waits for the server, a
// cancelled ctx closes the connection (context.AfterFunc: no goroutine
// unless it fires).
//
// Limits. Set-up (dial, handshake, connect, createStream, play until the
// server answers) has one overall deadline, Options.Timeout, that nothing
// the server sends moves. Afterwards every read of the socket has
// Options.ReadTimeout and every write Options.WriteTimeout. One message is
// at most Options.MaxMessageSize bytes, the messages being assembled at
// once at most MaxMessageSize+1 MiB, the chunk streams 64, a command the
// client decodes 64 KiB. Memory per Player is about 100 KiB (go-rtmp's
// 64 KiB scratch buffer, a 16 KiB read buffer) plus the largest message
// seen so far; go-rtmp keeps a chunk stream's buffer only up to 64 KiB.
// Bad input from the server is an error, never a panic.
package rtmpclient

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	rtmp "github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/handshake"
	"github.com/yutopp/go-rtmp/message"

	"github.com/headwater-media/headwater/pkg/flv"
)

// Options bound a Player.
type Options struct {
	// Timeout bounds dial, handshake, connect, createStream and play until
	// the server's answer (Play.Start or a failure). 0: 10 s.
	Timeout time.Duration
	// ReadTimeout fails ReadTag when the server sends nothing for this
	// long (0: no read deadline after play started).
	ReadTimeout time.Duration
	// WriteTimeout bounds every write (commands, acks, pongs). 0: 10 s.
	WriteTimeout time.Duration
	// MaxMessageSize caps one incoming message (0: 4 MiB; at most
	// 16 MiB - 1, the largest length RTMP can carry).
	MaxMessageSize uint32
	// BufferLength is the client buffer announced to the server with
	// SetBufferLength before play (0: 3 s, as ffmpeg).
	BufferLength time.Duration
	// TLSConfig is the TLS client configuration of rtmps:// URLs (nil:
	// the system's roots, the URL's host as the server name).
	TLSConfig *tls.Config
	// TCURLQuery, when set, is the query of connect's tcUrl
	// (rtmp://host:port/app?TCURLQuery): data for the server that stays
	// out of the stream name (servers such as ffmpeg -listen 1 refuse a
	// name other than the one they expect).
	TCURLQuery string
}

const (
	defaultTimeout        = 10 * time.Second
	defaultWriteTimeout   = 10 * time.Second
	defaultMaxMessageSize = 4 << 20
	defaultBufferLength   = 3 * time.Second
	maxMessageSizeLimit   = 1<<24 - 1 // the 24-bit message length field

	maxChunkStreams  = 64
	maxCommandSize   = 64 << 10 // a command or status the client decodes
	readBufferSize   = 16 << 10
	writeBufferSize  = 1 << 10
	defaultPort      = "1935"
	defaultTLSPort   = "443"   // rtmps://, as OBS and the big platforms use it
	clientWindowSize = 2500000 // the Window Acknowledgement Size sent after connect, as ffmpeg and librtmp do
	flashVer         = "LNX 9,0,124,2"
)

// Chunk streams the client writes on (ffmpeg's choice).
const (
	csidControl = 2 // protocol control and user control messages
	csidCommand = 3 // connect, createStream
	csidPlay    = 8 // play, publish
)

// Transaction IDs of the client's commands.
const (
	txConnect       = 1
	txCreateStream  = 2
	txReleaseStream = 3 // publish only; their answers are not waited for
	txFCPublish     = 4
)

var (
	// ErrStreamNotFound is the server's onStatus NetStream.Play.StreamNotFound.
	ErrStreamNotFound = errors.New("rtmp: stream not found")
	// ErrPlayFailed is a refusal: onStatus NetStream.Play.Failed (or any
	// onStatus at level error), or _error to connect or createStream. The
	// error wraps it with the server's description.
	ErrPlayFailed = errors.New("rtmp: play failed")
	// ErrStreamEnded is the server saying the stream ended:
	// NetStream.Play.UnpublishNotify, Play.Stop, Play.Complete, a User
	// Control StreamEOF for the stream, or the close or deleteStream
	// command (how ffmpeg -listen 1 ends). It is ReadTag's end of stream,
	// as io.EOF is a reader's; a server that just hangs up gives io.EOF.
	ErrStreamEnded = errors.New("rtmp: stream ended")

	// errMalformedAggregate is an aggregate whose sub-message runs past its end.
	errMalformedAggregate = errors.New("rtmp: malformed aggregate message")
	// errClosed is what a read or write returns after Close.
	errClosed = errors.New("rtmp: player closed")
)

// Player is one RTMP play session. Not safe for concurrent use, except
// Close, which may be called from any goroutine to abort ReadTag, and
// BytesRead.
type Player struct {
	nc net.Conn
	dc *deadlineConn
	br *bufio.Reader
	cs *rtmp.ChunkStreamer // nil until the handshake is done
	// csBase is how many bytes of br the handshake consumed before cs was
	// made: go-rtmp counts from there (see read).
	csBase    uint64
	ackTrapAt uint32 // go-rtmp's byte count at which its ack path panics

	// publish makes the set-up publish instead of play (Publish); set
	// before the set-up, read-only after.
	publish bool
	// handedOver is set once go-rtmp's writer has been handed over (a
	// started Publisher): the replies the client owes go to control.
	handedOver bool
	// control takes those replies once handedOver (Publisher.queue).
	control func(message.Message)

	// ctx is cancelled by Close; it ends waits for go-rtmp's chunk writers.
	ctx    context.Context
	cancel context.CancelFunc

	closeOnce sync.Once
	closeErr  error

	// Everything below belongs to the reading goroutine.

	opts     Options
	target   target
	state    int
	streamID uint32 // the message stream createStream gave
	cmsg     rtmp.ChunkMessage

	ackWindow uint32 // the server's Window Acknowledgement Size; 0: none yet
	lastAck   uint64 // bytes read when the last acknowledgement was sent

	buf []byte // the payload ReadTag returned last, reused

	// The rest of the aggregate message being split.
	agg               []byte
	aggBase, aggFirst uint32 // the aggregate's timestamp, its first sub-message's
	aggStarted        bool   // aggFirst is set
	early             []byte // a script tag that came before Play.Start
	hasEarly          bool
	err               error // sticky: what ended ReadTag
}

// States of a Player's set-up.
const (
	stateConnecting = iota // connect sent
	stateCreating          // createStream sent
	statePlaying           // play (or publish) sent, waiting for Play.Start (Publish.Start)
	stateStarted           // Play.Start (Publish.Start) received
)

// target is a parsed play URL.
type target struct {
	addr  string // host:port
	app   string
	name  string // the play name, with the URL's query
	tcURL string
	tls   bool   // rtmps://
	host  string // the URL's host, the TLS server name
}

// parseURL splits rtmp[s]://host[:port]/app/stream[?query]. As ffmpeg
// does, a path of three or more segments has a two-segment app
// (app/instance/stream) unless the second segment has a ':' (mp4:a/b).
func parseURL(raw string) (target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return target{}, fmt.Errorf("rtmp: bad URL: %w", err)
	}
	if u.Scheme != "rtmp" && u.Scheme != "rtmps" {
		return target{}, fmt.Errorf("rtmp: bad URL %q: scheme is not rtmp or rtmps", redactPath(raw))
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return target{}, fmt.Errorf("rtmp: bad URL %q: no host", redactPath(raw))
	}
	if port == "" {
		port = defaultPort
		if u.Scheme == "rtmps" {
			port = defaultTLSPort
		}
	}
	app, name, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if i := strings.IndexByte(name, '/'); i >= 0 && !strings.Contains(name[:i], ":") {
		app, name = app+"/"+name[:i], name[i+1:]
	}
	if app == "" || name == "" {
		return target{}, fmt.Errorf("rtmp: bad URL %q: want rtmp://host[:port]/app/stream", redactPath(raw))
	}
	if u.RawQuery != "" {
		name += "?" + u.RawQuery
	}
	addr := net.JoinHostPort(host, port)
	return target{addr: addr, app: app, name: name, tcURL: u.Scheme + "://" + addr + "/" + app,
		tls: u.Scheme == "rtmps", host: host}, nil
}

// redactPath is raw without its query (it may hold a token), for errors.
func redactPath(raw string) string {
	s, _, _ := strings.Cut(raw, "?")
	return s
}

// dial connects to t within ctx, with TLS for rtmps://.
func dial(ctx context.Context, t target, opts Options) (net.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, fmt.Errorf("rtmp: dial %s: %w", t.addr, err)
	}
	if !t.tls {
		return nc, nil
	}
	cfg := opts.TLSConfig.Clone()
	if cfg == nil {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = t.host
	}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("rtmp: TLS handshake with %s: %w", t.addr, err)
	}
	return tc, nil
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = defaultTimeout
	}
	if o.ReadTimeout < 0 {
		o.ReadTimeout = 0
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = defaultWriteTimeout
	}
	if o.MaxMessageSize == 0 {
		o.MaxMessageSize = defaultMaxMessageSize
	}
	o.MaxMessageSize = min(o.MaxMessageSize, maxMessageSizeLimit)
	if o.BufferLength <= 0 {
		o.BufferLength = defaultBufferLength
	}
	return o
}

// Play dials rawURL (rtmp://host[:port]/app/stream[?query]; port default
// 1935; the query stays part of the play name, like ffmpeg does), connects
// to app with tcUrl rtmp://host:port/app, createStream, sends
// SetBufferLength, plays the stream name (with its query), and returns once
// the server answered NetStream.Play.Start (or Play.Reset then Start). A
// ctx cancel aborts it. Errors: ErrStreamNotFound, ErrPlayFailed (with the
// server's description), ErrStreamEnded, ctx's error, or the I/O error
// (a timeout after Options.Timeout).
func Play(ctx context.Context, rawURL string, opts Options) (*Player, error) {
	return open(ctx, rawURL, opts, false, nil)
}

// open dials rawURL and runs the play or the publish set-up (see Play
// and Publish), then the caller's next step, then (if not nil), within
// the set-up's context and deadline. A ctx cancel aborts it all. On an error the connection is
// closed, and the error names the action and the stream, not its query
// (it may hold a token).
func open(ctx context.Context, rawURL string, opts Options, publish bool,
	then func(p *Player, setupCtx context.Context, setupBy time.Time) error) (*Player, error) {
	t, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	setupBy := time.Now().Add(opts.Timeout)
	dialCtx, cancel := context.WithDeadline(ctx, setupBy)
	defer cancel()
	nc, err := dial(dialCtx, t, opts)
	if err != nil {
		return nil, err
	}
	p := newPlayer(nc, opts, setupBy)
	p.target, p.publish = t, publish
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
	err = p.setUp()
	if err == nil && then != nil {
		err = then(p, dialCtx, setupBy)
	}
	if !stop() && err == nil {
		err = errClosed // ctx ended just as the set-up did; the connection is closing
	}
	if err != nil {
		_ = p.Close()
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = ctxErr
		}
		action := "play"
		if publish {
			action = "publish"
		}
		name, _, _ := strings.Cut(t.name, "?") // the query may hold a token
		return nil, fmt.Errorf("rtmp: %s %s/%s: %w", action, t.tcURL, name, err)
	}
	return p, nil
}

// newPlayer wraps nc. Until setupBy every read and write shares that
// deadline; a zero setupBy starts in the playing regime.
func newPlayer(nc net.Conn, opts Options, setupBy time.Time) *Player {
	dc := &deadlineConn{Conn: nc, readTimeout: opts.ReadTimeout, writeTimeout: opts.WriteTimeout}
	if !setupBy.IsZero() {
		dc.setupBy.Store(setupBy.UnixNano())
	}
	p := &Player{nc: nc, dc: dc, br: bufio.NewReaderSize(dc, readBufferSize), opts: opts}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	return p
}

// ackWindowNever is the peer acknowledgement window given to go-rtmp: its
// threshold, uint32(-2/2), is 2^32-1 bytes (see read).
const ackWindowNever = -2

// startStreamer makes the chunk streamer (and so its writer goroutine).
func (p *Player) startStreamer() {
	m := p.opts.MaxMessageSize
	cfg := &rtmp.StreamControlStateConfig{
		DefaultChunkSize:           rtmp.DefaultChunkSize,
		MaxChunkSize:               rtmp.MaxChunkSize,
		MaxChunkStreams:            maxChunkStreams,
		DefaultAckWindowSize:       ackWindowNever,
		MaxAckWindowSize:           math.MaxInt32,
		DefaultBandwidthWindowSize: math.MaxInt32,
		MaxBandwidthWindowSize:     math.MaxInt32,
		MaxMessageSize:             m,
		MaxMessageStreams:          maxChunkStreams,
		MaxPartialBytes:            m + 1<<20,
	}
	p.csBase = p.consumed()
	w := int32(ackWindowNever)
	p.ackTrapAt = uint32(w / 2) // as go-rtmp computes it
	p.cs = rtmp.NewChunkStreamer(p.br, bufio.NewWriterSize(p.dc, writeBufferSize), cfg)
}

// consumed is how many bytes have been taken out of br.
func (p *Player) consumed() uint64 { return p.dc.n.Load() - uint64(p.br.Buffered()) }

// setUp runs the handshake, connect, createStream and play.
func (p *Player) setUp() error {
	if err := handshake.HandshakeWithServer(p.br, p.dc, &handshake.Config{SkipHandshakeVerification: true}); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	p.startStreamer()
	if err := p.sendConnect(); err != nil {
		return err
	}
	for p.state != stateStarted {
		tag, ok, err := p.next()
		if err != nil {
			return err
		}
		// Media before Play.Start is dropped; metadata is kept for ReadTag.
		if ok && tag.Type == flv.TagScript {
			p.early = append(p.early[:0], tag.Data...)
			p.hasEarly = true
		}
	}
	return p.dc.playing()
}

// ReadTag returns the next audio, video or script (onMetaData /
// @setDataFrame's body) message as an FLV tag: Type flv.TagAudio, TagVideo
// or TagScript, Timestamp in ms (absolute, as the chunk stream carries it,
// including extended timestamps), Data the payload (for script: the AMF0
// data exactly as an FLV script tag body, starting with the AMF0 string
// "onMetaData"; an "@setDataFrame" prefix is dropped). Data is valid until
// the next ReadTag call. It handles control messages itself (Set Chunk
// Size, Window Acknowledgement Size, acknowledgements, ping requests, User
// Control events, onStatus) and splits aggregate messages into their
// sub-messages. It returns ErrStreamEnded when the server says the stream
// ended, or the read error; once it failed it returns that error again.
func (p *Player) ReadTag() (flv.Tag, error) {
	if p.err != nil {
		return flv.Tag{}, p.err
	}
	if p.hasEarly {
		p.hasEarly = false
		p.buf, p.early = p.early, p.buf
		return flv.Tag{Type: flv.TagScript, Data: p.buf}, nil
	}
	for {
		tag, ok, err := p.next()
		if err != nil {
			p.err = err
			return flv.Tag{}, err
		}
		if ok {
			return tag, nil
		}
	}
}

// BytesRead returns the bytes read from the connection so far. Safe from
// any goroutine.
func (p *Player) BytesRead() uint64 { return p.dc.n.Load() }

// Close closes the connection and waits for go-rtmp's writer goroutine; it
// is idempotent and safe from any goroutine. A ReadTag in progress returns
// an error.
func (p *Player) Close() error {
	p.closeOnce.Do(func() {
		p.cancel()
		p.closeErr = p.nc.Close()
		if p.cs != nil {
			_ = p.cs.Close()
			<-p.cs.Done()
		}
	})
	return p.closeErr
}

// write queues msg for go-rtmp's writer goroutine. The write itself is
// bounded by the connection's write deadline; a failed write ends the
// writer, which the next write or message read reports.
func (p *Player) write(csid int, msid uint32, msg message.Message) error {
	if p.handedOver {
		p.control(msg)
		return nil
	}
	if err := p.writerErr(); err != nil {
		return err
	}
	if err := p.cs.Write(p.ctx, csid, 0, &rtmp.ChunkMessage{StreamID: msid, Message: msg}); err != nil {
		return fmt.Errorf("rtmp: write: %w", err)
	}
	return nil
}

// writerErr reports why go-rtmp's writer goroutine ended, nil while it runs.
func (p *Player) writerErr() error {
	select {
	case <-p.cs.Done():
		if err := p.cs.Err(); err != nil {
			return fmt.Errorf("rtmp: write: %w", err)
		}
		return errClosed
	default:
		return nil
	}
}

// amfArgs is a command body of AMF0 values.
type amfArgs []any

func (a amfArgs) FromArgs(...any) error                      { return nil }
func (a amfArgs) ToArgs(message.EncodingType) ([]any, error) { return a, nil }

// command queues an AMF0 command.
func (p *Player) command(csid int, msid uint32, name string, tx int64, body message.AMFConvertible) error {
	var args bytes.Buffer
	if err := message.EncodeBodyAnyValues(message.NewAMFEncoder(&args, message.EncodingTypeAMF0), body); err != nil {
		return fmt.Errorf("rtmp: encode %s: %w", name, err)
	}
	return p.write(csid, msid, &message.CommandMessage{
		CommandName: name, TransactionID: tx, Encoding: message.EncodingTypeAMF0, Body: &args,
	})
}

func (p *Player) sendConnect() error {
	return p.command(csidCommand, 0, "connect", txConnect, &message.NetConnectionConnect{
		Command: message.NetConnectionConnectCommand{
			App:           p.target.app,
			FlashVer:      flashVer,
			TCURL:         p.tcURL(),
			Capabilities:  15,
			AudioCodecs:   4071, // the values ffmpeg and librtmp send
			VideoCodecs:   252,
			VideoFunction: 1,
		},
	})
}

func (p *Player) sendCreateStream() error {
	if err := p.write(csidControl, 0, &message.WinAckSize{Size: clientWindowSize}); err != nil {
		return err
	}
	if p.publish { // as ffmpeg and OBS: some servers (FMS, the platforms) want them
		if err := p.command(csidCommand, 0, "releaseStream", txReleaseStream, amfArgs{nil, p.target.name}); err != nil {
			return err
		}
		if err := p.command(csidCommand, 0, "FCPublish", txFCPublish, amfArgs{nil, p.target.name}); err != nil {
			return err
		}
	}
	return p.command(csidCommand, 0, "createStream", txCreateStream, &message.NetConnectionCreateStream{})
}

func (p *Player) sendPlay() error {
	ms := uint32(min(p.opts.BufferLength.Milliseconds(), math.MaxUint32))
	if err := p.write(csidControl, 0, &message.UserCtrl{
		Event: &message.UserCtrlEventSetBufferLength{StreamID: p.streamID, LengthMs: ms},
	}); err != nil {
		return err
	}
	// start -2: the live stream, else a recorded one (the spec's default).
	return p.command(csidPlay, p.streamID, "play", 0, amfArgs{nil, p.target.name, float64(-2)})
}

func (p *Player) sendPublish() error {
	return p.command(csidPlay, p.streamID, "publish", 0, amfArgs{nil, p.target.name, "live"})
}

// CheckURL reports whether raw is a URL Play and Publish take:
// rtmp[s]://host[:port]/app/stream[?query].
func CheckURL(raw string) error {
	_, err := parseURL(raw)
	return err
}

// tcURL is connect's tcUrl: the URL's, with Options.TCURLQuery.
func (p *Player) tcURL() string {
	if p.opts.TCURLQuery == "" {
		return p.target.tcURL
	}
	return p.target.tcURL + "?" + p.opts.TCURLQuery
}
