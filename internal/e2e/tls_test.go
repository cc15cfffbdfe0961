package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/internal/config"
	"github.com/headwater-media/headwater/internal/lockcheck"
	"github.com/headwater-media/headwater/pkg/flv"
)

// testCert writes a self-signed certificate for 127.0.0.1 with serial
// into certFile and keyFile, and returns it and its SPKI pin (what
// Chromium's --ignore-certificate-errors-spki-list takes).
func testCert(t *testing.T, certFile, keyFile string, serial int64) (*x509.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "headwater test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	kb, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600))
	spki := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return cert, base64.StdEncoding.EncodeToString(spki[:])
}

// TestTLS: ffmpeg publishes over rtmps://, ffprobe and a Go client play
// over https://, a WebSocket-FLV client over wss://, Chromium plays the player page over HTTPS (the test
// certificate pinned), and a reload swaps the certificate for new
// connections while a player on the old one keeps playing.
func TestTLS(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	cert1, pin1 := testCert(t, certFile, keyFile, 1)
	var cfg config.Config
	s := startServer(t, func(c *config.Config) {
		c.RTMPS.Addr, c.HTTPS.Addr = "127.0.0.1:0", "127.0.0.1:0"
		c.TLS.CertFile, c.TLS.KeyFile = certFile, keyFile
		cfg = *c
	})
	httpsBase := "https://" + s.HTTPSAddr().String()
	pub := ffmpegPublish(t, "rtmps://"+s.RTMPSAddr().String()+"/live/tls", "320x240")
	s.waitLive(t, "live", "tls")

	out, err := exec.Command("ffprobe", "-v", "error", "-tls_verify", "0", "-show_entries", "stream=codec_name,width,height",
		"-of", "compact", httpsBase+"/live/tls.flv").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "codec_name=h264|width=320|height=240")

	pool := x509.NewCertPool()
	pool.AddCert(cert1)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}
	resp, err := client.Get(httpsBase + "/live/tls.flv")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "HTTP/1.1", resp.Proto, "HTTP-FLV over TLS is HTTP/1.1 (ALPN offers only that)")
	r := flv.NewReader(resp.Body)
	_, err = r.ReadHeader()
	require.NoError(t, err)
	for range 20 {
		_, err := r.ReadTag()
		require.NoError(t, err)
	}

	// The certificate is swapped: new connections get the new one, the
	// player on the old connection goes on.
	_, _ = testCert(t, certFile, keyFile, 2)
	s.Reload(cfg)
	conn, err := tls.Dial("tcp", s.HTTPSAddr().String(), &tls.Config{InsecureSkipVerify: true})
	require.NoError(t, err)
	require.Equal(t, int64(2), conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64())
	conn.Close()
	for range 20 {
		_, err := r.ReadTag()
		require.NoError(t, err, "a player on the old certificate keeps playing")
	}

	// WebSocket-FLV over TLS: wss://.
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	ws, _, err := websocket.Dial(wctx, "wss://"+s.HTTPSAddr().String()+"/live/tls.flv", &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}})
	require.NoError(t, err)
	_, first, err := ws.Read(wctx)
	require.NoError(t, err)
	require.Equal(t, "FLV", string(first[:3]), "wss:// carries the FLV stream")
	_ = ws.CloseNow()

	// Chromium plays the player page over HTTPS.
	if lockcheck.Enabled() {
		pub.kill()
		return
	}
	chromium := needChromium(t)
	cert2, err := tls.LoadX509KeyPair(certFile, keyFile)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(cert2.Certificate[0])
	require.NoError(t, err)
	spki := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	pin := base64.StdEncoding.EncodeToString(spki[:])
	require.NotEqual(t, pin1, pin)
	b := newBrowserWith(t, chromium, artifactDir(t), chromedp.Flag("ignore-certificate-errors-spki-list", pin))
	tab := b.tab(t, "https-player")
	require.NoError(t, chromedp.Do(tab.ctx, chromedp.Navigate(httpsBase+"/play/live/tls")))
	tab.waitPlaying(t, 20*time.Second, 0)
	require.True(t, strings.HasPrefix(tab.eval(t, `location.protocol`), "https"))
	pub.kill()
}
