package rtmp

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	gortmp "github.com/yutopp/go-rtmp"
	rtmpmsg "github.com/yutopp/go-rtmp/message"

	"github.com/headwater-media/headwater/internal/auth"
	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/stream"
	"github.com/headwater-media/headwater/pkg/flv"
)

// handler receives one RTMP connection's commands and media from go-rtmp.
// All its methods run on the connection's own goroutine (go-rtmp's message
// loop), so its fields need no lock; only kick runs elsewhere.
type handler struct {
	gortmp.DefaultHandler
	srv      *Server
	conn     *deadlineConn
	rtmpConn *gortmp.Conn // go-rtmp's connection (OnServe): its writer is handed over to a play session
	log      zerolog.Logger
	player   *player        // the play session, once OnPlay has started one
	hookEv   auth.HookEvent // the publish's, for on_unpublish

	app     string
	encoder string
	tcVia   string // the via chain in connect's tcUrl (a push relay's)
	pub     *registry.Publisher
	unclaim func()         // releases pub's cluster claim; nil without a cluster
	stream  *stream.Stream // pub's, for its statistics
	frames  uint64         // pub.Frames() when media last counted
	ended   *atomic.Bool   // set when pub's publish is over: its kick is stale then
	started time.Time
	badTags int
	endNow  bool      // the session broke a rule: its stream gets no grace
	rate    rateMeter // media bytes of the current publish, when MaxPublishBitrate is set
}

var _ gortmp.Handler = (*handler)(nil)

// lenReader is what go-rtmp's patched payload reader offers to size buffers.
type lenReader interface {
	io.Reader
	Len() int
}

// OnServe keeps go-rtmp's connection, whose writer a play session takes
// over.
func (h *handler) OnServe(c *gortmp.Conn) { h.rtmpConn = c }

func (h *handler) OnConnect(_ uint32, cmd *rtmpmsg.NetConnectionConnect) error {
	app := cmd.Command.App
	if _, err := registry.NewKey(app, "x"); err != nil {
		h.log.Warn().Str("app", app).Msg("connect refused: bad app name")
		return err
	}
	h.app = app
	h.encoder = cmd.Command.FlashVer
	// A push relay carries its via chain in the tcUrl's query.
	if _, q, ok := strings.Cut(cmd.Command.TCURL, "?"); ok {
		v, _ := url.ParseQuery(q)
		h.tcVia = v.Get(registry.ViaParam)
	}
	h.log.Debug().Str("app", app).Str("tc_url", auth.RedactURL(cmd.Command.TCURL)).Str("encoder", h.encoder).Msg("rtmp connect")
	return nil
}

func (h *handler) OnPublish(_ *gortmp.StreamContext, _ uint32, cmd *rtmpmsg.NetStreamPublish) error {
	if h.pub != nil {
		return &gortmp.StatusError{Code: rtmpmsg.NetStreamOnStatusCodePublishBadName, Description: "already publishing on this connection"}
	}
	if h.srv.cfg.RefusePublish {
		h.srv.refusalLog(h.log).Warn().Str("app", h.app).Msg("publish refused: publishing is off on this edge")
		return &gortmp.StatusError{Code: rtmpmsg.NetStreamOnStatusCodePublishFailed, Description: "publishing is off on this edge (edge.allow_publish: false)"}
	}
	name, query := registry.SplitQuery(cmd.PublishingName)
	key, err := registry.NewKey(h.app, name)
	if err != nil {
		h.log.Warn().Str("app", h.app).Str("stream", name).Msg("publish refused: bad name")
		return &gortmp.StatusError{Code: rtmpmsg.NetStreamOnStatusCodePublishBadName, Description: err.Error(), Err: err}
	}
	// Rules that decide at once run before the handle is taken: a refused
	// publisher never registers anything.
	areq := auth.Request{Action: auth.Publish, App: key.App, Stream: key.Name, Query: query, IP: remoteIP(h.conn.RemoteAddr())}
	d, askHook := h.srv.auth.Gate(h.srv.baseCtx, h.srv.hooks, areq)
	if !d.Allow {
		h.srv.refusalLog(h.log).Warn().Str("app", key.App).Str("stream", key.Name).Str("reason", d.Reason).
			Msg("publish refused: not authorized")
		return &gortmp.StatusError{Code: codePublishUnauthorized, Description: "not authorized: " + d.Reason}
	}
	// ?role=backup asks to be the standby of a live key (registry.RoleBackup).
	role := registry.RolePrimary
	q, _ := url.ParseQuery(query)
	if q.Get("role") == "backup" {
		role = registry.RoleBackup
	}
	via := q.Get(registry.ViaParam)
	if via == "" {
		via = h.tcVia
	}
	if h.srv.nodeID != "" && slices.Contains(registry.ViaHops(via), h.srv.nodeID) {
		h.srv.refusalLog(h.log).Warn().Str("app", key.App).Str("stream", key.Name).Str("via", via).
			Msg("publish refused: loop (a push that came through this node)")
		return &gortmp.StatusError{Code: rtmpmsg.NetStreamOnStatusCodePublishFailed,
			Description: "loop: this stream came through this node (" + registry.ViaParam + ")"}
	}
	// The kick can come as soon as PublishAs has registered the
	// publisher, before it returns, and while the claim or the hook runs:
	// it must end this publish whenever it comes, until the publish is
	// over (see kickFor).
	ended := new(atomic.Bool)
	kick := h.kickFor(ended)
	pub, err := h.srv.reg.PublishAs(key, registry.PublisherInfo{Kind: registry.KindRTMP,
		Remote: h.conn.RemoteAddr().String(), Encoder: h.encoder, Query: query, Via: via,
	}, kick, role)
	if errors.Is(err, registry.ErrTooManyStreams) {
		// Publish.Failed, not BadName: the name is fine and may be retried
		// later (encoders reconnect on it); BadName says the name is taken.
		// go-rtmp sends the status, then the connection ends.
		h.srv.refusalLog(h.log).Warn().Str("limit", LimitStreams).Str("app", key.App).Str("stream", key.Name).
			Msg("publish refused: limit reached")
		return &gortmp.StatusError{Code: rtmpmsg.NetStreamOnStatusCodePublishFailed,
			Description: "server busy: too many live streams, retry later", Err: err}
	}
	if err != nil {
		h.log.Warn().Str("app", key.App).Str("stream", key.Name).Err(err).Msg("publish refused")
		return &gortmp.StatusError{Code: rtmpmsg.NetStreamOnStatusCodePublishBadName, Description: err.Error(), Err: err}
	}
	// The cluster claim comes after the local handle (a local duplicate
	// was refused above without asking Redis) and before anything else
	// that can block; it is released with the handle on every path.
	unclaim := func() {}
	if h.srv.claimer != nil {
		claimed := time.Now()
		rel, err := h.srv.claimer.Claim(h.srv.baseCtx, key, kick)
		if err != nil {
			refused(pub)
			code := rtmpmsg.NetStreamOnStatusCodePublishFailed
			if errors.Is(err, registry.ErrStreamBusy) {
				code = rtmpmsg.NetStreamOnStatusCodePublishBadName
			}
			h.srv.refusalLog(h.log).Warn().Str("app", key.App).Str("stream", key.Name).Err(err).
				Msg("publish refused by the cluster directory")
			return &gortmp.StatusError{Code: code, Description: err.Error(), Err: err}
		}
		unclaim = rel
		h.log.Debug().Str("app", key.App).Str("stream", key.Name).Dur("took", time.Since(claimed)).Msg("cluster claim")
	}
	// The on_publish hook runs with the handle held (a stream cannot be
	// freed while it runs) and releases it when it denies.
	ev := auth.HookEvent{App: key.App, Stream: key.Name, Query: query, ClientIP: areq.IP.String(),
		ClientID: pub.ID(), Protocol: ProtocolRTMP}
	var ans auth.HookAnswer
	if askHook {
		var ok bool
		var why string
		if ok, why, ans = h.srv.hooks.DecideAnswer(h.srv.baseCtx, auth.Publish, ev); !ok {
			unclaim()
			refused(pub)
			h.srv.auth.Fail(areq, auth.ReasonHook)
			h.srv.refusalLog(h.log).Warn().Str("app", key.App).Str("stream", key.Name).Str("hook", why).
				Msg("publish refused by the on_publish hook")
			return &gortmp.StatusError{Code: codePublishUnauthorized, Description: "not authorized: " + why}
		}
	}
	st, err := pub.Stream()
	if err != nil { // released already (shutdown): nothing to publish into
		unclaim()
		refused(pub)
		return &gortmp.StatusError{Code: rtmpmsg.NetStreamOnStatusCodePublishFailed, Description: err.Error(), Err: err}
	}
	h.pub, h.unclaim, h.started, h.stream, h.frames = pub, unclaim, time.Now(), st, pub.Frames()
	h.hookEv = ev
	h.rate = rateMeter{start: h.started}
	h.ended = ended
	h.log = h.log.With().Str("app", key.App).Str("stream", key.Name).Uint64("stream_id", pub.ID()).Logger()
	h.conn.startPublishing()
	h.log.Info().Str("encoder", h.encoder).Bool("backup", pub.Backup() && !pub.Resumed()).Bool("resumed", pub.Resumed()).Msg("publish start")
	if h.srv.relays != nil && !pub.Backup() {
		h.srv.relays.Live(key, via, ans)
	}
	return nil
}

func (h *handler) OnSetDataFrame(ts uint32, data *rtmpmsg.NetStreamSetDataFrame) error {
	buf := make([]byte, flv.TagSize(len(data.Payload)))
	copy(buf[flv.TagHeaderSize:], data.Payload)
	return h.write(flv.TagScript, ts, buf)
}

func (h *handler) OnAudio(ts uint32, payload io.Reader) error {
	return h.media(flv.TagAudio, ts, payload)
}

func (h *handler) OnVideo(ts uint32, payload io.Reader) error {
	return h.media(flv.TagVideo, ts, payload)
}

// media reads the payload once into a buffer laid out as the FLV tag that
// every player will share.
func (h *handler) media(typ uint8, ts uint32, payload io.Reader) error {
	lr, ok := payload.(lenReader)
	if !ok {
		return fmt.Errorf("payload reader %T has no Len", payload)
	}
	n := lr.Len()
	if n == 0 {
		return nil // does not count as media for the media timeout
	}
	now := time.Now()
	if limit := h.srv.maxBitrate.Load(); limit > 0 && h.pub != nil {
		if bps := h.rate.add(now, n); bps > limit {
			h.srv.refusedBitrate.Add(1)
			h.endNow = true
			h.srv.refusalLog(h.log).Warn().Str("limit", LimitPublishBitrate).Int64("bitrate", bps).
				Int64("max", limit).Msg("publisher disconnected: limit exceeded")
			return fmt.Errorf("%w: %d bit/s over %d s, limit %d", errBitrate, bps, rateWindow, limit)
		}
	}
	buf := make([]byte, flv.TagSize(n))
	if _, err := io.ReadFull(lr, buf[flv.TagHeaderSize:flv.TagHeaderSize+n]); err != nil {
		return err
	}
	if err := h.write(typ, ts, buf); err != nil || h.pub == nil {
		return err
	}
	// Only coded frames count as media for the media timeout: a publisher
	// that repeats sequence headers, or sends malformed tags, is cut off.
	if f := h.pub.Frames(); f != h.frames {
		h.frames = f
		h.conn.gotMedia(now)
	}
	return nil
}

func (h *handler) write(typ uint8, ts uint32, buf []byte) error {
	if h.pub == nil {
		return nil
	}
	err := h.pub.Write(typ, ts, buf)
	if errors.Is(err, stream.ErrBadTag) {
		// A bad tag is the publisher's problem, not the stream's: skip it.
		h.badTags++
		h.log.Warn().Err(err).Uint8("type", typ).Int("bad_tags", h.badTags).Msg("skipping malformed tag")
		return nil
	}
	return err
}

// onMetaDataName is the AMF0 string "onMetaData", as it starts an FLV
// script tag.
const onMetaDataName = "\x02\x00\x0aonMetaData"

// OnUnknownDataMessage takes a bare onMetaData (sent without
// @setDataFrame, as some encoders do) as metadata, like SRS and nginx-rtmp;
// any other data message (|RtmpSampleAccess, onTextData, onCuePoint, ...)
// is ignored and counted.
func (h *handler) OnUnknownDataMessage(ts uint32, data *rtmpmsg.DataMessage) error {
	if data.Name != "onMetaData" || h.pub == nil {
		h.srv.ignored[ignoredData].Add(1)
		h.log.Info().Str("name", data.Name).Msg("ignored data message")
		return nil
	}
	body, err := io.ReadAll(data.Body) // within rtmp.max_message_size
	if err != nil {
		return err
	}
	buf := make([]byte, flv.TagSize(len(onMetaDataName)+len(body)))
	copy(buf[flv.TagHeaderSize+copy(buf[flv.TagHeaderSize:], onMetaDataName):], body)
	return h.write(flv.TagScript, ts, buf)
}

// OnUnknownCommandMessage ignores and counts a command headwater does not
// know (FCSubscribe, _checkbw, ...).
func (h *handler) OnUnknownCommandMessage(_ uint32, cmd *rtmpmsg.CommandMessage) error {
	if cmd.CommandName == "closeStream" && h.player != nil {
		h.stopPlaying() // a player's "stop": the session ends, then the connection
		return nil
	}
	h.srv.ignored[ignoredCommand].Add(1)
	h.log.Info().Str("command", cmd.CommandName).Msg("ignored command")
	return nil
}

// OnUnknownMessage ignores and counts a message of a type headwater does
// not handle (shared objects, AMF3, types the spec does not define): the
// RTMP spec lets a receiver skip them, and the chunk stream is intact.
func (h *handler) OnUnknownMessage(_ uint32, msg rtmpmsg.Message) error {
	if _, ok := msg.(*rtmpmsg.UnknownMessage); !ok {
		// A message go-rtmp knows and has nothing to do with in this state
		// (an acknowledgement, a user control event, media before publish).
		return nil
	}
	h.srv.ignored[ignoredType].Add(1)
	h.log.Warn().Uint8("type_id", uint8(msg.TypeID())).Msg("ignored message")
	return nil
}

func (h *handler) OnFCUnpublish(_ uint32, _ *rtmpmsg.NetStreamFCUnpublish) error {
	h.unpublish("unpublish", true)
	return nil
}

func (h *handler) OnDeleteStream(_ uint32, _ *rtmpmsg.NetStreamDeleteStream) error {
	h.unpublish("delete stream", true)
	h.stopPlaying()
	return nil
}

func (h *handler) OnClose() {
	h.unpublish("connection closed", false)
	h.stopPlaying()
}

// unpublish releases the stream (idempotent) and logs the session once. A
// publisher that just went away (clean: it said it stops) drops its
// stream into the registry's grace; one that said so, or broke a limit,
// ends it (see Config.GraceOnCleanStop).
func (h *handler) unpublish(reason string, clean bool) {
	if h.pub == nil {
		return
	}
	var bytesIn, dropped uint64
	if s, err := h.pub.Stream(); err == nil {
		bytesIn, dropped = s.BytesIn(), s.FramesDropped()
	}
	h.ended.Store(true) // a kick from now on is for an earlier publish
	grace := false
	if !h.endNow && (!clean || h.srv.cfg.GraceOnCleanStop) {
		grace = h.pub.Drop()
	} else {
		h.pub.Release()
	}
	// After the handle: this node never serves a key it no longer
	// claims. The claim is the publisher session's: a stream in its
	// grace is not held cluster-wide, and a resume claims it again.
	h.unclaim()
	h.pub, h.unclaim = nil, nil
	h.srv.hooks.Notify(auth.OnUnpublish, h.hookEv) // once per publish: pub is nil from here
	h.conn.stopPublishing()
	h.log.Info().Dur("duration", time.Since(h.started)).Uint64("bytes", bytesIn).
		Uint64("dropped", dropped).Int("bad_tags", h.badTags).Str("reason", reason).Bool("grace", grace).Msg("publish stop")
}

// refused lets go of a publisher refused after it took its handle (by the
// cluster or the on_publish hook): one that was to resume a stream in its
// grace gives it back to that grace (Publisher.Drop), so a refused
// publish cannot end a stream it was never allowed to write.
func refused(pub *registry.Publisher) {
	if pub.Resumed() {
		pub.Drop()
		return
	}
	pub.Release()
}

// errBitrate ends a publisher over Config.MaxPublishBitrate.
var errBitrate = errors.New("publish bitrate over the limit")

// rateWindow is how many whole seconds rateMeter averages over.
const rateWindow = 5

// rateMeter measures one publisher's media bytes per second in one-second
// buckets. Only the connection's goroutine uses it: no lock, no allocation
// and no timer per tag, and the average is only computed when a second has
// passed.
type rateMeter struct {
	start   time.Time // monotonic origin of the seconds
	sec     int64     // the second (since start) being filled
	buckets [rateWindow + 1]int64
}

// add counts n bytes at now. When now starts a new second, it returns the
// average bits/s over the rateWindow whole seconds before it (seconds
// before start count as zero, so a short burst at the start is not an
// excess); otherwise -1.
func (m *rateMeter) add(now time.Time, n int) int64 {
	const slots = rateWindow + 1
	sec := int64(now.Sub(m.start) / time.Second)
	avg := int64(-1)
	if sec > m.sec {
		// Seconds m.sec+1 .. sec had no bytes yet: clear their slots (all of
		// them after a gap of a whole window or more).
		for s := max(m.sec+1, sec-slots+1); s <= sec; s++ {
			m.buckets[s%slots] = 0
		}
		m.sec = sec
		var sum int64
		for s := sec - rateWindow; s < sec; s++ {
			if s >= 0 {
				sum += m.buckets[s%slots]
			}
		}
		avg = sum * 8 / rateWindow
	}
	m.buckets[m.sec%slots] += int64(n)
	return avg
}

// kickFor returns the kick of one publish: from any goroutine, it ends
// the connection unless that publish is over (ended: the connection may
// have unpublished and published another key since). The message loop
// then fails its read and OnClose releases the publisher.
func (h *handler) kickFor(ended *atomic.Bool) func() {
	return func() {
		if !ended.Load() {
			_ = h.conn.Conn.Close()
		}
	}
}
