package hwbench

import (
	"bytes"
	"errors"
	"fmt"
)

// ErrBadResponse reports an HTTP response hwbench cannot read.
var ErrBadResponse = errors.New("bad HTTP response")

// respHeader is what a player needs from the response head.
type respHeader struct {
	status  int
	chunked bool
}

// parseRespHeader parses an HTTP/1.x status line and headers (head ends
// with the blank line). It allocates nothing on success.
func parseRespHeader(head []byte) (respHeader, error) {
	var h respHeader
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	if !bytes.HasPrefix(line, []byte("HTTP/1.")) || len(line) < 12 || line[8] != ' ' {
		return h, fmt.Errorf("%w: status line %q", ErrBadResponse, line)
	}
	code := line[9:12]
	for _, c := range code {
		if c < '0' || c > '9' {
			return h, fmt.Errorf("%w: status line %q", ErrBadResponse, line)
		}
		h.status = h.status*10 + int(c-'0')
	}
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		if asciiEqualFold(bytes.TrimSpace(name), "transfer-encoding") &&
			asciiEqualFold(bytes.TrimSpace(value), "chunked") {
			h.chunked = true
		}
	}
	return h, nil
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// chunkDecoder removes HTTP/1.1 chunked transfer coding incrementally.
// Chunk extensions and trailers are skipped. The zero value is ready.
type chunkDecoder struct {
	state  uint8 // 0 size line, 1 extension, 2 data, 3 CR/LF after data, 4 done
	size   int64 // chunk bytes left (state 2), or the size being read (0)
	digits int
	crlf   int // CR/LF bytes seen after a chunk's data
}

// errChunkEnd reports the last (zero-size) chunk: the response ended.
var errChunkEnd = errors.New("chunked body ended")

// next returns the next piece of body data in b and the bytes of b after
// it. data may be empty while rest is not (framing only); errChunkEnd
// marks the end of the body.
func (d *chunkDecoder) next(b []byte) (data, rest []byte, err error) {
	for len(b) > 0 {
		switch d.state {
		case 0, 1: // chunk-size [; ext] CRLF
			c := b[0]
			b = b[1:]
			switch {
			case c == '\n':
				if d.digits == 0 {
					return nil, b, fmt.Errorf("%w: empty chunk size", ErrBadResponse)
				}
				if d.size == 0 {
					d.state = 4
					return nil, b, errChunkEnd
				}
				d.state, d.digits = 2, 0
			case c == '\r':
			case d.state == 1:
			case c == ';' || c == ' ' || c == '\t':
				d.state = 1
			default:
				v, ok := unhex(c)
				if !ok || d.digits >= 15 {
					return nil, b, fmt.Errorf("%w: chunk size byte %q", ErrBadResponse, c)
				}
				d.size = d.size<<4 | int64(v)
				d.digits++
			}
		case 2:
			n := int(min(int64(len(b)), d.size))
			d.size -= int64(n)
			if d.size == 0 {
				d.state, d.crlf = 3, 0
			}
			return b[:n], b[n:], nil
		case 3:
			c := b[0]
			b = b[1:]
			if (d.crlf == 0 && c != '\r') || (d.crlf == 1 && c != '\n') {
				return nil, b, fmt.Errorf("%w: no CRLF after chunk data", ErrBadResponse)
			}
			d.crlf++
			if d.crlf == 2 {
				d.state, d.size = 0, 0
			}
		case 4:
			return nil, nil, errChunkEnd
		}
	}
	return nil, nil, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// appendRequest appends a GET request for path on host.
func appendRequest(dst []byte, host, path string) []byte {
	dst = append(dst, "GET "...)
	dst = append(dst, path...)
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, host...)
	dst = append(dst, "\r\nUser-Agent: hwbench/1\r\nAccept: */*\r\nConnection: close\r\n\r\n"...)
	return dst
}
