package clientip

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

func req(remote string, headers ...string) *http.Request {
	r := &http.Request{RemoteAddr: remote, Header: http.Header{}}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	return r
}

func TestClientAddress(t *testing.T) {
	r, err := New([]string{"10.0.0.0/8", "192.0.2.1"})
	require.NoError(t, err)
	ip := netip.MustParseAddr
	for _, tc := range []struct {
		name string
		req  *http.Request
		want string
	}{
		{"untrusted peer: headers ignored", req("198.51.100.7:4000", "X-Forwarded-For", "1.2.3.4"), "198.51.100.7"},
		{"untrusted peer: Forwarded ignored", req("198.51.100.7:4000", "Forwarded", "for=1.2.3.4"), "198.51.100.7"},
		{"trusted peer, X-Forwarded-For", req("10.1.1.1:4000", "X-Forwarded-For", "203.0.113.9"), "203.0.113.9"},
		{"spoofed left part skipped", req("10.1.1.1:4000", "X-Forwarded-For", "6.6.6.6, 203.0.113.9, 10.2.2.2"), "203.0.113.9"},
		{"two headers", req("192.0.2.1:4000", "X-Forwarded-For", "203.0.113.9", "X-Forwarded-For", "10.3.3.3"), "203.0.113.9"},
		{"Forwarded wins", req("10.1.1.1:4000", "Forwarded", `for="[2001:db8::1]:4711";proto=https`, "X-Forwarded-For", "9.9.9.9"), "2001:db8::1"},
		{"Forwarded v4 with port", req("10.1.1.1:4000", "Forwarded", "for=203.0.113.5:1234, for=10.9.9.9"), "203.0.113.5"},
		{"garbled chain: the peer", req("10.1.1.1:4000", "X-Forwarded-For", "nonsense"), "10.1.1.1"},
		{"no header: the peer", req("10.1.1.1:4000"), "10.1.1.1"},
		{"only proxies: the peer", req("10.1.1.1:4000", "X-Forwarded-For", "10.2.2.2"), "10.1.1.1"},
		{"IPv4-mapped peer", req("[::ffff:10.1.1.1]:4000", "X-Forwarded-For", "203.0.113.9"), "203.0.113.9"},
	} {
		require.Equal(t, ip(tc.want), r.Request(tc.req), tc.name)
	}
	var none *Resolver
	require.Equal(t, ip("10.1.1.1"), none.Request(req("10.1.1.1:1", "X-Forwarded-For", "1.2.3.4")))
	_, err = New([]string{"not-a-cidr"})
	require.Error(t, err)
}

// FuzzRequest: any headers from a trusted proxy resolve to an address
// without panicking, and never to an address given by an untrusted peer.
func FuzzRequest(f *testing.F) {
	r, _ := New([]string{"10.0.0.0/8"})
	f.Add("10.0.0.1:1", "1.2.3.4, 10.0.0.2", `for="[::1]:80";by=x`)
	f.Add("203.0.113.1:1", "5.6.7.8", "for=9.9.9.9")
	f.Fuzz(func(t *testing.T, remote, xff, fwd string) {
		got := r.Request(req(remote, "X-Forwarded-For", xff, "Forwarded", fwd))
		if peer := Peer(remote); !r.Trusted(peer) && got != peer {
			t.Fatalf("untrusted peer %v resolved to %v", peer, got)
		}
	})
}
