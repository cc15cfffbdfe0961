package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/headwater-media/headwater/internal/record"
	"github.com/headwater-media/headwater/internal/registry"
)

// Recorder is what the API needs of the recordings (record.Manager).
type Recorder interface {
	Start(key registry.Key) error
	Stop(ctx context.Context, key registry.Key) error
	Recording(key registry.Key) (path string, ok bool)
	List() ([]record.Recorded, error)
}

// stopTimeout bounds how long DELETE .../record waits for the file to be
// closed.
const stopTimeout = 5 * time.Second

// withRecording sets s's recording field.
func (a *API) withRecording(s streamJSON) streamJSON {
	if a.Recorder == nil {
		return s
	}
	if p, ok := a.Recorder.Recording(registry.Key{App: s.App, Name: s.Name}); ok {
		s.Recording = &p
	}
	return s
}

// startRecord records a live stream: 201, 404 if it is not live, 409 if
// it is being recorded already.
func (a *API) startRecord(w http.ResponseWriter, r *http.Request) {
	key, ok := streamKey(w, r)
	if !ok {
		return
	}
	if a.Recorder == nil {
		writeError(w, http.StatusNotFound, "recording is not available")
		return
	}
	switch err := a.Recorder.Start(key); {
	case errors.Is(err, registry.ErrNotFound):
		writeError(w, http.StatusNotFound, "stream not found")
	case errors.Is(err, record.ErrRecording):
		writeError(w, http.StatusConflict, "stream already recording")
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, err.Error())
	default:
		p, _ := a.Recorder.Recording(key)
		writeJSON(w, http.StatusCreated, map[string]any{"app": key.App, "stream": key.Name, "recording": p})
	}
}

// stopRecord stops a recording and answers 204 once its file is closed,
// or 404 if the stream is not being recorded.
func (a *API) stopRecord(w http.ResponseWriter, r *http.Request) {
	key, ok := streamKey(w, r)
	if !ok {
		return
	}
	if a.Recorder == nil {
		writeError(w, http.StatusNotFound, "stream not recording")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), stopTimeout)
	defer cancel()
	switch err := a.Recorder.Stop(ctx, key); {
	case errors.Is(err, record.ErrNotRecording):
		writeError(w, http.StatusNotFound, "stream not recording")
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, "recording stopping: "+err.Error())
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// recordingJSON is one recorded file.
type recordingJSON struct {
	Path       string    `json:"path"`
	App        string    `json:"app"`
	Stream     string    `json:"stream"`
	Size       int64     `json:"size"`
	ModifiedAt time.Time `json:"modified_at"`
}

// listRecordings lists the recorded files, sorted by path, paginated.
func (a *API) listRecordings(w http.ResponseWriter, r *http.Request) {
	p, err := parsePage(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var files []record.Recorded
	if a.Recorder != nil {
		if files, err = a.Recorder.List(); err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
	}
	lo, hi := p.bounds(len(files))
	out := make([]recordingJSON, 0, hi-lo)
	for _, f := range files[lo:hi] {
		out = append(out, recordingJSON{Path: f.Path, App: f.App, Stream: f.Stream, Size: f.Size, ModifiedAt: f.Modified.UTC()})
	}
	writeJSON(w, http.StatusOK, listJSON("recordings", out, len(files), p))
}
