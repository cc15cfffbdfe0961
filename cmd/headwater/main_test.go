package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/headwater-media/headwater/internal/config"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.yaml")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

// TestPrintConfig: -print-config prints defaults <- file <- env <- flags
// as YAML, with the token redacted, and exits 0.
func TestPrintConfig(t *testing.T) {
	file := writeConfig(t, "rtmp:\n  addr: 127.0.0.1:1111\nhttp:\n  addr: 127.0.0.1:2222\n"+
		"limits:\n  max_streams: 5\n  max_players_per_stream: 6\napi:\n  token: secret-token-0123456789\n")
	t.Setenv("HEADWATER_LIMITS_MAX_STREAMS", "7")     // env over file
	t.Setenv("HEADWATER_RTMP_ADDR", "127.0.0.1:3333") // flag over env
	t.Setenv("HEADWATER_PLAY_MERGE_MS", "0")
	var stdout, stderr bytes.Buffer
	code := run([]string{"-config", file, "-rtmp-addr", "127.0.0.1:4444", "-print-config"}, &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	require.NotContains(t, stdout.String(), "secret-token")

	var got config.Config
	require.NoError(t, yaml.Unmarshal(stdout.Bytes(), &got), stdout.String())
	want := config.Default()
	want.RTMP.Addr = "127.0.0.1:4444"
	want.HTTP.Addr = "127.0.0.1:2222"
	want.Limits.MaxStreams = 7
	want.Limits.MaxPlayersPerStream = 6
	want.Play.MergeMS = 0
	want.API.Token = config.Redacted
	require.Equal(t, want, got)

	stdout.Reset()
	require.Equal(t, 0, run([]string{"-print-config"}, &stdout, &stderr))
	require.Contains(t, stdout.String(), "token: \"\"\n", "an unset token is empty, not redacted")
}

func TestEnvErrorsExit2(t *testing.T) {
	for env, want := range map[string]string{
		"HEADWATER_LIMITS_MAX_STREMS": "HEADWATER_LIMITS_MAX_STREMS: unknown variable",
		"HEADWATER_RTMP_READ_TIMEOUT": "HEADWATER_RTMP_READ_TIMEOUT (rtmp.read_timeout): not a duration",
	} {
		t.Run(env, func(t *testing.T) {
			t.Setenv(env, "x")
			var stdout, stderr bytes.Buffer
			require.Equal(t, 2, run([]string{"-print-config"}, &stdout, &stderr))
			require.Contains(t, stderr.String(), want)
			require.Empty(t, stdout.String())
		})
	}
	t.Setenv("HEADWATER_PLAY_MERGE_MS", "5000")
	var stdout, stderr bytes.Buffer
	require.Equal(t, 2, run([]string{"-print-config"}, &stdout, &stderr))
	require.Contains(t, stderr.String(), "play.merge_ms")
}

// TestPrintConfigWithNothingSetIsTheDefault: -print-config with no file,
// no HEADWATER_* variable and no flag prints exactly config.Default (which
// internal/server's TestComponentsRunWithTheirDefaults ties to every
// component's own defaults).
func TestPrintConfigWithNothingSetIsTheDefault(t *testing.T) {
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, run([]string{"-print-config"}, &stdout, &stderr), stderr.String())
	var got config.Config
	require.NoError(t, yaml.Unmarshal(stdout.Bytes(), &got), stdout.String())
	require.Equal(t, config.Default(), got)
}
