package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/internal/auth"
	"github.com/headwater-media/headwater/internal/config"
	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/relay"
	"github.com/headwater-media/headwater/internal/rtmpclient"
	st "github.com/headwater-media/headwater/internal/stream/streamtest"
	"github.com/headwater-media/headwater/pkg/flv"
)

// pushInfo is one push as GET .../pushes shows it.
type pushInfo struct {
	ID         uint64 `json:"id"`
	URL        string `json:"url"`
	Source     string `json:"source"`
	State      string `json:"state"`
	Bytes      uint64 `json:"bytes"`
	Reconnects uint64 `json:"reconnects"`
	LastError  string `json:"last_error"`
	PlayerID   uint64 `json:"player_id"`
	Dropped    uint64 `json:"frames_dropped"`
}

// pushesOf lists the pushes of app/name on s (none if the stream is not live).
func pushesOf(t *testing.T, s *testServer, app, name string) []pushInfo {
	t.Helper()
	code, body := apiDo(t, http.MethodGet, s.httpURL+"/api/v1/streams/"+app+"/"+name+"/pushes", "")
	if code == http.StatusNotFound {
		return nil
	}
	require.Equal(t, http.StatusOK, code, body)
	var out struct {
		Pushes []pushInfo `json:"pushes"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &out), body)
	return out.Pushes
}

// onlyPush waits until app/name has exactly one push for which ok holds.
func onlyPush(t *testing.T, s *testServer, app, name string, within time.Duration, ok func(pushInfo) bool) pushInfo {
	t.Helper()
	var last []pushInfo
	deadline := time.Now().Add(within)
	for {
		last = pushesOf(t, s, app, name)
		if len(last) == 1 && ok(last[0]) {
			return last[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no push as wanted within %v: %+v", within, last)
		}
		time.Sleep(20 * time.Millisecond) // polling the API: no event to wait for
	}
}

func pushing(p pushInfo) bool { return p.State == relay.StatePushing && p.Bytes > 0 }

// TestPushToHeadwaterSurvivesItsRestart: an origin pushes to a second
// headwater (a process of its own); that one's players get the stream;
// the destination is killed and started again on the same ports: the
// push reconnects and media flows again (the time is logged); the
// publisher leaves: the push ends the destination's stream and releases
// its handle (the origin's registry is empty, goleak clean).
func TestPushToHeadwaterSurvivesItsRestart(t *testing.T) {
	needFFmpeg(t)
	dest := startBinary(t)
	origin := startServer(t, func(c *config.Config) {
		c.Relay.Push = map[string][]string{"live": {"rtmp://" + dest.rtmp + "/live/{stream}"}}
	})
	pub := ffmpegPublish(t, origin.rtmpURL+"/live/x", "320x240")
	destURL := "http://" + dest.httpAd + "/live/x.flv"
	waitLive(t, destURL)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pl := play(ctx, destURL)
	pl.waitKey(t, 10*time.Second)
	pl.waitTags(t, 60, 10*time.Second)
	p := onlyPush(t, origin, "live", "x", 5*time.Second, pushing)
	require.Equal(t, "config", p.Source)
	require.Zero(t, p.Reconnects)

	// The destination dies; the push notices and backs off.
	killed := time.Now()
	_ = dest.cmd.Process.Kill()
	<-dest.done
	pl.result(t, 10*time.Second)
	onlyPush(t, origin, "live", "x", 10*time.Second, func(p pushInfo) bool { return p.State != relay.StatePushing })

	// It comes back on the same ports.
	dest = startBinaryOn(t, dest.rtmp, dest.httpAd, nil)
	back := time.Now()
	p = onlyPush(t, origin, "live", "x", 10*time.Second, func(p pushInfo) bool { return p.State == relay.StatePushing })
	reconnected := time.Since(back)
	waitLive(t, destURL)
	pl2 := play(ctx, destURL)
	pl2.waitKey(t, 10*time.Second)
	flowing := time.Since(back)
	p = onlyPush(t, origin, "live", "x", 5*time.Second, pushing)
	require.GreaterOrEqual(t, p.Reconnects, uint64(1))
	require.NotEmpty(t, p.LastError)
	t.Logf("push: the destination was away %v; after it was back (up, /healthz answering) the push published again within %v "+
		"(the backoff's wait), and a new player there had a keyframe %v after it was back; %d reconnects, last error %q",
		back.Sub(killed).Round(time.Millisecond), reconnected.Round(time.Millisecond), flowing.Round(time.Millisecond), p.Reconnects, p.LastError)
	pl2.waitTags(t, 50, 10*time.Second)
	_, metrics := getBody(t, origin.httpURL+"/metrics")
	require.Equal(t, 1.0, metric(t, metrics, `headwater_pushes\{state="pushing"\}`))
	require.GreaterOrEqual(t, metric(t, metrics, "headwater_push_reconnects_total"), 1.0)

	// The publisher leaves: the push ends the destination's stream.
	pub.kill()
	res := pl2.result(t, 10*time.Second)
	require.True(t, isCleanEnd(res.err), "the destination's player ends cleanly: %v", res.err)
	require.True(t, res.firstKey, "the reconnected push starts the destination on a keyframe")
	require.Empty(t, res.backwards, "timestamps never go back at the destination")
	res.checkTimeline(t, 1000)
	require.Eventually(t, func() bool { return origin.Registry().Stats().Alive == 0 }, 5*time.Second, 10*time.Millisecond,
		"the push released its handle")
}

// TestPushToFFmpegListening: a push started through the API reaches
// ffmpeg listening as an RTMP server (-listen 1), which writes a valid
// FLV file of H.264 and AAC; the push ends with the stream, and ffmpeg
// with it.
func TestPushToFFmpegListening(t *testing.T) {
	needFFmpeg(t)
	origin := startServer(t, nil)
	addr := freePort(t)
	out := filepath.Join(t.TempDir(), "out.flv")
	var stderr bytes.Buffer
	listener := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-listen", "1",
		"-i", "rtmp://"+addr+"/live/x", "-c", "copy", "-f", "flv", out)
	listener.Stderr = &stderr
	require.NoError(t, listener.Start())
	exited := make(chan struct{})
	var exitErr error
	go func() { exitErr = listener.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = listener.Process.Kill()
		<-exited
	})

	pub := ffmpegPublish(t, origin.rtmpURL+"/live/x", "320x240")
	origin.waitLive(t, "live", "x")
	api := origin.httpURL + "/api/v1/streams/live/x/pushes"
	post := func(url, u string) (int, string) {
		resp, err := httpClient.Post(url, "application/json", strings.NewReader(`{"url":"`+u+`"}`))
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// ffmpeg may not listen yet: the push retries until it does.
	code, body := post(api, "rtmp://"+addr+"/live/x")
	require.Equal(t, http.StatusCreated, code, body)
	code, body = post(api, "rtmp://"+addr+"/live/x")
	require.Equal(t, http.StatusConflict, code, body)
	code, body = post(origin.httpURL+"/api/v1/streams/live/nothere/pushes", "rtmp://"+addr+"/live/x")
	require.Equal(t, http.StatusNotFound, code, body)
	code, body = post(api, "http://"+addr+"/live/x")
	require.Equal(t, http.StatusBadRequest, code, body)

	p := onlyPush(t, origin, "live", "x", 20*time.Second, func(p pushInfo) bool { return pushing(p) && p.Bytes > 100<<10 })
	require.Equal(t, "api", p.Source)
	pub.kill()
	select {
	case <-exited:
		require.NoError(t, exitErr, "ffmpeg: %s", stderr.String())
	case <-time.After(15 * time.Second):
		t.Fatalf("ffmpeg -listen 1 did not end with the stream; stderr: %s", stderr.String())
	}
	probe, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-show_entries", "stream=codec_name,nb_read_frames",
		"-of", "csv=p=0", out).CombinedOutput()
	require.NoError(t, err, "%s", probe)
	lines := strings.Fields(string(probe))
	require.Len(t, lines, 2, "%s", probe)
	var codecs []string
	for _, l := range lines {
		name, frames, _ := strings.Cut(l, ",")
		codecs = append(codecs, name)
		require.NotEqual(t, "0", frames, "%s", probe)
	}
	require.ElementsMatch(t, []string{"h264", "aac"}, codecs, "%s", probe)
	t.Logf("ffmpeg -listen 1 got %d bytes of push: %s", p.Bytes, strings.Join(lines, " "))
}

// stallProxy forwards RTMP connections to dest until stall is called;
// from then on it reads nothing more from the clients (each accepted
// with a small receive buffer, so that their writes block soon).
type stallProxy struct {
	ln      net.Listener
	stalled atomic.Bool
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   []net.Conn
}

func newStallProxy(t *testing.T, dest string) *stallProxy {
	t.Helper()
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		if err != nil {
			return err
		}
		return serr
	}}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &stallProxy{ln: ln, stop: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			d, err := net.Dial("tcp", dest)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, d)
			p.mu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); _, _ = io.Copy(c, d) }()
			go func() {
				defer p.wg.Done()
				buf := make([]byte, 4096)
				for !p.stalled.Load() {
					n, err := c.Read(buf)
					if err != nil {
						_ = d.Close()
						return
					}
					if _, err := d.Write(buf[:n]); err != nil {
						return
					}
				}
				<-p.stop // reads nothing more
			}()
		}
	}()
	t.Cleanup(func() {
		close(p.stop)
		_ = ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

// TestStalledPushDestinationDoesNotSlowPlayers: a destination that takes
// the publish, then reads nothing, fills only the push's own queue: the
// origin's players go on without a gap, the push is cut off after
// rtmp.write_timeout and retries; the stream's end stops it.
func TestStalledPushDestinationDoesNotSlowPlayers(t *testing.T) {
	skipInDeadlockPass(t)
	needFFmpeg(t)
	dest := startServer(t, nil)
	proxy := newStallProxy(t, dest.RTMPAddr().String())
	origin := startServer(t, func(c *config.Config) {
		c.Relay.Push = map[string][]string{"*": {"rtmp://" + proxy.ln.Addr().String() + "/{app}/{stream}"}}
		c.RTMP.WriteTimeout = 2 * time.Second
	})
	// 4 Mbit/s constant: the stalled connection's buffers fill in moments.
	pub := ffmpegPublish(t, origin.rtmpURL+"/live/x", "320x240",
		"-b:v", "4M", "-minrate", "4M", "-maxrate", "4M", "-bufsize", "2M", "-x264-params", "nal-hrd=cbr")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	originURL := origin.httpURL + "/live/x.flv"
	waitLive(t, originURL)
	pl := play(ctx, originURL)
	pl.waitKey(t, 10*time.Second)
	onlyPush(t, origin, "live", "x", 10*time.Second, pushing)
	waitLive(t, dest.httpURL+"/live/x.flv")
	pl.waitTags(t, 60, 10*time.Second)

	proxy.stalled.Store(true)
	stalledAt := time.Now()
	p := onlyPush(t, origin, "live", "x", 20*time.Second, func(p pushInfo) bool { return p.LastError != "" })
	cutOff := time.Since(stalledAt)
	pl.waitTags(t, 60+int(cutOff/(40*time.Millisecond)), 5*time.Second) // 25 fps + audio: at least one tag per 40 ms
	pub.kill()
	res := pl.result(t, 10*time.Second)
	require.True(t, isCleanEnd(res.err), "%v", res.err)
	require.Less(t, res.maxGap, time.Second, "the origin's player waited for the stalled push")
	t.Logf("push to a stalled destination cut off %v after the stall (%q); the origin's player's longest wait between two tags: %v",
		cutOff.Round(time.Millisecond), p.LastError, res.maxGap.Round(time.Millisecond))
	require.Eventually(t, func() bool { return len(pushesOf(t, origin, "live", "x")) == 0 && origin.Registry().Stats().Alive == 0 },
		10*time.Second, 10*time.Millisecond, "the push ends with the stream")
}

// TestPushLoopIsRefused: A pushes to B and B to A (same key, each
// other's address): B's push carries A's id in its via chain, so A
// refuses it, and B shows why; A's stream is not disturbed.
func TestPushLoopIsRefused(t *testing.T) {
	t.Parallel()
	b := startServer(t, nil)
	a := startServer(t, func(c *config.Config) {
		c.Relay.Push = map[string][]string{"live": {b.rtmpURL + "/live/{stream}"}}
	})
	// B pushes back to A: a reload gives it A's address.
	cfg := config.Default()
	cfg.Relay.Push = map[string][]string{"live": {a.rtmpURL + "/live/{stream}"}}
	b.Reload(cfg)

	pub, err := rtmpclient.Publish(context.Background(), a.rtmpURL+"/live/x", rtmpclient.Options{Timeout: 5 * time.Second})
	require.NoError(t, err)
	defer pub.Close()
	var iov net.Buffers
	for _, tag := range []flv.Tag{{Type: flv.TagVideo, Data: []byte{0x17, 0, 0, 0, 0, 1, 2, 3}}} {
		iov = pub.AppendMessage(iov, tag.Type, tag.Timestamp, tag.Data)
	}
	_, err = iov.WriteTo(pub.Conn())
	require.NoError(t, err)
	pub.Flushed()

	back := onlyPush(t, b, "live", "x", 10*time.Second, func(p pushInfo) bool { return p.LastError != "" })
	require.Contains(t, back.LastError, "loop")
	require.NotEqual(t, relay.StatePushing, back.State)
	require.Len(t, pushesOf(t, a, "live", "x"), 1, "A pushes to B as configured")
	// The chain in the publishing name's query is refused the same way.
	var server struct {
		ID string `json:"id"`
	}
	apiGet(t, a.httpURL+"/api/v1/server", &server)
	_, err = rtmpclient.Publish(context.Background(), a.rtmpURL+"/live/y?hw_via=n1,"+server.ID, rtmpclient.Options{Timeout: 5 * time.Second})
	require.ErrorIs(t, err, rtmpclient.ErrPublishFailed)
	require.ErrorContains(t, err, "loop")
	require.NoError(t, a.Registry().Kick(registry.Key{App: "live", Name: "x"}))
	require.Eventually(t, func() bool { return a.Registry().Stats().Alive == 0 && b.Registry().Stats().Alive == 0 },
		10*time.Second, 10*time.Millisecond)
}

// TestOnPublishHookChoosesThePushes: the on_publish hook's 2xx answer
// gives the stream's pushes and its {stream_key}, over relay.push; the
// stream's JSON lists them; DELETE by id stops one.
func TestOnPublishHookChoosesThePushes(t *testing.T) {
	t.Parallel()
	dest := startServer(t, nil)
	hooks := newHookServer(t)
	hooks.set(func(ev auth.HookEvent, w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"push": ["`+dest.rtmpURL+`/out/{stream_key}"], "stream_key": "k-`+ev.Stream+`"}`)
	})
	origin := startServer(t, func(c *config.Config) {
		c.Hooks.OnPublish = hooks.URL
		c.Relay.Push = map[string][]string{"live": {"rtmp://127.0.0.1:1/never/{stream}"}}
	})
	pub, err := rtmpclient.Publish(context.Background(), origin.rtmpURL+"/live/x", rtmpclient.Options{Timeout: 5 * time.Second})
	require.NoError(t, err)
	defer pub.Close()
	var iov net.Buffers
	iov = pub.AppendMessage(iov, flv.TagVideo, 0, []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f})
	_, err = iov.WriteTo(pub.Conn())
	require.NoError(t, err)
	pub.Flushed()

	p := onlyPush(t, origin, "live", "x", 10*time.Second, func(p pushInfo) bool { return p.State == relay.StatePushing })
	require.Equal(t, "hook", p.Source)
	require.Equal(t, dest.rtmpURL+"/out/k****", p.URL, "the stream key is masked")
	require.Eventually(t, func() bool {
		_, err := dest.Registry().Stream(registry.Key{App: "out", Name: "k-x"})
		return err == nil
	},
		5*time.Second, 10*time.Millisecond, "the destination has out/k-x")
	var st struct {
		Pushes []pushInfo `json:"pushes"`
	}
	apiGet(t, origin.httpURL+"/api/v1/streams/live/x", &st)
	require.Len(t, st.Pushes, 1)
	require.Equal(t, p.ID, st.Pushes[0].ID)

	resp, err := httpClient.Post(origin.httpURL+"/api/v1/streams/live/x/pushes", "application/json", strings.NewReader(`{"uri":1}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, "no url")
	code, body := apiDo(t, http.MethodDelete, origin.httpURL+"/api/v1/streams/live/x/pushes", "")
	require.Equal(t, http.StatusBadRequest, code, body)
	code, body = apiDo(t, http.MethodDelete, origin.httpURL+"/api/v1/streams/live/x/pushes?url=rtmp://elsewhere/out/k-x", "")
	require.Equal(t, http.StatusNotFound, code, body)
	req, err := http.NewRequest(http.MethodDelete, origin.httpURL+"/api/v1/streams/live/x/pushes", strings.NewReader(`{"url":"rtmp://elsewhere/out/k-x"}`))
	require.NoError(t, err)
	resp, err = httpClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "a JSON body names the push too")
	code, body = apiDo(t, http.MethodDelete, origin.httpURL+"/api/v1/streams/live/x/pushes/"+strconv.FormatUint(p.ID, 10), "")
	require.Equal(t, http.StatusNoContent, code, body)
	require.Empty(t, pushesOf(t, origin, "live", "x"))
	require.Eventually(t, func() bool { return dest.Registry().Stats().Streams == 0 }, 5*time.Second, 10*time.Millisecond,
		"the destination's stream ended with the push")
	code, body = apiDo(t, http.MethodDelete, origin.httpURL+"/api/v1/streams/live/x/pushes/"+strconv.FormatUint(p.ID, 10), "")
	require.Equal(t, http.StatusNotFound, code, body)
}

// TestPushOverRTMPS: a push to an rtmps:// destination (its certificate
// trusted through SSL_CERT_FILE, as an operator would for a private CA)
// reaches it over TLS; the client plays it back over rtmps:// too.
func TestPushOverRTMPS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	cert, _ := testCert(t, certFile, keyFile, 1)
	dest := startServer(t, func(c *config.Config) {
		c.RTMPS.Addr = "127.0.0.1:0"
		c.TLS.CertFile, c.TLS.KeyFile = certFile, keyFile
	})
	destURL := "rtmps://" + dest.RTMPSAddr().String()
	cfgFile := filepath.Join(dir, "origin.yaml")
	require.NoError(t, os.WriteFile(cfgFile, []byte("relay:\n  push:\n    live: [\""+destURL+"/tls/{stream}\"]\n"), 0o600))
	origin := startBinaryEnv(t, []string{"SSL_CERT_FILE=" + certFile}, "-config", cfgFile)

	pub, err := rtmpclient.Publish(context.Background(), "rtmp://"+origin.rtmp+"/live/x", rtmpclient.Options{Timeout: 5 * time.Second})
	require.NoError(t, err)
	defer pub.Close()
	var iov net.Buffers
	for _, tag := range []flv.Tag{
		{Type: flv.TagVideo, Data: st.Payload(st.AVCSeqHeader())},
		{Type: flv.TagVideo, Data: st.Payload(st.AVCFrame(true, 5000))},
		{Type: flv.TagVideo, Timestamp: 40, Data: st.Payload(st.AVCFrame(false, 500))},
	} {
		iov = pub.AppendMessage(iov, tag.Type, tag.Timestamp, tag.Data)
	}
	_, err = iov.WriteTo(pub.Conn())
	require.NoError(t, err)
	pub.Flushed()

	require.Eventually(t, func() bool {
		s, err := dest.Registry().Stream(registry.Key{App: "tls", Name: "x"})
		return err == nil && s.BytesIn > 5000
	}, 10*time.Second, 10*time.Millisecond, "the push reached the rtmps:// destination; origin log:\n%s", origin.out)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	pl, err := rtmpclient.Play(context.Background(), destURL+"/tls/x", rtmpclient.Options{Timeout: 5 * time.Second,
		ReadTimeout: 5 * time.Second, TLSConfig: &tls.Config{RootCAs: pool}})
	require.NoError(t, err)
	defer pl.Close()
	tag, err := pl.ReadTag()
	require.NoError(t, err)
	require.Equal(t, flv.TagVideo, tag.Type)
}
