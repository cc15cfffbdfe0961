package hwbench

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram layout: values (microseconds) below 2*histSub are counted
// exactly; above, each power of two is split into histSub buckets, so a
// bucket is at most 1/histSub (3.1 %) of its value wide and the midpoint
// reported for it is within 1.6 % of any value in it.
const (
	histSubBits = 5
	histSub     = 1 << histSubBits
	histMaxBits = 40 // values from 2^40 µs (12.7 days) up share the last bucket
	histBuckets = (histMaxBits-histSubBits+1)*histSub + histSub
)

// Histogram counts durations in log-linear buckets of microseconds. Record
// is safe for concurrent use and never allocates; the zero value is ready.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	max    atomic.Int64 // microseconds
}

// bucketOf returns the bucket index of v microseconds (v >= 0).
func bucketOf(v int64) int {
	if v < 2*histSub {
		return int(v)
	}
	msb := bits.Len64(uint64(v)) - 1
	if msb > histMaxBits {
		return histBuckets - 1
	}
	shift := msb - histSubBits
	return (shift+1)*histSub + int(v>>uint(shift)) - histSub
}

// bucketRange returns the smallest value of bucket i and its width.
func bucketRange(i int) (low, width int64) {
	if i < 2*histSub {
		return int64(i), 1
	}
	shift := i/histSub - 1
	mant := int64(i%histSub + histSub)
	return mant << uint(shift), 1 << uint(shift)
}

// Record adds one duration; negative durations count as 0.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d/time.Microsecond), 0)
	h.counts[bucketOf(v)].Add(1)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// ResetMax forgets the maximum, so that Snapshot's Max covers only what
// was recorded afterwards.
func (h *Histogram) ResetMax() { h.max.Store(0) }

// HistSnapshot is a point-in-time copy of one or more Histograms.
type HistSnapshot struct {
	Counts [histBuckets]uint64
	N      uint64
	Max    int64 // microseconds
}

// AddTo adds h's current counts to s.
func (h *Histogram) AddTo(s *HistSnapshot) {
	for i := range h.counts {
		c := h.counts[i].Load()
		s.Counts[i] += c
		s.N += c
	}
	s.Max = max(s.Max, h.max.Load())
}

// Sub returns s minus an earlier snapshot of the same histograms: the
// samples recorded in between. Max is kept from s.
func (s *HistSnapshot) Sub(earlier *HistSnapshot) HistSnapshot {
	d := *s
	d.N = 0
	for i := range d.Counts {
		d.Counts[i] -= earlier.Counts[i]
		d.N += d.Counts[i]
	}
	return d
}

// Quantile returns the q-quantile (0 < q <= 1) as the midpoint of the
// bucket holding it, never above Max; 0 when there are no samples.
func (s *HistSnapshot) Quantile(q float64) time.Duration {
	if s.N == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(s.N)))
	rank = min(max(rank, 1), s.N)
	var seen uint64
	for i, c := range s.Counts {
		seen += c
		if seen >= rank {
			low, w := bucketRange(i)
			v := low + (w-1)/2
			if s.Max > 0 {
				v = min(v, s.Max)
			}
			return time.Duration(v) * time.Microsecond
		}
	}
	return time.Duration(s.Max) * time.Microsecond
}

// Mean returns the mean of the bucket midpoints; 0 without samples.
func (s *HistSnapshot) Mean() time.Duration {
	if s.N == 0 {
		return 0
	}
	var sum float64
	for i, c := range s.Counts {
		if c > 0 {
			low, w := bucketRange(i)
			sum += float64(c) * (float64(low) + float64(w-1)/2)
		}
	}
	return time.Duration(sum/float64(s.N)) * time.Microsecond
}
