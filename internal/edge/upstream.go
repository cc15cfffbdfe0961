package edge

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/rtmpclient"
	"github.com/headwater-media/headwater/pkg/flv"
)

// httpUpstream is an HTTP-FLV pull: GET /{app}/{stream}.flv on a
// connection this package dials and owns, read through flv.Reader with a
// read deadline before every tag.
type httpUpstream struct {
	conn        net.Conn
	r           *flv.Reader
	readTimeout time.Duration
}

// dialHTTP requests key from the HTTP origin o and reads its FLV header;
// a 404 is registry.ErrNotFound.
func dialHTTP(ctx context.Context, o *url.URL, key registry.Key, via string, cfg Config) (upstream, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", hostPort(o, "80"))
	if err != nil {
		return nil, err
	}
	// Until the FLV header is in, the connect timeout (ctx) bounds every
	// step: closing the connection ends a blocked read or write.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	up, err := startHTTP(conn, o, key, via, cfg)
	if !stop() || err != nil {
		conn.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	return up, nil
}

func startHTTP(conn net.Conn, o *url.URL, key registry.Key, via string, cfg Config) (*httpUpstream, error) {
	u := url.URL{Scheme: "http", Host: o.Host, Path: "/" + key.App + "/" + key.Name + ".flv",
		RawQuery: url.Values{registry.ViaParam: {via}}.Encode()}
	req, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "headwater-edge")
	if err := conn.SetWriteDeadline(time.Now().Add(cfg.WriteTimeout)); err != nil {
		return nil, err
	}
	if err := req.Write(conn); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(conn, 64<<10)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, registry.ErrNotFound
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("origin answered %s", resp.Status)
	}
	// The body is the rest of the connection (HTTP-FLV is served with
	// Connection: close and no length); a chunked one is read through
	// net/http's decoder.
	body := resp.Body
	r := flv.NewReader(body)
	r.MaxTagSize = int(cfg.MaxTagSize)
	if _, err := r.ReadHeader(); err != nil {
		return nil, fmt.Errorf("upstream FLV header: %w", err)
	}
	return &httpUpstream{conn: conn, r: r, readTimeout: cfg.MediaTimeout}, nil
}

func (u *httpUpstream) ReadTag() (flv.Tag, error) {
	if err := u.conn.SetReadDeadline(time.Now().Add(u.readTimeout)); err != nil {
		return flv.Tag{}, err
	}
	return u.r.ReadTag()
}

func (u *httpUpstream) Close() error { return u.conn.Close() }

// dialRTMP plays key from the RTMP origin o.
func dialRTMP(ctx context.Context, o *url.URL, key registry.Key, via string, cfg Config) (upstream, error) {
	u := fmt.Sprintf("rtmp://%s/%s/%s?%s", hostPort(o, "1935"), key.App, key.Name, url.Values{registry.ViaParam: {via}}.Encode())
	p, err := rtmpclient.Play(ctx, u, rtmpclient.Options{
		Timeout: time.Until(deadlineOf(ctx)), ReadTimeout: cfg.MediaTimeout, WriteTimeout: cfg.WriteTimeout,
		MaxMessageSize: cfg.MaxTagSize,
	})
	if err != nil {
		if errors.Is(err, rtmpclient.ErrStreamNotFound) {
			return nil, fmt.Errorf("%w: %w", registry.ErrNotFound, err)
		}
		return nil, err
	}
	return p, nil
}

func deadlineOf(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return time.Now().Add(DefaultConfig().ConnectTimeout)
}

func hostPort(u *url.URL, port string) string {
	if u.Port() != "" {
		return u.Host
	}
	return net.JoinHostPort(u.Hostname(), port)
}
