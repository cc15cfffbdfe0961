package flv

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// fixture returns the contents of testdata/name.
func fixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(tb, err)
	return b
}

// within reports whether inner is a sub-slice of outer (sharing memory).
// An empty inner slice is always within.
func within(outer, inner []byte) bool {
	if len(inner) == 0 {
		return true
	}
	for off := 0; off+len(inner) <= len(outer); off++ {
		if &outer[off] == &inner[0] {
			return true
		}
	}
	return false
}

// cat concatenates byte slices and strings into a new slice.
func cat(parts ...any) []byte {
	var b []byte
	for _, p := range parts {
		switch v := p.(type) {
		case []byte:
			b = append(b, v...)
		case string:
			b = append(b, v...)
		case byte:
			b = append(b, v)
		case int:
			b = append(b, byte(v))
		default:
			panic("cat: unsupported part")
		}
	}
	return b
}

// bitWriter builds bit strings for SPS and AudioSpecificConfig test input.
type bitWriter struct {
	b    []byte
	used uint // bits used in the last byte (0 = byte aligned)
}

func (w *bitWriter) u(n uint, v uint64) {
	for i := int(n) - 1; i >= 0; i-- {
		if w.used == 0 {
			w.b = append(w.b, 0)
		}
		if v>>uint(i)&1 == 1 {
			w.b[len(w.b)-1] |= 0x80 >> w.used
		}
		w.used = (w.used + 1) % 8
	}
}

func (w *bitWriter) flag(v bool) {
	if v {
		w.u(1, 1)
	} else {
		w.u(1, 0)
	}
}

func (w *bitWriter) ue(v uint64) {
	x := v + 1
	n := uint(0)
	for t := x; t > 1; t >>= 1 {
		n++
	}
	w.u(n, 0)
	w.u(n+1, x)
}

func (w *bitWriter) se(v int64) {
	if v > 0 {
		w.ue(uint64(2*v - 1))
	} else {
		w.ue(uint64(-2 * v))
	}
}

// rbsp appends rbsp_trailing_bits and returns the bytes.
func (w *bitWriter) rbsp() []byte {
	w.u(1, 1)
	for w.used != 0 {
		w.u(1, 0)
	}
	return w.b
}

// escapeNAL inserts emulation prevention bytes into an RBSP.
func escapeNAL(rbsp []byte) (out []byte, inserted int) {
	zeros := 0
	for _, c := range rbsp {
		if zeros >= 2 && c <= 3 {
			out = append(out, 3)
			inserted++
			zeros = 0
		}
		out = append(out, c)
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out, inserted
}

// avcRecord wraps SPS and PPS NAL units into an AVCDecoderConfigurationRecord.
func avcRecord(sps, pps []byte) []byte {
	b := []byte{1, 66, 0, 30, 0xff, 0xe1, byte(len(sps) >> 8), byte(len(sps))}
	if len(sps) >= 4 {
		copy(b[1:4], sps[1:4])
	}
	b = append(b, sps...)
	b = append(b, 1, byte(len(pps)>>8), byte(len(pps)))
	return append(b, pps...)
}
