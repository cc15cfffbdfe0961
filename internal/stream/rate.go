package stream

import "time"

// RateWindow is the span over which a stream's input bitrate is averaged:
// the current second and the RateWindow/time.Second-1 whole seconds
// before it.
const RateWindow = 5 * time.Second

const rateSlots = int64(RateWindow / time.Second)

// rateMeter counts bytes in one-second buckets, a sliding window of
// RateWindow. It allocates nothing and needs no timer: buckets that a
// quiet second left behind are cleared by the next add or ignored by
// bitsPerSecond. Not safe for concurrent use: Stream.mu guards a stream's.
type rateMeter struct {
	start   time.Time // origin of the seconds; zero before the first add
	sec     int64     // the second (since start) of the last add
	buckets [rateSlots]uint64
}

// add counts n bytes at now.
func (m *rateMeter) add(now time.Time, n int) {
	if m.start.IsZero() {
		m.start = now
	}
	if sec := int64(now.Sub(m.start) / time.Second); sec > m.sec {
		for s := max(m.sec+1, sec-rateSlots+1); s <= sec; s++ {
			m.buckets[s%rateSlots] = 0
		}
		m.sec = sec
	}
	m.buckets[m.sec%rateSlots] += uint64(n)
}

// bitsPerSecond returns the average rate over the window that ends at now:
// the bytes of the seconds from now-RateWindow (rounded up to a whole
// second) to now, divided by the time they span, at least one second (so
// that a stream's first keyframe is not reported as a huge rate).
func (m *rateMeter) bitsPerSecond(now time.Time) int64 {
	if m.start.IsZero() {
		return 0
	}
	cur := max(int64(now.Sub(m.start)/time.Second), m.sec)
	lo := max(0, cur-rateSlots+1)
	var sum uint64
	for s := max(lo, m.sec-rateSlots+1); s <= m.sec; s++ {
		sum += m.buckets[s%rateSlots]
	}
	span := max(now.Sub(m.start.Add(time.Duration(lo)*time.Second)), time.Second)
	return int64(float64(sum) * 8 / span.Seconds())
}
