#!/usr/bin/env bash
# bench-hls: HLS players side by side with HTTP-FLV ones. The same hwbench
# scenario (one stream published over RTMP, PLAYERS players) against a
# fresh headwater each time, in turn:
#   hls    HLS players (gohlslib's client: playlist polling, segments), the
#          default hls.* (fMP4, 2 s segments, 7 listed)
#   llhls  LL-HLS players: HEADWATER_HLS_LOW_LATENCY=true (200 ms parts,
#          blocking playlist reload, preload hints)
#   flv    HTTP-FLV players, for comparison
# The muxer starts on the first HLS request (as by default), so the first
# players wait for three segments; the warm-up covers it. ROUNDS rounds
# alternate the scenarios. Prints one markdown table. Usually run as
#   make bench-hls
#   make bench-hls PLAYERS=100 DURATION=20s ROUNDS=2 SCENARIOS="hls llhls"
#
# Environment (defaults in brackets):
#   SCENARIOS ["hls llhls flv"]  run order within a round
#   PLAYERS [200]  DURATION [30s] (measured window)  ROUNDS [1]
#   SIZE [1280x720]  FPS [30]  BITRATE [2500k]  ABITRATE [128k]  GOP [2s]  (generated input)
#   RAMP [10s]  WARMUP [10s]
#   HWBENCH_ARGS  extra hwbench flags, split on spaces
#   OUT [bin/bench-hls]  JSON results, summaries (.txt), status lines
#                        (.status), server logs and table.md
#   LOCK [/tmp/hw-heavy.lock]  held (flock) from the first run to the last;
#                             LOCK= disables it
#   GO [go]
# Needs: go, ffmpeg (to generate the input once; cached by hwbench).
set -euo pipefail
cd "$(dirname "$0")/.."

SCENARIOS=${SCENARIOS:-hls llhls flv}
PLAYERS=${PLAYERS:-200}
DURATION=${DURATION:-30s}
ROUNDS=${ROUNDS:-1}
SIZE=${SIZE:-1280x720}
FPS=${FPS:-30}
BITRATE=${BITRATE:-2500k}
ABITRATE=${ABITRATE:-128k}
GOP=${GOP:-2s}
RAMP=${RAMP:-10s}
WARMUP=${WARMUP:-10s}
OUT=${OUT:-bin/bench-hls}
LOCK=${LOCK-/tmp/hw-heavy.lock}
GO=${GO:-go}

read -r -a scenarios <<<"$SCENARIOS"
for s in "${scenarios[@]}"; do
  case $s in
    hls | llhls | flv) ;;
    *) echo "bench-hls: unknown scenario $s (hls llhls flv)" >&2; exit 2 ;;
  esac
done
for bin in "$GO" ffmpeg; do
  command -v "$bin" >/dev/null 2>&1 || { echo "bench-hls: $bin not found (make deps installs ffmpeg)" >&2; exit 2; }
done

tmp=$(mktemp -d -t bench-hls.XXXXXX)
server_pid=
cleanup() {
  if [[ -n $server_pid ]]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    sleep 1
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "bench-hls: building headwater and hwbench" >&2
"$GO" build -o "$tmp/headwater" ./cmd/headwater
"$GO" build -o "$tmp/hwbench" ./cmd/hwbench

gen=(-gen-size "$SIZE" -gen-fps "$FPS" -gen-bitrate "$BITRATE" -gen-audio-bitrate "$ABITRATE" -gen-gop "$GOP")
input=$("$tmp/hwbench" -gen-only "${gen[@]}")
echo "bench-hls: input $input" >&2

mkdir -p "$OUT/logs"
rm -f "$OUT"/r*-*.json "$OUT"/r*-*.txt "$OUT"/r*-*.status

# free_port prints a loopback TCP port that was free a moment ago.
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
}

# wait_port PID PORT waits until something accepts on 127.0.0.1:PORT (at
# most 20 s) while PID lives.
wait_port() {
  for _ in $(seq 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; then return 0; fi
    kill -0 "$1" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

stop_server() {
  kill -TERM "$server_pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=
}

if [[ -n $LOCK ]]; then
  exec 9>"$LOCK"
  if ! flock -n 9; then
    echo "bench-hls: waiting for $LOCK (another heavy measurement is running)" >&2
    flock 9
  fi
fi

started=$(date -u +%Y-%m-%dT%H:%MZ)
t0=$SECONDS
letters=(a b c d e f g h)
for r in $(seq "$ROUNDS"); do
  round=$(printf %02d "$r")
  for i in "${!scenarios[@]}"; do
    name=${scenarios[$i]}
    base="$OUT/r$round-${letters[$i]}-$name"
    log="$OUT/logs/r$round-${letters[$i]}-$name.log"
    rtmp=$(free_port)
    http=$(free_port)
    ll=false
    case $name in
      hls) play=http://127.0.0.1:$http/live/bench/index.m3u8 label="headwater HLS" ;;
      llhls) play=http://127.0.0.1:$http/live/bench/index.m3u8 label="headwater LL-HLS" ll=true ;;
      flv) play=http://127.0.0.1:$http/live/bench.flv label="headwater HTTP-FLV" ;;
    esac
    # headwater's defaults, but LL-HLS for llhls (fd 9, the lock, closed for it).
    HEADWATER_HLS_LOW_LATENCY=$ll "$tmp/headwater" -rtmp-addr "127.0.0.1:$rtmp" -http-addr "127.0.0.1:$http" \
      -log-level warn >"$log" 2>&1 9>&- &
    server_pid=$!
    for port in "$rtmp" "$http"; do
      if ! wait_port "$server_pid" "$port"; then
        echo "bench-hls: headwater did not start; its log ($log):" >&2
        tail -20 "$log" >&2
        exit 2
      fi
    done
    echo "bench-hls: round $r/$ROUNDS: $name (pid $server_pid)" >&2
    : >"$base.status"
    # shellcheck disable=SC2086 # HWBENCH_ARGS is split on purpose
    "$tmp/hwbench" -publish "rtmp://127.0.0.1:$rtmp/live/bench" -play "$play" \
      -input "$input" -players "$PLAYERS" -ramp "$RAMP" -warmup "$WARMUP" -duration "$DURATION" \
      -pid "$server_pid" -label "$label" -json "$base.json" ${HWBENCH_ARGS:-} 9>&- >"$base.txt" \
      2> >(tee -a "$base.status" >&2) ||
      echo "bench-hls: hwbench exited $? for $name (see $base.txt)" >&2
    cat "$base.txt" >&2
    stop_server
    sleep 2 # let sockets in TIME_WAIT and the machine settle
  done
done
elapsed=$((SECONDS - t0))

{
  echo "Date: $started. Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/{print $2}') GiB, Linux $(uname -r); headwater $(git describe --tags --always --dirty 2>/dev/null || echo dev); runs took $((elapsed / 60)) min $((elapsed % 60)) s."
  echo "Input: $(basename "$input"). Command: \`make bench-hls SCENARIOS=\"$SCENARIOS\" PLAYERS=$PLAYERS DURATION=$DURATION ROUNDS=$ROUNDS SIZE=$SIZE FPS=$FPS BITRATE=$BITRATE ABITRATE=$ABITRATE GOP=$GOP RAMP=$RAMP WARMUP=$WARMUP${HWBENCH_ARGS:+ HWBENCH_ARGS=\"$HWBENCH_ARGS\"}\`"
  echo
  shopt -s nullglob
  "$tmp/hwbench" table "$OUT"/r*-*.json
} | tee "$OUT/table.md"
