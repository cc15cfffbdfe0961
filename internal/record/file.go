package record

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/headwater-media/headwater/internal/stream"
	"github.com/headwater-media/headwater/pkg/flv"
)

// FS is what a recorder needs of the file system; OS is the real one,
// tests inject faults (a full disk) through their own.
type FS interface {
	MkdirAll(path string, perm os.FileMode) error
	// OpenFile opens name as os.OpenFile does.
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
}

// File is an open recording.
type File interface {
	Write(p []byte) (int, error)
	Sync() error
	Truncate(size int64) error
	Close() error
}

// OS is the operating system's file system.
type OS struct{}

// MkdirAll is os.MkdirAll.
func (OS) MkdirAll(path string, perm os.FileMode) error { return os.MkdirAll(path, perm) }

// OpenFile is os.OpenFile.
func (OS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	return os.OpenFile(name, flag, perm)
}

// Reasons a recording stopped on an error, the values of
// headwater_record_errors_total's reason label.
const (
	ReasonNoSpace    = "no_space"   // ENOSPC, EDQUOT
	ReasonPermission = "permission" // EACCES, EPERM
	ReasonReadOnly   = "read_only"  // EROFS
	ReasonIO         = "io"         // any other error
)

// Reasons lists every error reason.
var Reasons = []string{ReasonNoSpace, ReasonPermission, ReasonReadOnly, ReasonIO}

// reasonOf classifies a file-system error.
func reasonOf(err error) string {
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return ReasonNoSpace
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM), errors.Is(err, fs.ErrPermission):
		return ReasonPermission
	case errors.Is(err, syscall.EROFS):
		return ReasonReadOnly
	}
	return ReasonIO
}

// maxSuffix bounds the -N suffixes tried for a name that exists.
const maxSuffix = 1000

// create makes the directories of path and creates the file, never
// over an existing one: if path exists (a previous crash's partial
// file, two files within the layout's resolution), it tries name-1.ext,
// name-2.ext, ... It returns the path it created.
func create(fsys FS, path string) (File, string, error) {
	if err := fsys.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, "", err
	}
	ext := filepath.Ext(path)
	base := strings.TrimSuffix(path, ext)
	for i := 0; i <= maxSuffix; i++ {
		p := path
		if i > 0 {
			p = base + "-" + strconv.Itoa(i) + ext
		}
		f, err := fsys.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		return f, p, nil
	}
	return nil, "", fmt.Errorf("%s: %d files of that name exist", path, maxSuffix+1)
}

// flushEvery and flushBytes bound what a crash (kill -9) can lose of a
// recording: buffered tags are written once this much time or data has
// gathered.
const (
	flushEvery = 500 * time.Millisecond
	flushBytes = 256 << 10
)

// mediaFile is one recorded file being written: FLV (flvFile) or
// fragmented MP4 (mp4File). Used by its recording's goroutine only.
type mediaFile interface {
	// add takes one tag; an error stops the recording.
	add(t *stream.Tag) error
	// hasMedia reports whether a media tag was added.
	hasMedia() bool
	// elapsed is the media time in the file so far, were t added.
	elapsed(t *stream.Tag) time.Duration
	// buffered is how much is waiting to be written.
	buffered() int
	// due reports whether what is buffered should be written now.
	due(now time.Time) bool
	// flush writes what is buffered, whole (tags, fragments).
	flush(now time.Time) error
	// close flushes, syncs and closes the file, on every path.
	close(now time.Time) error
	// abort closes the file as it is, after an error.
	abort()
	// name, size and duration describe the file.
	name() string
	size() int64
	duration() time.Duration
}

// fileBuf is a file and its write buffer: units (whole tags, whole
// fragments) gather in buf and are written in one call, so the file on
// disk ends with a whole unit whenever the process dies between two
// writes.
type fileBuf struct {
	f    File
	path string
	buf  []byte
	// written is what was handed to the file (at a unit boundary).
	written   int64
	lastFlush time.Time
}

func (w *fileBuf) name() string { return w.path }
func (w *fileBuf) size() int64  { return w.written }
func (w *fileBuf) abort()       { _ = w.f.Close() }

// due reports whether the buffer should be written now.
func (w *fileBuf) due(now time.Time) bool {
	return len(w.buf) >= flushBytes || (len(w.buf) > 0 && now.Sub(w.lastFlush) >= flushEvery)
}

// flush writes the buffered units in one call. After a failed or short
// write the file is cut back to its last whole unit (best effort).
func (w *fileBuf) flush(now time.Time) error {
	w.lastFlush = now
	if len(w.buf) == 0 {
		return nil
	}
	n, err := w.f.Write(w.buf)
	if err == nil && n < len(w.buf) {
		err = fmt.Errorf("short write: %d of %d bytes", n, len(w.buf))
	}
	if err != nil {
		if n > 0 {
			_ = w.f.Truncate(w.written)
		}
		w.buf = w.buf[:0]
		return err
	}
	w.written += int64(n)
	if cap(w.buf) > 4*flushBytes {
		w.buf = make([]byte, 0, 64<<10) // a huge unit's buffer is not kept
	} else {
		w.buf = w.buf[:0]
	}
	return nil
}

// closeFile syncs the file to disk and closes it, on every path.
func (w *fileBuf) closeFile(err error) error {
	if err == nil {
		err = w.f.Sync()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// flvFile writes one FLV file: the header, then whole tags with their
// timestamps counted from the file's first media tag.
type flvFile struct {
	fileBuf
	base    uint32 // timestamp of the file's first media tag
	hasBase bool
	last    uint32 // latest media timestamp written, rebased
	media   bool   // a media tag was written
}

func newFLVFile(f File, path string, audio, video bool, now time.Time) *flvFile {
	return &flvFile{fileBuf: fileBuf{f: f, path: path, buf: flv.AppendHeader(make([]byte, 0, 64<<10), audio, video),
		lastFlush: now}}
}

// add appends t, its timestamp rebased. Headers before the first media
// tag take 0.
func (w *flvFile) add(t *stream.Tag) error {
	ts := uint32(0)
	if !t.Header {
		if !w.hasBase {
			w.base, w.hasBase = t.Timestamp, true
		}
		if t.Timestamp > w.base {
			ts = t.Timestamp - w.base
		}
		w.media = true
		w.last = max(w.last, ts)
	} else if w.hasBase && t.Timestamp > w.base {
		ts = t.Timestamp - w.base
	}
	off := len(w.buf)
	w.buf = append(w.buf, t.Data...)
	flv.SetTagTimestamp(w.buf[off:], ts)
	return nil
}

func (w *flvFile) hasMedia() bool { return w.media }
func (w *flvFile) buffered() int  { return len(w.buf) }

// elapsed is the media time in the file so far (of tag t, were it
// added).
func (w *flvFile) elapsed(t *stream.Tag) time.Duration {
	if !w.hasBase || t.Timestamp < w.base {
		return 0
	}
	return time.Duration(t.Timestamp-w.base) * time.Millisecond
}

// close writes what is buffered, syncs the file to disk and closes it.
func (w *flvFile) close(now time.Time) error { return w.closeFile(w.flush(now)) }

// duration is the media time the file holds.
func (w *flvFile) duration() time.Duration { return time.Duration(w.last) * time.Millisecond }
