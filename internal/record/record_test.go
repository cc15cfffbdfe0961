package record

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/stream"
	"github.com/headwater-media/headwater/internal/stream/streamtest"
	"github.com/headwater-media/headwater/pkg/flv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// memFS is a file system in memory that records every write, and can
// fail writes with ENOSPC once budget bytes have been written (budget < 0:
// never) or opens with EACCES.
type memFS struct {
	mu       sync.Mutex
	files    map[string]*memFile
	budget   int64
	denyOpen bool
}

func newMemFS() *memFS { return &memFS{files: map[string]*memFile{}, budget: -1} }

func (m *memFS) MkdirAll(string, os.FileMode) error { return nil }

func (m *memFS) OpenFile(name string, flag int, _ os.FileMode) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.denyOpen {
		return nil, &os.PathError{Op: "open", Path: name, Err: syscall.EACCES}
	}
	if _, ok := m.files[name]; ok && flag&os.O_EXCL != 0 {
		return nil, &os.PathError{Op: "open", Path: name, Err: os.ErrExist}
	}
	f := &memFile{fs: m}
	m.files[name] = f
	return f, nil
}

// names returns the files made, sorted.
func (m *memFS) names() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for n := range m.files {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (m *memFS) file(name string) *memFile {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.files[name]
}

type memFile struct {
	fs     *memFS
	data   []byte
	writes [][]byte // the file's content after each write: what a crash could leave
	synced bool
	closed bool
}

func (f *memFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	n := len(p)
	var err error
	if f.fs.budget >= 0 && int64(n) > f.fs.budget {
		n, err = int(f.fs.budget), &os.PathError{Op: "write", Path: "mem", Err: syscall.ENOSPC}
	}
	if f.fs.budget >= 0 {
		f.fs.budget -= int64(n)
	}
	f.data = append(f.data, p[:n]...)
	f.writes = append(f.writes, bytes.Clone(f.data))
	return n, err
}

func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	f.synced = true
	return nil
}

func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	f.data = f.data[:size]
	return nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	f.closed = true
	return nil
}

func (f *memFile) content() []byte {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	return bytes.Clone(f.data)
}

// parsed is what pkg/flv's reader finds in b.
type parsed struct {
	tags     []flv.Tag
	firstKey bool // the first coded video frame is a keyframe
	err      error
}

func parse(t *testing.T, b []byte) parsed {
	t.Helper()
	r := flv.NewReader(bytes.NewReader(b))
	_, err := r.ReadHeader()
	require.NoError(t, err)
	var p parsed
	seen := false
	for {
		tag, err := r.ReadTag()
		if err != nil {
			p.err = err
			return p
		}
		tag.Data = bytes.Clone(tag.Data)
		p.tags = append(p.tags, tag)
		if tag.Type == flv.TagVideo && !seen {
			if vi, err := flv.ParseVideo(tag.Data); err == nil && !vi.SequenceHeader {
				seen, p.firstKey = true, vi.Keyframe
			}
		}
	}
}

type fixture struct {
	reg *registry.Registry
	fs  *memFS
	m   *Manager
	key registry.Key
	pub *registry.Publisher
	ts  uint32
	mu  sync.Mutex
	got []Done
}

func newFixture(t *testing.T, cfg Config, opts ...Option) *fixture {
	t.Helper()
	f := &fixture{fs: newMemFS(), key: registry.Key{App: "live", Name: "cam"}}
	var m *Manager
	f.reg = registry.New(stream.DefaultConfig(), registry.WithOnPublish(func(k registry.Key) { m.Published(k) }))
	opts = append([]Option{WithFS(f.fs), WithDone(func(d Done) { f.mu.Lock(); f.got = append(f.got, d); f.mu.Unlock() })}, opts...)
	var err error
	m, err = NewManager(f.reg, cfg, nil, zerolog.Nop(), opts...)
	require.NoError(t, err)
	f.m = m
	t.Cleanup(func() {
		require.NoError(t, m.Close(context.Background()))
		require.Equal(t, registry.Stats{}, f.reg.Stats(), "registry empty")
	})
	return f
}

func (f *fixture) publish(t *testing.T) {
	t.Helper()
	pub, err := f.reg.Publish(f.key, registry.PublisherInfo{}, nil)
	require.NoError(t, err)
	f.pub = pub
	for _, b := range [][]byte{streamtest.Metadata(true, true), streamtest.AVCSeqHeader(), streamtest.AACSeqHeader()} {
		typ := uint8(flv.TagVideo)
		switch b[flv.TagHeaderSize] {
		case 0x02:
			typ = flv.TagScript
		case 0xaf:
			typ = flv.TagAudio
		}
		require.NoError(t, pub.Write(typ, 0, b))
	}
}

// media writes ms of 25 fps video (a keyframe a second) and audio every
// 40 ms, after what was written before.
func (f *fixture) media(t *testing.T, ms uint32) {
	t.Helper()
	for end := f.ts + ms; f.ts < end; f.ts += 40 {
		require.NoError(t, f.pub.Write(flv.TagVideo, f.ts, streamtest.AVCFrame(f.ts%1000 == 0, 500)))
		require.NoError(t, f.pub.Write(flv.TagAudio, f.ts, streamtest.AACFrame(100)))
	}
}

func (f *fixture) waitActive(t *testing.T, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return f.m.Active() == n }, 5*time.Second, time.Millisecond)
}

func (f *fixture) done() []Done {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Done(nil), f.got...)
}

func TestRecordsASessionToOneFile(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Enabled = true
	f := newFixture(t, cfg)
	f.publish(t)
	f.waitActive(t, 1)
	f.media(t, 3000)
	f.pub.Release()
	f.waitActive(t, 0)

	names := f.fs.names()
	require.Len(t, names, 1)
	require.True(t, strings.HasPrefix(names[0], filepath.FromSlash("recordings/live/cam/")), names[0])
	file := f.fs.file(names[0])
	require.True(t, file.synced && file.closed, "synced and closed")
	p := parse(t, file.content())
	require.ErrorIs(t, p.err, io.EOF)
	require.True(t, p.firstKey)
	require.Equal(t, uint8(flv.TagScript), p.tags[0].Type, "metadata first")
	require.Equal(t, 3+2*75, len(p.tags), "every tag")
	require.Equal(t, uint32(2960), p.tags[len(p.tags)-1].Timestamp)

	d := f.done()
	require.Len(t, d, 1)
	require.Equal(t, names[0], d[0].Path)
	require.Equal(t, 2960*time.Millisecond, d[0].Duration)
	require.EqualValues(t, len(file.content()), d[0].Bytes)

	// Every state a crash could leave is whole tags only.
	require.NotEmpty(t, file.writes)
	for i, w := range file.writes {
		require.ErrorIs(t, parse(t, w).err, io.EOF, "after write %d", i)
	}
}

// TestSegmentsCutAtKeyframes: segment_duration 2s with a keyframe a
// second: files of 2 s, each starting with metadata, sequence headers and
// a keyframe, timestamps from 0, names apart.
func TestSegmentsCutAtKeyframes(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Enabled, cfg.SegmentDuration = true, 2*time.Second
	cfg.Path = "/r/{app}/{stream}.flv"
	f := newFixture(t, cfg)
	f.publish(t)
	f.waitActive(t, 1)
	f.media(t, 5000)
	f.pub.Release()
	f.waitActive(t, 0)

	names := f.fs.names()
	require.Equal(t, []string{"/r/live/cam-1.flv", "/r/live/cam-2.flv", "/r/live/cam.flv"}, names)
	for i, n := range []string{"/r/live/cam.flv", "/r/live/cam-1.flv", "/r/live/cam-2.flv"} {
		p := parse(t, f.fs.file(n).content())
		require.ErrorIs(t, p.err, io.EOF)
		require.GreaterOrEqual(t, len(p.tags), 4, n)
		require.Equal(t, []uint8{flv.TagScript, flv.TagVideo, flv.TagAudio}, []uint8{p.tags[0].Type, p.tags[1].Type, p.tags[2].Type}, n)
		vi, err := flv.ParseVideo(p.tags[3].Data)
		require.NoError(t, err)
		require.True(t, vi.Keyframe && !vi.SequenceHeader, "%s: the first frame is a keyframe", n)
		require.Zero(t, p.tags[3].Timestamp, n)
		want := uint32(1960)
		if i == 2 {
			want = 960
		}
		require.Equal(t, want, p.tags[len(p.tags)-1].Timestamp, n)
	}
	require.Len(t, f.done(), 3)
}

// TestDiskFull: ENOSPC mid-recording stops that recording only: one
// error counted, the file cut back to whole tags, the handle released,
// the stream and another player go on; the next session records again.
func TestDiskFull(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Enabled = true
	f := newFixture(t, cfg)
	f.fs.budget = 300 << 10
	f.publish(t)
	f.waitActive(t, 1)
	player, err := f.reg.Play(f.key, "")
	require.NoError(t, err)
	sub, err := player.Subscribe()
	require.NoError(t, err)
	for f.m.Active() == 1 {
		f.media(t, 1000)
		batch, err := sub.Next(context.Background(), nil)
		require.NoError(t, err)
		require.NotEmpty(t, batch)
	}
	require.EqualValues(t, 1, f.m.Counts().Errors[ReasonNoSpace])
	info, err := f.reg.Stream(f.key)
	require.NoError(t, err, "the stream goes on")
	require.Equal(t, 1, info.Players, "the recorder released its handle")
	f.media(t, 1000)
	_, err = sub.Next(context.Background(), nil)
	require.NoError(t, err, "the player goes on")
	names := f.fs.names()
	require.Len(t, names, 1)
	p := parse(t, f.fs.file(names[0]).content())
	require.ErrorIs(t, p.err, io.EOF, "cut back to its last whole tag")
	require.Empty(t, f.done(), "a failed file is not reported done")
	player.Release()
	f.pub.Release()

	f.fs.mu.Lock()
	f.fs.budget = -1
	f.fs.mu.Unlock()
	f.publish(t)
	f.waitActive(t, 1)
	f.media(t, 1000)
	f.pub.Release()
	f.waitActive(t, 0)
	require.Len(t, f.fs.names(), 2, "the next session records, to a new name")
	require.Len(t, f.done(), 1)
	require.EqualValues(t, 1, f.m.Counts().Errors[ReasonNoSpace])
}

// TestPermissionDenied: a file that cannot be opened stops the recording
// with reason permission, and the handle is released.
func TestPermissionDenied(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Enabled = true
	f := newFixture(t, cfg)
	f.fs.denyOpen = true
	f.publish(t)
	f.media(t, 200)
	f.waitActive(t, 0)
	require.EqualValues(t, 1, f.m.Counts().Errors[ReasonPermission])
	info, err := f.reg.Stream(f.key)
	require.NoError(t, err)
	require.Zero(t, info.Players)
	f.pub.Release()
}

// TestStartStop: Start needs a live stream, refuses a second recording,
// Stop closes the file and reports it; an unpublished stream without
// record.enabled is not recorded.
func TestStartStop(t *testing.T) {
	f := newFixture(t, DefaultConfig())
	require.ErrorIs(t, f.m.Start(f.key), registry.ErrNotFound)
	f.publish(t)
	require.Zero(t, f.m.Active(), "record.enabled is off")
	require.NoError(t, f.m.Start(f.key))
	require.ErrorIs(t, f.m.Start(f.key), ErrRecording)
	f.media(t, 1000)
	require.Eventually(t, func() bool { p, ok := f.m.Recording(f.key); return ok && p != "" }, 5*time.Second, time.Millisecond)
	require.NoError(t, f.m.Stop(context.Background(), f.key))
	_, ok := f.m.Recording(f.key)
	require.False(t, ok)
	require.ErrorIs(t, f.m.Stop(context.Background(), f.key), ErrNotRecording)
	require.Len(t, f.done(), 1)
	p := parse(t, f.fs.file(f.done()[0].Path).content())
	require.ErrorIs(t, p.err, io.EOF)
	require.True(t, p.firstKey)
	info, err := f.reg.Stream(f.key)
	require.NoError(t, err)
	require.Zero(t, info.Players, "the handle is released")
	f.pub.Release()
}

// TestKickAndCloseEndRecordings: the API's player kick stops a
// recording; Close stops the others and waits for them.
func TestKickAndCloseEndRecordings(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Enabled = true
	f := newFixture(t, cfg)
	f.publish(t)
	f.waitActive(t, 1)
	f.media(t, 500)
	ps := f.reg.Players()
	require.Len(t, ps, 1)
	require.Equal(t, Protocol, ps[0].Protocol)
	require.NoError(t, f.reg.KickPlayer(ps[0].ID))
	f.waitActive(t, 0) // (a kick drops what was queued: its file may be empty or absent)
	before := len(f.done())

	require.NoError(t, f.m.Start(f.key))
	f.media(t, 500)
	// The stream is live: Close waits for it until its context ends,
	// then stops the recording.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, f.m.Close(ctx), context.DeadlineExceeded)
	require.Zero(t, f.m.Active())
	require.ErrorIs(t, f.m.Start(f.key), ErrClosed)
	require.Len(t, f.done(), before+1)
	f.pub.Release()
}

// TestSlowDiskSkipsToKeyframe: a disk that blocks does not block the
// publisher: past the recorder's queue it skips to a keyframe, counted.
func TestSlowDiskSkipsToKeyframe(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Enabled = true
	block := make(chan struct{})
	fs := &blockingFS{memFS: newMemFS(), block: block}
	f := newFixture(t, cfg, WithFS(fs))
	f.m.queueBytes = 2 << 20
	f.publish(t)
	f.waitActive(t, 1)
	f.media(t, 1000)
	require.Eventually(t, func() bool { return fs.waiting() }, 5*time.Second, time.Millisecond)
	big := streamtest.AVCFrame(true, 64<<10)
	start := time.Now()
	for i := 0; i < 2<<20/(64<<10)+10; i++ { // more than the queue holds
		f.ts += 40
		require.NoError(t, f.pub.Write(flv.TagVideo, f.ts, big))
	}
	require.Less(t, time.Since(start), 5*time.Second, "the publisher is never blocked")
	close(block)
	f.media(t, 1000)
	f.pub.Release()
	f.waitActive(t, 0)
	require.Positive(t, f.m.Counts().Dropped)
}

// blockingFS's files block their first write until block is closed.
type blockingFS struct {
	*memFS
	block   chan struct{}
	mu      sync.Mutex
	blocked bool
}

func (b *blockingFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := b.memFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &blockingFile{File: f, fs: b}, nil
}

func (b *blockingFS) waiting() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.blocked
}

type blockingFile struct {
	File
	fs *blockingFS
}

func (f *blockingFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	f.fs.blocked = true
	f.fs.mu.Unlock()
	<-f.fs.block
	return f.File.Write(p)
}

func TestReasons(t *testing.T) {
	for err, want := range map[error]string{
		syscall.ENOSPC: ReasonNoSpace, syscall.EDQUOT: ReasonNoSpace,
		&os.PathError{Err: syscall.EACCES}: ReasonPermission, syscall.EPERM: ReasonPermission,
		syscall.EROFS: ReasonReadOnly, errors.New("x"): ReasonIO,
	} {
		require.Equal(t, want, reasonOf(err), "%v", err)
	}
}

// BenchmarkRecord: the cost of recording, per tag, to a real file: a
// 2.5 Mbit/s-like stream of 25 fps video (a keyframe a second, 12 KiB
// frames) and audio every 23 ms, through the subscriber, the writer and
// the file system, synced at the end.
func BenchmarkRecord(b *testing.B) {
	dir := b.TempDir()
	reg := registry.New(stream.DefaultConfig())
	cfg := DefaultConfig()
	cfg.Path = dir + "/{app}/{stream}.flv"
	m, err := NewManager(reg, cfg, nil, zerolog.Nop())
	require.NoError(b, err)
	key := registry.Key{App: "live", Name: "bench"}
	pub, err := reg.Publish(key, registry.PublisherInfo{}, nil)
	require.NoError(b, err)
	require.NoError(b, pub.Write(flv.TagScript, 0, streamtest.Metadata(true, true)))
	require.NoError(b, pub.Write(flv.TagVideo, 0, streamtest.AVCSeqHeader()))
	require.NoError(b, pub.Write(flv.TagAudio, 0, streamtest.AACSeqHeader()))
	require.NoError(b, m.Start(key))
	key1, frame, audio := streamtest.AVCFrame(true, 12<<10), streamtest.AVCFrame(false, 12<<10), streamtest.AACFrame(180)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)+len(audio)) / 2)
	b.ResetTimer()
	ts := uint32(0)
	for i := 0; i < b.N; i += 2 {
		v := frame
		if i%50 == 0 {
			v = key1
		}
		_ = pub.Write(flv.TagVideo, ts, v)
		_ = pub.Write(flv.TagAudio, ts, audio)
		ts += 40
		if i%64 == 0 { // let the recorder keep up, as real time would
			for {
				p := reg.Players()
				if len(p) == 0 || p[0].QueueTags < 256 {
					break
				}
				time.Sleep(100 * time.Microsecond)
			}
		}
	}
	pub.Release()
	require.NoError(b, m.Close(context.Background()))
	b.StopTimer()
	require.Zero(b, m.Counts().Dropped, "nothing dropped")
}

// RegistryInfo is a publisher's description in these tests.
func RegistryInfo() registry.PublisherInfo { return registry.PublisherInfo{} }

// blockOpenFS's OpenFile blocks until release is closed.
type blockOpenFS struct {
	*memFS
	opening chan struct{} // closed when an open has started
	release chan struct{}
	once    sync.Once
}

func (b *blockOpenFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	b.once.Do(func() { close(b.opening) })
	<-b.release
	return b.memFS.OpenFile(name, flag, perm)
}

// TestKilledAtEachStep: a recording ended before its handle (a stream
// not live), during its blocking step (the disk open, by the stream's
// end or Stop) or mid-stream (kick, Stop) leaves the registry empty, and
// goleak (TestMain) finds no goroutine.
func TestKilledAtEachStep(t *testing.T) {
	t.Run("before the handle", func(t *testing.T) {
		f := newFixture(t, DefaultConfig())
		require.ErrorIs(t, f.m.Start(f.key), registry.ErrNotFound)
		require.Equal(t, registry.Stats{}, f.reg.Stats())
	})
	for _, how := range []string{"stream ends", "stop"} {
		t.Run("during the open: "+how, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Enabled = true
			fs := &blockOpenFS{memFS: newMemFS(), opening: make(chan struct{}), release: make(chan struct{})}
			f := newFixture(t, cfg, WithFS(fs))
			f.publish(t)
			f.media(t, 200)
			<-fs.opening
			if how == "stop" {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
				require.ErrorIs(t, f.m.Stop(ctx, f.key), context.DeadlineExceeded, "the open blocks")
				cancel()
			}
			f.pub.Release()
			require.Equal(t, 1, f.reg.Stats().Alive, "the recording's handle holds the ended stream")
			close(fs.release)
			f.waitActive(t, 0)
			require.Equal(t, registry.Stats{}, f.reg.Stats())
		})
	}
	for _, how := range []string{"kick", "stop"} {
		t.Run("mid-stream: "+how, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Enabled = true
			f := newFixture(t, cfg)
			f.publish(t)
			f.media(t, 1000)
			require.Eventually(t, func() bool { p, _ := f.m.Recording(f.key); return p != "" }, 5*time.Second, time.Millisecond)
			if how == "kick" {
				require.NoError(t, f.reg.KickPlayer(f.reg.Players()[0].ID))
			} else {
				require.NoError(t, f.m.Stop(context.Background(), f.key))
			}
			f.waitActive(t, 0)
			f.media(t, 500)
			require.Zero(t, f.reg.Stats().Players)
			f.pub.Release()
			require.Equal(t, registry.Stats{}, f.reg.Stats())
		})
	}
}
