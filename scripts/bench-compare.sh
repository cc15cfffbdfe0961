#!/usr/bin/env bash
# bench-compare: the same hwbench scenario against headwater and
# Node-Media-Server, alternately (A B A B ...), each server started fresh
# and its PID sampled by hwbench; prints one markdown table. Usually run as
#   make bench-compare PLAYERS=1000 DURATION=30s
# or, for one server only:
#   make bench-compare SERVERS=headwater PLAYERS=3000 SIZE=640x360 BITRATE=500k ABITRATE=64k ROUNDS=1
#
# Environment (defaults in brackets):
#   SERVERS ["headwater node-media-server"]  run order within a round
#   PLAYERS [1000] (per stream)  STREAMS [1]  DURATION [30s] (measured window)  ROUNDS [2]
#   SIZE [1280x720]  FPS [30]  BITRATE [2500k]  ABITRATE [128k]  (generated input)
#   RAMP [10s]  WARMUP [5s]  NMS_VERSION [4.4.3]  (Node-Media-Server from npm)
#   HWBENCH_ARGS  extra hwbench flags, split on spaces
#   OUT [bin/bench-compare]  JSON results, server logs and table.md
#   LOCK [/tmp/hw-heavy.lock]  held (flock) from the first run to the last,
#                             so that two heavy measurements never overlap;
#                             LOCK= disables it
#   GO [go]
# Needs: go, node and npm (Node-Media-Server is installed into a temporary
# directory), ffmpeg (to generate the input once; cached by hwbench).
set -euo pipefail
cd "$(dirname "$0")/.."

SERVERS=${SERVERS:-headwater node-media-server}
PLAYERS=${PLAYERS:-1000}
STREAMS=${STREAMS:-1}
DURATION=${DURATION:-30s}
ROUNDS=${ROUNDS:-2}
SIZE=${SIZE:-1280x720}
FPS=${FPS:-30}
BITRATE=${BITRATE:-2500k}
ABITRATE=${ABITRATE:-128k}
RAMP=${RAMP:-10s}
WARMUP=${WARMUP:-5s}
NMS_VERSION=${NMS_VERSION:-4.4.3}
OUT=${OUT:-bin/bench-compare}
LOCK=${LOCK-/tmp/hw-heavy.lock}
GO=${GO:-go}

read -r -a servers <<<"$SERVERS"
for name in "${servers[@]}"; do
  case $name in
    headwater | node-media-server) ;;
    *) echo "bench-compare: unknown server $name (headwater, node-media-server)" >&2; exit 2 ;;
  esac
done
nms=false
[[ " $SERVERS " == *" node-media-server "* ]] && nms=true

needs=("$GO" ffmpeg)
$nms && needs+=(node npm)
for bin in "${needs[@]}"; do
  command -v "$bin" >/dev/null 2>&1 || { echo "bench-compare: $bin not found (make deps installs ffmpeg)" >&2; exit 2; }
done

tmp=$(mktemp -d -t bench-compare.XXXXXX)
server_pid=
cleanup() {
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    sleep 1
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "bench-compare: building headwater and hwbench" >&2
"$GO" build -o "$tmp/headwater" ./cmd/headwater
"$GO" build -o "$tmp/hwbench" ./cmd/hwbench

nms_app="$tmp/nms/node_modules/node-media-server/bin/app.js"
if $nms; then
  echo "bench-compare: installing node-media-server@$NMS_VERSION from npm" >&2
  mkdir -p "$tmp/nms"
  npm install --prefix "$tmp/nms" --no-audit --no-fund --loglevel=error "node-media-server@$NMS_VERSION" >&2
  [[ -f $nms_app ]] || { echo "bench-compare: $nms_app missing after npm install" >&2; exit 2; }
fi

gen=(-gen-size "$SIZE" -gen-fps "$FPS" -gen-bitrate "$BITRATE" -gen-audio-bitrate "$ABITRATE")
input=$("$tmp/hwbench" -gen-only "${gen[@]}")
echo "bench-compare: input $input" >&2

mkdir -p "$OUT/logs"
rm -f "$OUT"/r*-*.json

# free_port prints a loopback TCP port that was free a moment ago (one of
# the ephemeral range that nothing accepts on).
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

# wait_port waits until something accepts on 127.0.0.1:$1 (at most 20 s).
wait_port() {
  for _ in $(seq 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    kill -0 "$server_pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# start_server NAME RTMP_PORT HTTP_PORT LOG: starts the server (fd 9, the
# lock, closed for it) and sets server_pid.
start_server() {
  case $1 in
    headwater)
      "$tmp/headwater" -rtmp-addr "127.0.0.1:$2" -http-addr "127.0.0.1:$3" -log-level warn >"$4" 2>&1 9>&- &
      ;;
    node-media-server)
      # No "auth" section: no API, no generated secrets, nothing written back.
      cat >"$tmp/nms/config.json" <<JSON
{"bind": "127.0.0.1", "rtmp": {"port": $2}, "http": {"port": $3},
 "webadmin": {"enable": false}, "notify": {"url": ""},
 "store": {"path": "$tmp/nms/data"}, "record": {"auto": false, "path": "$tmp/nms/record"}}
JSON
      (ulimit -n "$(ulimit -Hn)" 2>/dev/null || true; exec node "$nms_app" -c "$tmp/nms/config.json") >"$4" 2>&1 9>&- &
      ;;
  esac
  server_pid=$!
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
    echo "bench-compare: waiting for $LOCK (another heavy measurement is running)" >&2
    flock 9
  fi
fi

started=$(date -u +%Y-%m-%dT%H:%MZ)
letters=(a b c d e f g h)
key=bench
[[ $STREAMS -gt 1 ]] && key=bench%d
for r in $(seq "$ROUNDS"); do
  round=$(printf %02d "$r")
  for i in "${!servers[@]}"; do
    name=${servers[$i]}
    rtmp=$(free_port)
    http=$(free_port)
    log="$OUT/logs/r$round-${letters[$i]}-$name.log"
    start_server "$name" "$rtmp" "$http" "$log"
    if ! wait_port "$rtmp" || ! wait_port "$http"; then
      echo "bench-compare: $name did not start; its log ($log):" >&2
      tail -20 "$log" >&2
      exit 2
    fi
    echo "bench-compare: round $r/$ROUNDS: $name (pid $server_pid)" >&2
    json="$OUT/r$round-${letters[$i]}-$name.json"
    # shellcheck disable=SC2086 # HWBENCH_ARGS is split on purpose
    "$tmp/hwbench" -publish "rtmp://127.0.0.1:$rtmp/live/$key" -play "http://127.0.0.1:$http/live/$key.flv" \
      -input "$input" -streams "$STREAMS" -players "$PLAYERS" -ramp "$RAMP" -warmup "$WARMUP" -duration "$DURATION" \
      -pid "$server_pid" -label "$name" -json "$json" ${HWBENCH_ARGS:-} 9>&- >"$OUT/r$round-${letters[$i]}-$name.txt" ||
      echo "bench-compare: hwbench exited $? for $name (see $OUT/r$round-${letters[$i]}-$name.txt)" >&2
    cat "$OUT/r$round-${letters[$i]}-$name.txt" >&2
    stop_server
    sleep 2 # let sockets in TIME_WAIT and the machine settle
  done
done

{
  versions="headwater $(git describe --tags --always --dirty 2>/dev/null || echo dev)"
  $nms && versions+=", node-media-server $NMS_VERSION on node $(node --version)"
  echo "Date: $started. Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/{print $2}') GiB, Linux $(uname -r); $versions."
  echo "Input: $(basename "$input"). Command: \`make bench-compare SERVERS=\"$SERVERS\" STREAMS=$STREAMS PLAYERS=$PLAYERS DURATION=$DURATION ROUNDS=$ROUNDS SIZE=$SIZE FPS=$FPS BITRATE=$BITRATE ABITRATE=$ABITRATE RAMP=$RAMP WARMUP=$WARMUP${HWBENCH_ARGS:+ HWBENCH_ARGS=\"$HWBENCH_ARGS\"}\`"
  echo
  shopt -s nullglob
  "$tmp/hwbench" table "$OUT"/r*-*.json
} | tee "$OUT/table.md"
