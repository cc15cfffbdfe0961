package hwbench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/PID/stat. It is
// 100 on every Linux architecture Go supports (sysconf(_SC_CLK_TCK) would
// need cgo).
const clockTicks = 100

// ProcSample is one reading of a process's counters from /proc.
type ProcSample struct {
	At     time.Time
	CPU    time.Duration // utime + stime of all its threads so far
	RSSKiB int64         // VmRSS
	HWMKiB int64         // VmHWM: peak RSS since start or the last ResetPeak
}

// ReadProc reads /proc/PID/stat and /proc/PID/status.
func ReadProc(pid int) (ProcSample, error) {
	s := ProcSample{At: time.Now()}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// The command name (field 2) may hold spaces and parentheses: the
	// fields after it start after the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, errors.New("proc: malformed stat")
	}
	f := bytes.Fields(stat[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return s, errors.New("proc: short stat")
	}
	ut, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	st, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return s, fmt.Errorf("proc: stat: %w", err)
	}
	s.CPU = time.Duration(ut+st) * time.Second / clockTicks

	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for line := range bytes.SplitSeq(status, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			s.RSSKiB = kib(v)
		} else if v, ok := bytes.CutPrefix(line, []byte("VmHWM:")); ok {
			s.HWMKiB = kib(v)
		}
	}
	if s.RSSKiB == 0 {
		return s, errors.New("proc: no VmRSS (kernel thread or zombie?)")
	}
	return s, nil
}

func kib(v []byte) int64 {
	v = bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(v), []byte("kB")))
	n, _ := strconv.ParseInt(string(v), 10, 64)
	return n
}

// ResetPeak resets VmHWM of pid to its current RSS (writes 5 to
// /proc/PID/clear_refs; needs the same user or root), so that a later
// VmHWM is the peak of the window that follows.
func ResetPeak(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// procWindow accumulates samples of one process over the measured window.
type procWindow struct {
	first, last ProcSample
	peakKiB     int64
	samples     int
	hwmReset    bool
	err         error
}

func (w *procWindow) add(s ProcSample) {
	if w.samples == 0 {
		w.first = s
	}
	w.last = s
	w.peakKiB = max(w.peakKiB, s.RSSKiB)
	w.samples++
}

// cpuPercent is the CPU time used between the first and last sample, in
// percent of one core.
func (w *procWindow) cpuPercent() float64 {
	wall := w.last.At.Sub(w.first.At)
	if w.samples < 2 || wall <= 0 {
		return 0
	}
	return 100 * float64(w.last.CPU-w.first.CPU) / float64(wall)
}

// peak is the highest RSS seen in the window: sampled, or VmHWM if it
// could be reset at the window's start.
func (w *procWindow) peak() int64 {
	if w.hwmReset {
		return max(w.peakKiB, w.last.HWMKiB)
	}
	return w.peakKiB
}

// MachineSample is the machine-wide CPU time from /proc/stat, all cores.
type MachineSample struct {
	At         time.Time
	Busy, Idle time.Duration // summed over cores; busy includes steal
}

// ReadMachine reads the first ("cpu") line of /proc/stat.
func ReadMachine() (MachineSample, error) {
	s := MachineSample{At: time.Now()}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s, err
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 8 || string(f[0]) != "cpu" {
		return s, errors.New("proc: malformed /proc/stat")
	}
	// user nice system idle iowait irq softirq steal [guest guest_nice]:
	// guest time is already counted in user.
	for i, v := range f[1:min(len(f), 9)] {
		n, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil {
			return s, fmt.Errorf("proc: /proc/stat: %w", err)
		}
		d := time.Duration(n) * time.Second / clockTicks
		if i == 3 || i == 4 {
			s.Idle += d
		} else {
			s.Busy += d
		}
	}
	return s, nil
}

// busyPercent is the machine's CPU use between two samples, in percent of
// one core (so up to 100 x cores).
func busyPercent(a, b MachineSample) float64 {
	wall := b.At.Sub(a.At)
	if wall <= 0 {
		return 0
	}
	return 100 * float64(b.Busy-a.Busy) / float64(wall)
}
