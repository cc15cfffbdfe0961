#!/usr/bin/env bash
# Vendors mpegts.js for the web player (internal/web): fetches the pinned
# version from the npm registry with `npm pack` (which checks the tarball
# against the registry's integrity hash) into a temporary directory and
# copies only dist/mpegts.js (the minified UMD build), its LICENSE and the
# licence notice of what the build bundles into
# internal/web/static/vendor/mpegts.js/, then records the version and the
# SHA-256 in that directory's README.md (internal/web's tests check the
# SHA-256). Nothing else from npm is kept; the binary embeds these files, so
# `make build` and `make run` need no network.
#
# Usage: scripts/vendor-mpegts.sh [VERSION]   (default: the pinned version)
# Usually run as: make web-vendor   or   make web-vendor MPEGTS_VERSION=1.8.3
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=${1:-1.8.2}
DEST=internal/web/static/vendor/mpegts.js

command -v npm >/dev/null 2>&1 || { echo "vendor-mpegts: npm not found (Debian: apt-get install npm)" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mpegts.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent "mpegts.js@$VERSION" >/dev/null)
tar -xzf "$tmp/mpegts.js-$VERSION.tgz" -C "$tmp"
pkg="$tmp/package"
got=$(node -p "require('$pkg/package.json').version" 2>/dev/null || sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$pkg/package.json")
[ "$got" = "$VERSION" ] || { echo "vendor-mpegts: asked for $VERSION, npm gave $got" >&2; exit 1; }

mkdir -p "$DEST"
cp "$pkg/dist/mpegts.js" "$DEST/mpegts.js"
cp "$pkg/dist/mpegts.js.LICENSE.txt" "$DEST/mpegts.js.LICENSE.txt"
cp "$pkg/LICENSE" "$DEST/LICENSE"
sum=$(sha256sum "$DEST/mpegts.js" | cut -d' ' -f1)

cat >"$DEST/README.md" <<MD
# mpegts.js $VERSION (vendored)

\`mpegts.js\` is \`dist/mpegts.js\` of the npm package mpegts.js@$VERSION,
unchanged (the minified UMD build; its source map is not vendored).
\`LICENSE\` is the package's (Apache-2.0); \`mpegts.js.LICENSE.txt\` is the
notice of es6-promise (MIT), which the build bundles.

sha256 $sum  mpegts.js

Refresh or change the version with \`make web-vendor\` (or
\`make web-vendor MPEGTS_VERSION=x.y.z\`), which runs
\`scripts/vendor-mpegts.sh\`, then commit this directory. internal/web's
tests check the sha256 line above against the file.
MD
echo "vendored mpegts.js $VERSION into $DEST (sha256 $sum)"
