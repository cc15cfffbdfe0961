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
// never published), parses every FLV tag with pkg/flv's Reader and
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
	"os/signal"
	"syscall"
	"time"

	"github.com/headwater-media/headwater/internal/soak"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// parseFlags returns the options, and an exit status >= 0 when the command
// should exit at once (-h: 0; bad flags: 2).
func parseFlags(args []string, stderr io.Writer) (soak.Options, int) {
	var o soak.Options
	fs := flag.NewFlagSet("hwsoak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Bin, "bin", "bin/headwater", "headwater `binary` to soak (build it with make build)")
	fs.StringVar(&o.FFmpeg, "ffmpeg", "ffmpeg", "ffmpeg `binary` for the publishers")
	fs.DurationVar(&o.Duration, "duration", 30*time.Minute, "how long the load runs")
	fs.DurationVar(&o.Interval, "interval", 10*time.Second, "sampling interval")
	fs.DurationVar(&o.Warmup, "warmup", 0, "warm-up excluded from the trend check (default 2m, or 20% of -duration if shorter)")
	fs.IntVar(&o.Publishers, "publishers", 3, "concurrent ffmpeg publishers, one key each")
	fs.IntVar(&o.Players, "players", 40, "concurrent Go HTTP-FLV players")
	fs.StringVar(&o.Out, "out", "docs/soak", "output `directory` (soak.csv, soak.png, summary.md, logs/)")
	fs.Uint64Var(&o.Seed, "seed", 0, "random seed for the churn schedule (0: from the clock; the summary records it)")
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
		o.Warmup = soak.DefaultWarmup(o.Duration)
	}
	o.Args = args
	if err := o.Validate(); err != nil {
		fmt.Fprintf(stderr, "hwsoak: %v\n", err)
		return o, 2
	}
	if o.Seed == 0 {
		o.Seed = uint64(time.Now().UnixNano())
	}
	return o, -1
}

func run(args []string, stderr io.Writer) int {
	o, code := parseFlags(args, stderr)
	if code >= 0 {
		return code
	}
	// Ctrl-C ends the run early; the children sit in their own process
	// groups, so the terminal's SIGINT reaches only hwsoak.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return soak.Run(ctx, o, stderr)
}
