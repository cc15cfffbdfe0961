package stream

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	st "github.com/headwater-media/headwater/internal/stream/streamtest"
	"github.com/headwater-media/headwater/pkg/flv"
)

// The FuzzStreamWrite input is a little program for one stream:
//
//	config byte: bits 0-1 GOPCacheBytes, 2-3 QueueBytes, 4-5 QueueDuration
//	             (see fuzzGOP, fuzzQueue, fuzzDur); bit 6 subscribes A and
//	             bit 7 subscribes B before the first op
//	then ops, each an op byte and its operands:
//	  op&7 = 0 audio, 1 video, 2 script, 7 video, 3 tag of the type in the
//	         next byte: a message, written with Write. Then the timestamp:
//	         op&8 ? 4 bytes big endian (absolute) : 1 byte added to the
//	         previous one; then the payload length: op&16 ? 2 bytes big
//	         endian : 1 byte; then the payload (cut short at the end).
//	  op&7 = 4: unsubscribe A and subscribe a new A (a new join), at most
//	            fuzzMaxJoin times
//	  op&7 = 5: subscribe B if it is not subscribed yet
//	  op&7 = 6: End the stream
//
// A is drained after every op with a cancelled context; B is drained only
// once, after the program has run and the stream has ended.
const (
	fuzzOpAudio = iota
	fuzzOpVideo
	fuzzOpScript
	fuzzOpRawType
	fuzzOpResubscribeA
	fuzzOpSubscribeB
	fuzzOpEnd
	fuzzOpVideo2

	fuzzAbsTS   = 8
	fuzzLong    = 16
	fuzzMaxOps  = 4096
	fuzzMaxJoin = 8 // resubscriptions of A per input: each one replays the GOP
	fuzzSubA    = 1 << 6
	fuzzSubB    = 1 << 7
	fuzzCfgMask = 0x3f
)

var (
	fuzzGOP   = [4]int{0, 300, 2000, 64 << 10}
	fuzzQueue = [4]int{150, 600, 3000, 64 << 10}
	fuzzDur   = [4]time.Duration{0, 40 * time.Millisecond, time.Second, 10 * time.Second}
)

// fuzzProgram builds FuzzStreamWrite inputs for the seed corpus.
type fuzzProgram struct {
	b  []byte
	ts uint32
}

func newFuzzProgram(cfg byte) *fuzzProgram { return &fuzzProgram{b: []byte{cfg}} }

func (p *fuzzProgram) op(op byte) *fuzzProgram { p.b = append(p.b, op); return p }

// msg appends a message op; ts is encoded as a delta when it fits.
func (p *fuzzProgram) msg(op byte, rawType byte, ts uint32, payload []byte) *fuzzProgram {
	if ts < p.ts || ts-p.ts > 255 {
		op |= fuzzAbsTS
	}
	if len(payload) > 255 {
		op |= fuzzLong
	}
	p.b = append(p.b, op)
	if op&7 == fuzzOpRawType {
		p.b = append(p.b, rawType)
	}
	if op&fuzzAbsTS != 0 {
		p.b = binary.BigEndian.AppendUint32(p.b, ts)
	} else {
		p.b = append(p.b, byte(ts-p.ts))
	}
	p.ts = ts
	if op&fuzzLong != 0 {
		p.b = binary.BigEndian.AppendUint16(p.b, uint16(len(payload)))
	} else {
		p.b = append(p.b, byte(len(payload)))
	}
	p.b = append(p.b, payload...)
	return p
}

func (p *fuzzProgram) tag(typ uint8, ts uint32, payload []byte) *fuzzProgram {
	switch typ {
	case flv.TagAudio:
		return p.msg(fuzzOpAudio, 0, ts, payload)
	case flv.TagVideo:
		return p.msg(fuzzOpVideo, 0, ts, payload)
	case flv.TagScript:
		return p.msg(fuzzOpScript, 0, ts, payload)
	}
	return p.msg(fuzzOpRawType, typ, ts, payload)
}

// payload strips a streamtest tag buffer down to its payload.
func payload(buf []byte) []byte { return buf[flv.TagHeaderSize : len(buf)-flv.PrevTagSizeLen] }

func fuzzCat(parts ...any) []byte {
	var b []byte
	for _, p := range parts {
		switch v := p.(type) {
		case []byte:
			b = append(b, v...)
		case string:
			b = append(b, v...)
		case int:
			b = append(b, byte(v))
		default:
			panic(fmt.Sprintf("fuzzCat: %T", p))
		}
	}
	return b
}

// streamFuzzSeeds returns the seed corpus of FuzzStreamWrite by name.
func streamFuzzSeeds(tb testing.TB) map[string][]byte {
	seeds := make(map[string][]byte)

	// The real ffmpeg capture in pkg/flv/testdata, under two configs:
	// roomy bounds, and tiny ones with B joining mid-stream.
	raw, err := os.ReadFile(filepath.Join("..", "..", "pkg", "flv", "testdata", "avc_aac_160x120.flv"))
	if err != nil {
		tb.Fatal(err)
	}
	roomy := newFuzzProgram(3 | 3<<2 | 3<<4 | fuzzSubA | fuzzSubB)
	tiny := newFuzzProgram(1 | 1<<2 | 1<<4 | fuzzSubA)
	r := flv.NewReader(bytes.NewReader(raw))
	if _, err := r.ReadHeader(); err != nil {
		tb.Fatal(err)
	}
	for i := 0; ; i++ {
		tag, err := r.ReadTag()
		if err == io.EOF {
			break
		}
		if err != nil {
			tb.Fatal(err)
		}
		roomy.tag(tag.Type, tag.Timestamp, tag.Data)
		if i == 10 {
			tiny.op(fuzzOpSubscribeB)
		}
		if i == 20 {
			tiny.op(fuzzOpResubscribeA)
		}
		tiny.tag(tag.Type, tag.Timestamp, tag.Data)
	}
	seeds["ffmpeg_avc_aac_roomy"] = roomy.b
	seeds["ffmpeg_avc_aac_tiny"] = tiny.op(fuzzOpEnd).tag(flv.TagAudio, 0, payload(st.AACFrame(3))).b

	// streamtest tags: headers, GOPs, a late join, timestamps going back,
	// an unknown tag type, an end-of-sequence, writes after End.
	p := newFuzzProgram(2|1<<2|2<<4|fuzzSubA).
		tag(flv.TagScript, 0, payload(st.Metadata(true, true))).
		tag(flv.TagVideo, 0, payload(st.AVCSeqHeader())).
		tag(flv.TagAudio, 0, payload(st.AACSeqHeader())).
		tag(flv.TagVideo, 0, payload(st.AVCFrame(true, 100))).
		tag(flv.TagAudio, 10, payload(st.AACFrame(20))).
		tag(flv.TagVideo, 33, payload(st.AVCFrame(false, 50))).
		op(fuzzOpSubscribeB).
		tag(flv.TagVideo, 66, payload(st.AVCFrame(true, 100))).
		tag(flv.TagAudio, 20, payload(st.AACFrame(20))).
		tag(7, 70, []byte{1, 2, 3}).
		tag(flv.TagVideo, 99, payload(st.AVCFrame(false, 400))).
		tag(flv.TagVideo, 99, payload(st.AVCSeqHeader())).
		op(fuzzOpResubscribeA).
		tag(flv.TagVideo, 132, []byte{0x17, 0x02, 0, 0, 0}).
		tag(flv.TagVideo, 133, payload(st.AVCFrame(false, 50))).
		op(fuzzOpEnd).
		tag(flv.TagVideo, 166, payload(st.AVCFrame(true, 100)))
	seeds["synthetic_av"] = p.b

	// Metadata announcing video on a stream that only ever sends audio:
	// players wait for readyFallbackTags media tags.
	p = newFuzzProgram(1|2<<2|fuzzSubA|fuzzSubB).
		tag(flv.TagScript, 0, payload(st.Metadata(true, true))).
		tag(flv.TagAudio, 0, payload(st.AACSeqHeader()))
	for i := 0; i < readyFallbackTags+2; i++ {
		p.tag(flv.TagAudio, uint32(23*i), payload(st.AACFrame(10)))
	}
	seeds["metadata_announces_missing_video"] = p.b

	// Metadata replaced mid-stream by one announcing audio only; a video-only
	// stream; the metadata keys written by ffmpeg (with a double value).
	meta := payload(st.Metadata(true, false))
	seeds["metadata_replaced"] = newFuzzProgram(2|2<<2|fuzzSubA).
		tag(flv.TagScript, 0, payload(st.Metadata(false, true))).
		tag(flv.TagScript, 0, meta).
		tag(flv.TagAudio, 0, payload(st.AACFrame(8))).
		op(fuzzOpSubscribeB).
		tag(flv.TagVideo, 5, payload(st.AVCFrame(true, 30))).
		tag(flv.TagScript, 0, []byte{}).
		tag(flv.TagAudio, 30, payload(st.AACFrame(8))).b

	// E-RTMP video (hvc1, av01, vp09 FourCCs, ModEx, multitrack) and
	// E-RTMP/legacy audio, with small queues.
	hvcC, err := os.ReadFile(filepath.Join("..", "..", "pkg", "flv", "testdata", "hvcc_320x240.bin"))
	if err != nil {
		tb.Fatal(err)
	}
	av1C, err := os.ReadFile(filepath.Join("..", "..", "pkg", "flv", "testdata", "av1c_320x240.bin"))
	if err != nil {
		tb.Fatal(err)
	}
	seeds["enhanced_rtmp"] = newFuzzProgram(1|0<<2|1<<4|fuzzSubA).
		tag(flv.TagScript, 0, payload(st.Metadata(true, true))).
		tag(flv.TagVideo, 0, fuzzCat(0x90, "hvc1", hvcC)).
		tag(flv.TagAudio, 0, fuzzCat(0x90, "Opus", "OpusHead", make([]byte, 11))).
		tag(flv.TagVideo, 0, fuzzCat(0x91, "hvc1", 0, 0, 0x10, 0, 0, 0, 1, 0x26)).
		tag(flv.TagAudio, 3, fuzzCat(0x91, "Opus", 0xfc, 0xff)).
		tag(flv.TagVideo, 33, fuzzCat(0xa3, "hvc1", 0, 0, 0, 1, 0x02)).
		tag(flv.TagVideo, 40, fuzzCat(0x94, "hvc1", 0x02, 0, 9, "colorInfo")).
		op(fuzzOpSubscribeB).
		tag(flv.TagVideo, 66, fuzzCat(0x97, 2, 0, 1, 0, 0x01, "hvc1", 0, 0, 0, 0xaa)).
		tag(flv.TagVideo, 66, fuzzCat(0x96, 0x00, "hvc1", 0)).
		tag(flv.TagVideo, 70, fuzzCat(0x90, "av01", av1C)).
		tag(flv.TagVideo, 80, fuzzCat(0x91, "av01", 0x12, 0)).
		tag(flv.TagVideo, 90, fuzzCat(0xa7, 0xff, 0, 3, make([]byte, 4), 0x53, "vp09", 0xaa)).
		tag(flv.TagVideo, 95, fuzzCat(0xd1, 0x01)).
		tag(flv.TagVideo, 96, fuzzCat(0x92, "vp08")).
		tag(flv.TagAudio, 97, fuzzCat(0x2f, 0xff, 0xfb)).
		tag(flv.TagVideo, 98, fuzzCat(0x57, 0)).b

	// Timestamps around the 24-bit extension and going backwards.
	seeds["timestamps"] = newFuzzProgram(2|3<<2|3<<4|fuzzSubA|fuzzSubB).
		tag(flv.TagVideo, 0xfffff0, payload(st.AVCSeqHeader())).
		tag(flv.TagVideo, 0xfffff0, payload(st.AVCFrame(true, 10))).
		tag(flv.TagAudio, 0xffffff, payload(st.AACFrame(4))).
		tag(flv.TagVideo, 0x1000000, payload(st.AVCFrame(false, 10))).
		tag(flv.TagVideo, 5, payload(st.AVCFrame(false, 10))).
		tag(flv.TagAudio, 0, payload(st.AACFrame(4))).
		tag(flv.TagVideo, 0xffffffff, payload(st.AVCFrame(true, 10))).
		tag(flv.TagAudio, 0xfffffffe, payload(st.AACFrame(4))).b
	return seeds
}

// fuzzModel is what the stream's documented behaviour lets the test
// predict: which writes are accepted, which tracks are known and when
// subscribers start.
type fuzzModel struct {
	seen       [2]bool // an accepted tag on the track
	meta       bool
	metaAudio  bool
	metaVideo  bool
	headerSize [3]int // current metadata, video and audio sequence header tag sizes
	mediaTags  int
	ready      bool
	ended      bool
	bytesIn    uint64
}

func (m *fuzzModel) readyNow() bool {
	a, v := m.seen[trackAudio], m.seen[trackVideo]
	switch {
	case !a && !v:
		return false
	case m.mediaTags >= readyFallbackTags:
		return true
	case m.meta && ((m.metaVideo && !v) || (m.metaAudio && !a)):
		return false
	}
	return m.mediaTags > 0
}

// fuzzSub follows one subscriber through the test.
type fuzzSub struct {
	name    string
	sub     *Subscriber
	started bool
	audio   bool // tracks at start
	video   bool
	bound   int // the most bytes its queue may hold
	needKey bool
	lastTS  [2]uint32
	seenTS  [2]bool
	stepped [2]bool // lastTS was the previous frame of the track: steps are bounded
	dropped uint64
	closed  bool // cut off (ErrClosed) or unsubscribed
}

// start checks a subscriber the model says has just started.
func (fs *fuzzSub) start(t *testing.T, m *fuzzModel, cfg Config) {
	t.Helper()
	fs.started = true
	// onMetaData's tracks count until metaTrustTags media tags went by
	// without them; the first video is a keyframe either way.
	trust := m.meta && m.mediaTags < metaTrustTags
	fs.audio = m.seen[trackAudio] || (trust && m.metaAudio)
	fs.video = m.seen[trackVideo] || (trust && m.metaVideo)
	fs.needKey = fs.video
	fs.bound = max(cfg.QueueBytes, cfg.GOPCacheBytes+m.headerSize[0]+m.headerSize[1]+m.headerSize[2])
	if a, v := fs.sub.Tracks(); a != fs.audio || v != fs.video {
		t.Fatalf("%s started with tracks audio=%v video=%v, want %v %v (metadata video=%v audio=%v, %d media tags)",
			fs.name, a, v, fs.audio, fs.video, m.metaVideo, m.metaAudio, m.mediaTags)
	}
}

// check verifies a batch of tags the subscriber received.
func (fs *fuzzSub) check(t *testing.T, tags []*Tag, join bool, cfg Config) {
	t.Helper()
	if len(tags) > 0 && !fs.started {
		t.Fatalf("%s received %d tags before the stream was ready", fs.name, len(tags))
	}
	if d := fs.sub.Dropped(); d != fs.dropped {
		if d < fs.dropped {
			t.Fatalf("%s: Dropped went from %d to %d", fs.name, fs.dropped, d)
		}
		fs.dropped = d
		fs.needKey = fs.video
		fs.stepped = [2]bool{} // frames were dropped: the next step may be longer
	}
	total, mediaBytes := 0, 0
	for i, tag := range tags {
		checkFuzzTag(t, fs.name, tag, fs.audio, fs.video)
		total += len(tag.Data)
		if tag.Header {
			continue
		}
		mediaBytes += len(tag.Data)
		track := trackAudio
		if tag.Type == flv.TagVideo {
			track = trackVideo
		}
		if track == trackVideo {
			if fs.needKey && !tag.Keyframe {
				t.Fatalf("%s: first video tag after a join or a drop (#%d of %d, ts %d) is not a keyframe (dropped %d)",
					fs.name, i, len(tags), tag.Timestamp, fs.dropped)
			}
			fs.needKey = false
		}
		if fs.seenTS[track] && tag.Timestamp < fs.lastTS[track] {
			t.Fatalf("%s: track %d went back from %d to %d", fs.name, track, fs.lastTS[track], tag.Timestamp)
		}
		if max := uint32(DefaultMaxTSJump.Milliseconds()); fs.stepped[track] && tag.Timestamp-fs.lastTS[track] > max {
			t.Fatalf("%s: track %d jumped from %d to %d, more than %d ms", fs.name, track, fs.lastTS[track], tag.Timestamp, max)
		}
		fs.seenTS[track], fs.lastTS[track], fs.stepped[track] = true, tag.Timestamp, true
	}
	if total > fs.bound {
		t.Fatalf("%s holds %d bytes, bound %d", fs.name, total, fs.bound)
	}
	if join && mediaBytes > cfg.GOPCacheBytes {
		t.Fatalf("%s joined with %d bytes of GOP, cache bound %d", fs.name, mediaBytes, cfg.GOPCacheBytes)
	}
}

// checkFuzzTag verifies one tag's bytes: a well-formed FLV tag behind an FLV
// header, with the type, timestamp and flags the stream claims.
func checkFuzzTag(t *testing.T, who string, tag *Tag, audio, video bool) {
	t.Helper()
	if len(tag.Data) < flv.TagSize(0) {
		t.Fatalf("%s: tag of %d bytes", who, len(tag.Data))
	}
	buf := flv.AppendHeader(make([]byte, 0, flv.HeaderSize+flv.PrevTagSizeLen+len(tag.Data)), audio, video)
	buf = append(buf, tag.Data...)
	r := flv.NewReader(bytes.NewReader(buf))
	h, err := r.ReadHeader()
	if err != nil || h.HasAudio != audio || h.HasVideo != video {
		t.Fatalf("%s: FLV header %+v: %v", who, h, err)
	}
	ft, err := r.ReadTag()
	if err != nil {
		t.Fatalf("%s: tag does not parse: %v (% x)", who, err, tag.Data[:min(len(tag.Data), 32)])
	}
	if ft.Type != tag.Type || ft.Timestamp != tag.Timestamp || ft.Filter || !bytes.Equal(ft.Data, tag.Payload()) {
		t.Fatalf("%s: tag bytes say type %d ts %d filter %v (%d bytes), Tag says type %d ts %d (%d bytes)",
			who, ft.Type, ft.Timestamp, ft.Filter, len(ft.Data), tag.Type, tag.Timestamp, len(tag.Payload()))
	}
	if _, err := r.ReadTag(); err != io.EOF {
		t.Fatalf("%s: bytes after the tag: %v", who, err)
	}
	header, key, bad := classify(tag.Type, tag.Payload())
	if bad {
		t.Fatalf("%s: received a tag Write must refuse: type %d", who, tag.Type)
	}
	if tag.Header != header || tag.Keyframe != key {
		t.Fatalf("%s: type %d Header=%v Keyframe=%v, want %v %v", who, tag.Type, tag.Header, tag.Keyframe, header, key)
	}
}

// classify is the documented contract of Write for one message: bad tags are
// refused; unsupported codecs are relayed as plain frames.
func classify(typ uint8, p []byte) (header, key, bad bool) {
	switch typ {
	case flv.TagVideo:
		vi, err := flv.ParseVideo(p)
		if err != nil {
			return false, false, !errors.Is(err, flv.ErrUnsupported)
		}
		return vi.SequenceHeader, vi.Keyframe && !vi.SequenceHeader && !vi.EndOfSequence, false
	case flv.TagAudio:
		ai, err := flv.ParseAudio(p)
		if err != nil {
			return false, false, !errors.Is(err, flv.ErrUnsupported)
		}
		return ai.SequenceHeader, false, false
	case flv.TagScript:
		return true, false, false
	}
	return false, false, true
}

// FuzzStreamWrite feeds a fuzzed sequence of messages (audio, video,
// onMetaData, junk types) into a Stream with small bounds and two
// subscribers: A, drained after every write, and B, never drained until the
// stream has ended. It asserts that nothing panics; that Write accepts or
// refuses each message as documented (ErrBadTag, ErrEnded); that every tag
// a subscriber gets is a well-formed FLV tag of the claimed type; that
// per-track media timestamps never go backwards; that subscribers start only
// when the tracks are known (including what onMetaData announced) and then
// with a video keyframe; that queues and the GOP cache stay within their
// bounds; and that byte and drop counters add up.
func FuzzStreamWrite(f *testing.F) {
	// The seed corpus is testdata/fuzz/FuzzStreamWrite, built by
	// streamFuzzSeeds (see TestWriteStreamFuzzSeeds).
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		c := in[0]
		cfg := Config{
			GOPCacheBytes: fuzzGOP[c&3],
			QueueBytes:    fuzzQueue[c>>2&3],
			QueueDuration: fuzzDur[c>>4&3],
			Totals:        &Totals{},
		}
		s := New(cfg)
		var m fuzzModel
		cancelled, cancel := context.WithCancel(context.Background())
		cancel()

		var a, b *fuzzSub
		var oldA []*fuzzSub
		subscribe := func(name string) *fuzzSub {
			fs := &fuzzSub{name: name, sub: s.Subscribe()}
			if m.ready && !m.ended {
				fs.start(t, &m, cfg)
			}
			return fs
		}
		if c&fuzzSubA != 0 {
			a = subscribe("A")
		}
		if c&fuzzSubB != 0 {
			b = subscribe("B")
		}

		rest := in[1:]
		next := func(n int) []byte {
			n = min(n, len(rest))
			v := rest[:n:n]
			rest = rest[n:]
			return v
		}
		// nextN reads an n-byte big-endian number, zero-padded at the end.
		nextN := func(n int) uint32 {
			var v uint32
			b := next(n)
			for i := 0; i < n; i++ {
				v <<= 8
				if i < len(b) {
					v |= uint32(b[i])
				}
			}
			return v
		}
		var ts uint32
		for ops := 0; len(rest) > 0 && ops < fuzzMaxOps; ops++ {
			op := byte(nextN(1))
			var started []*fuzzSub
			joined := map[*fuzzSub]bool{}
			switch op & 7 {
			case fuzzOpResubscribeA:
				if len(oldA) >= fuzzMaxJoin {
					break
				}
				if a != nil {
					s.Unsubscribe(a.sub)
					if _, err := a.sub.Next(cancelled, nil); !errors.Is(err, ErrClosed) {
						t.Fatalf("Next after Unsubscribe: %v", err)
					}
					oldA = append(oldA, a)
				}
				a = subscribe(fmt.Sprintf("A%d", len(oldA)))
				joined[a] = a.started
			case fuzzOpSubscribeB:
				if b == nil {
					b = subscribe("B")
				}
			case fuzzOpEnd:
				s.End()
				m.ended = true
			default:
				var typ uint8
				switch op & 7 {
				case fuzzOpAudio:
					typ = flv.TagAudio
				case fuzzOpVideo, fuzzOpVideo2:
					typ = flv.TagVideo
				case fuzzOpScript:
					typ = flv.TagScript
				case fuzzOpRawType:
					typ = uint8(nextN(1))
				}
				if op&fuzzAbsTS != 0 {
					ts = nextN(4)
				} else {
					ts += nextN(1)
				}
				var n int
				if op&fuzzLong != 0 {
					n = int(nextN(2))
				} else {
					n = int(nextN(1))
				}
				p := next(n)
				header, _, bad := classify(typ, p)
				err := s.Write(typ, ts, st.Buf(p))
				switch {
				case bad:
					if !errors.Is(err, ErrBadTag) {
						t.Fatalf("Write(type %d, % x) = %v, want ErrBadTag", typ, p[:min(len(p), 16)], err)
					}
				case m.ended:
					if !errors.Is(err, ErrEnded) {
						t.Fatalf("Write after End = %v, want ErrEnded", err)
					}
				case err != nil:
					t.Fatalf("Write(type %d, % x) = %v, want nil", typ, p[:min(len(p), 16)], err)
				default:
					m.bytesIn += uint64(flv.TagSize(len(p)))
					switch {
					case typ == flv.TagScript:
						m.meta = true
						m.metaVideo = bytes.Contains(p, []byte("\x00\x0cvideocodecid"))
						m.metaAudio = bytes.Contains(p, []byte("\x00\x0caudiocodecid"))
						m.headerSize[0] = flv.TagSize(len(p))
					case header && typ == flv.TagVideo:
						m.headerSize[1] = flv.TagSize(len(p))
					case header:
						m.headerSize[2] = flv.TagSize(len(p))
					default:
						m.mediaTags++
					}
					if typ == flv.TagVideo {
						m.seen[trackVideo] = true
					} else if typ == flv.TagAudio {
						m.seen[trackAudio] = true
					}
					if !m.ready && m.readyNow() {
						m.ready = true
						for _, fs := range []*fuzzSub{a, b} {
							if fs != nil && !fs.started {
								started = append(started, fs)
							}
						}
					}
				}
			}
			for _, fs := range started {
				fs.start(t, &m, cfg)
				joined[fs] = true
			}
			if a == nil || a.closed {
				continue
			}
			tags, err := a.sub.Next(cancelled, nil)
			switch {
			case len(tags) > 0:
				if err != nil {
					t.Fatalf("%s: Next returned %d tags and %v", a.name, len(tags), err)
				}
			case errors.Is(err, ErrEnded):
				if !m.ended {
					t.Fatalf("%s: ErrEnded before End", a.name)
				}
			case errors.Is(err, ErrClosed):
				// Cut off: its headers alone exceed QueueBytes.
				a.closed = true
			case !errors.Is(err, context.Canceled):
				t.Fatalf("%s: Next = %v", a.name, err)
			}
			a.check(t, tags, joined[a], cfg)
		}

		// The end: B gets what it has queued, then ErrEnded.
		s.End()
		if b != nil {
			tags, err := b.sub.Next(cancelled, nil)
			if err != nil && len(tags) > 0 {
				t.Fatalf("B: Next returned %d tags and %v", len(tags), err)
			}
			if len(tags) > 0 {
				b.check(t, tags, false, cfg)
				tags, err = b.sub.Next(cancelled, nil)
			}
			if len(tags) > 0 || !(errors.Is(err, ErrEnded) || errors.Is(err, ErrClosed)) {
				t.Fatalf("B after draining: %d tags, %v", len(tags), err)
			}
		}
		if a != nil && !a.closed {
			tags, err := a.sub.Next(cancelled, nil)
			if len(tags) > 0 || !errors.Is(err, ErrEnded) {
				t.Fatalf("%s after End: %d tags, %v", a.name, len(tags), err)
			}
		}

		var dropped uint64
		for _, fs := range append(oldA, a, b) {
			if fs != nil {
				dropped += fs.sub.Dropped()
				s.Unsubscribe(fs.sub)
			}
		}
		if s.Subscribers() != 0 {
			t.Fatalf("%d subscribers left", s.Subscribers())
		}
		if got := s.FramesDropped(); got != dropped || cfg.Totals.FramesDropped.Load() != dropped {
			t.Fatalf("FramesDropped %d, totals %d, subscribers dropped %d", got, cfg.Totals.FramesDropped.Load(), dropped)
		}
		if got := s.BytesIn(); got != m.bytesIn || cfg.Totals.BytesIn.Load() != m.bytesIn {
			t.Fatalf("BytesIn %d, totals %d, want %d", got, cfg.Totals.BytesIn.Load(), m.bytesIn)
		}
		s.Free()
		if err := s.Write(flv.TagAudio, 0, st.AACFrame(4)); !errors.Is(err, ErrEnded) {
			t.Fatalf("Write after Free = %v", err)
		}
	})
}

// TestWriteStreamFuzzSeeds keeps testdata/fuzz/FuzzStreamWrite in step with
// streamFuzzSeeds; HEADWATER_WRITE_FUZZ_SEEDS=1 rewrites the files.
func TestWriteStreamFuzzSeeds(t *testing.T) {
	checkFuzzSeedFiles(t, "FuzzStreamWrite", streamFuzzSeeds(t))
}

func checkFuzzSeedFiles(t *testing.T, target string, seeds map[string][]byte) {
	dir := filepath.Join("testdata", "fuzz", target)
	write := os.Getenv("HEADWATER_WRITE_FUZZ_SEEDS") != ""
	for name, b := range seeds {
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		path := filepath.Join(dir, name)
		if write {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != want {
			t.Errorf("%s is missing or stale (%v): run HEADWATER_WRITE_FUZZ_SEEDS=1 go test -run '^TestWrite.*FuzzSeeds$' .", path, err)
		}
	}
}
