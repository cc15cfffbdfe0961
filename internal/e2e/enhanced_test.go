package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/internal/lockcheck"
	"github.com/headwater-media/headwater/internal/rtmpclient"
	"github.com/headwater-media/headwater/internal/rtmptest"
	"github.com/headwater-media/headwater/pkg/flv"
)

// Enhanced RTMP (E-RTMP v1/v2) end to end. Debian's ffmpeg 5.1 encodes
// HEVC, AV1, VP9 and Opus but cannot publish E-RTMP, so each test encodes
// a short stream with it, packs it with rtmptest's E-RTMP packer, publishes
// it over a raw RTMP connection, and checks what HTTP-FLV and RTMP players
// receive: the same sequence start and every frame byte for byte, a join
// at a key frame, the API's codec details, and that ffmpeg decodes the
// received stream once unpacked.

// enhancedMedia is an encoded test stream packed as RTMP messages.
type enhancedMedia struct {
	codec string // hevc, av1, vp9
	video *rtmptest.VideoStream
	audio *rtmptest.AudioStream // nil without libopus
	// msgs: @setDataFrame onMetaData, then video and audio interleaved.
	msgs []rtmptest.Message
	// secondKey is the index in msgs of the second GOP's key frame.
	secondKey int
}

const (
	enhancedW, enhancedH = 320, 240
	enhancedFPS          = 25
)

// needEncoder skips when this machine's ffmpeg cannot encode codec.
func needEncoder(t *testing.T, codec string) {
	t.Helper()
	if rtmptest.EncoderFor(codec) == "" {
		t.Skipf("Debian's ffmpeg here has no %s encoder (looked for the ones rtmptest.Encode uses)", codec)
	}
}

// encodeEnhanced encodes ~2 s of 320x240 video at 25 fps with a 1 s GOP
// (and Opus, when ffmpeg has libopus) into a temporary directory and packs
// it: E-RTMP messages, or for legacy, HEVC with codec id 12. The video
// carries what an E-RTMP publisher may send besides frames: a Metadata
// packet (colorInfo) after the first key frame, a ModEx
// TimestampOffsetNano on some frames, and (HEVC) the second key frame as
// a multitrack message (one track, id 0), the AV1 one behind a ModEx: the
// server must still see them as key frames.
func encodeEnhanced(t *testing.T, codec string, legacy bool) *enhancedMedia {
	t.Helper()
	needEncoder(t, codec)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	path, err := rtmptest.Encode(ctx, dir, rtmptest.Encoding{Codec: codec, Width: enhancedW, Height: enhancedH, FPS: enhancedFPS, GOP: enhancedFPS, Seconds: 2})
	require.NoError(t, err)
	es, err := os.ReadFile(path)
	require.NoError(t, err)
	m := &enhancedMedia{codec: codec}
	switch codec {
	case "hevc":
		m.video, err = rtmptest.HEVCFromAnnexB(es, enhancedFPS)
	case "av1":
		m.video, err = rtmptest.AV1FromIVF(es)
	case "vp9":
		m.video, err = rtmptest.VP9FromIVF(es)
	}
	require.NoError(t, err)
	require.Len(t, m.video.Frames, 2*enhancedFPS)

	var video []rtmptest.Message
	videocodecid := rtmptest.FourCCNumber(m.video.FourCC)
	if legacy {
		video = m.video.LegacyHEVCMessages()
		videocodecid = float64(flv.CodecIDHEVC)
	} else {
		video = m.video.Messages()
		keys := 0
		for i := 1; i < len(video); i++ {
			msg := &video[i]
			switch {
			case msg.Key:
				keys++
				if keys == 2 && codec == "hevc" {
					body := msg.Payload[5:] // after the header byte and the FourCC: the composition time and NAL units
					msg.Payload = rtmptest.VideoMultitrack(true, msg.Payload[0]&0x0f, flv.MultitrackOneTrack,
						rtmptest.Track{ID: 0, FourCC: m.video.FourCC, Body: body})
				}
				if keys == 2 && codec == "av1" {
					msg.Payload = rtmptest.WithModExNano(msg.Payload, 250000)
				}
			case i%7 == 0:
				msg.Payload = rtmptest.WithModExNano(msg.Payload, uint32(i*1000))
			}
		}
		// colorInfo (E-RTMP Metadata), right after the first key frame.
		color := rtmptest.AMF0(nil, "colorInfo", rtmptest.Props{"colorConfig", rtmptest.Props{
			"bitDepth", 8, "colorPrimaries", 1, "transferCharacteristics", 1, "matrixCoefficients", 1}})
		meta := rtmptest.Message{Type: rtmptest.TypeVideo, Timestamp: video[1].Timestamp, Payload: rtmptest.VideoMetadata(m.video.FourCC, color)}
		video = append(video[:2], append([]rtmptest.Message{meta}, video[2:]...)...)
		video = append(video, rtmptest.Message{Type: rtmptest.TypeVideo, Timestamp: video[len(video)-1].Timestamp,
			Payload: rtmptest.VideoSequenceEnd(m.video.FourCC)})
	}

	props := rtmptest.Props{"width", enhancedW, "height", enhancedH, "framerate", enhancedFPS,
		"videocodecid", videocodecid, "encoder", "rtmptest E-RTMP packer"}
	if rtmptest.EncoderFor("opus") != "" {
		path, err := rtmptest.Encode(ctx, dir, rtmptest.Encoding{Codec: "opus", Seconds: 2})
		require.NoError(t, err)
		ogg, err := os.ReadFile(path)
		require.NoError(t, err)
		m.audio, err = rtmptest.OpusFromOgg(ogg)
		require.NoError(t, err)
		props = append(props, "audiocodecid", rtmptest.FourCCNumber("Opus"), "audiosamplerate", 48000)
	} else {
		t.Log("this ffmpeg has no libopus: video only")
	}
	m.msgs = []rtmptest.Message{{Type: rtmptest.TypeData, Payload: rtmptest.SetDataFrame(rtmptest.OnMetaData(props))}}
	if m.audio != nil {
		m.msgs = append(m.msgs, rtmptest.Merge(video, m.audio.Messages())...)
	} else {
		m.msgs = append(m.msgs, video...)
	}
	for i, msg := range m.msgs {
		if msg.Key && msg.Timestamp >= 1000 {
			m.secondKey = i
			break
		}
	}
	require.NotZero(t, m.secondKey, "a second GOP")
	return m
}

// recorder is a player (HTTP-FLV or RTMP) that keeps every tag it reads,
// until the stream ends.
type recorder struct {
	url    string
	done   chan struct{}
	notify chan struct{} // a new tag (latest wins)

	mu     sync.Mutex // guards what follows
	tags   []flv.Tag
	header flv.Header
	err    error
}

func record(ctx context.Context, url string) *recorder {
	r := &recorder{url: url, done: make(chan struct{}), notify: make(chan struct{}, 1)}
	go func() {
		defer close(r.done)
		err := r.run(ctx)
		r.mu.Lock()
		r.err = err
		r.mu.Unlock()
	}()
	return r
}

func (r *recorder) run(ctx context.Context) error {
	var src tagReader
	if strings.HasPrefix(r.url, "rtmp://") {
		rp, err := rtmpclient.Play(ctx, r.url, rtmpclient.Options{Timeout: 10 * time.Second})
		if err != nil {
			return err
		}
		defer rp.Close()
		stop := context.AfterFunc(ctx, func() { rp.Close() })
		defer stop()
		src = rtmpEnd{rp}
	} else {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
		if err != nil {
			return err
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		fr := flv.NewReader(resp.Body)
		h, err := fr.ReadHeader()
		if err != nil {
			return err
		}
		r.mu.Lock()
		r.header = h
		r.mu.Unlock()
		src = fr
	}
	for {
		tag, err := src.ReadTag()
		if err != nil {
			return err
		}
		tag.Data = bytes.Clone(tag.Data)
		r.mu.Lock()
		r.tags = append(r.tags, tag)
		r.mu.Unlock()
		select {
		case r.notify <- struct{}{}:
		default:
		}
	}
}

// waitFor waits until the tags read so far satisfy ok.
func (r *recorder) waitFor(t *testing.T, what string, ok func([]flv.Tag) bool) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		r.mu.Lock()
		got := ok(r.tags)
		r.mu.Unlock()
		if got {
			return
		}
		select {
		case <-r.notify:
		case <-r.done:
			r.mu.Lock()
			defer r.mu.Unlock()
			if !ok(r.tags) {
				t.Fatalf("%s: ended (%v) before %s", r.url, r.err, what)
			}
			return
		case <-deadline:
			t.Fatalf("%s: not within 20 s: %s", r.url, what)
		}
	}
}

// result waits for the player's end: a clean end of stream.
func (r *recorder) result(t *testing.T) []flv.Tag {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s still playing 20 s after the publisher left", r.url)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	require.True(t, isCleanEnd(r.err), "%s ended with %v", r.url, r.err)
	return r.tags
}

// has reports whether payload is among the tags.
func has(payload []byte) func([]flv.Tag) bool {
	return func(tags []flv.Tag) bool {
		for _, tg := range tags {
			if bytes.Equal(tg.Data, payload) {
				return true
			}
		}
		return false
	}
}

// send publishes msgs over c.
func send(t *testing.T, c *rtmptest.Conn, msgs []rtmptest.Message) {
	t.Helper()
	for _, m := range msgs {
		require.NoError(t, c.Send(m.Type, m.Timestamp, m.Payload))
	}
}

// checkReceived compares what a player received with what was published:
// the video sequence start byte for byte; then every video message from
// the published index from on (from the first key frame for a player that
// came at the start, from the second GOP's key frame for one that joined
// it), byte for byte, in order, with their timestamps, the first a key
// frame; and a non-empty tail of the audio messages, likewise.
func checkReceived(t *testing.T, name string, m *enhancedMedia, tags []flv.Tag, from int) {
	t.Helper()
	var pubVideo, pubAudio []rtmptest.Message
	var videoSeq, audioSeq []byte
	for i, msg := range m.msgs {
		switch msg.Type {
		case rtmptest.TypeVideo:
			if v, err := flv.ParseVideo(msg.Payload); err == nil && v.SequenceHeader {
				videoSeq = msg.Payload
			} else if i >= from {
				pubVideo = append(pubVideo, msg)
			}
		case rtmptest.TypeAudio:
			if a, err := flv.ParseAudio(msg.Payload); err == nil && a.SequenceHeader {
				audioSeq = msg.Payload
			} else {
				pubAudio = append(pubAudio, msg)
			}
		}
	}
	var gotVideo, gotAudio []flv.Tag
	var gotVideoSeq, gotAudioSeq []byte
	scripts := 0
	for _, tg := range tags {
		switch tg.Type {
		case flv.TagScript:
			scripts++
		case flv.TagVideo:
			if v, err := flv.ParseVideo(tg.Data); err == nil && v.SequenceHeader {
				require.Nil(t, gotVideoSeq, "%s: one video sequence start", name)
				require.Empty(t, gotVideo, "%s: the sequence start comes first", name)
				gotVideoSeq = tg.Data
			} else {
				gotVideo = append(gotVideo, tg)
			}
		case flv.TagAudio:
			if a, err := flv.ParseAudio(tg.Data); err == nil && a.SequenceHeader {
				gotAudioSeq = tg.Data
			} else {
				gotAudio = append(gotAudio, tg)
			}
		}
	}
	require.Equal(t, 1, scripts, "%s: onMetaData", name)
	require.Equal(t, videoSeq, gotVideoSeq, "%s: the video sequence start, byte for byte", name)
	require.NotEmpty(t, gotVideo, name)
	first, err := flv.ParseVideo(gotVideo[0].Data)
	require.NoError(t, err)
	require.True(t, first.Keyframe, "%s: the first frame after the headers is a key frame", name)
	require.Len(t, gotVideo, len(pubVideo), "%s: every video message from index %d on", name, from)
	for i, tg := range gotVideo {
		require.Equal(t, pubVideo[i].Payload, tg.Data, "%s: video message %d, byte for byte", name, i)
		require.Equal(t, pubVideo[i].Timestamp, tg.Timestamp, "%s: video message %d's timestamp", name, i)
	}
	if m.audio == nil {
		require.Nil(t, gotAudioSeq, name)
		return
	}
	require.Equal(t, audioSeq, gotAudioSeq, "%s: the Opus sequence start (OpusHead), byte for byte", name)
	require.NotEmpty(t, gotAudio, name)
	tail := pubAudio[len(pubAudio)-len(gotAudio):]
	for i, tg := range gotAudio {
		require.Equal(t, tail[i].Payload, tg.Data, "%s: audio message %d of the last %d, byte for byte", name, i, len(gotAudio))
		require.Equal(t, tail[i].Timestamp, tg.Timestamp, "%s: audio message %d's timestamp", name, i)
	}
	if from <= 1 {
		require.Len(t, gotAudio, len(pubAudio), "%s: all the audio", name)
	}
}

// streamDetails is GET /api/v1/streams/{app}/{stream} (apiStream of
// api_details_test.go).
func streamDetails(t *testing.T, base, app, name string) apiStream {
	t.Helper()
	code, body := getBody(t, base+"/api/v1/streams/"+app+"/"+name)
	require.Equal(t, http.StatusOK, code, body)
	var s apiStream
	require.NoError(t, json.Unmarshal([]byte(body), &s), body)
	require.NotNil(t, s.Video, body)
	return s
}

// decodes unpacks the video (and Opus) a player received and has ffmpeg
// decode it: no error, every frame.
func decodes(t *testing.T, name string, m *enhancedMedia, tags []flv.Tag) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	u, err := rtmptest.UnpackVideo(tags)
	require.NoError(t, err, name)
	out, err := rtmptest.Decode(ctx, dir, "video", u)
	require.NoError(t, err, name)
	require.Empty(t, out, "%s: ffmpeg -v error says nothing", name)
	n, err := rtmptest.DecodedFrames(ctx, filepath.Join(dir, "video."+u.Format), u.Format)
	require.NoError(t, err)
	require.Equal(t, u.Frames, n, "%s: ffmpeg decodes every frame received", name)
	if m.audio == nil {
		return
	}
	u, err = rtmptest.UnpackOpus(tags)
	require.NoError(t, err, name)
	out, err = rtmptest.Decode(ctx, dir, "audio", u)
	require.NoError(t, err, name)
	require.Empty(t, out, name)
}

// passThrough publishes m as live/name and checks an HTTP-FLV and an RTMP
// player from the start and another of each that joins in the second
// GOP, the API while it is live, and that the received streams decode.
func passThrough(t *testing.T, m *enhancedMedia, name, wantCodec, wantProfile string) {
	s := startServer(t, nil)
	httpURL, rtmpURL := s.httpURL+"/live/"+name+".flv", s.rtmpURL+"/live/"+name
	c := rawPublish(t, s.RTMPAddr().String(), name)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The first GOP, then two players: they get it from the GOP cache.
	send(t, c, m.msgs[:m.secondKey])
	s.waitLive(t, "live", name)
	early := []*recorder{record(ctx, httpURL), record(ctx, rtmpURL)}
	last := m.msgs[m.secondKey-1].Payload
	for _, r := range early {
		r.waitFor(t, "the first GOP", has(last))
	}

	// The second GOP's key frame and a few frames; once the early players
	// have them, the server has: two players join, at that key frame.
	mid := m.secondKey + 8
	send(t, c, m.msgs[m.secondKey:mid])
	for _, r := range early {
		r.waitFor(t, "the second key frame and after", has(m.msgs[mid-1].Payload))
	}
	late := []*recorder{record(ctx, httpURL), record(ctx, rtmpURL)}
	for _, r := range late {
		r.waitFor(t, "the cached GOP", has(m.msgs[mid-1].Payload))
	}

	// The API shows the codec, size and measured frame rate.
	api := streamDetails(t, s.httpURL, "live", name)
	require.Equal(t, wantCodec, api.Video.Codec)
	require.Equal(t, [2]int{enhancedW, enhancedH}, [2]int{api.Video.Width, api.Video.Height})
	require.Equal(t, wantProfile, api.Video.Profile)
	require.InDelta(t, enhancedFPS, api.Video.FPS, 0.5)
	if m.audio != nil {
		require.NotNil(t, api.Audio)
		require.Equal(t, "opus", api.Audio.Codec)
		require.Equal(t, 48000, api.Audio.SampleRate)
		require.Equal(t, 1, api.Audio.Channels)
	}
	t.Logf("API: video %+v", *api.Video)

	// The rest, then the publisher leaves: every player's stream ends.
	send(t, c, m.msgs[mid:])
	require.NoError(t, c.Close())
	for i, r := range append(early, late...) {
		from := 1 // the first key frame
		if i >= len(early) {
			from = m.secondKey
		}
		tags := r.result(t)
		pname := fmt.Sprintf("%s player %d (%s)", name, i, r.url[:strings.Index(r.url, ":")])
		if strings.HasPrefix(r.url, "http") {
			require.True(t, r.header.HasVideo, pname)
			require.Equal(t, m.audio != nil, r.header.HasAudio, pname)
		}
		checkReceived(t, pname, m, tags, from)
		decodes(t, pname, m, tags)
	}
}

func TestEnhancedRTMPPassThrough(t *testing.T) {
	skipInDeadlockPass(t)
	needFFmpeg(t)
	for _, tc := range []struct{ codec, apiCodec, profile string }{
		{"hevc", "hevc", "Main"},
		{"av1", "av1", "Main"},
		{"vp9", "vp9", "Profile 0"},
	} {
		t.Run(tc.codec, func(t *testing.T) {
			m := encodeEnhanced(t, tc.codec, false)
			passThrough(t, m, "ertmp-"+tc.codec, tc.apiCodec, tc.profile)
		})
	}
}

// TestEnhancedRTMPThroughEdges: an HEVC E-RTMP stream (with its
// multitrack key frame and ModEx frames) published to an origin reaches
// players on two edges, one pulling over HTTP-FLV and one over RTMP,
// byte for byte from the first key frame, and decodes.
func TestEnhancedRTMPThroughEdges(t *testing.T) {
	skipInDeadlockPass(t)
	needFFmpeg(t)
	m := encodeEnhanced(t, "hevc", false)
	origin := startServer(t, nil)
	e1 := startEdge(t, time.Second, origin.httpURL)
	e2 := startEdge(t, time.Second, origin.rtmpURL)
	c := rawPublish(t, origin.RTMPAddr().String(), "edge-hevc")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	send(t, c, m.msgs[:m.secondKey])
	origin.waitLive(t, "live", "edge-hevc")
	players := []*recorder{record(ctx, e1.httpURL+"/live/edge-hevc.flv"), record(ctx, e2.rtmpURL+"/live/edge-hevc")}
	for _, r := range players {
		r.waitFor(t, "the first GOP", has(m.msgs[m.secondKey-1].Payload))
	}
	send(t, c, m.msgs[m.secondKey:])
	for _, r := range players {
		r.waitFor(t, "the whole stream", has(m.msgs[len(m.msgs)-1].Payload))
	}
	require.Equal(t, "hevc", streamDetails(t, e1.httpURL, "live", "edge-hevc").Video.Codec)
	api := streamDetails(t, e2.httpURL, "live", "edge-hevc")
	require.Equal(t, [3]any{"hevc", enhancedW, enhancedH}, [3]any{api.Video.Codec, api.Video.Width, api.Video.Height})
	require.NoError(t, c.Close())
	for i, r := range players {
		tags := r.result(t)
		name := fmt.Sprintf("edge %d player", i+1)
		checkReceived(t, name, m, tags, 1)
		decodes(t, name, m, tags)
	}
}

// TestEnhancedRTMPEdgeFailover: an edge plays an HEVC E-RTMP stream from
// origin A; when A's publisher leaves, it goes on from origin B (which
// has the same stream) for its HTTP-FLV and RTMP players. They get only
// frames that were published, byte for byte, and what they got decodes
// without an error across the switch: B's part starts at a key frame.
func TestEnhancedRTMPEdgeFailover(t *testing.T) {
	skipInDeadlockPass(t)
	needFFmpeg(t)
	needEncoder(t, "hevc")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	path, err := rtmptest.Encode(ctx, t.TempDir(), rtmptest.Encoding{Codec: "hevc", Width: enhancedW, Height: enhancedH, FPS: enhancedFPS, GOP: enhancedFPS, Seconds: 2})
	require.NoError(t, err)
	es, err := os.ReadFile(path)
	require.NoError(t, err)
	v, err := rtmptest.HEVCFromAnnexB(es, enhancedFPS)
	require.NoError(t, err)
	msgs := v.Messages()
	published := make(map[string]bool, len(msgs))
	for _, m := range msgs {
		published[string(m.Payload)] = true
	}

	a, b := startServer(t, nil), startServer(t, nil)
	e := startEdge(t, time.Second, a.httpURL, b.rtmpURL)
	publish := func(s *testServer) (stop func()) {
		c := rawPublish(t, s.RTMPAddr().String(), "fo")
		pctx, pcancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- loopRealTime(pctx, c, msgs) }()
		return func() {
			pcancel()
			require.NoError(t, <-done)
			require.NoError(t, c.Close())
		}
	}
	stopA, stopB := publish(a), publish(b)
	a.waitLive(t, "live", "fo")
	b.waitLive(t, "live", "fo")

	players := []*recorder{record(ctx, e.httpURL+"/live/fo.flv"), record(ctx, e.rtmpURL+"/live/fo")}
	videoTags := func(n int) func([]flv.Tag) bool {
		return func(tags []flv.Tag) bool {
			c := 0
			for _, tg := range tags {
				if tg.Type == flv.TagVideo {
					c++
				}
			}
			return c >= n
		}
	}
	for _, r := range players {
		r.waitFor(t, "30 video tags from A", videoTags(30))
	}
	require.Equal(t, 1, streamPlayers(a, "live", "fo"))
	stopA()
	require.Eventually(t, func() bool { return streamPlayers(b, "live", "fo") == 1 }, 10*time.Second, 10*time.Millisecond)
	for _, r := range players {
		r.waitFor(t, "50 more video tags, from B", videoTags(30+50))
	}
	stopB()
	for i, r := range players {
		tags := r.result(t)
		name := fmt.Sprintf("failover player %d", i)
		for _, tg := range tags {
			if tg.Type == flv.TagVideo {
				require.True(t, published[string(tg.Data)], "%s: a video tag that was published, byte for byte", name)
			}
		}
		decodes(t, name, &enhancedMedia{}, tags)
	}
	_, body := getBody(t, e.httpURL+"/metrics")
	require.Equal(t, 1.0, metric(t, body, "headwater_edge_failovers_total"))
}

// TestLegacyHEVCCodecID12PassThrough: HEVC in the pre-E-RTMP convention of
// Chinese CDNs (AVC's layout with codec id 12, onMetaData videocodecid 12).
func TestLegacyHEVCCodecID12PassThrough(t *testing.T) {
	skipInDeadlockPass(t)
	needFFmpeg(t)
	m := encodeEnhanced(t, "hevc", true)
	passThrough(t, m, "legacy-hevc", "hevc", "Main")
}

// TestBrowserPlaysEnhancedAV1: mpegts.js (the vendored 1.8.2, which
// demuxes E-RTMP 'av01' in FLV) plays an AV1 stream in Chromium on the
// player page: the <video> reaches HAVE_FUTURE_DATA and its clock
// advances by a second.
func TestBrowserPlaysEnhancedAV1(t *testing.T) {
	needFFmpeg(t)
	chromium := needChromium(t)
	if lockcheck.Enabled() {
		t.Skip("browser test: runs in the pass without -tags deadlock")
	}
	needEncoder(t, "av1")
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	path, err := rtmptest.Encode(ctx, dir, rtmptest.Encoding{Codec: "av1", Width: enhancedW, Height: enhancedH, FPS: enhancedFPS, GOP: enhancedFPS, Seconds: 2})
	require.NoError(t, err)
	es, err := os.ReadFile(path)
	require.NoError(t, err)
	v, err := rtmptest.AV1FromIVF(es)
	require.NoError(t, err)

	s := startServer(t, nil)
	c := rawPublish(t, s.RTMPAddr().String(), "av1")
	meta := rtmptest.SetDataFrame(rtmptest.OnMetaData(rtmptest.Props{"width", enhancedW, "height", enhancedH,
		"framerate", enhancedFPS, "videocodecid", rtmptest.FourCCNumber("av01")}))
	require.NoError(t, c.Send(rtmptest.TypeData, 0, meta))
	published := make(chan error, 1)
	go func() { published <- loopRealTime(ctx, c, v.Messages()) }()
	defer func() {
		cancel()
		require.NoError(t, <-published)
	}()
	s.waitLive(t, "live", "av1")

	artifacts := artifactDir(t)
	b := newBrowser(t, chromium, artifacts)
	tab := b.tab(t, "av1")
	require.NoError(t, chromedp.Do(tab.ctx, chromedp.Navigate(s.httpURL+"/play/live/av1")))
	t.Logf("MediaSource.isTypeSupported: %s", tab.eval(t, `JSON.stringify(Object.fromEntries(
		['av01.0.00M.08', 'av01.0.01M.08', 'av01.0.04M.08'].map(
			c => [c, MediaSource.isTypeSupported('video/mp4; codecs="' + c + '"')])))`))
	tab.waitPlaying(t, 20*time.Second, 0)
	tab.wait(t, "the page shows the AV1 video (320x240)", 10*time.Second,
		`document.getElementById('video').videoWidth === 320 && document.getElementById('video').videoHeight === 240`)
	t.Logf("player: %s", tab.eval(t, `JSON.stringify(window.headwaterPlayer)`))
	tab.screenshot(t, filepath.Join(artifacts, "ertmp-av1.png"))
	b.checkConsole(t)
}

// loopRealTime sends msgs in real time, again and again with timestamps
// that go on, until ctx is done; the sequence start only once.
func loopRealTime(ctx context.Context, c *rtmptest.Conn, msgs []rtmptest.Message) error {
	start := time.Now()
	period := msgs[len(msgs)-1].Timestamp + 40
	for loop := uint32(0); ; loop++ {
		for i, m := range msgs {
			if i == 0 && loop > 0 {
				continue
			}
			ts := m.Timestamp + loop*period
			timer := time.NewTimer(time.Duration(ts)*time.Millisecond - time.Since(start))
			select {
			case <-ctx.Done():
				timer.Stop()
				return nil
			case <-timer.C:
			}
			if err := c.Send(m.Type, ts, m.Payload); err != nil {
				return err
			}
		}
	}
}

// skipInDeadlockPass skips a codec test in make test's -tags deadlock
// pass: its server paths are the ones every other e2e test takes under
// the lock-order detector; what it adds is codec handling and encoding
// time, which the -race pass covers.
func skipInDeadlockPass(t *testing.T) {
	t.Helper()
	if lockcheck.Enabled() {
		t.Skip("a peer or codec check with no lock path of its own: covered by the -race pass")
	}
}
