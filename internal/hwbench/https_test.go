package hwbench

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/internal/config"
	"github.com/headwater-media/headwater/internal/server"
)

// TestHTTPSPlayers: https:// players play from a headwater with an HTTPS
// listener (a self-signed certificate, not verified by hwbench).
func TestHTTPSPlayers(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hwbench"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kb, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600))

	cfg := config.Default()
	cfg.RTMP.Addr, cfg.HTTP.Addr, cfg.HTTPS.Addr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.TLS.CertFile, cfg.TLS.KeyFile = certFile, keyFile
	require.NoError(t, cfg.Validate())
	s := server.New(cfg, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	require.NoError(t, s.Start())
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, s.Shutdown(ctx))
	}()

	run := Config{Input: testInput(t), Streams: 1, Players: 3, Ramp: 300 * time.Millisecond, Warmup: 500 * time.Millisecond,
		Duration: 2 * time.Second, Stall: time.Second, Timeout: 5 * time.Second,
		Publish: "rtmp://" + s.RTMPAddr().String() + "/live/s", Play: "https://" + s.HTTPSAddr().String() + "/live/s.flv"}
	res, err := Run(context.Background(), &run)
	require.NoError(t, err)
	requireClean(t, res, 3)
}
