//
// Copyright (c) 2018- yutopp (yutopp@gmail.com)
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at  https://www.boost.org/LICENSE_1_0.txt)
//

package rtmp

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"io/ioutil"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/yutopp/go-rtmp/message"
)

// chunkBytes Builds chunks by hand. csID must be in [2, 63].
type chunkBytes struct {
	bytes.Buffer
}

func (b *chunkBytes) basicHeader(fmt byte, csID byte) {
	b.WriteByte(fmt<<6 | csID)
}

func (b *chunkBytes) uint24BE(v uint32) {
	b.Write([]byte{byte(v >> 16), byte(v >> 8), byte(v)})
}

func (b *chunkBytes) uint32BE(v uint32) {
	var buf [4]byte
	binary.BigEndian.PutUint32(buf[:], v)
	b.Write(buf[:])
}

func (b *chunkBytes) uint32LE(v uint32) {
	var buf [4]byte
	binary.LittleEndian.PutUint32(buf[:], v)
	b.Write(buf[:])
}

// timestampField Writes a 24bits timestamp (delta) field and returns whether the extended field is needed
func (b *chunkBytes) timestampField(v uint32) bool {
	if v >= 0xffffff {
		b.uint24BE(0xffffff)
		return true
	}
	b.uint24BE(v)
	return false
}

// message Writes a message as a header of fmt (0, 1, 2 or 3) followed by type 3 chunks.
// timestamp is an absolute timestamp for fmt 0, and a delta for fmt 1 and 2.
// For fmt 3, ext tells whether the preceding header had the extended timestamp field.
// The extended timestamp field is repeated on every type 3 chunks as ffmpeg (rtmppkt.c) does.
func (b *chunkBytes) message(
	fmt byte,
	csID byte,
	msgStreamID uint32,
	typeID byte,
	timestamp uint32,
	ext bool,
	payload []byte,
	chunkSize int,
) {
	b.basicHeader(fmt, csID)
	switch fmt {
	case 0:
		ext = b.timestampField(timestamp)
		b.uint24BE(uint32(len(payload)))
		b.WriteByte(typeID)
		b.uint32LE(msgStreamID)
	case 1:
		ext = b.timestampField(timestamp)
		b.uint24BE(uint32(len(payload)))
		b.WriteByte(typeID)
	case 2:
		ext = b.timestampField(timestamp)
	}
	if ext {
		b.uint32BE(timestamp)
	}

	for off := 0; ; {
		n := len(payload) - off
		if n > chunkSize {
			n = chunkSize
		}
		b.Write(payload[off : off+n])
		off += n
		if off >= len(payload) {
			break
		}

		b.basicHeader(3, csID)
		if ext {
			b.uint32BE(timestamp)
		}
	}
}

func testPayload(n int, seed byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = seed + byte(i)
	}
	return p
}

func readVideoMessage(t *testing.T, streamer *ChunkStreamer) (int, uint32, []byte) {
	var cmsg ChunkMessage
	csID, timestamp, err := streamer.Read(&cmsg)
	require.NoError(t, err)

	videoMsg, ok := cmsg.Message.(*message.VideoMessage)
	require.True(t, ok, "Unexpected message: %#v", cmsg.Message)

	payload, err := ioutil.ReadAll(videoMsg.Payload)
	require.NoError(t, err)

	return csID, timestamp, payload
}

// Chunks with the extended timestamp as ffmpeg sends them: type 3 chunks following a header
// with the extended timestamp field have the field too (5.3.1.3).
func TestStreamerExtendedTimestampType3Chunks(t *testing.T) {
	const csID = 6
	const chunkSize = 128 // DefaultChunkSize

	p0 := testPayload(300, 0)
	p1 := testPayload(300, 1)
	p2 := testPayload(300, 2)
	p3 := testPayload(200, 3)
	p4 := testPayload(200, 4)

	var b chunkBytes
	// fmt 0 with the extended timestamp, followed by type 3 continuation chunks with the field
	b.message(0, csID, 1, byte(message.TypeIDVideoMessage), 0x01000000, false, p0, chunkSize)
	// fmt 2 without the extended timestamp: following type 3 chunks do not have the field
	b.message(2, csID, 1, byte(message.TypeIDVideoMessage), 40, false, p1, chunkSize)
	// type 3 starting a new message: the delta is applied again
	b.message(3, csID, 1, byte(message.TypeIDVideoMessage), 40, false, p2, chunkSize)
	// fmt 1 with the extended timestamp delta
	b.message(1, csID, 1, byte(message.TypeIDVideoMessage), 0x01000000, false, p3, chunkSize)
	// type 3 starting a new message after the extended delta: the field is present and the delta is applied again
	b.message(3, csID, 1, byte(message.TypeIDVideoMessage), 0x01000000, true, p4, chunkSize)

	streamer := NewChunkStreamer(bytes.NewReader(b.Bytes()), ioutil.Discard, nil)
	defer streamer.Close()

	expected := []struct {
		timestamp uint32
		payload   []byte
	}{
		{timestamp: 0x01000000, payload: p0},
		{timestamp: 0x01000000 + 40, payload: p1},
		{timestamp: 0x01000000 + 80, payload: p2},
		{timestamp: 0x02000000 + 80, payload: p3},
		{timestamp: 0x03000000 + 80, payload: p4},
	}
	for i, e := range expected {
		actualCsID, timestamp, payload := readVideoMessage(t, streamer)
		require.Equal(t, csID, actualCsID, "message %d", i)
		require.Equal(t, e.timestamp, timestamp, "message %d", i)
		require.Equal(t, e.payload, payload, "message %d", i)
	}

	var cmsg ChunkMessage
	_, _, err := streamer.Read(&cmsg)
	require.Equal(t, io.EOF, err)
}

// The writer emits the extended timestamp field on type 3 chunks as ffmpeg expects.
func TestStreamerExtendedTimestampWriterType3Chunks(t *testing.T) {
	const csID = 6
	const chunkSize = 128 // DefaultChunkSize

	p0 := testPayload(300, 0)
	p1 := testPayload(300, 1)

	var expected chunkBytes
	expected.message(0, csID, 1, byte(message.TypeIDVideoMessage), 0x01000000, false, p0, chunkSize)
	expected.message(2, csID, 1, byte(message.TypeIDVideoMessage), 0x01000000, false, p1, chunkSize)

	out := new(bytes.Buffer)
	streamer := NewChunkStreamer(bytes.NewReader(nil), out, nil)
	defer streamer.Close()

	for i, ts := range []uint32{0x01000000, 0x02000000} {
		err := streamer.Write(context.Background(), csID, ts, &ChunkMessage{
			StreamID: 1,
			Message: &message.VideoMessage{
				Payload: bytes.NewReader([][]byte{p0, p1}[i]),
			},
		})
		require.NoError(t, err)
	}
	_, err := streamer.NewChunkWriter(context.Background(), csID) // wait for writing
	require.NoError(t, err)

	require.Equal(t, expected.Bytes(), out.Bytes())
}

func TestStreamerExtendedTimestampRoundTrip(t *testing.T) {
	const csID = 6

	timestamps := []uint32{
		0x01000000,              // fmt 0 (extended)
		0x01000020,              // fmt 2
		0x01000040,              // fmt 3 (new message)
		0x03000040,              // fmt 2 (extended delta)
		0x05000040,              // fmt 3 (new message, extended delta)
		0x00000010,              // fmt 0 (reversed)
		0x00000010 + 0x00ffffff, // fmt 2 (extended boundary)
		0x00000010 + 0x01fffffe, // fmt 3 (new message, extended boundary)
		0xfffffff0,              // fmt 2 (extended delta)
	}

	out := new(bytes.Buffer)
	writer := NewChunkStreamer(bytes.NewReader(nil), out, nil)
	defer writer.Close()

	payloads := make([][]byte, len(timestamps))
	for i, ts := range timestamps {
		payloads[i] = testPayload(300, byte(i))
		err := writer.Write(context.Background(), csID, ts, &ChunkMessage{
			StreamID: 1,
			Message: &message.VideoMessage{
				Payload: bytes.NewReader(payloads[i]),
			},
		})
		require.NoError(t, err)
	}
	_, err := writer.NewChunkWriter(context.Background(), csID) // wait for writing
	require.NoError(t, err)

	reader := NewChunkStreamer(bytes.NewReader(out.Bytes()), ioutil.Discard, nil)
	defer reader.Close()

	for i, ts := range timestamps {
		actualCsID, timestamp, payload := readVideoMessage(t, reader)
		require.Equal(t, csID, actualCsID, "message %d", i)
		require.Equal(t, ts, timestamp, "message %d", i)
		require.Equal(t, payloads[i], payload, "message %d", i)
	}

	var cmsg ChunkMessage
	_, _, err = reader.Read(&cmsg)
	require.Equal(t, io.EOF, err)
}
