package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Hook events, as the JSON's action.
const (
	OnPublish   = "on_publish"
	OnPlay      = "on_play"
	OnUnpublish = "on_unpublish"
	OnStop      = "on_stop"
	// OnRecordDone tells of a recorded file closed (Path, Duration,
	// Bytes set).
	OnRecordDone = "on_record_done"
)

// HookConfig configures the HTTP hooks; an empty URL is no hook.
type HookConfig struct {
	OnPublish, OnPlay, OnUnpublish, OnStop string
	OnRecordDone                           string
	// Timeout bounds one call, connection included.
	Timeout time.Duration
	// FailOpen allows when a hook cannot be reached, times out or fails
	// (5xx); a hook that answers 4xx still denies.
	FailOpen bool
}

// DefaultHookTimeout is hooks.timeout's default.
const DefaultHookTimeout = 3 * time.Second

// maxHookBody is the most of a hook's answer read.
const maxHookBody = 64 << 10

// maxNotifications bounds the after-the-fact calls (on_unpublish,
// on_stop) in flight; beyond it they are dropped and counted.
const maxNotifications = 1024

// HookEvent is the JSON body of every hook call.
type HookEvent struct {
	Action   string `json:"action"`
	App      string `json:"app"`
	Stream   string `json:"stream"`
	Query    string `json:"query"`
	ClientIP string `json:"client_ip"`
	ClientID uint64 `json:"client_id"`
	Protocol string `json:"protocol"`
	ServerID string `json:"server_id"`
	// Path, Duration (seconds) and Bytes describe a recorded file
	// (on_record_done only).
	Path     string  `json:"path,omitempty"`
	Duration float64 `json:"duration,omitempty"`
	Bytes    int64   `json:"bytes,omitempty"`
}

// Hooks calls the HTTP hooks. A hook that decides (on_publish, on_play)
// is called by the session's own goroutine, after it has taken its handle,
// so the stream cannot be freed while the hook runs; only that session
// waits. After-the-fact hooks (on_unpublish, on_stop) run in goroutines
// of their own that Wait waits for. Safe for concurrent use.
type Hooks struct {
	cfg    atomic.Pointer[HookConfig]
	client *http.Client
	server string // this node's id, in every event

	inflight sync.WaitGroup
	pending  atomic.Int64
	dropped  atomic.Uint64
	failed   atomic.Uint64
}

// NewHooks returns hooks for cfg, naming this node serverID.
func NewHooks(cfg HookConfig, serverID string) *Hooks {
	h := &Hooks{server: serverID, client: &http.Client{
		// Redirects are not followed: a 3xx is an answer like any non-2xx.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second},
	}}
	h.SetConfig(cfg)
	return h
}

// SetConfig replaces the configuration (SIGHUP).
func (h *Hooks) SetConfig(cfg HookConfig) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultHookTimeout
	}
	h.cfg.Store(&cfg)
}

// Has reports whether a deciding hook is set for action (Publish or Play).
func (h *Hooks) Has(action string) bool {
	if h == nil {
		return false
	}
	return h.url(actionHook(action)) != ""
}

func actionHook(action string) string {
	if action == Play {
		return OnPlay
	}
	return OnPublish
}

func (h *Hooks) url(event string) string {
	c := h.cfg.Load()
	switch event {
	case OnPublish:
		return c.OnPublish
	case OnPlay:
		return c.OnPlay
	case OnUnpublish:
		return c.OnUnpublish
	case OnStop:
		return c.OnStop
	case OnRecordDone:
		return c.OnRecordDone
	}
	return ""
}

// ReasonHook is the denial reason of a deciding hook.
const ReasonHook = "hook"

// Decide calls action's hook with ev (its Action set here) and returns
// the decision: a 2xx allows; any other status, a timeout or a
// connection error denies, unless FailOpen and the hook could not answer
// (no answer, 5xx). The reason the hook gave ({"reason": ...}) is
// returned for the log.
func (h *Hooks) Decide(ctx context.Context, action string, ev HookEvent) (allow bool, why string) {
	allow, why, _ = h.DecideAnswer(ctx, action, ev)
	return allow, why
}

// HookAnswer is what a deciding hook's 2xx JSON answer may carry besides
// its reason: for on_publish, the stream's push relays (docs/relay.md).
type HookAnswer struct {
	// Push, when set (PushSet, even to an empty list), replaces the push
	// URL templates relay.push and relay.streams give the stream.
	Push    []string
	PushSet bool
	// StreamKey is the value of {stream_key} in the stream's push
	// templates.
	StreamKey string
}

// DecideAnswer is Decide, with the answer's push fields when the hook
// allowed with a 2xx (else a zero HookAnswer).
func (h *Hooks) DecideAnswer(ctx context.Context, action string, ev HookEvent) (allow bool, why string, ans HookAnswer) {
	ev.Action = actionHook(action)
	status, body, err := h.call(ctx, h.url(ev.Action), ev)
	reason := body.Reason
	cfg := h.cfg.Load()
	switch {
	case err != nil:
		h.failed.Add(1)
		return cfg.FailOpen, "hook unreachable: " + err.Error(), ans
	case status >= 200 && status < 300:
		if body.Push != nil {
			ans.Push, ans.PushSet = *body.Push, true
		}
		ans.StreamKey = body.StreamKey
		return true, reason, ans
	case status >= 500:
		h.failed.Add(1)
		return cfg.FailOpen, fmt.Sprintf("hook answered %d %s", status, reason), ans
	}
	return false, fmt.Sprintf("hook answered %d %s", status, reason), ans
}

// Notify calls event's hook (OnUnpublish, OnStop, OnRecordDone) in the background, if
// set. At most maxNotifications are in flight; beyond, the call is
// dropped and counted.
func (h *Hooks) Notify(event string, ev HookEvent) {
	if h == nil {
		return
	}
	u := h.url(event)
	if u == "" {
		return
	}
	if h.pending.Add(1) > maxNotifications {
		h.pending.Add(-1)
		h.dropped.Add(1)
		return
	}
	ev.Action = event
	h.inflight.Add(1)
	go func() {
		defer h.inflight.Done()
		defer h.pending.Add(-1)
		if _, _, err := h.call(context.Background(), u, ev); err != nil {
			h.failed.Add(1)
		}
	}()
}

// Wait waits for the after-the-fact calls in flight (each bounded by the
// timeout), or for ctx.
func (h *Hooks) Wait(ctx context.Context) error {
	if h == nil {
		return nil
	}
	done := make(chan struct{})
	go func() { h.inflight.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// CloseIdle closes the hook client's idle keep-alive connections (at
// shutdown, after Wait: nothing is in flight).
func (h *Hooks) CloseIdle() {
	if h != nil {
		h.client.CloseIdleConnections()
	}
}

// HookCounts is what the hooks counted.
type HookCounts struct {
	Failed  uint64 // calls that got no answer, a timeout or a 5xx
	Dropped uint64 // notifications dropped over maxNotifications
}

// Counts returns the counts (atomics).
func (h *Hooks) Counts() HookCounts {
	return HookCounts{Failed: h.failed.Load(), Dropped: h.dropped.Load()}
}

// hookBody is a hook's JSON answer: every field optional.
type hookBody struct {
	Reason    string    `json:"reason"`
	Push      *[]string `json:"push"`
	StreamKey string    `json:"stream_key"`
}

// call POSTs ev to u within the timeout and returns the status and the
// answer's JSON, reading at most maxHookBody.
func (h *Hooks) call(ctx context.Context, u string, ev HookEvent) (int, hookBody, error) {
	ev.ServerID = h.server
	body, err := json.Marshal(ev)
	if err != nil {
		return 0, hookBody{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Load().Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, hookBody{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "headwater-hook")
	resp, err := h.client.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return 0, hookBody{}, fmt.Errorf("timed out after %v", h.cfg.Load().Timeout)
		}
		return 0, hookBody{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxHookBody))
	var answer hookBody
	_ = json.Unmarshal(b, &answer)
	return resp.StatusCode, answer, nil
}
