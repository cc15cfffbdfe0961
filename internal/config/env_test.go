package config

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func TestEnvNames(t *testing.T) {
	envs := map[string]string{}
	for _, f := range fields() {
		envs[f.Env] = f.Key
	}
	for env, key := range map[string]string{
		"HEADWATER_RTMP_ADDR":                     "rtmp.addr",
		"HEADWATER_LIMITS_MAX_STREAMS":            "limits.max_streams",
		"HEADWATER_PLAY_MERGE_MS":                 "play.merge_ms",
		"HEADWATER_LOG_LEVEL":                     "log.level",
		"HEADWATER_API_TOKEN":                     "api.token",
		"HEADWATER_RTMP_MAX_MESSAGE_SIZE":         "rtmp.max_message_size",
		"HEADWATER_LIMITS_MAX_PUBLISH_BITRATE":    "limits.max_publish_bitrate",
		"HEADWATER_STREAM_QUEUE_DURATION":         "stream.queue_duration",
		"HEADWATER_LIMITS_MAX_PLAYERS_PER_STREAM": "limits.max_players_per_stream",
	} {
		require.Equal(t, key, envs[env], env)
	}
	require.Len(t, envs, len(Keys()), "one variable per key, no collisions")
}

func TestApplyEnv(t *testing.T) {
	c := Default()
	require.NoError(t, c.ApplyEnv([]string{
		"PATH=/bin",
		"HEADWATER_RTMP_ADDR=127.0.0.1:1936",
		"HEADWATER_LIMITS_MAX_STREAMS=5",
		"HEADWATER_PLAY_MERGE_MS=0",
		"HEADWATER_LOG_LEVEL=debug",
		"HEADWATER_API_TOKEN=0123456789abcdef",
		"HEADWATER_RTMP_MAX_MESSAGE_SIZE=65536",
		"HEADWATER_LIMITS_MAX_PUBLISH_BITRATE=8000000",
		"HEADWATER_STREAM_QUEUE_DURATION=2500ms",
	}))
	require.Equal(t, "127.0.0.1:1936", c.RTMP.Addr)
	require.Equal(t, 5, c.Limits.MaxStreams)
	require.Equal(t, 0, c.Play.MergeMS)
	require.Equal(t, "debug", c.Log.Level)
	require.Equal(t, "0123456789abcdef", c.API.Token)
	require.Equal(t, uint32(65536), c.RTMP.MaxMessageSize)
	require.Equal(t, int64(8_000_000), c.Limits.MaxPublishBitrate)
	require.Equal(t, 2500*time.Millisecond, c.Stream.QueueDuration)
	require.NoError(t, c.Validate())
	d := Default()
	require.Equal(t, d.HTTP, c.HTTP, "untouched keys keep their values")
}

func TestApplyEnvErrorsNameTheVariable(t *testing.T) {
	for env, want := range map[string]string{
		"HEADWATER_RTMP_ADRR=x":                  "HEADWATER_RTMP_ADRR: unknown variable",
		"HEADWATER_RTMP=x":                       "HEADWATER_RTMP: unknown variable",
		"HEADWATER_LIMITS_MAX_STREAMS=ten":       "HEADWATER_LIMITS_MAX_STREAMS (limits.max_streams): not an integer",
		"HEADWATER_RTMP_READ_TIMEOUT=10":         "HEADWATER_RTMP_READ_TIMEOUT (rtmp.read_timeout): not a duration",
		"HEADWATER_RTMP_MAX_MESSAGE_SIZE=-1":     "HEADWATER_RTMP_MAX_MESSAGE_SIZE (rtmp.max_message_size): not an integer",
		"HEADWATER_LIMITS_MAX_PUBLISH_BITRATE=x": "HEADWATER_LIMITS_MAX_PUBLISH_BITRATE (limits.max_publish_bitrate): not an integer",
	} {
		c := Default()
		err := c.ApplyEnv([]string{env})
		require.Error(t, err, env)
		require.Contains(t, err.Error(), want)
	}
	// A value that parses but is out of range is Validate's to reject.
	c := Default()
	require.NoError(t, c.ApplyEnv([]string{"HEADWATER_PLAY_MERGE_MS=5000"}))
	require.ErrorContains(t, c.Validate(), "play.merge_ms")
}

func TestMarshalRoundTripsAndRedacts(t *testing.T) {
	c := Default()
	c.API.Token = "0123456789abcdef"
	c.Limits.MaxPlayersPerStream = 3
	b, err := c.Marshal()
	require.NoError(t, err)
	require.NotContains(t, string(b), "0123456789abcdef")
	require.Contains(t, string(b), `token: <redacted>`)
	require.Equal(t, "0123456789abcdef", c.API.Token, "Marshal does not change c")

	p := filepath.Join(t.TempDir(), "c.yaml")
	require.NoError(t, os.WriteFile(p, b, 0o600))
	back, err := Read(p)
	require.NoError(t, err, "the output is a valid config file")
	c.API.Token = Redacted
	require.Equal(t, c, back)

	b, err = Default().Marshal()
	require.NoError(t, err)
	require.Contains(t, string(b), `token: ""`, "an unset token prints as empty")
}

// TestDocsListEveryKey keeps docs/config.md complete: every key of
// Default() appears with its environment variable.
func TestDocsListEveryKey(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	doc, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "docs", "config.md"))
	require.NoError(t, err)
	// Cross-check the reflect walk against the YAML of Default().
	b, err := yaml.Marshal(Default())
	require.NoError(t, err)
	var tree map[string]map[string]any
	require.NoError(t, yaml.Unmarshal(b, &tree))
	n := 0
	for sec, m := range tree {
		for k := range m {
			n++
			require.Contains(t, Keys(), sec+"."+k)
		}
	}
	require.Len(t, Keys(), n)
	for _, k := range Keys() {
		require.True(t, strings.Contains(string(doc), "`"+k+"`"), "docs/config.md lacks `%s`", k)
		require.True(t, strings.Contains(string(doc), "`"+EnvName(k)+"`"), "docs/config.md lacks `%s`", EnvName(k))
	}
}

func TestChanged(t *testing.T) {
	old := Default()
	c := old
	reload, restart := c.Changed(old)
	require.Empty(t, reload)
	require.Empty(t, restart)
	c.Limits.MaxPlayersPerStream = 1
	c.API.Token = "0123456789abcdef"
	c.RTMP.Addr = ":1936"
	c.Stream.QueueBytes = 2 << 20
	c.Log.Level = "debug"
	reload, restart = c.Changed(old)
	require.Equal(t, []string{"limits.max_players_per_stream", "log.level", "api.token"}, reload)
	require.Equal(t, []string{"rtmp.addr", "stream.queue_bytes"}, restart)
	for k := range reloadable {
		require.Contains(t, Keys(), k)
	}
	eff := old.Reloaded(c)
	reload, restart = eff.Changed(old)
	require.Equal(t, []string{"limits.max_players_per_stream", "log.level", "api.token"}, reload)
	require.Empty(t, restart, "Reloaded keeps the restart-only keys")
	require.Equal(t, ":1935", eff.RTMP.Addr)
	require.Equal(t, 1, eff.Limits.MaxPlayersPerStream)
	require.True(t, Reloadable("http.max_conns"))
	require.False(t, Reloadable("http.addr"))
}

// TestPublishGrace: publish.grace is 10 s unless set, 0 turns it off,
// negative is refused; grace_on_clean_stop is off unless set.
func TestPublishGrace(t *testing.T) {
	d := Default()
	require.Equal(t, 10*time.Second, d.Publish.Grace)
	require.False(t, d.Publish.GraceOnCleanStop)
	c := Default()
	require.NoError(t, c.ApplyEnv([]string{"HEADWATER_PUBLISH_GRACE=0", "HEADWATER_PUBLISH_GRACE_ON_CLEAN_STOP=true"}))
	require.Zero(t, c.Publish.Grace)
	require.True(t, c.Publish.GraceOnCleanStop)
	require.NoError(t, c.Validate())
	c.Publish.Grace = -time.Second
	require.ErrorContains(t, c.Validate(), "publish.grace")
}
