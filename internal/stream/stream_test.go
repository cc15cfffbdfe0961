package stream

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	st "github.com/headwater-media/headwater/internal/stream/streamtest"
	"github.com/headwater-media/headwater/pkg/flv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testConfig() Config {
	return Config{GOPCacheBytes: 1 << 20, QueueBytes: 1 << 20, QueueDuration: 5 * time.Second, Totals: &Totals{}}
}

// drain returns everything queued without blocking.
func drain(t *testing.T, sub *Subscriber) []*Tag {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tags, err := sub.Next(ctx, nil)
	if len(tags) == 0 {
		require.Error(t, err)
	}
	return tags
}

func write(t *testing.T, s *Stream, typ uint8, ts uint32, buf []byte) {
	t.Helper()
	require.NoError(t, s.Write(typ, ts, buf))
}

// publishHeaders writes metadata and both sequence headers.
func publishHeaders(t *testing.T, s *Stream) {
	write(t, s, flv.TagScript, 0, st.Metadata(true, true))
	write(t, s, flv.TagVideo, 0, st.AVCSeqHeader())
	write(t, s, flv.TagAudio, 0, st.AACSeqHeader())
}

func TestJoinMidGOPGetsHeadersThenKeyframe(t *testing.T) {
	s := New(testConfig())
	publishHeaders(t, s)
	write(t, s, flv.TagVideo, 0, st.AVCFrame(true, 100))
	write(t, s, flv.TagAudio, 10, st.AACFrame(20))
	write(t, s, flv.TagVideo, 33, st.AVCFrame(false, 50))
	write(t, s, flv.TagVideo, 66, st.AVCFrame(true, 100)) // second GOP starts
	write(t, s, flv.TagAudio, 70, st.AACFrame(20))
	write(t, s, flv.TagVideo, 99, st.AVCFrame(false, 50))

	sub := s.Subscribe()
	tags := drain(t, sub)
	require.Len(t, tags, 6)
	require.Equal(t, flv.TagScript, tags[0].Type)
	require.True(t, tags[1].Header)
	require.Equal(t, flv.TagVideo, tags[1].Type)
	require.True(t, tags[2].Header)
	require.Equal(t, flv.TagAudio, tags[2].Type)
	require.True(t, tags[3].Keyframe, "first media tag is the cached GOP's keyframe")
	require.Equal(t, uint32(66), tags[3].Timestamp)
	require.Equal(t, []uint32{70, 99}, []uint32{tags[4].Timestamp, tags[5].Timestamp})
	audio, video := sub.Tracks()
	require.True(t, audio)
	require.True(t, video)

	// Live tags follow.
	write(t, s, flv.TagVideo, 132, st.AVCFrame(false, 50))
	tags = drain(t, sub)
	require.Len(t, tags, 1)
	require.Equal(t, uint32(132), tags[0].Timestamp)
	s.Unsubscribe(sub)
}

func TestTagBytesAreEncodedOnceAndShared(t *testing.T) {
	s := New(testConfig())
	publishHeaders(t, s)
	a, b := s.Subscribe(), s.Subscribe()
	buf := st.AVCFrame(true, 64)
	write(t, s, flv.TagVideo, 1234, buf)
	ta, tb := drain(t, a), drain(t, b)
	require.Same(t, ta[len(ta)-1], tb[len(tb)-1], "both players get the same *Tag")
	data := ta[len(ta)-1].Data
	require.Equal(t, &buf[0], &data[0], "the publisher's buffer is the tag: no copy")
	// The header and PreviousTagSize were filled in place.
	r := flv.NewReader(bytesReader(append(flv.AppendHeader(nil, true, true), data...)))
	_, err := r.ReadHeader()
	require.NoError(t, err)
	tag, err := r.ReadTag()
	require.NoError(t, err)
	require.Equal(t, uint32(1234), tag.Timestamp)
	require.Equal(t, flv.TagVideo, tag.Type)
}

func TestGOPCacheIsBounded(t *testing.T) {
	cfg := testConfig()
	cfg.GOPCacheBytes = 1000
	s := New(cfg)
	publishHeaders(t, s)
	write(t, s, flv.TagVideo, 0, st.AVCFrame(true, 400))
	write(t, s, flv.TagVideo, 33, st.AVCFrame(false, 400))
	write(t, s, flv.TagVideo, 66, st.AVCFrame(false, 400)) // over 1000: cache dropped

	sub := s.Subscribe()
	tags := drain(t, sub)
	require.Len(t, tags, 3, "only headers: the GOP was too long to cache")
	// Inter frames are skipped until the next keyframe.
	write(t, s, flv.TagVideo, 99, st.AVCFrame(false, 10))
	write(t, s, flv.TagVideo, 132, st.AVCFrame(true, 10))
	tags = drain(t, sub)
	require.Len(t, tags, 1)
	require.True(t, tags[0].Keyframe)
	s.Unsubscribe(sub)
}

func TestSlowSubscriberSkipsToKeyframeKeepingHeaders(t *testing.T) {
	cfg := testConfig()
	cfg.QueueBytes = 5000
	s := New(cfg)
	publishHeaders(t, s)
	write(t, s, flv.TagVideo, 0, st.AVCFrame(true, 100))
	slow, fast := s.Subscribe(), s.Subscribe()
	ts := uint32(0)
	for i := 0; i < 100; i++ { // 100 × ~1 KiB inter frames: far over 5000 bytes
		ts += 33
		write(t, s, flv.TagVideo, ts, st.AVCFrame(false, 1000))
		drain(t, fast) // the fast one keeps up
	}
	require.Positive(t, slow.Dropped())
	require.Zero(t, fast.Dropped())
	ts += 33
	write(t, s, flv.TagVideo, ts, st.AVCFrame(true, 100))
	tags := drain(t, slow)
	var media []*Tag
	headers := 0
	for _, tg := range tags {
		if tg.Header {
			headers++
		} else {
			media = append(media, tg)
		}
	}
	require.Equal(t, 3, headers, "sequence headers are kept through a skip")
	require.NotEmpty(t, media)
	require.True(t, media[0].Keyframe, "after a skip the first media tag is a keyframe")
	require.Equal(t, ts, media[len(media)-1].Timestamp)
	require.Equal(t, slow.Dropped(), s.FramesDropped())
	s.Unsubscribe(slow)
	s.Unsubscribe(fast)
}

// fakeClock makes s see now advance only when the test says so.
func fakeClock(s *Stream) *time.Time {
	now := time.Now()
	s.now = func() time.Time { return now }
	return &now
}

func TestQueueDurationBound(t *testing.T) {
	cfg := testConfig()
	cfg.QueueDuration = time.Second
	s := New(cfg)
	now := fakeClock(s)
	publishHeaders(t, s)
	write(t, s, flv.TagVideo, 0, st.AVCFrame(true, 10))
	sub := s.Subscribe()
	for ts := uint32(33); ts < 990; ts += 33 {
		*now = now.Add(33 * time.Millisecond)
		write(t, s, flv.TagVideo, ts, st.AVCFrame(false, 10))
	}
	require.Zero(t, sub.Dropped(), "less than 1 s queued against a 1 s bound")
	for ts := uint32(990); ts < 3000; ts += 33 {
		*now = now.Add(33 * time.Millisecond)
		write(t, s, flv.TagVideo, ts, st.AVCFrame(false, 10))
	}
	require.Positive(t, sub.Dropped(), "3 s queued against a 1 s bound")
	s.Unsubscribe(sub)
}

// The queue bound is wall-clock time, not timestamp span: a publisher
// bursting faster than real time, or jumping its clock, drops nothing for a
// player that keeps up.
func TestQueueDurationIsWallClockNotTimestamps(t *testing.T) {
	cfg := testConfig()
	cfg.QueueDuration = time.Second
	s := New(cfg)
	fakeClock(s) // no time passes
	publishHeaders(t, s)
	write(t, s, flv.TagVideo, 0, st.AVCFrame(true, 10))
	sub := s.Subscribe()
	for i := uint32(1); i < 100; i++ {
		write(t, s, flv.TagVideo, 33*i, st.AVCFrame(false, 10)) // 3.3 s of media at once
	}
	write(t, s, flv.TagVideo, 3*3600*1000, st.AVCFrame(false, 10)) // 3 h ahead
	write(t, s, flv.TagVideo, 3*3600*1000+33, st.AVCFrame(false, 10))
	require.Zero(t, sub.Dropped())
	require.Zero(t, s.FramesDropped())
	s.Unsubscribe(sub)
}

func TestPublisherNeverBlocksOnStalledSubscribers(t *testing.T) {
	s := New(testConfig())
	publishHeaders(t, s)
	var subs []*Subscriber
	for i := 0; i < 50; i++ {
		subs = append(subs, s.Subscribe()) // never read
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		ts := uint32(0)
		for i := 0; i < 5000; i++ {
			ts += 10
			_ = s.Write(flv.TagVideo, ts, st.AVCFrame(i%100 == 0, 2000))
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second): // a watchdog, not a measurement
		t.Fatal("Write blocked on subscribers that never read")
	}
	for _, sub := range subs {
		require.Positive(t, sub.Dropped())
		s.Unsubscribe(sub)
	}
}

func TestEndDrainsThenEnds(t *testing.T) {
	s := New(testConfig())
	publishHeaders(t, s)
	write(t, s, flv.TagVideo, 0, st.AVCFrame(true, 10))
	sub := s.Subscribe()
	write(t, s, flv.TagVideo, 33, st.AVCFrame(false, 10))
	s.End()
	require.ErrorIs(t, s.Write(flv.TagVideo, 66, st.AVCFrame(false, 10)), ErrEnded)
	require.True(t, sub.Ended())
	tags, err := sub.Next(context.Background(), nil)
	require.NoError(t, err)
	require.Len(t, tags, 5, "queued tags are delivered after End")
	_, err = sub.Next(context.Background(), nil)
	require.ErrorIs(t, err, ErrEnded)
	// Subscribing to an ended stream ends at once.
	late := s.Subscribe()
	_, err = late.Next(context.Background(), nil)
	require.ErrorIs(t, err, ErrEnded)
	s.Free()
	s.Free()
	s.Unsubscribe(sub)
	_, err = sub.Next(context.Background(), nil)
	require.ErrorIs(t, err, ErrClosed)
}

func TestNextWakesOnWriteAndOnUnsubscribe(t *testing.T) {
	s := New(testConfig())
	publishHeaders(t, s)
	write(t, s, flv.TagVideo, 0, st.AVCFrame(true, 10))
	sub := s.Subscribe()
	drain(t, sub)
	got := make(chan error, 1)
	go func() {
		_, err := sub.Next(context.Background(), nil)
		got <- err
	}()
	write(t, s, flv.TagVideo, 33, st.AVCFrame(false, 10))
	require.NoError(t, <-got)

	go func() {
		_, err := sub.Next(context.Background(), nil)
		got <- err
	}()
	s.Unsubscribe(sub)
	require.ErrorIs(t, <-got, ErrClosed)
}

func TestSubscriberWaitsUntilTracksAreKnown(t *testing.T) {
	s := New(testConfig())
	sub := s.Subscribe() // joins before anything was published
	write(t, s, flv.TagScript, 0, st.Metadata(true, true))
	write(t, s, flv.TagVideo, 0, st.AVCSeqHeader())
	require.Empty(t, drain(t, sub), "metadata announced audio: wait for it")
	write(t, s, flv.TagAudio, 0, st.AACSeqHeader())
	write(t, s, flv.TagVideo, 0, st.AVCFrame(true, 10))
	tags := drain(t, sub)
	require.Len(t, tags, 4)
	audio, video := sub.Tracks()
	require.True(t, audio)
	require.True(t, video)
	s.Unsubscribe(sub)
}

func TestTrackFlagsForAudioOnlyAndVideoOnly(t *testing.T) {
	for _, tc := range []struct {
		name         string
		audio, video bool
	}{{"audio only", true, false}, {"video only", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(testConfig())
			write(t, s, flv.TagScript, 0, st.Metadata(tc.audio, tc.video))
			if tc.video {
				write(t, s, flv.TagVideo, 0, st.AVCSeqHeader())
				write(t, s, flv.TagVideo, 0, st.AVCFrame(true, 10))
			}
			if tc.audio {
				write(t, s, flv.TagAudio, 0, st.AACSeqHeader())
				write(t, s, flv.TagAudio, 0, st.AACFrame(10))
			}
			sub := s.Subscribe()
			require.NotEmpty(t, drain(t, sub))
			audio, video := sub.Tracks()
			require.Equal(t, tc.audio, audio)
			require.Equal(t, tc.video, video)
			s.Unsubscribe(sub)
		})
	}
}

func TestTimestampsNeverGoBackwardsWithinATrack(t *testing.T) {
	s := New(testConfig())
	publishHeaders(t, s)
	write(t, s, flv.TagVideo, 1000, st.AVCFrame(true, 10))
	sub := s.Subscribe()
	write(t, s, flv.TagVideo, 900, st.AVCFrame(false, 10)) // backwards
	write(t, s, flv.TagAudio, 950, st.AACFrame(10))        // other track: untouched
	write(t, s, flv.TagVideo, 933, st.AVCFrame(false, 10)) // still behind: the clock went back
	tags := drain(t, sub)
	last := tags[len(tags)-3:]
	require.Equal(t, uint32(1001), last[0].Timestamp, "1 ms past the last output")
	require.Equal(t, uint32(950), last[1].Timestamp)
	require.Equal(t, uint32(1001+defaultFrameInterval), last[2].Timestamp, "one (default) frame interval on")
	require.Equal(t, uint64(2), s.TimestampRepairs())
	s.Unsubscribe(sub)
}

func TestSequenceHeaderChangeReachesCurrentAndNewPlayers(t *testing.T) {
	s := New(testConfig())
	publishHeaders(t, s)
	write(t, s, flv.TagVideo, 0, st.AVCFrame(true, 10))
	old := s.Subscribe()
	drain(t, old)
	newSeq := st.Buf([]byte{0x17, 0x00, 0, 0, 0, 0x01, 0x4d, 0x00, 0x28, 0xff, 0xe0})
	write(t, s, flv.TagVideo, 500, newSeq)
	write(t, s, flv.TagVideo, 500, st.AVCFrame(true, 10))
	tags := drain(t, old)
	require.True(t, tags[0].Header, "in-band to current players")
	require.Equal(t, byte(0x4d), tags[0].Payload()[6])
	joiner := s.Subscribe()
	tags = drain(t, joiner)
	require.Equal(t, byte(0x4d), tags[1].Payload()[6], "new players get the new header at join")
	s.Unsubscribe(old)
	s.Unsubscribe(joiner)
}

func TestBadTagsAreRefused(t *testing.T) {
	s := New(testConfig())
	require.ErrorIs(t, s.Write(flv.TagVideo, 0, st.Buf(nil)), ErrBadTag)
	require.ErrorIs(t, s.Write(42, 0, st.Buf([]byte{1})), ErrBadTag)
	require.ErrorIs(t, s.Write(flv.TagVideo, 0, []byte{1, 2}), ErrBadTag)
	require.False(t, errors.Is(s.Write(flv.TagVideo, 0, st.AVCFrame(true, 5)), ErrBadTag))
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

func TestEndOfSequenceIsNotAKeyframe(t *testing.T) {
	s := New(testConfig())
	publishHeaders(t, s)
	write(t, s, flv.TagVideo, 0, st.AVCFrame(true, 10))
	write(t, s, flv.TagVideo, 33, st.AVCFrame(false, 10))
	write(t, s, flv.TagVideo, 66, st.Buf([]byte{0x17, 0x02, 0, 0, 0})) // AVC end of sequence
	sub := s.Subscribe()
	tags := drain(t, sub)
	require.Len(t, tags, 6, "the GOP still starts at the real keyframe")
	require.True(t, tags[3].Keyframe)
	require.False(t, tags[5].Keyframe)
	s.Unsubscribe(sub)
}

func TestUnknownCodecIsRelayed(t *testing.T) {
	s := New(testConfig())
	publishHeaders(t, s)
	write(t, s, flv.TagVideo, 0, st.AVCFrame(true, 10))
	sub := s.Subscribe()
	drain(t, sub)
	// Enhanced RTMP coded frame with a FourCC nobody knows.
	write(t, s, flv.TagVideo, 33, st.Buf([]byte{0x91, 'z', 'z', 'z', 'z', 1, 2, 3}))
	tags := drain(t, sub)
	require.Len(t, tags, 1)
	require.False(t, tags[0].Keyframe)
	s.Unsubscribe(sub)
}

func TestRepeatedHeadersCannotGrowAStalledQueue(t *testing.T) {
	cfg := testConfig()
	cfg.QueueBytes = 4000
	s := New(cfg)
	publishHeaders(t, s)
	write(t, s, flv.TagVideo, 0, st.AVCFrame(true, 10))
	sub := s.Subscribe()
	big := make([]byte, 1000)
	for i := 0; i < 20; i++ { // 20 × 1 KB metadata to a player that never reads
		write(t, s, flv.TagScript, 0, st.Buf(append([]byte{0x02, 0, 1, 'x'}, big...)))
	}
	_, err := sub.Next(context.Background(), nil)
	require.ErrorIs(t, err, ErrClosed, "a queue of headers over the bound cuts the player off")
	s.Unsubscribe(sub)
}

func TestKeyframeLargerThanTheGOPCacheIsNotCached(t *testing.T) {
	cfg := testConfig()
	cfg.GOPCacheBytes = 500
	s := New(cfg)
	publishHeaders(t, s)
	write(t, s, flv.TagVideo, 0, st.AVCFrame(true, 1000))
	sub := s.Subscribe()
	require.Len(t, drain(t, sub), 3, "headers only")
	s.Unsubscribe(sub)
}

// TestHeaderOverflowStillSkipsToKeyframe: found by FuzzStreamWrite. When a
// header is what overflows a stalled queue, the media dropped must still make
// the player wait for the next keyframe.
func TestHeaderOverflowStillSkipsToKeyframe(t *testing.T) {
	s := New(Config{GOPCacheBytes: 1 << 20, QueueBytes: 880})
	stalled := s.Subscribe()
	write(t, s, flv.TagScript, 0, st.Metadata(true, true))
	write(t, s, flv.TagVideo, 0, st.AVCSeqHeader())
	write(t, s, flv.TagAudio, 0, st.AACSeqHeader())
	write(t, s, flv.TagVideo, 0, st.AVCFrame(true, 300))
	write(t, s, flv.TagVideo, 33, st.AVCFrame(false, 200))
	write(t, s, flv.TagVideo, 66, st.AVCFrame(false, 200))
	write(t, s, flv.TagVideo, 66, st.AVCSeqHeader()) // the header overflows the queue
	write(t, s, flv.TagVideo, 99, st.AVCFrame(false, 200))
	write(t, s, flv.TagVideo, 132, st.AVCFrame(true, 200))
	tags := drain(t, stalled)
	for _, tg := range tags {
		if !tg.Header {
			require.True(t, tg.Keyframe, "after a drop the first media tag is a keyframe (got ts %d)", tg.Timestamp)
			break
		}
	}
	require.Positive(t, stalled.Dropped())
	s.Unsubscribe(stalled)
}

func TestMetadataTimestampDoesNotFlushQueues(t *testing.T) {
	cfg := testConfig()
	cfg.QueueDuration = time.Second
	s := New(cfg)
	publishHeaders(t, s)
	write(t, s, flv.TagVideo, 0, st.AVCFrame(true, 10))
	sub := s.Subscribe()
	write(t, s, flv.TagVideo, 33, st.AVCFrame(false, 10))
	write(t, s, flv.TagScript, 1_000_000, st.Metadata(true, true)) // absurd metadata timestamp
	require.Zero(t, sub.Dropped())
	s.Unsubscribe(sub)
}
