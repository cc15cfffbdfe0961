package hwbench

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestReadProcOwnProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	pid := os.Getpid()
	a, err := ReadProc(pid)
	require.NoError(t, err)
	require.Positive(t, a.RSSKiB)
	require.GreaterOrEqual(t, a.HWMKiB, a.RSSKiB)

	// Burn CPU until the kernel's 10 ms tick accounting notices.
	deadline := time.Now().Add(5 * time.Second)
	var b ProcSample
	x := 0
	for time.Now().Before(deadline) {
		for i := range 1_000_000 {
			x += i
		}
		if b, err = ReadProc(pid); err == nil && b.CPU >= a.CPU+50*time.Millisecond {
			break
		}
	}
	require.NoError(t, err)
	require.GreaterOrEqual(t, b.CPU, a.CPU+50*time.Millisecond, "CPU time grows (x=%d)", x)

	w := procWindow{}
	w.add(a)
	w.add(b)
	require.Positive(t, w.cpuPercent())
	require.Equal(t, max(a.RSSKiB, b.RSSKiB), w.peak())

	// Peak reset is allowed on our own process.
	require.NoError(t, ResetPeak(pid))
	c, err := ReadProc(pid)
	require.NoError(t, err)
	require.LessOrEqual(t, c.HWMKiB, max(b.HWMKiB, c.RSSKiB))
}

func TestReadProcMissing(t *testing.T) {
	_, err := ReadProc(1 << 30)
	require.Error(t, err)
}

func TestReadMachine(t *testing.T) {
	if _, err := os.Stat("/proc/stat"); err != nil {
		t.Skip("no /proc")
	}
	a, err := ReadMachine()
	require.NoError(t, err)
	require.Positive(t, a.Busy+a.Idle)
	time.Sleep(50 * time.Millisecond) // let the kernel's tick counters move
	b, err := ReadMachine()
	require.NoError(t, err)
	require.GreaterOrEqual(t, b.Busy+b.Idle, a.Busy+a.Idle)
	require.GreaterOrEqual(t, busyPercent(a, b), 0.0)
}
