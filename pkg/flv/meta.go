package flv

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Metadata is what ParseMetadata reads from an onMetaData script tag: the
// flat properties encoders send (ffmpeg, OBS). Numbers are float64,
// strings string and booleans bool; nested objects, arrays and dates are
// skipped.
type Metadata map[string]any

// Number returns the numeric property name, or 0 and false.
func (m Metadata) Number(name string) (float64, bool) {
	v, ok := m[name].(float64)
	return v, ok
}

// String returns the string property name, or "" and false.
func (m Metadata) String(name string) (string, bool) {
	v, ok := m[name].(string)
	return v, ok
}

// Bool returns the boolean property name, or false and false.
func (m Metadata) Bool(name string) (bool, bool) {
	v, ok := m[name].(bool)
	return v, ok
}

// AMF0 type markers (AMF0 specification 2.1).
const (
	amf0Number      = 0x00
	amf0Boolean     = 0x01
	amf0String      = 0x02
	amf0Object      = 0x03
	amf0Null        = 0x05
	amf0Undefined   = 0x06
	amf0ECMAArray   = 0x08
	amf0ObjectEnd   = 0x09
	amf0StrictArray = 0x0a
	amf0Date        = 0x0b
	amf0LongString  = 0x0c
)

// Bounds on what ParseMetadata accepts from a publisher.
const (
	maxMetaProps = 256 // properties kept
	maxMetaDepth = 4   // nesting of skipped objects and arrays
	maxMetaStr   = 1024
)

// ParseMetadata parses a script tag body of the form "onMetaData" followed
// by an ECMA array or an object, as RTMP publishers send it (after
// @setDataFrame). It keeps up to 256 properties with a number, boolean or
// string value (strings cut to 1 KiB); properties of other types are
// skipped (up to 4 levels of nesting). A body whose name is not
// onMetaData is ErrUnsupported. What was read before an error is
// returned with it.
func ParseMetadata(b []byte) (Metadata, error) {
	p := amfParser{b: b}
	if p.byte() != amf0String {
		return nil, fmt.Errorf("%w: script tag does not start with a name", ErrMalformed)
	}
	name := p.str(2)
	if p.err != nil {
		return nil, p.err
	}
	if name != "onMetaData" {
		return nil, fmt.Errorf("%w: script tag %q", ErrUnsupported, name)
	}
	m := make(Metadata)
	switch p.byte() {
	case amf0ECMAArray:
		p.skip(4) // approximate count: the end marker is authoritative
	case amf0Object:
	default:
		if p.err != nil {
			return m, p.err
		}
		return m, fmt.Errorf("%w: onMetaData without properties", ErrMalformed)
	}
	for p.err == nil {
		if len(p.b) == 0 {
			return m, nil // some encoders omit the end marker
		}
		key := p.str(2)
		if key == "" && p.peek() == amf0ObjectEnd {
			return m, nil
		}
		v := p.value(0)
		if v != nil && p.err == nil && len(m) < maxMetaProps {
			m[key] = v
		}
	}
	return m, p.err
}

var errAMFShort = fmt.Errorf("%w: truncated AMF0", ErrShortPayload)

// amfParser reads AMF0 values from b; the first error sticks.
type amfParser struct {
	b   []byte
	err error
}

func (p *amfParser) fail(err error) {
	if p.err == nil {
		p.err = err
	}
	p.b = nil
}

func (p *amfParser) peek() byte {
	if len(p.b) == 0 {
		return 0xff
	}
	return p.b[0]
}

func (p *amfParser) byte() byte {
	if len(p.b) < 1 {
		p.fail(errAMFShort)
		return 0xff
	}
	c := p.b[0]
	p.b = p.b[1:]
	return c
}

func (p *amfParser) skip(n int) []byte {
	if n < 0 || len(p.b) < n {
		p.fail(errAMFShort)
		return nil
	}
	s := p.b[:n]
	p.b = p.b[n:]
	return s
}

// str reads a string whose length prefix is lenBytes (2 or 4) long.
func (p *amfParser) str(lenBytes int) string {
	l := p.skip(lenBytes)
	if l == nil {
		return ""
	}
	n := int(binary.BigEndian.Uint16(l[len(l)-2:]))
	if lenBytes == 4 {
		u := binary.BigEndian.Uint32(l)
		if u > uint32(len(p.b)) {
			p.fail(errAMFShort)
			return ""
		}
		n = int(u)
	}
	s := p.skip(n)
	if len(s) > maxMetaStr {
		s = s[:maxMetaStr]
	}
	return string(s)
}

// value reads one value; it returns nil for the types it skips.
func (p *amfParser) value(depth int) any {
	switch t := p.byte(); t {
	case amf0Number:
		if b := p.skip(8); b != nil {
			return math.Float64frombits(binary.BigEndian.Uint64(b))
		}
	case amf0Boolean:
		return p.byte() != 0
	case amf0String:
		return p.str(2)
	case amf0LongString:
		return p.str(4)
	case amf0Null, amf0Undefined:
	case amf0Date:
		p.skip(10) // double + time zone
	case amf0Object, amf0ECMAArray:
		if t == amf0ECMAArray {
			p.skip(4)
		}
		p.nested(depth)
	case amf0StrictArray:
		n := p.skip(4)
		if n == nil {
			return nil
		}
		if depth >= maxMetaDepth {
			p.fail(fmt.Errorf("%w: AMF0 nested deeper than %d", ErrUnsupported, maxMetaDepth))
			return nil
		}
		for i := binary.BigEndian.Uint32(n); i > 0 && p.err == nil; i-- {
			p.value(depth + 1)
		}
	default:
		if p.err == nil {
			p.fail(fmt.Errorf("%w: AMF0 type 0x%02x", ErrUnsupported, t))
		}
	}
	return nil
}

// nested skips the properties of an object or ECMA array up to its end
// marker.
func (p *amfParser) nested(depth int) {
	if depth >= maxMetaDepth {
		p.fail(fmt.Errorf("%w: AMF0 nested deeper than %d", ErrUnsupported, maxMetaDepth))
		return
	}
	for p.err == nil {
		key := p.str(2)
		if key == "" && p.peek() == amf0ObjectEnd {
			p.byte()
			return
		}
		p.value(depth + 1)
	}
}
