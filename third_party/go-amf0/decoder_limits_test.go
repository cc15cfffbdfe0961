package amf0

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// headwater patch 1: a strict array announcing 2^31-1 elements, followed by
// almost nothing, must fail at the end of the input without allocating the
// announced length (16 GiB for []interface{}).
func TestStrictArrayLengthIsNotPreallocated(t *testing.T) {
	in := []byte{byte(MarkerStrictArray), 0x7f, 0xff, 0xff, 0xff, byte(MarkerNull), byte(MarkerNull)}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var v interface{}
	err := NewDecoder(bytes.NewReader(in)).Decode(&v)
	runtime.ReadMemStats(&after)
	require.Error(t, err)
	require.True(t, after.TotalAlloc-before.TotalAlloc < 1<<20, "allocated %d bytes for the announced length", after.TotalAlloc-before.TotalAlloc)

	var typed []interface{}
	err = NewDecoder(bytes.NewReader(in)).Decode(&typed)
	require.Error(t, err)
}

// A well-formed strict array still decodes, into interface{} and into a
// typed slice, past the preallocation bound.
func TestStrictArrayDecodes(t *testing.T) {
	const n = 200
	var b bytes.Buffer
	b.WriteByte(byte(MarkerStrictArray))
	_ = binary.Write(&b, binary.BigEndian, uint32(n))
	for i := 0; i < n; i++ {
		b.WriteByte(byte(MarkerNumber))
		_ = binary.Write(&b, binary.BigEndian, float64(i))
	}
	var v interface{}
	require.NoError(t, NewDecoder(bytes.NewReader(b.Bytes())).Decode(&v))
	arr, ok := v.([]interface{})
	require.True(t, ok, "%T", v)
	require.Len(t, arr, n)
	require.Equal(t, float64(n-1), arr[n-1])

	var typed []float64
	require.NoError(t, NewDecoder(bytes.NewReader(b.Bytes())).Decode(&typed))
	require.Len(t, typed, n)
	require.Equal(t, float64(7), typed[7])
}

// headwater patch 1: nesting deeper than MaxDepth is an error, not a
// recursion as deep as the input is long.
func TestNestingIsBounded(t *testing.T) {
	nested := func(depth int) []byte {
		var b bytes.Buffer
		for i := 0; i < depth; i++ {
			b.Write([]byte{byte(MarkerStrictArray), 0, 0, 0, 1})
		}
		b.WriteByte(byte(MarkerNull))
		return b.Bytes()
	}
	var v interface{}
	require.NoError(t, NewDecoder(bytes.NewReader(nested(MaxDepth-1))).Decode(&v))
	err := NewDecoder(bytes.NewReader(nested(1 << 20))).Decode(&v)
	require.Error(t, err)
	require.Contains(t, err.Error(), "nested deeper")
	// The decoder is usable again afterwards.
	require.NoError(t, NewDecoder(bytes.NewReader(nested(3))).Decode(&v))
}
