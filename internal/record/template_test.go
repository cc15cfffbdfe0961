package record

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/internal/registry"
)

func TestTemplateExpand(t *testing.T) {
	at := time.Date(2026, 12, 5, 15, 4, 5, 0, time.FixedZone("X", 3600)) // 14:04:05 UTC
	key := registry.Key{App: "live", Name: "cam.1"}
	for _, tc := range []struct {
		tmpl, want, root string
	}{
		{DefaultPath, "recordings/live/cam.1/20261205-140405.flv", "recordings"},
		{"/var/rec/{app}/{stream}-{seq}.flv", "/var/rec/live/cam.1-3.flv", "/var/rec"},
		{"rec-{app}/{stream}.flv", "rec-live/cam.1.flv", "."},
		{"{app}/{start:2006-01-02/150405}.flv", "live/2026-12-05/140405.flv", "."},
		{"./a/./b/{stream}.flv", "a/b/cam.1.flv", "a/b"},
		{"/data/x.flv", "/data/x.flv", "/data"},
	} {
		tm, err := ParseTemplate(tc.tmpl)
		require.NoError(t, err, tc.tmpl)
		require.Equal(t, tc.root, tm.Root(), tc.tmpl)
		got, err := tm.Expand(key, at, 3)
		require.NoError(t, err, tc.tmpl)
		require.Equal(t, filepath.FromSlash(tc.want), got, tc.tmpl)
	}
}

// TestTemplateRefusesHostile: what could write outside the root, or is
// malformed, is refused when the template is parsed (at config load).
func TestTemplateRefusesHostile(t *testing.T) {
	for _, tmpl := range []string{
		"",
		"../etc/{stream}.flv",
		"./recordings/../../etc/{stream}.flv",
		"./recordings/{app}/../../{stream}.flv",
		"/var/rec/{app}/../../../etc/passwd",
		"/var/rec/..",
		"..",
		"{app}/..",
		"./recordings/{app}/{start:..}.flv", // a layout that is not one (no time in it)
		"./recordings/{app}/{start:2006/../01}.x", // a layout making ..
		"./recordings/{app}/{stream",              // unclosed
		"./recordings/{app}}/{stream}.flv",        // unmatched
		"./recordings/{user}/{stream}.flv",        // unknown variable
		"./recordings/{start:}/x.flv",             // empty layout
		"./recordings/{app}/",                     // no file name
		`.\recordings\{app}\..\..\x.flv`,          // backslashes
		"./recordings/\x00/{stream}.flv",
	} {
		_, err := ParseTemplate(tmpl)
		require.Error(t, err, "%q must be refused", tmpl)
		require.True(t, errors.Is(err, ErrBadTemplate), "%q: %v", tmpl, err)
	}
}

func TestTemplateMatch(t *testing.T) {
	tm, err := ParseTemplate(DefaultPath)
	require.NoError(t, err)
	for rel, want := range map[string][2]string{
		"live/cam/20261205-140405.flv":   {"live", "cam"},
		"live/cam/20261205-140405-2.flv": {"live", "cam"},
		"a.b/c-d/x.flv":                  {"a.b", "c-d"},
	} {
		app, name, ok := tm.Match(rel)
		require.True(t, ok, rel)
		require.Equal(t, want, [2]string{app, name}, rel)
	}
	for _, rel := range []string{"live/cam/x.mp4", "live/x.flv", "live/cam/sub/x.flv.tmp"} {
		_, _, ok := tm.Match(rel)
		require.False(t, ok, rel)
	}
	tm, err = ParseTemplate("/r/{stream}-{seq}.flv")
	require.NoError(t, err)
	app, name, ok := tm.Match("cam-0-1.flv")
	require.True(t, ok)
	require.Equal(t, "", app)
	require.Equal(t, "cam-0", name) // names may hold '-': the match is the longest
}

// FuzzParseTemplate: whatever the template, parsing never panics, and
// one that parses expands, for any key, to a path inside its root.
func FuzzParseTemplate(f *testing.F) {
	for _, s := range []string{DefaultPath, "../{app}", "/a/{start:2006}/{seq}.flv", "{app}/{stream}", "{start:..}", "a/{app}/.."} {
		f.Add(s, "live", "cam")
	}
	f.Fuzz(func(t *testing.T, tmpl, app, name string) {
		tm, err := ParseTemplate(tmpl)
		if err != nil {
			return
		}
		key, err := registry.NewKey(app, name)
		if err != nil {
			return
		}
		p, err := tm.Expand(key, time.Unix(1700000000, 0), 7)
		if err != nil {
			return // refused: fine, never outside
		}
		rel, err := filepath.Rel(tm.Root(), p)
		require.NoError(t, err)
		require.False(t, rel == ".." || strings.HasPrefix(rel, "../") || filepath.IsAbs(rel), "%q -> %q outside %q", tmpl, p, tm.Root())
		require.NotContains(t, strings.Split(filepath.ToSlash(p), "/"), "..")
	})
}
