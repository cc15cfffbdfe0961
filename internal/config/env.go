package config

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/headwater-media/headwater/internal/relay"
)

// EnvPrefix starts every environment variable that overrides a key.
const EnvPrefix = "HEADWATER_"

// field is one leaf key of Config: its YAML path ("limits.max_streams")
// and its environment variable ("HEADWATER_LIMITS_MAX_STREAMS").
type field struct {
	Key string
	Env string
	idx []int
}

// fields walks Config's yaml tags; every leaf is a key.
func fields() []field {
	var out []field
	var walk func(t reflect.Type, prefix string, idx []int)
	walk = func(t reflect.Type, prefix string, idx []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			key := name
			if prefix != "" {
				key = prefix + "." + name
			}
			at := append(append([]int(nil), idx...), i)
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Duration(0)) {
				walk(f.Type, key, at)
				continue
			}
			out = append(out, field{Key: key, Env: EnvName(key), idx: at})
		}
	}
	walk(reflect.TypeOf(Config{}), "", nil)
	return out
}

// EnvName is the environment variable of a key: "play.merge_ms" is
// HEADWATER_PLAY_MERGE_MS.
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// Keys returns every key of Config as its YAML path, in struct order.
func Keys() []string {
	var keys []string
	for _, f := range fields() {
		keys = append(keys, f.Key)
	}
	return keys
}

// ApplyEnv sets the keys named by HEADWATER_* variables in environ
// ("NAME=value" strings, as os.Environ returns). A HEADWATER_* variable
// that names no key, or a value that does not parse, is an error naming
// the variable. It does not Validate.
func (c *Config) ApplyEnv(environ []string) error {
	byEnv := map[string]field{}
	for _, f := range fields() {
		byEnv[f.Env] = f
	}
	var errs []error
	sort.Strings(environ)
	for _, kv := range environ {
		name, val, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		f, ok := byEnv[name]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: unknown variable (no such config key)", name))
			continue
		}
		if err := setValue(reflect.ValueOf(c).Elem().FieldByIndex(f.idx), val); err != nil {
			errs = append(errs, fmt.Errorf("%s (%s): %w", name, f.Key, err))
		}
	}
	return errors.Join(errs...)
}

func setValue(v reflect.Value, s string) error {
	if v.Type() == reflect.TypeOf(time.Duration(0)) {
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("not a duration (e.g. 10s, 500ms): %q", s)
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("not a boolean (true or false): %q", s)
		}
		v.SetBool(b)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("cannot be set from the environment (type %s)", v.Type())
		}
		list := []string{}
		for _, item := range strings.Split(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				list = append(list, item)
			}
		}
		v.Set(reflect.ValueOf(list))
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("not an integer: %q", s)
		}
		v.SetInt(n)
	case reflect.Uint32:
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return fmt.Errorf("not an integer in [0, 4294967295]: %q", s)
		}
		v.SetUint(n)
	default:
		return fmt.Errorf("cannot be set from the environment (type %s)", v.Type())
	}
	return nil
}

// Redacted is what Marshal prints instead of a set api.token.
const Redacted = "<redacted>"

// Marshal renders c as YAML, with the secrets (api.token, auth.secret,
// auth.keys, relay.streams' stream keys) replaced by Redacted if set.
func (c Config) Marshal() ([]byte, error) {
	if c.API.Token != "" {
		c.API.Token = Redacted
	}
	if c.Auth.Secret != "" {
		c.Auth.Secret = Redacted
	}
	c.Cluster.Redis, c.Edge.Directory = redactURL(c.Cluster.Redis), redactURL(c.Edge.Directory)
	if len(c.Relay.Streams) > 0 {
		streams := make(map[string]relay.Override, len(c.Relay.Streams))
		for k, o := range c.Relay.Streams {
			if o.StreamKey != "" {
				o.StreamKey = Redacted
			}
			streams[k] = o
		}
		c.Relay.Streams = streams
	}
	if len(c.Auth.Keys) > 0 {
		keys := make(map[string]string, len(c.Auth.Keys))
		for k := range c.Auth.Keys {
			keys[k] = Redacted
		}
		c.Auth.Keys = keys
	}
	return yaml.Marshal(c)
}

// redactURL hides a URL's password ("<redacted>" in its place).
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), Redacted)
	}
	return u.String()
}

// reloadable are the keys a running server applies on SIGHUP; every other
// key takes a restart.
var reloadable = map[string]bool{
	"log.level":                     true,
	"limits.max_streams":            true,
	"limits.max_players_per_stream": true,
	"limits.max_conns_per_ip":       true,
	"limits.max_publish_bitrate":    true,
	"rtmp.max_conns":                true,
	"http.max_conns":                true,
	"api.token":                     true,
	"auth.secret":                   true,
	"auth.clock_skew":               true,
	"auth.keys_file":                true,
	"auth.keys":                     true,
	"auth.apps":                     true,
	"auth.backoff":                  true,
	"hooks.on_publish":              true,
	"hooks.on_play":                 true,
	"hooks.on_unpublish":            true,
	"hooks.on_stop":                 true,
	"hooks.on_record_done":          true,
	"hooks.timeout":                 true,
	"hooks.fail_open":               true,
	"tls.cert_file":                 true,
	"tls.key_file":                  true,
	"relay.push":                    true,
	"relay.streams":                 true,
}

// Reloadable reports whether key is applied on SIGHUP without a restart.
func Reloadable(key string) bool { return reloadable[key] }

// Changed lists the keys whose values differ between old and c, in
// struct order, split into those a reload applies and those that need a
// restart.
func (c Config) Changed(old Config) (reload, restart []string) {
	nv, ov := reflect.ValueOf(c), reflect.ValueOf(old)
	for _, f := range fields() {
		if reflect.DeepEqual(nv.FieldByIndex(f.idx).Interface(), ov.FieldByIndex(f.idx).Interface()) {
			continue
		}
		if reloadable[f.Key] {
			reload = append(reload, f.Key)
		} else {
			restart = append(restart, f.Key)
		}
	}
	return reload, restart
}

// Reloaded returns c with the reloadable keys taken from next: the config
// a running server has after applying next on SIGHUP.
func (c Config) Reloaded(next Config) Config {
	out := c
	ov, nv := reflect.ValueOf(&out).Elem(), reflect.ValueOf(next)
	for _, f := range fields() {
		if reloadable[f.Key] {
			ov.FieldByIndex(f.idx).Set(nv.FieldByIndex(f.idx))
		}
	}
	return out
}
