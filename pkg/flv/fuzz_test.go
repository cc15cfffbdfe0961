package flv

import (
	"bytes"
	"errors"
	"io"
	"math"
	"testing"
)

// isSentinel reports whether err wraps one of the package's sentinel errors.
func isSentinel(err error) bool {
	for _, s := range []error{ErrShortPayload, ErrUnsupported, ErrMalformed, ErrBadHeader, ErrBadPrevTagSize, ErrTagTooLarge} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

var avcFixtureFiles = []string{
	"avc_seqhdr_1280x720_high.bin",
	"avc_seqhdr_320x240_baseline.bin",
	"avc_seqhdr_1920x1080_high.bin",
	"avc_seqhdr_640x360_444.bin",
	"avc_seqhdr_1920x1080_interlaced.bin",
}

func FuzzParseVideo(f *testing.F) {
	for _, name := range avcFixtureFiles {
		f.Add(fixture(f, name))
	}
	hvcC := fixture(f, "hvcc_320x240.bin")
	av1C := fixture(f, "av1c_320x240.bin")
	avcC := fixture(f, avcFixtureFiles[0])[5:]
	for _, seed := range [][]byte{
		{0x17}, {0x27, 1}, {0x17, 0, 0}, {0x17, 1, 0, 0}, {0x57, 0}, {0x12, 0},
		{0x17, 2, 0, 0, 0}, {0x2c, 1, 0xff, 0xff, 0xf0, 0, 0, 0, 1, 0x02},
		cat(0x90, "hvc1", hvcC), cat(0x91, "hvc1", 0, 0, 0x10, 0, 0, 0, 1, 0x26),
		cat(0x93, "hvc1", 0, 0, 0, 1, 0x26), cat(0x90, "av01", av1C), cat(0xa1, "av01", 0x12, 0),
		cat(0x90, "avc1", avcC), cat(0x95, "av01", 0x80, 4), cat(0x94, "hvc1", 0x02, 0, 9, "colorInfo"),
		cat(0x97, 2, 0, 1, 0, 0x01, "hvc1", 0, 0, 0, 0xaa),
		cat(0xa7, 0xff, 0, 3, make([]byte, 4), 0x53, "vp09", 0xaa),
		{0xd1, 0x01}, cat(0x96, 0x00, "hvc1", 0), cat(0x92, "vp08"),
		cat(0x96, 0x01, "hvc1", 3, 0, 0, 5, 0xaa), cat(0x96, 0x10, "av01", 0, u24(len(av1C)), av1C, 1, 0, 0, 1, 0x81),
		cat(0xa7, 2, 0, 0, 1, 0x06, 0x23, "vp09", 1, 0, 0, 1, 0xaa, "hvc1", 2, 0, 0, 1, 0xbb),
		cat(0x90, "vp09", fixture(f, "vpcc_box_320x240.bin")), cat(0x91, "vp09", fixture(f, "vp9_keyhdr_320x240.bin")),
		cat(0x90, "hvc1", fixture(f, "hvcc_322x242_main10.bin")), cat(0x91, "av01", 0x0a, av1C[5:]),
		cat(0x1c, 0, 0, 0, 0, hvcC),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ParseVideo(b)
		if !within(b, v.Config) || !within(b, v.Data) {
			t.Fatalf("Config/Data outside the payload: %+v", v)
		}
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		if len(b) == 0 {
			t.Fatal("empty payload accepted")
		}
		if v.Enhanced != (b[0]&0x80 != 0) {
			t.Fatalf("Enhanced = %v for first byte %#x", v.Enhanced, b[0])
		}
		if v.Keyframe && v.FrameType != FrameKey {
			t.Fatalf("Keyframe with frame type %d", v.FrameType)
		}
		if v.SequenceHeader && (v.EndOfSequence || len(v.Data) != 0) {
			t.Fatalf("inconsistent sequence header: %+v", v)
		}
		if !v.SequenceHeader && v.Config != nil {
			t.Fatalf("Config without SequenceHeader: %+v", v)
		}
		if !v.Enhanced && v.FourCC != 0 {
			t.Fatalf("FourCC on a legacy tag: %+v", v)
		}
		if v.Enhanced && v.FrameType != FrameCommand && v.Codec == VideoCodecOther {
			t.Fatalf("unknown FourCC accepted: %+v", v)
		}
		if v.SequenceHeader && v.Codec == VideoCodecAVC {
			c, err := ParseAVCDecoderConfig(v.Config)
			if err == nil && (c.Width <= 0 || c.Height <= 0) {
				t.Fatalf("bad size %+v", c)
			}
		}
		checkCodecParsers(t, v.Codec, v.SequenceHeader, v.Config, v.Data)
		if !v.Enhanced || v.FrameType == FrameCommand {
			return
		}
		// Every track parses, and the first is the one ParseVideo describes.
		tracks, err := ParseVideoTracks(nil, b)
		if err != nil {
			t.Fatalf("ParseVideo accepted what ParseVideoTracks refuses: %v", err)
		}
		if want := max(v.Tracks, 1); len(tracks) != want || v.Multitrack != (v.Tracks > 0) {
			t.Fatalf("%d tracks, ParseVideo said %d (multitrack %v)", len(tracks), v.Tracks, v.Multitrack)
		}
		t0 := tracks[0]
		if t0.FourCC != v.FourCC || t0.TrackID != v.TrackID || t0.CompositionTime != v.CompositionTime ||
			!bytes.Equal(t0.Config, v.Config) || !bytes.Equal(t0.Data, v.Data) {
			t.Fatalf("first track %+v differs from %+v", t0, v)
		}
		for _, tr := range tracks {
			if !within(b, tr.Config) || !within(b, tr.Data) {
				t.Fatalf("track outside the payload: %+v", tr)
			}
			checkCodecParsers(t, tr.Codec, v.SequenceHeader, tr.Config, tr.Data)
		}
	})
}

// checkCodecParsers runs the codec configuration and frame header parsers
// a relay would run on a video body and checks what they return.
func checkCodecParsers(t *testing.T, codec VideoCodec, seqStart bool, config, data []byte) {
	t.Helper()
	switch {
	case seqStart && codec == VideoCodecHEVC:
		c, err := ParseHEVCDecoderConfig(config)
		if err == nil && (c.Width <= 0 || c.Height <= 0 || c.Width > maxHEVCDimension || c.Height > maxHEVCDimension) {
			t.Fatalf("bad HEVC size %+v", c)
		}
	case seqStart && codec == VideoCodecAV1:
		c, err := ParseAV1CodecConfig(config)
		if err == nil && c.HasSequenceHeader && (c.Width <= 0 || c.Height <= 0) {
			t.Fatalf("bad AV1 size %+v", c)
		}
	case seqStart && (codec == VideoCodecVP9 || codec == VideoCodecVP8):
		if c, err := ParseVPCodecConfig(config); err == nil && c.Profile > 3 {
			t.Fatalf("bad VP config %+v", c)
		}
	case codec == VideoCodecVP9:
		if h, err := ParseVP9FrameHeader(data); err == nil && h.KeyFrame && (h.Width <= 0 || h.Height <= 0) {
			t.Fatalf("bad VP9 key frame %+v", h)
		}
	case codec == VideoCodecAV1:
		if obu := FindAV1SequenceHeader(data); obu != nil && !within(data, obu) {
			t.Fatal("sequence header OBU outside the frame")
		}
	}
}

func FuzzParseAudio(f *testing.F) {
	f.Add(fixture(f, "aac_seqhdr_44100_2ch.bin"))
	f.Add(fixture(f, "aac_seqhdr_48000_1ch.bin"))
	for _, seed := range [][]byte{
		nil, {0xaf}, {0xaf, 0x01, 0x21, 0x10}, {0x2f, 0xff, 0xfb}, {0x52, 0}, {0xaf, 2},
		cat(0x90, "mp4a", 0x12, 0x10), cat(0x90, "Opus", "OpusHead"), cat(0x91, "fLaC", 0xff, 0xf8),
		cat(0x92, "ac-3"), cat(0x94, "ec-3", 1, 6, 0, 0, 0, 0x3f), cat(0x94, "Opus", 2, 2, 0, 1),
		cat(0x97, 2, 0, 0, 1, 0x01, ".mp3", 0xff), cat(0x95, 0x00, "Opus", 0), cat(0x97, 0xff, 0x00),
		cat(0x95, 0x10, "Opus", 0, 0, 0, 2, "Op", 1, 0, 0, 0), cat(0x95, 0x24, "ec-3", 0, 0, 0, 2, 1, 6, "mp4a", 1, 0, 0, 0),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseAudio(b)
		if !within(b, a.Config) || !within(b, a.Data) {
			t.Fatalf("Config/Data outside the payload: %+v", a)
		}
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		if a.Silence != (len(b) == 0) {
			t.Fatalf("Silence = %v for %d bytes", a.Silence, len(b))
		}
		if len(b) > 0 && a.Format != b[0]>>4 {
			t.Fatalf("Format %d for first byte %#x", a.Format, b[0])
		}
		if !a.SequenceHeader && a.Config != nil {
			t.Fatalf("Config without SequenceHeader: %+v", a)
		}
		if a.Format != SoundFormatExHeader && a.FourCC != 0 {
			t.Fatalf("FourCC on a legacy tag: %+v", a)
		}
		if a.Format != SoundFormatExHeader && len(b) > 0 && (a.SampleRate <= 0 || a.Channels < 1 || a.Channels > 2) {
			t.Fatalf("bad legacy flags: %+v", a)
		}
		if a.SequenceHeader && (a.Format == SoundFormatAAC || a.FourCC == FourCCAAC) {
			c, err := ParseAudioSpecificConfig(a.Config)
			if err == nil && c.SampleRate <= 0 {
				t.Fatalf("bad config %+v", c)
			}
		}
		if a.Format != SoundFormatExHeader {
			return
		}
		tracks, err := ParseAudioTracks(nil, b)
		if err != nil {
			t.Fatalf("ParseAudio accepted what ParseAudioTracks refuses: %v", err)
		}
		if want := max(a.Tracks, 1); len(tracks) != want || a.Multitrack != (a.Tracks > 0) {
			t.Fatalf("%d tracks, ParseAudio said %d (multitrack %v)", len(tracks), a.Tracks, a.Multitrack)
		}
		t0 := tracks[0]
		if t0.FourCC != a.FourCC || t0.TrackID != a.TrackID || t0.Channels != a.Channels ||
			!bytes.Equal(t0.Config, a.Config) || !bytes.Equal(t0.Data, a.Data) {
			t.Fatalf("first track %+v differs from %+v", t0, a)
		}
		for _, tr := range tracks {
			if !within(b, tr.Config) || !within(b, tr.Data) {
				t.Fatalf("track outside the payload: %+v", tr)
			}
		}
	})
}

func FuzzParseAVCDecoderConfig(f *testing.F) {
	for _, name := range avcFixtureFiles {
		f.Add(fixture(f, name)[5:])
	}
	pps := []byte{0x68, 0xce, 0x38, 0x80}
	all12 := []bool{true, true, true, true, true, true, true, true, true, true, true, true}
	for _, p := range []spsParams{
		{profile: 66, pocType: 1, pocCycle: []int64{1 << 23, -5}, widthMbs: 40, heightMapUnits: 30, frameMbsOnly: true},
		{profile: 122, chromaFormat: 2, widthMbs: 120, heightMapUnits: 34, crop: &[4]uint64{1, 1, 0, 4}},
		{profile: 244, chromaFormat: 3, scalingLists: all12, widthMbs: 40, heightMapUnits: 23, frameMbsOnly: true, crop: &[4]uint64{0, 0, 0, 8}},
		{profile: 244, chromaFormat: 3, separatePlane: true, widthMbs: 4, heightMapUnits: 4, frameMbsOnly: true},
		{profile: 100, chromaFormat: 0, widthMbs: 1, heightMapUnits: 1, frameMbsOnly: true},
	} {
		sps, _ := buildSPS(p)
		f.Add(avcRecord(sps, pps))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseAVCDecoderConfig(b)
		if !within(b, c.SPS) || !within(b, c.PPS) {
			t.Fatal("SPS/PPS outside the record")
		}
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		if c.Width <= 0 || c.Height <= 0 || c.Width > 16*maxMacroblocks || c.Height > 16*maxMacroblocks {
			t.Fatalf("bad size %dx%d", c.Width, c.Height)
		}
		if c.NALULengthSize < 1 || c.NALULengthSize > 4 {
			t.Fatalf("NALULengthSize %d", c.NALULengthSize)
		}
		if len(c.SPS) == 0 || c.SPS[0]&0x1f != 7 {
			t.Fatalf("SPS %x", c.SPS)
		}
		if c.Profile != b[1] || c.Level != b[3] {
			t.Fatalf("profile/level %d/%d from %x", c.Profile, c.Level, b[:4])
		}
	})
}

func FuzzParseAudioSpecificConfig(f *testing.F) {
	for _, seed := range [][]byte{
		{0x12, 0x10}, {0x11, 0x88}, {0x12, 0x10, 0x56, 0xe5, 0x00}, {0x2b, 0x92, 0x08, 0x00},
		asc(5, 2, 4, 0xf, 24, 44056, 4, 2), asc(5, 31, 6, 10, 4, 3, 4, 2),
		asc(5, 5, 4, 6, 4, 2, 4, 3, 5, 2), asc(5, 29, 4, 6, 4, 1, 4, 3, 5, 2),
		asc(5, 5, 4, 8, 4, 2, 4, 0xf, 24, 32000, 5, 22, 4, 2),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseAudioSpecificConfig(b)
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		if c.ObjectType <= 0 || c.ObjectType > 95 {
			t.Fatalf("object type %d", c.ObjectType)
		}
		if c.SampleRate <= 0 || c.SampleRate >= 1<<24 {
			t.Fatalf("sample rate %d", c.SampleRate)
		}
		if c.Channels < 0 || c.Channels > 24 || c.ChannelConfig < 0 || c.ChannelConfig > 15 {
			t.Fatalf("channels %d (config %d)", c.Channels, c.ChannelConfig)
		}
		if c.SBR != (c.ExtSampleRate > 0) || (c.PS && !c.SBR) {
			t.Fatalf("inconsistent SBR/PS: %+v", c)
		}
	})
}

func FuzzReader(f *testing.F) {
	f.Add(fixture(f, "avc_aac_160x120.flv"))
	f.Add(AppendHeader(nil, true, true))
	f.Add(buildStream(false, true, []testTag{{TagVideo, 0xffffff, []byte{0x17, 1, 0, 0, 0}}, {TagVideo, 0x1000000, []byte{0x27}}}))
	f.Add(buildStream(true, false, []testTag{{TagAudio, 1, nil}, {TagScript, 2, []byte{2, 0, 1, 'x'}}}))
	f.Add([]byte("FLV\x01\x05\x00\x00\x00\x0d\xde\xad\xbe\xef\x00\x00\x00\x00"))
	f.Add([]byte("FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00\x09\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x17\x00\x00\x00\x0b"))
	f.Fuzz(func(t *testing.T, b []byte) {
		const limit = 1 << 20
		r := NewReader(bytes.NewReader(b))
		r.MaxTagSize = limit
		if _, err := r.ReadHeader(); err != nil {
			if err != io.EOF && err != io.ErrUnexpectedEOF && !isSentinel(err) {
				t.Fatalf("unexpected header error %v", err)
			}
			return
		}
		// Offset of the first tag: DataOffset + PreviousTagSize0.
		off := int(be32(b[5:])) + PrevTagSizeLen
		for {
			tag, err := r.ReadTag()
			if err != nil {
				if err == io.EOF && off != len(b) {
					t.Fatalf("io.EOF at offset %d of %d", off, len(b))
				}
				if err != io.EOF && err != io.ErrUnexpectedEOF && !isSentinel(err) {
					t.Fatalf("unexpected tag error %v", err)
				}
				return
			}
			if len(tag.Data) > limit {
				t.Fatalf("tag of %d bytes over the limit", len(tag.Data))
			}
			// Re-encoding the tag reproduces the input, apart from the
			// reserved/Filter bits and the stream id.
			n := TagSize(len(tag.Data))
			if off+n > len(b) {
				t.Fatalf("tag at %d of %d bytes runs past the input (%d)", off, n, len(b))
			}
			re := AppendTag(nil, tag.Type, tag.Timestamp, tag.Data)
			in := b[off : off+n]
			if re[0] != in[0]&0x1f || !bytes.Equal(re[1:8], in[1:8]) || !bytes.Equal(re[TagHeaderSize:], in[TagHeaderSize:]) {
				t.Fatalf("re-encoded tag differs:\n got %x\nwant %x", re, in)
			}
			off += n
		}
	})
}

func FuzzParseHEVCDecoderConfig(f *testing.F) {
	f.Add(fixture(f, "hvcc_320x240.bin"))
	f.Add(fixture(f, "hvcc_322x242_main10.bin"))
	for _, p := range []hevcSPSParams{
		{subLayers: 3, subProfile: true, subLevel: true, chroma: 1, width: 640, height: 360, profile: 1, level: 93},
		{subLayers: 1, chroma: 3, separatePlane: true, width: 100, height: 50, window: &[4]uint64{1, 2, 3, 4}, profile: 4, level: 60},
	} {
		sps := buildHEVCSPS(p)
		rec := append(append([]byte(nil), fixture(f, "hvcc_320x240.bin")[:22]...), 1, 0x21, 0, 1, byte(len(sps)>>8), byte(len(sps)))
		f.Add(append(rec, sps...))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseHEVCDecoderConfig(b)
		for _, nalu := range [][]byte{c.VPS, c.SPS, c.PPS} {
			if !within(b, nalu) {
				t.Fatal("NAL unit outside the record")
			}
		}
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		if c.Width <= 0 || c.Height <= 0 || c.Width > maxHEVCDimension || c.Height > maxHEVCDimension {
			t.Fatalf("bad size %dx%d", c.Width, c.Height)
		}
		if c.NALULengthSize < 1 || c.NALULengthSize > 4 || c.BitDepthLuma < 8 || c.BitDepthLuma > 15 {
			t.Fatalf("bad record fields %+v", c)
		}
		if c.SPS[0]>>1&0x3f != HEVCNALSPS || c.Profile != b[1]&0x1f || c.Level != b[12] {
			t.Fatalf("SPS %x, profile/level %d/%d from %x", c.SPS, c.Profile, c.Level, b[:13])
		}
	})
}

func FuzzParseHEVCSPS(f *testing.F) {
	f.Add(fixtureSPS(f, fixture(f, "hvcc_320x240.bin")))
	f.Add(fixtureSPS(f, fixture(f, "hvcc_322x242_main10.bin")))
	f.Add(buildHEVCSPS(hevcSPSParams{subLayers: 7, subLevel: true, chroma: 2, width: 64, height: 64, window: &[4]uint64{1, 1, 2, 2}, lumaM8: 4, chrM8: 4, profile: 4, level: 30}))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseHEVCSPS(b)
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		if s.Width <= 0 || s.Height <= 0 || s.Width > s.CodedWidth || s.Height > s.CodedHeight || s.CodedWidth > maxHEVCDimension || s.CodedHeight > maxHEVCDimension {
			t.Fatalf("bad size %+v", s)
		}
		if s.ChromaFormat > 3 || s.MaxSubLayers < 1 || s.MaxSubLayers > 7 || s.BitDepthChroma < 8 || s.BitDepthChroma > 16 {
			t.Fatalf("bad fields %+v", s)
		}
	})
}

func FuzzParseAV1CodecConfig(f *testing.F) {
	f.Add(fixture(f, "av1c_320x240.bin"))
	f.Add(fixture(f, "av1c_1280x720_444_10bit.bin"))
	f.Add(append([]byte{0x81, 0x48, 0x40, 0}, buildAV1SequenceHeader(av1SeqParams{profile: 2, levels: []uint64{8}, w: 640, h: 480, highBitdepth: true})...))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseAV1CodecConfig(b)
		if !within(b, c.ConfigOBUs) {
			t.Fatal("configOBUs outside the record")
		}
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		if c.HasSequenceHeader != (c.Width > 0) || c.Width > 1<<16 || c.Height > 1<<16 || c.Width != c.SequenceHeader.MaxWidth {
			t.Fatalf("bad size %+v", c)
		}
		if c.BitDepth != 8 && c.BitDepth != 10 && c.BitDepth != 12 {
			t.Fatalf("bit depth %d", c.BitDepth)
		}
	})
}

func FuzzParseAV1SequenceHeader(f *testing.F) {
	f.Add(fixture(f, "av1c_320x240.bin")[4:])
	f.Add(fixture(f, "av1c_1280x720_444_10bit.bin")[4:])
	for _, p := range []av1SeqParams{
		{timing: true, ticksMinus1: 1, decoderModel: true, initialDelay: true, levels: []uint64{9, 4}, w: 1920, h: 1080, frameIDs: true, orderHint: true},
		{still: true, reduced: true, levels: []uint64{1}, w: 64, h: 48},
		{profile: 2, levels: []uint64{31}, w: 4096, h: 2160, highBitdepth: true, twelve: true, subX: true, chooseScreen: true},
		{profile: 1, levels: []uint64{5}, w: 800, h: 600, colorDesc: &[3]uint64{1, 13, 0}},
		{levels: []uint64{0}, w: 16, h: 16, mono: true},
	} {
		f.Add(buildAV1SequenceHeader(p))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseAV1SequenceHeader(b)
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		if s.Profile > 2 || s.MaxWidth < 1 || s.MaxWidth > 1<<16 || s.MaxHeight < 1 || s.MaxHeight > 1<<16 || s.OperatingPoints < 1 || s.OperatingPoints > 32 {
			t.Fatalf("bad fields %+v", s)
		}
		if s.BitDepth != 8 && s.BitDepth != 10 && s.BitDepth != 12 {
			t.Fatalf("bit depth %d", s.BitDepth)
		}
		if s.Level > 31 || s.Tier > 1 || (s.Tier == 1 && s.Level <= 7) {
			t.Fatalf("level %d tier %d", s.Level, s.Tier)
		}
		if fps := s.FrameRate(); fps < 0 || math.IsNaN(fps) {
			t.Fatalf("frame rate %v", fps)
		}
		if FindAV1SequenceHeader(b) == nil {
			t.Fatal("FindAV1SequenceHeader misses the sequence header")
		}
	})
}

func FuzzParseAV1OBU(f *testing.F) {
	f.Add([]byte{0x12, 0})
	f.Add(append([]byte{AV1OBUFrame<<3 | 4 | 2, 0x68, 0x02, 0x01}, 0xaa, 0xbb))
	f.Add([]byte{0x30, 1, 2, 3})
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := ParseAV1OBU(b)
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		if o.Len < 1 || o.Len > len(b) || !within(b, o.Payload) || o.Len-len(o.Payload) > 10 {
			t.Fatalf("OBU %+v of %d bytes", o, len(b))
		}
		if !o.HasSize && o.Len != len(b) {
			t.Fatal("an OBU without a size must run to the end")
		}
	})
}

func FuzzParseVPCodecConfig(f *testing.F) {
	f.Add(fixture(f, "vpcc_box_320x240.bin"))
	f.Add(fixture(f, "vpcc_box_642x362_p3.bin"))
	f.Add([]byte{2, 31, 0xa3, 9, 16, 9, 0, 2, 0xaa, 0xbb})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseVPCodecConfig(b)
		if !within(b, c.CodecInitData) {
			t.Fatal("codec initialization data outside the record")
		}
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		if c.Profile > 3 || c.ChromaSubsampling > 3 || (c.BitDepth != 8 && c.BitDepth != 10 && c.BitDepth != 12) {
			t.Fatalf("bad fields %+v", c)
		}
	})
}

func FuzzParseVP9FrameHeader(f *testing.F) {
	f.Add(fixture(f, "vp9_keyhdr_320x240.bin"))
	f.Add(fixture(f, "vp9_interhdr_320x240.bin"))
	f.Add(fixture(f, "vp9_keyhdr_642x362_p3.bin"))
	f.Add([]byte{0x89, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseVP9FrameHeader(b)
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		if h.Profile > 3 || (h.ShowExistingFrame && h.KeyFrame) {
			t.Fatalf("bad fields %+v", h)
		}
		if h.KeyFrame != (h.Width > 0) || h.Width > 1<<16 || h.Height > 1<<16 || (h.KeyFrame && h.BitDepth != 8 && h.BitDepth != 10 && h.BitDepth != 12) {
			t.Fatalf("bad key frame fields %+v", h)
		}
	})
}
