// Package auth decides who may publish and play: per app, an ordered list
// of rules for each action, the first rule that decides wins, and an
// app's default when none does (publish: deny once the app has any
// publish rule, otherwise allow; play: allow).
//
// Rules that decide at once, with no I/O: stream keys (?key=, compared in
// constant time), signed URLs (?expires=&sign=, HMAC-SHA256), IP rules
// (CIDR allow and deny lists), and allow and deny, which always decide. A
// key or sign rule has no opinion on a request without its credential, so
// that rules combine: publish: [key, sign] takes either; play: [sign,
// deny] takes only signed URLs. A client IP that keeps failing is slowed
// down (Backoff). Nothing here logs a query: Redact strips the secrets
// from anything that is logged.
//
// The sinks and the RTMP server call Check before they take a handle;
// a rule that can block (an HTTP hook) runs after the handle is taken, so
// that a stream can never be freed while it runs.
package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/headwater-media/headwater/internal/clientip"
)

// Actions.
const (
	Publish = "publish"
	Play    = "play"
)

// Rule kinds, as written in the config.
const (
	RuleKey   = "key"
	RuleSign  = "sign"
	RuleIP    = "ip"
	RuleAllow = "allow" // always allows: ends a list that denies only some
	RuleDeny  = "deny"  // always denies: e.g. play: [sign, deny] plays signed URLs only
)

// Reasons a request is denied, as logged and as the metric's reason label.
const (
	ReasonNoKey        = "no_key"
	ReasonBadKey       = "bad_key"
	ReasonNoSignature  = "no_signature"
	ReasonExpired      = "expired"
	ReasonBadSignature = "bad_signature"
	ReasonIP           = "ip_denied"
	ReasonDefault      = "default_deny"
	ReasonDenyRule     = "deny_rule"
)

// Rule is one rule of an action's list.
type Rule struct {
	// Rule is RuleKey, RuleSign or RuleIP.
	Rule string `yaml:"rule"`
	// Allow and Deny are CIDRs (or addresses) for RuleIP: an address in
	// Deny is denied, then one in Allow is allowed; any other, no
	// decision.
	Allow []string `yaml:"allow,omitempty"`
	Deny  []string `yaml:"deny,omitempty"`
}

// App is one app's rules.
type App struct {
	Publish []Rule `yaml:"publish,omitempty"`
	Play    []Rule `yaml:"play,omitempty"`
}

// Config is the auth configuration.
type Config struct {
	// Secret is the HMAC key of signed URLs.
	Secret string
	// ClockSkew is how long after its expiry a signature is still good.
	ClockSkew time.Duration
	// Keys maps "app/stream" (or "app/*" for every stream of the app) to
	// its stream key.
	Keys map[string]string
	// Apps maps an app name (or "*" for any app without its own entry) to
	// its rules.
	Apps map[string]App
	// Backoff is the wait of a client IP's second failure in a row,
	// doubling with each further one (up to 5 s); 0 turns it off.
	Backoff time.Duration
}

// DefaultClockSkew is auth.clock_skew's default.
const DefaultClockSkew = 30 * time.Second

// Request is what is asked.
type Request struct {
	Action string // Publish or Play
	App    string
	Stream string
	Query  string // the request's query, without '?'
	IP     netip.Addr
	Now    time.Time
}

// Decision is the answer.
type Decision struct {
	Allow bool
	// Reason is why it was denied (a Reason* constant); empty when allowed.
	Reason string
	// Unauthenticated: a credential was missing or expired (HTTP 401),
	// rather than wrong or not allowed (403).
	Unauthenticated bool
	// Default: no rule decided; Allow is the app's default. A deciding
	// hook (Hooks.Has) decides then.
	Default bool
}

// compiled is a Config made ready: parsed prefixes, and which apps have
// publish rules.
type compiled struct {
	cfg  Config
	apps map[string]compiledApp
}

type compiledApp struct {
	rules map[string][]compiledRule // by action
}

type compiledRule struct {
	kind  string
	allow []netip.Prefix
	deny  []netip.Prefix
}

// Authorizer checks requests against a Config that SetConfig may replace
// at any time (SIGHUP). Safe for concurrent use.
type Authorizer struct {
	cur atomic.Pointer[compiled]
	// Backoff slows down client IPs that keep failing (Admit).
	Backoff *Backoff
	denied  Counter
}

// New returns an authorizer for cfg, or an error naming a bad rule.
func New(cfg Config) (*Authorizer, error) {
	a := &Authorizer{Backoff: NewBackoff(DefaultBackoffEntries, cfg.Backoff)}
	if err := a.SetConfig(cfg); err != nil {
		return nil, err
	}
	return a, nil
}

// Validate checks cfg without making an authorizer.
func Validate(cfg Config) error {
	_, err := compile(cfg)
	return err
}

// SetConfig replaces the configuration; on error the old one stays.
func (a *Authorizer) SetConfig(cfg Config) error {
	c, err := compile(cfg)
	if err != nil {
		return err
	}
	a.cur.Store(c)
	a.Backoff.SetBase(cfg.Backoff)
	return nil
}

// Enabled reports whether any rule exists (without rules everything is
// allowed, as before auth existed).
func (a *Authorizer) Enabled() bool {
	return a != nil && len(a.cur.Load().apps) > 0
}

func compile(cfg Config) (*compiled, error) {
	if cfg.ClockSkew <= 0 {
		cfg.ClockSkew = DefaultClockSkew
	}
	c := &compiled{cfg: cfg, apps: make(map[string]compiledApp, len(cfg.Apps))}
	var errs []error
	for name, app := range cfg.Apps {
		ca := compiledApp{rules: map[string][]compiledRule{}}
		for action, rules := range map[string][]Rule{Publish: app.Publish, Play: app.Play} {
			for i, r := range rules {
				cr := compiledRule{kind: r.Rule}
				switch r.Rule {
				case RuleKey, RuleSign, RuleAllow, RuleDeny:
					if r.Rule == RuleSign && cfg.Secret == "" {
						errs = append(errs, fmt.Errorf("auth.apps.%s.%s[%d]: a sign rule needs auth.secret", name, action, i))
					}
				case RuleIP:
					var err error
					if cr.allow, err = clientip.ParsePrefixes(r.Allow); err == nil {
						cr.deny, err = clientip.ParsePrefixes(r.Deny)
					}
					if err != nil {
						errs = append(errs, fmt.Errorf("auth.apps.%s.%s[%d]: %w", name, action, i, err))
					}
				default:
					errs = append(errs, fmt.Errorf("auth.apps.%s.%s[%d]: unknown rule %q (want %s, %s, %s, %s or %s)", name, action, i, r.Rule, RuleKey, RuleSign, RuleIP, RuleAllow, RuleDeny))
				}
				ca.rules[action] = append(ca.rules[action], cr)
			}
		}
		c.apps[name] = ca
	}
	return c, errors.Join(errs...)
}

// Check decides req. It never blocks.
func (a *Authorizer) Check(req Request) Decision {
	if a == nil {
		return Decision{Allow: true, Default: true}
	}
	c := a.cur.Load()
	app, ok := c.apps[req.App]
	if !ok {
		app, ok = c.apps["*"]
	}
	if !ok {
		return Decision{Allow: true, Default: true}
	}
	if req.Now.IsZero() {
		req.Now = time.Now()
	}
	q, _ := url.ParseQuery(req.Query)
	rules := app.rules[req.Action]
	for _, r := range rules {
		if d, decided := c.decide(r, req, q); decided {
			return d
		}
	}
	if req.Action == Publish && len(rules) > 0 {
		return Decision{Reason: ReasonDefault, Unauthenticated: true, Default: true}
	}
	return Decision{Allow: true, Default: true}
}

// decide applies one rule; decided is false when it has no opinion.
func (c *compiled) decide(r compiledRule, req Request, q url.Values) (d Decision, decided bool) {
	switch r.kind {
	case RuleKey:
		got := q.Get("key")
		if got == "" {
			return Decision{}, false
		}
		want, ok := c.cfg.Keys[req.App+"/"+req.Stream]
		if !ok {
			want, ok = c.cfg.Keys[req.App+"/*"]
		}
		if ok && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1 {
			return Decision{Allow: true}, true
		}
		return Decision{Reason: ReasonBadKey}, true
	case RuleSign:
		sig, exp := q.Get("sign"), q.Get("expires")
		if sig == "" && exp == "" {
			return Decision{}, false
		}
		expires, err := strconv.ParseInt(exp, 10, 64)
		if sig == "" || err != nil {
			return Decision{Reason: ReasonNoSignature, Unauthenticated: true}, true
		}
		if !ValidSignature(c.cfg.Secret, req.Action, req.App, req.Stream, expires, sig) {
			return Decision{Reason: ReasonBadSignature}, true
		}
		if req.Now.Sub(time.Unix(expires, 0)) > c.cfg.ClockSkew {
			return Decision{Reason: ReasonExpired, Unauthenticated: true}, true
		}
		return Decision{Allow: true}, true
	case RuleAllow:
		return Decision{Allow: true}, true
	case RuleDeny:
		return Decision{Reason: ReasonDenyRule, Unauthenticated: true}, true
	case RuleIP:
		ip := req.IP.Unmap()
		for _, p := range r.deny {
			if p.Contains(ip) {
				return Decision{Reason: ReasonIP}, true
			}
		}
		for _, p := range r.allow {
			if p.Contains(ip) {
				return Decision{Allow: true}, true
			}
		}
	}
	return Decision{}, false
}

// Signature is the hex HMAC-SHA256, under secret, of
// ACTION ":" "/" app "/" stream ":" expires.
func Signature(secret, action, app, stream string, expires int64) string {
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "%s:/%s/%s:%d", action, app, stream, expires)
	return hex.EncodeToString(m.Sum(nil))
}

// ValidSignature compares sig with Signature in constant time.
func ValidSignature(secret, action, app, stream string, expires int64, sig string) bool {
	want := Signature(secret, action, app, stream, expires)
	return hmac.Equal([]byte(strings.ToLower(sig)), []byte(want))
}

// SignedQuery is the query that signs action on app/stream until expires.
func SignedQuery(secret, action, app, stream string, expires int64) string {
	return url.Values{
		"expires": {strconv.FormatInt(expires, 10)},
		"sign":    {Signature(secret, action, app, stream, expires)},
	}.Encode()
}

// secretParams are the query parameters Redact removes.
var secretParams = []string{"key", "sign", "expires", "token"}

// Redact returns query (without '?') with every credential's value
// replaced by "REDACTED", for logs and the API.
func Redact(query string) string {
	if query == "" {
		return ""
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return "REDACTED"
	}
	for _, p := range secretParams {
		if _, ok := q[p]; ok {
			q[p] = []string{"REDACTED"}
		}
	}
	return q.Encode()
}

// RedactURL strips credentials from a URL string (an RTMP tcUrl, say).
func RedactURL(s string) string {
	base, query, ok := strings.Cut(s, "?")
	if !ok {
		return s
	}
	return base + "?" + Redact(query)
}

// allReasons lists every Reason*, in the metric's order.
var allReasons = []string{ReasonNoKey, ReasonBadKey, ReasonNoSignature, ReasonExpired, ReasonBadSignature, ReasonIP, ReasonDefault, ReasonDenyRule, ReasonHook}

// Counter counts denials by action and reason (atomics).
type Counter struct {
	n [2][9]atomic.Uint64
}

func actionIndex(action string) int {
	if action == Play {
		return 1
	}
	return 0
}

// Add counts one denial.
func (c *Counter) Add(action, reason string) {
	for i, r := range allReasons {
		if r == reason {
			c.n[actionIndex(action)][i].Add(1)
			return
		}
	}
}

// Counts returns the denials as "action/reason" → count, every pair
// included.
func (c *Counter) Counts() map[string]uint64 {
	out := make(map[string]uint64, 2*len(allReasons))
	for ai, action := range []string{Publish, Play} {
		for ri, r := range allReasons {
			out[action+"/"+r] = c.n[ai][ri].Load()
		}
	}
	return out
}

// LoadKeys reads a keys file: one "app/stream KEY" (or "app/* KEY") a
// line; blank lines and lines starting with '#' are skipped.
func LoadKeys(text string) (map[string]string, error) {
	keys := map[string]string{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 || !strings.Contains(f[0], "/") {
			return nil, fmt.Errorf("keys file line %d: want \"app/stream KEY\" or \"app/* KEY\"", i+1)
		}
		keys[f[0]] = f[1]
	}
	return keys, nil
}

// Denied counts the denials of Admit since New.
func (a *Authorizer) Denied() map[string]uint64 { return a.denied.Counts() }

// Admit is Check with the brute-force backoff: it first waits out the
// delay the client IP has earned by failing (bounded by ctx: a client
// that goes away stops waiting), then checks, and on denial counts it and
// records the failure. It never waits without a failure before.
func (a *Authorizer) Admit(ctx context.Context, req Request) Decision {
	if !a.Enabled() {
		return Decision{Allow: true, Default: true}
	}
	if !a.Backoff.Wait(ctx, req.IP) {
		return Decision{Reason: "client gone"}
	}
	d := a.Check(req)
	if !d.Allow && !d.Default {
		a.Fail(req, d.Reason)
	}
	return d
}

// Fail counts a denial of req (a rule's, a default's or a hook's) and
// records the client IP's failure for the brake.
func (a *Authorizer) Fail(req Request, reason string) {
	if a == nil {
		return
	}
	a.denied.Add(req.Action, reason)
	a.Backoff.Fail(req.IP, time.Now())
}

// Gate is the whole decision before a session's hook: it reports whether
// the session may go on to take its handle, and whether a deciding hook
// must then be asked (the rules allowed, or did not decide and a hook is
// set). A rule's denial, or a default denial without a hook, is counted
// here.
func (a *Authorizer) Gate(ctx context.Context, hooks *Hooks, req Request) (d Decision, askHook bool) {
	d = a.Admit(ctx, req)
	hooked := hooks.Has(req.Action)
	switch {
	case d.Allow:
		return d, hooked
	case d.Default && hooked:
		return Decision{Allow: true}, true
	case d.Default:
		a.Fail(req, d.Reason)
	}
	return d, false
}
