// Package clientip finds a client's address: the TCP peer's, or, when the
// peer is a trusted proxy (a CDN, a load balancer), the address the proxy
// reports in Forwarded (RFC 7239) or X-Forwarded-For. From anyone else
// those headers are ignored: a client cannot choose its own address.
package clientip

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver resolves client addresses. The zero value trusts nobody.
// Immutable once made: safe for concurrent use.
type Resolver struct {
	trusted []netip.Prefix
}

// New returns a resolver that trusts the proxies in cidrs (CIDRs or
// single addresses).
func New(cidrs []string) (*Resolver, error) {
	trusted, err := ParsePrefixes(cidrs)
	if err != nil {
		return nil, err
	}
	return &Resolver{trusted: trusted}, nil
}

// ParsePrefixes parses CIDRs, or single addresses as one-address
// prefixes; IPv4-mapped IPv6 addresses count as IPv4.
func ParsePrefixes(ss []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range ss {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("not a CIDR or address: %q", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// Trusted reports whether ip is a trusted proxy.
func (r *Resolver) Trusted(ip netip.Addr) bool {
	if r == nil {
		return false
	}
	ip = ip.Unmap()
	for _, p := range r.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Request returns req's client address: its TCP peer, unless the peer is
// trusted, when the rightmost address of the Forwarded "for=" (or, without
// Forwarded, X-Forwarded-For) chain that is not itself a trusted proxy.
// It returns the peer when the headers give nothing usable.
func (r *Resolver) Request(req *http.Request) netip.Addr {
	peer := Peer(req.RemoteAddr)
	if !r.Trusted(peer) {
		return peer
	}
	chain := forwardedFor(req.Header.Values("Forwarded"))
	if len(chain) == 0 {
		for _, v := range req.Header.Values("X-Forwarded-For") {
			for _, f := range strings.Split(v, ",") {
				chain = append(chain, strings.TrimSpace(f))
			}
		}
	}
	for i := len(chain) - 1; i >= 0; i-- {
		a, ok := parseNode(chain[i])
		if !ok {
			return peer // a garbled chain: trust no part of it
		}
		if !r.Trusted(a) {
			return a
		}
	}
	return peer
}

// Peer parses a "host:port" remote address; the zero Addr if it is not one.
func Peer(remote string) netip.Addr {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// forwardedFor returns the for= values of Forwarded headers, in order.
func forwardedFor(values []string) []string {
	var out []string
	for _, v := range values {
		for _, elem := range strings.Split(v, ",") {
			for _, pair := range strings.Split(elem, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if ok && strings.EqualFold(k, "for") {
					out = append(out, strings.Trim(val, `"`))
				}
			}
		}
	}
	return out
}

// parseNode parses one chain element: an address, "[v6]", "[v6]:port" or
// "v4:port".
func parseNode(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}
