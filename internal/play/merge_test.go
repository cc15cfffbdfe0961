package play

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestMergeTimerWaitsOnTheGrid: a wait ends at its deadline rounded up to
// the grid, never before the deadline; a cancelled context ends it at once.
func TestMergeTimerWaitsOnTheGrid(t *testing.T) {
	m := newMergeTimer()
	for range 20 {
		until := time.Now().Add(12 * time.Millisecond)
		require.True(t, m.wait(context.Background(), until))
		woke := time.Now()
		require.False(t, woke.Before(until), "woke %v early", until.Sub(woke))
		// Rounded up to the grid, plus scheduling slack on a busy machine.
		require.Less(t, woke.Sub(until), mergeGrid+50*time.Millisecond)
	}
	require.True(t, m.wait(context.Background(), time.Now().Add(-time.Second)), "a past deadline does not wait")

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(10*time.Millisecond, cancel)
	start := time.Now()
	require.False(t, m.wait(ctx, time.Now().Add(time.Hour)))
	require.Less(t, time.Since(start), 5*time.Second)
	require.True(t, m.wait(context.Background(), time.Now().Add(time.Millisecond)), "the timer is reusable after a cancelled wait")
}
