package edge

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/internal/registry"
)

// fakeDirectory answers every lookup with node (or err) and counts them.
type fakeDirectory struct {
	mu    sync.Mutex
	node  string
	err   error
	asked int
}

func (d *fakeDirectory) Lookup(context.Context, registry.Key) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.asked++
	return d.node, d.err
}

// TestDirectoryComesFirst: the node the directory names is tried before
// the origins; with only a directory the edge pulls too.
func TestDirectoryComesFirst(t *testing.T) {
	o := newFakeOrigin(t)
	empty := httptest.NewServer(http.NotFoundHandler())
	defer empty.Close()
	dir := &fakeDirectory{node: o.URL}
	cfg := testConfig()
	cfg.Directory = dir
	e, reg := newEdge(t, cfg, empty.URL)
	require.NoError(t, reg.Pull(context.Background(), key, ""))
	require.Equal(t, uint64(1), e.Counts().Pulls[ResultOK])
	require.Zero(t, e.Counts().Pulls[ResultNotFound], "the origin list was not needed")
	require.Equal(t, 1, dir.asked)
	require.Equal(t, uint64(1), e.Counts().Lookups)

	cfg.Directory = &fakeDirectory{node: o.URL}
	e2, reg2 := newEdge(t, cfg)
	require.NoError(t, reg2.Pull(context.Background(), key, ""), "a directory alone makes an edge")
	require.Equal(t, uint64(1), e2.Counts().Pulls[ResultOK])
}

// TestStaleDirectoryFallsThrough: a directory naming a node that is gone,
// or none, or failing, leaves the origins; without origins it is a 404.
func TestStaleDirectoryFallsThrough(t *testing.T) {
	o := newFakeOrigin(t)
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	deadURL := "http://" + dead.Addr().String()
	dead.Close()
	for _, dir := range []*fakeDirectory{{node: deadURL}, {err: registry.ErrNotFound}, {err: errors.New("redis down")}, {node: "ftp://x"}} {
		cfg := testConfig()
		cfg.Directory = dir
		_, reg := newEdge(t, cfg, o.URL)
		require.NoError(t, reg.Pull(context.Background(), key, ""), "%+v", dir)
	}
	cfg := testConfig()
	cfg.Directory = &fakeDirectory{node: deadURL}
	_, reg := newEdge(t, cfg)
	require.ErrorIs(t, reg.Pull(context.Background(), key, ""), registry.ErrNotFound)
}
