package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/yutopp/go-rtmp/handshake"
	rtmpmsg "github.com/yutopp/go-rtmp/message"

	"github.com/headwater-media/headwater/internal/auth"
	"github.com/headwater-media/headwater/internal/config"
	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/rtmptest"
	st "github.com/headwater-media/headwater/internal/stream/streamtest"
	"github.com/headwater-media/headwater/pkg/flv"
)

// TestTrustedProxiesAndCORS: X-Forwarded-For from an untrusted peer
// changes nothing; from a trusted proxy it is the client address that IP
// rules and the API see. play.cors_origins allows listed origins only.
func TestTrustedProxiesAndCORS(t *testing.T) {
	if testing.Short() {
		t.Skip("integration")
	}
	rules := map[string]auth.App{"live": {Play: []auth.Rule{{Rule: auth.RuleIP, Deny: []string{"198.51.100.0/24"}}}}}
	start := func(trusted []string) *testServer {
		return startServer(t, func(c *config.Config) {
			c.HTTP.TrustedProxies = trusted
			c.Auth.Apps, c.Auth.Backoff = rules, 0
			c.Play.CORSOrigins = []string{"https://ok.example"}
		})
	}
	get := func(url string, headers ...string) *http.Response {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		require.NoError(t, err)
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := httpClient.Do(req)
		require.NoError(t, err)
		return resp
	}
	for _, trusted := range []bool{false, true} {
		var s *testServer
		if trusted {
			s = start([]string{"127.0.0.1/32"})
		} else {
			s = start(nil)
		}
		pub, err := s.Registry().Publish(registry.Key{App: "live", Name: "p"}, registry.PublisherInfo{}, nil)
		require.NoError(t, err)
		require.NoError(t, pub.Write(flv.TagVideo, 0, st.AVCSeqHeader()))
		require.NoError(t, pub.Write(flv.TagVideo, 0, st.AVCFrame(true, 100)))

		// A spoofed denied address: only a trusted proxy is believed.
		resp := get(s.httpURL+"/live/p.flv", "X-Forwarded-For", "198.51.100.7")
		resp.Body.Close()
		if trusted {
			require.Equal(t, http.StatusForbidden, resp.StatusCode, "the proxy's client is denied")
		} else {
			require.Equal(t, http.StatusOK, resp.StatusCode, "a spoofed header from an untrusted peer changes nothing")
		}
		// The address the API shows.
		resp = get(s.httpURL+"/live/p.flv", "X-Forwarded-For", "203.0.113.5", "Origin", "https://ok.example")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "https://ok.example", resp.Header.Get("Access-Control-Allow-Origin"))
		require.Eventually(t, func() bool { return s.Registry().Stats().Players == 1 }, 5*time.Second, 5*time.Millisecond)
		players := s.Registry().Players()
		if trusted {
			require.Equal(t, "203.0.113.5", players[0].Remote)
		} else {
			require.Equal(t, "127.0.0.1", clientHost(players[0].Remote))
		}
		resp.Body.Close()
		if trusted {
			// limits.max_conns_per_ip counts the proxy's clients, not the
			// proxy: a second player of 203.0.113.5 is refused (1 here),
			// one of another address is not.
			s.Reload(func() config.Config {
				c := config.Default()
				c.HTTP.TrustedProxies = []string{"127.0.0.1/32"}
				c.Auth.Apps, c.Auth.Backoff = rules, 0
				c.Limits.MaxConnsPerIP = 1
				return c
			}())
			// The player above may still be counted for a moment after its
			// body was closed: the handler releases the count as it returns.
			var first *http.Response
			require.Eventually(t, func() bool {
				if first = get(s.httpURL+"/live/p.flv", "X-Forwarded-For", "203.0.113.5"); first.StatusCode == http.StatusOK {
					return true
				}
				first.Body.Close()
				return false
			}, 5*time.Second, 10*time.Millisecond)
			second := get(s.httpURL+"/live/p.flv", "X-Forwarded-For", "203.0.113.5")
			second.Body.Close()
			require.Equal(t, http.StatusServiceUnavailable, second.StatusCode)
			first.Body.Close()
			other := get(s.httpURL+"/live/p.flv", "X-Forwarded-For", "203.0.113.6")
			require.Equal(t, http.StatusOK, other.StatusCode)
			other.Body.Close()
		}
		// An origin not listed gets no CORS header.
		resp = get(s.httpURL+"/live/p.flv", "Origin", "https://evil.example")
		require.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
		resp.Body.Close()
		pub.Release()
	}
}

func clientHost(remote string) string {
	h, _, err := net.SplitHostPort(remote)
	if err != nil {
		return remote
	}
	return h
}

// TestRTMPBehindAProxyProtocolLoadBalancer: with rtmp.proxy_protocol, the
// header's source is the publisher's address (the API, IP rules); a
// connection without the header is closed.
func TestRTMPBehindAProxyProtocolLoadBalancer(t *testing.T) {
	if testing.Short() {
		t.Skip("integration")
	}
	s := startServer(t, func(c *config.Config) {
		c.RTMP.ProxyProtocol = true
		c.Auth.Backoff = 0
		c.Auth.Apps = map[string]auth.App{"live": {Publish: []auth.Rule{
			{Rule: auth.RuleIP, Deny: []string{"198.51.100.0/24"}}, {Rule: auth.RuleAllow}}}}
	})
	publish := func(header, name string) net.Conn {
		c, err := net.Dial("tcp", s.RTMPAddr().String())
		require.NoError(t, err)
		require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
		_, err = fmt.Fprint(c, header)
		require.NoError(t, err)
		if err := handshake.HandshakeWithServer(c, c, &handshake.Config{}); err != nil {
			return c
		}
		ch := rtmptest.NewChunker()
		ch.Msg(3, rtmptest.TypeCommand, 0, 0, rtmptest.Command("connect", 1, &rtmpmsg.NetConnectionConnect{
			Command: rtmpmsg.NetConnectionConnectCommand{App: "live"}}))
		ch.Msg(3, rtmptest.TypeCommand, 0, 0, rtmptest.Command("createStream", 2, &rtmpmsg.NetConnectionCreateStream{}))
		ch.Msg(8, rtmptest.TypeCommand, 0, rtmptest.StreamID, rtmptest.Command("publish", 3, rtmptest.Args{nil, name, "live"}))
		_, _ = c.Write(ch.B)
		return c
	}
	ok := publish("PROXY TCP4 203.0.113.9 127.0.0.1 5555 1935\r\n", "lb")
	defer ok.Close()
	require.Eventually(t, func() bool {
		st, err := s.Registry().Stream(registry.Key{App: "live", Name: "lb"})
		return err == nil && st.Publisher.Remote == "203.0.113.9:5555"
	}, 5*time.Second, 5*time.Millisecond, "the publisher's address is the header's")

	denied := publish("PROXY TCP4 198.51.100.9 127.0.0.1 5555 1935\r\n", "lb2")
	defer denied.Close()
	require.Eventually(t, func() bool {
		_, metrics := getBody(t, s.httpURL+"/metrics")
		return metric(t, metrics, `headwater_auth_denied_total{action="publish",reason="ip_denied"}`) == 1
	}, 5*time.Second, 10*time.Millisecond, "the header's address is denied by the IP rule")
	_, err := s.Registry().Stream(registry.Key{App: "live", Name: "lb2"})
	require.ErrorIs(t, err, registry.ErrNotFound)

	// No header: the server closes the connection, nothing is published.
	bare := publish("", "lb3")
	defer bare.Close()
	_, err = io.Copy(io.Discard, bare)
	require.NoError(t, err, "closed by the server, not by the test's deadline")
	_, err = s.Registry().Stream(registry.Key{App: "live", Name: "lb3"})
	require.ErrorIs(t, err, registry.ErrNotFound)
}
