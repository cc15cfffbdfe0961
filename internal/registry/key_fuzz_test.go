package registry

import (
	"errors"
	"strings"
	"testing"
)

// validName is the documented rule, written out independently of checkName:
// 1 to MaxNameLen bytes of [A-Za-z0-9_.-], and neither "." nor "..".
func validName(s string) bool {
	if len(s) < 1 || len(s) > MaxNameLen || s == "." || s == ".." {
		return false
	}
	return strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == ""
}

// FuzzNewKey checks the stream-name parser the RTMP ingest runs on every
// connect (app) and publish (name?query): NewKey and SplitQuery never panic,
// NewKey accepts exactly the documented names, and SplitQuery loses nothing.
func FuzzNewKey(f *testing.F) {
	long := strings.Repeat("a", MaxNameLen)
	for _, seed := range [][2]string{
		{"live", "stream"},
		{"live", "key?token=x"},
		{"live", "key?token=x?y&z=%3F"},
		{"live", "?"},
		{"live", "?token"},
		{"live", "key?"},
		{"app-1.x_y", "S-1.2_3"},
		{"..", "x"},
		{"live", "."},
		{"live", ".."},
		{"live", "..."},
		{"", "x"},
		{"live", ""},
		{long, long},
		{long, long + "b"},
		{"live", long + "?t=1"},
		{"live", "a/../b"},
		{"live/x", "s"},
		{"live", "s\x00"},
		{"live", "s%2F"},
		{"live", "str\u00e9am"},
		{"live", "\xff\xfe"},
		{"live", "s t"},
		{"live", "s\n"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, app, name string) {
		// The publishing name as ingest sees it.
		stream, query := SplitQuery(name)
		if i := strings.IndexByte(name, '?'); i >= 0 {
			if stream+"?"+query != name {
				t.Fatalf("SplitQuery(%q) = %q, %q: does not round-trip", name, stream, query)
			}
			if strings.Contains(stream, "?") || len(stream) != i {
				t.Fatalf("SplitQuery(%q) = %q, %q: not split at the first '?'", name, stream, query)
			}
		} else if stream != name || query != "" {
			t.Fatalf("SplitQuery(%q) = %q, %q without a '?'", name, stream, query)
		}

		for _, n := range []string{name, stream} {
			k, err := NewKey(app, n)
			want := validName(app) && validName(n)
			if (err == nil) != want {
				t.Fatalf("NewKey(%q, %q) error %v, want valid=%v", app, n, err, want)
			}
			if err != nil {
				if !errors.Is(err, ErrBadName) {
					t.Fatalf("NewKey(%q, %q) error %v does not wrap ErrBadName", app, n, err)
				}
				if k != (Key{}) {
					t.Fatalf("NewKey(%q, %q) returned %+v with an error", app, n, k)
				}
				continue
			}
			if k.App != app || k.Name != n {
				t.Fatalf("NewKey(%q, %q) = %+v", app, n, k)
			}
			// Accepted keys are safe in URLs, paths and logs.
			for _, s := range []string{k.App, k.Name} {
				if len(s) == 0 || len(s) > MaxNameLen || s == "." || s == ".." ||
					strings.ContainsAny(s, "/?%\\ \x00") {
					t.Fatalf("accepted unsafe name %q", s)
				}
				for i := 0; i < len(s); i++ {
					c := s[i]
					if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
						t.Fatalf("accepted byte %#x in %q", c, s)
					}
				}
			}
			if got := k.String(); got != app+"/"+n || strings.Count(got, "/") != 1 {
				t.Fatalf("Key.String() = %q", got)
			}
		}
	})
}
