package rtmp

import (
	"bytes"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
)

func TestConnSamplerBoundsLinesAndCountsTheRest(t *testing.T) {
	var out bytes.Buffer
	var total atomic.Uint64
	global := newLineBudget(globalLogBurst, time.Hour)
	a := &connSampler{own: newLineBudget(connLogBurst, time.Hour), global: global, total: &total}
	b := &connSampler{own: newLineBudget(connLogBurst, time.Hour), global: global, total: &total}
	la, lb := a.sampled(zerolog.New(&out)), b.sampled(zerolog.New(&out))
	for i := 0; i < 100000; i++ {
		la.Warn().Msg("flood")
	}
	require.Equal(t, connLogBurst, strings.Count(out.String(), "\n"), "one connection gets its burst")
	require.Equal(t, uint64(100000-connLogBurst), total.Load())
	lb.Warn().Msg("another connection")
	require.Contains(t, out.String(), "another connection", "the flood used its own budget, not everyone's")
	require.NotContains(t, out.String(), "suppressed")

	// Once a new period starts, the next line says how many went missing.
	a.own = newLineBudget(connLogBurst, time.Hour)
	la = a.sampled(zerolog.New(&out))
	la.Warn().Msg("after")
	require.Contains(t, out.String(), `"suppressed":99980`)
	require.Zero(t, a.suppressed.Load())
}

func TestGlobalBudgetBoundsAllConnections(t *testing.T) {
	var out bytes.Buffer
	var total atomic.Uint64
	global := newLineBudget(globalLogBurst, time.Hour)
	for c := 0; c < 1000; c++ {
		s := &connSampler{own: newLineBudget(connLogBurst, time.Hour), global: global, total: &total}
		l := s.sampled(zerolog.New(&out))
		for i := 0; i < 5; i++ {
			l.Info().Msg("line")
		}
	}
	require.Equal(t, globalLogBurst, strings.Count(out.String(), "\n"))
	require.Equal(t, uint64(5000-globalLogBurst), total.Load())
}

func TestLineBudgetStartsANewPeriod(t *testing.T) {
	b := newLineBudget(2, time.Second)
	now := time.Now().UnixNano()
	require.True(t, b.take(now))
	require.True(t, b.take(now))
	require.False(t, b.take(now))
	require.True(t, b.take(now+int64(time.Second)))
}
