package lockcheck_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/headwater-media/headwater/internal/lockcheck"
)

const needTag = "lock-order detector not compiled in: run with -tags deadlock " +
	"(go test -tags deadlock ./internal/lockcheck/)"

func requireDetector(t *testing.T) {
	t.Helper()
	if !lockcheck.Enabled() {
		t.Skip(needTag)
	}
}

// reports collects what the detector reports while a test runs. go-deadlock's
// lock-order map is global to the test binary and remembers every pair it has
// seen, so each test uses its own freshly allocated mutexes.
type reports struct {
	mu   sync.Mutex // plain sync: the reporter must not take a checked mutex
	list []string
}

func (r *reports) record(report string) {
	r.mu.Lock()
	r.list = append(r.list, report)
	r.mu.Unlock()
}

func (r *reports) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.list...)
}

func captureReports(t *testing.T) *reports {
	r := &reports{}
	t.Cleanup(lockcheck.SetReporter(r.record))
	return r
}

// inGoroutine runs f in a new goroutine and waits for it: the orders below are
// exercised one after the other, so nothing can actually deadlock.
func inGoroutine(f func()) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		f()
	}()
	wg.Wait()
}

func lockAThenB(a, b *lockcheck.Mutex) {
	a.Lock()
	defer a.Unlock()
	b.Lock()
	defer b.Unlock()
}

// TestDetectsABBAInversion is the proof: A then B in one goroutine, later B
// then A in another, never concurrently, must be reported.
func TestDetectsABBAInversion(t *testing.T) {
	requireDetector(t)

	t.Run("Mutex", func(t *testing.T) {
		got := captureReports(t)
		a, b := new(lockcheck.Mutex), new(lockcheck.Mutex)

		inGoroutine(func() { lockAThenB(a, b) })
		if n := len(got.get()); n != 0 {
			t.Fatalf("first order alone reported %d time(s):\n%s", n, strings.Join(got.get(), "\n"))
		}
		inGoroutine(func() { lockAThenB(b, a) }) // the inversion
		checkInversionReport(t, got.get())
	})

	t.Run("RWMutex read side", func(t *testing.T) {
		// RLock(A) then Lock(B) against Lock(B) then Lock(A) deadlocks too
		// (the writer waits for the reader), so it must be reported as well.
		got := captureReports(t)
		a, b := new(lockcheck.RWMutex), new(lockcheck.Mutex)

		inGoroutine(func() {
			a.RLock()
			defer a.RUnlock()
			b.Lock()
			defer b.Unlock()
		})
		inGoroutine(func() {
			b.Lock()
			defer b.Unlock()
			a.Lock()
			defer a.Unlock()
		})
		checkInversionReport(t, got.get())
	})
}

func checkInversionReport(t *testing.T, got []string) {
	t.Helper()
	if len(got) != 1 {
		t.Fatalf("inversion reported %d times, want 1:\n%s", len(got), strings.Join(got, "\n---\n"))
	}
	for _, want := range []string{
		"POTENTIAL DEADLOCK",
		"Inconsistent locking",
		"lockcheck_test.go", // the stacks point at the offending Lock calls
	} {
		if !strings.Contains(got[0], want) {
			t.Errorf("report lacks %q:\n%s", want, got[0])
		}
	}
	if !t.Failed() {
		t.Logf("detector report:\n%s", got[0])
	}
}

// TestConsistentOrderNotReported: the same order taken again, from another
// goroutine, is not an inversion.
func TestConsistentOrderNotReported(t *testing.T) {
	requireDetector(t)
	got := captureReports(t)
	a, b := new(lockcheck.Mutex), new(lockcheck.Mutex)

	inGoroutine(func() { lockAThenB(a, b) })
	inGoroutine(func() { lockAThenB(a, b) })
	// Each alone, in any order, is not a nesting and records nothing.
	inGoroutine(func() {
		b.Lock()
		//lint:ignore SA2001 taking each lock alone is what this checks
		b.Unlock()
		a.Lock()
		//lint:ignore SA2001 taking each lock alone is what this checks
		a.Unlock()
	})
	if r := got.get(); len(r) != 0 {
		t.Fatalf("consistent order reported %d time(s):\n%s", len(r), strings.Join(r, "\n---\n"))
	}
}

const childEnv = "LOCKCHECK_TEST_DEFAULT_REPORTER_CHILD"

// TestDefaultReporterFailsBinary shows what a test suite sees when code under
// test inverts an order with the default reporter: the test binary prints the
// report and exits with status 2. It re-runs itself as a child process.
func TestDefaultReporterFailsBinary(t *testing.T) {
	requireDetector(t)
	if os.Getenv(childEnv) == "1" {
		a, b := new(lockcheck.Mutex), new(lockcheck.Mutex)
		inGoroutine(func() { lockAThenB(a, b) })
		inGoroutine(func() { lockAThenB(b, a) })
		t.Fatal("inversion did not stop the test binary")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestDefaultReporterFailsBinary$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("child: err %v, want exit status 2; output:\n%s", err, out)
	}
	for _, want := range []string{"Inconsistent locking", "lockcheck: potential deadlock reported above"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("child output lacks %q:\n%s", want, out)
		}
	}
}

// TestTypes runs in both builds: the zero values work, and without the tag
// the types are sync's own (aliases, no wrapper). The Try* probes run in
// another goroutine: under the tag, go-deadlock reports a TryLock by the
// goroutine already holding the mutex as recursive locking.
func TestTypes(t *testing.T) {
	var m lockcheck.Mutex
	m.Lock()
	inGoroutine(func() {
		if m.TryLock() {
			t.Error("TryLock succeeded on a locked Mutex")
		}
	})
	m.Unlock()

	var rw lockcheck.RWMutex
	rw.RLock()
	inGoroutine(func() {
		if !rw.TryRLock() {
			t.Error("TryRLock failed on a read-locked RWMutex")
			return
		}
		rw.RUnlock()
		if rw.TryLock() {
			t.Error("TryLock succeeded on a read-locked RWMutex")
		}
	})
	rw.RUnlock()
	rw.Lock()
	//lint:ignore SA2001 only the type of rw matters here
	rw.Unlock()

	isSync := reflect.TypeFor[lockcheck.Mutex]() == reflect.TypeFor[sync.Mutex]() &&
		reflect.TypeFor[lockcheck.RWMutex]() == reflect.TypeFor[sync.RWMutex]()
	if isSync == lockcheck.Enabled() {
		t.Fatalf("Enabled() = %v but types are sync's own: %v", lockcheck.Enabled(), isSync)
	}
}

func BenchmarkLockUnlock(b *testing.B) {
	var m lockcheck.Mutex
	for b.Loop() {
		m.Lock()
		//lint:ignore SA2001 the cost of an empty critical section is what this measures
		m.Unlock()
	}
}

func BenchmarkNestedLockUnlock(b *testing.B) {
	x, y := new(lockcheck.Mutex), new(lockcheck.Mutex)
	for b.Loop() {
		lockAThenB(x, y)
	}
}
