// Package soak is the soak engine behind cmd/hwsoak and make soak: it
// runs the real headwater binary under churning ffmpeg publishers and Go
// HTTP-FLV players, samples the server, fits trends, and writes a CSV, a
// chart and a summary. docs/soak.md describes it for operators; cmd/hwsoak's
// package comment describes the load, the samples and the pass/fail rules.
package soak

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Options configure one soak run (cmd/hwsoak's flags).
type Options struct {
	Bin        string        // the headwater binary
	FFmpeg     string        // the ffmpeg binary of the publishers
	Duration   time.Duration // how long the load runs
	Interval   time.Duration // sampling interval
	Warmup     time.Duration // excluded from the trend check
	Publishers int           // concurrent ffmpeg publishers, one key each
	Players    int           // concurrent Go HTTP-FLV players
	Out        string        // output directory
	Seed       uint64        // random seed of the churn; 0: from the clock
	Args       []string      // the command line, for the summary
}

// DefaultWarmup is 2 minutes, or 20% of d when that is shorter.
func DefaultWarmup(d time.Duration) time.Duration {
	return min(2*time.Minute, d/5)
}

// Validate reports what makes o unusable, in one error.
func (o Options) Validate() error {
	var bad []string
	if o.Interval < 100*time.Millisecond {
		bad = append(bad, "-interval must be at least 100ms")
	}
	if o.Warmup < 0 || o.Warmup >= o.Duration {
		bad = append(bad, "-warmup must be >= 0 and shorter than -duration")
	} else if n := int((o.Duration - o.Warmup) / o.Interval); n < 5 {
		bad = append(bad, fmt.Sprintf("only %d samples after warm-up: need at least 5 ((duration-warmup)/interval)", n))
	}
	if o.Publishers < 1 {
		bad = append(bad, "-publishers must be >= 1")
	}
	if o.Players < 0 {
		bad = append(bad, "-players must be >= 0")
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}

// Run soaks the binary until o.Duration has passed or ctx is done, writes
// the outputs into o.Out and returns the exit status: 0 PASS, 1 FAIL, 2
// setup (binary or ffmpeg missing, server does not start). Progress and
// the verdict go to stderr.
func Run(ctx context.Context, o Options, stderr io.Writer) int {
	if o.Seed == 0 {
		o.Seed = uint64(time.Now().UnixNano())
	}
	if _, err := os.Stat(o.Bin); err != nil {
		fmt.Fprintf(stderr, "hwsoak: %v (build it with make build)\n", err)
		return 2
	}
	if _, err := exec.LookPath(o.FFmpeg); err != nil {
		fmt.Fprintf(stderr, "hwsoak: ffmpeg: %v (scripts/install-deps.sh installs it)\n", err)
		return 2
	}
	if err := os.MkdirAll(filepath.Join(o.Out, "logs"), 0o755); err != nil {
		fmt.Fprintf(stderr, "hwsoak: %v\n", err)
		return 2
	}
	s := newRunner(o, stderr)
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
		filepath.Join(o.Out, "soak.csv"), filepath.Join(o.Out, "soak.png"), filepath.Join(o.Out, "summary.md"))
	if !res.pass() {
		return 1
	}
	return 0
}
