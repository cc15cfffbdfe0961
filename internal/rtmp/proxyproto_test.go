package rtmp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func proxyV2(cmd, fam byte, block []byte) []byte {
	b := append([]byte{}, proxyV2Sig...)
	b = append(b, 0x20|cmd, fam)
	b = binary.BigEndian.AppendUint16(b, uint16(len(block)))
	return append(b, block...)
}

func TestReadProxyHeader(t *testing.T) {
	v4 := append([]byte{203, 0, 113, 9, 127, 0, 0, 1}, 0x15, 0xb3, 0x07, 0x8f)
	v6 := make([]byte, 36)
	v6[0], v6[15], v6[32], v6[33] = 0x20, 1, 0x12, 0x34
	for _, tc := range []struct {
		name, in, addr string
	}{
		{"v1 TCP4", "PROXY TCP4 203.0.113.9 127.0.0.1 5555 1935\r\n", "203.0.113.9:5555"},
		{"v1 TCP6", "PROXY TCP6 2001:db8::1 ::1 4000 1935\r\n", "[2001:db8::1]:4000"},
		{"v1 UNKNOWN", "PROXY UNKNOWN\r\n", ""},
		{"v2 TCP4", string(proxyV2(1, 0x11, v4)), "203.0.113.9:5555"},
		{"v2 TCP6 with a TLV", string(proxyV2(1, 0x21, append(v6, 0x04, 0, 1, 'x'))), "[2000::1]:4660"},
		{"v2 LOCAL", string(proxyV2(0, 0x00, nil)), ""},
	} {
		r := bytes.NewReader([]byte(tc.in + "RTMP"))
		addr, err := readProxyHeader(r)
		require.NoError(t, err, tc.name)
		if tc.addr == "" {
			require.Nil(t, addr, tc.name)
		} else {
			require.Equal(t, tc.addr, addr.String(), tc.name)
		}
		rest := make([]byte, 4)
		_, _ = r.Read(rest)
		require.Equal(t, "RTMP", string(rest), "%s: nothing after the header is consumed", tc.name)
	}
	for _, bad := range []string{
		"", "\x03rtmp handshake", "PROXY TCP4 1.2.3.4\r\n", "PROXY TCP4 2001:db8::1 ::1 1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n", "PROXY " + string(bytes.Repeat([]byte("x"), 200)),
		string(proxyV2(1, 0x11, v4[:4])), string(proxyV2(2, 0x11, v4)), "\r\n\r\n\x00\r\nQUIT\n\x11\x11\x00",
		string(append(proxyV2(1, 0x11, nil)[:14], 0xff, 0xff)),
	} {
		_, err := readProxyHeader(bytes.NewReader([]byte(bad)))
		require.True(t, errors.Is(err, ErrProxyHeader), "%q: %v", bad, err)
	}
}

// FuzzProxyHeader: any bytes give an address or ErrProxyHeader, never a
// panic, and never read more than a header's bound.
func FuzzProxyHeader(f *testing.F) {
	f.Add([]byte("PROXY TCP4 203.0.113.9 127.0.0.1 5555 1935\r\n"))
	f.Add(proxyV2(1, 0x11, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}))
	f.Add(proxyV2(1, 0x21, make([]byte, 36)))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		_, err := readProxyHeader(r)
		if err != nil && !errors.Is(err, ErrProxyHeader) {
			t.Fatalf("error %v is not ErrProxyHeader", err)
		}
		if read := len(b) - r.Len(); read > 16+maxProxyV2 {
			t.Fatalf("read %d bytes", read)
		}
	})
}
