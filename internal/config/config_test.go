package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.yaml")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

func TestDefaultsAreValid(t *testing.T) {
	c := Default()
	require.NoError(t, c.Validate())
	require.Equal(t, ":1935", c.RTMP.Addr)
	require.Equal(t, ":8080", c.HTTP.Addr)
	require.GreaterOrEqual(t, c.HTTP.MaxConns, 10000, "room for 10,000 players")
}

func TestLoadOverridesDefaults(t *testing.T) {
	c, err := Load(writeFile(t, "rtmp:\n  addr: 127.0.0.1:1936\n  media_timeout: 3s\nlog:\n  format: json\n"))
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:1936", c.RTMP.Addr)
	require.Equal(t, 3*time.Second, c.RTMP.MediaTimeout)
	require.Equal(t, "json", c.Log.Format)
	require.Equal(t, ":8080", c.HTTP.Addr, "untouched keys keep their default")

	c, err = Load(writeFile(t, ""))
	require.NoError(t, err, "an empty file is the defaults")
	require.Equal(t, Default(), c)
}

func TestLoadRejectsBadFiles(t *testing.T) {
	for body, want := range map[string]string{
		"rtmp:\n  bogus: 1\n":               "bogus",
		"rtmp:\n  read_timeout: -1s\n":      "rtmp.read_timeout",
		"log:\n  format: xml\n":             "log.format",
		"http:\n  max_conns: 0\n":           "http.max_conns",
		"rtmp:\n  max_message_size: 10\n":   "rtmp.max_message_size",
		"rtmp: [\n":                         "yaml",
		"stream:\n  queue_duration: soon\n": "line 2",
	} {
		_, err := Load(writeFile(t, body))
		require.ErrorContains(t, err, want, body)
	}
	_, err := Load(filepath.Join(t.TempDir(), "missing.yaml"))
	require.Error(t, err)
}
