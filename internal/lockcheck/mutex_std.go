//go:build !deadlock

package lockcheck

import "sync"

// Mutex is sync.Mutex (build with -tags deadlock for the checked version).
type Mutex = sync.Mutex

// RWMutex is sync.RWMutex (build with -tags deadlock for the checked version).
type RWMutex = sync.RWMutex

// Enabled reports whether the lock-order detector is compiled in
// (false: this binary was built without -tags deadlock).
func Enabled() bool { return false }

// SetReporter is a no-op without -tags deadlock: nothing is ever reported.
// It exists so tests compile in both builds.
func SetReporter(f func(report string)) (restore func()) { return func() {} }
