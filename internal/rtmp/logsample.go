package rtmp

import (
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Log sampling bounds what one client, or all of them together, can write
// to the log: a burst of lines, then only a count. A line that goes out
// after some were suppressed carries the count as "suppressed".
const (
	connLogBurst    = 20               // lines per connection per connLogPeriod
	connLogPeriod   = 10 * time.Second //
	globalLogBurst  = 200              // lines of all RTMP connections per globalLogPeriod
	globalLogPeriod = time.Second      //
)

// lineBudget allows burst lines per period, lock-free. Two goroutines
// crossing a period boundary at once may let a line or two more through.
type lineBudget struct {
	burst  int64
	period int64        // nanoseconds
	start  atomic.Int64 // unix nanoseconds: start of the current period
	n      atomic.Int64 // lines taken in the current period
}

func newLineBudget(burst int64, period time.Duration) *lineBudget {
	return &lineBudget{burst: burst, period: int64(period)}
}

func (b *lineBudget) take(now int64) bool {
	if start := b.start.Load(); now-start >= b.period && b.start.CompareAndSwap(start, now) {
		b.n.Store(0)
	}
	return b.n.Add(1) <= b.burst
}

// connSampler is a zerolog Sampler and Hook for one connection's loggers:
// a line goes out when both the connection's budget and the server-wide
// one allow it; otherwise it is counted in suppressed (for the next line
// that goes out, or the connection's last) and in the server's total.
// Without its own budget it applies the server-wide one alone.
type connSampler struct {
	own        *lineBudget // nil: no per-connection budget
	global     *lineBudget
	total      *atomic.Uint64 // the server's suppressed lines
	suppressed atomic.Uint64  // suppressed since the last line that went out
}

var (
	_ zerolog.Sampler = (*connSampler)(nil)
	_ zerolog.Hook    = (*connSampler)(nil)
)

// Sample implements zerolog.Sampler. zerolog asks only for lines at an
// enabled level.
func (c *connSampler) Sample(zerolog.Level) bool {
	now := time.Now().UnixNano()
	if (c.own == nil || c.own.take(now)) && c.global.take(now) {
		return true
	}
	c.suppressed.Add(1)
	c.total.Add(1)
	return false
}

// Run implements zerolog.Hook: a line that goes out reports what was
// suppressed before it.
func (c *connSampler) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	if n := c.suppressed.Swap(0); n > 0 {
		e.Uint64("suppressed", n)
	}
}

// sampled returns l behind c.
func (c *connSampler) sampled(l zerolog.Logger) zerolog.Logger {
	return l.Sample(c).Hook(c)
}
