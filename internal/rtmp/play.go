package rtmp

import (
	"context"
	"errors"
	"net/url"
	"time"

	gortmp "github.com/yutopp/go-rtmp"
	rtmpmsg "github.com/yutopp/go-rtmp/message"

	"github.com/headwater-media/headwater/internal/auth"
	"github.com/headwater-media/headwater/internal/play"
	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/stream"
)

// ProtocolRTMP names RTMP players in the API and metrics.
const ProtocolRTMP = "rtmp"

// LimitPlayersPerStream names the players-per-stream limit in logs.
const LimitPlayersPerStream = "players_per_stream"

// player is one RTMP play session: a sink. OnPlay acquires its handle
// first, then hands go-rtmp's writer over (which can block on the socket)
// and starts its goroutine, which owns the handle from then on and
// releases it when it ends.
type player struct {
	cancel context.CancelFunc // ends the session: kick, deleteStream, close
	done   chan struct{}      // closed when the session's goroutine has returned
}

// OnPlay starts a play session on this connection, or refuses it with an
// error status (go-rtmp sends it, then the connection closes).
func (h *handler) OnPlay(sctx *gortmp.StreamContext, _ uint32, cmd *rtmpmsg.NetStreamPlay) error {
	if h.pub != nil || h.player != nil {
		return &gortmp.StatusError{Code: rtmpmsg.NetStreamOnStatusCodePlayFailed, Description: "already publishing or playing on this connection"}
	}
	name, query := registry.SplitQuery(cmd.StreamName)
	key, err := registry.NewKey(h.app, name)
	if err != nil {
		h.log.Warn().Str("app", h.app).Str("stream", name).Msg("play refused: bad name")
		return &gortmp.StatusError{Code: codePlayStreamNotFound, Description: err.Error(), Err: err}
	}
	remote := h.conn.RemoteAddr().String()
	areq := auth.Request{Action: auth.Play, App: key.App, Stream: key.Name, Query: query, IP: remoteIP(h.conn.RemoteAddr())}
	d, askHook := h.srv.auth.Gate(h.srv.baseCtx, h.srv.hooks, areq)
	if !d.Allow {
		h.srv.refusalLog(h.log).Warn().Str("app", key.App).Str("stream", key.Name).Str("reason", d.Reason).
			Msg("play refused: not authorized")
		return &gortmp.StatusError{Code: rtmpmsg.NetStreamOnStatusCodePlayFailed, Description: "not authorized: " + d.Reason}
	}
	// Take the reference before anything that can block. Kicking the
	// player (DELETE /api/v1/players/{id}) cancels its context.
	ctx, cancel := context.WithCancel(h.srv.baseCtx)
	q, _ := url.ParseQuery(query)
	via := q.Get(registry.ViaParam)
	info := registry.PlayerInfo{Remote: remote, UserAgent: h.encoder, Protocol: ProtocolRTMP, Relay: via != ""}
	p, err := h.srv.reg.PlayWith(key, info, cancel)
	if errors.Is(err, registry.ErrNotFound) {
		// Not live here: an edge pulls it from an origin (one pull for
		// every player asking), then it is an ordinary live stream.
		if perr := h.srv.reg.Pull(ctx, key, via); perr == nil {
			p, err = h.srv.reg.PlayWith(key, info, cancel)
		}
	}
	if err != nil {
		cancel()
		return h.playRefused(key, err)
	}
	handed := false
	defer func() {
		if !handed {
			p.Release()
			cancel()
		}
	}()
	// The on_play hook runs with the handle held; a denial releases it
	// (the deferred release above).
	ev := auth.HookEvent{App: key.App, Stream: key.Name, Query: query, ClientIP: areq.IP.String(),
		ClientID: p.ID(), Protocol: ProtocolRTMP}
	if askHook {
		if ok, why := h.srv.hooks.Decide(ctx, auth.Play, ev); !ok {
			h.srv.auth.Fail(areq, auth.ReasonHook)
			h.srv.refusalLog(h.log).Warn().Str("app", key.App).Str("stream", key.Name).Str("hook", why).
				Msg("play refused by the on_play hook")
			return &gortmp.StatusError{Code: rtmpmsg.NetStreamOnStatusCodePlayFailed, Description: "not authorized: " + why}
		}
	}
	sub, err := p.Subscribe()
	if err != nil {
		return &gortmp.StatusError{Code: codePlayStreamNotFound, Description: err.Error(), Err: err}
	}
	// From here on this package writes the connection: go-rtmp finishes
	// what it has queued (the createStream reply) and writes nothing more.
	hctx, hcancel := context.WithTimeout(ctx, h.srv.cfg.WriteTimeout)
	err = h.rtmpConn.GetChunkStreamer().HandOver(hctx)
	hcancel()
	if err != nil {
		return err // nothing can be written any more: the connection ends
	}
	h.conn.startPlaying()
	pl := &player{cancel: cancel, done: make(chan struct{})}
	h.player = pl
	handed = true
	go h.runPlayer(ctx, pl, p, sub, key, newFramer(sctx.StreamID, name), remote, ev)
	return nil
}

// playRefused is the error status for a refused play.
func (h *handler) playRefused(key registry.Key, err error) error {
	switch {
	case errors.Is(err, registry.ErrNotFound):
		h.log.Debug().Str("app", key.App).Str("stream", key.Name).Msg("play refused: stream not found")
		return &gortmp.StatusError{Code: codePlayStreamNotFound, Description: "stream not found", Err: err}
	case errors.Is(err, registry.ErrTooManyPlayers):
		h.srv.refusalLog(h.log).Warn().Str("limit", LimitPlayersPerStream).Str("app", key.App).Str("stream", key.Name).
			Msg("play refused: limit reached")
		return &gortmp.StatusError{Code: rtmpmsg.NetStreamOnStatusCodePlayFailed,
			Description: "too many players on this stream, retry later", Err: err}
	}
	return &gortmp.StatusError{Code: rtmpmsg.NetStreamOnStatusCodePlayFailed, Description: err.Error(), Err: err}
}

// runPlayer is a play session's goroutine. It owns p (released when it
// returns) and writes the connection through play's loop; when the loop
// ends (stream ended, kick, write failure, deleteStream, connection
// closed), it closes the connection, which ends go-rtmp's read loop and
// so the connection's goroutine. stopPlaying waits for it.
func (h *handler) runPlayer(ctx context.Context, pl *player, p *registry.Player, sub *stream.Subscriber, key registry.Key, f *framer, remote string, ev auth.HookEvent) {
	defer close(pl.done)
	defer h.srv.hooks.Notify(auth.OnStop, ev) // once per play session, after the handle is gone
	defer p.Release()
	defer pl.cancel()
	start := time.Now()
	log := h.srv.log.With().Str("remote", remote).Str("app", key.App).Str("stream", key.Name).Uint64("player_id", p.ID()).Logger()
	log.Info().Str("encoder", h.encoder).Msg("rtmp play start")
	res := play.NewSession(h.conn.Conn, f, h.srv.playCfg, p, h.srv.totals).Run(ctx, sub)
	_ = h.conn.Conn.Close()
	log.Info().Dur("duration", time.Since(start)).Int64("bytes", res.Sent).Int64("writes", res.Writes).
		Uint64("dropped", sub.Dropped()).Str("reason", res.Reason).Msg("rtmp play stop")
}

// stopPlaying ends the play session, if any, and waits for its goroutine.
func (h *handler) stopPlaying() {
	if h.player == nil {
		return
	}
	h.player.cancel()
	<-h.player.done
	h.player = nil
}
