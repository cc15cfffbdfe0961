package record

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/headwater-media/headwater/internal/registry"
)

// ErrBadTemplate wraps every reason a path template is refused.
var ErrBadTemplate = errors.New("bad record path template")

// Template is a parsed record.path: literal text and the variables
// {app}, {stream}, {start:LAYOUT} (the file's start time, UTC, in a Go
// time layout) and {seq} (the session's file number, from 0). Its root
// is the directory part of the text before the first variable; every
// expansion stays inside it. Immutable once parsed.
type Template struct {
	raw  string
	root string // filepath.Clean'd
	// relFrom is where, in raw, the path below root starts.
	relFrom int
	parts   []part
	match   *regexp.Regexp // a file name under root that Expand made (List)
}

// part is a literal (kind 0) or a variable.
type part struct {
	kind   int
	text   string // the literal, or {start}'s layout
	layout string
}

const (
	partLiteral = iota
	partApp
	partStream
	partStart
	partSeq
)

// ParseTemplate parses and checks a path template: its variables must
// be known, and no element of its text may be "..", so that no
// expansion can leave the root.
func ParseTemplate(s string) (*Template, error) {
	bad := func(format string, a ...any) (*Template, error) {
		return nil, fmt.Errorf("%w %q: %s", ErrBadTemplate, s, fmt.Sprintf(format, a...))
	}
	if s == "" {
		return bad("empty")
	}
	if strings.ContainsRune(s, 0) || strings.Contains(s, `\`) {
		return bad("NUL and backslash are not allowed")
	}
	for _, el := range strings.Split(s, "/") {
		if el == ".." {
			return bad(`".." is not allowed`)
		}
	}
	if strings.HasSuffix(s, "/") {
		return bad("ends with / (no file name)")
	}
	t := &Template{raw: s}
	rest := s
	for rest != "" {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			if strings.IndexByte(rest, '}') >= 0 {
				return bad("unmatched }")
			}
			t.parts = append(t.parts, part{kind: partLiteral, text: rest})
			break
		}
		if i > 0 {
			if strings.IndexByte(rest[:i], '}') >= 0 {
				return bad("unmatched }")
			}
			t.parts = append(t.parts, part{kind: partLiteral, text: rest[:i]})
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return bad("unclosed {")
		}
		name := rest[i+1 : i+j]
		rest = rest[i+j+1:]
		switch {
		case name == "app":
			t.parts = append(t.parts, part{kind: partApp})
		case name == "stream":
			t.parts = append(t.parts, part{kind: partStream})
		case name == "seq":
			t.parts = append(t.parts, part{kind: partSeq})
		case strings.HasPrefix(name, "start:") && len(name) > len("start:"):
			layout := name[len("start:"):]
			sample := time.Date(2031, 11, 22, 13, 44, 55, 0, time.UTC).Format(layout)
			if sample == layout || strings.Contains(sample, "..") || strings.ContainsAny(layout, "{") {
				return bad("{start:%s}: want a Go time layout such as 20060102-150405 that makes no ..", layout)
			}
			t.parts = append(t.parts, part{kind: partStart, layout: layout})
		default:
			return bad("unknown variable {%s} (want {app}, {stream}, {start:LAYOUT}, {seq})", name)
		}
	}
	prefix, _, _ := strings.Cut(s, "{")
	t.relFrom = strings.LastIndexByte(prefix, '/') + 1
	t.root = "."
	if t.relFrom > 0 {
		t.root = filepath.Clean(prefix[:t.relFrom])
	}
	// A trial expansion: the template must stay inside its root.
	if _, err := t.Expand(registry.Key{App: "app", Name: "stream"}, time.Now(), 0); err != nil {
		return nil, err
	}
	re, err := t.pattern()
	if err != nil {
		return bad("%v", err)
	}
	t.match = re
	return t, nil
}

// String returns the template as written.
func (t *Template) String() string { return t.raw }

// Root returns the directory every expansion stays in.
func (t *Template) Root() string { return t.root }

// Expand returns the file path for key's file number seq started at
// start (formatted in UTC). It fails, wrapping ErrBadTemplate, if the
// path would leave the root.
func (t *Template) Expand(key registry.Key, start time.Time, seq int) (string, error) {
	var b strings.Builder
	for _, p := range t.parts {
		switch p.kind {
		case partLiteral:
			b.WriteString(p.text)
		case partApp:
			b.WriteString(key.App)
		case partStream:
			b.WriteString(key.Name)
		case partStart:
			b.WriteString(start.UTC().Format(p.layout))
		case partSeq:
			b.WriteString(strconv.Itoa(seq))
		}
	}
	return t.inside(b.String())
}

// inside checks that p, cleaned, is a file strictly inside the root.
func (t *Template) inside(p string) (string, error) {
	for _, el := range strings.Split(filepath.ToSlash(p), "/") {
		if el == ".." {
			return "", fmt.Errorf("%w %q: expands to %q, which has a \"..\" element", ErrBadTemplate, t.raw, p)
		}
	}
	clean := filepath.Clean(p)
	rel, err := filepath.Rel(t.root, clean)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return "", fmt.Errorf("%w %q: expands to %q, outside its root %q", ErrBadTemplate, t.raw, clean, t.root)
	}
	return clean, nil
}

// pattern is a regexp matching the paths (relative to the root, with /)
// that Expand and the no-overwrite suffix (-1, -2, ...) make; its
// groups app and stream capture the key.
func (t *Template) pattern() (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	name := `[A-Za-z0-9_.\-]+`
	seenApp, seenStream := false, false
	skip := t.relFrom // the text of the root is not matched
	last := len(t.parts) - 1
	for i, p := range t.parts {
		switch p.kind {
		case partLiteral:
			text := p.text
			if skip > 0 {
				n := min(skip, len(text))
				text, skip = text[n:], skip-n
			}
			if i == last {
				if dot := strings.LastIndexByte(text, '.'); dot >= 0 && !strings.Contains(text[dot:], "/") {
					b.WriteString(regexp.QuoteMeta(text[:dot]) + `(?:-[0-9]+)?` + regexp.QuoteMeta(text[dot:]))
					continue
				}
				b.WriteString(regexp.QuoteMeta(text) + `(?:-[0-9]+)?`)
				continue
			}
			b.WriteString(regexp.QuoteMeta(text))
		case partApp:
			if seenApp {
				b.WriteString(name)
			} else {
				b.WriteString("(?P<app>" + name + ")")
				seenApp = true
			}
		case partStream:
			if seenStream {
				b.WriteString(name)
			} else {
				b.WriteString("(?P<stream>" + name + ")")
				seenStream = true
			}
		case partStart:
			b.WriteString(`.+?`)
		case partSeq:
			b.WriteString(`[0-9]+`)
		}
		if i == last && p.kind != partLiteral {
			b.WriteString(`(?:-[0-9]+)?`)
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// Match reports whether rel (a path relative to the root, with /) is a
// file this template makes, and the key it names (parts the template
// lacks are empty).
func (t *Template) Match(rel string) (app, stream string, ok bool) {
	m := t.match.FindStringSubmatch(rel)
	if m == nil {
		return "", "", false
	}
	for i, n := range t.match.SubexpNames() {
		switch n {
		case "app":
			app = m[i]
		case "stream":
			stream = m[i]
		}
	}
	return app, stream, true
}
