package flv_test

import (
	"bytes"
	"fmt"
	"io"

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
