package hwbench

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseRespHeader(t *testing.T) {
	h, err := parseRespHeader([]byte("HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\nTransfer-Encoding:  Chunked \r\n\r\n"))
	require.NoError(t, err)
	require.Equal(t, respHeader{status: 200, chunked: true}, h)
	h, err = parseRespHeader([]byte("HTTP/1.0 404 Not Found\r\nContent-Length: 9\r\n\r\n"))
	require.NoError(t, err)
	require.Equal(t, respHeader{status: 404}, h)
	for _, bad := range []string{"ICY 200 OK\r\n\r\n", "HTTP/1.1 2x0 OK\r\n\r\n", "HTTP/1.1\r\n\r\n"} {
		_, err := parseRespHeader([]byte(bad))
		require.ErrorIs(t, err, ErrBadResponse, bad)
	}
}

// chunk encodes body in chunks of the given sizes, with an extension on one.
func chunk(body []byte, sizes ...int) []byte {
	var b bytes.Buffer
	for i := 0; len(body) > 0; i++ {
		n := min(sizes[i%len(sizes)], len(body))
		if i == 1 {
			fmt.Fprintf(&b, "%X;name=value\r\n", n)
		} else {
			fmt.Fprintf(&b, "%x\r\n", n)
		}
		b.Write(body[:n])
		b.WriteString("\r\n")
		body = body[n:]
	}
	b.WriteString("0\r\n\r\n")
	return b.Bytes()
}

// dechunk feeds wire to a chunkDecoder in pieces of random sizes.
func dechunk(t *testing.T, wire []byte, rng *rand.Rand) ([]byte, error) {
	t.Helper()
	var d chunkDecoder
	var out []byte
	for len(wire) > 0 {
		n := min(1+rng.IntN(40), len(wire))
		piece := wire[:n]
		wire = wire[n:]
		for len(piece) > 0 {
			data, rest, err := d.next(piece)
			out = append(out, data...)
			if err != nil {
				return out, err
			}
			piece = rest
		}
	}
	return out, nil
}

func TestChunkDecoder(t *testing.T) {
	body := testStream()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sizes := range [][]int{{1}, {7, 300}, {4096}, {len(body)}} {
		got, err := dechunk(t, chunk(body, sizes...), rng)
		require.ErrorIs(t, err, errChunkEnd)
		require.Equal(t, body, got)
	}
	_, err := dechunk(t, []byte("zz\r\n"), rng)
	require.ErrorIs(t, err, ErrBadResponse)
	_, err = dechunk(t, []byte("2\r\nabX\r\n"), rng)
	require.ErrorIs(t, err, ErrBadResponse, "missing CRLF after data")
	_, err = dechunk(t, []byte("\r\n"), rng)
	require.ErrorIs(t, err, ErrBadResponse, "empty size")
	got, err := dechunk(t, []byte("3\r\nab"), rng)
	require.NoError(t, err, "a body cut short is not an error of the decoder")
	require.Equal(t, "ab", string(got))
	require.False(t, errors.Is(err, errChunkEnd))

	wire := chunk(body, 1000)
	require.Zero(t, testing.AllocsPerRun(20, func() {
		var d chunkDecoder
		b := wire
		for len(b) > 0 {
			_, rest, err := d.next(b)
			if err != nil {
				break
			}
			b = rest
		}
	}))
}

func TestAppendRequest(t *testing.T) {
	require.Equal(t, "GET /live/a.flv?x=1 HTTP/1.1\r\nHost: h:8080\r\nUser-Agent: hwbench/1\r\nAccept: */*\r\nConnection: close\r\n\r\n",
		string(appendRequest(nil, "h:8080", "/live/a.flv?x=1")))
}
