package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/internal/record"
)

func TestRecordDefaults(t *testing.T) {
	c := Default()
	require.False(t, c.Record.Enabled)
	require.Equal(t, "./recordings/{app}/{stream}/{start:20060102-150405}.flv", c.Record.Path)
	require.Zero(t, c.Record.SegmentDuration)
	require.Equal(t, "flv", c.Record.Format)
	require.Equal(t, record.DefaultConfig(), c.RecordConfig())
}

func TestLoadRecord(t *testing.T) {
	c, err := Load(writeFile(t, "record:\n  enabled: true\n  path: /srv/rec/{app}/{stream}-{seq}.flv\n  segment_duration: 10m\n"+
		"  apps:\n    live:\n      enabled: false\n    news:\n      segment_duration: 30s\n      path: /srv/news/{stream}.flv\n"))
	require.NoError(t, err)
	require.True(t, c.Record.Enabled)
	require.Equal(t, 10*time.Minute, c.Record.SegmentDuration)
	live := c.Record.Apps["live"].Apply(c.RecordConfig())
	require.False(t, live.Enabled)
	require.Equal(t, "/srv/rec/{app}/{stream}-{seq}.flv", live.Path, "a key left out keeps the global value")
	news := c.Record.Apps["news"].Apply(c.RecordConfig())
	require.True(t, news.Enabled)
	require.Equal(t, 30*time.Second, news.SegmentDuration)
	require.Equal(t, "/srv/news/{stream}.flv", news.Path)

	c = Default()
	require.NoError(t, c.ApplyEnv([]string{"HEADWATER_RECORD_ENABLED=true", "HEADWATER_RECORD_SEGMENT_DURATION=5s",
		"HEADWATER_RECORD_PATH=rec/{stream}.flv", "HEADWATER_RECORD_FORMAT=flv"}))
	require.NoError(t, c.Validate())
	require.Equal(t, record.Config{Enabled: true, Path: "rec/{stream}.flv", SegmentDuration: 5 * time.Second, Format: "flv"}, c.RecordConfig())
}

// TestLoadRefusesHostileRecordPaths: a path template that could write
// outside its root, or that is malformed, is an error at load naming the
// key, for the global key and per app.
func TestLoadRefusesHostileRecordPaths(t *testing.T) {
	for _, body := range []string{
		"record:\n  path: ../etc/{stream}.flv\n",
		"record:\n  path: ./recordings/../../etc/{stream}.flv\n",
		"record:\n  path: /var/rec/{app}/../../../etc/passwd\n",
		"record:\n  path: ./recordings/{app}/{stream}/..\n",
		"record:\n  path: ./recordings/{user}.flv\n",
		"record:\n  path: ./recordings/{start:..}.flv\n",
		"record:\n  path: \"\"\n",
		"record:\n  apps:\n    live:\n      path: ./recordings/../{stream}.flv\n",
	} {
		_, err := Load(writeFile(t, body))
		require.Error(t, err, body)
		require.Contains(t, err.Error(), "record.", body)
		require.ErrorIs(t, err, record.ErrBadTemplate, body)
	}
	for body, want := range map[string]string{
		"record:\n  format: mkv\n":                           "record.format: must be flv or mp4",
		"record:\n  segment_duration: -1s\n":                 "record.segment_duration: must be 0 (one file per session) or at least 1s",
		"record:\n  segment_duration: 10ms\n":                "record.segment_duration: must be 0 (one file per session) or at least 1s",
		"record:\n  apps:\n    ../x:\n      enabled: true\n": "record.apps",
		"record:\n  apps:\n    live:\n      format: avi\n":   "record.apps.live.format",
	} {
		_, err := Load(writeFile(t, body))
		require.ErrorContains(t, err, want, body)
	}
	c, err := Load(writeFile(t, "record:\n  format: mp4\n  path: rec/{stream}.mp4\n"))
	require.NoError(t, err)
	require.Equal(t, "mp4", c.RecordConfig().Format)
	require.Error(t, func() error { c := Default(); return c.ApplyEnv([]string{"HEADWATER_RECORD_APPS=x"}) }(), "a map is set in the file only")
}
