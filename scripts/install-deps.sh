#!/usr/bin/env bash
# Installs what the integration tests need on a fresh Debian machine:
# ffmpeg and ffprobe (real RTMP publisher and HTTP-FLV players), rtmpdump
# and GStreamer's rtmp2src/rtmpsrc with flvdemux (real RTMP players), and
# Debian's chromium (the headless browser of the dashboard/player test,
# internal/e2e/browser_test.go), and redis-server (the cluster directory's
# tests start their own on a free port). Only what is missing is installed.
set -euo pipefail
pkgs=()
if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
  pkgs+=(ffmpeg)
fi
if ! command -v rtmpdump >/dev/null 2>&1; then
  pkgs+=(rtmpdump)
fi
if ! command -v gst-launch-1.0 >/dev/null 2>&1 || ! gst-inspect-1.0 rtmp2src >/dev/null 2>&1 || ! gst-inspect-1.0 flvdemux >/dev/null 2>&1; then
  pkgs+=(gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad)
fi
if [ -z "${HW_CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1; then
  pkgs+=(chromium)
fi
if ! command -v redis-server >/dev/null 2>&1; then
  pkgs+=(redis-server)
fi
if [ ${#pkgs[@]} -eq 0 ]; then
  exit 0
fi
echo "installing ${pkgs[*]} with apt-get..." >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null
command -v rtmpdump >/dev/null && gst-inspect-1.0 rtmp2src >/dev/null && gst-inspect-1.0 rtmpsrc >/dev/null && gst-inspect-1.0 flvdemux >/dev/null
[ -n "${HW_CHROMIUM:-}" ] || command -v chromium >/dev/null
command -v redis-server >/dev/null
