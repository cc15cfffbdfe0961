//go:build deadlock

package lockcheck

import (
	"bytes"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/sasha-s/go-deadlock"
)

// Mutex is go-deadlock's drop-in replacement for sync.Mutex (this binary
// was built with -tags deadlock).
type Mutex = deadlock.Mutex

// RWMutex is go-deadlock's drop-in replacement for sync.RWMutex (this binary
// was built with -tags deadlock).
type RWMutex = deadlock.RWMutex

// waitTimeout: a goroutine waiting longer than this for one lock is reported.
const waitTimeout = 30 * time.Second

// go-deadlock's Opts are plain variables read without synchronisation by
// every Lock, so they are written once, here, and never again. Switching the
// reporter at run time goes through repMu instead.
func init() {
	deadlock.Opts.Disable = false
	deadlock.Opts.DisableLockOrderDetection = false
	deadlock.Opts.DeadlockTimeout = waitTimeout
	deadlock.Opts.LogBuf = logBuf{}
	deadlock.Opts.OnPotentialDeadlock = onPotentialDeadlock
}

// repMu is a plain sync.Mutex on purpose: go-deadlock calls LogBuf and
// OnPotentialDeadlock while holding its own internal lock, so nothing in
// this path may take a checked mutex.
var (
	repMu    sync.Mutex
	pending  bytes.Buffer // report text go-deadlock has written so far
	reporter = exitReporter
)

// logBuf collects go-deadlock's report text until OnPotentialDeadlock.
type logBuf struct{}

func (logBuf) Write(p []byte) (int, error) {
	repMu.Lock()
	defer repMu.Unlock()
	return pending.Write(p)
}

func onPotentialDeadlock() {
	repMu.Lock()
	report := pending.String()
	pending.Reset()
	f := reporter
	repMu.Unlock()
	f(report)
}

// exitReporter is the default: print the report and exit with status 2.
// It does not panic: for an inversion go-deadlock calls us while holding its
// internal lock, and a panic would run deferred Unlocks (and test cleanups)
// that need that lock again, hanging the binary until the test timeout
// instead of failing it now.
func exitReporter(report string) {
	fmt.Fprintf(os.Stderr, "%s\nlockcheck: potential deadlock reported above (binary built with -tags deadlock); exiting with status 2\n", report)
	os.Exit(2)
}

// Enabled reports whether the lock-order detector is compiled in
// (true: this binary was built with -tags deadlock).
func Enabled() bool { return true }

// SetReporter makes f receive each report (go-deadlock's full text: header,
// both lock orders with stacks) instead of the default print-and-exit, and
// returns a function restoring the previous reporter. f == nil restores the
// default. f is called synchronously from the Lock that triggered the
// report, while go-deadlock holds its internal lock: it must not lock any
// lockcheck mutex, call t.Fatal or block; record the report and return.
// After f returns the Lock proceeds. The reporter is global to the binary.
func SetReporter(f func(report string)) (restore func()) {
	if f == nil {
		f = exitReporter
	}
	repMu.Lock()
	prev := reporter
	reporter = f
	repMu.Unlock()
	return func() {
		repMu.Lock()
		reporter = prev
		repMu.Unlock()
	}
}
