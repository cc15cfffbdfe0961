package stream

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	st "github.com/headwater-media/headwater/internal/stream/streamtest"
	"github.com/headwater-media/headwater/pkg/flv"
)

// avTimeline is streamtest.AVTimeline.
func avTimeline(dur int64, clock func(real int64) uint32) []st.Frame {
	return st.AVTimeline(dur, clock)
}

// checkRepaired writes fs into a stream and checks what a player gets:
// per track, timestamps never go back, never repeat and never step more
// than maxJump; each track's output keeps pace with real time, losing or
// gaining at most slack ms over the whole timeline; and audio and video stay
// within slack ms of each other. It returns the stream's repair count.
func checkRepaired(t *testing.T, fs []st.Frame, slack int64) uint64 {
	t.Helper()
	totals := &Totals{}
	cfg := testConfig()
	cfg.Totals = totals
	s := New(cfg)
	publishHeaders(t, s)
	sub := s.Subscribe()
	defer s.Unsubscribe(sub)
	maxJump := DefaultMaxTSJump.Milliseconds()
	var (
		last  [2]uint32
		seen  [2]bool
		drift [2]int64 // output minus real time at the track's first frame
		lag   [2]int64 // output minus real time now
	)
	for _, f := range fs {
		track := trackAudio
		if f.Video {
			track = trackVideo
			write(t, s, flv.TagVideo, f.TS, st.AVCFrame(f.Key, 10))
		} else {
			write(t, s, flv.TagAudio, f.TS, st.AACFrame(4))
		}
		tags := drain(t, sub)
		out := tags[len(tags)-1].Timestamp
		if seen[track] {
			step := int64(out) - int64(last[track])
			require.Positive(t, step, "track %d at real %d ms: %d after %d (raw %d)", track, f.Real, out, last[track], f.TS)
			require.LessOrEqual(t, step, maxJump, "track %d at real %d ms jumped %d → %d", track, f.Real, last[track], out)
		} else {
			drift[track] = int64(out) - f.Real
		}
		seen[track], last[track] = true, out
		lag[track] = int64(out) - f.Real
		require.InDelta(t, drift[track], lag[track], float64(slack), "track %d keeps pace with real time (real %d ms)", track, f.Real)
		if seen[trackAudio] && seen[trackVideo] {
			require.InDelta(t, lag[trackVideo], lag[trackAudio], float64(slack), "audio and video in sync at real %d ms", f.Real)
		}
	}
	require.Equal(t, s.TimestampRepairs(), totals.TimestampRepairs.Load())
	return s.TimestampRepairs()
}

func TestTimestampRepair(t *testing.T) {
	const h = 3600 * 1000
	for _, tc := range []struct {
		name    string
		clock   func(real int64) uint32
		slack   int64
		repairs func(t *testing.T, n uint64)
	}{
		{"healthy", func(r int64) uint32 { return uint32(r) }, 0, zero},
		{"starts past the 24-bit mark", func(r int64) uint32 { return uint32(20000*1000 + r) }, 0, zero},
		{"32-bit wrap", func(r int64) uint32 { return uint32(math.MaxUint32 - 5000 + r) }, 0, zero},
		{"31-bit wrap (ffmpeg's FLV muxer)", func(r int64) uint32 { return uint32(math.MaxInt32-3000+r) & math.MaxInt32 }, 70, some},
		{"4 s back, twice", func(r int64) uint32 {
			switch {
			case r < 5000:
				return uint32(r)
			case r < 10000:
				return uint32(r - 4000)
			}
			return uint32(r - 8000)
		}, 140, some},
		{"1 h back", func(r int64) uint32 {
			if r < 5000 {
				return uint32(h + r)
			}
			return uint32(r)
		}, 70, some},
		{"3 h forward", func(r int64) uint32 {
			if r < 5000 {
				return uint32(r)
			}
			return uint32(3*h + r)
		}, 70, some},
		{"half a second back", func(r int64) uint32 {
			if r < 5000 {
				return uint32(r)
			}
			return uint32(r - 500)
		}, 70, some},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.repairs(t, checkRepaired(t, avTimeline(15000, tc.clock), tc.slack))
		})
	}
}

func zero(t *testing.T, n uint64) { require.Zero(t, n, "nothing to repair") }
func some(t *testing.T, n uint64) {
	require.Positive(t, n)
	require.LessOrEqual(t, n, uint64(8), "a discontinuity costs each track one or two repairs")
}

// Audio frames swapped in pairs (a relay reordering them): each late frame
// steps 1 ms past the last output, and the track keeps its timeline.
func TestTimestampRepairOutOfOrderAudio(t *testing.T) {
	fs := avTimeline(10000, func(r int64) uint32 { return uint32(r) })
	swaps := 0
	for i := 0; i+1 < len(fs); i++ {
		if !fs[i].Video && i%17 == 0 {
			for j := i + 1; j < len(fs); j++ {
				if !fs[j].Video {
					fs[i].TS, fs[j].TS = fs[j].TS, fs[i].TS
					swaps++
					break
				}
			}
		}
	}
	require.Positive(t, swaps)
	n := checkRepaired(t, fs, 46)
	require.Equal(t, uint64(swaps), n, "one repair per late frame")
}

func TestTimestampRepairHeadersFollowTheirTrack(t *testing.T) {
	s := New(testConfig())
	sub := s.Subscribe()
	defer s.Unsubscribe(sub)
	// ffmpeg -output_ts_offset: headers at 0, frames hours later.
	publishHeaders(t, s)
	write(t, s, flv.TagVideo, 20000*1000, st.AVCFrame(true, 10))
	write(t, s, flv.TagAudio, 20000*1000+10, st.AACFrame(4))
	tags := drain(t, sub)
	require.Equal(t, uint32(20000*1000), tags[len(tags)-2].Timestamp, "no repair: headers do not move the clock")
	// A new sequence header mid-stream takes its track's time.
	write(t, s, flv.TagVideo, 5, st.AVCSeqHeader())
	write(t, s, flv.TagScript, 7, st.Metadata(true, true))
	tags = drain(t, sub)
	require.Equal(t, uint32(20000*1000), tags[0].Timestamp)
	require.Equal(t, uint32(20000*1000+10), tags[1].Timestamp)
	require.Zero(t, s.TimestampRepairs())
}

func TestTimestampRepairStartsHighClocksAtZero(t *testing.T) {
	s := New(testConfig())
	sub := s.Subscribe()
	defer s.Unsubscribe(sub)
	start := uint32(math.MaxUint32 - 5000)
	write(t, s, flv.TagVideo, start, st.AVCSeqHeader())
	write(t, s, flv.TagAudio, start, st.AACSeqHeader())
	write(t, s, flv.TagVideo, start, st.AVCFrame(true, 10))
	write(t, s, flv.TagAudio, start+12, st.AACFrame(4))
	var got []uint32
	for _, tag := range drain(t, sub) {
		got = append(got, tag.Timestamp)
	}
	require.Equal(t, []uint32{0, 0, 0, 12}, got)
}

// FuzzTimestampRepair feeds random steps, jumps and wraps on two tracks:
// per track, output never goes back and steps by at most the maximum jump;
// a step within the bound on a track whose clock was never repaired passes
// through unchanged.
func FuzzTimestampRepair(f *testing.F) {
	f.Add([]byte{0, 33, 1, 23, 0, 33, 1, 23})
	f.Add(binary.BigEndian.AppendUint32([]byte{0x80, 0, 33, 0x81}, math.MaxUint32-10))
	f.Add([]byte{0x80, 0xff, 0xff, 0xff, 0xf0, 0, 40, 0, 40, 1, 5, 0x81, 0, 0, 0, 3, 1, 20})
	f.Fuzz(func(t *testing.T, data []byte) {
		const maxJump = 1000
		var (
			clocks  [2]trackClock
			raw     [2]uint32
			clean   = [2]bool{true, true}
			lastOut [2]uint32
		)
		for len(data) > 0 {
			op := data[0]
			data = data[1:]
			tr := int(op & 1)
			prev := raw[tr]
			switch {
			case op&0x80 != 0 && len(data) >= 4: // absolute: any jump, wrap or step back
				raw[tr] = binary.BigEndian.Uint32(data)
				data = data[4:]
			case len(data) >= 1: // a small step forward, or back with op bit 1
				d := uint32(data[0]) << (op >> 1 & 3 * 2)
				data = data[1:]
				if op&0x40 != 0 {
					d = -d
				}
				raw[tr] += d
			default:
				return
			}
			started := clocks[tr].started
			out, repaired := clocks[tr].repair(raw[tr], &clocks[1-tr], maxJump)
			if !started {
				lastOut[tr] = out
				clean[tr] = !repaired
				continue
			}
			step := serialDelta(lastOut[tr], out)
			if step < 0 || step > maxJump {
				t.Fatalf("track %d: %d → %d (raw %d → %d): step %d", tr, lastOut[tr], out, prev, raw[tr], step)
			}
			if repaired && step == 0 {
				t.Fatalf("track %d: a repair froze the clock at %d", tr, out)
			}
			if in := serialDelta(prev, raw[tr]); clean[tr] && !repaired && in != step {
				t.Fatalf("track %d: healthy step %d came out as %d", tr, in, step)
			}
			clean[tr] = clean[tr] && !repaired
			lastOut[tr] = out
		}
	})
}

func ExampleStream_timestampRepair() {
	s := New(DefaultConfig())
	for _, ts := range []uint32{1000, 1033, 1066, 5, 38, 71} { // the encoder restarts its clock
		_ = s.Write(flv.TagVideo, ts, st.AVCFrame(ts == 1000, 10))
	}
	sub := s.Subscribe()
	tags, _ := sub.Next(context.Background(), nil) // the join batch is queued: Next does not block
	for _, tag := range tags {
		fmt.Print(tag.Timestamp, " ")
	}
	fmt.Println("repairs:", s.TimestampRepairs())
	// Output: 1000 1033 1066 1099 1132 1165 repairs: 1
}

// A resumed session (Rebase) whose clock starts again near its first
// session's, a little ahead of it or far behind: each track goes on one
// frame interval after its last frame, the tracks stay in sync, frames
// after that keep the new session's spacing, and none of it counts as a
// repair.
func TestRebaseContinuesEachTrack(t *testing.T) {
	for _, restart := range []uint32{0, 4980, 5200, 1 << 31} {
		t.Run(fmt.Sprint(restart), func(t *testing.T) {
			s := New(testConfig())
			sub := s.Subscribe()
			defer s.Unsubscribe(sub)
			publishHeaders(t, s)
			for ts := uint32(0); ts <= 5000; ts += 40 {
				write(t, s, flv.TagVideo, ts, st.AVCFrame(ts%1000 == 0, 10))
				write(t, s, flv.TagAudio, ts+3, st.AACFrame(4))
			}
			drain(t, sub)
			s.Rebase()
			var last [2]uint32
			for i, ts := 0, restart; i < 50; i, ts = i+1, ts+40 {
				write(t, s, flv.TagVideo, ts, st.AVCFrame(i == 0, 10))
				write(t, s, flv.TagAudio, ts+3, st.AACFrame(4))
				tags := drain(t, sub)
				v, a := tags[len(tags)-2].Timestamp, tags[len(tags)-1].Timestamp
				if i == 0 {
					require.Equal(t, uint32(5040), v, "video goes on one frame interval after 5000")
					require.InDelta(t, v, a, 40, "audio joins video's new timeline")
				} else {
					require.Equal(t, last[1]+40, v, "the new session's spacing")
					require.Equal(t, last[0]+40, a)
				}
				last = [2]uint32{a, v}
			}
			require.Zero(t, s.TimestampRepairs(), "a rebase is not a repair")
		})
	}
}
