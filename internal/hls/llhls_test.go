package hls

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/internal/stream"
	"github.com/headwater-media/headwater/pkg/flv"
)

// feedFile feeds an FLV file (3 s, a keyframe each second) into an
// LL-HLS gohlslib muxer as a muxer's feed does, and returns the muxer.
func feedFile(t *testing.T, path string) *gohlslib.Muxer {
	t.Helper()
	file, err := os.Open(path)
	require.NoError(t, err)
	defer file.Close()
	r := flv.NewReader(file)
	_, err = r.ReadHeader()
	require.NoError(t, err)
	c := DefaultConfig()
	c.LowLatency, c.SegmentDuration = true, time.Second
	f := &feed{epoch: time.Now()}
	var h *gohlslib.Muxer
	for {
		ft, err := r.ReadTag()
		if err != nil {
			break
		}
		buf := make([]byte, flv.TagSize(len(ft.Data)))
		copy(buf[flv.TagHeaderSize:], ft.Data)
		tag := &stream.Tag{Type: ft.Type, Timestamp: ft.Timestamp, Data: buf}
		switch ft.Type {
		case flv.TagScript:
			continue
		case flv.TagVideo:
			vi, err := flv.ParseVideo(ft.Data)
			require.NoError(t, err)
			tag.Header, tag.Keyframe = vi.SequenceHeader, vi.Keyframe && !vi.SequenceHeader
		case flv.TagAudio:
			ai, err := flv.ParseAudio(ft.Data)
			require.NoError(t, err)
			tag.Header = ai.SequenceHeader
		}
		if tag.Header {
			_, err := f.header(tag)
			require.NoError(t, err)
			continue
		}
		if h == nil {
			if !f.ready(tag) {
				continue
			}
			h = &gohlslib.Muxer{Tracks: f.tracks(), Variant: c.variant(), SegmentCount: c.SegmentCount,
				SegmentMinDuration: c.SegmentDuration, PartMinDuration: c.PartDuration, OnEncodeError: func(error) {}}
			require.NoError(t, h.Start())
			f.started = true
		}
		require.NoError(t, f.write(h, tag))
	}
	require.NotNil(t, h)
	return h
}

func get(h *gohlslib.Muxer, name string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.Handle(rec, httptest.NewRequest(http.MethodGet, "/live/x/"+name, nil))
	return rec
}

// TestLLHLSWaitersReturnWhenTheMuxerCloses: requests waiting for the part
// an LL-HLS playlist's EXT-X-PRELOAD-HINT names all return when the muxer
// closes (the stream ended, idle, shutdown). gohlslib v2.2.0 returned from
// the first of them with the stream's lock held, and the others hung
// forever (third_party/gohlslib/PATCHES.md, patch 1).
func TestLLHLSWaitersReturnWhenTheMuxerCloses(t *testing.T) {
	h := feedFile(t, "../e2e/testdata/torture.flv")
	index := get(h, "index.m3u8")
	require.Equal(t, http.StatusOK, index.Code)
	mv, err := playlist.Unmarshal(index.Body.Bytes())
	require.NoError(t, err)
	media := get(h, mv.(*playlist.Multivariant).Variants[0].URI)
	require.Equal(t, http.StatusOK, media.Code)
	pl, err := playlist.Unmarshal(media.Body.Bytes())
	require.NoError(t, err)
	hint := pl.(*playlist.Media).PreloadHint
	require.NotNil(t, hint, "an LL-HLS playlist names the next part")

	const waiters = 3
	done := make(chan int, waiters)
	for i := 0; i < waiters; i++ {
		go func() { done <- get(h, strings.SplitN(hint.URI, "?", 2)[0]).Code }()
	}
	h.Close()
	for i := 0; i < waiters; i++ {
		select {
		case code := <-done:
			require.Equal(t, http.StatusInternalServerError, code)
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of %d requests for the preload-hint part still hang after the muxer closed", waiters-i, waiters)
		}
	}
}
