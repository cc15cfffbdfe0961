#!/usr/bin/env bash
# Vendors the web UI's libraries (internal/web) from the npm registry:
# fetches the pinned version with `npm pack` (which checks the tarball
# against the registry's integrity hash) into a temporary directory, copies
# only the built files the pages load and their licences into
# internal/web/static/vendor/PACKAGE/, and records the version and the
# SHA-256 of the main file in that directory's README.md (internal/web's
# tests check it). Nothing else from npm is kept; the binary embeds these
# files, so `make build` and `make run` need no network.
#
# Usage: scripts/vendor-web.sh PACKAGE [VERSION]   PACKAGE: mpegts.js, uplot or hls.js
# Usually run as: make web-vendor (every package at its pinned version)
set -euo pipefail
cd "$(dirname "$0")/.."

PKG=${1:?usage: scripts/vendor-web.sh mpegts.js|uplot|hls.js [VERSION]}
case "$PKG" in
  mpegts.js)
    VERSION=${2:-1.8.2}
    MAIN=mpegts.js
    FILES="dist/mpegts.js dist/mpegts.js.LICENSE.txt LICENSE"
    ABOUT="\`mpegts.js\` is \`dist/mpegts.js\` of the npm package, unchanged (the
minified UMD build; its source map is not vendored). \`LICENSE\` is the
package's (Apache-2.0); \`mpegts.js.LICENSE.txt\` is the notice of
es6-promise (MIT), which the build bundles." ;;
  uplot)
    VERSION=${2:-1.6.32}
    MAIN=uPlot.iife.min.js
    FILES="dist/uPlot.iife.min.js dist/uPlot.min.css LICENSE"
    ABOUT="\`uPlot.iife.min.js\` and \`uPlot.min.css\` are the package's minified
browser build and its stylesheet, unchanged. \`LICENSE\` is the package's
(MIT)." ;;
  hls.js)
    VERSION=${2:-1.7.4}
    MAIN=hls.min.js
    FILES="dist/hls.min.js LICENSE"
    ABOUT="\`hls.min.js\` is \`dist/hls.min.js\` of the npm package, unchanged (the
minified UMD build; its source map is not vendored). \`LICENSE\` is the
package's (Apache-2.0). The player page loads it only when the browser has
no Media Source Extensions for mpegts.js, or when asked for HLS." ;;
  *) echo "vendor-web: unknown package $PKG (mpegts.js, uplot or hls.js)" >&2; exit 2 ;;
esac
DEST=internal/web/static/vendor/$PKG

command -v npm >/dev/null 2>&1 || { echo "vendor-web: npm not found (Debian: apt-get install npm)" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vendor-web.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent "$PKG@$VERSION" >/dev/null)
tar -xzf "$tmp"/*.tgz -C "$tmp"
pkg="$tmp/package"
got=$(node -p "require('$pkg/package.json').version" 2>/dev/null || sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$pkg/package.json")
[ "$got" = "$VERSION" ] || { echo "vendor-web: asked for $PKG $VERSION, npm gave $got" >&2; exit 1; }

mkdir -p "$DEST"
for f in $FILES; do cp "$pkg/$f" "$DEST/$(basename "$f")"; done
sum=$(sha256sum "$DEST/$MAIN" | cut -d' ' -f1)

cat >"$DEST/README.md" <<MD
# $PKG $VERSION (vendored)

$ABOUT

sha256 $sum  $MAIN

Refresh it with \`make web-vendor\`, which runs \`scripts/vendor-web.sh\`
for every package at the version pinned there, then commit this
directory. internal/web's tests check the sha256 line above against the
file.
MD
echo "vendored $PKG $VERSION into $DEST (sha256 $sum)"
