package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	rtmp "github.com/yutopp/go-rtmp"
	rtmpmsg "github.com/yutopp/go-rtmp/message"

	"github.com/headwater-media/headwater/internal/config"
	"github.com/headwater-media/headwater/internal/registry"
	st "github.com/headwater-media/headwater/internal/stream/streamtest"
	"github.com/headwater-media/headwater/pkg/flv"
)

// The limit tests need a second client address: Linux routes all of 127/8
// to the loopback interface, so a client bound to 127.0.0.2 is another IP
// to the server listening on 127.0.0.1.
const otherIP = "127.0.0.2"

var otherIPDialer = &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(otherIP)}, Timeout: 5 * time.Second}

// otherIPClient is an HTTP client connecting from otherIP.
var otherIPClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true, DialContext: otherIPDialer.DialContext}}

// refusals returns headwater_limit_refusals_total by limit label, scraped
// with c.
func refusals(t *testing.T, c *http.Client, s *testServer) map[string]float64 {
	t.Helper()
	body, err := scrape(c, s)
	require.NoError(t, err)
	return parseRefusals(t, body)
}

// scrape returns /metrics fetched with c, or an error (a 503 included).
func scrape(c *http.Client, s *testServer) (string, error) {
	resp, err := c.Get(s.httpURL + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return string(b), err
}

var refusalLine = regexp.MustCompile(`(?m)^headwater_limit_refusals_total\{limit="([a-z_]+)"\} (\S+)$`)

func parseRefusals(t *testing.T, body string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, m := range refusalLine.FindAllStringSubmatch(body, -1) {
		v, err := strconv.ParseFloat(m[2], 64)
		require.NoError(t, err)
		out[m[1]] = v
	}
	return out
}

// allZeroBut is the refusal map with every limit 0 except those given.
func allZeroBut(kv map[string]float64) map[string]float64 {
	out := map[string]float64{"http_conns": 0, "http_conns_per_ip": 0, "rtmp_conns": 0, "rtmp_conns_per_ip": 0,
		"streams": 0, "players_per_stream": 0, "publish_bitrate": 0, "event_clients": 0}
	for k, v := range kv {
		out[k] = v
	}
	return out
}

// require503 checks a limit refusal as a player or browser sees it.
func require503(t *testing.T, c *http.Client, url, reason string) {
	t.Helper()
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode) // before reading: a 200 here is a live stream
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, "5", resp.Header.Get("Retry-After"))
	require.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))
	require.Equal(t, reason+"\n", string(b))
}

// localPublisher is an in-process publisher (no RTMP) on live/name with an
// AVC sequence header and a keyframe, released at the end of the test.
type localPublisher struct {
	*registry.Publisher
	ts uint32
}

func publishLocal(t *testing.T, s *testServer, name string) *localPublisher {
	t.Helper()
	pub, err := s.Registry().Publish(registry.Key{App: "live", Name: name}, registry.PublisherInfo{}, nil)
	require.NoError(t, err)
	t.Cleanup(pub.Release)
	require.NoError(t, pub.Write(flv.TagVideo, 0, st.AVCSeqHeader()))
	require.NoError(t, pub.Write(flv.TagVideo, 0, st.AVCFrame(true, 1000)))
	return &localPublisher{Publisher: pub}
}

// frames writes n small frames, a keyframe every 25.
func (p *localPublisher) frames(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		p.ts += 40
		require.NoError(t, p.Write(flv.TagVideo, p.ts, st.AVCFrame(i%25 == 0, 1000)))
	}
}

// requireFlowing checks that every player still receives what p publishes.
func requireFlowing(t *testing.T, p *localPublisher, players ...*player) {
	t.Helper()
	p.frames(t, 1) // so that every player has a fresh count to read
	before := make([]int, len(players))
	for i, pl := range players {
		before[i] = waitCount(t, pl)
	}
	p.frames(t, 100)
	for i, pl := range players {
		pl.waitTags(t, before[i]+50, 10*time.Second)
	}
}

// rtmpPublisher is an in-process go-rtmp client publishing live/name from a
// given local address: an AVC sequence header, then frameSize-byte frames
// every interval until the server drops it or the test ends.
type rtmpPublisher struct {
	stop chan struct{}
	done chan struct{}
	err  error // why the write loop ended, after done
}

func rtmpPublish(t *testing.T, s *testServer, local, name string, frameSize int, interval time.Duration) *rtmpPublisher {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	raw, err := d.Dial("tcp", s.RTMPAddr().String())
	require.NoError(t, err)
	require.NoError(t, raw.SetDeadline(time.Now().Add(60*time.Second)))
	cc, err := rtmp.NewClientConn(raw, &rtmp.ConnConfig{})
	if err != nil {
		raw.Close()
		require.NoError(t, err)
	}
	p := &rtmpPublisher{stop: make(chan struct{}), done: make(chan struct{})}
	t.Cleanup(func() {
		close(p.stop)
		<-p.done
		_ = cc.Close()
	})
	require.NoError(t, cc.Connect(&rtmpmsg.NetConnectionConnect{Command: rtmpmsg.NetConnectionConnectCommand{App: "live"}}))
	stream, err := cc.CreateStream(nil, 4096)
	require.NoError(t, err)
	require.NoError(t, stream.Publish(&rtmpmsg.NetStreamPublish{PublishingName: name, PublishingType: "live"}))
	seq := st.AVCSeqHeader()
	seq = seq[flv.TagHeaderSize : len(seq)-flv.PrevTagSizeLen]
	frame := make([]byte, max(frameSize, 5))
	frame[1] = 0x01
	go func() {
		defer close(p.done)
		if p.err = stream.Write(5, 0, &rtmpmsg.VideoMessage{Payload: bytes.NewReader(seq)}); p.err != nil {
			return
		}
		tick := time.NewTicker(interval)
		defer tick.Stop()
		var ts uint32
		for i := 0; ; i++ {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			ts += uint32(interval / time.Millisecond)
			frame[0] = 0x27
			if i%25 == 0 {
				frame[0] = 0x17
			}
			if p.err = stream.Write(5, ts, &rtmpmsg.VideoMessage{Payload: bytes.NewReader(frame)}); p.err != nil {
				return
			}
		}
	}()
	return p
}

// live reports whether live/name has a publisher.
func (s *testServer) live(name string) bool {
	for _, st := range s.Registry().Streams() {
		if st.Key.Name == name {
			return true
		}
	}
	return false
}

// TestLimitRefusalMetricsAreExported: every limit has its series from the
// start, at 0, and the old http.max_conns counter is still there.
func TestLimitRefusalMetricsAreExported(t *testing.T) {
	if testing.Short() {
		t.Skip("integration")
	}
	s := startServer(t, nil)
	require.Equal(t, allZeroBut(nil), refusals(t, httpClient, s))
	_, body := getBody(t, s.httpURL+"/metrics")
	require.Zero(t, metric(t, body, "headwater_http_conns_refused_total"))
}

// TestLimitHTTPConnsPerIP: with limits.max_conns_per_ip = 2, a third HTTP
// connection from 127.0.0.1 (a player or /healthz alike) gets 503 with
// Retry-After; the two players already connected keep playing; another
// client IP and RTMP from the same IP (counted separately) are not affected.
func TestLimitHTTPConnsPerIP(t *testing.T) {
	if testing.Short() {
		t.Skip("integration")
	}
	s := startServer(t, func(c *config.Config) { c.Limits.MaxConnsPerIP = 2 })
	pub := publishLocal(t, s, "a")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p1, p2 := play(ctx, s.httpURL+"/live/a.flv"), play(ctx, s.httpURL+"/live/a.flv")
	p1.waitKey(t, 10*time.Second)
	p2.waitKey(t, 10*time.Second)

	const reason = "too many connections from your address, retry later"
	require503(t, httpClient, s.httpURL+"/live/a.flv", reason)
	require503(t, httpClient, s.httpURL+"/healthz", reason)

	// Another address plays the same stream.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.httpURL+"/live/a.flv", nil)
	require.NoError(t, err)
	resp, err := otherIPClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp.Body.Close()
	// RTMP from 127.0.0.1 is counted on its own.
	rtmpPublish(t, s, "127.0.0.1", "b", 1000, 40*time.Millisecond)
	require.Eventually(t, func() bool { return s.live("b") }, 10*time.Second, 10*time.Millisecond)

	requireFlowing(t, pub, p1, p2)
	require.Equal(t, allZeroBut(map[string]float64{"http_conns_per_ip": 2}), refusals(t, otherIPClient, s))
}

// TestLimitHTTPMaxConns: with http.max_conns = 2 and two players connected,
// a third connection from anywhere gets 503 with Retry-After; the players
// keep playing; the slot is free again once one leaves.
func TestLimitHTTPMaxConns(t *testing.T) {
	if testing.Short() {
		t.Skip("integration")
	}
	s := startServer(t, func(c *config.Config) { c.HTTP.MaxConns = 2 })
	pub := publishLocal(t, s, "a")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ctx1, cancel1 := context.WithCancel(ctx)
	p1, p2 := play(ctx1, s.httpURL+"/live/a.flv"), play(ctx, s.httpURL+"/live/a.flv")
	p1.waitKey(t, 10*time.Second)
	p2.waitKey(t, 10*time.Second)

	require503(t, otherIPClient, s.httpURL+"/live/a.flv", "too many connections, retry later")
	requireFlowing(t, pub, p1, p2)

	cancel1()
	p1.result(t, 10*time.Second)
	var body string
	require.Eventually(t, func() bool {
		var err error
		body, err = scrape(httpClient, s) // 503 until the server has closed p1's connection
		return err == nil
	}, 10*time.Second, 20*time.Millisecond, "a slot is free once a player left")
	got := parseRefusals(t, body)
	require.GreaterOrEqual(t, got["http_conns"], 1.0)
	require.Equal(t, got["http_conns"], metric(t, body, "headwater_http_conns_refused_total"), "the old counter still counts")
	delete(got, "http_conns")
	require.Equal(t, allZeroBut(nil), allZeroBut(got))
}

// TestLimitPlayersPerStream: with limits.max_players_per_stream = 2, a third
// player of the stream gets 503 with Retry-After while the two keep
// playing; another stream takes players; a player leaving frees its slot.
func TestLimitPlayersPerStream(t *testing.T) {
	if testing.Short() {
		t.Skip("integration")
	}
	s := startServer(t, func(c *config.Config) { c.Limits.MaxPlayersPerStream = 2 })
	pa, pb := publishLocal(t, s, "a"), publishLocal(t, s, "b")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ctx1, cancel1 := context.WithCancel(ctx)
	p1, p2 := play(ctx1, s.httpURL+"/live/a.flv"), play(ctx, s.httpURL+"/live/a.flv")
	p1.waitKey(t, 10*time.Second)
	p2.waitKey(t, 10*time.Second)

	require503(t, httpClient, s.httpURL+"/live/a.flv", "too many players on this stream, retry later")
	other := play(ctx, s.httpURL+"/live/b.flv")
	other.waitKey(t, 10*time.Second)
	requireFlowing(t, pa, p1, p2)
	requireFlowing(t, pb, other)
	require.Equal(t, allZeroBut(map[string]float64{"players_per_stream": 1}), refusals(t, httpClient, s))

	cancel1()
	p1.result(t, 10*time.Second)
	require.Eventually(t, func() bool { return s.Registry().Stats().Players == 2 }, 10*time.Second, 10*time.Millisecond)
	p3 := play(ctx, s.httpURL+"/live/a.flv")
	p3.waitKey(t, 10*time.Second)
	requireFlowing(t, pa, p2, p3)
}

// TestLimitMaxStreams: with limits.max_streams = 1, a second ffmpeg
// publisher (another key) is refused with an RTMP error status carrying the
// reason, and exits; the first publisher and its player are unaffected.
func TestLimitMaxStreams(t *testing.T) {
	needFFmpeg(t)
	s := startServer(t, func(c *config.Config) { c.Limits.MaxStreams = 1 })
	first := ffmpegPublish(t, s.rtmpURL+"/live/one", "320x240")
	s.waitLive(t, "live", "one")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := play(ctx, s.httpURL+"/live/one.flv")
	p.waitKey(t, 20*time.Second)

	second := ffmpegPublish(t, s.rtmpURL+"/live/two", "320x240")
	require.Error(t, second.wait(t, 20*time.Second), "the second publisher must be refused")
	require.Contains(t, second.stderr.String(), "too many live streams", "ffmpeg shows the server's reason")
	require.False(t, s.live("two"))

	before := waitCount(t, p)
	p.waitTags(t, before+50, 20*time.Second)
	select {
	case <-first.done:
		t.Fatalf("first publisher ended: %s", first.stderr)
	default:
	}
	require.Equal(t, allZeroBut(map[string]float64{"streams": 1}), refusals(t, httpClient, s))
	first.kill()
	require.True(t, isCleanEnd(p.result(t, 15*time.Second).err))
}

// TestLimitPublishBitrate: with limits.max_publish_bitrate = 1 Mbit/s, a
// publisher sending ~26 Mbit/s is disconnected (its stream ends) while one
// sending ~200 kbit/s on another key keeps flowing to its player.
func TestLimitPublishBitrate(t *testing.T) {
	if testing.Short() {
		t.Skip("integration")
	}
	s := startServer(t, func(c *config.Config) { c.Limits.MaxPublishBitrate = 1_000_000 })
	slow := rtmpPublish(t, s, "127.0.0.1", "slow", 1000, 40*time.Millisecond)
	s.waitLive(t, "live", "slow")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := play(ctx, s.httpURL+"/live/slow.flv")
	p.waitKey(t, 10*time.Second)

	fast := rtmpPublish(t, s, "127.0.0.1", "fast", 32<<10, 10*time.Millisecond)
	s.waitLive(t, "live", "fast")
	require.Eventually(t, func() bool { return !s.live("fast") }, 15*time.Second, 10*time.Millisecond,
		"the publisher over the limit is disconnected")
	select {
	case <-fast.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the fast publisher's writes never failed")
	}
	require.Error(t, fast.err)

	// The slow one keeps flowing: another 25 frames (a second) and more.
	before := waitCount(t, p)
	p.waitTags(t, before+25, 10*time.Second)
	select {
	case <-slow.done:
		t.Fatalf("the slow publisher was dropped: %v", slow.err)
	default:
	}
	require.True(t, s.live("slow"))
	require.Equal(t, allZeroBut(map[string]float64{"publish_bitrate": 1}), refusals(t, httpClient, s))
}

// TestLimitRTMPConnsPerIP: with limits.max_conns_per_ip = 1 and a publisher
// connected from 127.0.0.1, another RTMP connection from 127.0.0.1 is
// closed at accept; 127.0.0.2 publishes; the first publisher and HTTP from
// 127.0.0.1 are unaffected.
func TestLimitRTMPConnsPerIP(t *testing.T) {
	if testing.Short() {
		t.Skip("integration")
	}
	s := startServer(t, func(c *config.Config) { c.Limits.MaxConnsPerIP = 1 })
	rtmpPublish(t, s, "127.0.0.1", "a", 1000, 40*time.Millisecond)
	s.waitLive(t, "live", "a")

	c, err := net.Dial("tcp", s.RTMPAddr().String())
	require.NoError(t, err)
	defer c.Close()
	c0c1 := make([]byte, 1537)
	c0c1[0] = 3
	_, _ = c.Write(c0c1)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = c.Read(make([]byte, 1))
	require.Error(t, err, "the second RTMP connection from 127.0.0.1 is closed")
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "closed, not left hanging: %v", err)

	rtmpPublish(t, s, otherIP, "b", 1000, 40*time.Millisecond)
	s.waitLive(t, "live", "b")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := play(ctx, s.httpURL+"/live/a.flv")
	p.waitKey(t, 10*time.Second)
	p.waitTags(t, 25, 10*time.Second)
	// The player holds 127.0.0.1's one HTTP slot: scrape from the other IP.
	require.Equal(t, allZeroBut(map[string]float64{"rtmp_conns_per_ip": 1}), refusals(t, otherIPClient, s))
}
