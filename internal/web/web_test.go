package web_test

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/headwater-media/headwater/internal/web"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// router mounts the UI the way internal/server does: HTTP-FLV's
// /{app}/{file} first (a stub that echoes its parameters), then web.Routes.
func router() http.Handler {
	r := chi.NewRouter()
	r.Get("/api/v1/streams", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "api") })
	flv := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Route", "flv")
		app, file := chi.URLParam(r, "app"), chi.URLParam(r, "file")
		if !strings.HasSuffix(file, ".flv") {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, "flv "+app+" "+file)
	}
	r.Get("/{app}/{file}", flv)
	r.Head("/{app}/{file}", flv)
	web.Routes(r)
	return r
}

func TestRoutes(t *testing.T) {
	h := router()
	for _, tc := range []struct {
		method, path string
		code         int
		ctype        string // prefix; "" = don't check
		body         string // substring; "" = don't check
		flv          bool   // served by the HTTP-FLV route
	}{
		{method: "GET", path: "/", code: 200, ctype: "text/html", body: `src="/static/dashboard.js"`},
		{method: "HEAD", path: "/", code: 200, ctype: "text/html"},
		{method: "GET", path: "/play/live/cam-1.hd", code: 200, ctype: "text/html", body: `<video id="video" muted autoplay playsinline`},
		{method: "GET", path: "/play/play/play", code: 200, ctype: "text/html"},
		{method: "GET", path: "/play/live/a%20b", code: 400},
		{method: "GET", path: "/play/live/..", code: 400},
		{method: "GET", path: "/static/style.css", code: 200, ctype: "text/css"},
		{method: "GET", path: "/static/dashboard.js", code: 200, ctype: "text/javascript"},
		{method: "GET", path: "/static/player.js", code: 200, ctype: "text/javascript", body: "createPlayer"},
		{method: "GET", path: "/static/favicon.svg", code: 200, ctype: "image/svg+xml"},
		{method: "GET", path: "/static/vendor/mpegts.js/mpegts.js", code: 200, ctype: "text/javascript", body: "mpegts"},
		{method: "GET", path: "/static/vendor/mpegts.js/LICENSE", code: 200, ctype: "text/plain", body: "Apache License"},
		{method: "GET", path: "/static/vendor/hls.js/hls.min.js", code: 200, ctype: "text/javascript", body: "Hls"},
		{method: "GET", path: "/api/v1/streams", code: 200, body: "api"},
		// HTTP-FLV keeps every two-segment .flv path, whatever the app is called.
		{method: "GET", path: "/live/x.flv", code: 200, body: "flv live x.flv", flv: true},
		{method: "GET", path: "/play/x.flv", code: 200, body: "flv play x.flv", flv: true},
		{method: "HEAD", path: "/play/x.flv", code: 200, flv: true},
		{method: "GET", path: "/static/x.flv", code: 200, body: "flv static x.flv", flv: true},
		{method: "HEAD", path: "/static/x.flv", code: 200, flv: true},
		{method: "GET", path: "/static/style.css.flv", code: 200, body: "flv static style.css.flv", flv: true},
		// Paths that are neither fall through to HTTP-FLV's 404.
		{method: "GET", path: "/static/nope.js", code: 404, flv: true},
		{method: "GET", path: "/static/vendor/mpegts.js/mpegts.js.map", code: 404},
		{method: "GET", path: "/play/live", code: 404, flv: true},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			require.Equal(t, tc.code, rec.Code, rec.Body.String())
			assert.Equal(t, tc.flv, rec.Header().Get("X-Route") == "flv", "served by HTTP-FLV")
			if tc.ctype != "" {
				assert.True(t, strings.HasPrefix(rec.Header().Get("Content-Type"), tc.ctype), rec.Header().Get("Content-Type"))
			}
			if tc.body != "" {
				assert.Contains(t, rec.Body.String(), tc.body)
			}
			if !tc.flv && tc.code != 404 && !strings.HasPrefix(tc.path, "/api/") {
				assert.Equal(t, web.ContentSecurityPolicy, rec.Header().Get("Content-Security-Policy"))
				assert.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"))
			}
			if tc.method == "HEAD" && !tc.flv {
				assert.Empty(t, rec.Body.String())
			}
		})
	}
}

func TestETagRevalidates(t *testing.T) {
	h := router()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/static/style.css", nil))
	etag := rec.Header().Get("ETag")
	require.NotEmpty(t, etag)
	assert.Equal(t, "no-cache", rec.Header().Get("Cache-Control"))

	req := httptest.NewRequest("GET", "/static/style.css", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusNotModified, rec.Code)
}

// No embedded file may take an HTTP-FLV path (see the package comment).
func TestNoStaticFileEndsInFLV(t *testing.T) {
	files := web.StaticFiles()
	require.Contains(t, files, "static/vendor/mpegts.js/mpegts.js")
	for _, f := range files {
		assert.False(t, strings.HasSuffix(f, ".flv"), f)
	}
}

// Every script, style and icon the pages reference is served, and nothing
// is loaded from another origin (the UI must work offline, without a CDN).
func TestPagesReferenceOnlyEmbeddedFiles(t *testing.T) {
	h := router()
	ref := regexp.MustCompile(`(?:src|href)="([^"]+)"`)
	for _, page := range []string{"/", "/play/live/x"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", page, nil))
		require.Equal(t, 200, rec.Code)
		for _, m := range ref.FindAllStringSubmatch(rec.Body.String(), -1) {
			u := m[1]
			require.True(t, strings.HasPrefix(u, "/"), "%s references %q: only same-origin paths", page, u)
			if !strings.HasPrefix(u, "/static/") {
				continue // links to /, /api/v1/streams, /metrics
			}
			r2 := httptest.NewRecorder()
			h.ServeHTTP(r2, httptest.NewRequest("GET", u, nil))
			assert.Equal(t, 200, r2.Code, "%s references %s", page, u)
		}
	}
	// Our own sources carry no absolute URLs at all (the vendored build is
	// checked by its hash below).
	for _, dir := range []string{"pages", "static"} {
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		for _, e := range entries {
			ext := filepath.Ext(e.Name())
			if e.IsDir() || (ext != ".html" && ext != ".js" && ext != ".css") {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			require.NoError(t, err)
			assert.NotRegexp(t, `https?://|//cdn|@import`, string(b), e.Name())
		}
	}
}

// The vendored libraries are the files scripts/vendor-web.sh recorded.
func TestVendoredLibrariesMatchTheirREADME(t *testing.T) {
	for _, lib := range []struct {
		dir, main string
		licences  []string
	}{
		{"static/vendor/mpegts.js", "mpegts.js", []string{"LICENSE", "mpegts.js.LICENSE.txt"}},
		{"static/vendor/uplot", "uPlot.iife.min.js", []string{"LICENSE"}},
		{"static/vendor/hls.js", "hls.min.js", []string{"LICENSE"}},
	} {
		readme, err := os.ReadFile(filepath.Join(lib.dir, "README.md"))
		require.NoError(t, err)
		m := regexp.MustCompile(`(?m)^sha256 ([0-9a-f]{64})  ` + regexp.QuoteMeta(lib.main) + `$`).FindSubmatch(readme)
		require.NotNil(t, m, "%s/README.md has no sha256 line; run make web-vendor", lib.dir)
		b, err := os.ReadFile(filepath.Join(lib.dir, lib.main))
		require.NoError(t, err)
		sum := sha256.Sum256(b)
		assert.Equal(t, string(m[1]), hex.EncodeToString(sum[:]), "%s was changed by hand; run make web-vendor", lib.main)
		for _, f := range lib.licences {
			_, err := os.Stat(filepath.Join(lib.dir, f))
			assert.NoError(t, err, "licence file %s must ship with %s", f, lib.main)
		}
	}
}
