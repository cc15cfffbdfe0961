package rtmp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// PROXY protocol (HAProxy's, v1 and v2): a TCP load balancer sends one
// header before the client's bytes, saying whose connection it is.

// ErrProxyHeader is a missing or malformed PROXY protocol header.
var ErrProxyHeader = errors.New("bad PROXY protocol header")

// proxyV2Sig starts a v2 header.
var proxyV2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")

const (
	maxProxyV1 = 107 // the longest v1 line, CRLF included
	maxProxyV2 = 216 // the longest v2 address block headwater reads (TLVs skipped within it)
)

// readProxyHeader reads one PROXY protocol header from r, byte for byte
// (nothing after it is consumed), and returns the client's address: nil
// for a LOCAL (v2) or UNKNOWN (v1) connection, the load balancer's own
// health check.
func readProxyHeader(r io.Reader) (net.Addr, error) {
	var first [1]byte
	if _, err := io.ReadFull(r, first[:]); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrProxyHeader, err)
	}
	switch first[0] {
	case 'P':
		return readProxyV1(r)
	case '\r':
		return readProxyV2(r)
	}
	return nil, fmt.Errorf("%w: starts with %#x", ErrProxyHeader, first[0])
}

func readProxyV1(r io.Reader) (net.Addr, error) {
	line := []byte{'P'}
	var b [1]byte
	for !bytes.HasSuffix(line, []byte("\r\n")) {
		if len(line) >= maxProxyV1 {
			return nil, fmt.Errorf("%w: v1 line too long", ErrProxyHeader)
		}
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrProxyHeader, err)
		}
		line = append(line, b[0])
	}
	f := strings.Fields(string(line[:len(line)-2]))
	if len(f) < 2 || f[0] != "PROXY" {
		return nil, fmt.Errorf("%w: v1 %q", ErrProxyHeader, line)
	}
	if f[1] == "UNKNOWN" {
		return nil, nil
	}
	if len(f) != 6 || (f[1] != "TCP4" && f[1] != "TCP6") {
		return nil, fmt.Errorf("%w: v1 %q", ErrProxyHeader, line)
	}
	ip, err := netip.ParseAddr(f[2])
	port, perr := strconv.ParseUint(f[4], 10, 16)
	if err != nil || perr != nil || ip.Is4() != (f[1] == "TCP4") {
		return nil, fmt.Errorf("%w: v1 %q", ErrProxyHeader, line)
	}
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))), nil
}

func readProxyV2(r io.Reader) (net.Addr, error) {
	var h [16]byte
	h[0] = '\r'
	if _, err := io.ReadFull(r, h[1:]); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrProxyHeader, err)
	}
	if !bytes.Equal(h[:12], proxyV2Sig) || h[12]>>4 != 2 {
		return nil, fmt.Errorf("%w: v2 signature or version", ErrProxyHeader)
	}
	n := int(binary.BigEndian.Uint16(h[14:16]))
	if n > maxProxyV2 {
		return nil, fmt.Errorf("%w: v2 block of %d bytes", ErrProxyHeader, n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrProxyHeader, err)
	}
	switch cmd := h[12] & 0x0f; cmd {
	case 0: // LOCAL
		return nil, nil
	case 1: // PROXY
	default:
		return nil, fmt.Errorf("%w: v2 command %d", ErrProxyHeader, cmd)
	}
	switch h[13] {
	case 0x11: // TCP over IPv4
		if n < 12 {
			return nil, fmt.Errorf("%w: v2 IPv4 block of %d bytes", ErrProxyHeader, n)
		}
		ip := netip.AddrFrom4([4]byte(body[0:4]))
		return net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, binary.BigEndian.Uint16(body[8:10]))), nil
	case 0x21: // TCP over IPv6
		if n < 36 {
			return nil, fmt.Errorf("%w: v2 IPv6 block of %d bytes", ErrProxyHeader, n)
		}
		ip := netip.AddrFrom16([16]byte(body[0:16]))
		return net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, binary.BigEndian.Uint16(body[32:34]))), nil
	case 0x00: // UNSPEC
		return nil, nil
	}
	return nil, fmt.Errorf("%w: v2 family %#x", ErrProxyHeader, h[13])
}

// proxiedConn is a connection whose client address came from a PROXY
// protocol header.
type proxiedConn struct {
	net.Conn
	remote net.Addr
}

func (c *proxiedConn) RemoteAddr() net.Addr { return c.remote }

// Passthrough lets a play session write to the TCP connection itself.
func (c *proxiedConn) Passthrough() net.Conn { return c.Conn }
