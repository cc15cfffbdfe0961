package hls

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSplitNALUs(t *testing.T) {
	au := []byte{0, 0, 0, 2, 0x65, 1, 0, 0, 0, 0, 0, 0, 0, 3, 0x41, 2, 3}
	nalus, err := splitNALUs(nil, au, 4)
	require.NoError(t, err)
	require.Equal(t, [][]byte{{0x65, 1}, {0x41, 2, 3}}, nalus, "empty NAL units are skipped")
	nalus, err = splitNALUs(nil, []byte{0, 2, 9, 9, 0, 1, 7}, 2)
	require.NoError(t, err)
	require.Equal(t, [][]byte{{9, 9}, {7}}, nalus)
	for _, bad := range [][]byte{{0, 0, 0}, {0, 0, 0, 9, 1}} {
		_, err = splitNALUs(nil, bad, 4)
		require.Error(t, err)
	}
	_, err = splitNALUs(nil, au, 3+2)
	require.Error(t, err, "a length size past 4")
}

func TestPlaylistURIs(t *testing.T) {
	pl := "#EXTM3U\n#EXT-X-MAP:URI=\"p_init.mp4?key=k\"\n#EXTINF:2,\np_seg1.mp4?key=k\n" +
		"#EXT-X-PART:DURATION=0.2,URI=\"p_part3.mp4\"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p_part4.mp4\"\n" +
		"#EXT-X-MEDIA:TYPE=AUDIO,URI=\"audio2_stream.m3u8\"\n../../x/evil.mp4\n"
	require.Equal(t, []string{"p_init.mp4", "p_seg1.mp4", "p_part3.mp4", "audio2_stream.m3u8", "evil.mp4"}, playlistURIs([]byte(pl)),
		"base names only, no query, no preload hint")
}

func TestUnwrapper(t *testing.T) {
	var u unwrapper
	require.Equal(t, int64(0xFFFFFF00), u.ms(0xFFFFFF00))
	require.Equal(t, int64(0x100000010), u.ms(0x10), "across the 32-bit wrap")
	require.Equal(t, int64(0x100000000), u.ms(0), "a small step back")
}

func FuzzSplitNALUs(f *testing.F) {
	f.Add([]byte{0, 0, 0, 2, 0x65, 1}, 4)
	f.Add([]byte{0, 1, 7}, 2)
	f.Fuzz(func(t *testing.T, b []byte, size int) {
		nalus, err := splitNALUs(nil, b, size)
		if err != nil {
			return
		}
		n := 0
		for _, nalu := range nalus {
			require.NotEmpty(t, nalu)
			n += len(nalu) + size
		}
		require.LessOrEqual(t, n, len(b))
	})
}

func FuzzPlaylistURIs(f *testing.F) {
	f.Add([]byte("#EXTM3U\n#EXT-X-MAP:URI=\"a.mp4\"\nb.mp4?x=1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, u := range playlistURIs(b) {
			require.NotContains(t, u, "/")
			require.NotContains(t, u, "?")
			require.NotContains(t, []string{"", ".", ".."}, u)
		}
	})
}

func TestSplitOBUs(t *testing.T) {
	// A temporal delimiter with a size, then a frame OBU without one.
	tu := []byte{0x12, 0x00, 0x30, 1, 2, 3}
	obus, err := splitOBUs(nil, tu)
	require.NoError(t, err)
	require.Equal(t, [][]byte{{0x12, 0x00}, {0x30, 1, 2, 3}}, obus)
	_, err = splitOBUs(nil, []byte{0x32, 0x09, 1})
	require.Error(t, err, "a size past the end")
}

func FuzzSplitOBUs(f *testing.F) {
	f.Add([]byte{0x12, 0x00, 0x30, 1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		obus, err := splitOBUs(nil, b)
		if err != nil {
			return
		}
		n := 0
		for _, o := range obus {
			n += len(o)
		}
		require.Equal(t, len(b), n, "the OBUs cover the temporal unit")
	})
}
