// Command headwater is a live-streaming origin: RTMP in, HTTP-FLV out.
//
// Usage:
//
//	headwater [flags]
//
// With no flags it serves RTMP on :1935 and HTTP on :8080. HEADWATER_*
// environment variables override the optional YAML config file and flags
// override both; run with -h for the list, see docs/config.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/headwater-media/headwater/internal/config"
	"github.com/headwater-media/headwater/internal/server"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "sign" {
		return signCmd(args[1:], stdout, stderr)
	}
	cfg, opts, code := parse(args, stdout, stderr)
	if code >= 0 {
		return code
	}
	if opts.showVersion {
		fmt.Fprintln(stdout, "headwater", version)
		return 0
	}
	log := newLogger(cfg.Log, stderr)
	var prof *http.Server
	if opts.pprofAddr != "" {
		var err error
		if prof, err = startPprof(opts.pprofAddr); err != nil {
			log.Error().Err(err).Msg("cannot start pprof listener")
			return 1
		}
		log.Warn().Str("addr", opts.pprofAddr).Msg("pprof listening: profiling data and goroutine stacks are open to whoever reaches it")
		defer prof.Close()
	}
	// Signals are subscribed before the server starts, so an early SIGHUP
	// cannot take the runtime's default action (exit). SIGHUP has its own
	// channel: SIGHUPs arriving during a reload merge into one, and a
	// SIGTERM is never dropped behind them.
	hup := make(chan os.Signal, 1)
	term := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	signal.Notify(term, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(term)
	srv := server.New(cfg, log, server.WithVersion(version))
	if err := srv.Start(); err != nil {
		signal.Stop(hup)
		log.Error().Err(err).Msg("cannot start")
		return 1
	}
	var sig os.Signal
	for sig == nil {
		select {
		case sig = <-term:
		case <-hup:
			cfg = reload(cfg, opts.load, srv, log)
		}
	}
	// A SIGHUP during the drain (logrotate, say) must not kill the process,
	// so hup stays subscribed until the process exits and nobody reads it:
	// the runtime drops what does not fit. Stopping it first and ignoring
	// SIGHUP after left a window where a SIGHUP still in flight from before
	// the SIGTERM met the runtime's default action (exit by SIGHUP; found
	// by CI).
	log.Info().Str("signal", sig.String()).Msg("shutting down")
	ctx, cancel := context.WithTimeout(context.Background(), 4500*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Warn().Err(err).Msg("shutdown incomplete")
	}
	log.Info().Msg("bye")
	return 0
}

// reload builds the config again (file, environment, flags) and applies
// what can change without a restart (config.Reloadable); an invalid config
// is logged and changes nothing. It returns the config now in effect:
// cur with the applied keys replaced.
func reload(cur config.Config, load func() (config.Config, error), srv *server.Server, log zerolog.Logger) config.Config {
	next, err := load()
	if err != nil {
		log.Error().Err(err).Msg("SIGHUP: config not reloaded, keeping the running config")
		return cur
	}
	applied, restart := next.Changed(cur)
	// The keys that need a restart keep their running values, so that they
	// are reported again on the next SIGHUP until the restart.
	eff := cur.Reloaded(next)
	zerolog.SetGlobalLevel(level(eff.Log.Level))
	srv.Reload(eff)
	log.Info().Strs("applied", nonNil(applied)).Msg("SIGHUP: config reloaded")
	if len(restart) > 0 {
		log.Warn().Strs("not_reloaded", restart).Msg("SIGHUP: changed keys need a restart; still running with the old values")
	}
	return eff
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// options are the flags that are not configuration.
type options struct {
	showVersion bool
	pprofAddr   string // "" = no profiling listener
	// load builds the config again: defaults, file, environment, flags,
	// then Validate (for SIGHUP).
	load func() (config.Config, error)
}

// startPprof serves net/http/pprof on its own listener at addr, apart from
// the player and API listener, until the returned server is closed.
func startPprof(addr string) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }() // ends when run closes srv
	return srv, nil
}

// parse reads flags, the config file and HEADWATER_* variables (file <
// environment < flags). code is -1 to go on, otherwise the exit code: 0
// after -h or -print-config, 2 for bad flags or a bad config.
func parse(args []string, stdout, stderr io.Writer) (cfg config.Config, opts options, code int) {
	fs := flag.NewFlagSet("headwater", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := config.Default()
	var (
		configFile  = fs.String("config", "", "YAML config `file`; flags override it")
		rtmpAddr    = fs.String("rtmp-addr", def.RTMP.Addr, "RTMP listen `address`")
		httpAddr    = fs.String("http-addr", def.HTTP.Addr, "HTTP listen `address` (HTTP-FLV, API, metrics)")
		logLevel    = fs.String("log-level", def.Log.Level, "log `level`: trace, debug, info, warn, error")
		logFormat   = fs.String("log-format", def.Log.Format, "log `format`: console or json")
		version     = fs.Bool("version", false, "print the version and exit")
		printConfig = fs.Bool("print-config", false, "print the effective config (defaults, file, HEADWATER_* environment, flags) as YAML and exit;\napi.token is printed as \"<redacted>\"")
		origin      = fs.String("origin", "", "run as an edge of the `origins`, tried in order: URL[,URL...],\nhttp://host:port (HTTP-FLV) or rtmp://host:port (RTMP play); config edge.origins")
		pprofAddr   = fs.String("pprof-addr", "", "serve net/http/pprof (/debug/pprof/) on this `address`, e.g. 127.0.0.1:6060;\noff by default; keep it on loopback: it exposes goroutine stacks and profiles")
	)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "headwater %s: live-streaming origin or edge, RTMP in, HTTP-FLV, WebSocket-FLV, RTMP and HLS out\n\n", versionString())
		fmt.Fprintf(fs.Output(), "Usage: headwater [flags]   (--flag works as well as -flag)\n\n")
		fs.PrintDefaults()
		fmt.Fprintf(fs.Output(), "\nPublish: rtmp://HOST:1935/{app}/{stream}   Play: http://HOST:8080/{app}/{stream}.flv or rtmp://HOST:1935/{app}/{stream}\n"+
			"HLS (iPhone, smart TVs): http://HOST:8080/{app}/{stream}/index.m3u8 (hls.* keys: docs/config.md)\n"+
			"Sign a URL for the signed-URL rule: headwater sign -action play -app live -stream x -ttl 1h (headwater sign -h)\n"+
			"Push streams to other RTMP servers: relay.push in the config file (docs/relay.md)\n"+
			"Record every stream: HEADWATER_RECORD_ENABLED=true (files in ./recordings/{app}/{stream}/; record.* in docs/config.md)\n"+
			"An encoder that drops is waited for: its players stay for publish.grace (HEADWATER_PUBLISH_GRACE=0 is off);\n"+
			"a second encoder stands by with {stream}?role=backup (docs/continuity.md)\n")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, opts, 0
		}
		return cfg, opts, 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "headwater: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return cfg, opts, 2
	}
	opts = options{showVersion: *version, pprofAddr: *pprofAddr}
	if *version {
		return cfg, opts, -1
	}
	opts.load = func() (config.Config, error) {
		cfg := def
		if *configFile != "" {
			var err error
			if cfg, err = config.Read(*configFile); err != nil {
				return cfg, fmt.Errorf("config: %w", err)
			}
		}
		if err := cfg.ApplyEnv(os.Environ()); err != nil {
			return cfg, fmt.Errorf("environment: %w", err)
		}
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "rtmp-addr":
				cfg.RTMP.Addr = *rtmpAddr
			case "http-addr":
				cfg.HTTP.Addr = *httpAddr
			case "log-level":
				cfg.Log.Level = *logLevel
			case "log-format":
				cfg.Log.Format = *logFormat
			case "origin":
				cfg.Edge.Origins = []string{}
				for _, o := range strings.Split(*origin, ",") {
					if o = strings.TrimSpace(o); o != "" {
						cfg.Edge.Origins = append(cfg.Edge.Origins, o)
					}
				}
			}
		})
		return cfg, cfg.Validate()
	}
	cfg, err := opts.load()
	if err != nil {
		fmt.Fprintf(stderr, "headwater: %v\n", err)
		return cfg, opts, 2
	}
	if *printConfig {
		b, err := cfg.Marshal()
		if err != nil {
			fmt.Fprintf(stderr, "headwater: %v\n", err)
			return cfg, opts, 1
		}
		_, _ = stdout.Write(b)
		return cfg, opts, 0
	}
	return cfg, opts, -1
}

func versionString() string { return version }

// newLogger logs to w at c.Level, set as zerolog's global level so that
// SIGHUP can change it for every logger derived from this one.
func newLogger(c config.Log, w io.Writer) zerolog.Logger {
	zerolog.SetGlobalLevel(level(c.Level))
	if c.Format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	}
	return zerolog.New(w).Level(zerolog.TraceLevel).With().Timestamp().Logger()
}

func level(s string) zerolog.Level {
	lvl, err := zerolog.ParseLevel(s)
	if err != nil {
		return zerolog.InfoLevel
	}
	return lvl
}
