package relay

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/headwater-media/headwater/internal/auth"
	"github.com/headwater-media/headwater/internal/rtmpclient"
)

// Vars are the values of a push URL template's placeholders.
type Vars struct {
	App       string // {app}
	Stream    string // {stream}
	StreamKey string // {stream_key}: from the on_publish hook or relay.streams
}

// ErrNoStreamKey: a template has {stream_key} and the stream has none.
var ErrNoStreamKey = errors.New("{stream_key} has no value for this stream (relay.streams or the on_publish hook's stream_key)")

// Expand replaces {app}, {stream} and {stream_key} in tmpl with v's
// values. Any other {name}, or a brace left open, is an error; so is an
// empty {stream_key}.
func Expand(tmpl string, v Vars) (string, error) {
	var b strings.Builder
	rest := tmpl
	for {
		i := strings.IndexAny(rest, "{}")
		if i < 0 {
			b.WriteString(rest)
			return b.String(), nil
		}
		if rest[i] == '}' {
			return "", fmt.Errorf("push URL template: a '}' without its '{' at byte %d", len(tmpl)-len(rest)+i)
		}
		b.WriteString(rest[:i])
		end := strings.IndexByte(rest[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("push URL template: a '{' left open at byte %d", len(tmpl)-len(rest)+i)
		}
		name := rest[i+1 : i+end]
		switch name {
		case "app":
			b.WriteString(v.App)
		case "stream":
			b.WriteString(v.Stream)
		case "stream_key":
			if v.StreamKey == "" {
				return "", ErrNoStreamKey
			}
			b.WriteString(v.StreamKey)
		default:
			return "", fmt.Errorf("push URL template: unknown placeholder {%s} (want {app}, {stream} or {stream_key})", name)
		}
		rest = rest[i+end+1:]
	}
}

// CheckTemplate reports whether tmpl expands to a URL a push can use:
// rtmp[s]://host[:port]/app/stream[?query].
func CheckTemplate(tmpl string) error {
	u, err := Expand(tmpl, Vars{App: "app", Stream: "stream", StreamKey: "key"})
	if err != nil {
		return err
	}
	if err := rtmpclient.CheckURL(u); err != nil {
		return fmt.Errorf("push URL template %q: %w", Redact(tmpl), err)
	}
	return nil
}

// maskName replaces, in text, the stream name of the push URL u (often a
// platform's stream key) after a '/' with its masked form, as Redact
// shows it.
func maskName(text, u string) string {
	base, _, _ := strings.Cut(u, "?")
	pu, err := url.Parse(base)
	if err != nil {
		return text
	}
	_, name, _ := strings.Cut(strings.TrimPrefix(pu.Path, "/"), "/")
	if name == "" {
		return text
	}
	return strings.ReplaceAll(text, "/"+name, "/"+maskedName(name)) // as in a URL: "x" is no word of its own
}

// maskedName is name but for its first characters (at most 4, a third of
// it), then "****".
func maskedName(name string) string {
	return name[:min(4, len(name)/3)] + "****"
}

// Redact is a push URL for the API and logs: the stream name (the path
// after the app, often a platform's stream key) is masked but for its
// first characters (at most 4, a third of it), and the query's secret
// parameters are too (auth.RedactURL).
func Redact(raw string) string {
	base, query, hasQuery := strings.Cut(raw, "?")
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return "****"
	}
	app, name, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if name != "" {
		name = maskedName(name)
	}
	out := u.Scheme + "://" + u.Host + "/" + app
	if name != "" {
		out += "/" + name
	}
	if hasQuery {
		out += "?" + auth.Redact(query)
	}
	return out
}
