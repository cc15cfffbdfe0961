package hwbench

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/pkg/flv"
)

// noStartCodeEmulation reports whether escaped NAL unit bytes hold no
// 00 00 00, 00 00 01 or 00 00 02 (00 00 03 is the escape itself) and do
// not end in a zero byte.
func noStartCodeEmulation(b []byte) bool {
	for i := 2; i < len(b); i++ {
		if b[i-2] == 0 && b[i-1] == 0 && b[i] <= 2 {
			return false
		}
	}
	return len(b) > 0 && b[len(b)-1] != 0
}

func TestStampRoundTrip(t *testing.T) {
	for _, ts := range []int64{
		time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC).UnixNano(),
		0x0000030000010000, // 00 00 03 00 00 01 00 00: needs two escapes, then ends in zeros before the 0x80
		0x0000000000000000,
		0x0000000300000002,
		-1,
		1,
	} {
		nalu := AppendStampNALU(nil, ts)
		require.LessOrEqual(t, len(nalu), maxStampNALUSize)
		require.True(t, noStartCodeEmulation(nalu), "escaped NAL unit % x", nalu)
		require.Equal(t, byte(0x80), nalu[len(nalu)-1], "rbsp trailing bits")
		got, ok := ParseStampNALU(nalu)
		require.True(t, ok, "% x", nalu)
		require.Equal(t, ts, got)
	}
	// The tricky value really was escaped.
	require.Greater(t, len(AppendStampNALU(nil, 0x0000030000010000)), 1+stampRBSPSize)

	// Other SEI messages are not stamps.
	other := []byte{6, 5, 24}
	other = append(other, bytes.Repeat([]byte{'x'}, 24)...)
	_, ok := ParseStampNALU(append(other, 0x80))
	require.False(t, ok)
	_, ok = ParseStampNALU([]byte{6, 0, 1, 0x80}) // buffering period
	require.False(t, ok)
	_, ok = ParseStampNALU([]byte{5, 1, 2})
	require.False(t, ok)
}

func TestStampParsingDoesNotAllocate(t *testing.T) {
	nalu := AppendStampNALU(nil, 0x0000030000010000)
	frame := avcFrame(4, []byte{9, 0xf0}, nalu, []byte{0x65, 1, 2, 3})
	require.Zero(t, testing.AllocsPerRun(100, func() {
		if _, ok := FindStamp(frame[5:], 4); !ok {
			t.Fatal("no stamp")
		}
	}))
}

// avcFrame builds a legacy AVC key frame payload from NAL units.
func avcFrame(lengthSize int, nalus ...[]byte) []byte {
	b := []byte{0x17, 1, 0, 0, 0}
	for _, n := range nalus {
		var l [4]byte
		binary.BigEndian.PutUint32(l[:], uint32(len(n)))
		b = append(b, l[4-lengthSize:]...)
		b = append(b, n...)
	}
	return b
}

// nalTypes lists the NAL unit types of an AVC payload.
func nalTypes(t *testing.T, payload []byte, lengthSize int) []byte {
	t.Helper()
	var types []byte
	data := payload[5:]
	for len(data) > 0 {
		n := 0
		for _, b := range data[:lengthSize] {
			n = n<<8 | int(b)
		}
		require.LessOrEqual(t, lengthSize+n, len(data))
		types = append(types, data[lengthSize]&0x1f)
		data = data[lengthSize+n:]
	}
	return types
}

func TestStamperInsertsBeforeTheFirstSliceAfterLeadingParameterSets(t *testing.T) {
	aud := []byte{9, 0xf0}
	sps := []byte{0x67, 0x64, 0, 0x1f}
	pps := []byte{0x68, 0xee, 0x3c, 0x80}
	bp := []byte{6, 0, 1, 0xc0, 0x80}        // SEI starting with a buffering period
	x264 := []byte{6, 5, 3, 'x', '2', 0x80}  // user data SEI (like x264's version string)
	idr := []byte{0x65, 0x88, 0x84, 0, 0x10} // IDR slice
	now := time.Now().UnixNano()
	for _, c := range []struct {
		name       string
		lengthSize int
		nalus      [][]byte
		want       []byte
	}{
		{"slice only", 4, [][]byte{idr}, []byte{6, 5}},
		{"AUD SPS PPS", 4, [][]byte{aud, sps, pps, idr}, []byte{9, 7, 8, 6, 5}},
		{"buffering period stays first", 4, [][]byte{sps, pps, bp, idr}, []byte{7, 8, 6, 6, 5}},
		{"before other SEI", 4, [][]byte{x264, idr}, []byte{6, 6, 5}},
		{"2-byte lengths", 2, [][]byte{aud, idr}, []byte{9, 6, 5}},
		{"1-byte lengths", 1, [][]byte{idr}, []byte{6, 5}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := Stamper{LengthSize: c.lengthSize}
			in := avcFrame(c.lengthSize, c.nalus...)
			out, ok := s.Stamp(in, now)
			require.True(t, ok)
			require.Equal(t, c.want, nalTypes(t, out, c.lengthSize))
			require.Equal(t, in[:5], out[:5], "video tag header kept")
			got, ok := FindStamp(out[5:], c.lengthSize)
			require.True(t, ok)
			require.Equal(t, now, got)
			// Stamping again reuses the buffer.
			require.Zero(t, testing.AllocsPerRun(10, func() { s.Stamp(in, now) }))
		})
	}
	t.Run("buffering period first: found behind it", func(t *testing.T) {
		s := Stamper{}
		out, _ := s.Stamp(avcFrame(4, bp, idr), now)
		got, ok := FindStamp(out[5:], 4)
		require.True(t, ok)
		require.Equal(t, now, got)
	})
}

func TestStamperLeavesOtherPayloadsAlone(t *testing.T) {
	s := Stamper{}
	for name, p := range map[string][]byte{
		"sequence header": {0x17, 0, 0, 0, 0, 1, 0x64},
		"end of sequence": {0x17, 2, 0, 0, 0},
		"HEVC legacy":     {0x1c, 1, 0, 0, 0, 0, 0, 0, 2, 0x26, 1},
		"enhanced hvc1":   {0x91, 'h', 'v', 'c', '1', 0, 0, 0, 0, 0, 0, 2, 0x26, 1},
		"malformed NALs":  {0x27, 1, 0, 0, 0, 0, 0, 0, 9, 0x41},
		"too short":       {0x27, 1},
	} {
		out, ok := s.Stamp(p, 1)
		require.False(t, ok, name)
		require.Equal(t, p, out, name)
	}
	// A stamp cut off by the parser's prefix is not found, and a slice
	// before any SEI ends the search.
	out, _ := s.Stamp(avcFrame(4, []byte{0x65, 1}), 42)
	_, ok := FindStamp(out[5:20], 4)
	require.False(t, ok)
	_, ok = FindStamp(avcFrame(4, []byte{0x41, 1}, AppendStampNALU(nil, 42))[5:], 4)
	require.False(t, ok)
}

// TestStampedStreamDecodes checks that ffmpeg decodes a stamped H.264
// stream without complaint: the SEI is valid and ignorable.
func TestStampedStreamDecodes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs ffmpeg")
	}
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not found")
	}
	in, err := LoadInput("../../pkg/flv/testdata/avc_aac_160x120.flv")
	require.NoError(t, err)
	require.NotZero(t, in.LengthSize)
	b := flv.AppendHeader(nil, in.AudioHeader != nil, true)
	b = flv.AppendTag(b, flv.TagVideo, 0, in.VideoHeader)
	if in.AudioHeader != nil {
		b = flv.AppendTag(b, flv.TagAudio, 0, in.AudioHeader)
	}
	s := Stamper{LengthSize: in.LengthSize}
	stamped := 0
	for i, m := range in.Media {
		p := m.Payload
		if m.Type == flv.TagVideo {
			var ok bool
			// Values that need emulation prevention, and ordinary ones.
			p, ok = s.Stamp(p, int64(i)<<40|0x0000030000)
			if ok {
				stamped++
			}
		}
		b = flv.AppendTag(b, m.Type, m.Timestamp, p)
	}
	require.Positive(t, stamped)
	path := filepath.Join(t.TempDir(), "stamped.flv")
	require.NoError(t, os.WriteFile(path, b, 0o644))
	out, err := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Empty(t, string(out), "ffmpeg complained about the stamped stream")
}
