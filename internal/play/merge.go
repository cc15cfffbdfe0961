package play

import (
	"context"
	"time"
)

// mergeGrid is the grid that merge-window wake-ups are rounded up to. A
// player's next write is due at most MergeWindow + mergeGrid after its
// last one; all players due in the same grid slot wake in one pass of the
// runtime's timers instead of each waking the scheduler on its own. With
// 1,000 players and a 40 ms window this took 18 % off the server's CPU
// (docs/performance.md); a timer shared by all players (one broadcast per
// window) saved no more and woke all of them in one burst, which put the
// last ones 10 ms late.
const mergeGrid = 5 * time.Millisecond

// mergeTimer makes one player wait out its merge window. It is used by the
// player's goroutine only and allocated once per player.
type mergeTimer struct {
	t *time.Timer
}

func newMergeTimer() *mergeTimer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &mergeTimer{t: t}
}

// wait blocks until until, rounded up to the next multiple of mergeGrid of
// the wall clock, or returns false when ctx is done first.
func (m *mergeTimer) wait(ctx context.Context, until time.Time) bool {
	now := time.Now()
	d := until.Sub(now)
	if d <= 0 {
		return true
	}
	const g = int64(mergeGrid)
	at := now.UnixNano() + int64(d)
	d += time.Duration((g - at%g) % g)
	m.t.Reset(d)
	select {
	case <-m.t.C:
		return true
	case <-ctx.Done():
		m.t.Stop()
		return false
	}
}
