package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var now = time.Unix(1_800_000_000, 0)

// sign computes the formula independently of Signature.
func sign(secret, action, app, stream string, expires int64) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(action + ":" + "/" + app + "/" + stream + ":" + fmt.Sprint(expires)))
	return hex.EncodeToString(m.Sum(nil))
}

func signed(secret, action, app, stream string, expires int64) string {
	return fmt.Sprintf("expires=%d&sign=%s", expires, sign(secret, action, app, stream, expires))
}

func mustNew(t *testing.T, cfg Config) *Authorizer {
	t.Helper()
	a, err := New(cfg)
	require.NoError(t, err)
	return a
}

func TestSignedURLs(t *testing.T) {
	a := mustNew(t, Config{Secret: "s3cret", Apps: map[string]App{
		"live": {Publish: []Rule{{Rule: RuleSign}}, Play: []Rule{{Rule: RuleSign}}},
	}})
	exp := now.Unix() + 60
	for _, tc := range []struct {
		name, action, stream, query string
		allow, unauth               bool
		reason                      string
	}{
		{"valid play", Play, "x", signed("s3cret", Play, "live", "x", exp), true, false, ""},
		{"valid publish", Publish, "x", signed("s3cret", Publish, "live", "x", exp), true, false, ""},
		{"upper-case hex", Play, "x", strings.ToUpper(signed("s3cret", Play, "live", "x", exp)), true, false, ""},
		{"within the clock skew", Play, "x", signed("s3cret", Play, "live", "x", now.Unix()-29), true, false, ""},
		{"expired by 31 s", Play, "x", signed("s3cret", Play, "live", "x", now.Unix()-31), false, true, ReasonExpired},
		{"forged", Play, "x", fmt.Sprintf("expires=%d&sign=%s", exp, strings.Repeat("0", 64)), false, false, ReasonBadSignature},
		{"other secret", Play, "x", signed("other", Play, "live", "x", exp), false, false, ReasonBadSignature},
		{"signed for another stream", Play, "y", signed("s3cret", Play, "live", "x", exp), false, false, ReasonBadSignature},
		{"signed for play, used to publish", Publish, "x", signed("s3cret", Play, "live", "x", exp), false, false, ReasonBadSignature},
		{"expires changed", Play, "x", fmt.Sprintf("expires=%d&sign=%s", exp+3600, sign("s3cret", Play, "live", "x", exp)), false, false, ReasonBadSignature},
		{"no signature: play allowed by default", Play, "x", "", true, false, ""},
		{"no signature: publish denied by default", Publish, "x", "", false, true, ReasonDefault},
		{"expires without sign", Play, "x", fmt.Sprintf("expires=%d", exp), false, true, ReasonNoSignature},
	} {
		d := a.Check(Request{Action: tc.action, App: "live", Stream: tc.stream, Query: tc.query, Now: now})
		require.Equal(t, tc.allow, d.Allow, tc.name)
		require.Equal(t, tc.reason, d.Reason, tc.name)
		require.Equal(t, tc.unauth, d.Unauthenticated, tc.name)
	}
	require.Equal(t, sign("k", Play, "a", "b", 7), Signature("k", Play, "a", "b", 7))
}

func TestStreamKeysAndDefaults(t *testing.T) {
	a := mustNew(t, Config{
		Keys: map[string]string{"live/mystream": "SECRET", "team/*": "TEAMKEY"},
		Apps: map[string]App{
			"live": {Publish: []Rule{{Rule: RuleKey}}},
			"team": {Publish: []Rule{{Rule: RuleKey}}},
		},
	})
	check := func(action, app, stream, query string) Decision {
		return a.Check(Request{Action: action, App: app, Stream: stream, Query: query, Now: now})
	}
	require.True(t, check(Publish, "live", "mystream", "key=SECRET").Allow)
	require.Equal(t, ReasonBadKey, check(Publish, "live", "mystream", "key=WRONG").Reason)
	require.Equal(t, ReasonDefault, check(Publish, "live", "mystream", "").Reason, "missing key")
	require.Equal(t, ReasonBadKey, check(Publish, "live", "other", "key=SECRET").Reason, "a stream's key is for that stream")
	require.True(t, check(Publish, "team", "anything", "key=TEAMKEY").Allow, "per-app key")
	require.True(t, check(Play, "live", "mystream", "").Allow, "play: allow by default")
	require.True(t, check(Publish, "open", "x", "").Allow, "an app without rules is open")

	// play: [sign, deny] plays signed URLs only; publish: [key, sign]
	// takes either credential.
	b := mustNew(t, Config{Secret: "s", Keys: map[string]string{"live/x": "K"}, Apps: map[string]App{
		"live": {Publish: []Rule{{Rule: RuleKey}, {Rule: RuleSign}}, Play: []Rule{{Rule: RuleSign}, {Rule: RuleDeny}}},
	}})
	bcheck := func(action, query string) Decision {
		return b.Check(Request{Action: action, App: "live", Stream: "x", Query: query, Now: now})
	}
	require.Equal(t, ReasonDenyRule, bcheck(Play, "").Reason)
	require.True(t, bcheck(Play, signed("s", Play, "live", "x", now.Unix()+9)).Allow)
	require.True(t, bcheck(Publish, "key=K").Allow)
	require.True(t, bcheck(Publish, signed("s", Publish, "live", "x", now.Unix()+9)).Allow)
	require.False(t, bcheck(Publish, "").Allow)

	keys, err := LoadKeys("# keys\nlive/a KA\n\nlive/* KALL\n")
	require.NoError(t, err)
	require.Equal(t, map[string]string{"live/a": "KA", "live/*": "KALL"}, keys)
	_, err = LoadKeys("live/a\n")
	require.Error(t, err)
}

func TestIPRulesAndOrder(t *testing.T) {
	a := mustNew(t, Config{Secret: "s", Apps: map[string]App{
		"*": {Play: []Rule{
			{Rule: RuleIP, Deny: []string{"203.0.113.0/24"}, Allow: []string{"10.0.0.0/8", "192.0.2.7"}},
			{Rule: RuleSign},
		}},
	}})
	ip := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	play := func(addr, query string) Decision {
		return a.Check(Request{Action: Play, App: "any", Stream: "x", Query: query, IP: ip(addr), Now: now})
	}
	require.True(t, play("10.1.2.3", "").Allow)
	require.True(t, play("192.0.2.7", "").Allow)
	require.True(t, play("::ffff:10.1.2.3", "").Allow, "IPv4-mapped addresses match IPv4 rules")
	d := play("203.0.113.9", signed("s", Play, "any", "x", now.Unix()+60))
	require.Equal(t, ReasonIP, d.Reason, "the first rule that decides wins: denied before the valid signature")
	require.Equal(t, ReasonBadSignature, play("198.51.100.1", "expires=1&sign=00").Reason, "no IP decision: the next rule")

	_, err := New(Config{Apps: map[string]App{"live": {Play: []Rule{{Rule: RuleIP, Allow: []string{"nonsense"}}}}}})
	require.Error(t, err)
	_, err = New(Config{Apps: map[string]App{"live": {Play: []Rule{{Rule: "magic"}}}}})
	require.Error(t, err)
	_, err = New(Config{Apps: map[string]App{"live": {Play: []Rule{{Rule: RuleSign}}}}})
	require.ErrorContains(t, err, "auth.secret", "a sign rule needs a secret")
	var none *Authorizer
	require.True(t, none.Check(Request{Action: Publish}).Allow, "no authorizer: allowed")
}

func TestAdmitCountsAndSlowsDownFailures(t *testing.T) {
	a := mustNew(t, Config{Keys: map[string]string{"live/x": "K"}, Apps: map[string]App{"live": {Publish: []Rule{{Rule: RuleKey}}}},
		Backoff: DefaultBackoff})
	ip := netip.MustParseAddr("198.51.100.1")
	req := Request{Action: Publish, App: "live", Stream: "x", Query: "key=bad", IP: ip}
	require.False(t, a.Admit(context.Background(), req).Allow)
	require.Zero(t, a.Backoff.Delay(ip, time.Now()), "one failure costs nothing")
	require.False(t, a.Admit(context.Background(), req).Allow)
	d1 := a.Backoff.Delay(ip, time.Now())
	require.Positive(t, d1)
	a.Backoff.Fail(ip, time.Now())
	require.Greater(t, a.Backoff.Delay(ip, time.Now()), d1, "each failure doubles the wait")
	require.LessOrEqual(t, a.Backoff.Delay(ip, time.Now().Add(time.Second)), backoffMax)
	require.Zero(t, a.Backoff.Delay(ip, time.Now().Add(2*backoffForget)), "forgotten after a quiet minute")
	require.Equal(t, uint64(2), a.Denied()["publish/bad_key"])

	// A client that goes away stops waiting.
	for range 5 {
		a.Backoff.Fail(ip, time.Now())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	require.False(t, a.Admit(ctx, req).Allow)
	require.Less(t, time.Since(start), time.Second)

	// Bounded memory: a flood of addresses keeps the newest.
	b := NewBackoff(100, DefaultBackoff)
	for i := range 1000 {
		b.Fail(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), time.Now())
	}
	require.Equal(t, 100, b.Len())
	b.SetBase(0)
	require.Zero(t, b.Delay(netip.AddrFrom4([4]byte{10, 0, 3, 231}), time.Now()), "off")
}

func TestRedact(t *testing.T) {
	require.Equal(t, "", Redact(""))
	r := Redact("key=SECRET&role=backup&sign=abc&expires=1")
	require.NotContains(t, r, "SECRET")
	require.NotContains(t, r, "abc")
	require.Contains(t, r, "role=backup")
	require.Equal(t, "rtmp://h/live?key=REDACTED", RedactURL("rtmp://h/live?key=SECRET"))
	require.Equal(t, "rtmp://h/live", RedactURL("rtmp://h/live"))
}

// FuzzCheck: whatever the query, name and address, Check decides without
// panicking, and allows a signature only if it is the right one.
func FuzzCheck(f *testing.F) {
	a, err := New(Config{Secret: "s", Keys: map[string]string{"live/x": "K"}, Apps: map[string]App{
		"live": {Publish: []Rule{{Rule: RuleKey}, {Rule: RuleSign}}, Play: []Rule{{Rule: RuleIP, Deny: []string{"10.0.0.0/8"}}, {Rule: RuleSign}}},
	}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("live", "x", "key=K", []byte{10, 0, 0, 1}, false)
	f.Add("live", "x", signed("s", Play, "live", "x", now.Unix()+5), []byte{1, 2, 3, 4}, true)
	f.Add("live", "x", "expires=-1&sign=%zz&key=%", []byte{}, true)
	f.Fuzz(func(t *testing.T, app, stream, query string, ip []byte, play bool) {
		action := Publish
		if play {
			action = Play
		}
		addr, _ := netip.AddrFromSlice(ip)
		d := a.Check(Request{Action: action, App: app, Stream: stream, Query: query, IP: addr, Now: now})
		if !d.Allow || app != "live" {
			return
		}
		// Allowed on app live: by the right key (publish), or by a
		// signature that is right and not expired, or (play) by default.
		q, _ := url.ParseQuery(query)
		exp, err := strconv.ParseInt(q.Get("expires"), 10, 64)
		goodSign := err == nil && ValidSignature("s", action, app, stream, exp, q.Get("sign")) &&
			now.Sub(time.Unix(exp, 0)) <= DefaultClockSkew
		switch {
		case action == Publish:
			if !(stream == "x" && q.Get("key") == "K") && !goodSign {
				t.Fatalf("publish allowed without the key or a good signature: %q", query)
			}
		case q.Get("sign") != "" || q.Get("expires") != "":
			if !goodSign {
				t.Fatalf("play allowed with a bad signature: %q", query)
			}
		}
		_ = Redact(query)
	})
}
