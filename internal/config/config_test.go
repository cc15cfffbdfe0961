package config

import (
	"os"
	"path/filepath"
	"strings"
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
	require.Equal(t, Limits{MaxStreams: 10000}, c.Limits,
		"per-IP, per-stream and bitrate limits are off by default; max_streams is high")
}

func TestLoadLimits(t *testing.T) {
	c, err := Load(writeFile(t, "limits:\n  max_streams: 5\n  max_players_per_stream: 7\n"+
		"  max_conns_per_ip: 3\n  max_publish_bitrate: 8000000\nhttp:\n  max_conns: 50\n"))
	require.NoError(t, err)
	require.Equal(t, Limits{MaxStreams: 5, MaxPlayersPerStream: 7, MaxConnsPerIP: 3, MaxPublishBitrate: 8_000_000}, c.Limits)
	require.Equal(t, 50, c.HTTP.MaxConns)

	c, err = Load(writeFile(t, "limits:\n  max_streams: 0\n"))
	require.NoError(t, err, "0 is unlimited")
	require.Zero(t, c.Limits.MaxStreams)
}

func TestLoadPlay(t *testing.T) {
	for body, want := range map[string]int{
		"play:\n  merge_ms: 0\n":    0,
		"play:\n  merge_ms: 40\n":   40,
		"play:\n  merge_ms: 1000\n": 1000,
		"":                          Default().Play.MergeMS,
	} {
		c, err := Load(writeFile(t, body))
		require.NoError(t, err, body)
		require.Equal(t, want, c.Play.MergeMS, body)
	}
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
		"rtmp:\n  bogus: 1\n":                     "bogus",
		"rtmp:\n  read_timeout: -1s\n":            "rtmp.read_timeout",
		"log:\n  format: xml\n":                   "log.format",
		"http:\n  max_conns: 0\n":                 "http.max_conns",
		"rtmp:\n  max_message_size: 10\n":         "rtmp.max_message_size",
		"rtmp: [\n":                               "yaml",
		"stream:\n  queue_duration: soon\n":       "line 2",
		"limits:\n  max_streams: -1\n":            "limits.max_streams",
		"limits:\n  max_players_per_stream: -2\n": "limits.max_players_per_stream",
		"limits:\n  max_conns_per_ip: -1\n":       "limits.max_conns_per_ip",
		"limits:\n  max_publish_bitrate: 5000\n":  "limits.max_publish_bitrate",
		"limits:\n  max_publish_bitrate: -1\n":    "limits.max_publish_bitrate",
		"limits:\n  max_bitrate: 1\n":             "max_bitrate",
		"play:\n  merge_ms: -1\n":                 "play.merge_ms",
		"play:\n  merge_ms: 1001\n":               "play.merge_ms",
		"play:\n  merge: 10\n":                    "merge",
	} {
		_, err := Load(writeFile(t, body))
		require.ErrorContains(t, err, want, body)
	}
	_, err := Load(filepath.Join(t.TempDir(), "missing.yaml"))
	require.Error(t, err)
}

// TestREADMEConfigBlockIsTheDefaults keeps the README's "every key and its
// default" YAML block true.
func TestREADMEConfigBlockIsTheDefaults(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	_, after, ok := strings.Cut(string(b), "every key and its default:\n\n```yaml\n")
	require.True(t, ok, "README's config block not found")
	block, _, ok := strings.Cut(after, "```")
	require.True(t, ok)
	c, err := Load(writeFile(t, block))
	require.NoError(t, err)
	require.Equal(t, Default(), c)
	require.Contains(t, block, "\nplay:\n  merge_ms:", "README documents play.merge_ms")
	for _, key := range []string{"max_streams", "max_players_per_stream", "max_conns_per_ip", "max_publish_bitrate"} {
		require.Contains(t, block, "  "+key+":", "README documents limits.%s", key)
	}
}

func TestLoadAPIToken(t *testing.T) {
	require.Empty(t, Default().API.Token, "the API is open by default")
	c, err := Load(writeFile(t, "api:\n  token: 0123456789abcdef\n"))
	require.NoError(t, err)
	require.Equal(t, "0123456789abcdef", c.API.Token)
	for _, body := range []string{
		"api:\n  token: short\n",
		"api:\n  token: \"0123456789 abcdef\"\n",
	} {
		_, err := Load(writeFile(t, body))
		require.ErrorContains(t, err, "api.token", body)
	}
	_, err = Load(writeFile(t, "api:\n  tokens: x\n"))
	require.ErrorContains(t, err, "tokens")

	b, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	require.Contains(t, string(b), "\napi:\n  token: \"\"", "README documents api.token")
}

func TestLoadCluster(t *testing.T) {
	c, err := Load(writeFile(t, "cluster:\n  redis: redis://:pw@127.0.0.1:6379/0\n  node_url: http://origin1:8080\n"+
		"  lease: 6s\n  on_redis_down: refuse\nedge:\n  directory: rediss://127.0.0.1:6380/1\n"))
	require.NoError(t, err)
	require.Equal(t, Cluster{Redis: "redis://:pw@127.0.0.1:6379/0", NodeURL: "http://origin1:8080", Lease: 6 * time.Second,
		Timeout: Default().Cluster.Timeout, OnRedisDown: "refuse"}, c.Cluster)
	require.True(t, c.IsEdge(), "a directory makes an edge")
	b, err := c.Marshal()
	require.NoError(t, err)
	require.NotContains(t, string(b), ":pw@", "the password is redacted")

	for body, want := range map[string]string{
		"cluster:\n  redis: redis://127.0.0.1:6379\n":                                  "",
		"cluster:\n  redis: mysql://x\n  node_url: http://a:1\n":                       "cluster.redis",
		"cluster:\n  node_url: ftp://a:1\n":                                            "cluster.node_url",
		"cluster:\n  node_url: http://a:1/path\n":                                      "cluster.node_url",
		"cluster:\n  lease: 200ms\n":                                                   "cluster.lease",
		"cluster:\n  lease: 1s\n":                                                      "",
		"cluster:\n  timeout: 10s\n":                                                   "cluster.timeout",
		"cluster:\n  on_redis_down: maybe\n":                                           "cluster.on_redis_down",
		"edge:\n  directory: http://x\n":                                               "edge.directory",
		"cluster:\n  redis: redis://127.0.0.1:6379\n  node_url: rtmp://origin1:1935\n": "",
	} {
		_, err := Load(writeFile(t, body))
		if want == "" {
			require.NoError(t, err, body)
		} else {
			require.ErrorContains(t, err, want, body)
		}
	}
}

func TestLoadRelay(t *testing.T) {
	c, err := Load(writeFile(t, "relay:\n  push:\n    live: [\"rtmp://a.rtmp.youtube.com/live2/{stream_key}\", \"rtmps://h/{app}/{stream}\"]\n"+
		"  streams:\n    live/show: {stream_key: abcd, push: []}\n  backoff_max: 10s\n"))
	require.NoError(t, err)
	require.Equal(t, []string{"rtmp://a.rtmp.youtube.com/live2/{stream_key}", "rtmps://h/{app}/{stream}"}, c.Relay.Push["live"])
	require.Equal(t, "abcd", c.Relay.Streams["live/show"].StreamKey)
	require.NotNil(t, c.Relay.Streams["live/show"].Push, "push: [] is set, to nothing")
	require.Equal(t, 10*time.Second, c.Relay.BackoffMax)
	require.Equal(t, Default().Relay.BackoffMin, c.Relay.BackoffMin)

	b, err := c.Marshal()
	require.NoError(t, err)
	require.NotContains(t, string(b), "abcd", "-print-config redacts the stream keys")
	require.Contains(t, string(b), Redacted)

	for body, want := range map[string]string{
		"relay:\n  push:\n    live: [\"http://h/live/x\"]\n":            "relay.push",
		"relay:\n  push:\n    live: [\"rtmp://h/{app}/{name}\"]\n":      "unknown placeholder {name}",
		"relay:\n  push:\n    \"bad app\": [\"rtmp://h/a/b\"]\n":        "relay.push: app",
		"relay:\n  streams:\n    nostream: {stream_key: k}\n":           "relay.streams",
		"relay:\n  streams:\n    live/x: {push: [\"rtmp://h/only\"]}\n": "relay.streams",
		"relay:\n  backoff_min: 10s\n  backoff_max: 5s\n":               "relay.backoff_min",
		"relay:\n  connect_timeout: 0s\n":                               "relay.connect_timeout",
	} {
		_, err := Load(writeFile(t, body))
		require.ErrorContains(t, err, want, body)
	}
	require.Error(t, c.ApplyEnv([]string{"HEADWATER_RELAY_PUSH=rtmp://h/a/b"}), "a map: the file only")
	require.NoError(t, c.ApplyEnv([]string{"HEADWATER_RELAY_BACKOFF_MIN=2s"}))
	require.Equal(t, 2*time.Second, c.Relay.BackoffMin)
	require.True(t, Reloadable("relay.push"))
	require.False(t, Reloadable("relay.backoff_min"))
}
