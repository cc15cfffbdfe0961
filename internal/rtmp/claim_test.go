package rtmp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	rtmpmsg "github.com/yutopp/go-rtmp/message"

	"github.com/headwater-media/headwater/internal/auth"
	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/stream"
)

// fakeClaimer records claims; err, when set, refuses them.
type fakeClaimer struct {
	mu       sync.Mutex
	err      error
	held     map[registry.Key]int
	lost     func()
	asked    int
	released int
	// published: whether the key had its local publisher when Claim ran.
	reg       *registry.Registry
	published []bool
}

func (c *fakeClaimer) Claim(_ context.Context, key registry.Key, lost func()) (func(), error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.asked++
	_, err := c.reg.Stream(key)
	c.published = append(c.published, err == nil)
	if c.err != nil {
		return nil, c.err
	}
	c.held[key]++
	c.lost = lost
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.held[key]--
			c.released++
		})
	}, nil
}

func newClaimHandler(t testing.TB, reg *registry.Registry, c *fakeClaimer) *handler {
	h := newTestHandler(t, reg)
	h.srv = NewServer(DefaultConfig(), reg, zerolog.Nop(), WithClaimer(c))
	return h
}

// TestPublishClaimsItsKey: the claim is asked with the local handle held
// (a local duplicate is refused without asking), another node's claim is
// BadName like a local duplicate, a directory that cannot be asked is
// Publish.Failed, and the claim is released with the handle.
func TestPublishClaimsItsKey(t *testing.T) {
	reg := registry.New(stream.DefaultConfig())
	c := &fakeClaimer{held: map[registry.Key]int{}, reg: reg}
	first := newClaimHandler(t, reg, c)
	require.NoError(t, connect(t, first, "live"))
	require.NoError(t, publish(first, "a"))
	require.Equal(t, []bool{true}, c.published, "claimed with the local handle held")
	require.Equal(t, 1, c.held[registry.Key{App: "live", Name: "a"}])

	dup := newClaimHandler(t, reg, c)
	require.NoError(t, connect(t, dup, "live"))
	require.ErrorIs(t, publish(dup, "a"), registry.ErrStreamBusy)
	require.Equal(t, 1, c.asked, "a local duplicate is refused locally")

	c.err = fmt.Errorf("%w on another node", registry.ErrStreamBusy)
	other := newClaimHandler(t, reg, c)
	require.NoError(t, connect(t, other, "live"))
	err := publish(other, "b")
	require.Equal(t, rtmpmsg.NetStreamOnStatusCodePublishBadName, statusCode(t, err))
	_, err = reg.Stream(registry.Key{App: "live", Name: "b"})
	require.ErrorIs(t, err, registry.ErrNotFound, "the local handle was released")

	c.err = errors.New("cluster directory (Redis) unreachable")
	down := newClaimHandler(t, reg, c)
	require.NoError(t, connect(t, down, "live"))
	err = publish(down, "c")
	require.Equal(t, rtmpmsg.NetStreamOnStatusCodePublishFailed, statusCode(t, err))
	require.Contains(t, err.Error(), "unreachable")

	first.OnClose()
	require.Equal(t, 0, c.held[registry.Key{App: "live", Name: "a"}])
	require.Equal(t, 1, c.released)
	first.OnClose() // idempotent
	require.Equal(t, 1, c.released)
	for _, h := range []*handler{dup, other, down} {
		h.OnClose()
	}
	require.Equal(t, registry.Stats{}, reg.Stats())
}

// TestLostClaimKicksThePublisher: a claim lost to another node ends the
// publishing connection (its OnClose then releases the handle and claim).
func TestLostClaimKicksThePublisher(t *testing.T) {
	reg := registry.New(stream.DefaultConfig())
	c := &fakeClaimer{held: map[registry.Key]int{}, reg: reg}
	h := newClaimHandler(t, reg, c)
	require.NoError(t, connect(t, h, "live"))
	require.NoError(t, publish(h, "a"))
	c.lost()
	_, err := h.conn.Write([]byte{0})
	require.Error(t, err, "the connection is closed")
	h.OnClose()
	require.Equal(t, 1, c.released)
	require.Equal(t, registry.Stats{}, reg.Stats())
}

// TestHookDenialReleasesTheClaim: the on_publish hook runs after the
// claim; its denial releases the claim with the handle.
func TestHookDenialReleasesTheClaim(t *testing.T) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusForbidden) }))
	defer hook.Close()
	reg := registry.New(stream.DefaultConfig())
	c := &fakeClaimer{held: map[registry.Key]int{}, reg: reg}
	a, err := auth.New(auth.Config{})
	require.NoError(t, err)
	hooks := auth.NewHooks(auth.HookConfig{OnPublish: hook.URL, Timeout: 2 * time.Second}, "node")
	defer hooks.CloseIdle()
	h := newTestHandler(t, reg)
	h.srv = NewServer(DefaultConfig(), reg, zerolog.Nop(), WithClaimer(c), WithAuth(a, hooks))
	require.NoError(t, connect(t, h, "live"))
	err = publish(h, "a")
	require.Equal(t, codePublishUnauthorized, statusCode(t, err))
	require.Equal(t, 1, c.asked, "claimed before the hook")
	require.Equal(t, 1, c.released)
	require.Equal(t, 0, c.held[registry.Key{App: "live", Name: "a"}])
	h.OnClose()
	require.Equal(t, 1, c.released)
	require.Equal(t, registry.Stats{}, reg.Stats())
}
