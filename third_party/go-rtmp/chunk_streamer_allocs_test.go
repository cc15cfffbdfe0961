//
// Copyright (c) 2018- yutopp (yutopp@gmail.com)
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at  https://www.boost.org/LICENSE_1_0.txt)
//

package rtmp

import (
	"bytes"
	"io"
	"io/ioutil"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/yutopp/go-rtmp/message"
)

// TestStreamerReadsMediaWithoutAllocating: once a chunk stream's buffer
// has grown, reading an audio or video message allocates nothing, however
// many chunks it comes in (128-byte chunks here) and with extended
// timestamps (patch 8). Before the patch, every chunk allocated a limited
// reader and a 4-byte header buffer, and every message its
// *message.VideoMessage.
func TestStreamerReadsMediaWithoutAllocating(t *testing.T) {
	const (
		runs = 50
		size = 2000 // 16 chunks of 128 bytes
	)
	payload := testPayload(size, 7)
	var b chunkBytes
	b.message(0, 6, 1, byte(message.TypeIDVideoMessage), 0xfffffe, false, payload, DefaultChunkSize)
	b.message(0, 4, 1, byte(message.TypeIDAudioMessage), 0xfffffe, false, payload[:300], DefaultChunkSize)
	for i := 0; i <= runs; i++ {
		b.message(1, 6, 1, byte(message.TypeIDVideoMessage), 0xffffff+uint32(i), false, payload, DefaultChunkSize)
		b.message(2, 4, 1, byte(message.TypeIDAudioMessage), 21, false, payload[:300], DefaultChunkSize)
	}
	streamer := NewChunkStreamer(bytes.NewReader(b.Bytes()), ioutil.Discard, nil)
	defer streamer.Close()

	var (
		cmsg ChunkMessage
		sink = make([]byte, size)
	)
	read := func() {
		for _, want := range []int{size, 300} {
			if _, _, err := streamer.Read(&cmsg); err != nil {
				t.Fatal(err)
			}
			var r io.Reader
			switch m := cmsg.Message.(type) {
			case *message.VideoMessage:
				r = m.Payload
			case *message.AudioMessage:
				r = m.Payload
			default:
				t.Fatalf("unexpected message %T", m)
			}
			if n, err := io.ReadFull(r, sink[:want]); err != nil || n != want {
				t.Fatalf("payload: %d bytes, %v", n, err)
			}
		}
	}
	read() // the first messages size the buffers
	allocs := testing.AllocsPerRun(runs, read)
	require.Zero(t, allocs, "allocations per audio + video message")
	require.Equal(t, payload, sink)
}
