package registry

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/headwater-media/headwater/internal/stream"
	st "github.com/headwater-media/headwater/internal/stream/streamtest"
	"github.com/headwater-media/headwater/pkg/flv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newTestRegistry() *Registry { return New(stream.DefaultConfig()) }

var testKey = Key{App: "live", Name: "s"}

func requireEmpty(t *testing.T, r *Registry) {
	t.Helper()
	require.Equal(t, Stats{}, r.Stats(), "registry must be empty")
}

func TestNewKey(t *testing.T) {
	for _, tc := range []struct {
		app, name string
		ok        bool
	}{
		{"live", "mystream", true},
		{"a", "A-b_c.9", true},
		{"live", "..", false},
		{"live", ".", false},
		{"..", "x", false},
		{"", "x", false},
		{"live", "", false},
		{"live", "a/b", false},
		{"live", "a b", false},
		{"live", "é", false},
		{"live", "a%2e", false},
		{"live", string(make([]byte, 129)), false},
		{"live", fmt.Sprintf("%0128d", 0), true},
	} {
		_, err := NewKey(tc.app, tc.name)
		if tc.ok {
			require.NoError(t, err, "%q/%q", tc.app, tc.name)
		} else {
			require.ErrorIs(t, err, ErrBadName, "%q/%q", tc.app, tc.name)
		}
	}
	name, q := SplitQuery("key?token=abc&x=1")
	require.Equal(t, "key", name)
	require.Equal(t, "token=abc&x=1", q)
}

func TestPlayUnknownIsNotFound(t *testing.T) {
	r := newTestRegistry()
	_, err := r.Play(testKey, "")
	require.ErrorIs(t, err, ErrNotFound)
	require.ErrorIs(t, r.Kick(testKey), ErrNotFound)
	requireEmpty(t, r)
}

func TestSecondPublisherIsRefused(t *testing.T) {
	r := newTestRegistry()
	pub, err := r.Publish(testKey, PublisherInfo{}, nil)
	require.NoError(t, err)
	_, err = r.Publish(testKey, PublisherInfo{}, nil)
	require.ErrorIs(t, err, ErrStreamBusy)
	// The first is untouched.
	require.NoError(t, pub.Write(flv.TagVideo, 0, st.AVCFrame(true, 10)))
	pub.Release()
	requireEmpty(t, r)
}

// TestReleaseInEveryOrder releases a publisher and two players in all six
// orders; the stream is freed exactly at the last release.
func TestReleaseInEveryOrder(t *testing.T) {
	orders := [][]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}
	for _, order := range orders {
		t.Run(fmt.Sprint(order), func(t *testing.T) {
			r := newTestRegistry()
			pub, err := r.Publish(testKey, PublisherInfo{}, nil)
			require.NoError(t, err)
			p1, err := r.Play(testKey, "")
			require.NoError(t, err)
			p2, err := r.Play(testKey, "")
			require.NoError(t, err)
			s, err := pub.Stream()
			require.NoError(t, err)
			release := []func(){pub.Release, p1.Release, p2.Release}
			for i, idx := range order {
				require.Equal(t, 1, r.Stats().Alive, "alive before release %d", i)
				release[idx]()
				release[idx]() // idempotent
			}
			requireEmpty(t, r)
			require.ErrorIs(t, s.Write(flv.TagVideo, 0, st.AVCFrame(true, 10)), stream.ErrEnded)
		})
	}
}

func TestKeyIsFreeAtOnceWhilePlayersDrain(t *testing.T) {
	r := newTestRegistry()
	pub, err := r.Publish(testKey, PublisherInfo{}, nil)
	require.NoError(t, err)
	pl, err := r.Play(testKey, "")
	require.NoError(t, err)
	pub.Release()
	pub2, err := r.Publish(testKey, PublisherInfo{}, nil)
	require.NoError(t, err, "same key can be published again at once")
	require.Equal(t, Stats{Streams: 1, Publishers: 1, Players: 1, Alive: 2}, r.Stats())
	pl.Release()
	pub2.Release()
	requireEmpty(t, r)
}

func TestUseAfterReleaseIsAnError(t *testing.T) {
	r := newTestRegistry()
	pub, err := r.Publish(testKey, PublisherInfo{}, nil)
	require.NoError(t, err)
	pl, err := r.Play(testKey, "")
	require.NoError(t, err)
	pl.Release()
	_, err = pl.Subscribe()
	require.ErrorIs(t, err, ErrReleased)
	pub.Release()
	require.ErrorIs(t, pub.Write(flv.TagVideo, 0, st.AVCFrame(true, 10)), ErrReleased)
	_, err = pub.Stream()
	require.ErrorIs(t, err, ErrReleased)
	requireEmpty(t, r)
}

// TestSRSUseAfterFree replays SRS #4143: two players on one stream, the
// publisher stops, the first player leaves; the second must still drain its
// queue and end cleanly, and only its release frees the stream.
func TestSRSUseAfterFree(t *testing.T) {
	r := newTestRegistry()
	pub, err := r.Publish(testKey, PublisherInfo{}, nil)
	require.NoError(t, err)
	require.NoError(t, pub.Write(flv.TagVideo, 0, st.AVCSeqHeader()))
	require.NoError(t, pub.Write(flv.TagVideo, 0, st.AVCFrame(true, 100)))
	p1, err := r.Play(testKey, "")
	require.NoError(t, err)
	p2, err := r.Play(testKey, "")
	require.NoError(t, err)
	s1, err := p1.Subscribe()
	require.NoError(t, err)
	s2, err := p2.Subscribe()
	require.NoError(t, err)
	require.NoError(t, pub.Write(flv.TagVideo, 33, st.AVCFrame(false, 100)))

	pub.Release()
	_, err = s1.Next(context.Background(), nil)
	require.NoError(t, err)
	p1.Release()
	require.Equal(t, 1, r.Stats().Alive, "the second player still holds the stream")

	tags, err := s2.Next(context.Background(), nil)
	require.NoError(t, err)
	require.Len(t, tags, 3, "seq header, keyframe, inter frame")
	_, err = s2.Next(context.Background(), nil)
	require.ErrorIs(t, err, stream.ErrEnded)
	p2.Release()
	requireEmpty(t, r)
}

func TestKickCallsThePublisher(t *testing.T) {
	r := newTestRegistry()
	kicked := make(chan struct{})
	var pub *Publisher
	pub, err := r.Publish(testKey, PublisherInfo{}, func() { close(kicked); pub.Release() })
	require.NoError(t, err)
	require.NoError(t, r.Kick(testKey))
	<-kicked
	requireEmpty(t, r)
}

// TestConcurrentChurn runs thousands of goroutines acquiring and releasing
// players while publishers come and go on a few keys, under -race.
func TestConcurrentChurn(t *testing.T) {
	r := newTestRegistry()
	keys := []Key{{"live", "a"}, {"live", "b"}, {"other", "a"}}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for _, k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				pub, err := r.Publish(k, PublisherInfo{}, nil)
				if err != nil {
					continue
				}
				for j := 0; j < 5; j++ {
					_ = pub.Write(flv.TagVideo, uint32(j), st.AVCFrame(j == 0, 50))
				}
				pub.Release()
				pub.Release()
			}
		}()
	}
	const players = 2000
	var pwg sync.WaitGroup
	for i := 0; i < players; i++ {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			k := keys[i%len(keys)]
			for j := 0; j < 20; j++ {
				p, err := r.Play(k, "")
				if err != nil {
					continue
				}
				if sub, err := p.Subscribe(); err == nil {
					ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
					_, _ = sub.Next(ctx, nil)
					cancel()
				}
				if j%2 == 0 {
					p.Release()
				} else {
					pwg.Add(1)
					go func() { defer pwg.Done(); p.Release() }() // from another goroutine too
				}
			}
		}()
	}
	pwg.Wait()
	close(stop)
	wg.Wait()
	requireEmpty(t, r)
}
