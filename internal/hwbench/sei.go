package hwbench

import "encoding/binary"

// The latency stamp is an H.264 SEI NAL unit (nal_unit_type 6) holding one
// user_data_unregistered message (payloadType 5): the 16-byte StampUUID,
// then the publisher's wall clock at send time as 8 bytes of big-endian
// Unix nanoseconds. Decoders skip user data with a UUID they do not know,
// so a stamped stream stays playable; servers relay the NAL unit untouched
// because it is inside the video payload, even when they rewrite FLV
// timestamps.

// StampUUID identifies hwbench's latency SEI ("hwbench-latency1").
var StampUUID = [16]byte{'h', 'w', 'b', 'e', 'n', 'c', 'h', '-', 'l', 'a', 't', 'e', 'n', 'c', 'y', '1'}

const (
	naluSEI            = 6
	seiUserDataUnreg   = 5
	stampPayloadSize   = 16 + 8
	stampRBSPSize      = 2 + stampPayloadSize + 1 // type, size, payload, trailing bits
	maxStampNALUSize   = 1 + stampRBSPSize + stampRBSPSize/2
	seiBufferingPeriod = 0
)

// AppendStampNALU appends the stamp SEI NAL unit (header byte and escaped
// RBSP, no length prefix) for unixNano to dst. It does not allocate when
// dst has room for maxStampNALUSize more bytes.
func AppendStampNALU(dst []byte, unixNano int64) []byte {
	var rbsp [stampRBSPSize]byte
	rbsp[0] = seiUserDataUnreg
	rbsp[1] = stampPayloadSize
	copy(rbsp[2:], StampUUID[:])
	binary.BigEndian.PutUint64(rbsp[18:], uint64(unixNano))
	rbsp[len(rbsp)-1] = 0x80 // rbsp_stop_one_bit + alignment
	dst = append(dst, naluSEI)
	return appendEscaped(dst, rbsp[:])
}

// appendEscaped appends rbsp with emulation prevention: a 0x03 is inserted
// after two zero bytes whenever the next byte is 0x00-0x03 (H.264 7.4.1).
func appendEscaped(dst, rbsp []byte) []byte {
	zeros := 0
	for _, b := range rbsp {
		if zeros >= 2 && b <= 3 {
			dst = append(dst, 3)
			zeros = 0
		}
		dst = append(dst, b)
		if b == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return dst
}

// ParseStampNALU returns the send time carried by nalu if it is an SEI NAL
// unit whose first message is hwbench's stamp. It never allocates.
func ParseStampNALU(nalu []byte) (unixNano int64, ok bool) {
	if len(nalu) < 1+stampRBSPSize-1 || nalu[0]&0x1f != naluSEI {
		return 0, false
	}
	var rbsp [stampRBSPSize - 1]byte // without the trailing bits
	n, zeros := 0, 0
	for _, b := range nalu[1:] {
		if zeros >= 2 && b == 3 {
			zeros = 0
			continue // emulation prevention byte
		}
		rbsp[n] = b
		n++
		if n == len(rbsp) {
			break
		}
		if b == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	if n < len(rbsp) || rbsp[0] != seiUserDataUnreg || rbsp[1] != stampPayloadSize ||
		[16]byte(rbsp[2:18]) != StampUUID {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(rbsp[18:])), true
}

// stampInsertOffset returns where in data (the NAL units of an AVC coded
// frame, each prefixed by a big-endian length of lengthSize bytes) the
// stamp goes: before the first NAL unit that is not an access unit
// delimiter, SPS, PPS, SPS extension or an SEI starting with a buffering
// period message, which H.264 7.4.1.2.3 wants first. It returns -1 if
// data is not a well-formed sequence of length-prefixed NAL units.
func stampInsertOffset(data []byte, lengthSize int) int {
	pos := 0
	for pos < len(data) {
		if len(data)-pos < lengthSize {
			return -1
		}
		n := 0
		for _, b := range data[pos : pos+lengthSize] {
			n = n<<8 | int(b)
		}
		body := pos + lengthSize
		if n == 0 || n > len(data)-body {
			return -1
		}
		switch data[body] & 0x1f {
		case 9, 7, 8, 13: // AUD, SPS, PPS, SPS extension
		case naluSEI:
			if n < 2 || data[body+1] != seiBufferingPeriod {
				return pos
			}
		default:
			return pos
		}
		pos = body + n
	}
	return pos
}

// FindStamp looks for the stamp among the leading NAL units of an AVC
// coded frame (length prefixes of lengthSize bytes), stopping at the first
// slice. data may be a truncated prefix of the frame. It never allocates.
func FindStamp(data []byte, lengthSize int) (unixNano int64, ok bool) {
	pos := 0
	for len(data)-pos > lengthSize {
		n := 0
		for _, b := range data[pos : pos+lengthSize] {
			n = n<<8 | int(b)
		}
		body := pos + lengthSize
		if n == 0 {
			return 0, false
		}
		switch typ := data[body] & 0x1f; {
		case typ == naluSEI:
			if ts, ok := ParseStampNALU(data[body:min(body+n, len(data))]); ok {
				return ts, true
			}
		case typ >= 1 && typ <= 5: // a slice: SEI must come before it
			return 0, false
		}
		pos = body + n
	}
	return 0, false
}

// Stamper inserts the stamp into AVC video payloads. It reuses one buffer,
// so the returned payload is valid until the next call. Not safe for
// concurrent use: one per publisher.
type Stamper struct {
	// LengthSize is the NAL unit length prefix size from the stream's
	// AVCDecoderConfigurationRecord (1, 2 or 4; 0 means 4).
	LengthSize int

	buf []byte
}

// Stamp returns payload with the stamp for unixNano inserted if payload is
// a legacy AVC coded frame (codec id 7, AVC packet type 1) made of
// well-formed NAL units; otherwise payload itself and false.
func (s *Stamper) Stamp(payload []byte, unixNano int64) ([]byte, bool) {
	if len(payload) < 6 || payload[0]&0x0f != 7 || payload[0]&0x80 != 0 || payload[1] != 1 {
		return payload, false
	}
	ls := s.LengthSize
	if ls == 0 {
		ls = 4
	}
	data := payload[5:]
	off := stampInsertOffset(data, ls)
	if off < 0 {
		return payload, false
	}
	b := append(s.buf[:0], payload[:5+off]...)
	lenAt := len(b)
	for range ls {
		b = append(b, 0)
	}
	b = AppendStampNALU(b, unixNano)
	n := len(b) - lenAt - ls
	if ls == 1 && n > 255 {
		return payload, false // cannot happen: the NAL unit is at most 40 bytes
	}
	for i := ls - 1; i >= 0; i-- {
		b[lenAt+i] = byte(n)
		n >>= 8
	}
	b = append(b, data[off:]...)
	s.buf = b
	return b, true
}
