#!/usr/bin/env bash
# Soak: runs the real headwater binary for DURATION (default 30m) under
# churning ffmpeg publishers and Go HTTP-FLV players, sampling RSS,
# goroutines, open FDs and the stream gauges into docs/soak/ (soak.csv,
# soak.png, summary.md, logs/). Exits with hwsoak's status: 0 PASS, 1 FAIL,
# 2 setup error. See docs/soak.md. Usually run as: make soak DURATION=30m
#
# Environment: DURATION (default 30m), SOAK_OUT (default docs/soak),
# SOAK_ARGS (extra hwsoak flags, e.g. "-players 20 -seed 42"), GO (default go).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-30m}
OUT=${SOAK_OUT:-docs/soak}
GO=${GO:-go}

if ! command -v ffmpeg >/dev/null 2>&1; then
  scripts/install-deps.sh
fi
make build
"$GO" build -o bin/hwsoak ./cmd/hwsoak

export HWSOAK_VIA="scripts/soak.sh with DURATION=$DURATION (what make soak DURATION=$DURATION runs)"
# exec: hwsoak's exit status is the script's. SOAK_ARGS is split on spaces on purpose.
# shellcheck disable=SC2086
exec bin/hwsoak -duration "$DURATION" -out "$OUT" ${SOAK_ARGS:-}
