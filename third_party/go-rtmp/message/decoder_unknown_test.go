//
// Copyright (c) 2018- yutopp (yutopp@gmail.com)
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at  https://www.boost.org/LICENSE_1_0.txt)
//

package message

// Tests of headwater patch 11.

import (
	"bytes"
	"io"
	"io/ioutil"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDecodeUnknownMessage(t *testing.T) {
	types := []TypeID{
		0, 7, 10, 11, 12, 13,
		TypeIDDataMessageAMF3,         // 15
		TypeIDSharedObjectMessageAMF3, // 16
		TypeIDCommandMessageAMF3,      // 17
		TypeIDSharedObjectMessageAMF0, // 19
		21, 23, 99, 127, 255,
	}
	for _, ty := range types {
		payload := []byte{0x11, 0x22, byte(ty)}
		dec := NewDecoder(bytes.NewReader(payload))

		var msg Message
		require.NoError(t, dec.Decode(ty, &msg), "Type = %d", ty)

		m, ok := msg.(*UnknownMessage)
		require.True(t, ok, "Type = %d, Msg = %T", ty, msg)
		require.Equal(t, ty, m.Type)
		require.Equal(t, ty, m.TypeID())

		b, err := ioutil.ReadAll(m.Payload)
		require.NoError(t, err)
		require.Equal(t, payload, b)

		// Encoded as it is
		buf := new(bytes.Buffer)
		require.NoError(t, NewEncoder(buf).Encode(&UnknownMessage{Type: ty, Payload: bytes.NewReader(payload)}))
		require.Equal(t, payload, buf.Bytes())
	}

	// Without payload
	buf := new(bytes.Buffer)
	require.NoError(t, NewEncoder(buf).Encode(&UnknownMessage{Type: 99}))
	require.Zero(t, buf.Len())
}

// noLenReader hides Len() of a reader.
type noLenReader struct {
	r io.Reader
}

func (r *noLenReader) Read(b []byte) (int, error) {
	return r.r.Read(b)
}

func TestDecodeAggregateMessage(t *testing.T) {
	body := []byte{
		// Sub-message: audio, size 2, timestamp 0x01000010, stream ID 0
		0x08, 0x00, 0x00, 0x02, 0x00, 0x00, 0x10, 0x01, 0x00, 0x00, 0x00,
		0xaf, 0x01,
		// Back pointer: 13
		0x00, 0x00, 0x00, 0x0d,
	}

	for name, wrap := range map[string]func(r io.Reader) io.Reader{
		"Len":    func(r io.Reader) io.Reader { return r },
		"No Len": func(r io.Reader) io.Reader { return &noLenReader{r: r} },
	} {
		t.Run(name, func(t *testing.T) {
			src := append([]byte(nil), body...)
			dec := NewDecoder(wrap(bytes.NewReader(src)))

			var msg Message
			require.NoError(t, dec.Decode(TypeIDAggregateMessage, &msg))

			m, ok := msg.(*AggregateMessage)
			require.True(t, ok, "Msg = %T", msg)
			require.Equal(t, TypeIDAggregateMessage, m.TypeID())
			require.Equal(t, body, m.Data)

			// The data is a copy: it stays valid when the reader's buffer is reused
			for i := range src {
				src[i] = 0
			}
			require.Equal(t, body, m.Data)
		})
	}

	// Empty
	var msg Message
	require.NoError(t, NewDecoder(bytes.NewReader(nil)).Decode(TypeIDAggregateMessage, &msg))
	require.Empty(t, msg.(*AggregateMessage).Data)

	// Encoded as it is
	buf := new(bytes.Buffer)
	require.NoError(t, NewEncoder(buf).Encode(&AggregateMessage{Data: body}))
	require.Equal(t, body, buf.Bytes())
}
