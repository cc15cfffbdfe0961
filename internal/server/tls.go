package server

import (
	"crypto/tls"
	"sync/atomic"
)

// certStore holds the TLS certificate the RTMPS and HTTPS listeners
// present. Reload swaps it (SIGHUP) without touching connections already
// open: each handshake takes the certificate current at that moment.
type certStore struct {
	cert atomic.Pointer[tls.Certificate]
}

// load reads certFile and keyFile; on error the certificate in use stays.
func (c *certStore) load(certFile, keyFile string) error {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return err
	}
	c.cert.Store(&cert)
	return nil
}

func (c *certStore) get(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.cert.Load(), nil }

// tlsConfig is the listeners' TLS configuration: TLS 1.2 and later, Go's
// default cipher suites, the current certificate, and for HTTPS only
// HTTP/1.1 in ALPN (HTTP-FLV and WebSocket-FLV take their connection
// over, which HTTP/2 cannot; Chromium plays HTTP-FLV over it).
func (c *certStore) tlsConfig(alpn ...string) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.get, NextProtos: alpn}
}
