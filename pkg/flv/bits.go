package flv

// bitReader reads big-endian bit fields and exp-Golomb codes. Reading past
// the end sets a sticky failure flag and yields zeros, so callers check
// failed() once after a group of reads instead of after every field.
//
// With nal set, H.264/H.265 emulation prevention bytes (the 0x03 in
// 0x00 0x00 0x03) are dropped on the fly, so a NAL unit can be parsed in
// place without copying it into an RBSP buffer.
type bitReader struct {
	b     []byte
	pos   int  // next byte of b to load
	cur   byte // byte being consumed
	left  uint // unread bits in cur
	zeros int  // consecutive zero bytes loaded (for emulation prevention)
	nal   bool // drop emulation prevention bytes
	fail  bool // a read failed (past the end or invalid code)
	bad   bool // an invalid code was read (implies fail)
}

func newBitReader(b []byte, nal bool) bitReader {
	return bitReader{b: b, nal: nal}
}

// load fetches the next byte into cur.
func (r *bitReader) load() bool {
	if r.pos >= len(r.b) {
		r.fail = true
		return false
	}
	c := r.b[r.pos]
	r.pos++
	if r.nal && r.zeros >= 2 && c == 0x03 {
		r.zeros = 0
		if r.pos >= len(r.b) {
			r.fail = true
			return false
		}
		c = r.b[r.pos]
		r.pos++
	}
	if c == 0 {
		r.zeros++
	} else {
		r.zeros = 0
	}
	r.cur = c
	r.left = 8
	return true
}

// u reads an n-bit unsigned value, 0 <= n <= 32.
func (r *bitReader) u(n uint) uint32 {
	var v uint32
	for n > 0 {
		if r.fail {
			return 0
		}
		if r.left == 0 && !r.load() {
			return 0
		}
		take := min(n, r.left)
		shift := r.left - take
		bits := uint32(r.cur>>shift) & (1<<take - 1)
		v = v<<take | bits
		r.left -= take
		n -= take
	}
	return v
}

// flag reads one bit as a bool.
func (r *bitReader) flag() bool {
	return r.u(1) == 1
}

// ue reads an unsigned exp-Golomb code (ue(v)). Codes longer than 32 bits
// mark the reader as failed.
func (r *bitReader) ue() uint32 {
	lz := uint(0)
	for !r.fail && r.u(1) == 0 {
		lz++
		if lz > 31 {
			r.fail, r.bad = true, true
			return 0
		}
	}
	if r.fail {
		return 0
	}
	return (1<<lz - 1) + r.u(lz)
}

// se reads a signed exp-Golomb code (se(v)).
func (r *bitReader) se() int64 {
	k := int64(r.ue())
	if k&1 == 1 {
		return (k + 1) / 2
	}
	return -k / 2
}

// failed reports whether a read ran past the end or hit an invalid code.
func (r *bitReader) failed() bool {
	return r.fail
}

// invalid reports whether an invalid exp-Golomb code (longer than 32 bits)
// was read, as opposed to running out of data.
func (r *bitReader) invalid() bool {
	return r.bad
}
