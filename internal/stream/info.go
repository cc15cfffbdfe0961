package stream

import (
	"fmt"
	"time"

	"github.com/headwater-media/headwater/pkg/flv"
)

// MediaInfo is what is known about a stream's media: codecs and picture
// and sound parameters parsed from the sequence headers as they arrive,
// completed by onMetaData only where the headers do not say (or before
// they came), plus measured rates.
type MediaInfo struct {
	// Ready reports that the tracks are known and players get media.
	Ready bool
	// Video and Audio are nil until the track has sent something.
	Video *VideoInfo
	Audio *AudioInfo
	// Encoder is onMetaData's "encoder" (e.g. "Lavf61.7.100", "obs-output
	// module (libobs version 30.0.2)"), when sent.
	Encoder string
	// BitrateIn is the input rate in bits/s (audio, video and data, as
	// FLV tags) over the last RateWindow.
	BitrateIn int64
}

// VideoInfo describes the video track.
type VideoInfo struct {
	// Codec is h264, hevc (E-RTMP 'hvc1' or legacy codec id 12), av1,
	// vp9, vp8, h263, vp6, vp6a, screen, screen2, or an E-RTMP FourCC
	// that headwater does not know (e.g. "vvc1"). Of a multitrack stream
	// it describes the default track (id 0).
	Codec string
	// Profile and Level, when the sequence header has them, named as
	// ffprobe names them: "High" "4.1" (H.264), "Main 10" "3.1" (H.265),
	// "Main" "3.0" (AV1, "max" for level index 31), "Profile 0" (VP9;
	// a level only when the record states one); empty otherwise.
	Profile, Level string
	// Width and Height in pixels: from the sequence header (the H.264 or
	// H.265 SPS after cropping, the AV1 sequence header OBU); for VP9,
	// and AV1 whose record has no sequence header, from the first key
	// frame (uncompressed header, sequence header OBU); else from
	// onMetaData; 0 when unknown.
	Width, Height int
	// FPS is measured from the timestamps of the last frames (up to 32);
	// before two frames, onMetaData's framerate; 0 when unknown.
	FPS float64
	// GOPFrames is the number of video frames of the last complete GOP
	// (keyframe to keyframe), and KeyframeInterval the time between its
	// two keyframes in ms, as measured; 0 before the second keyframe.
	GOPFrames        int
	KeyframeInterval int64
}

// AudioInfo describes the audio track.
type AudioInfo struct {
	// Codec is aac, mp3, opus, flac, ac3, eac3, speex, nellymoser, pcm,
	// adpcm, pcm_alaw, pcm_mulaw, or an E-RTMP FourCC.
	Codec string
	// Profile is the AAC profile (LC, HE-AAC, HE-AACv2, Main, ...).
	Profile string
	// SampleRate in Hz and Channels: from the AudioSpecificConfig for
	// AAC (the output rate with SBR), the Opus ID header, the FLAC
	// STREAMINFO, the legacy tag flags otherwise; onMetaData's when
	// nothing else says. 0 = unknown.
	SampleRate, Channels int
}

// fpsFrames is how many video frame timestamps the frame rate is measured
// over.
const fpsFrames = 32

// mediaState is a stream's MediaInfo in the making. Stream.mu guards it;
// noteLocked runs in Stream.Write for every accepted tag.
type mediaState struct {
	video, audio       bool // the track has sent something
	videoHdr, audioHdr bool // the values below came from a sequence header
	v                  VideoInfo
	a                  AudioInfo
	meta               metaInfo

	frameTS [fpsFrames]uint32 // ring of video frame timestamps
	frames  int               // video frames seen (ring index)

	keyTS        uint32 // timestamp of the last keyframe
	keyFrame     int    // frames when it came; 0: none yet
	gopFrames    int    // the last complete GOP, as VideoInfo reports it
	keyframeIval int64

	rate rateMeter
}

// metaInfo is the part of onMetaData the API reports.
type metaInfo struct {
	encoder                string
	width, height          int
	fps                    float64
	sampleRate, channels   int
	videoCodec, audioCodec string
	hasVideo, hasAudio     bool
}

// noteLocked updates the state with an accepted tag (payload is its body).
func (m *mediaState) noteLocked(tag *Tag, payload []byte, now time.Time) {
	m.rate.add(now, len(tag.Data))
	switch tag.Type {
	case flv.TagScript:
		if md, err := flv.ParseMetadata(payload); len(md) > 0 || err == nil {
			m.meta = parseMeta(md)
		}
	case flv.TagVideo:
		vi, err := flv.ParseVideo(payload)
		if !tag.Header && isFrame(vi, err) {
			if tag.Keyframe {
				if m.keyFrame > 0 {
					m.gopFrames, m.keyframeIval = m.frames+1-m.keyFrame, int64(tag.Timestamp-m.keyTS)
				}
				m.keyTS, m.keyFrame = tag.Timestamp, m.frames+1
			}
			m.frameTS[m.frames%fpsFrames] = tag.Timestamp
			m.frames++
		}
		if tag.Header || !m.video {
			m.noteVideo(vi, tag.Header)
		}
		if tag.Keyframe && m.v.Width == 0 {
			m.noteKeyframe(vi)
		}
		m.video = true
	case flv.TagAudio:
		if tag.Header || !m.audio {
			m.noteAudio(payload, tag.Header)
		}
		m.audio = true
	}
}

// isFrame reports whether a parsed video body is a frame (for the frame
// rate and GOP): not an end of sequence, a command frame or an E-RTMP
// metadata packet. A body that does not parse counts, as the stream
// relays it as one.
func isFrame(vi flv.VideoInfo, err error) bool {
	if err != nil {
		return true
	}
	return !vi.EndOfSequence && vi.FrameType != flv.FrameCommand && !(vi.Enhanced && vi.PacketType == flv.VideoPacketMetadata)
}

// noteVideo reads the codec from the first video tag and everything it
// can from a sequence header. Of a multitrack stream it describes the
// default track (id 0) when its sequence start comes in a message of its
// own, else the first track of the message.
func (m *mediaState) noteVideo(vi flv.VideoInfo, header bool) {
	if !header {
		m.v.Codec = videoCodecName(vi)
		return
	}
	if vi.Multitrack && vi.TrackID != 0 && m.videoHdr && vi.Tracks == 1 {
		return // another track's sequence start: keep the default track's
	}
	v := VideoInfo{Codec: videoCodecName(vi)}
	switch vi.Codec {
	case flv.VideoCodecAVC:
		// The record's profile and level stand even when its SPS does
		// not parse; the size needs the SPS.
		c, err := flv.ParseAVCDecoderConfig(vi.Config)
		if c.Profile != 0 {
			constrained := len(vi.Config) > 2 && vi.Config[2]&0x40 != 0
			v.Profile, v.Level = avcProfile(c.Profile, constrained), fmt.Sprintf("%d.%d", c.Level/10, c.Level%10)
		}
		if err == nil {
			v.Width, v.Height = c.Width, c.Height
		}
	case flv.VideoCodecHEVC:
		// The record's profile and level stand without an SPS that parses.
		// HEVCDecoderConfigurationRecord: general_profile_idc in byte 1,
		// the compatibility flags in bytes 2-5, general_level_idc (30 ×
		// level) in byte 12.
		c, err := flv.ParseHEVCDecoderConfig(vi.Config)
		if b := vi.Config; len(b) >= 13 && b[0] == 1 {
			v.Profile = hevcProfile(b[1]&0x1f, uint32(b[2])<<24|uint32(b[3])<<16|uint32(b[4])<<8|uint32(b[5]))
			if l := int(b[12]); l > 0 {
				v.Level = fmt.Sprintf("%d.%d", l/30, l%30/3)
			}
		}
		if err == nil {
			v.Width, v.Height = c.Width, c.Height
		}
	case flv.VideoCodecAV1:
		// AV1CodecConfigurationRecord: seq_profile, seq_level_idx_0.
		c, err := flv.ParseAV1CodecConfig(vi.Config)
		if b := vi.Config; len(b) >= 2 && b[0] == 0x81 {
			v.Profile, v.Level = av1Profile(b[1]>>5), av1Level(b[1]&0x1f)
		}
		if err == nil && c.HasSequenceHeader {
			v.Width, v.Height = c.Width, c.Height
		}
	case flv.VideoCodecVP9, flv.VideoCodecVP8:
		// The size is in the key frames (noteKeyframe).
		if c, err := flv.ParseVPCodecConfig(vi.Config); err == nil {
			if vi.Codec == flv.VideoCodecVP9 {
				v.Profile = fmt.Sprintf("Profile %d", c.Profile)
			}
			if c.Level > 0 {
				v.Level = fmt.Sprintf("%d.%d", c.Level/10, c.Level%10)
			}
		}
	}
	m.v, m.videoHdr = v, true
}

// noteKeyframe takes the picture size from a key frame when the sequence
// header did not give it: a VP9 key frame's uncompressed header, the
// sequence header OBU of an AV1 key frame.
func (m *mediaState) noteKeyframe(vi flv.VideoInfo) {
	switch vi.Codec {
	case flv.VideoCodecVP9:
		if h, err := flv.ParseVP9FrameHeader(vi.Data); err == nil && h.KeyFrame {
			m.v.Width, m.v.Height = h.Width, h.Height
			if m.v.Profile == "" {
				m.v.Profile = fmt.Sprintf("Profile %d", h.Profile)
			}
		}
	case flv.VideoCodecAV1:
		if obu := flv.FindAV1SequenceHeader(vi.Data); obu != nil {
			if s, err := flv.ParseAV1SequenceHeader(obu); err == nil {
				m.v.Width, m.v.Height = s.MaxWidth, s.MaxHeight
			}
		}
	}
}

// noteAudio reads the codec and flags from the first audio tag and
// everything it can from a sequence header.
func (m *mediaState) noteAudio(payload []byte, header bool) {
	ai, err := flv.ParseAudio(payload)
	if ai.Silence {
		return
	}
	a := AudioInfo{Codec: audioCodecName(ai)}
	if ai.Format != flv.SoundFormatExHeader && ai.Format != flv.SoundFormatAAC {
		// The legacy flags are right for the codecs that have no header.
		a.SampleRate, a.Channels = ai.SampleRate, ai.Channels
	}
	if !header || err != nil {
		if !m.audioHdr {
			m.a = a
		}
		return
	}
	switch {
	case ai.Format == flv.SoundFormatAAC || ai.FourCC == flv.FourCCAAC:
		c, err := flv.ParseAudioSpecificConfig(ai.Config)
		if err != nil {
			break
		}
		a.Profile = aacProfile(c)
		a.SampleRate, a.Channels = c.SampleRate, c.Channels
		if c.SBR && c.ExtSampleRate > 0 {
			a.SampleRate = c.ExtSampleRate
		}
		if c.PS && c.Channels == 1 {
			a.Channels = 2 // parametric stereo decodes to stereo
		}
	case ai.FourCC == flv.FourCCOpus:
		// OpusHead: magic (8), version, channel count, ...; Opus always
		// decodes at 48 kHz.
		if len(ai.Config) >= 19 && string(ai.Config[:8]) == "OpusHead" {
			a.SampleRate, a.Channels = 48000, int(ai.Config[9])
		}
	case ai.FourCC == flv.FourCCFLAC:
		// "fLaC", a metadata block header (4), then STREAMINFO: block
		// sizes (4), frame sizes (6), sample rate (20 bits), channels - 1
		// (3 bits), ...
		if c := ai.Config; len(c) >= 22 && string(c[:4]) == "fLaC" && c[4]&0x7f == 0 {
			a.SampleRate = int(c[18])<<12 | int(c[19])<<4 | int(c[20])>>4
			a.Channels = int(c[20]>>1&0x07) + 1
		}
	}
	m.a, m.audioHdr = a, true
}

// infoLocked returns the MediaInfo at now.
func (m *mediaState) infoLocked(now time.Time, ready bool) MediaInfo {
	info := MediaInfo{Ready: ready, Encoder: m.meta.encoder, BitrateIn: m.rate.bitsPerSecond(now)}
	if m.video || (!m.audio && m.meta.hasVideo) {
		v := m.v
		if v.Codec == "" {
			v.Codec = m.meta.videoCodec
		}
		if v.Width == 0 || v.Height == 0 {
			v.Width, v.Height = m.meta.width, m.meta.height
		}
		v.FPS = m.fps()
		v.GOPFrames, v.KeyframeInterval = m.gopFrames, m.keyframeIval
		info.Video = &v
	}
	if m.audio || (!m.video && m.meta.hasAudio) {
		a := m.a
		if a.Codec == "" {
			a.Codec = m.meta.audioCodec
		}
		if a.SampleRate == 0 {
			a.SampleRate = m.meta.sampleRate
		}
		if a.Channels == 0 {
			a.Channels = m.meta.channels
		}
		info.Audio = &a
	}
	return info
}

// fps is the frame rate over the last frames' timestamps, or onMetaData's.
func (m *mediaState) fps() float64 {
	n := min(m.frames, fpsFrames)
	if n < 2 {
		return m.meta.fps
	}
	last := m.frameTS[(m.frames-1)%fpsFrames]
	first := m.frameTS[(m.frames-n)%fpsFrames]
	if last <= first {
		return m.meta.fps
	}
	return float64(n-1) * 1000 / float64(last-first)
}

// parseMeta picks what the API reports out of onMetaData.
func parseMeta(md flv.Metadata) metaInfo {
	var mi metaInfo
	mi.encoder, _ = md.String("encoder")
	num := func(name string) int {
		v, _ := md.Number(name)
		if v < 0 || v > 1<<20 {
			return 0
		}
		return int(v)
	}
	mi.width, mi.height = num("width"), num("height")
	if f, ok := md.Number("framerate"); ok && f > 0 && f < 1000 {
		mi.fps = f
	}
	mi.sampleRate = num("audiosamplerate")
	mi.channels = num("audiochannels")
	if stereo, ok := md.Bool("stereo"); ok && mi.channels == 0 {
		mi.channels = 1
		if stereo {
			mi.channels = 2
		}
	}
	if v, ok := md["videocodecid"]; ok {
		mi.hasVideo = true
		switch id := metaCodecID(v); {
		case id > 0 && id < 16:
			mi.videoCodec = videoCodecName(flv.VideoInfo{CodecID: uint8(id), Codec: legacyVideoCodec(uint8(id))})
		case id >= 1<<24: // E-RTMP: a FourCC
			mi.videoCodec = videoFourCCName(uint32(id))
		}
	}
	if v, ok := md["audiocodecid"]; ok {
		mi.hasAudio = true
		switch id := metaCodecID(v); {
		case id >= 0 && id < 16 && id != int64(flv.SoundFormatExHeader):
			mi.audioCodec = audioCodecName(flv.AudioInfo{Format: uint8(id)})
		case id >= 1<<24:
			mi.audioCodec = audioCodecName(flv.AudioInfo{Format: flv.SoundFormatExHeader, FourCC: uint32(id)})
		}
	}
	return mi
}

// metaCodecID reads a videocodecid or audiocodecid: a legacy id, or an
// E-RTMP FourCC as a number or a string; -1 if it is neither.
func metaCodecID(v any) int64 {
	switch v := v.(type) {
	case float64:
		if v >= 0 && v < 1<<32 {
			return int64(v)
		}
	case string:
		if len(v) == 4 {
			return int64(flv.FourCC(v))
		}
	}
	return -1
}

func legacyVideoCodec(id uint8) flv.VideoCodec {
	switch id {
	case flv.CodecIDAVC:
		return flv.VideoCodecAVC
	case flv.CodecIDHEVC:
		return flv.VideoCodecHEVC
	}
	return flv.VideoCodecOther
}

// videoCodecName names a video codec as ffprobe does.
func videoCodecName(vi flv.VideoInfo) string {
	switch vi.Codec {
	case flv.VideoCodecAVC:
		return "h264"
	case flv.VideoCodecHEVC:
		return "hevc"
	case flv.VideoCodecAV1:
		return "av1"
	case flv.VideoCodecVP9:
		return "vp9"
	case flv.VideoCodecVP8:
		return "vp8"
	}
	if vi.Enhanced {
		return videoFourCCName(vi.FourCC)
	}
	switch vi.CodecID {
	case 2:
		return "h263"
	case 3:
		return "screen"
	case 4:
		return "vp6"
	case 5:
		return "vp6a"
	case 6:
		return "screen2"
	}
	return ""
}

// videoFourCCName names an E-RTMP video FourCC.
func videoFourCCName(fourCC uint32) string {
	switch fourCC {
	case flv.FourCCAVC:
		return "h264"
	case flv.FourCCHEVC:
		return "hevc"
	case flv.FourCCAV1:
		return "av1"
	case flv.FourCCVP9:
		return "vp9"
	case flv.FourCCVP8:
		return "vp8"
	}
	return flv.FourCCString(fourCC)
}

// audioCodecName names an audio codec as ffprobe does.
func audioCodecName(ai flv.AudioInfo) string {
	if ai.Format == flv.SoundFormatExHeader {
		switch ai.FourCC {
		case flv.FourCCAAC:
			return "aac"
		case flv.FourCCOpus:
			return "opus"
		case flv.FourCCFLAC:
			return "flac"
		case flv.FourCCAC3:
			return "ac3"
		case flv.FourCCEAC3:
			return "eac3"
		case flv.FourCCMP3:
			return "mp3"
		case 0:
			return ""
		}
		return flv.FourCCString(ai.FourCC)
	}
	switch ai.Format {
	case 0, 3:
		return "pcm"
	case 1:
		return "adpcm"
	case flv.SoundFormatMP3, 14:
		return "mp3"
	case 4, 5, 6:
		return "nellymoser"
	case 7:
		return "pcm_alaw"
	case 8:
		return "pcm_mulaw"
	case flv.SoundFormatAAC:
		return "aac"
	case 11:
		return "speex"
	}
	return ""
}

// avcProfile names an H.264 profile_idc.
func avcProfile(idc uint8, constrained bool) string {
	switch idc {
	case 66:
		if constrained {
			return "Constrained Baseline"
		}
		return "Baseline"
	case 77:
		return "Main"
	case 88:
		return "Extended"
	case 100:
		return "High"
	case 110:
		return "High 10"
	case 122:
		return "High 4:2:2"
	case 244:
		return "High 4:4:4 Predictive"
	case 44:
		return "CAVLC 4:4:4"
	}
	return fmt.Sprintf("profile %d", idc)
}

// hevcProfile names an H.265 general_profile_idc (or, for 0, the first
// profile its compatibility flags name) as ffprobe does.
func hevcProfile(idc uint8, compat uint32) string {
	if idc == 0 {
		for i := uint8(1); i < 32 && compat != 0; i++ {
			if compat&(1<<(31-i)) != 0 {
				idc = i
				break
			}
		}
	}
	switch idc {
	case 1:
		return "Main"
	case 2:
		return "Main 10"
	case 3:
		return "Main Still Picture"
	case 4:
		return "Rext"
	}
	return fmt.Sprintf("profile %d", idc)
}

// av1Level names an AV1 seq_level_idx: 2.0 + idx/4 . idx%4; 31 is "max"
// (no level constraint), 24-30 are reserved.
func av1Level(idx uint8) string {
	switch {
	case idx < 24:
		return fmt.Sprintf("%d.%d", 2+idx/4, idx%4)
	case idx == 31:
		return "max"
	}
	return ""
}

// av1Profile names an AV1 seq_profile.
func av1Profile(p uint8) string {
	switch p {
	case 0:
		return "Main"
	case 1:
		return "High"
	case 2:
		return "Professional"
	}
	return fmt.Sprintf("profile %d", p)
}

// aacProfile names an AAC configuration as ffprobe does.
func aacProfile(c flv.AACConfig) string {
	switch {
	case c.PS:
		return "HE-AACv2"
	case c.SBR:
		return "HE-AAC"
	}
	switch c.ObjectType {
	case 1:
		return "Main"
	case 2:
		return "LC"
	case 3:
		return "SSR"
	case 4:
		return "LTP"
	case 23:
		return "LD"
	case 39:
		return "ELD"
	}
	return fmt.Sprintf("object type %d", c.ObjectType)
}

// Info returns what is known about the stream's media now.
func (s *Stream) Info() MediaInfo {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.media.infoLocked(now, s.ready)
}

// Queued returns how many tags and bytes wait in the subscriber's queue.
func (sub *Subscriber) Queued() (tags, bytes int) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return len(sub.q), sub.qBytes
}
