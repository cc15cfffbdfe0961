package hwbench

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Errors of the incremental FLV parser; a Parser stops at the first one.
var (
	ErrBadFLVHeader   = errors.New("bad FLV header")
	ErrBadPrevTagSize = errors.New("bad PreviousTagSize")
	ErrBadTag         = errors.New("bad tag (type or size)")
)

// prefixCap is how many leading payload bytes of a tag the Parser keeps
// (enough for the video tag header and the NAL units before the first
// slice, where the stamp is).
const prefixCap = 256

// maxParserTagSize rejects absurd DataSize values early.
const maxParserTagSize = 16 << 20

// TagInfo describes a complete tag; Prefix holds its first payload bytes
// and is valid only during the TagHandler call.
type TagInfo struct {
	Type      uint8
	Timestamp uint32
	Size      int    // DataSize
	Prefix    []byte // up to prefixCap leading payload bytes
	// Backwards reports a timestamp lower than the previous tag's of the
	// same type (audio or video), which players cannot render in order.
	Backwards bool
}

// TagHandler receives the tags a Parser completes.
type TagHandler interface {
	Tag(t *TagInfo)
}

type parseState uint8

const (
	stFileHeader parseState = iota
	stTagHeader
	stPayload
	stPrevSize
	stFailed
)

// Parser parses an FLV byte stream fed in pieces of any size (network
// reads), checking the file header, every PreviousTagSize, tag types and
// per-track timestamp order. It keeps only a tag's header and first
// prefixCap payload bytes, so it never allocates and its memory does not
// depend on tag sizes. The zero value expects the FLV file header first.
type Parser struct {
	state  parseState
	hdr    [13]byte // file header + PreviousTagSize0, or a tag header
	hn     int
	need   int // bytes left of the payload
	info   TagInfo
	prefix [prefixCap]byte
	pn     int
	prev   uint32 // expected PreviousTagSize
	lastTS [2]uint32
	seenTS [2]bool
	err    error

	// HasAudio and HasVideo are the flags of the FLV file header.
	HasAudio, HasVideo bool
}

// Reset prepares p for a new stream (a new connection).
func (p *Parser) Reset() {
	p.state, p.hn, p.need, p.pn, p.prev = stFileHeader, 0, 0, 0, 0
	p.seenTS = [2]bool{}
	p.err = nil
	p.HasAudio, p.HasVideo = false, false
}

// Mid reports whether the parser is inside the file header or a tag, i.e.
// whether an end of stream now would truncate something.
func (p *Parser) Mid() bool {
	return p.state == stFileHeader || p.hn > 0 || p.state == stPayload || p.state == stPrevSize
}

// Feed parses b, calling h for every tag completed, and returns the first
// error of the stream (again on later calls).
func (p *Parser) Feed(b []byte, h TagHandler) error {
	for len(b) > 0 {
		switch p.state {
		case stFailed:
			return p.err
		case stFileHeader:
			n := copy(p.hdr[p.hn:13], b)
			p.hn += n
			b = b[n:]
			if p.hn < 13 {
				continue
			}
			p.hn = 0
			hd := p.hdr[:]
			if hd[0] != 'F' || hd[1] != 'L' || hd[2] != 'V' || hd[3] != 1 || binary.BigEndian.Uint32(hd[5:9]) != 9 {
				return p.fail(fmt.Errorf("%w: % x", ErrBadFLVHeader, hd[:9]))
			}
			if binary.BigEndian.Uint32(hd[9:13]) != 0 {
				return p.fail(fmt.Errorf("%w: PreviousTagSize0 is %d", ErrBadPrevTagSize, binary.BigEndian.Uint32(hd[9:13])))
			}
			p.HasAudio, p.HasVideo = hd[4]&4 != 0, hd[4]&1 != 0
			p.state = stTagHeader
		case stTagHeader:
			n := copy(p.hdr[p.hn:11], b)
			p.hn += n
			b = b[n:]
			if p.hn < 11 {
				continue
			}
			p.hn = 0
			hd := p.hdr[:11]
			typ := hd[0] & 0x1f
			size := int(hd[1])<<16 | int(hd[2])<<8 | int(hd[3])
			if (typ != 8 && typ != 9 && typ != 18) || size > maxParserTagSize {
				return p.fail(fmt.Errorf("%w: type %d, %d bytes", ErrBadTag, hd[0], size))
			}
			p.info = TagInfo{Type: typ, Size: size,
				Timestamp: uint32(hd[7])<<24 | uint32(hd[4])<<16 | uint32(hd[5])<<8 | uint32(hd[6])}
			if typ != 18 {
				k := typ & 1 // 0 audio, 1 video
				p.info.Backwards = p.seenTS[k] && p.info.Timestamp < p.lastTS[k]
				p.seenTS[k], p.lastTS[k] = true, p.info.Timestamp
			}
			p.need, p.pn = size, 0
			p.state = stPayload
		case stPayload:
			n := min(p.need, len(b))
			if p.pn < prefixCap {
				p.pn += copy(p.prefix[p.pn:], b[:n])
			}
			p.need -= n
			b = b[n:]
			if p.need > 0 {
				continue
			}
			p.prev = uint32(11 + p.info.Size)
			p.info.Prefix = p.prefix[:p.pn]
			h.Tag(&p.info)
			p.state = stPrevSize
		case stPrevSize:
			n := copy(p.hdr[p.hn:4], b)
			p.hn += n
			b = b[n:]
			if p.hn < 4 {
				continue
			}
			p.hn = 0
			if v := binary.BigEndian.Uint32(p.hdr[:4]); v != p.prev {
				return p.fail(fmt.Errorf("%w: %d after a tag of %d bytes", ErrBadPrevTagSize, v, p.prev))
			}
			p.state = stTagHeader
		}
	}
	if p.state == stFailed {
		return p.err
	}
	return nil
}

func (p *Parser) fail(err error) error {
	p.state, p.err = stFailed, err
	return err
}
