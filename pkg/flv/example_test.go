package flv_test

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/headwater-media/headwater/pkg/flv"
)

// Turning an RTMP video message into FLV tag bytes once, in a buffer the
// caller owns, so the result can be shared read-only among players.
func ExamplePutTag() {
	payload := []byte{0x17, 0x01, 0, 0, 0, 0, 0, 0, 1, 0x65} // AVC key frame
	info, err := flv.ParseVideo(payload)
	if err != nil {
		panic(err)
	}

	buf := make([]byte, flv.TagSize(len(payload))) // e.g. from a pool
	n := flv.PutTag(buf, flv.TagVideo, 0x01000000, payload)
	fmt.Println(info.Codec, info.Keyframe, n)
	fmt.Printf("% x\n", buf[:flv.TagHeaderSize])
	// Output:
	// AVC true 25
	// 09 00 00 0a 00 00 00 01 00 00 00
}

func ExampleReader() {
	stream := flv.AppendHeader(nil, true, false)
	stream = flv.AppendTag(stream, flv.TagAudio, 0, []byte{0xaf, 0x00, 0x12, 0x10})
	stream = flv.AppendTag(stream, flv.TagAudio, 23, []byte{0xaf, 0x01, 0x21})

	r := flv.NewReader(bytes.NewReader(stream))
	h, err := r.ReadHeader()
	if err != nil {
		panic(err)
	}
	fmt.Println("audio:", h.HasAudio, "video:", h.HasVideo)
	for {
		tag, err := r.ReadTag()
		if err == io.EOF {
			break
		}
		if err != nil {
			panic(err)
		}
		a, _ := flv.ParseAudio(tag.Data)
		if a.SequenceHeader {
			c, _ := flv.ParseAudioSpecificConfig(a.Config)
			fmt.Println(tag.Timestamp, "AAC config:", c.SampleRate, "Hz,", c.Channels, "channels")
			continue
		}
		fmt.Println(tag.Timestamp, "AAC frame of", len(a.Data), "bytes")
	}
	// Output:
	// audio: true video: false
	// 0 AAC config: 44100 Hz, 2 channels
	// 23 AAC frame of 1 bytes
}

// Reading the codec details of an E-RTMP 'hvc1' sequence start (the same
// record follows a legacy codec id 12 header).
func ExampleParseHEVCDecoderConfig() {
	record, err := os.ReadFile("testdata/hvcc_322x242_main10.bin") // x265 via ffmpeg
	if err != nil {
		panic(err)
	}
	payload := append([]byte{0x90, 'h', 'v', 'c', '1'}, record...) // key frame, SequenceStart
	v, err := flv.ParseVideo(payload)
	if err != nil {
		panic(err)
	}
	c, err := flv.ParseHEVCDecoderConfig(v.Config)
	if err != nil {
		panic(err)
	}
	fmt.Println(v.Codec, "profile", c.Profile, "level", float64(c.Level)/30, c.BitDepthLuma, "bit")
	fmt.Printf("%dx%d\n", c.Width, c.Height)
	// Output:
	// HEVC profile 2 level 2 10 bit
	// 322x242
}

// The AV1CodecConfigurationRecord of an 'av01' sequence start, and the
// sequence header OBU it carries.
func ExampleParseAV1CodecConfig() {
	record := []byte{0x81, 0x00, 0x0c, 0x00, // profile 0, level index 0, 8-bit 4:2:0
		0x0a, 0x0b, 0x00, 0x00, 0x00, 0x04, 0x3c, 0xff, 0xbc, 0x02, 0xf8, 0x00, 0x40} // sequence header OBU
	c, err := flv.ParseAV1CodecConfig(record)
	if err != nil {
		panic(err)
	}
	fmt.Println(c.HasSequenceHeader, c.Width, c.Height, c.SequenceHeader.BitDepth)
	// Output:
	// true 320 240 8
}

// VP9's size is in its key frames: the first bytes of the frame are enough.
func ExampleParseVP9FrameHeader() {
	frame := []byte{0x82, 0x49, 0x83, 0x42, 0x00, 0x13, 0xf0, 0x0e, 0xf6} // libvpx, 320x240
	h, err := flv.ParseVP9FrameHeader(frame)
	if err != nil {
		panic(err)
	}
	fmt.Println(h.KeyFrame, h.Profile, h.BitDepth, h.Width, h.Height)
	// Output:
	// true 0 8 320 240
}

// An E-RTMP v2 multitrack message: two AV1 tracks in one message.
func ExampleParseVideoTracks() {
	payload := []byte{0x96, // key frame, Multitrack
		0x13,               // ManyTracks, CodedFramesX
		'a', 'v', '0', '1', // the tracks' FourCC
		0, 0, 0, 2, 0x32, 0x00, // track 0: 2 bytes (an empty frame OBU)
		1, 0, 0, 2, 0x32, 0x00, // track 1
	}
	v, err := flv.ParseVideo(payload)
	if err != nil {
		panic(err)
	}
	fmt.Println(v.Codec, v.Keyframe, v.Multitrack, v.Tracks)
	tracks, err := flv.ParseVideoTracks(nil, payload)
	if err != nil {
		panic(err)
	}
	for _, t := range tracks {
		fmt.Printf("track %d: %s % x\n", t.TrackID, flv.FourCCString(t.FourCC), t.Data)
	}
	// Output:
	// AV1 true true 2
	// track 0: av01 32 00
	// track 1: av01 32 00
}
