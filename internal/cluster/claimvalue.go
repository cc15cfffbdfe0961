package cluster

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// A claim's value in Redis is "NODE_URL|SESSION|START_MS": the node that
// holds the key (what an edge pulls from), the claiming session (so that
// a renewal or a release only touches its own claim) and the session's
// start in Unix milliseconds (so that the older session wins a conflict).

// claimValue is a parsed claim value.
type claimValue struct {
	NodeURL string
	Session string
	Start   time.Time
}

// errBadValue: a value not laid out as NODE_URL|SESSION|START_MS.
var errBadValue = errors.New("cluster: malformed claim value")

// maxValueLen bounds what parseValue accepts (a URL, an id, a number).
const maxValueLen = 4096

func (v claimValue) String() string {
	return v.NodeURL + "|" + v.Session + "|" + strconv.FormatInt(v.Start.UnixMilli(), 10)
}

// parseValue parses a claim value; the node URL may itself hold a '|'
// (the session and start are the last two fields).
func parseValue(s string) (claimValue, error) {
	if len(s) > maxValueLen {
		return claimValue{}, errBadValue
	}
	i := strings.LastIndexByte(s, '|')
	if i < 0 {
		return claimValue{}, errBadValue
	}
	ms, err := strconv.ParseInt(s[i+1:], 10, 64)
	if err != nil || ms < 0 || s[i+1] == '+' {
		return claimValue{}, errBadValue
	}
	rest := s[:i]
	j := strings.LastIndexByte(rest, '|')
	if j <= 0 || j == len(rest)-1 {
		return claimValue{}, errBadValue
	}
	return claimValue{NodeURL: rest[:j], Session: rest[j+1:], Start: time.UnixMilli(ms)}, nil
}
