package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/internal/rtmptest"
	st "github.com/headwater-media/headwater/internal/stream/streamtest"
)

// Hostile and unlucky publishers, each a raw RTMP client (rtmptest)
// against the real binary: timestamps that wrap and jump, connections
// that never publish, header-only publishers, floods of unknown and
// aggregate messages, bare onMetaData, audio-first streams.

// rawPublish connects a raw RTMP client to addr and publishes live/name
// (without waiting for the answer). The connection is closed at cleanup.
func rawPublish(t *testing.T, addr, name string) *rtmptest.Conn {
	t.Helper()
	c, err := rtmptest.Dial(addr, 60*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.Connect("live"))
	require.NoError(t, c.Publish(name))
	return c
}

// sendHeaders sends @setDataFrame onMetaData announcing audio and video and
// both sequence headers, stamped ts.
func sendHeaders(t *testing.T, c *rtmptest.Conn, ts uint32) {
	t.Helper()
	require.NoError(t, c.Send(rtmptest.TypeData, ts, rtmptest.SetDataFrame(st.Payload(st.Metadata(true, true)))))
	require.NoError(t, c.Send(rtmptest.TypeVideo, ts, st.Payload(st.AVCSeqHeader())))
	require.NoError(t, c.Send(rtmptest.TypeAudio, ts, st.Payload(st.AACSeqHeader())))
}

// sendFrames sends the frames of a synthetic timeline.
func sendFrames(t *testing.T, c *rtmptest.Conn, fs []st.Frame) {
	t.Helper()
	for _, f := range fs {
		if f.Video {
			require.NoError(t, c.Send(rtmptest.TypeVideo, f.TS, st.Payload(st.AVCFrame(f.Key, 40))))
		} else {
			require.NoError(t, c.Send(rtmptest.TypeAudio, f.TS, st.Payload(st.AACFrame(12))))
		}
	}
}

func countVideo(fs []st.Frame) (audio, video int) {
	for _, f := range fs {
		if f.Video {
			video++
		} else {
			audio++
		}
	}
	return audio, video
}

// streamJSON is the part of GET /api/v1/streams/{app}/{stream} these tests read.
type hostileStreamJSON struct {
	DroppedFrames    uint64 `json:"dropped_frames"`
	TimestampRepairs uint64 `json:"timestamp_repairs"`
}

func getStream(t *testing.T, base, app, name string) hostileStreamJSON {
	t.Helper()
	code, body := getBody(t, base+"/api/v1/streams/"+app+"/"+name)
	require.Equal(t, http.StatusOK, code, body)
	var s hostileStreamJSON
	require.NoError(t, json.Unmarshal([]byte(body), &s), body)
	return s
}

// TestHostileTimestamps publishes 12 s of 30 fps video and 23 ms audio
// whose timestamps wrap at 32 bits, jump back and forward, or arrive out of
// order. A player that joined at the start must see, per track, strictly
// increasing timestamps that never step more than stream.max_ts_jump, and
// drop nothing.
func TestHostileTimestamps(t *testing.T) {
	p := startBinary(t)
	base := "http://" + p.httpAd
	const h = 3600 * 1000
	outOfOrder := func(fs []st.Frame) {
		for i := 0; i+1 < len(fs); i++ {
			if !fs[i].Video && i%13 == 0 {
				for j := i + 1; j < len(fs); j++ {
					if !fs[j].Video {
						fs[i].TS, fs[j].TS = fs[j].TS, fs[i].TS
						break
					}
				}
			}
		}
	}
	for _, tc := range []struct {
		name    string
		clock   func(real int64) uint32
		mangle  func([]st.Frame)
		repairs bool
	}{
		{"wrap", func(r int64) uint32 { return uint32(math.MaxUint32 - 5000 + r) }, nil, false},
		{"back-twice", func(r int64) uint32 {
			switch {
			case r < 4000:
				return uint32(r)
			case r < 8000:
				return uint32(r - 4000)
			}
			return uint32(r - 8000)
		}, nil, true},
		{"back-1h", func(r int64) uint32 {
			if r < 4000 {
				return uint32(h + r)
			}
			return uint32(r)
		}, nil, true},
		{"forward-3h", func(r int64) uint32 {
			if r < 4000 {
				return uint32(r)
			}
			return uint32(3*h + r)
		}, nil, true},
		{"out-of-order-audio", func(r int64) uint32 { return uint32(r) }, outOfOrder, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := st.AVTimeline(12000, tc.clock)
			if tc.mangle != nil {
				tc.mangle(fs)
			}
			c := rawPublish(t, p.rtmp, tc.name)
			sendHeaders(t, c, fs[0].TS)
			sendFrames(t, c, fs[:1]) // the first keyframe: the stream is ready
			url := base + "/live/" + tc.name + ".flv"
			waitLive(t, url)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			pl := play(ctx, url)
			pl.waitKey(t, 10*time.Second)
			sendFrames(t, c, fs[1:])
			na, nv := countVideo(fs)
			pl.waitTags(t, 3+na+nv, 20*time.Second) // metadata, two headers, every frame
			info := getStream(t, base, "live", tc.name)
			require.NoError(t, c.Close())
			res := pl.result(t, 10*time.Second)
			require.True(t, isCleanEnd(res.err), "%v", res.err)
			require.True(t, res.header.HasAudio && res.header.HasVideo, "%+v", res.header)
			require.Len(t, res.media[0], na, "every audio frame")
			require.Len(t, res.media[1], nv, "every video frame")
			res.checkTimeline(t, 1000)
			require.Less(t, res.maxTS, uint32(1<<31), "no timestamp near the 32-bit end: %d", res.maxTS)
			require.Zero(t, info.DroppedFrames, "a healthy player drops nothing")
			if tc.repairs {
				require.Positive(t, info.TimestampRepairs)
			} else {
				require.Zero(t, info.TimestampRepairs)
			}
		})
	}
	_, body := getBody(t, base+"/metrics")
	require.Positive(t, metric(t, body, "headwater_timestamp_repairs_total"))
}

// TestHeaderOnlyPublisherIsCutAtTheMediaTimeout: metadata and sequence
// headers every 200 ms, and malformed video tags, but never a frame. Only
// coded frames count as media, so the publisher is cut off at
// rtmp.media_timeout and its player's response ends.
func TestHeaderOnlyPublisherIsCutAtTheMediaTimeout(t *testing.T) {
	p := startBinaryEnv(t, []string{"HEADWATER_RTMP_MEDIA_TIMEOUT=2s"})
	url := "http://" + p.httpAd + "/live/headers.flv"
	c := rawPublish(t, p.rtmp, "headers")
	start := time.Now()
	sendHeaders(t, c, 0)
	waitLive(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pl := play(ctx, url)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-c.Done():
			done = true
		case <-tick.C:
			require.Less(t, time.Since(start), 8*time.Second, "still publishing headers after 8 s with a 2 s media timeout")
			// Errors are expected here: the server closes the connection.
			_ = c.Send(rtmptest.TypeData, 0, rtmptest.SetDataFrame(st.Payload(st.Metadata(true, true))))
			_ = c.Send(rtmptest.TypeVideo, 0, st.Payload(st.AVCSeqHeader()))
			_ = c.Send(rtmptest.TypeAudio, 0, st.Payload(st.AACSeqHeader()))
			_ = c.Send(rtmptest.TypeVideo, 0, []byte{0x17, 0x01})     // an AVC frame with no NAL units
			_ = c.Send(rtmptest.TypeVideo, 0, []byte{0x91, 'h', 'v'}) // malformed: E-RTMP without a whole FourCC
			_ = c.Send(rtmptest.TypeAudio, 0, []byte{0xaf, 0x01})     // an AAC frame with no data
		}
	}
	require.Less(t, time.Since(start), 5*time.Second)
	res := pl.result(t, 5*time.Second)
	require.True(t, isCleanEnd(res.err), "the player's response ended: %v", res.err)
}

// floodMessages are message types headwater does not handle.
var floodMessages = []byte{0, 7, 10, 11, 12, 13, 16, 21, 23, 99, 127, 255}

// TestFloodOfUnknownAndAggregateMessages publishes with 100,000 messages
// of unknown types, unknown data and commands in between, and its media in
// aggregate messages. The publisher stays connected, its players get every
// frame with the aggregates' timestamps, the messages are counted, and the
// log stays short.
func TestFloodOfUnknownAndAggregateMessages(t *testing.T) {
	p := startBinary(t, "-log-level", "warn")
	base := "http://" + p.httpAd
	url := base + "/live/flood.flv"
	c := rawPublish(t, p.rtmp, "flood")
	sendHeaders(t, c, 0)
	// A first aggregate with a keyframe makes the stream ready.
	frame := func(ts uint32, key bool) rtmptest.Sub {
		return rtmptest.Sub{Type: rtmptest.TypeVideo, TS: ts, Payload: st.Payload(st.AVCFrame(key, 40))}
	}
	audio := func(ts uint32) rtmptest.Sub {
		return rtmptest.Sub{Type: rtmptest.TypeAudio, TS: ts, Payload: st.Payload(st.AACFrame(12))}
	}
	require.NoError(t, c.Send(rtmptest.TypeAggregate, 0, rtmptest.Aggregate(frame(0, true), audio(10))))
	waitLive(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pl := play(ctx, url)
	pl.waitKey(t, 10*time.Second)

	const flood, rounds = 100000, 100
	aggregates := 0
	for i := 0; i < flood; i++ {
		typ := floodMessages[i%len(floodMessages)]
		require.NoError(t, c.Chunks(func(ch *rtmptest.Chunker) {
			ch.Msg(5, typ, 0, rtmptest.StreamID, []byte{byte(i)})
			if i%(flood/rounds) == 0 {
				// An aggregate of 3 frames every 1,000 messages, stamped as
				// the stream goes on; sub-message times are relative.
				aggregates++
				ts := uint32(aggregates * 100)
				ch.Msg(6, rtmptest.TypeAggregate, ts, rtmptest.StreamID, rtmptest.Aggregate(
					frame(50000, false), audio(50010), frame(50033, false)))
				ch.Msg(5, rtmptest.TypeData, ts, rtmptest.StreamID, dataMessage("onTextData"))
				ch.Msg(3, rtmptest.TypeCommand, 0, 0, rtmptest.Command("noSuchCommand", 0, rtmptest.Args{nil}))
			}
		}))
	}
	// Everything was handled: one more aggregate, then every frame has arrived.
	require.NoError(t, c.Send(rtmptest.TypeAggregate, uint32(aggregates*100+100), rtmptest.Aggregate(frame(0, false))))
	pl.waitTags(t, 3+2+3*aggregates+1, 30*time.Second)
	select {
	case <-c.Done():
		t.Fatalf("the publisher was disconnected: %v", c.Err())
	default:
	}
	require.NoError(t, c.Close())
	res := pl.result(t, 10*time.Second)
	require.Len(t, res.media[1], 1+2*aggregates+1)
	require.Len(t, res.media[0], 1+aggregates)
	res.checkTimeline(t, 1000)
	// The second frame of the first flood aggregate is 33 ms after its first.
	require.Equal(t, res.media[1][1]+33, res.media[1][2], "sub-message timestamps: %v", res.media[1][:4])

	_, body := getBody(t, base+"/metrics")
	require.Equal(t, float64(flood), metric(t, body, regexp.QuoteMeta(`headwater_rtmp_ignored_messages_total{kind="type"}`)))
	require.Equal(t, float64(aggregates), metric(t, body, regexp.QuoteMeta(`headwater_rtmp_ignored_messages_total{kind="data"}`)))
	require.Equal(t, float64(aggregates), metric(t, body, regexp.QuoteMeta(`headwater_rtmp_ignored_messages_total{kind="command"}`)))
	require.Positive(t, metric(t, body, "headwater_log_lines_suppressed_total"))
	lines := strings.Count(p.out.String(), "\n")
	require.Less(t, lines, 60, "log lines for %d messages:\n%s", flood, p.out)
	t.Logf("%d unknown messages, %d aggregates: %d log lines, %.0f suppressed", flood, aggregates, lines,
		metric(t, body, "headwater_log_lines_suppressed_total"))
}

// dataMessage is an AMF0 data message named name with one null argument.
func dataMessage(name string) []byte {
	b := []byte{0x02, byte(len(name) >> 8), byte(len(name))}
	return append(append(b, name...), 0x05)
}

// TestBareOnMetaDataReachesPlayers: onMetaData sent as a plain data message
// (no @setDataFrame), as some encoders do, is the stream's metadata.
func TestBareOnMetaDataReachesPlayers(t *testing.T) {
	p := startBinary(t)
	url := "http://" + p.httpAd + "/live/bare.flv"
	c := rawPublish(t, p.rtmp, "bare")
	meta := st.Payload(st.Metadata(true, true))
	require.NoError(t, c.Send(rtmptest.TypeData, 0, meta))
	require.NoError(t, c.Send(rtmptest.TypeVideo, 0, st.Payload(st.AVCSeqHeader())))
	require.NoError(t, c.Send(rtmptest.TypeAudio, 0, st.Payload(st.AACSeqHeader())))
	sendFrames(t, c, st.AVTimeline(200, func(r int64) uint32 { return uint32(r) }))
	waitLive(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pl := play(ctx, url)
	pl.waitKey(t, 10*time.Second)
	require.NoError(t, c.Close())
	res := pl.result(t, 10*time.Second)
	require.NotEmpty(t, res.scripts, "the player got the metadata")
	require.Equal(t, meta, res.scripts[0])
	require.Equal(t, uint8(18), res.types[0], "metadata comes first")
}

// TestAudioFirstStreamHeaderAnnouncesVideo: a player that joins while the
// stream has sent only audio (video comes 3 s later) gets an FLV header
// flagged audio and video, as onMetaData announced, and then the video from
// its first keyframe.
func TestAudioFirstStreamHeaderAnnouncesVideo(t *testing.T) {
	p := startBinary(t)
	url := "http://" + p.httpAd + "/live/audiofirst.flv"
	c := rawPublish(t, p.rtmp, "audiofirst")
	require.NoError(t, c.Send(rtmptest.TypeData, 0, rtmptest.SetDataFrame(st.Payload(st.Metadata(true, true)))))
	require.NoError(t, c.Send(rtmptest.TypeAudio, 0, st.Payload(st.AACSeqHeader())))
	for i := 0; i < 130; i++ { // 3 s of audio: more than the 64 tags that make a stream ready without its video
		require.NoError(t, c.Send(rtmptest.TypeAudio, uint32(23*i), st.Payload(st.AACFrame(12))))
	}
	waitLive(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pl := play(ctx, url)
	pl.waitTags(t, 2, 10*time.Second)                                                        // it started: metadata and the AAC header (audio-only streams cache no GOP)
	require.NoError(t, c.Send(rtmptest.TypeVideo, 3000, st.Payload(st.AVCFrame(false, 40)))) // no keyframe yet
	require.NoError(t, c.Send(rtmptest.TypeVideo, 3000, st.Payload(st.AVCSeqHeader())))
	for i := 0; i < 10; i++ {
		require.NoError(t, c.Send(rtmptest.TypeVideo, uint32(3033+33*i), st.Payload(st.AVCFrame(i%5 == 0, 40))))
		require.NoError(t, c.Send(rtmptest.TypeAudio, uint32(3000+23*i), st.Payload(st.AACFrame(12))))
	}
	pl.waitKey(t, 10*time.Second)
	require.NoError(t, c.Close())
	res := pl.result(t, 10*time.Second)
	require.True(t, res.header.HasAudio, "%+v", res.header)
	require.True(t, res.header.HasVideo, "onMetaData announced video: %+v", res.header)
	require.True(t, res.firstKey, "video starts at a keyframe")
	require.Len(t, res.media[1], 10)
}

// TestConnectionsThatNeverPublishAreClosed: connections that connect and
// createStream, then only send acknowledgements, are closed at
// rtmp.handshake_timeout and counted; with rtmp.max_conns of them open, a
// real publisher gets in once they are gone.
func TestConnectionsThatNeverPublishAreClosed(t *testing.T) {
	needFFmpeg(t)
	const n = 4
	p := startBinaryEnv(t, []string{"HEADWATER_RTMP_MAX_CONNS=4", "HEADWATER_RTMP_HANDSHAKE_TIMEOUT=2s"})
	var idle []*rtmptest.Conn
	for i := 0; i < n; i++ {
		c, err := rtmptest.Dial(p.rtmp, 30*time.Second)
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		require.NoError(t, c.Connect("live"))
		require.NoError(t, c.Chunks(func(ch *rtmptest.Chunker) {
			ch.Msg(3, rtmptest.TypeCommand, 0, 0, rtmptest.Command("createStream", 2, rtmptest.Args{nil}))
		}))
		idle = append(idle, c)
	}
	// All slots are taken: the next connection is closed at accept.
	_, err := rtmptest.Dial(p.rtmp, 5*time.Second)
	require.Error(t, err, "a fifth connection over rtmp.max_conns=4")

	start := time.Now()
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	for open := n; open > 0; {
		<-tick.C
		require.Less(t, time.Since(start), 8*time.Second, "%d connections still open after 8 s (handshake timeout 2 s)", open)
		open = 0
		for _, c := range idle {
			select {
			case <-c.Done():
			default:
				open++
				_ = c.Control(rtmptest.TypeAck, []byte{0, 0, 0, 16}) // control messages do not extend the timeout
			}
		}
	}
	url := "http://" + p.httpAd + "/live/real.flv"
	ffmpegPublish(t, "rtmp://"+p.rtmp+"/live/real", "320x240")
	waitLive(t, url)
	_, body := getBody(t, "http://"+p.httpAd+"/metrics")
	require.Equal(t, float64(n), metric(t, body, "headwater_rtmp_handshake_timeouts_total"))
	require.True(t, bytes.Contains([]byte(p.out.String()), []byte("not publishing within the handshake timeout")), "logged")
}
