// Command hwbench is a load tool for live-streaming origins and edges that
// take RTMP in and serve HTTP-FLV, WebSocket-FLV, RTMP or HLS out (headwater,
// Node-Media-Server, SRS, lal, livego...). It publishes an FLV file (or a
// generated test stream) over RTMP at real-time pace, opens N players that
// parse every tag (HTTP-FLV requests, WebSocket-FLV connections when -play
// is a ws:// URL, RTMP play sessions when it is an rtmp:// URL, or HLS
// clients polling playlists and fetching segments when it ends in .m3u8),
// and measures time to first byte and to first key frame, end-to-end
// latency per frame (the send time is stamped into an H.264 SEI), stalls,
// errors and throughput; with -pid it samples the server's CPU and RSS from
// /proc over the measured window. It prints a live status line on stderr,
// a summary on stdout and, with -json, every figure as JSON.
//
// Usage:
//
//	hwbench [flags]
//	hwbench table RESULT.json...
//
// The table form prints a markdown table with one row per JSON result
// (what scripts/bench-compare.sh uses). See docs/hwbench.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/headwater-media/headwater/internal/hwbench"
)

func main() {
	// go-rtmp's client logs through logrus's global logger too.
	logrus.SetOutput(io.Discard)
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the flags that are not hwbench.Config fields.
type options struct {
	input      string
	gen        hwbench.GenSpec
	cacheDir   string
	jsonPath   string
	failOnErr  bool
	noProgress bool
	cpuProfile string
	genOnly    bool
}

func parseFlags(args []string, stderr io.Writer) (*hwbench.Config, *options, int) {
	cfg := &hwbench.Config{}
	o := &options{}
	fs := flag.NewFlagSet("hwbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Publish, "publish", "rtmp://127.0.0.1:1935/live/hwbench", "RTMP `URL` to publish to; %d is replaced by the stream index; \"\" = someone else publishes")
	fs.StringVar(&cfg.Play, "play", "http://127.0.0.1:8080/live/hwbench.flv", "`URL` the players play: http://... or https://... (HTTP-FLV; the certificate is not verified), http[s]://.../index.m3u8 (HLS or LL-HLS, gohlslib's client), ws://... (WebSocket-FLV) or rtmp://host[:port]/app/stream (RTMP play);\n%d is replaced by the stream index")
	fs.StringVar(&o.input, "input", "", "FLV `file` to publish, looped; empty: generate one with ffmpeg (-gen-*)")
	fs.StringVar(&o.gen.Size, "gen-size", "1280x720", "generated video size `WxH`")
	fs.IntVar(&o.gen.FPS, "gen-fps", 30, "generated video frame rate")
	fs.StringVar(&o.gen.VideoBitrate, "gen-bitrate", "2500k", "generated H.264 bitrate (ffmpeg syntax)")
	fs.StringVar(&o.gen.AudioBitrate, "gen-audio-bitrate", "128k", "generated AAC bitrate (ffmpeg syntax)")
	fs.DurationVar(&o.gen.Duration, "gen-duration", 20*time.Second, "length of the generated file (one loop)")
	fs.DurationVar(&o.gen.GOP, "gen-gop", 2*time.Second, "key frame interval of the generated video")
	fs.BoolVar(&o.genOnly, "gen-only", false, "generate (or find in the cache) the -gen-* input, print its path and exit")
	fs.StringVar(&o.cacheDir, "cache-dir", defaultCacheDir(), "`directory` where generated inputs are cached")
	fs.IntVar(&cfg.Streams, "streams", 1, "number of streams (publishers)")
	fs.IntVar(&cfg.Players, "players", 100, "players per stream (0: publish only)")
	fs.DurationVar(&cfg.Ramp, "ramp", 5*time.Second, "spread the players' first connections over this time")
	fs.DurationVar(&cfg.Warmup, "warmup", 5*time.Second, "wait this long after the ramp before measuring")
	fs.DurationVar(&cfg.Duration, "duration", 30*time.Second, "measured window")
	fs.DurationVar(&cfg.Churn, "churn", 0, "if > 0, each connection lasts a random 0.5-1.5 x this, then the player reconnects")
	fs.IntVar(&cfg.PID, "pid", 0, "server process id: sample its CPU (utime+stime) and RSS from /proc over the window")
	fs.StringVar(&o.jsonPath, "json", "", "write every figure as JSON to `file`")
	fs.StringVar(&cfg.Label, "label", "", "name of the run in the summary, JSON and table (e.g. the server)")
	fs.DurationVar(&cfg.Stall, "stall", time.Second, "a gap between two received video frames longer than this is a stall")
	fs.DurationVar(&cfg.Timeout, "timeout", 10*time.Second, "a connection that receives nothing for this long is an idle_timeout error and reconnects")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of the churn lifetimes and reconnect back-offs")
	fs.BoolVar(&o.failOnErr, "fail-on-errors", false, "exit 1 if there was any error or stall")
	fs.BoolVar(&o.noProgress, "quiet", false, "no live status line on stderr")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write hwbench's own CPU profile to `file` (to check the client's cost)")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprint(w, `hwbench: load-test an RTMP-in / HTTP-FLV-, WebSocket-FLV-, RTMP- or HLS-out live server.

Publishes an FLV file (or a generated test stream) over RTMP at real-time
pace, looping with continuous timestamps, and plays it with N players that
parse every tag: HTTP-FLV requests, WebSocket-FLV connections when -play is
a ws:// URL, RTMP play sessions when it is an rtmp:// URL, or HLS clients
(playlists, segments, LL-HLS parts; frames played at their time) when it
ends in .m3u8. Measures time
to first byte (WebSocket: the 101; RTMP: first message) and to first
key frame, end-to-end latency (send time stamped into an H.264 SEI),
stalls, errors and Mbit/s; with -pid, the server's CPU and RSS over the
measured window. Live status on stderr, summary on stdout, JSON with -json.

Usage:
  hwbench [flags]
  hwbench table RESULT.json...   markdown table, one row per result

Example (headwater on the default ports, 1,000 players of a 720p stream):
  hwbench -players 1000 -ramp 10s -duration 30s -pid $(pgrep -x headwater) -json out.json
The same with RTMP players, then WebSocket-FLV players:
  hwbench -players 1000 -play rtmp://127.0.0.1:1935/live/hwbench -pid $(pgrep -x headwater)
  hwbench -players 1000 -play ws://127.0.0.1:8080/live/hwbench.flv -pid $(pgrep -x headwater)
HLS clients (the latency is how far behind the live edge they play):
  hwbench -players 200 -play http://127.0.0.1:8080/live/hwbench/index.m3u8 -pid $(pgrep -x headwater)
An edge: publish to the origin, play from the edge, sample the edge:
  hwbench -publish rtmp://origin:1935/live/x -play rtmp://edge:1935/live/x -pid EDGE_PID

Flags:
`)
		fs.PrintDefaults()
		fmt.Fprint(w, `
Phases: publishers start and send two key frames; players connect spread
over -ramp; -warmup; then -duration is measured. Latency, stalls, bytes and
server CPU/RSS cover the window; TTFB/TTFF every connection; errors the
whole run. Exit status: 0 done, 1 -fail-on-errors tripped, no media
received or interrupted, 2 bad flags or setup failure. See docs/hwbench.md.
`)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil, 0
		}
		return nil, nil, 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hwbench: unexpected argument %q (flags go before nothing else; see -h)\n", fs.Arg(0))
		return nil, nil, 2
	}
	check := *cfg
	check.Input = &hwbench.Input{} // loaded later
	if err := check.Validate(); err != nil {
		fmt.Fprintf(stderr, "hwbench: %v\n", err)
		return nil, nil, 2
	}
	if (cfg.Publish != "" && o.input == "") || o.genOnly {
		if err := o.gen.Validate(); err != nil {
			fmt.Fprintf(stderr, "hwbench: -gen-*: %v\n", err)
			return nil, nil, 2
		}
	}
	return cfg, o, -1
}

func defaultCacheDir() string {
	d, err := os.UserCacheDir()
	if err != nil {
		d = os.TempDir()
	}
	return filepath.Join(d, "hwbench")
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "table" {
		return table(args[1:], stdout, stderr)
	}
	cfg, o, code := parseFlags(args, stderr)
	if code >= 0 {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if o.genOnly {
		p, _, err := hwbench.Generate(ctx, o.gen, o.cacheDir)
		if err != nil {
			fmt.Fprintf(stderr, "hwbench: generating the input: %v\n", err)
			return 2
		}
		fmt.Fprintln(stdout, p)
		return 0
	}
	if cfg.Publish != "" {
		path := o.input
		if path == "" {
			if _, err := os.Stat(filepath.Join(o.cacheDir, o.gen.CacheName())); err != nil {
				fmt.Fprintf(stderr, "hwbench: input: generating %s with ffmpeg (cached in %s)...\n", o.gen.CacheName(), o.cacheDir)
			}
			p, _, err := hwbench.Generate(ctx, o.gen, o.cacheDir)
			if err != nil {
				fmt.Fprintf(stderr, "hwbench: generating the input: %v\n", err)
				return 2
			}
			path = p
		}
		in, err := hwbench.LoadInput(path)
		if err != nil {
			fmt.Fprintf(stderr, "hwbench: input: %v\n", err)
			return 2
		}
		if in.LengthSize == 0 {
			fmt.Fprintf(stderr, "hwbench: input is %s, not legacy H.264: latency will not be measured\n", in.Codec)
		}
		cfg.Input = in
	}
	if !o.noProgress {
		cfg.Progress = stderr
		if f, ok := stderr.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				cfg.ProgressTTY = true
			}
		}
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "hwbench: %v\n", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "hwbench: %v\n", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}
	res, err := hwbench.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "hwbench: %v\n", err)
		if errors.Is(err, hwbench.ErrSetup) {
			return 2
		}
		return 1
	}
	res.Command = "hwbench " + strings.Join(args, " ")
	res.Host = hwbench.ReadHostInfo()
	res.WriteSummary(stdout)
	if o.jsonPath != "" {
		if err := res.WriteJSON(o.jsonPath); err != nil {
			fmt.Fprintf(stderr, "hwbench: %v\n", err)
			return 1
		}
	}
	switch {
	case cfg.Players > 0 && res.Window.VideoFrames+res.Window.AudioFrames == 0:
		fmt.Fprintln(stderr, "hwbench: FAIL: the players received no media in the window")
		return 1
	case o.failOnErr && (res.Errors > 0 || res.Window.Stalls > 0):
		fmt.Fprintf(stderr, "hwbench: FAIL: %d errors, %d stalls (-fail-on-errors)\n", res.Errors, res.Window.Stalls)
		return 1
	}
	return 0
}

// table prints the results as one markdown table.
func table(files []string, stdout, stderr io.Writer) int {
	if len(files) == 0 {
		fmt.Fprintln(stderr, "usage: hwbench table RESULT.json...")
		return 2
	}
	var rows []*hwbench.Result
	for _, f := range files {
		r, err := hwbench.ReadResult(f)
		if err != nil {
			fmt.Fprintf(stderr, "hwbench: %v\n", err)
			return 2
		}
		rows = append(rows, r)
	}
	fmt.Fprint(stdout, hwbench.TableHeader)
	for i, r := range rows {
		r.WriteTableRow(stdout, i+1)
	}
	return 0
}
