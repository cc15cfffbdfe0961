// Package web serves the browser UI from files embedded in the binary: a
// dashboard of live streams with server charts at /, a stream page at
// /streams/{app}/{stream} (player, details, charts, players, kicks), a
// player page at /play/{app}/{stream} (mpegts.js over HTTP-FLV), and their
// scripts, styles and the vendored mpegts.js and uPlot under /static/. Nothing is loaded from anywhere but this
// server, and every response carries a Content-Security-Policy that says so.
//
// # Routing next to HTTP-FLV
//
// HTTP-FLV owns GET /{app}/{stream}.flv: two path segments, the second
// ending in ".flv". The UI never claims such a path, whatever the app is
// called:
//   - / has no segment;
//   - /play/{app}/{stream} and /streams/{app}/{stream} have three (so
//     /play/x.flv is the stream x of an app called "play", as for any
//     other app);
//   - each file under /static/ is routed by its exact path, with no
//     catch-all, and no embedded file name ends in ".flv" (a test checks),
//     so /static/x.flv and /static/anything-else fall through to the
//     /{app}/{file} route as for any other app.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/headwater-media/headwater/internal/registry"
)

//go:embed pages static
var files embed.FS

// ContentSecurityPolicy is sent with every page and asset: scripts, styles,
// images, media and fetches from this origin only (media also from blob:,
// the MediaSource URL that mpegts.js gives the <video>); no inline script,
// no eval, no framing, no plugins.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self'; media-src 'self' blob:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// asset is one embedded file with its content type and ETag.
type asset struct {
	body  []byte
	ctype string
	etag  string
}

func newAsset(name string) asset {
	b, err := files.ReadFile(name)
	if err != nil {
		panic("web: embedded file missing: " + name) // the embed pattern guarantees it
	}
	sum := sha256.Sum256(b)
	return asset{body: b, ctype: contentType(name), etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

// contentType is fixed per extension rather than read from the system's
// mime.types, so responses do not depend on the machine.
func contentType(name string) string {
	switch path.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".md":
		return "text/markdown; charset=utf-8"
	default: // LICENSE, *.txt
		return "text/plain; charset=utf-8"
	}
}

// ServeHTTP serves the file with an ETag of its content, so a browser
// revalidates (no-cache) and gets 304 until the binary changes.
func (a asset) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	setSecurityHeaders(h)
	h.Set("Content-Type", a.ctype)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
}

// site is every embedded file, read and hashed once per process (servers
// in tests start many times).
var site = sync.OnceValue(func() map[string]asset {
	m := map[string]asset{}
	for _, name := range append([]string{"pages/index.html", "pages/play.html", "pages/stream.html"}, StaticFiles()...) {
		m[name] = newAsset(name)
	}
	return m
})

// Routes mounts the dashboard, the player page and the static files on r
// (GET and HEAD). See the package comment for why HTTP-FLV paths never
// reach them.
func Routes(r chi.Router) {
	assets := site()
	handle := func(pattern string, h http.Handler) {
		r.Method(http.MethodGet, pattern, h)
		r.Method(http.MethodHead, pattern, h)
	}
	handle("/", assets["pages/index.html"])
	// A stream that is not live yet still gets its pages: they wait and
	// retry. A name that can never be live does not.
	streamPage := func(page asset) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, err := registry.NewKey(chi.URLParam(r, "app"), chi.URLParam(r, "stream")); err != nil {
				setSecurityHeaders(w.Header())
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			page.ServeHTTP(w, r)
		})
	}
	handle("/play/{app}/{stream}", streamPage(assets["pages/play.html"]))
	handle("/streams/{app}/{stream}", streamPage(assets["pages/stream.html"]))
	for _, name := range StaticFiles() {
		handle("/"+name, assets[name])
	}
}

// StaticFiles lists the embedded files served under /static/, as paths
// relative to the package ("static/style.css", ...), sorted.
func StaticFiles() []string {
	var names []string
	err := fs.WalkDir(files, "static", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasPrefix(d.Name(), ".") {
			names = append(names, p)
		}
		return err
	})
	if err != nil {
		panic("web: walking embedded files: " + err.Error())
	}
	return names
}
