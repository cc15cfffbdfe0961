package registry

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/internal/stream"
)

// TestOnPublish: WithOnPublish's function is called once per stream going
// live (not for a backup joining, not for a refused publish), without
// any registry lock held: it may take a player handle at once.
func TestOnPublish(t *testing.T) {
	var (
		mu   sync.Mutex
		keys []Key
		subs []*Player
		r    *Registry
	)
	r = New(stream.DefaultConfig(), WithOnPublish(func(k Key) {
		p, err := r.PlayWith(k, PlayerInfo{Protocol: "record"}, nil) // takes Registry.mu: no lock is held
		require.NoError(t, err)
		_, err = p.Subscribe()
		require.NoError(t, err)
		mu.Lock()
		keys, subs = append(keys, k), append(subs, p)
		mu.Unlock()
	}))
	a, b := Key{App: "live", Name: "a"}, Key{App: "live", Name: "b"}
	pa, err := r.Publish(a, PublisherInfo{}, nil)
	require.NoError(t, err)
	_, err = r.Publish(a, PublisherInfo{}, nil)
	require.ErrorIs(t, err, ErrStreamBusy)
	backup, err := r.PublishAs(a, PublisherInfo{}, nil, RoleBackup)
	require.NoError(t, err)
	pb, err := r.Publish(b, PublisherInfo{}, nil)
	require.NoError(t, err)
	require.Equal(t, []Key{a, b}, keys)
	st, err := r.Stream(a)
	require.NoError(t, err)
	require.Equal(t, 1, st.Players)
	for _, p := range subs {
		p.Release()
	}
	backup.Release()
	pa.Release()
	pb.Release()
	require.Equal(t, Stats{}, r.Stats())
}
