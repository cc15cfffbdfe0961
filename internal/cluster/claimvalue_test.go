package cluster

import (
	"testing"
	"time"
)

func TestParseValue(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want claimValue
		ok   bool
	}{
		{"http://a:8080|n1-1|1700000000000", claimValue{"http://a:8080", "n1-1", time.UnixMilli(1700000000000)}, true},
		{"rtmp://a|b|c|s|5", claimValue{"rtmp://a|b|c", "s", time.UnixMilli(5)}, true},
		{"http://a|s|", claimValue{}, false},
		{"http://a|s|+5", claimValue{}, false},
		{"http://a|s|-5", claimValue{}, false},
		{"http://a||5", claimValue{}, false},
		{"|s|5", claimValue{}, false},
		{"nothing", claimValue{}, false},
		{"", claimValue{}, false},
	} {
		got, err := parseValue(tc.in)
		if (err == nil) != tc.ok || (tc.ok && (got.NodeURL != tc.want.NodeURL || got.Session != tc.want.Session || !got.Start.Equal(tc.want.Start))) {
			t.Errorf("parseValue(%q) = %+v, %v; want %+v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// FuzzParseValue: a claim value read from Redis (anyone may write there)
// never panics, and what parses prints back to a value that parses the same.
func FuzzParseValue(f *testing.F) {
	for _, s := range []string{"http://a:8080|n1-1|1700000000000", "a|b|c", "||", "|x|9", "x|y|99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseValue(s)
		if err != nil {
			return
		}
		again, err := parseValue(v.String())
		if err != nil || again.NodeURL != v.NodeURL || again.Session != v.Session || !again.Start.Equal(v.Start) {
			t.Fatalf("%q parsed as %+v, printed %q, parsed again as %+v, %v", s, v, v.String(), again, err)
		}
	})
}

// FuzzParseNode: a node entry read from Redis never panics.
func FuzzParseNode(f *testing.F) {
	f.Add("http://a:1", "abc|1700000000000|3")
	f.Add("", "||")
	f.Fuzz(func(t *testing.T, u, v string) {
		if n, ok := parseNode(u, v); ok && n.URL != u {
			t.Fatalf("parseNode(%q, %q) = %+v", u, v, n)
		}
	})
}
