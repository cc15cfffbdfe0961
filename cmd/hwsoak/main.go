// Command hwsoak soak-tests the real headwater binary. It starts the binary
// on two free loopback ports, churns ffmpeg publishers and Go HTTP-FLV
// players against it for -duration, samples the server every -interval into
// a CSV, draws the series as a PNG and writes a Markdown summary. It exits 1
// when a resource series grows after warm-up or the server misbehaves.
//
// Usage:
//
//	hwsoak [flags]
//
// `make soak DURATION=30m` runs it through scripts/soak.sh; docs/soak.md
// describes the soak for operators.
//
// # Load
//
// Each of -publishers ffmpeg processes publishes an H.264/AAC test pattern
// (320x240, 25 fps, 1 s GOP) to its own key, rtmp://HOST/live/soakN. It stays
// up for a random 30-120 s, is stopped (alternately a clean SIGINT and a
// SIGKILL) and restarts after 1-5 s.
//
// Each of -players Go goroutines plays a random key's
// http://HOST/live/soakN.flv (one request in twenty asks for a key that is
// never published), parses every FLV tag with internal/flv's Reader and
// stays for a random 5-60 s. One play in ten opens and closes at once
// ("blip"), one in ten stops reading for 3-20 s in the middle ("stall"),
// the rest read until their time is up or the stream ends. A player waits
// 0.2-2 s and plays again. A 404 (the key is not live at that moment) is
// expected and counted, not an error.
//
// # Samples
//
// Before the load starts (phase "idle"), then every -interval (phases
// "warmup" and "soak") and once after the load has stopped and the gauges
// drained (phase "drain"), hwsoak scrapes /metrics for
// process_resident_memory_bytes, go_goroutines, process_open_fds,
// headwater_streams, headwater_publishers and headwater_players, reads
// VmRSS from /proc/PID/status as a cross-check, and appends a row with the
// load side's counters to soak.csv (flushed row by row).
//
// # Pass/fail
//
// After warm-up, a least-squares line is fitted to RSS, goroutines and open
// FDs against time. A series fails when the line's growth over the
// post-warm-up window (slope x window length) exceeds BOTH 10% of the
// series' post-warm-up median AND an absolute floor: 8 MiB for RSS, 20 for
// goroutines and for FDs. Player churn moves goroutines and FDs by tens
// from sample to sample; the floor keeps that noise from failing a run,
// while the relative limit scales with the load level. Streams,
// publishers and players follow the churn: they are reported, not
// trend-checked. The run also fails when the server exits before the end,
// when the load never ran (no publisher start, no play, no byte), when
// streams/publishers/players are not all 0 within 10 s of stopping the
// load, when the server does not exit 0 within 5 s of SIGTERM, or when the
// run is interrupted.
//
// # Outputs
//
// In -out: soak.csv, soak.png, summary.md, and logs/ (headwater.log, the
// server's JSON log at warn level; ffmpeg-N.log). Exit status: 0 PASS,
// 1 FAIL, 2 bad flags or setup (binary or ffmpeg missing, server does not
// start).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// options are the command-line flags.
type options struct {
	bin        string
	ffmpeg     string
	duration   time.Duration
	interval   time.Duration
	warmup     time.Duration
	publishers int
	players    int
	out        string
	seed       uint64
	args       []string // as given, for the summary
}

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// defaultWarmup is 2 minutes, or 20% of the duration when that is shorter.
func defaultWarmup(d time.Duration) time.Duration {
	return min(2*time.Minute, d/5)
}

func parseFlags(args []string, stderr io.Writer) (options, int) {
	var o options
	fs := flag.NewFlagSet("hwsoak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.bin, "bin", "bin/headwater", "headwater `binary` to soak (build it with make build)")
	fs.StringVar(&o.ffmpeg, "ffmpeg", "ffmpeg", "ffmpeg `binary` for the publishers")
	fs.DurationVar(&o.duration, "duration", 30*time.Minute, "how long the load runs")
	fs.DurationVar(&o.interval, "interval", 10*time.Second, "sampling interval")
	fs.DurationVar(&o.warmup, "warmup", 0, "warm-up excluded from the trend check (default 2m, or 20% of -duration if shorter)")
	fs.IntVar(&o.publishers, "publishers", 3, "concurrent ffmpeg publishers, one key each")
	fs.IntVar(&o.players, "players", 40, "concurrent Go HTTP-FLV players")
	fs.StringVar(&o.out, "out", "docs/soak", "output `directory` (soak.csv, soak.png, summary.md, logs/)")
	fs.Uint64Var(&o.seed, "seed", 0, "random seed for the churn schedule (0: from the clock; the summary records it)")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "hwsoak: soak the headwater binary under churning ffmpeg publishers and\n")
		fmt.Fprintf(w, "HTTP-FLV players; sample RSS, goroutines, FDs and the stream gauges every\n")
		fmt.Fprintf(w, "-interval into a CSV, chart them as a PNG and write a Markdown summary.\n\n")
		fmt.Fprintf(w, "Usage: hwsoak [flags]   (make soak DURATION=30m runs it via scripts/soak.sh)\n\n")
		fs.PrintDefaults()
		fmt.Fprintf(w, `
Fails (exit 1) when, after warm-up, the least-squares growth of RSS exceeds
10%% of its median and 8 MiB, or that of goroutines or open FDs exceeds 10%%
of the median and 20; when the server exits early, does not exit 0 within
5 s of SIGTERM, or its streams/publishers/players gauges are not 0 within
10 s of stopping the load; when no load ran; or when interrupted.
Exit 0 PASS, 1 FAIL, 2 bad flags or setup. See docs/soak.md.
`)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, 0
		}
		return o, 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hwsoak: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return o, 2
	}
	warmupSet := false
	fs.Visit(func(f *flag.Flag) { warmupSet = warmupSet || f.Name == "warmup" })
	if !warmupSet {
		o.warmup = defaultWarmup(o.duration)
	}
	o.args = args
	var bad []string
	if o.interval < 100*time.Millisecond {
		bad = append(bad, "-interval must be at least 100ms")
	}
	if o.warmup < 0 || o.warmup >= o.duration {
		bad = append(bad, "-warmup must be >= 0 and shorter than -duration")
	} else if n := int((o.duration - o.warmup) / o.interval); n < 5 {
		bad = append(bad, fmt.Sprintf("only %d samples after warm-up: need at least 5 ((duration-warmup)/interval)", n))
	}
	if o.publishers < 1 {
		bad = append(bad, "-publishers must be >= 1")
	}
	if o.players < 0 {
		bad = append(bad, "-players must be >= 0")
	}
	if len(bad) > 0 {
		fmt.Fprintf(stderr, "hwsoak: %s\n", strings.Join(bad, "; "))
		return o, 2
	}
	if o.seed == 0 {
		o.seed = uint64(time.Now().UnixNano())
	}
	return o, -1
}

func run(args []string, stderr io.Writer) int {
	o, code := parseFlags(args, stderr)
	if code >= 0 {
		return code
	}
	if _, err := os.Stat(o.bin); err != nil {
		fmt.Fprintf(stderr, "hwsoak: %v (build it with make build)\n", err)
		return 2
	}
	if _, err := exec.LookPath(o.ffmpeg); err != nil {
		fmt.Fprintf(stderr, "hwsoak: ffmpeg: %v (scripts/install-deps.sh installs it)\n", err)
		return 2
	}
	logDir := filepath.Join(o.out, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		fmt.Fprintf(stderr, "hwsoak: %v\n", err)
		return 2
	}

	// Ctrl-C ends the run early; the children sit in their own process
	// groups, so the terminal's SIGINT reaches only hwsoak.
	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()

	s := newSoak(o, stderr)
	res, err := s.run(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "\nhwsoak: %v\n", err)
		return 2
	}
	if err := writeOutputs(o, res); err != nil {
		fmt.Fprintf(stderr, "hwsoak: writing results: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "%s\n", res.verdictText())
	fmt.Fprintf(stderr, "results: %s, %s, %s\n",
		filepath.Join(o.out, "soak.csv"), filepath.Join(o.out, "soak.png"), filepath.Join(o.out, "summary.md"))
	if !res.pass() {
		return 1
	}
	return 0
}
