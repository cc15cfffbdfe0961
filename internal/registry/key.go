package registry

import (
	"errors"
	"fmt"
	"strings"
)

// ErrBadName is returned for an app or stream name outside the allowed set.
var ErrBadName = errors.New("bad stream name")

// MaxNameLen is the longest app or stream name accepted.
const MaxNameLen = 128

// Key names one stream: rtmp://host/{App}/{Name} and /{App}/{Name}.flv.
type Key struct {
	App  string
	Name string
}

// String returns "app/name".
func (k Key) String() string { return k.App + "/" + k.Name }

// NewKey validates app and name: 1 to 128 of [A-Za-z0-9_.-], not "." or "..".
func NewKey(app, name string) (Key, error) {
	if err := checkName(app); err != nil {
		return Key{}, fmt.Errorf("app %q: %w", app, err)
	}
	if err := checkName(name); err != nil {
		return Key{}, fmt.Errorf("stream %q: %w", name, err)
	}
	return Key{App: app, Name: name}, nil
}

// SplitQuery splits an RTMP publishing name such as "key?token=x" into the
// stream name and the query (without '?'), which is kept for auth.
func SplitQuery(name string) (stream, query string) {
	stream, query, _ = strings.Cut(name, "?")
	return stream, query
}

func checkName(s string) error {
	if len(s) == 0 || len(s) > MaxNameLen || s == "." || s == ".." {
		return ErrBadName
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '_', c == '.', c == '-':
		default:
			return ErrBadName
		}
	}
	return nil
}
