// Package streamtest builds synthetic FLV tag buffers for tests: AVC and
// AAC sequence headers and frames laid out as stream.Stream.Write expects.
package streamtest

import "github.com/headwater-media/headwater/pkg/flv"

// Buf returns a tag buffer holding payload at flv.TagHeaderSize.
func Buf(payload []byte) []byte {
	b := make([]byte, flv.TagSize(len(payload)))
	copy(b[flv.TagHeaderSize:], payload)
	return b
}

// AVCSeqHeader is a legacy AVC sequence header body (a minimal record).
func AVCSeqHeader() []byte {
	return Buf([]byte{0x17, 0x00, 0, 0, 0, 0x01, 0x64, 0x00, 0x1f, 0xff, 0xe0})
}

// AVCFrame is a legacy AVC NALU body of size bytes (at least 5).
func AVCFrame(key bool, size int) []byte {
	p := make([]byte, max(size, 5))
	p[0] = 0x27
	if key {
		p[0] = 0x17
	}
	p[1] = 0x01
	return Buf(p)
}

// AACSeqHeader is an AAC sequence header body (AAC-LC, 44.1 kHz, stereo).
func AACSeqHeader() []byte { return Buf([]byte{0xaf, 0x00, 0x12, 0x10}) }

// AACFrame is a raw AAC frame body of size bytes (at least 2).
func AACFrame(size int) []byte {
	p := make([]byte, max(size, 2))
	p[0], p[1] = 0xaf, 0x01
	return Buf(p)
}

// Metadata is an onMetaData body that announces the given tracks.
func Metadata(audio, video bool) []byte {
	p := []byte{0x02, 0x00, 0x0a}
	p = append(p, "onMetaData"...)
	p = append(p, 0x08, 0, 0, 0, 0)
	prop := func(name string) {
		p = append(p, 0, byte(len(name)))
		p = append(p, name...)
		p = append(p, 0x00, 0, 0, 0, 0, 0, 0, 0, 0) // number 0: the value does not matter here
	}
	if video {
		prop("videocodecid")
	}
	if audio {
		prop("audiocodecid")
	}
	p = append(p, 0, 0, 0x09)
	return Buf(p)
}

// Payload strips a tag buffer down to its payload (the RTMP message body).
func Payload(buf []byte) []byte { return buf[flv.TagHeaderSize : len(buf)-flv.PrevTagSizeLen] }

// Frame is one coded frame of a synthetic A/V timeline.
type Frame struct {
	Video bool
	Key   bool   // a video keyframe
	Real  int64  // when it was captured, ms of real time
	TS    uint32 // the timestamp the publisher stamps on it
}

// AVTimeline is 30 fps video (a keyframe a second) and audio frames every
// 23 ms for dur ms of real time, in capture order (video first at equal
// times), stamped by clock.
func AVTimeline(dur int64, clock func(real int64) uint32) []Frame {
	var fs []Frame
	v, a := int64(0), int64(0)
	for v < dur || a < dur {
		if v <= a && v < dur || a >= dur {
			fs = append(fs, Frame{Video: true, Key: v%990 == 0, Real: v, TS: clock(v)})
			v += 33
			continue
		}
		fs = append(fs, Frame{Real: a, TS: clock(a)})
		a += 23
	}
	return fs
}
