// Package record is the recorder (DVR): a sink that writes a live stream
// to files on disk, FLV or fragmented MP4 (mp4.go). A recording holds a
// player handle on its stream, taken before anything that can block (the
// disk), and releases it on every path; its subscriber has a larger queue
// than a player's, and when the disk still cannot keep up it skips to the
// next keyframe (counted), so that it never slows the publisher or the
// players.
//
// Files are named by a path template (Template), cut at keyframes every
// Config.SegmentDuration, written in whole units (tags, fragments) and
// synced when closed. A file that exists is never overwritten. An error
// of the file system (ENOSPC, EACCES, EROFS, ...) stops that recording
// with one log line and a count; the stream goes on, and its next session
// is recorded again.
package record

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/headwater-media/headwater/internal/lockcheck"
	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/stream"
	"github.com/headwater-media/headwater/pkg/flv"
)

// Formats of record.format.
const (
	FormatFLV = "flv"
	FormatMP4 = "mp4" // fragmented MP4 (H.264 and AAC)
)

// DefaultPath is record.path's default.
const DefaultPath = "./recordings/{app}/{stream}/{start:20060102-150405}.flv"

// Config is how one app's streams are recorded.
type Config struct {
	// Enabled records every stream of the app from when it goes live.
	Enabled bool
	// Path is the file path template (ParseTemplate).
	Path string
	// SegmentDuration, if > 0, starts a new file at the first keyframe
	// after this much media time; 0 is one file per session.
	SegmentDuration time.Duration
	// Format is FormatFLV or FormatMP4.
	Format string
}

// MinSegmentDuration is the shortest record.segment_duration but 0
// (10ms, meant as seconds, would cut at every keyframe).
const MinSegmentDuration = time.Second

// DefaultConfig is recording off, DefaultPath, one file per session, FLV.
func DefaultConfig() Config { return Config{Path: DefaultPath, Format: FormatFLV} }

// App overrides Config's fields for one app (record.apps); a nil or
// empty field keeps the global value.
type App struct {
	Enabled         *bool          `yaml:"enabled,omitempty"`
	Path            string         `yaml:"path,omitempty"`
	SegmentDuration *time.Duration `yaml:"segment_duration,omitempty"`
	Format          string         `yaml:"format,omitempty"`
}

// Apply returns c with a's fields set over it.
func (a App) Apply(c Config) Config {
	if a.Enabled != nil {
		c.Enabled = *a.Enabled
	}
	if a.Path != "" {
		c.Path = a.Path
	}
	if a.SegmentDuration != nil {
		c.SegmentDuration = *a.SegmentDuration
	}
	if a.Format != "" {
		c.Format = a.Format
	}
	return c
}

// Validate checks c, naming key (the config key's prefix) in its errors.
func (c Config) Validate(key string) error {
	var errs []error
	if _, err := ParseTemplate(c.Path); err != nil {
		errs = append(errs, fmt.Errorf("%s.path: %w", key, err))
	}
	if c.SegmentDuration < 0 || (c.SegmentDuration > 0 && c.SegmentDuration < MinSegmentDuration) {
		errs = append(errs, fmt.Errorf("%s.segment_duration: must be 0 (one file per session) or at least %v, a duration such as 10s or 10m, got %v",
			key, MinSegmentDuration, c.SegmentDuration))
	}
	switch c.Format {
	case FormatFLV, FormatMP4:
	default:
		errs = append(errs, fmt.Errorf("%s.format: must be flv or mp4, got %q", key, c.Format))
	}
	return errors.Join(errs...)
}

// The recorder's queue: several times a player's, so that a disk that
// stalls for a while costs nothing; beyond it the recorder skips to the
// next keyframe (headwater_record_dropped_frames_total).
const (
	QueueBytes    = 96 << 20
	QueueDuration = 30 * time.Second
)

// Protocol is a recorder's PlayerInfo.Protocol.
const Protocol = "record"

// Errors of Start and Stop.
var (
	// ErrRecording: the stream is being recorded already.
	ErrRecording = errors.New("stream already recording")
	// ErrNotRecording: the stream is not being recorded.
	ErrNotRecording = errors.New("stream not recording")
	// ErrClosed: the manager has been closed (shutdown).
	ErrClosed = errors.New("recorder closed")
)

// Done describes a finished file, for the on_record_done hook.
type Done struct {
	Key      registry.Key
	Path     string
	Duration time.Duration
	Bytes    int64
}

// Manager starts and stops the recordings of a server. Make it with
// NewManager; Close waits for every recording.
type Manager struct {
	reg  *registry.Registry
	fs   FS
	log  zerolog.Logger
	def  Config
	apps map[string]Config
	tmpl map[string]*Template // by Config.Path
	// done, if set, is called (without locks, from the recording's
	// goroutine) for every file closed; it must not block.
	done func(Done)
	now  func() time.Time
	// the subscribers' queue bounds: QueueBytes and QueueDuration (tests
	// lower them)
	queueBytes int
	queueDur   time.Duration

	wg sync.WaitGroup // every recording goroutine

	// mu guards active and closed. A leaf: nothing else is locked, and
	// nothing blocks, while it is held.
	mu     lockcheck.Mutex
	active map[registry.Key]*recording
	closed bool

	// out
	errs    map[string]*atomic.Uint64 // by reason; the map is read-only
	dropped atomic.Uint64
	files   atomic.Uint64
	bytes   atomic.Uint64
}

// Option configures a Manager.
type Option func(*Manager)

// WithFS makes the manager write through fsys instead of OS.
func WithFS(fsys FS) Option { return func(m *Manager) { m.fs = fsys } }

// WithDone calls f for every file closed (on_record_done); f must not
// block.
func WithDone(f func(Done)) Option { return func(m *Manager) { m.done = f } }

// NewManager returns a manager recording reg's streams with def, apps
// overriding it per app. Every Config must have passed Validate.
func NewManager(reg *registry.Registry, def Config, apps map[string]App, log zerolog.Logger, opts ...Option) (*Manager, error) {
	m := &Manager{reg: reg, fs: OS{}, log: log, def: def, apps: map[string]Config{}, tmpl: map[string]*Template{},
		now: time.Now, queueBytes: QueueBytes, queueDur: QueueDuration, active: map[registry.Key]*recording{}, errs: map[string]*atomic.Uint64{}}
	for _, r := range Reasons {
		m.errs[r] = &atomic.Uint64{}
	}
	for _, o := range opts {
		o(m)
	}
	configs := []Config{def}
	for app, a := range apps {
		c := a.Apply(def)
		m.apps[app] = c
		configs = append(configs, c)
	}
	for _, c := range configs {
		if err := c.Validate("record"); err != nil {
			return nil, err
		}
		t, err := ParseTemplate(c.Path)
		if err != nil {
			return nil, err
		}
		m.tmpl[c.Path] = t
	}
	return m, nil
}

// config returns the recording configuration of app.
func (m *Manager) config(app string) Config {
	if c, ok := m.apps[app]; ok {
		return c
	}
	return m.def
}

// Published is the registry's WithOnPublish: it starts recording key if
// its app has recording enabled. It does not block.
func (m *Manager) Published(key registry.Key) {
	if !m.config(key.App).Enabled {
		return
	}
	if err := m.Start(key); err != nil && !errors.Is(err, registry.ErrNotFound) && !errors.Is(err, ErrClosed) {
		m.log.Warn().Err(err).Str("app", key.App).Str("stream", key.Name).Msg("record: not started")
	}
}

// recording is one stream session's recording.
type recording struct {
	key      registry.Key
	streamID uint64
	cancel   context.CancelFunc
	done     chan struct{} // closed when its goroutine has returned
	path     atomic.Pointer[string]
}

// Start records the live stream under key until it ends or Stop. It
// fails with registry.ErrNotFound if key is not live, ErrRecording if it
// is being recorded already.
func (m *Manager) Start(key registry.Key) error {
	ctx, cancel := context.WithCancel(context.Background())
	// The handle first: the stream cannot be freed while we set up.
	player, err := m.reg.PlayWith(key, registry.PlayerInfo{Protocol: Protocol, Remote: "recorder"}, cancel)
	if err != nil {
		cancel()
		return err
	}
	// Subscribed before Start returns (it does not block): called from
	// the registry's publish, the recording misses nothing of the stream.
	sub, err := player.SubscribeBounded(m.queueBytes, m.queueDur)
	if err != nil {
		player.Release()
		cancel()
		return err
	}
	rec := &recording{key: key, streamID: player.StreamID(), cancel: cancel, done: make(chan struct{})}
	m.mu.Lock()
	old, busy := m.active[key]
	refuse := m.closed || (busy && old.streamID == rec.streamID)
	if !refuse {
		m.active[key] = rec // an old session's recording, still finishing, is replaced
		m.wg.Add(1)
	}
	closed := m.closed
	m.mu.Unlock()
	if refuse {
		player.Release()
		cancel()
		if closed {
			return ErrClosed
		}
		return ErrRecording
	}
	go m.run(ctx, rec, player, sub)
	return nil
}

// Stop ends the recording of key and waits until its file is closed, or
// returns ErrNotRecording.
func (m *Manager) Stop(ctx context.Context, key registry.Key) error {
	m.mu.Lock()
	rec, ok := m.active[key]
	m.mu.Unlock()
	if !ok {
		return ErrNotRecording
	}
	rec.cancel()
	select {
	case <-rec.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Recording returns the file the stream under key is being recorded to
// now ("" before its first tag), and whether it is being recorded.
func (m *Manager) Recording(key registry.Key) (string, bool) {
	m.mu.Lock()
	rec, ok := m.active[key]
	m.mu.Unlock()
	if !ok {
		return "", false
	}
	if p := rec.path.Load(); p != nil {
		return *p, true
	}
	return "", true
}

// Active returns how many recordings run.
func (m *Manager) Active() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.active)
}

// Counts is what the manager counted, for metrics.
type Counts struct {
	Errors  map[string]uint64 // recordings stopped by an error, by reason
	Dropped uint64            // frames skipped because the disk was too slow
	Files   uint64            // files closed
	Bytes   uint64            // bytes written
}

// Counts returns the counts (atomics).
func (m *Manager) Counts() Counts {
	c := Counts{Errors: make(map[string]uint64, len(m.errs)), Dropped: m.dropped.Load(), Files: m.files.Load(), Bytes: m.bytes.Load()}
	for r, n := range m.errs {
		c.Errors[r] = n.Load()
	}
	return c
}

// Close stops every recording and waits until their files are closed,
// or ctx is done. Recordings of streams that ended first finish on their
// own; call Close after the publishers have gone.
func (m *Manager) Close(ctx context.Context) error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	m.mu.Lock()
	recs := make([]*recording, 0, len(m.active))
	for _, rec := range m.active {
		recs = append(recs, rec)
	}
	m.mu.Unlock()
	for _, rec := range recs {
		rec.cancel()
	}
	select { // a cancelled recording ends at once, but for a disk that hangs
	case <-done:
	case <-time.After(time.Second):
	}
	return ctx.Err()
}

// run is a recording's goroutine: it owns the player handle and the file.
func (m *Manager) run(ctx context.Context, rec *recording, player *registry.Player, sub *stream.Subscriber) {
	defer m.wg.Done()
	defer close(rec.done)
	defer m.remove(rec)
	defer rec.cancel()
	defer player.Release()
	log := m.log.With().Str("app", rec.key.App).Str("stream", rec.key.Name).Logger()
	cfg := m.config(rec.key.App)
	w := &writer{m: m, rec: rec, cfg: cfg, tmpl: m.tmpl[cfg.Path], log: log}
	log.Info().Msg("record start")
	reason := w.loop(ctx, sub)
	log.Info().Str("reason", reason).Int("files", w.seq).Msg("record stop")
}

// remove takes rec out of the active set, unless a newer session's
// recording replaced it.
func (m *Manager) remove(rec *recording) {
	m.mu.Lock()
	if m.active[rec.key] == rec {
		delete(m.active, rec.key)
	}
	m.mu.Unlock()
}

// writer is one recording's file state; used by its goroutine only.
type writer struct {
	m    *Manager
	rec  *recording
	cfg  Config
	tmpl *Template
	log  zerolog.Logger

	file  mediaFile
	seq   int  // files opened
	video bool // the stream has video: files are cut at keyframes
	audio bool
	// the latest metadata and sequence headers, for the next file's start
	meta, videoSeq, audioSeq *stream.Tag
	dropped                  uint64 // the subscriber's drops counted so far
}

// loop writes what sub gives until the stream ends, ctx is done or the
// file system fails, and returns why it stopped.
func (w *writer) loop(ctx context.Context, sub *stream.Subscriber) string {
	var batch []*stream.Tag
	for {
		// With tags buffered, wait for more at most until they are due
		// to be written: a stream that stalls loses nothing to a crash.
		wait, stop := ctx, context.CancelFunc(nil)
		if w.file != nil && w.file.buffered() > 0 {
			wait, stop = context.WithTimeout(ctx, flushEvery)
		}
		var err error
		batch, err = sub.Next(wait, batch[:0])
		if stop != nil {
			stop()
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				err = nil
			}
		}
		if len(batch) > 0 && w.file == nil && w.seq == 0 {
			w.audio, w.video = sub.Tracks()
		}
		for _, t := range batch {
			if ferr := w.add(t); ferr != nil {
				return w.fail(ferr)
			}
		}
		if cap(batch) > stream.KeepQueueCap {
			batch = nil
		} else {
			clear(batch)
		}
		if d := sub.Dropped(); d > w.dropped {
			w.m.dropped.Add(d - w.dropped)
			w.dropped = d
		}
		now := w.m.now()
		if w.file != nil && (err != nil || w.file.due(now)) {
			if ferr := w.file.flush(now); ferr != nil {
				return w.fail(ferr)
			}
		}
		if err != nil {
			if ferr := w.closeFile(); ferr != nil {
				return w.fail(ferr)
			}
			switch {
			case errors.Is(err, stream.ErrEnded):
				return "stream ended"
			case errors.Is(err, context.Canceled):
				return "stopped"
			}
			return err.Error()
		}
	}
}

// add writes t to the current file, opening one first (or, at a
// keyframe after SegmentDuration, the next one).
func (w *writer) add(t *stream.Tag) error {
	if t.Header {
		switch t.Type {
		case flv.TagScript:
			t = withoutDuration(t)
			w.meta = t
		case flv.TagVideo:
			w.videoSeq = t
		case flv.TagAudio:
			w.audioSeq = t
		}
	}
	if w.file != nil && w.cut(t) {
		if err := w.closeFile(); err != nil {
			return err
		}
	}
	if w.file == nil {
		// The first file gets the headers from the join batch; a later
		// one starts with those seen last.
		if err := w.open(w.seq > 0 && !t.Header); err != nil {
			return err
		}
	}
	if err := w.file.add(t); err != nil {
		return err
	}
	if w.file.buffered() >= flushBytes {
		return w.file.flush(w.m.now())
	}
	return nil
}

// durationKey is onMetaData's "duration" property as AMF0 writes it: the
// key's length and name, then the number marker.
var durationKey = []byte("\x00\x08duration\x00")

// withoutDuration returns the metadata tag t with its duration set to 0:
// the publisher's duration (ffmpeg sends its input's) is not the file's,
// and a 0 makes readers (ffprobe) take the file's from its last tag.
func withoutDuration(t *stream.Tag) *stream.Tag {
	i := bytes.Index(t.Data, durationKey)
	if i < 0 || i+len(durationKey)+8 > len(t.Data)-flv.PrevTagSizeLen {
		return t
	}
	c := *t
	c.Data = bytes.Clone(t.Data)
	clear(c.Data[i+len(durationKey) : i+len(durationKey)+8])
	return &c
}

// cut reports whether t starts the next segment.
func (w *writer) cut(t *stream.Tag) bool {
	if w.cfg.SegmentDuration <= 0 || t.Header || !w.file.hasMedia() {
		return false
	}
	if w.video && (t.Type != flv.TagVideo || !t.Keyframe) {
		return false
	}
	return w.file.elapsed(t) >= w.cfg.SegmentDuration
}

// open creates the next file and, with headers, writes the latest
// metadata and sequence headers at its start.
func (w *writer) open(headers bool) error {
	now := w.m.now()
	path, err := w.tmpl.Expand(w.rec.key, now, w.seq)
	if err != nil {
		return err
	}
	f, path, err := create(w.m.fs, path)
	if err != nil {
		return err
	}
	w.seq++
	if w.cfg.Format == FormatMP4 {
		w.file = newMP4File(f, path, now)
	} else {
		w.file = newFLVFile(f, path, w.audio, w.video, now)
	}
	w.rec.path.Store(&path)
	if headers {
		for _, h := range []*stream.Tag{w.meta, w.videoSeq, w.audioSeq} {
			if h != nil {
				if err := w.file.add(h); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// closeFile syncs and closes the current file, if any, and reports it.
func (w *writer) closeFile() error {
	f := w.file
	if f == nil {
		return nil
	}
	w.file = nil
	err := f.close(w.m.now())
	w.m.bytes.Add(uint64(f.size()))
	if err != nil {
		return err
	}
	w.m.files.Add(1)
	w.log.Info().Str("path", f.name()).Dur("duration", f.duration()).Int64("bytes", f.size()).Msg("record file done")
	if w.m.done != nil {
		w.m.done(Done{Key: w.rec.key, Path: f.name(), Duration: f.duration(), Bytes: f.size()})
	}
	return nil
}

// fail stops the recording after a file-system error: the file is
// closed (what it holds up to its last whole tag stays), the error
// counted and logged once.
func (w *writer) fail(err error) string {
	if w.file != nil {
		w.file.abort()
		w.m.bytes.Add(uint64(w.file.size()))
		w.file = nil
	}
	reason := reasonOf(err)
	w.m.errs[reason].Add(1)
	w.log.Error().Err(err).Str("reason", reason).Msg("record failed: recording stopped, the stream goes on")
	return "error: " + reason
}

// Recorded is one file found under the recording roots.
type Recorded struct {
	Path     string
	App      string
	Stream   string
	Size     int64
	Modified time.Time
}

// maxListed bounds the directory entries List visits.
const maxListed = 100000

// List returns the files under every template's root that the template
// could have made, sorted by path.
func (m *Manager) List() ([]Recorded, error) {
	var out []Recorded
	seen := map[string]bool{}
	visited := 0
	roots := make([]string, 0, len(m.tmpl))
	for p := range m.tmpl {
		roots = append(roots, p)
	}
	sort.Strings(roots)
	for _, p := range roots {
		t := m.tmpl[p]
		err := filepath.WalkDir(t.Root(), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil // nothing recorded yet, or an unreadable directory: skipped
			}
			if visited++; visited > maxListed {
				return fs.SkipAll
			}
			if d.IsDir() || !d.Type().IsRegular() || seen[path] {
				return nil
			}
			rel, err := filepath.Rel(t.Root(), path)
			if err != nil {
				return nil
			}
			app, name, ok := t.Match(filepath.ToSlash(rel))
			if !ok {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return nil
			}
			seen[path] = true
			out = append(out, Recorded{Path: path, App: app, Stream: name, Size: info.Size(), Modified: info.ModTime()})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}
