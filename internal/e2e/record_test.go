package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/internal/config"
	recpkg "github.com/headwater-media/headwater/internal/record"
	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/server"
	"github.com/headwater-media/headwater/pkg/flv"
)

// publishFast publishes seconds of the test pattern and tone to url as
// fast as ffmpeg makes them (no -re), then exits.
func publishFast(t testing.TB, url string, seconds int) *publisher {
	t.Helper()
	args := []string{"-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", strconv.Itoa(seconds),
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "64k", "-f", "flv", url}
	p := &publisher{cmd: exec.Command("ffmpeg", args...), stderr: &bytes.Buffer{}, done: make(chan struct{})}
	p.cmd.Stderr = p.stderr
	require.NoError(t, p.cmd.Start())
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(p.kill)
	return p
}

// ffprobeDuration is the duration ffprobe reads from a file, in seconds.
func ffprobeDuration(t *testing.T, path string) float64 {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration",
		"-of", "default=noprint_wrappers=1:nokey=1", path).CombinedOutput()
	require.NoError(t, err, "ffprobe %s: %s", path, out)
	d, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	require.NoError(t, err, "ffprobe %s: %s", path, out)
	return d
}

// recorded is what pkg/flv's reader finds in a recorded file.
type recorded struct {
	header   flv.Header
	tags     int
	firstKey bool   // the first coded video frame is a keyframe
	lastTS   uint32 // of the last whole tag
	err      error  // what ended the reading: io.EOF for a clean end
	size     int64
}

func readRecorded(t *testing.T, path string) recorded {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	r := flv.NewReader(bytes.NewReader(b))
	var res recorded
	res.size = int64(len(b))
	res.header, err = r.ReadHeader()
	require.NoError(t, err, path)
	seenVideo := false
	for {
		tag, err := r.ReadTag()
		if err != nil {
			res.err = err
			return res
		}
		res.tags++
		res.lastTS = tag.Timestamp
		if tag.Type == flv.TagVideo && !seenVideo {
			vi, err := flv.ParseVideo(tag.Data)
			if err == nil && !vi.SequenceHeader {
				seenVideo, res.firstKey = true, vi.Keyframe
			}
		}
	}
}

// flvFiles lists the .flv files under dir, sorted.
func flvFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".flv") {
			out = append(out, p)
		}
		return err
	}))
	sort.Strings(out)
	return out
}

// waitRecordings waits until n streams are being recorded.
func waitRecordings(t *testing.T, s *server.Server, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return s.Recorder().Active() == n }, 20*time.Second, 10*time.Millisecond,
		"want %d recordings, have %d", n, s.Recorder().Active())
}

// TestRecordSessionDuration: a 20 s session (published faster than real
// time) is recorded to one file under the configured root that ffprobe
// reads as 20 ± 1 s; the on_record_done hook gets its path, the
// recordings list shows it.
func TestRecordSessionDuration(t *testing.T) {
	t.Parallel()
	needFFmpeg(t)
	dir := t.TempDir()
	var (
		mu   sync.Mutex
		done []map[string]any
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev map[string]any
		_ = json.NewDecoder(r.Body).Decode(&ev)
		mu.Lock()
		done = append(done, ev)
		mu.Unlock()
	}))
	defer hook.Close()
	s := startServer(t, func(c *config.Config) {
		c.Record.Enabled = true
		c.Record.Path = dir + "/{app}/{stream}/{start:20060102-150405}.flv"
		c.Hooks.OnRecordDone = hook.URL
	})
	pub := publishFast(t, s.rtmpURL+"/live/dur", 20)
	require.NoError(t, pub.wait(t, 60*time.Second), pub.stderr.String())
	waitRecordings(t, s.Server, 0)

	files := flvFiles(t, dir)
	require.Len(t, files, 1)
	require.True(t, strings.HasPrefix(files[0], filepath.Join(dir, "live", "dur")+"/"), files[0])
	rec := readRecorded(t, files[0])
	require.ErrorIs(t, rec.err, io.EOF, "a closed recording ends with a whole tag")
	require.True(t, rec.header.HasAudio && rec.header.HasVideo)
	require.True(t, rec.firstKey, "the file starts with a keyframe")
	d := ffprobeDuration(t, files[0])
	t.Logf("%s: %d tags, %d bytes, ffprobe duration %.3f s", files[0], rec.tags, rec.size, d)
	require.InDelta(t, 20, d, 1, "ffprobe's duration")

	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(done) == 1 }, 5*time.Second, 10*time.Millisecond)
	mu.Lock()
	ev := done[0]
	mu.Unlock()
	require.Equal(t, "on_record_done", ev["action"])
	require.Equal(t, "live", ev["app"])
	require.Equal(t, "dur", ev["stream"])
	require.Equal(t, files[0], ev["path"])
	require.InDelta(t, 20, ev["duration"], 1)
	require.EqualValues(t, rec.size, ev["bytes"])

	code, body := getBody(t, s.httpURL+"/api/v1/recordings?limit=10")
	require.Equal(t, http.StatusOK, code, body)
	var list struct {
		Recordings []struct {
			Path, App, Stream string
			Size              int64
		} `json:"recordings"`
		Total int `json:"total"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &list))
	require.Equal(t, 1, list.Total)
	require.Equal(t, files[0], list.Recordings[0].Path)
	require.Equal(t, "live", list.Recordings[0].App)
	require.Equal(t, "dur", list.Recordings[0].Stream)
	require.Equal(t, rec.size, list.Recordings[0].Size)
	_, body = getBody(t, s.httpURL+"/metrics")
	require.EqualValues(t, 1, metric(t, body, "headwater_record_files_total"))
}

// TestRecordSegmentsCutAtKeyframes: with segment_duration 2s and a
// keyframe a second, a 7 s session makes several files, each starting
// with its headers and a keyframe, each read by ffprobe, named apart.
func TestRecordSegmentsCutAtKeyframes(t *testing.T) {
	t.Parallel()
	needFFmpeg(t)
	dir := t.TempDir()
	s := startServer(t, func(c *config.Config) {
		c.Record.Path = dir + "/all/{app}-{stream}-{start:150405}-{seq}.flv"
		c.Record.Apps = map[string]recpkg.App{"seg": {Enabled: new(true), SegmentDuration: new(2 * time.Second)}}
	})
	pub := publishFast(t, s.rtmpURL+"/seg/cam", 7)
	require.NoError(t, pub.wait(t, 60*time.Second), pub.stderr.String())
	waitRecordings(t, s.Server, 0)

	files := flvFiles(t, dir)
	require.GreaterOrEqual(t, len(files), 3, "7 s in 2 s segments")
	require.LessOrEqual(t, len(files), 4)
	total := 0.0
	for i, f := range files {
		rec := readRecorded(t, f)
		require.ErrorIs(t, rec.err, io.EOF, f)
		require.True(t, rec.firstKey, "%s starts with a keyframe", f)
		d := ffprobeDuration(t, f)
		t.Logf("%s: %d tags, last ts %d, %.3f s", f, rec.tags, rec.lastTS, d)
		if i < len(files)-1 {
			require.InDelta(t, 2, d, 0.2, "%s: cut at the first keyframe after 2 s", f)
		}
		total += d
	}
	require.InDelta(t, 7, total, 1)

	// An app without an override is not recorded.
	pub = publishFast(t, s.rtmpURL+"/other/cam", 1)
	require.NoError(t, pub.wait(t, 30*time.Second), pub.stderr.String())
	require.Len(t, flvFiles(t, dir), len(files))
}

// TestRecordSurvivesKill9: the real binary is killed (SIGKILL) while it
// records; the file is readable up to its last whole tag, ffprobe reads
// it; after a restart the next session records to a new name and the
// partial file is kept as it was.
func TestRecordSurvivesKill9(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	env := []string{"HEADWATER_RECORD_ENABLED=true", "HEADWATER_RECORD_PATH=" + dir + "/{app}/{stream}.flv"}
	p := startBinaryEnv(t, env)
	pub := ffmpegPublish(t, "rtmp://"+p.rtmp+"/live/k9", "320x240")
	path := filepath.Join(dir, "live", "k9.flv")
	// Wait until the recording holds a few seconds (tags are written
	// every 0.5 s).
	require.Eventually(t, func() bool {
		st, err := os.Stat(path)
		return err == nil && st.Size() > 100<<10
	}, 30*time.Second, 50*time.Millisecond)
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	<-p.done
	pub.kill()

	rec := readRecorded(t, path)
	require.Greater(t, rec.tags, 50)
	require.True(t, errors.Is(rec.err, io.EOF) || errors.Is(rec.err, io.ErrUnexpectedEOF), "only the last tag may be cut: %v", rec.err)
	require.Greater(t, ffprobeDuration(t, path), 1.0)
	before, err := os.ReadFile(path)
	require.NoError(t, err)

	p = startBinaryEnv(t, env)
	pub = publishFast(t, "rtmp://"+p.rtmp+"/live/k9", 2)
	require.NoError(t, pub.wait(t, 30*time.Second), pub.stderr.String())
	next := filepath.Join(dir, "live", "k9-1.flv")
	require.Eventually(t, func() bool {
		rec, err := os.ReadFile(next)
		return err == nil && len(rec) > 0 && ffprobeErr(next) == nil
	}, 10*time.Second, 20*time.Millisecond, "the next session records to a new name")
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, before, after, "the crashed session's file is kept, not overwritten")
}

func ffprobeErr(path string) error {
	return exec.Command("ffprobe", "-v", "error", path).Run()
}

// faultFS is the OS's file system whose writes fail with ENOSPC once
// budget bytes have been written (a full disk), until refilled.
type faultFS struct {
	recpkg.OS
	budget atomic.Int64
}

func (f *faultFS) OpenFile(name string, flag int, perm os.FileMode) (recpkg.File, error) {
	file, err := f.OS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: file, fs: f}, nil
}

type faultFile struct {
	recpkg.File
	fs *faultFS
}

func (f *faultFile) Write(p []byte) (int, error) {
	left := f.fs.budget.Add(-int64(len(p)))
	if left < 0 {
		n := max(0, len(p)+int(left))
		f.fs.budget.Store(0)
		m, _ := f.File.Write(p[:n]) // a partial write, as a full disk does
		return m, &os.PathError{Op: "write", Path: "recording", Err: syscall.ENOSPC}
	}
	return f.File.Write(p)
}

// TestRecordDiskFull: the disk fills up mid-recording: the recording
// stops with one error and the metric counts it; the player carries on;
// the stream's next session records again. The file holds whole tags
// only.
func TestRecordDiskFull(t *testing.T) {
	t.Parallel()
	needFFmpeg(t)
	dir := t.TempDir()
	fsys := &faultFS{}
	fsys.budget.Store(200 << 10)
	cfg := config.Default()
	cfg.RTMP.Addr, cfg.HTTP.Addr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Record.Enabled = true
	cfg.Record.Path = dir + "/{app}/{stream}.flv"
	cfg.Publish.Grace = 0 // the killed publisher's next publish is a new session, as in startServer
	require.NoError(t, cfg.Validate())
	srv := server.New(cfg, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel), server.WithRecordFS(fsys))
	require.NoError(t, srv.Start())
	s := &testServer{Server: srv, rtmpURL: "rtmp://" + srv.RTMPAddr().String(), httpURL: "http://" + srv.HTTPAddr().String()}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, srv.Shutdown(ctx))
		require.Equal(t, registry.Stats{}, srv.Registry().Stats(), "registry must be empty after the scenario")
	})

	pub := ffmpegPublish(t, s.rtmpURL+"/live/full", "320x240", "-b:v", "800k")
	s.waitLive(t, "live", "full")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pl := play(ctx, s.httpURL+"/live/full.flv")
	pl.waitKey(t, 20*time.Second)

	errs := func() float64 {
		_, body := getBody(t, s.httpURL+"/metrics")
		return metric(t, body, `headwater_record_errors_total\{reason="no_space"\}`)
	}
	require.Eventually(t, func() bool { return errs() == 1 }, 20*time.Second, 20*time.Millisecond)
	waitRecordings(t, srv, 0)
	// The player goes on: it gets more tags after the recording stopped.
	n := <-pl.tags // the count so far
	pl.waitTags(t, n+25, 10*time.Second)
	info, err := srv.Registry().Stream(registry.Key{App: "live", Name: "full"})
	require.NoError(t, err, "the stream carries on")
	require.Equal(t, 1, info.Players, "the recorder released its handle")
	rec := readRecorded(t, filepath.Join(dir, "live", "full.flv"))
	require.ErrorIs(t, rec.err, io.EOF, "the file was cut back to its last whole tag")
	require.Less(t, rec.size, int64(200<<10)+1)

	// The next session records again, to a new name.
	fsys.budget.Store(1 << 30)
	pub.kill()
	cancel()
	pl.result(t, 10*time.Second)
	pub = ffmpegPublish(t, s.rtmpURL+"/live/full", "320x240")
	waitRecordings(t, srv, 1)
	require.Eventually(t, func() bool {
		st, err := os.Stat(filepath.Join(dir, "live", "full-1.flv"))
		return err == nil && st.Size() > 0
	}, 20*time.Second, 20*time.Millisecond)
	pub.kill()
	waitRecordings(t, srv, 0)
	require.EqualValues(t, 1, errs())
}

// TestRecordAPI: POST .../record starts recording a live stream (404 if
// not live, 409 twice), the stream's JSON names the file, DELETE stops it
// (404 if not recording).
func TestRecordAPI(t *testing.T) {
	t.Parallel()
	needFFmpeg(t)
	dir := t.TempDir()
	s := startServer(t, func(c *config.Config) {
		c.Record.Path = dir + "/{app}/{stream}-{start:20060102-150405}.flv"
	})
	do := func(method, path string) (int, string) {
		req, err := http.NewRequest(method, s.httpURL+path, nil)
		require.NoError(t, err)
		resp, err := httpClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, _ := do(http.MethodPost, "/api/v1/streams/live/api/record")
	require.Equal(t, http.StatusNotFound, code)

	pub := ffmpegPublish(t, s.rtmpURL+"/live/api", "320x240")
	s.waitLive(t, "live", "api")
	streamRecording := func() *string {
		_, body := getBody(t, s.httpURL+"/api/v1/streams/live/api")
		var st struct {
			Recording *string `json:"recording"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &st), body)
		return st.Recording
	}
	require.Nil(t, streamRecording(), "not recorded: recording is null")
	code, body := do(http.MethodPost, "/api/v1/streams/live/api/record")
	require.Equal(t, http.StatusCreated, code, body)
	code, _ = do(http.MethodPost, "/api/v1/streams/live/api/record")
	require.Equal(t, http.StatusConflict, code)
	require.Eventually(t, func() bool { r := streamRecording(); return r != nil && *r != "" }, 10*time.Second, 20*time.Millisecond)
	path := *streamRecording()
	require.True(t, strings.HasPrefix(path, filepath.Join(dir, "live", "api-")), path)
	require.Eventually(t, func() bool { st, err := os.Stat(path); return err == nil && st.Size() > 0 }, 10*time.Second, 20*time.Millisecond)

	code, _ = do(http.MethodDelete, "/api/v1/streams/live/api/record")
	require.Equal(t, http.StatusNoContent, code)
	require.Nil(t, streamRecording())
	code, _ = do(http.MethodDelete, "/api/v1/streams/live/api/record")
	require.Equal(t, http.StatusNotFound, code)
	rec := readRecorded(t, path)
	require.ErrorIs(t, rec.err, io.EOF, "a stopped recording is closed at a whole tag")
	require.True(t, rec.firstKey)
	require.NoError(t, ffprobeErr(path))
	pub.kill()
}

// TestRecordRealFullDisk is TestRecordDiskFull on a real file system: a
// 128 KiB tmpfs mounted for the test (root only; skipped elsewhere). The
// kernel's ENOSPC stops the recording, counted as no_space; the player
// carries on; the file holds whole tags.
func TestRecordRealFullDisk(t *testing.T) {
	needFFmpeg(t)
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() }) // after the server's shutdown (cleanups run last first)
	s := startServer(t, func(c *config.Config) {
		c.Record.Enabled = true
		c.Record.Path = dir + "/{app}/{stream}.flv"
	})
	pub := ffmpegPublish(t, s.rtmpURL+"/live/tmpfs", "320x240", "-b:v", "800k")
	s.waitLive(t, "live", "tmpfs")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pl := play(ctx, s.httpURL+"/live/tmpfs.flv")
	pl.waitKey(t, 20*time.Second)
	require.Eventually(t, func() bool {
		_, body := getBody(t, s.httpURL+"/metrics")
		return metric(t, body, `headwater_record_errors_total\{reason="no_space"\}`) == 1
	}, 20*time.Second, 20*time.Millisecond)
	waitRecordings(t, s.Server, 0)
	n := <-pl.tags
	pl.waitTags(t, n+25, 10*time.Second)
	rec := readRecorded(t, filepath.Join(dir, "live", "tmpfs.flv"))
	require.ErrorIs(t, rec.err, io.EOF, "the file was cut back to its last whole tag")
	require.Greater(t, rec.tags, 10)
	pub.kill()
	cancel()
	pl.result(t, 10*time.Second)
}

// TestRecordMP4: format mp4 records fragmented MP4 (H.264 + AAC) that
// ffprobe reads with the session's duration, in 2 s segments too.
func TestRecordMP4(t *testing.T) {
	t.Parallel()
	needFFmpeg(t)
	dir := t.TempDir()
	s := startServer(t, func(c *config.Config) {
		c.Record.Enabled, c.Record.Format = true, "mp4"
		c.Record.Path = dir + "/{app}/{stream}-{seq}.mp4"
		c.Record.Apps = map[string]recpkg.App{"seg": {SegmentDuration: new(2 * time.Second)}}
	})
	pub := publishFast(t, s.rtmpURL+"/live/m", 10)
	require.NoError(t, pub.wait(t, 60*time.Second), pub.stderr.String())
	pub = publishFast(t, s.rtmpURL+"/seg/m", 5)
	require.NoError(t, pub.wait(t, 60*time.Second), pub.stderr.String())
	waitRecordings(t, s.Server, 0)

	one := filepath.Join(dir, "live", "m-0.mp4")
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", one).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Equal(t, "h264\naac", strings.TrimSpace(string(out)))
	d := ffprobeDuration(t, one)
	t.Logf("%s: ffprobe duration %.3f s", one, d)
	require.InDelta(t, 10, d, 1)
	var segs []string
	require.NoError(t, filepath.WalkDir(filepath.Join(dir, "seg"), func(p string, de os.DirEntry, err error) error {
		if err == nil && !de.IsDir() {
			segs = append(segs, p)
		}
		return err
	}))
	require.GreaterOrEqual(t, len(segs), 2)
	total := 0.0
	for _, p := range segs {
		total += ffprobeDuration(t, p)
		require.NoError(t, exec.Command("ffmpeg", "-v", "error", "-i", p, "-f", "null", "-").Run(), "%s decodes", p)
	}
	require.InDelta(t, 5, total, 1)
}
