package main

import (
	"bytes"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/internal/auth"
)

func TestSignPrintsAPathTheRulesAccept(t *testing.T) {
	t.Setenv("HW_TEST_SECRET", "s3cret")
	var out, errb bytes.Buffer
	code := run([]string{"sign", "-action", "play", "-app", "live", "-stream", "x", "-ttl", "10m", "-secret-env", "HW_TEST_SECRET"}, &out, &errb)
	require.Equal(t, 0, code, errb.String())
	path, query, ok := strings.Cut(strings.TrimSpace(out.String()), "?")
	require.True(t, ok, out.String())
	require.Equal(t, "/live/x.flv", path)
	q, err := url.ParseQuery(query)
	require.NoError(t, err)
	exp, err := strconv.ParseInt(q.Get("expires"), 10, 64)
	require.NoError(t, err)
	require.InDelta(t, time.Now().Add(10*time.Minute).Unix(), exp, 5)
	a, err := auth.New(auth.Config{Secret: "s3cret", Apps: map[string]auth.App{"live": {Play: []auth.Rule{{Rule: auth.RuleSign}, {Rule: auth.RuleDeny}}}}})
	require.NoError(t, err)
	require.True(t, a.Check(auth.Request{Action: auth.Play, App: "live", Stream: "x", Query: query}).Allow)

	// No secret: an error, not an unsigned path; the secret is never a flag.
	out.Reset()
	errb.Reset()
	require.Equal(t, 2, run([]string{"sign", "-stream", "x", "-secret-env", "HW_TEST_UNSET"}, &out, &errb))
	require.Empty(t, out.String())
	require.Equal(t, 2, run([]string{"sign", "-stream", "x", "-secret", "x"}, &out, &errb))
	require.Equal(t, 2, run([]string{"sign", "-action", "delete", "-stream", "x", "-secret-env", "HW_TEST_SECRET"}, &out, &errb))
}
