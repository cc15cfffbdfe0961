#!/usr/bin/env bash
# Installs what the integration tests need on a fresh Debian machine:
# ffmpeg and ffprobe (real RTMP publisher and HTTP-FLV players).
set -euo pipefail
if command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1; then
  exit 0
fi
echo "installing ffmpeg with apt-get..." >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null
