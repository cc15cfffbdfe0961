// Package lockcheck provides the mutex types the project uses instead of
// sync.Mutex and sync.RWMutex, so that test builds can run with a lock-order
// detector.
//
// In a normal build Mutex and RWMutex are aliases of sync.Mutex and
// sync.RWMutex: same type, same zero value, no wrapper and no overhead.
//
// Built with -tags deadlock they are aliases of go-deadlock's
// (github.com/sasha-s/go-deadlock) Mutex and RWMutex, which record, for
// every lock taken while the same goroutine already holds another, the order
// "held before taken". The first time two mutexes are seen taken in both
// orders (an AB-BA inversion) a report is produced even if the two paths
// never ran concurrently and nothing actually deadlocked; a goroutine that
// waits more than 30 s for a lock, or that locks a mutex it already holds, is
// reported too. By default a report is printed to stderr and the process
// exits with status 2, so any test binary that exercises an inversion fails.
// See docs/lockcheck.md.
package lockcheck

import "sync"

// The method sets both builds promise. If go-deadlock or sync ever differ,
// one of the two builds stops compiling here rather than in the callers.
var (
	_ interface {
		Lock()
		Unlock()
		TryLock() bool
	} = (*Mutex)(nil)
	_ interface {
		Lock()
		Unlock()
		TryLock() bool
		RLock()
		RUnlock()
		TryRLock() bool
		RLocker() sync.Locker
	} = (*RWMutex)(nil)
)
