package chunk

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAppendMessage: a message longer than the chunk size is a type 0
// header and the first chunk, then type 3 headers, each with the extended
// timestamp repeated once the timestamp needs it.
func TestAppendMessage(t *testing.T) {
	body := bytes.Repeat([]byte{0xab}, 10)
	got := AppendMessage(nil, 4, 9, 0x01020304, 1, body, 4)
	want := []byte{
		4, 0xff, 0xff, 0xff, 0, 0, 10, 9, 1, 0, 0, 0, 1, 2, 3, 4, // type 0, extended timestamp
		0xab, 0xab, 0xab, 0xab,
		0xc4, 1, 2, 3, 4, 0xab, 0xab, 0xab, 0xab, // type 3, the extended timestamp again
		0xc4, 1, 2, 3, 4, 0xab, 0xab,
	}
	require.Equal(t, want, got)

	got = AppendMessage([]byte{0xee}, 3, 20, 40, 0, body[:5], 4)
	require.Equal(t, []byte{0xee, 3, 0, 0, 40, 0, 0, 5, 20, 0, 0, 0, 0, 0xab, 0xab, 0xab, 0xab, 0xc3, 0xab}, got,
		"appended to what the buffer held; a small timestamp has no extended field")
	require.LessOrEqual(t, len(AppendHeader(nil, 63, 9, 0xffffffff, 0xffffffff, 1<<24-1)), MaxHeader)
}
