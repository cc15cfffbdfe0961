package hwbench

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/pkg/flv"
)

// fakeServer answers every GET with what respond writes for its path.
type fakeServer struct {
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex // guards conns
	conn []net.Conn
}

func startFake(t *testing.T, respond func(path string, c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &fakeServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conn = append(s.conn, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				line, err := bufio.NewReader(c).ReadString('\n')
				if err != nil {
					return
				}
				f := strings.Fields(line)
				if len(f) < 2 {
					return
				}
				respond(f[1], c)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		s.mu.Lock()
		for _, c := range s.conn {
			_ = c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return "http://" + ln.Addr().String()
}

// chunkedFLV writes a 200 chunked response carrying b.
func chunkedFLV(c net.Conn, b []byte) {
	fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n", len(b))
	_, _ = c.Write(b)
	_, _ = c.Write([]byte("\r\n"))
}

func TestPlayersClassifyServerFaults(t *testing.T) {
	header := flv.AppendHeader(nil, true, true)
	key := flv.AppendTag(nil, flv.TagVideo, 0, []byte{0x17, 1, 0, 0, 0, 0, 0, 0, 2, 0x65, 0x88})
	inter := flv.AppendTag(nil, flv.TagVideo, 33, []byte{0x27, 1, 0, 0, 0, 0, 0, 0, 2, 0x41, 0x9a})
	base := startFake(t, func(path string, c net.Conn) {
		switch path {
		case "/404.flv":
			fmt.Fprint(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
		case "/badprev.flv":
			b := append(append([]byte{}, header...), key...)
			b[len(b)-1] ^= 0xff
			chunkedFLV(c, b)
			time.Sleep(100 * time.Millisecond) // let the player read before the close
		case "/idle.flv":
			chunkedFLV(c, append(append([]byte{}, header...), key...))
			_, _ = c.Read(make([]byte, 1)) // until the player gives up
		case "/ended.flv":
			fmt.Fprint(c, "HTTP/1.1 200 OK\r\n\r\n")
			_, _ = c.Write(append(append([]byte{}, header...), inter...)) // and the first frame is not key
		case "/truncated.flv":
			chunkedFLV(c, append(append([]byte{}, header...), key[:7]...))
			fmt.Fprint(c, "0\r\n\r\n")
		case "/notflv.flv":
			chunkedFLV(c, []byte("<html>hello</html>"))
		case "/garbage.flv":
			fmt.Fprint(c, "SSH-2.0-OpenSSH\r\n\r\n")
		}
	})
	for _, c := range []struct {
		path string
		want []string
	}{
		{"/404.flv", []string{"http_status"}},
		{"/badprev.flv", []string{"bad_prev_tag_size"}},
		{"/idle.flv", []string{"idle_timeout"}},
		{"/ended.flv", []string{"ended", "first_frame_not_key"}},
		{"/truncated.flv", []string{"truncated"}},
		{"/notflv.flv", []string{"bad_flv_header"}},
		{"/garbage.flv", []string{"bad_response"}},
	} {
		t.Run(c.path, func(t *testing.T) {
			t.Parallel()
			// The window leaves the 1 s idle watchdog room to fire on a loaded machine.
			cfg := &Config{Play: base + c.path, Streams: 1, Players: 2, Duration: 3 * time.Second,
				Stall: time.Second, Timeout: time.Second, ProgressEvery: 100 * time.Millisecond}
			res, err := Run(context.Background(), cfg)
			require.NoError(t, err)
			require.Positive(t, res.Errors)
			for k := range res.ErrorsByKind {
				require.Contains(t, c.want, k, "errors: %v (%v)", res.ErrorsByKind, res.ErrorSamples)
			}
			for _, k := range c.want {
				require.Positive(t, res.ErrorsByKind[k], "errors: %v (%v)", res.ErrorsByKind, res.ErrorSamples)
				require.NotEmpty(t, res.ErrorSamples[k])
			}
		})
	}
}

func TestRunSetupFailures(t *testing.T) {
	in, err := LoadInput("../../pkg/flv/testdata/avc_aac_160x120.flv")
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now

	_, err = Run(context.Background(), &Config{Publish: "rtmp://" + addr + "/live/x", Input: in, Streams: 1,
		Duration: time.Second, Stall: time.Second, Timeout: time.Second})
	require.ErrorIs(t, err, ErrSetup)
	require.Contains(t, err.Error(), "dial")

	for _, cfg := range []Config{
		{Play: "http://h/x.flv", Streams: 2, Players: 1, Duration: time.Second, Stall: time.Second, Timeout: time.Second},
		{Play: "ftp://h/x.flv", Streams: 1, Players: 1, Duration: time.Second, Stall: time.Second, Timeout: time.Second},
		{Publish: "rtmp://h/live", Input: in, Streams: 1, Duration: time.Second, Stall: time.Second, Timeout: time.Second},
		{Streams: 1, Duration: time.Second, Stall: time.Second, Timeout: time.Second},
		{Play: "http://h/x.flv", Streams: 1, Players: 1, Stall: time.Second, Timeout: time.Second},
	} {
		_, err := Run(context.Background(), &cfg)
		require.ErrorIs(t, err, ErrSetup, "%+v", cfg)
	}
}

func TestParseURLs(t *testing.T) {
	r, err := parseRTMPURL("rtmp://example.com/live/key?token=1")
	require.NoError(t, err)
	require.Equal(t, rtmpTarget{addr: "example.com:1935", app: "live", stream: "key?token=1", tcURL: "rtmp://example.com/live"}, r)
	h, err := parseHTTPURL("http://example.com/live/key.flv?x=1")
	require.NoError(t, err)
	require.Equal(t, httpTarget{addr: "example.com:80", host: "example.com", path: "/live/key.flv?x=1"}, h)
	require.Equal(t, "rtmp://h/live/s7", expand("rtmp://h/live/s%d", 7))
}

// TestPlayerReadPathDoesNotAllocate feeds a chunked, stamped FLV stream
// through a player's de-chunking, parsing and statistics.
func TestPlayerReadPathDoesNotAllocate(t *testing.T) {
	var st Stamper
	body := flv.AppendHeader(nil, true, true)
	body = flv.AppendTag(body, flv.TagVideo, 0, []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff})
	for i := range 30 {
		frame, ok := st.Stamp(avcFrame(4, []byte{0x65, 0x88, byte(i)}), time.Now().UnixNano())
		require.True(t, ok)
		body = flv.AppendTag(body, flv.TagVideo, uint32(i*33), frame)
		body = flv.AppendTag(body, flv.TagAudio, uint32(i*33), []byte{0xaf, 1, 0x21, 0x10})
	}
	wire := chunk(body, 700)
	b := &bench{cfg: &Config{Stall: time.Second}, errSamples: map[ErrorKind]string{}}
	p := &player{sh: b.stats.shard(0), cfg: b.cfg, bench: b, epoch: time.Now(), dialAt: time.Now().Add(-time.Second), respAt: time.Now().Add(-time.Second)}
	var lastKind ErrorKind
	feed := func() {
		p.parser.Reset()
		p.gotKey, p.gotVideo, p.lengthSz = false, false, 4
		var dec chunkDecoder
		for off := 0; off < len(wire); off += 1500 {
			p.now = time.Now()
			if kind, err := p.consume(wire[off:min(off+1500, len(wire))], true, &dec); err != nil {
				lastKind = kind
			}
		}
	}
	feed()
	require.Equal(t, EEnded, lastKind, "the zero-size chunk ends the stream")
	sh := p.sh
	require.EqualValues(t, 30, sh.counter[CVideoFrames].Load())
	require.EqualValues(t, 30, sh.counter[CKeyframes].Load())
	require.EqualValues(t, 30, sh.counter[CStamped].Load())
	require.EqualValues(t, 30, sh.counter[CAudioFrames].Load())
	var lat, ttff HistSnapshot
	sh.latency.AddTo(&lat)
	sh.ttff.AddTo(&ttff)
	require.EqualValues(t, 30, lat.N)
	require.EqualValues(t, 1, ttff.N)
	require.Zero(t, testing.AllocsPerRun(20, feed))
}
