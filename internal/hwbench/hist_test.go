package hwbench

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBucketsCoverEveryValue(t *testing.T) {
	prev := -1
	for _, v := range []int64{0, 1, 2, 63, 64, 65, 127, 128, 1000, 4095, 4096, 1 << 20, 1<<40 - 1} {
		i := bucketOf(v)
		require.GreaterOrEqual(t, i, prev, "buckets are monotonic at %d", v)
		prev = i
		low, w := bucketRange(i)
		require.LessOrEqual(t, low, v, "value %d", v)
		require.Less(t, v, low+w, "value %d", v)
		require.LessOrEqual(t, float64(w), float64(low)/histSub+1, "bucket of %d is at most 1/%d wide", v, histSub)
	}
	// Consecutive buckets tile the axis without gaps.
	for i := 0; i < histBuckets-1; i++ {
		low, w := bucketRange(i)
		next, _ := bucketRange(i + 1)
		require.Equal(t, low+w, next, "bucket %d", i)
	}
	require.Equal(t, histBuckets-1, bucketOf(1<<50), "huge values land in the last bucket")
}

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	require.Zero(t, (&HistSnapshot{}).Quantile(0.5))
	// 1..10000 ms, uniform.
	for v := 1; v <= 10000; v++ {
		h.Record(time.Duration(v) * time.Millisecond)
	}
	h.Record(-time.Second) // counted as 0
	var s HistSnapshot
	h.AddTo(&s)
	require.EqualValues(t, 10001, s.N)
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5 * time.Second}, {0.95, 9500 * time.Millisecond}, {0.99, 9900 * time.Millisecond}, {1, 10 * time.Second}} {
		got := s.Quantile(c.q)
		require.InEpsilon(t, float64(c.want), float64(got), 0.02, "q%.2f: %v", c.q, got)
	}
	require.Equal(t, 10*time.Second, time.Duration(s.Max)*time.Microsecond)
	require.InEpsilon(t, float64(5*time.Second), float64(s.Mean()), 0.02)

	// Small values are exact.
	var e Histogram
	for range 99 {
		e.Record(10 * time.Microsecond)
	}
	e.Record(50 * time.Microsecond)
	var es HistSnapshot
	e.AddTo(&es)
	require.Equal(t, 10*time.Microsecond, es.Quantile(0.5))
	require.Equal(t, 10*time.Microsecond, es.Quantile(0.99))
	require.Equal(t, 50*time.Microsecond, es.Quantile(1))
}

func TestHistogramSubAndMerge(t *testing.T) {
	var a, b Histogram
	a.Record(time.Millisecond)
	var before HistSnapshot
	a.AddTo(&before)
	a.Record(100 * time.Millisecond)
	b.Record(100 * time.Millisecond)
	var after HistSnapshot
	a.AddTo(&after)
	b.AddTo(&after)
	d := after.Sub(&before)
	require.EqualValues(t, 2, d.N)
	require.InEpsilon(t, float64(100*time.Millisecond), float64(d.Quantile(0.5)), 0.02)

	a.ResetMax()
	a.Record(time.Millisecond)
	var m HistSnapshot
	a.AddTo(&m)
	require.EqualValues(t, 1000, m.Max)
}

func TestHistogramConcurrentRecord(t *testing.T) {
	var h Histogram
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				h.Record(time.Duration(g*1000+i) * time.Microsecond)
			}
		}()
	}
	wg.Wait()
	var s HistSnapshot
	h.AddTo(&s)
	require.EqualValues(t, 8000, s.N)
	require.EqualValues(t, 7999, s.Max)
}

func TestHistogramRecordDoesNotAllocate(t *testing.T) {
	var h Histogram
	require.Zero(t, testing.AllocsPerRun(100, func() { h.Record(1234 * time.Microsecond) }))
}
