//
// Copyright (c) 2018- yutopp (yutopp@gmail.com)
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at  https://www.boost.org/LICENSE_1_0.txt)
//

package rtmp

import (
	"bytes"
	"errors"
	"io"
	"io/ioutil"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/yutopp/go-rtmp/message"
)

func TestStreamerMaxMessageSize(t *testing.T) {
	const limit = 1024

	t.Run("fmt 0", func(t *testing.T) {
		var b chunkBytes
		b.message(0, 6, 1, byte(message.TypeIDVideoMessage), 0, false, testPayload(limit, 0), DefaultChunkSize)
		b.message(0, 6, 1, byte(message.TypeIDVideoMessage), 0, false, testPayload(limit+1, 0), DefaultChunkSize)

		streamer := NewChunkStreamer(bytes.NewReader(b.Bytes()), ioutil.Discard, (&StreamControlStateConfig{
			MaxMessageSize: limit,
		}).normalize())
		defer streamer.Close()

		_, _, payload := readVideoMessage(t, streamer)
		require.Equal(t, testPayload(limit, 0), payload)

		var cmsg ChunkMessage
		_, _, err := streamer.Read(&cmsg)
		require.Error(t, err)
		require.True(t, errors.Is(err, ErrMessageTooLarge), "Unexpected error: %+v", err)
	})

	t.Run("fmt 1", func(t *testing.T) {
		var b chunkBytes
		b.message(0, 6, 1, byte(message.TypeIDVideoMessage), 0, false, testPayload(10, 0), DefaultChunkSize)
		b.message(1, 6, 1, byte(message.TypeIDVideoMessage), 0, false, testPayload(limit+1, 0), DefaultChunkSize)

		streamer := NewChunkStreamer(bytes.NewReader(b.Bytes()), ioutil.Discard, (&StreamControlStateConfig{
			MaxMessageSize: limit,
		}).normalize())
		defer streamer.Close()

		_, _, payload := readVideoMessage(t, streamer)
		require.Equal(t, testPayload(10, 0), payload)

		var cmsg ChunkMessage
		_, _, err := streamer.Read(&cmsg)
		require.Error(t, err)
		require.True(t, errors.Is(err, ErrMessageTooLarge), "Unexpected error: %+v", err)
	})
}

func TestStreamerMaxPartialBytes(t *testing.T) {
	const limit = 512 * 1024

	var b chunkBytes
	// Completed messages are not accounted
	b.message(0, 4, 1, byte(message.TypeIDVideoMessage), 0, false, testPayload(300*1024, 0), DefaultChunkSize)
	b.message(0, 5, 1, byte(message.TypeIDVideoMessage), 0, false, testPayload(300*1024, 0), DefaultChunkSize)
	// Only the first chunks of messages on many chunk streams
	for csID := byte(10); csID < 20; csID++ {
		var m chunkBytes
		m.message(0, csID, 1, byte(message.TypeIDVideoMessage), 0, false, testPayload(200*1024, 0), DefaultChunkSize)
		b.Write(m.Bytes()[:1+11+DefaultChunkSize])
	}

	t.Run("Limited", func(t *testing.T) {
		streamer := NewChunkStreamer(bytes.NewReader(b.Bytes()), ioutil.Discard, (&StreamControlStateConfig{
			MaxPartialBytes: limit,
		}).normalize())
		defer streamer.Close()

		readVideoMessage(t, streamer)
		readVideoMessage(t, streamer)

		var cmsg ChunkMessage
		_, _, err := streamer.Read(&cmsg)
		require.Error(t, err)
		require.True(t, errors.Is(err, ErrPartialBytesLimit), "Unexpected error: %+v", err)
		require.Equal(t, uint64(3*200*1024), streamer.partialBytes) // 3rd partial message exceeds the limit
	})

	t.Run("Unlimited", func(t *testing.T) {
		streamer := NewChunkStreamer(bytes.NewReader(b.Bytes()), ioutil.Discard, (&StreamControlStateConfig{}).normalize())
		defer streamer.Close()

		readVideoMessage(t, streamer)
		readVideoMessage(t, streamer)

		var cmsg ChunkMessage
		_, _, err := streamer.Read(&cmsg)
		require.Equal(t, io.EOF, err)
	})
}

func TestStreamerZeroLengthMessage(t *testing.T) {
	var b chunkBytes
	b.message(0, 6, 1, byte(message.TypeIDVideoMessage), 100, false, nil, DefaultChunkSize)
	b.message(3, 6, 1, byte(message.TypeIDVideoMessage), 0, false, nil, DefaultChunkSize)
	b.message(1, 6, 1, byte(message.TypeIDVideoMessage), 100, false, []byte("abc"), DefaultChunkSize)

	streamer := NewChunkStreamer(bytes.NewReader(b.Bytes()), ioutil.Discard, nil)
	defer streamer.Close()

	require.NotPanics(t, func() {
		_, timestamp, payload := readVideoMessage(t, streamer)
		require.Equal(t, uint32(100), timestamp)
		require.Empty(t, payload)

		_, timestamp, payload = readVideoMessage(t, streamer)
		require.Equal(t, uint32(100), timestamp)
		require.Empty(t, payload)

		_, timestamp, payload = readVideoMessage(t, streamer)
		require.Equal(t, uint32(200), timestamp)
		require.Equal(t, []byte("abc"), payload)
	})
	require.Equal(t, uint64(0), streamer.partialBytes)
}

func TestStreamerReleasesLargeReaderBuffer(t *testing.T) {
	const chunkSize = 4096

	large := testPayload(1024*1024, 0)

	var b chunkBytes
	b.message(0, 6, 1, byte(message.TypeIDVideoMessage), 0, false, large, chunkSize)
	b.message(1, 6, 1, byte(message.TypeIDVideoMessage), 10, false, testPayload(10, 1), chunkSize)
	b.message(0, 7, 1, byte(message.TypeIDVideoMessage), 0, false, large, chunkSize)
	b.message(0, 8, 1, byte(message.TypeIDVideoMessage), 0, false, testPayload(10, 2), chunkSize)

	streamer := NewChunkStreamer(bytes.NewReader(b.Bytes()), ioutil.Discard, nil)
	defer streamer.Close()
	require.NoError(t, streamer.PeerState().SetChunkSize(chunkSize))

	t.Run("Next message on the same chunk stream", func(t *testing.T) {
		_, _, payload := readVideoMessage(t, streamer)
		require.Equal(t, large, payload)
		require.Greater(t, streamer.readers[6].buf.Cap(), maxRetainedReaderBufferSize)

		_, _, payload = readVideoMessage(t, streamer)
		require.Equal(t, testPayload(10, 1), payload)
		require.LessOrEqual(t, streamer.readers[6].buf.Cap(), maxRetainedReaderBufferSize)
	})

	t.Run("Next message on another chunk stream", func(t *testing.T) {
		_, _, payload := readVideoMessage(t, streamer)
		require.Equal(t, large, payload)
		require.Greater(t, streamer.readers[7].buf.Cap(), maxRetainedReaderBufferSize)

		_, _, payload = readVideoMessage(t, streamer)
		require.Equal(t, testPayload(10, 2), payload)
		require.LessOrEqual(t, streamer.readers[7].buf.Cap(), maxRetainedReaderBufferSize)
	})
}

func TestChunkMessageHeaderUnexpectedFmt(t *testing.T) {
	require.NotPanics(t, func() {
		var mh chunkMessageHeader
		err := decodeChunkMessageHeader(bytes.NewReader(nil), 4, nil, &mh)
		require.EqualError(t, err, "Unexpected fmt: 4")

		err = encodeChunkMessageHeader(ioutil.Discard, 4, &mh)
		require.EqualError(t, err, "Unexpected fmt: 4")
	})
}
