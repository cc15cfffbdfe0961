package stream

import "time"

// DefaultMaxTSJump is the default Config.MaxTSJump (stream.max_ts_jump).
const DefaultMaxTSJump = time.Second

// defaultFrameInterval stands in for a track's frame interval until one
// has been measured.
const defaultFrameInterval = 20

// trackClock repairs one track's timestamps so that what players get never
// goes backwards, never freezes and never jumps, whatever the publisher
// sends. Timestamps are 32-bit milliseconds compared with serial-number
// arithmetic (RFC 1982): a step forward across 0xFFFFFFFF is a small step.
//
// Output is input plus an offset, so a healthy stream passes through
// unchanged. A step back, or forward by more than the maximum jump, is a
// discontinuity (an encoder restarting its clock, a 32-bit FLV wrap, a
// glitch): the track then continues one measured frame interval after its
// last output, or on the other track's offset when that lands within the
// bound, so that audio and video that jumped together stay in sync. One
// frame a little behind (out of order) only steps 1 ms past the last
// output and keeps the offset, so that it costs the sync nothing.
// Guarded by Stream.mu.
type trackClock struct {
	started  bool
	lastIn   uint32 // input timestamp of the last coded frame
	lastOut  uint32 // output timestamp of the last coded frame
	offset   uint32 // out = in + offset, modulo 2^32
	interval uint32 // measured frame interval, ms (moving average)
	behind   bool   // the last frame was a little behind and got lastOut+1
	rebase   bool   // the next frame starts a new timeline (Stream.Rebase)
}

// serialDelta is b - a as a signed step in serial-number arithmetic.
func serialDelta(a, b uint32) int64 { return int64(int32(b - a)) }

// inRange reports whether out lies after last by at most maxJump ms.
func inRange(last, out uint32, maxJump int64) bool {
	d := serialDelta(last, out)
	return d > 0 && d <= maxJump
}

// repair returns the output timestamp of a coded frame stamped in, and
// whether it had to be repaired. other is the stream's other track.
func (c *trackClock) repair(in uint32, other *trackClock, maxJump int64) (out uint32, repaired bool) {
	if !c.started {
		c.rebase = false // a first frame starts its timeline anyway
		switch {
		case other.started:
			// Join the other track's timeline, unless that puts this
			// track far from where the other one is.
			c.offset = other.offset
			if d := serialDelta(other.lastOut, in+c.offset); d > maxJump || d < -maxJump {
				c.offset, repaired = other.lastOut-in, true
			}
		case in >= 1<<31:
			// Start the timeline at 0: a clock this high wraps soon, and
			// FLV has no room for timestamps past 0xFFFFFFFF.
			c.offset = -in
		}
		c.started, c.lastIn, c.lastOut = true, in, in+c.offset
		return c.lastOut, repaired
	}

	if c.rebase {
		// A new publishing session: its clock says nothing about ours.
		c.rebase, c.lastIn = false, in
		return c.jump(in, other, maxJump), false
	}
	d := serialDelta(c.lastIn, in)
	c.lastIn = in
	out = in + c.offset
	step := serialDelta(c.lastOut, out)
	switch {
	case d <= maxJump && d >= -maxJump && step >= 0 && step <= maxJump:
		c.behind, c.lastOut = false, out
		if d > 0 {
			c.noteInterval(uint32(d))
		}
		return out, false
	case d < 0 && d >= -maxJump && !c.behind:
		// A little behind: most likely one frame out of order. Keep the
		// timeline (and so the sync with the other track) and step just
		// past the last output; if the next frame is behind too, the
		// clock really went back and is repaired below.
		c.behind = true
		c.lastOut++
		return c.lastOut, true
	}
	return c.jump(in, other, maxJump), true
}

// jump starts a new timeline at in after a discontinuity: one frame
// interval after the last output, or on the other track's timeline if
// that lands within the bound (both tracks jumped), so that they stay in
// sync. An other track whose rebase is pending is still on the old one.
func (c *trackClock) jump(in uint32, other *trackClock, maxJump int64) uint32 {
	c.behind = false
	out := c.lastOut + c.frameInterval()
	if other.started && !other.rebase {
		if alt := in + other.offset; inRange(c.lastOut, alt, maxJump) {
			out = alt
		}
	}
	c.offset, c.lastOut = out-in, out
	return out
}

func (c *trackClock) noteInterval(d uint32) {
	if c.interval == 0 {
		c.interval = d
		return
	}
	c.interval = (7*c.interval + d + 4) / 8
}

func (c *trackClock) frameInterval() uint32 {
	if c.interval == 0 {
		return defaultFrameInterval
	}
	return c.interval
}
