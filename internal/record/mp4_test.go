package record

import (
	"bytes"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/internal/stream"
	"github.com/headwater-media/headwater/internal/stream/streamtest"
	"github.com/headwater-media/headwater/pkg/flv"
)

// avcSeqHeader is an AVC sequence header with a real SPS and PPS
// (640x360 High profile), 4-byte NAL unit lengths.
func avcSeqHeader() []byte {
	sps := []byte{0x67, 0x64, 0x00, 0x1e, 0xac, 0xd9, 0x40, 0xa0, 0x2f, 0xf9, 0x70, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x32, 0x0f, 0x16, 0x2d, 0x96}
	pps := []byte{0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0}
	p := []byte{0x17, 0x00, 0, 0, 0, 0x01, sps[1], sps[2], sps[3], 0xff, 0xe1, 0, byte(len(sps))}
	p = append(p, sps...)
	p = append(p, 0x01, 0, byte(len(pps)))
	p = append(p, pps...)
	return streamtest.Buf(p)
}

// splitMP4 checks that b is an init segment followed by whole fragments
// and returns the fragments.
func splitMP4(t *testing.T, b []byte) fmp4.Parts {
	t.Helper()
	var init fmp4.Init
	require.NoError(t, init.Unmarshal(bytes.NewReader(b)))
	require.NotEmpty(t, init.Tracks)
	// the init is ftyp + moov: skip the boxes up to the first moof
	off := 0
	for off+8 <= len(b) {
		size := int(b[off])<<24 | int(b[off+1])<<16 | int(b[off+2])<<8 | int(b[off+3])
		if string(b[off+4:off+8]) == "moof" {
			break
		}
		off += size
	}
	var parts fmp4.Parts
	if off < len(b) {
		require.NoError(t, parts.Unmarshal(b[off:]))
	}
	return parts
}

// TestMP4WholeFragments: a fragmented MP4 recording is an init segment
// and whole fragments after every write (what kill -9 could leave), and
// holds every frame.
func TestMP4WholeFragments(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Enabled, cfg.Format, cfg.Path = true, FormatMP4, "/r/{stream}.mp4"
	f := newFixture(t, cfg)
	pub, err := f.reg.Publish(f.key, RegistryInfo(), nil)
	require.NoError(t, err)
	f.pub = pub
	require.NoError(t, pub.Write(flv.TagScript, 0, streamtest.Metadata(true, true)))
	require.NoError(t, pub.Write(flv.TagVideo, 0, avcSeqHeader()))
	require.NoError(t, pub.Write(flv.TagAudio, 0, streamtest.AACSeqHeader()))
	f.waitActive(t, 1)
	f.media(t, 3000)
	pub.Release()
	f.waitActive(t, 0)

	file := f.fs.file("/r/cam.mp4")
	require.NotNil(t, file)
	require.True(t, file.synced && file.closed)
	require.NotEmpty(t, file.writes)
	for _, w := range file.writes {
		splitMP4(t, w)
	}
	samples := map[int]int{}
	for _, p := range splitMP4(t, file.content()) {
		for _, tr := range p.Tracks {
			samples[tr.ID] += len(tr.Samples)
		}
	}
	require.Equal(t, map[int]int{mp4Video: 75, mp4Audio: 75}, samples)
	require.Len(t, f.done(), 1)
	require.Equal(t, 2960*1e6, float64(f.done()[0].Duration))
}

// TestMP4RefusesOtherCodecs: a codec the MP4 writer does not take stops
// the recording (reason io), the stream goes on.
func TestMP4RefusesOtherCodecs(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Enabled, cfg.Format, cfg.Path = true, FormatMP4, "/r/{stream}.mp4"
	f := newFixture(t, cfg)
	pub, err := f.reg.Publish(f.key, RegistryInfo(), nil)
	require.NoError(t, err)
	f.pub = pub
	f.waitActive(t, 1)
	defer pub.Release()
	for i := range 100 { // the stream is ready after 64 tags without headers
		require.NoError(t, pub.Write(flv.TagVideo, uint32(40*i), streamtest.Buf([]byte{0x12, 0x00, 0x01, 0x02}))) // Sorenson H.263 key frames
	}
	f.waitActive(t, 0)
	require.EqualValues(t, 1, f.m.Counts().Errors[ReasonIO])
}

// FuzzMP4File: whatever tags a publisher sends (the stream passes on
// what it cannot parse), the MP4 writer returns an error or writes, and
// never panics: a recorder's panic would take the server down.
func FuzzMP4File(f *testing.F) {
	f.Add([]byte{flv.TagVideo, 0}, avcSeqHeader()[flv.TagHeaderSize:len(avcSeqHeader())-flv.PrevTagSizeLen])
	f.Add([]byte{flv.TagAudio, 0, flv.TagVideo, 40}, []byte{0xaf, 0x00, 0x12, 0x10})
	f.Add([]byte{flv.TagVideo, 0, flv.TagVideo, 40, flv.TagAudio, 40}, []byte{0x17, 0x01, 0, 0, 0, 0, 0, 0, 1, 0x65})
	f.Fuzz(func(t *testing.T, script, payload []byte) {
		w := newMP4File(&memFile{fs: newMemFS()}, "x.mp4", time.Now())
		// Each pair of script bytes is a tag: its type and timestamp
		// step; the payloads are cut from payload, the sequence headers
		// first so that frames get through to the muxer.
		tags := []*stream.Tag{
			{Type: flv.TagVideo, Header: true, Data: avcSeqHeader()},
			{Type: flv.TagAudio, Header: true, Data: streamtest.AACSeqHeader()},
		}
		ts := uint32(0)
		for i := 0; i+1 < len(script) && i < 64; i += 2 {
			n := min(len(payload), int(script[i+1])%64+1)
			ts += uint32(script[i+1])
			tags = append(tags, &stream.Tag{Type: []uint8{flv.TagAudio, flv.TagVideo, flv.TagScript}[script[i]%3], Timestamp: ts,
				Data: streamtest.Buf(payload[:n])})
			payload = payload[n:]
		}
		for _, tg := range tags {
			if w.add(tg) != nil {
				return
			}
		}
		_ = w.close(time.Now())
	})
}
