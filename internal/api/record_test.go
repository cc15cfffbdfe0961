package api

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/headwater-media/headwater/internal/record"
	"github.com/headwater-media/headwater/internal/registry"
)

// fakeRecorder records live/a only; it lists n files.
type fakeRecorder struct {
	reg    *registry.Registry
	active map[registry.Key]bool
	n      int
}

func (r *fakeRecorder) Start(key registry.Key) error {
	if _, err := r.reg.Stream(key); err != nil {
		return err
	}
	if r.active[key] {
		return record.ErrRecording
	}
	r.active[key] = true
	return nil
}

func (r *fakeRecorder) Stop(_ context.Context, key registry.Key) error {
	if !r.active[key] {
		return record.ErrNotRecording
	}
	delete(r.active, key)
	return nil
}

func (r *fakeRecorder) Recording(key registry.Key) (string, bool) {
	if !r.active[key] {
		return "", false
	}
	return "rec/" + key.String() + ".flv", true
}

func (r *fakeRecorder) List() ([]record.Recorded, error) {
	var out []record.Recorded
	for i := range r.n {
		out = append(out, record.Recorded{Path: fmt.Sprintf("rec/live/a-%02d.flv", i), App: "live", Stream: "a", Size: int64(i), Modified: time.Unix(int64(i), 0)})
	}
	return out, nil
}

func TestRecordEndpoints(t *testing.T) {
	f := newFixture(t, "")
	rec := &fakeRecorder{reg: f.reg, active: map[registry.Key]bool{}, n: 5}
	f.api.Recorder = rec

	code, body, _ := f.do(t, http.MethodPost, "/api/v1/streams/live/nope/record", "")
	requireError(t, code, body, http.StatusNotFound)
	code, body, _ = f.do(t, http.MethodPost, "/api/v1/streams/live/a%2F..%2Fx/record", "")
	require.Contains(t, []int{http.StatusBadRequest, http.StatusNotFound}, code, body)
	code, body, _ = f.do(t, http.MethodPost, "/api/v1/streams/live/a/record", "")
	require.Equal(t, http.StatusCreated, code, body)
	require.JSONEq(t, `{"app":"live","stream":"a","recording":"rec/live/a.flv"}`, body)
	code, body, _ = f.do(t, http.MethodPost, "/api/v1/streams/live/a/record", "")
	requireError(t, code, body, http.StatusConflict)

	var st struct {
		Recording *string `json:"recording"`
	}
	f.getJSON(t, "/api/v1/streams/live/a", http.StatusOK, &st)
	require.NotNil(t, st.Recording)
	require.Equal(t, "rec/live/a.flv", *st.Recording)
	f.getJSON(t, "/api/v1/streams/live/b", http.StatusOK, &st)
	require.Nil(t, st.Recording)

	code, body, _ = f.do(t, http.MethodDelete, "/api/v1/streams/live/a/record", "")
	require.Equal(t, http.StatusNoContent, code, body)
	code, body, _ = f.do(t, http.MethodDelete, "/api/v1/streams/live/a/record", "")
	requireError(t, code, body, http.StatusNotFound)

	var list struct {
		Recordings []recordingJSON `json:"recordings"`
		Total      int             `json:"total"`
		Limit      int             `json:"limit"`
		Offset     int             `json:"offset"`
	}
	f.getJSON(t, "/api/v1/recordings?limit=2&offset=3", http.StatusOK, &list)
	require.Equal(t, 5, list.Total)
	require.Equal(t, 2, list.Limit)
	require.Equal(t, 3, list.Offset)
	require.Len(t, list.Recordings, 2)
	require.Equal(t, "rec/live/a-03.flv", list.Recordings[0].Path)
	require.Equal(t, "a", list.Recordings[0].Stream)
	code, body, _ = f.do(t, http.MethodGet, "/api/v1/recordings?limit=0", "")
	requireError(t, code, body, http.StatusBadRequest)

	// Behind the token like every mutating endpoint.
	f.api.SetToken("0123456789abcdef0123")
	code, body, _ = f.do(t, http.MethodPost, "/api/v1/streams/live/a/record", "")
	requireError(t, code, body, http.StatusUnauthorized)
	code, body, _ = f.do(t, http.MethodGet, "/api/v1/recordings", "")
	requireError(t, code, body, http.StatusUnauthorized)
}
