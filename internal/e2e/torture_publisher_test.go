package e2e

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	rtmp "github.com/yutopp/go-rtmp"
	rtmpmsg "github.com/yutopp/go-rtmp/message"

	"github.com/headwater-media/headwater/pkg/flv"
)

// slowConn delays every write, as a loaded machine delays go-rtmp's writer
// goroutine.
type slowConn struct {
	net.Conn
	delay time.Duration
}

func (c slowConn) Write(b []byte) (int, error) {
	time.Sleep(c.delay) // the delay under test, not synchronisation
	return c.Conn.Write(b)
}

// TestTorturePublisherResetsOnAChunkBoundary: the torture publisher's
// "reset mid-tag" ends its stream with halfChunk after every chunk
// go-rtmp had queued, never in front of them, even when go-rtmp's writer
// goroutine lags behind Stream.Write (the fixture's 4822-byte keyframe,
// two chunks, is still being written). In front of them the server read
// a different chunk stream, and relayed a video message made of the
// keyframe's second chunk (TORTURE_SEED=1796484228510629083).
func TestTorturePublisherResetsOnAChunkBoundary(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
	srv := startServer(t, nil)
	var key []byte
	for _, tg := range loadFLV(t, "testdata/torture.flv") {
		if tg.typ == flv.TagVideo && len(tg.payload) > 4096 {
			key = tg.payload
			break
		}
	}
	require.NotNil(t, key, "the fixture has a keyframe of more than one 4096-byte chunk")

	// A proxy records what the publisher sends, in the order the server
	// gets it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	var (
		rec     bytes.Buffer
		proxied sync.WaitGroup
	)
	proxied.Add(1)
	go func() {
		defer proxied.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		up, err := net.Dial("tcp", srv.RTMPAddr().String())
		if err != nil {
			return
		}
		proxied.Add(1)
		go func() { defer proxied.Done(); _, _ = io.Copy(c, up) }()
		_, _ = io.Copy(io.MultiWriter(up, &rec), c) // until the publisher's FIN
		up.Close()
	}()

	raw, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(10 * time.Second))
	pc := &publisherConn{Conn: slowConn{Conn: raw, delay: 20 * time.Millisecond}}
	cc, err := rtmp.NewClientConn(pc, &rtmp.ConnConfig{})
	require.NoError(t, err)
	defer cc.Close()
	require.NoError(t, cc.Connect(&rtmpmsg.NetConnectionConnect{Command: rtmpmsg.NetConnectionConnectCommand{
		App: "live", TCURL: "rtmp://" + ln.Addr().String() + "/live"}}))
	s, err := cc.CreateStream(nil, 4096)
	require.NoError(t, err)
	require.NoError(t, s.Publish(&rtmpmsg.NetStreamPublish{PublishingName: "reset", PublishingType: "live"}))
	require.NoError(t, s.Write(5, 5000, &rtmpmsg.VideoMessage{Payload: bytes.NewReader(key)}))
	pc.resetMidChunk(cc)
	require.NoError(t, raw.(*net.TCPConn).CloseWrite())
	proxied.Wait()

	got := rec.Bytes()
	require.Greater(t, len(got), len(key), "the keyframe was sent")
	require.Equal(t, halfChunk, got[len(got)-len(halfChunk):],
		"the half chunk comes last, after every chunk go-rtmp had queued")
}
