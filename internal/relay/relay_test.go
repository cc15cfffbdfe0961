package relay

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/headwater-media/headwater/internal/auth"
	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/rtmp"
	"github.com/headwater-media/headwater/internal/rtmpclient"
	"github.com/headwater-media/headwater/internal/stream"
	st "github.com/headwater-media/headwater/internal/stream/streamtest"
	"github.com/headwater-media/headwater/pkg/flv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestExpand(t *testing.T) {
	v := Vars{App: "live", Stream: "show", StreamKey: "abcd-efgh"}
	for _, tc := range []struct{ in, out, err string }{
		{"rtmp://a.rtmp.youtube.com/live2/{stream_key}", "rtmp://a.rtmp.youtube.com/live2/abcd-efgh", ""},
		{"rtmp://h/{app}/{stream}?k={stream_key}", "rtmp://h/live/show?k=abcd-efgh", ""},
		{"rtmp://h/live/fixed", "rtmp://h/live/fixed", ""},
		{"rtmp://h/{app}/{name}", "", "unknown placeholder {name}"},
		{"rtmp://h/{app}/{stream", "", "left open"},
		{"rtmp://h/app}/x", "", "without its '{'"},
		{"rtmp://h/{}/x", "", "unknown placeholder {}"},
	} {
		got, err := Expand(tc.in, v)
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.out, got)
	}
	_, err := Expand("rtmp://h/live2/{stream_key}", Vars{App: "a", Stream: "s"})
	require.ErrorIs(t, err, ErrNoStreamKey)
}

func TestCheckTemplate(t *testing.T) {
	for _, ok := range []string{"rtmp://h/live/{stream}", "rtmps://h:443/app/{stream_key}", "rtmp://[::1]:1936/{app}/{stream}?a=b"} {
		require.NoError(t, CheckTemplate(ok), ok)
	}
	for _, bad := range []string{"http://h/live/x", "rtmp://h/live", "rtmp:///live/x", "rtmp://h/{what}/x", ""} {
		require.Error(t, CheckTemplate(bad), bad)
	}
}

func TestRedact(t *testing.T) {
	for in, out := range map[string]string{
		"rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl-mnop": "rtmp://a.rtmp.youtube.com/live2/abcd****",
		"rtmp://h:1935/live/x":                                "rtmp://h:1935/live/****",
		"rtmps://h/app/streamname?key=secret&a=b":             "rtmps://h/app/str****?a=b&key=REDACTED",
		"rtmp://h/live":                                       "rtmp://h/live",
		"::":                                                  "****",
	} {
		require.Equal(t, out, Redact(in), in)
	}
}

func TestMaskName(t *testing.T) {
	u := "rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl-mnop?x=1"
	require.Equal(t, "rtmp: publish rtmp://a.rtmp.youtube.com:1935/live2/abcd****: refused",
		maskName("rtmp: publish rtmp://a.rtmp.youtube.com:1935/live2/abcd-efgh-ijkl-mnop: refused", u))
	require.Equal(t, "no name here", maskName("no name here", u))
	require.Equal(t, "rtmp: publish rtmp://h:1935/live/****: read 0x1: EOF",
		maskName("rtmp: publish rtmp://h:1935/live/x: read 0x1: EOF", "rtmp://h/live/x"))
}

func TestViaChain(t *testing.T) {
	c, err := viaChain("", "n1")
	require.NoError(t, err)
	require.Equal(t, "n1", c)
	c, err = viaChain("a,b", "n1")
	require.NoError(t, err)
	require.Equal(t, "a,b,n1", c)
	_, err = viaChain("a,n1,b", "n1")
	require.ErrorIs(t, err, ErrLoop)
	_, err = viaChain(strings.Repeat("x,", MaxHops-1)+"x", "n1")
	require.ErrorIs(t, err, ErrLoop)
}

// FuzzExpand: any template expands or fails, never panics; what expands
// keeps no placeholder of its own.
func FuzzExpand(f *testing.F) {
	for _, s := range []string{"rtmp://h/{app}/{stream}?k={stream_key}", "{", "}", "{{app}}", "rtmp://h/{stream_key}/{x}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tmpl string) {
		out, err := Expand(tmpl, Vars{App: "A", Stream: "S", StreamKey: "K"})
		if err != nil {
			return
		}
		if strings.ContainsAny(out, "{}") {
			t.Fatalf("%q expanded to %q", tmpl, out)
		}
		_ = CheckTemplate(tmpl)
		_ = Redact(out)
	})
}

// destination is headwater's RTMP server on a random port: a push's
// destination.
func destination(t *testing.T) (*registry.Registry, string) {
	t.Helper()
	reg := registry.New(stream.DefaultConfig())
	srv := rtmp.NewServer(rtmp.DefaultConfig(), reg, zerolog.Nop())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, srv.Shutdown(ctx))
		<-done
		require.Equal(t, registry.Stats{}, reg.Stats(), "the destination's registry")
	})
	return reg, "rtmp://" + ln.Addr().String()
}

var key = registry.Key{App: "live", Name: "x"}

// origin is a registry with a publisher of key that has written the
// sequence headers and a keyframe, and a Manager pushing with cfg.
func origin(t *testing.T, cfg Config) (*registry.Registry, *registry.Publisher, *Manager) {
	t.Helper()
	reg := registry.New(stream.DefaultConfig())
	pub, err := reg.Publish(key, registry.PublisherInfo{}, nil)
	require.NoError(t, err)
	require.NoError(t, pub.Write(flv.TagScript, 0, st.Metadata(true, true)))
	require.NoError(t, pub.Write(flv.TagVideo, 0, st.AVCSeqHeader()))
	require.NoError(t, pub.Write(flv.TagAudio, 0, st.AACSeqHeader()))
	require.NoError(t, pub.Write(flv.TagVideo, 0, st.AVCFrame(true, 70000)))
	cfg.NodeID = "origin"
	m := New(cfg, reg, nil, zerolog.Nop())
	t.Cleanup(func() {
		pub.Release()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, m.Shutdown(ctx))
		require.Equal(t, registry.Stats{}, reg.Stats(), "the origin's registry: every push released its handle")
	})
	return reg, pub, m
}

func testConfig(push ...string) Config {
	c := DefaultConfig()
	c.Push = map[string][]string{"live": push}
	c.ConnectTimeout, c.BackoffMin, c.BackoffMax = 2*time.Second, 50*time.Millisecond, 200*time.Millisecond
	c.Play.MergeWindow = 0
	return c
}

// waitState waits until key's only push is in state.
func waitState(t *testing.T, m *Manager, state string) Status {
	t.Helper()
	var last []Status
	require.Eventually(t, func() bool {
		last = m.Pushes(key)
		return len(last) == 1 && last[0].State == state
	}, 10*time.Second, 5*time.Millisecond, "pushes: %+v", last)
	return last[0]
}

// TestPushCarriesTheStream: a configured push reaches headwater's RTMP
// server with the stream's tags, the via chain in its tcUrl; the end of
// the stream ends it there too and releases the handle.
func TestPushCarriesTheStream(t *testing.T) {
	dreg, dest := destination(t)
	_, pub, m := origin(t, testConfig(dest+"/{app}/{stream}"))
	m.Live(key, "", auth.HookAnswer{})
	s := waitState(t, m, StatePushing)
	require.Equal(t, "config", s.Source)
	require.Eventually(t, func() bool { _, err := dreg.Stream(key); return err == nil }, 5*time.Second, 5*time.Millisecond)
	info, err := dreg.Stream(key)
	require.NoError(t, err)
	require.Equal(t, "origin", info.Publisher.Via, "the chain rides in the tcUrl")
	require.Empty(t, info.Publisher.Query, "the name stays as configured")

	pl, err := rtmpclient.Play(context.Background(), dest+"/live/x", rtmpclient.Options{Timeout: 5 * time.Second, ReadTimeout: 5 * time.Second})
	require.NoError(t, err)
	defer pl.Close()
	frame := st.AVCFrame(false, 3000)
	require.NoError(t, pub.Write(flv.TagVideo, 40, frame))
	var got []flv.Tag
	for len(got) < 5 {
		tag, err := pl.ReadTag()
		require.NoError(t, err)
		tag.Data = bytes.Clone(tag.Data)
		got = append(got, tag)
	}
	require.Equal(t, []uint8{flv.TagScript, flv.TagVideo, flv.TagAudio, flv.TagVideo, flv.TagVideo},
		[]uint8{got[0].Type, got[1].Type, got[2].Type, got[3].Type, got[4].Type})
	require.Equal(t, st.Payload(frame), got[4].Data)
	require.EqualValues(t, 40, got[4].Timestamp)

	pub.Release() // the stream ends: the push tells the destination
	_, err = pl.ReadTag()
	require.ErrorIs(t, err, rtmpclient.ErrStreamEnded)
	require.Eventually(t, func() bool { return len(m.Pushes(key)) == 0 }, 5*time.Second, 5*time.Millisecond)
}

// silentServer accepts connections and never answers: a push to it
// stays in its connect.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return "rtmp://" + ln.Addr().String()
}

// TestPushEndsAtEveryStep: before its handle (the stream is not live),
// while it connects (Stop; the stream's end), while it waits to retry
// (the stream's end), and mid-stream (a kick of its handle, DELETE):
// the handle is released every time and nothing leaks (the cleanups
// check the registry, TestMain goleak).
func TestPushEndsAtEveryStep(t *testing.T) {
	t.Run("not live", func(t *testing.T) {
		_, _, m := origin(t, testConfig())
		_, err := m.Start(registry.Key{App: "live", Name: "nothere"}, "rtmp://127.0.0.1:1/live/x")
		require.ErrorIs(t, err, registry.ErrNotFound)
		_, err = m.Start(key, "http://h/live/x")
		require.Error(t, err)
	})
	t.Run("stopped while connecting", func(t *testing.T) {
		_, _, m := origin(t, testConfig())
		s, err := m.Start(key, silentServer(t)+"/live/x")
		require.NoError(t, err)
		require.Equal(t, StateConnecting, s.State)
		require.Equal(t, "api", s.Source)
		_, err = m.Start(key, silentServer(t)+"/live/x")
		require.NoError(t, err, "another destination")
		require.Len(t, m.Pushes(key), 2)
		require.NoError(t, m.Stop(key, s.ID, ""))
		require.Len(t, m.Pushes(key), 1)
		require.ErrorIs(t, m.Stop(key, s.ID, ""), ErrPushNotFound)
	})
	t.Run("stream ends while connecting", func(t *testing.T) {
		cfg := testConfig()
		cfg.ConnectTimeout = time.Minute // the end does not wait for it
		_, pub, m := origin(t, cfg)
		_, err := m.Start(key, silentServer(t)+"/live/x")
		require.NoError(t, err)
		pub.Release()
		require.Eventually(t, func() bool { return len(m.Pushes(key)) == 0 }, 2*time.Second, 5*time.Millisecond)
	})
	t.Run("stream ends in backoff", func(t *testing.T) {
		cfg := testConfig()
		cfg.BackoffMin, cfg.BackoffMax = time.Hour, time.Hour
		_, pub, m := origin(t, cfg)
		_, err := m.Start(key, "rtmp://127.0.0.1:1/live/x") // refused at once
		require.NoError(t, err)
		s := waitState(t, m, StateBackoff)
		require.NotEmpty(t, s.LastError)
		pub.Release()
		require.Eventually(t, func() bool { return len(m.Pushes(key)) == 0 }, 5*time.Second, 5*time.Millisecond)
	})
	t.Run("kicked mid-stream", func(t *testing.T) {
		_, dest := destination(t)
		reg, _, m := origin(t, testConfig())
		s, err := m.Start(key, dest+"/live/{stream}")
		require.NoError(t, err)
		_, err = m.Start(key, dest+"/live/x")
		require.ErrorIs(t, err, ErrDuplicate)
		waitState(t, m, StatePushing)
		require.NoError(t, reg.KickPlayer(s.PlayerID))
		require.Eventually(t, func() bool { return len(m.Pushes(key)) == 0 }, 5*time.Second, 5*time.Millisecond)
	})
	t.Run("deleted mid-stream", func(t *testing.T) {
		_, dest := destination(t)
		_, _, m := origin(t, testConfig())
		_, err := m.Start(key, dest+"/live/x")
		require.NoError(t, err)
		var s Status
		require.Eventually(t, func() bool {
			l := m.Pushes(key)
			if len(l) == 1 {
				s = l[0]
			}
			return s.State == StatePushing && s.Bytes > 70000 // the join batch went out
		}, 5*time.Second, 5*time.Millisecond)
		require.NoError(t, m.Stop(key, 0, s.URL), "by the URL as shown")
		require.Empty(t, m.Pushes(key))
	})
}

// TestPushReconnects: a destination that ends the publish (a kick
// there) is published to again after the backoff, from a keyframe.
func TestPushReconnects(t *testing.T) {
	dreg, dest := destination(t)
	_, _, m := origin(t, testConfig(dest+"/{app}/{stream}"))
	m.Live(key, "", auth.HookAnswer{})
	waitState(t, m, StatePushing)
	require.Eventually(t, func() bool { return dreg.Kick(key) == nil }, 5*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool {
		s := m.Pushes(key)
		return len(s) == 1 && s[0].State == StatePushing && s[0].Reconnects >= 1 && s[0].LastError != ""
	}, 10*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { _, err := dreg.Stream(key); return err == nil }, 5*time.Second, 5*time.Millisecond)
}

// TestLiveChoosesTheTemplates: the hook's list wins over relay.streams',
// which wins over the app's; "*" serves other apps; a loop or a missing
// stream key starts nothing.
func TestLiveChoosesTheTemplates(t *testing.T) {
	cfg := testConfig()
	cfg.BackoffMin, cfg.BackoffMax = time.Hour, time.Hour
	cfg.Push = map[string][]string{"live": {"rtmp://127.0.0.1:1/app/{stream}"}, "*": {"rtmp://127.0.0.1:1/any/{stream}"}}
	cfg.Streams = map[string]Override{"live/x": {StreamKey: "k1"}, "live/y": {Push: []string{"rtmp://127.0.0.1:1/own/{stream_key}"}, StreamKey: "k2"}}
	_, _, m := origin(t, cfg)
	urls := func() []string {
		var out []string
		for _, s := range m.Pushes(key) {
			out = append(out, s.URL)
		}
		return out
	}
	m.Live(key, "", auth.HookAnswer{})
	require.Equal(t, []string{"rtmp://127.0.0.1:1/app/****"}, urls())
	m.Live(key, "", auth.HookAnswer{}) // a second call (a publisher back within a grace) adds nothing
	require.Len(t, m.Pushes(key), 1)
	m.Live(key, "", auth.HookAnswer{PushSet: true, Push: []string{"rtmp://127.0.0.1:1/hook/{stream_key}"}, StreamKey: "from-the-hook"})
	require.Len(t, m.Pushes(key), 2)
	require.Equal(t, "hook", m.Pushes(key)[1].Source)
	require.Equal(t, "rtmp://127.0.0.1:1/hook/from****", m.Pushes(key)[1].URL)
	m.Live(key, "a,origin", auth.HookAnswer{PushSet: true, Push: []string{"rtmp://127.0.0.1:1/loop/{stream}"}})
	require.Len(t, m.Pushes(key), 2, "a loop is not pushed")

	p, err := m.start(key, "rtmp://127.0.0.1:1/live2/{stream_key}", Vars{App: "live", Stream: "x"}, "", "config")
	require.Nil(t, p)
	require.True(t, errors.Is(err, ErrNoStreamKey), "%v", err)
}

// TestPushesOfANewPublishOfTheKey: a publisher that leaves and comes
// back at once gets its pushes again, though the previous stream's push
// may still be writing its end.
func TestPushesOfANewPublishOfTheKey(t *testing.T) {
	dreg, dest := destination(t)
	reg, pub, m := origin(t, testConfig(dest+"/{app}/{stream}"))
	m.Live(key, "", auth.HookAnswer{})
	waitState(t, m, StatePushing)
	pub.Release()
	pub2, err := reg.Publish(key, registry.PublisherInfo{}, nil)
	require.NoError(t, err)
	defer pub2.Release()
	require.NoError(t, pub2.Write(flv.TagVideo, 0, st.AVCSeqHeader()))
	require.NoError(t, pub2.Write(flv.TagVideo, 0, st.AVCFrame(true, 1000)))
	m.Live(key, "", auth.HookAnswer{})
	require.Eventually(t, func() bool {
		l := m.Pushes(key)
		if len(l) != 1 || l[0].State != StatePushing {
			return false
		}
		ps, err := reg.Player(l[0].PlayerID)
		return err == nil && ps.StreamID == pub2.ID()
	}, 10*time.Second, 5*time.Millisecond, "the new stream is pushed")
	require.Eventually(t, func() bool { _, err := dreg.Stream(key); return err == nil }, 5*time.Second, 5*time.Millisecond)
}
