package flv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// maxHeaderSize bounds the DataOffset of the FLV header that ReadHeader
// accepts; version 1 files use 9.
const maxHeaderSize = 1024

// Header is the information in an FLV file header.
type Header struct{ HasAudio, HasVideo bool }

// Tag is one FLV tag read by a Reader.
type Tag struct {
	// Type is the TagType (TagAudio, TagVideo, TagScript); the reserved
	// and Filter bits of the first header byte are masked off.
	Type      uint8
	Timestamp uint32
	// Data is the payload; valid until the next ReadTag call.
	Data []byte
	// Filter reports the Filter bit (pre-processing such as decryption required).
	Filter bool
}

// Reader reads an FLV byte stream (e.g. an HTTP-FLV response) tag by tag,
// verifying every PreviousTagSize.
//
// The Reader issues two reads per tag; wrap unbuffered sources such as a
// net.Conn in a bufio.Reader. Once a read fails, every later call returns
// the same error.
type Reader struct {
	// MaxTagSize is the largest payload ReadTag accepts; larger tags fail
	// with ErrTagTooLarge. Zero means the package constant MaxTagSize.
	MaxTagSize int

	r   io.Reader
	hdr [TagHeaderSize]byte
	buf []byte // payload + PreviousTagSize of the current tag, reused
	err error
}

// NewReader returns a Reader reading from r.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: r}
}

// ReadHeader reads the FLV file header and PreviousTagSize0. It checks the
// signature 'FLV', version 1, a header size of at least 9 (skipping any
// extra header bytes) and that PreviousTagSize0 is 0.
// An empty stream yields io.EOF, a truncated header io.ErrUnexpectedEOF.
func (r *Reader) ReadHeader() (Header, error) {
	if r.err != nil {
		return Header{}, r.err
	}
	h, err := r.readHeader()
	if err != nil {
		r.err = err
	}
	return h, err
}

func (r *Reader) readHeader() (Header, error) {
	var b [HeaderSize]byte
	if _, err := io.ReadFull(r.r, b[:]); err != nil {
		return Header{}, err
	}
	if b[0] != 'F' || b[1] != 'L' || b[2] != 'V' {
		return Header{}, fmt.Errorf("%w: signature %q", ErrBadHeader, b[:3])
	}
	if b[3] != 1 {
		return Header{}, fmt.Errorf("%w: version %d", ErrBadHeader, b[3])
	}
	h := Header{HasAudio: b[4]&0x04 != 0, HasVideo: b[4]&0x01 != 0}
	size := binary.BigEndian.Uint32(b[5:])
	if size < HeaderSize || size > maxHeaderSize {
		return Header{}, fmt.Errorf("%w: header size %d", ErrBadHeader, size)
	}
	if extra := int64(size - HeaderSize); extra > 0 {
		if _, err := io.CopyN(io.Discard, r.r, extra); err != nil {
			return Header{}, noEOF(err)
		}
	}
	var p [PrevTagSizeLen]byte
	if _, err := io.ReadFull(r.r, p[:]); err != nil {
		return Header{}, noEOF(err)
	}
	if v := binary.BigEndian.Uint32(p[:]); v != 0 {
		return Header{}, fmt.Errorf("%w: PreviousTagSize0 is %d, want 0", ErrBadPrevTagSize, v)
	}
	return h, nil
}

// ReadTag reads the next tag and its PreviousTagSize. It returns io.EOF at
// a clean end between tags and io.ErrUnexpectedEOF when the stream ends
// inside a tag. Tag.Data is backed by a buffer the Reader reuses, so it is
// only valid until the next call; once the buffer has grown to the largest
// tag, ReadTag does not allocate.
func (r *Reader) ReadTag() (Tag, error) {
	if r.err != nil {
		return Tag{}, r.err
	}
	t, err := r.readTag()
	if err != nil {
		r.err = err
	}
	return t, err
}

func (r *Reader) readTag() (Tag, error) {
	h := r.hdr[:]
	if _, err := io.ReadFull(r.r, h); err != nil {
		return Tag{}, err // io.EOF only when no byte of the tag was read
	}
	size := int(h[1])<<16 | int(h[2])<<8 | int(h[3])
	limit := r.MaxTagSize
	if limit <= 0 {
		limit = MaxTagSize
	}
	if size > limit {
		return Tag{}, fmt.Errorf("%w: %d bytes, limit %d", ErrTagTooLarge, size, limit)
	}
	if err := r.fill(size + PrevTagSizeLen); err != nil {
		return Tag{}, noEOF(err)
	}
	if prev := binary.BigEndian.Uint32(r.buf[size:]); prev != uint32(TagHeaderSize+size) {
		return Tag{}, fmt.Errorf("%w: %d after a tag of %d bytes", ErrBadPrevTagSize, prev, TagHeaderSize+size)
	}
	return Tag{
		Type:      h[0] & 0x1f,
		Filter:    h[0]&0x20 != 0,
		Timestamp: TagTimestamp(h),
		Data:      r.buf[:size:size],
	}, nil
}

// fill reads exactly n bytes into r.buf. When the buffer must grow it grows
// step by step as data arrives, so a bogus size on a short stream does not
// allocate the whole amount up front.
func (r *Reader) fill(n int) error {
	if cap(r.buf) >= n {
		r.buf = r.buf[:n]
		_, err := io.ReadFull(r.r, r.buf)
		return err
	}
	r.buf = r.buf[:0]
	for len(r.buf) < n {
		if len(r.buf) == cap(r.buf) {
			c := min(max(2*cap(r.buf), 64<<10), n)
			nb := make([]byte, len(r.buf), c)
			copy(nb, r.buf)
			r.buf = nb
		}
		m, err := io.ReadFull(r.r, r.buf[len(r.buf):cap(r.buf)])
		r.buf = r.buf[:len(r.buf)+m]
		if err != nil {
			return err
		}
	}
	return nil
}

// noEOF turns io.EOF into io.ErrUnexpectedEOF for reads that started
// inside a structure.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
