package record

import (
	"errors"
	"fmt"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"

	"github.com/headwater-media/headwater/internal/stream"
	"github.com/headwater-media/headwater/pkg/flv"
)

// ErrUnsupportedCodec: record.format mp4 takes H.264 (legacy AVC or
// E-RTMP avc1, 4-byte NAL unit lengths) and AAC only.
var ErrUnsupportedCodec = errors.New("codec not supported in mp4 recordings (H.264 and AAC only)")

// mp4TimeScale: timestamps are FLV's milliseconds, as they are.
const mp4TimeScale = 1000

// Track ids of an MP4 recording.
const (
	mp4Video = 1
	mp4Audio = 2
)

// mp4File writes one fragmented MP4 file (ISO BMFF, mediacommon's
// fmp4): the init segment (ftyp, moov) at the first media tag, from the
// sequence headers seen so far, then a fragment (moof, mdat) each time
// buffered samples are due, written whole like FLV's tags. A sequence
// header change within the file is not followed (the file keeps its
// init); the next file gets the new one.
type mp4File struct {
	fileBuf
	video   *mp4.CodecH264
	aac     *mp4.CodecMPEG4Audio
	inited  bool
	tracks  map[int]*mp4Track
	seq     uint32 // fragments written
	base    uint32 // timestamp of the file's first media tag
	hasBase bool
	last    uint32 // latest sample timestamp, rebased
	pending int    // sample bytes waiting for the next fragment
}

// mp4Track is one track's samples not yet in a fragment. The newest
// sample is held back until the next one gives its duration.
type mp4Track struct {
	samples  []*fmp4.Sample
	firstDTS uint32 // of samples[0]
	held     *fmp4.Sample
	heldDTS  uint32
	lastDur  uint32
}

func newMP4File(f File, path string, now time.Time) *mp4File {
	return &mp4File{fileBuf: fileBuf{f: f, path: path, buf: make([]byte, 0, 64<<10), lastFlush: now},
		tracks: map[int]*mp4Track{}}
}

func (w *mp4File) hasMedia() bool { return w.hasBase }
func (w *mp4File) buffered() int  { return len(w.buf) + w.pending }

func (w *mp4File) due(now time.Time) bool {
	return w.buffered() >= flushBytes || (w.buffered() > 0 && now.Sub(w.lastFlush) >= flushEvery)
}

func (w *mp4File) elapsed(t *stream.Tag) time.Duration {
	if !w.hasBase || t.Timestamp < w.base {
		return 0
	}
	return time.Duration(t.Timestamp-w.base) * time.Millisecond
}

func (w *mp4File) duration() time.Duration { return time.Duration(w.last) * time.Millisecond }

// add takes a sequence header (before the init) or a media frame.
func (w *mp4File) add(t *stream.Tag) error {
	payload := t.Payload()
	switch t.Type {
	case flv.TagVideo:
		vi, err := flv.ParseVideo(payload)
		avc := err == nil && vi.Codec == flv.VideoCodecAVC
		// A codec other than H.264 (not a malformed H.264 frame, nor an
		// enhanced header we could not read) before the init: this file
		// cannot hold the stream. ParseVideo names a legacy tag's codec
		// before any error.
		foreign := len(payload) > 0 && (err == nil || !vi.Enhanced) && vi.Codec != flv.VideoCodecAVC
		if foreign && !w.inited {
			return fmt.Errorf("%w: video %s", ErrUnsupportedCodec, videoName(vi, payload))
		}
		if err != nil {
			return nil // the stream passed it on; nothing to record
		}
		if vi.SequenceHeader {
			if !avc {
				return fmt.Errorf("%w: video %s", ErrUnsupportedCodec, videoName(vi, payload))
			}
			if w.inited {
				return nil
			}
			c, err := flv.ParseAVCDecoderConfig(vi.Config)
			if err != nil || c.NALULengthSize != 4 || c.PPS == nil {
				return fmt.Errorf("%w: an AVC configuration this writer cannot take (%v)", ErrUnsupportedCodec, err)
			}
			w.video = &mp4.CodecH264{SPS: c.SPS, PPS: c.PPS}
			return nil
		}
		if !avc || vi.EndOfSequence || vi.Multitrack || len(vi.Data) == 0 || vi.FrameType == 5 {
			return nil
		}
		return w.sample(mp4Video, t.Timestamp, &fmp4.Sample{PTSOffset: vi.CompositionTime, IsNonSyncSample: !vi.Keyframe, Payload: vi.Data})
	case flv.TagAudio:
		ai, err := flv.ParseAudio(payload)
		if err != nil || ai.Silence {
			return nil
		}
		if ai.Format != flv.SoundFormatAAC {
			if ai.SequenceHeader || !w.inited {
				return fmt.Errorf("%w: audio format %d", ErrUnsupportedCodec, ai.Format)
			}
			return nil
		}
		if ai.SequenceHeader {
			if w.inited {
				return nil
			}
			var c mpeg4audio.AudioSpecificConfig
			if err := c.Unmarshal(ai.Config); err != nil {
				return fmt.Errorf("%w: AudioSpecificConfig: %v", ErrUnsupportedCodec, err)
			}
			w.aac = &mp4.CodecMPEG4Audio{Config: c}
			return nil
		}
		if len(ai.Data) == 0 {
			return nil
		}
		return w.sample(mp4Audio, t.Timestamp, &fmp4.Sample{Payload: ai.Data})
	}
	return nil // metadata has no place in the MP4
}

// sample queues one frame of track id at timestamp ts (ms).
func (w *mp4File) sample(id int, ts uint32, s *fmp4.Sample) error {
	if !w.inited {
		if err := w.writeInit(); err != nil {
			return err
		}
	}
	tr := w.tracks[id]
	if tr == nil {
		return nil // a track the init does not have (its header came late)
	}
	if !w.hasBase {
		w.base, w.hasBase = ts, true
	}
	dts := uint32(0)
	if ts > w.base {
		dts = ts - w.base
	}
	w.last = max(w.last, dts)
	if tr.held != nil {
		d := uint32(0)
		if dts > tr.heldDTS {
			d = dts - tr.heldDTS
		}
		tr.held.Duration, tr.lastDur = d, d
		if len(tr.samples) == 0 {
			tr.firstDTS = tr.heldDTS
		}
		tr.samples = append(tr.samples, tr.held)
	}
	tr.held, tr.heldDTS = s, dts
	w.pending += len(s.Payload)
	return nil
}

// writeInit buffers the init segment for the sequence headers seen.
func (w *mp4File) writeInit() error {
	var init fmp4.Init
	if w.video != nil {
		init.Tracks = append(init.Tracks, &fmp4.InitTrack{ID: mp4Video, TimeScale: mp4TimeScale, Codec: w.video})
		w.tracks[mp4Video] = &mp4Track{}
	}
	if w.aac != nil {
		init.Tracks = append(init.Tracks, &fmp4.InitTrack{ID: mp4Audio, TimeScale: mp4TimeScale, Codec: w.aac})
		w.tracks[mp4Audio] = &mp4Track{}
	}
	if len(init.Tracks) == 0 {
		return fmt.Errorf("%w: no H.264 or AAC sequence header before the first frame", ErrUnsupportedCodec)
	}
	var b seekablebuffer.Buffer
	if err := init.Marshal(&b); err != nil {
		return err
	}
	w.buf = append(w.buf, b.Bytes()...)
	w.inited = true
	return nil
}

// fragment moves the samples ready (and, at the end, the held ones) into
// one buffered moof+mdat.
func (w *mp4File) fragment(final bool) error {
	part := fmp4.Part{SequenceNumber: w.seq + 1}
	for _, id := range []int{mp4Video, mp4Audio} {
		tr := w.tracks[id]
		if tr == nil {
			continue
		}
		if final && tr.held != nil {
			tr.held.Duration = tr.lastDur
			if len(tr.samples) == 0 {
				tr.firstDTS = tr.heldDTS
			}
			tr.samples, tr.held = append(tr.samples, tr.held), nil
		}
		if len(tr.samples) == 0 {
			continue
		}
		part.Tracks = append(part.Tracks, &fmp4.PartTrack{ID: id, BaseTime: uint64(tr.firstDTS), Samples: tr.samples})
	}
	if len(part.Tracks) == 0 {
		return nil
	}
	var b seekablebuffer.Buffer
	if err := part.Marshal(&b); err != nil {
		return err
	}
	w.buf = append(w.buf, b.Bytes()...)
	w.seq++
	w.pending = 0
	for _, tr := range w.tracks {
		clear(tr.samples)
		tr.samples = tr.samples[:0]
		if tr.held != nil {
			w.pending += len(tr.held.Payload)
		}
	}
	return nil
}

func (w *mp4File) flush(now time.Time) error {
	if err := w.fragment(false); err != nil {
		return err
	}
	return w.fileBuf.flush(now)
}

func (w *mp4File) close(now time.Time) error {
	err := w.fragment(true)
	if err == nil {
		err = w.fileBuf.flush(now)
	}
	return w.closeFile(err)
}

// videoName names a video codec for an error.
func videoName(vi flv.VideoInfo, payload []byte) string {
	if vi.Enhanced {
		return flv.FourCCString(vi.FourCC)
	}
	return fmt.Sprintf("codec id %d", payload[0]&0x0f)
}
