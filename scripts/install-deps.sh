#!/usr/bin/env bash
# Installs what the integration tests need on a fresh Debian machine:
# ffmpeg and ffprobe (real RTMP publisher and HTTP-FLV players) and
# Debian's chromium (the headless browser of the dashboard/player test,
# internal/e2e/browser_test.go). Only what is missing is installed.
set -euo pipefail
pkgs=()
if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
  pkgs+=(ffmpeg)
fi
if [ -z "${HW_CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1; then
  pkgs+=(chromium)
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
[ -n "${HW_CHROMIUM:-}" ] || command -v chromium >/dev/null
