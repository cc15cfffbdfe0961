package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/headwater-media/headwater/internal/auth"
	"github.com/headwater-media/headwater/internal/config"
	"github.com/headwater-media/headwater/internal/registry"
)

// signCmd is `headwater sign`: it prints a signed path for the signed-URL
// rule (docs/security.md). The secret comes from an environment variable
// (HEADWATER_AUTH_SECRET unless -secret-env names another) or, with
// -config, from the file's auth.secret: never from the command line,
// where other users of the machine could read it.
func signCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("headwater sign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		action    = fs.String("action", auth.Play, "`action` to sign: play or publish")
		app       = fs.String("app", "live", "`app` of the stream")
		name      = fs.String("stream", "", "`stream` name (required)")
		ttl       = fs.Duration("ttl", time.Hour, "how long the signature is good for")
		secretEnv = fs.String("secret-env", config.EnvName("auth.secret"), "environment `variable` that holds the secret")
		cfgFile   = fs.String("config", "", "YAML config `file` whose auth.secret to use when the variable is unset")
	)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: headwater sign -action play|publish -app APP -stream NAME [-ttl 1h] [-secret-env NAME] [-config FILE]\n\n"+
			"Prints a signed path: /APP/NAME.flv?expires=...&sign=... for play (HTTP-FLV; the same query\n"+
			"works on rtmp://HOST/APP/NAME?...), APP/NAME?expires=...&sign=... for publish (the RTMP\n"+
			"stream key NAME?expires=...&sign=... on the server rtmp://HOST/APP).\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if *action != auth.Play && *action != auth.Publish {
		fmt.Fprintf(stderr, "headwater sign: -action must be play or publish, got %q\n", *action)
		return 2
	}
	if _, err := registry.NewKey(*app, *name); err != nil {
		fmt.Fprintf(stderr, "headwater sign: -app %q -stream %q: %v\n", *app, *name, err)
		return 2
	}
	if *ttl <= 0 {
		fmt.Fprintln(stderr, "headwater sign: -ttl must be > 0")
		return 2
	}
	secret := os.Getenv(*secretEnv)
	if secret == "" && *cfgFile != "" {
		cfg, err := config.Read(*cfgFile)
		if err != nil {
			fmt.Fprintf(stderr, "headwater sign: %v\n", err)
			return 2
		}
		secret = cfg.Auth.Secret
	}
	if secret == "" {
		fmt.Fprintf(stderr, "headwater sign: no secret: set %s (or give -config with auth.secret)\n", *secretEnv)
		return 2
	}
	expires := time.Now().Add(*ttl).Unix()
	q := auth.SignedQuery(secret, *action, *app, *name, expires)
	if *action == auth.Play {
		fmt.Fprintf(stdout, "/%s/%s.flv?%s\n", *app, *name, q)
	} else {
		fmt.Fprintf(stdout, "%s/%s?%s\n", *app, *name, q)
	}
	return 0
}
