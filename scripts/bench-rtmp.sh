#!/usr/bin/env bash
# bench-rtmp: RTMP play and edges side by side. The same hwbench scenario
# (one stream published over RTMP, PLAYERS players) against, in turn:
#   headwater-flv   headwater, HTTP-FLV players
#   headwater-rtmp  headwater, RTMP players
#   lal-rtmp        lal (github.com/q191201771/lal, built from source), RTMP players
#   edge-flv        a headwater origin and a headwater edge (-origin
#                   http://origin), hwbench publishing to the origin, its
#                   HTTP-FLV players on the edge, -pid of the edge
#   edge-rtmp       the same with RTMP players on the edge
# and, when asked for in SCENARIOS, lal-flv (lal, HTTP-FLV players).
# Every server is started fresh for each run and its PID sampled by
# hwbench; ROUNDS rounds alternate the scenarios (A B C ... A B C ...).
# Prints one markdown table. Usually run as
#   make bench-rtmp
#   make bench-rtmp PLAYERS=200 DURATION=20s ROUNDS=1 SCENARIOS="headwater-rtmp lal-rtmp"
#
# Environment (defaults in brackets):
#   SCENARIOS ["headwater-flv headwater-rtmp lal-rtmp edge-flv edge-rtmp"]  run order within a round
#   PLAYERS [1000]  DURATION [30s] (measured window)  ROUNDS [2]
#   SIZE [1280x720]  FPS [30]  BITRATE [2500k]  ABITRATE [128k]  (generated input)
#   RAMP [10s]  WARMUP [5s]
#   EDGE_ORIGIN [http]  how the edge pulls from the origin: http (HTTP-FLV) or rtmp
#   LAL_SRC  a directory holding lal's source (e.g. a checkout of tag
#            LAL_VERSION); unset: git clone --branch LAL_VERSION from GitHub
#            into the temporary directory. lal's Go dependencies come from
#            the module proxy.
#   LAL_VERSION [v0.37.4]  LAL_REPO [https://github.com/q191201771/lal]
#   LAL_GOP_NUM [1]  lal's rtmp/httpflv gop_num: GOPs cached for joining
#                    players (headwater caches one; lal's sample config, 0)
#   LAL_MERGE_WRITE_SIZE [0]  lal's rtmp.merge_write_size (0: off, lal's default)
#   PROFILE  seconds: take a CPU profile of the server (headwater
#            -pprof-addr, lal's pprof) for that long from the start of each
#            measured window, into OUT/*.pprof (profiling costs the server
#            a little CPU: not for the figures)
#   HWBENCH_ARGS  extra hwbench flags, split on spaces
#   OUT [bin/bench-rtmp]  JSON results, summaries (.txt), status lines
#                         (.status), server logs and table.md
#   LOCK [/tmp/hw-heavy.lock]  held (flock) from the first run to the last,
#                             so that two heavy measurements never overlap;
#                             LOCK= disables it
#   GO [go]
# Needs: go, git (unless LAL_SRC is given or no lal scenario runs), ffmpeg
# (to generate the input once; cached by hwbench), curl (PROFILE only).
set -euo pipefail
cd "$(dirname "$0")/.."

SCENARIOS=${SCENARIOS:-headwater-flv headwater-rtmp lal-rtmp edge-flv edge-rtmp}
PLAYERS=${PLAYERS:-1000}
DURATION=${DURATION:-30s}
ROUNDS=${ROUNDS:-2}
SIZE=${SIZE:-1280x720}
FPS=${FPS:-30}
BITRATE=${BITRATE:-2500k}
ABITRATE=${ABITRATE:-128k}
RAMP=${RAMP:-10s}
WARMUP=${WARMUP:-5s}
EDGE_ORIGIN=${EDGE_ORIGIN:-http}
LAL_VERSION=${LAL_VERSION:-v0.37.4}
LAL_REPO=${LAL_REPO:-https://github.com/q191201771/lal}
LAL_GOP_NUM=${LAL_GOP_NUM:-1}
LAL_MERGE_WRITE_SIZE=${LAL_MERGE_WRITE_SIZE:-0}
PROFILE=${PROFILE:-}
OUT=${OUT:-bin/bench-rtmp}
LOCK=${LOCK-/tmp/hw-heavy.lock}
GO=${GO:-go}

read -r -a scenarios <<<"$SCENARIOS"
lal=false
for s in "${scenarios[@]}"; do
  case $s in
    headwater-flv | headwater-rtmp | edge-flv | edge-rtmp) ;;
    lal-rtmp | lal-flv) lal=true ;;
    *) echo "bench-rtmp: unknown scenario $s (headwater-flv headwater-rtmp lal-rtmp lal-flv edge-flv edge-rtmp)" >&2; exit 2 ;;
  esac
done
case $EDGE_ORIGIN in
  http | rtmp) ;;
  *) echo "bench-rtmp: EDGE_ORIGIN must be http or rtmp" >&2; exit 2 ;;
esac

needs=("$GO" ffmpeg)
$lal && [[ -z ${LAL_SRC:-} ]] && needs+=(git)
[[ -n $PROFILE ]] && needs+=(curl)
for bin in "${needs[@]}"; do
  command -v "$bin" >/dev/null 2>&1 || { echo "bench-rtmp: $bin not found (make deps installs ffmpeg)" >&2; exit 2; }
done

tmp=$(mktemp -d -t bench-rtmp.XXXXXX)
pids=() # the servers of the run in progress
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  if [[ ${#pids[@]} -gt 0 ]]; then
    sleep 1
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "bench-rtmp: building headwater and hwbench" >&2
"$GO" build -o "$tmp/headwater" ./cmd/headwater
"$GO" build -o "$tmp/hwbench" ./cmd/hwbench

lal_desc=
if $lal; then
  src=${LAL_SRC:-}
  if [[ -z $src ]]; then
    echo "bench-rtmp: cloning lal $LAL_VERSION from $LAL_REPO" >&2
    git clone --quiet --depth 1 --branch "$LAL_VERSION" "$LAL_REPO" "$tmp/lal-src" >&2
    src=$tmp/lal-src
  fi
  [[ -f $src/app/lalserver/main.go ]] || { echo "bench-rtmp: $src is not lal's source (no app/lalserver)" >&2; exit 2; }
  echo "bench-rtmp: building lalserver from $src" >&2
  (cd "$src" && "$GO" build -o "$tmp/lalserver" ./app/lalserver) >&2
  lal_desc=$(cd "$src" && git describe --tags --always 2>/dev/null || echo "$LAL_VERSION")
  lal_desc="lal $lal_desc (gop_num $LAL_GOP_NUM, merge_write_size $LAL_MERGE_WRITE_SIZE)"
fi

gen=(-gen-size "$SIZE" -gen-fps "$FPS" -gen-bitrate "$BITRATE" -gen-audio-bitrate "$ABITRATE")
input=$("$tmp/hwbench" -gen-only "${gen[@]}")
echo "bench-rtmp: input $input" >&2

mkdir -p "$OUT/logs"
rm -f "$OUT"/r*-*.json "$OUT"/r*-*.txt "$OUT"/r*-*.status "$OUT"/r*-*.pprof

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

# start_headwater RTMP_PORT HTTP_PORT LOG [FLAGS...]: starts headwater (fd 9,
# the lock, closed for it), adds it to pids and sets started_pid. Its
# defaults, but rtmp.max_conns as http.max_conns (20,000; at least PLAYERS
# + 16): the default 1,000 would refuse the last RTMP player, the publisher
# having one of the connections.
start_headwater() {
  local rtmp=$1 http=$2 log=$3
  shift 3
  HEADWATER_RTMP_MAX_CONNS=$((PLAYERS + 16 > 20000 ? PLAYERS + 16 : 20000)) \
    "$tmp/headwater" -rtmp-addr "127.0.0.1:$rtmp" -http-addr "127.0.0.1:$http" -log-level warn "$@" >"$log" 2>&1 9>&- &
  started_pid=$!
  pids+=("$started_pid")
}

# start_lal RTMP_PORT HTTP_PORT LOG [PPROF_PORT]: writes lal's config (RTMP
# and HTTP-FLV on the given loopback ports; HLS, HTTP-TS, RTSP, RTMPS,
# HTTPS, the HTTP API, notifications, recording and relays off) and starts
# lalserver in the temporary directory.
start_lal() {
  local pprof=false pprof_addr=
  if [[ -n ${4:-} ]]; then pprof=true pprof_addr=127.0.0.1:$4; fi
  mkdir -p "$tmp/lal"
  cat >"$tmp/lal/lalserver.conf.json" <<JSON
{
  "conf_version": "v0.4.1",
  "rtmp": {"enable": true, "addr": "127.0.0.1:$1", "rtmps_enable": false, "rtmps_addr": "", "rtmps_cert_file": "", "rtmps_key_file": "",
           "gop_num": $LAL_GOP_NUM, "single_gop_max_frame_num": 0, "merge_write_size": $LAL_MERGE_WRITE_SIZE},
  "in_session": {"add_dummy_audio_enable": false, "add_dummy_audio_wait_audio_ms": 150},
  "default_http": {"http_listen_addr": "127.0.0.1:$2", "https_listen_addr": "", "https_cert_file": "", "https_key_file": ""},
  "httpflv": {"enable": true, "enable_https": false, "url_pattern": "/", "gop_num": $LAL_GOP_NUM, "single_gop_max_frame_num": 0},
  "hls": {"enable": false, "enable_https": false, "url_pattern": "/hls/", "out_path": "$tmp/lal/hls/", "fragment_duration_ms": 3000,
          "fragment_num": 6, "delete_threshold": 6, "cleanup_mode": 1, "use_memory_as_disk_flag": true,
          "sub_session_timeout_ms": 30000, "sub_session_hash_key": ""},
  "httpts": {"enable": false, "enable_https": false, "url_pattern": "/", "gop_num": 0, "single_gop_max_frame_num": 0},
  "rtsp": {"enable": false, "addr": "", "rtsps_enable": false, "rtsps_addr": "", "rtsps_cert_file": "", "rtsps_key_file": "",
           "out_wait_key_frame_flag": true, "auth_enable": false, "auth_method": 1, "username": "", "password": "",
           "ws_rtsp_enable": false, "ws_rtsp_addr": ""},
  "record": {"enable_flv": false, "flv_out_path": "$tmp/lal/flv/", "enable_mpegts": false, "mpegts_out_path": "$tmp/lal/mpegts/"},
  "relay_push": {"enable": false, "addr_list": []},
  "static_relay_pull": {"enable": false, "addr": ""},
  "http_api": {"enable": false, "addr": ""},
  "server_id": "1",
  "http_notify": {"enable": false, "update_interval_sec": 5, "on_update": "", "on_pub_start": "", "on_pub_stop": "",
                  "on_sub_start": "", "on_sub_stop": "", "on_relay_pull_start": "", "on_relay_pull_stop": "",
                  "on_rtmp_connect": "", "on_server_start": "", "on_hls_make_ts": ""},
  "simple_auth": {"key": "", "dangerous_lal_secret": "", "pub_rtmp_enable": false, "sub_rtmp_enable": false,
                  "sub_httpflv_enable": false, "sub_httpts_enable": false, "pub_rtsp_enable": false,
                  "sub_rtsp_enable": false, "hls_m3u8_enable": false},
  "pprof": {"enable": $pprof, "addr": "$pprof_addr"},
  "log": {"level": 3, "filename": "", "is_to_stdout": true, "is_rotate_daily": false, "short_file_flag": true,
          "timestamp_flag": true, "timestamp_with_ms_flag": true, "level_flag": true, "assert_behavior": 1},
  "debug": {"log_group_interval_sec": 30, "log_group_max_group_num": 10, "log_group_max_sub_num_per_group": 10}
}
JSON
  (cd "$tmp/lal" && ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$tmp/lalserver" -c "$tmp/lal/lalserver.conf.json") >"$3" 2>&1 9>&- &
  started_pid=$!
  pids+=("$started_pid")
}

stop_servers() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  pids=()
}

# up PID PORT... waits for the ports of a server just started; on failure
# it prints the server's log ($log) and exits.
up() {
  local pid=$1 port
  shift
  for port in "$@"; do
    if ! wait_port "$pid" "$port"; then
      echo "bench-rtmp: a server of $name did not start; its log ($log):" >&2
      tail -20 "$log" >&2
      exit 2
    fi
  done
}

# profile_window PORT FILE PROGRESS: once hwbench's status (PROGRESS) says
# the window started, fetch a CPU profile of PROFILE seconds.
profile_window() {
  for _ in $(seq 1200); do
    grep -q ' measure ' "$3" 2>/dev/null && break
    sleep 0.1
  done
  curl -sf -o "$2" "http://127.0.0.1:$1/debug/pprof/profile?seconds=$PROFILE" ||
    echo "bench-rtmp: no profile from 127.0.0.1:$1" >&2
}

if [[ -n $LOCK ]]; then
  exec 9>"$LOCK"
  if ! flock -n 9; then
    echo "bench-rtmp: waiting for $LOCK (another heavy measurement is running)" >&2
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
    pp=
    [[ -n $PROFILE ]] && pp=$(free_port)
    hwflags=()
    [[ -n $pp ]] && hwflags=(-pprof-addr "127.0.0.1:$pp")
    case $name in
      headwater-*)
        start_headwater "$rtmp" "$http" "$log" "${hwflags[@]}"
        up "$started_pid" "$rtmp" "$http"
        publish=rtmp://127.0.0.1:$rtmp/live/bench
        label="headwater ${name#headwater-}"
        ;;
      lal-*)
        start_lal "$rtmp" "$http" "$log" "$pp"
        up "$started_pid" "$rtmp" "$http"
        publish=rtmp://127.0.0.1:$rtmp/live/bench
        label="lal ${name#lal-}"
        ;;
      edge-*)
        # The origin, then the edge; both ports of each must answer.
        orig_rtmp=$(free_port)
        orig_http=$(free_port)
        start_headwater "$orig_rtmp" "$orig_http" "$OUT/logs/r$round-${letters[$i]}-$name-origin.log"
        up "$started_pid" "$orig_rtmp" "$orig_http"
        origin=http://127.0.0.1:$orig_http
        [[ $EDGE_ORIGIN == rtmp ]] && origin=rtmp://127.0.0.1:$orig_rtmp
        start_headwater "$rtmp" "$http" "$log" -origin "$origin" "${hwflags[@]}"
        up "$started_pid" "$rtmp" "$http"
        publish=rtmp://127.0.0.1:$orig_rtmp/live/bench
        label="edge ${name#edge-} (origin $EDGE_ORIGIN)"
        ;;
    esac
    server_pid=$started_pid # the server the players play from: the edge for edge-*
    case $name in
      *-flv) play=http://127.0.0.1:$http/live/bench.flv; label=${label/ flv/ HTTP-FLV} ;;
      *-rtmp) play=rtmp://127.0.0.1:$rtmp/live/bench; label=${label/ rtmp/ RTMP} ;;
    esac
    echo "bench-rtmp: round $r/$ROUNDS: $name (pid $server_pid)" >&2
    : >"$base.status"
    prof_pid=
    if [[ -n $pp ]]; then
      profile_window "$pp" "$base.pprof" "$base.status" 9>&- &
      prof_pid=$!
    fi
    # The status lines go to the terminal and to $base.status.
    # shellcheck disable=SC2086 # HWBENCH_ARGS is split on purpose
    "$tmp/hwbench" -publish "$publish" -play "$play" \
      -input "$input" -players "$PLAYERS" -ramp "$RAMP" -warmup "$WARMUP" -duration "$DURATION" \
      -pid "$server_pid" -label "$label" -json "$base.json" ${HWBENCH_ARGS:-} 9>&- >"$base.txt" \
      2> >(tee -a "$base.status" >&2) ||
      echo "bench-rtmp: hwbench exited $? for $name (see $base.txt)" >&2
    if [[ -n $prof_pid ]]; then wait "$prof_pid" || true; fi
    cat "$base.txt" >&2
    stop_servers
    sleep 2 # let sockets in TIME_WAIT and the machine settle
  done
done
elapsed=$((SECONDS - t0))

{
  versions="headwater $(git describe --tags --always --dirty 2>/dev/null || echo dev)"
  [[ -n $lal_desc ]] && versions+=", $lal_desc"
  echo "Date: $started. Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/{print $2}') GiB, Linux $(uname -r); $versions; runs took $((elapsed / 60)) min $((elapsed % 60)) s."
  echo "Input: $(basename "$input"). Command: \`make bench-rtmp SCENARIOS=\"$SCENARIOS\" PLAYERS=$PLAYERS DURATION=$DURATION ROUNDS=$ROUNDS SIZE=$SIZE FPS=$FPS BITRATE=$BITRATE ABITRATE=$ABITRATE RAMP=$RAMP WARMUP=$WARMUP EDGE_ORIGIN=$EDGE_ORIGIN${HWBENCH_ARGS:+ HWBENCH_ARGS=\"$HWBENCH_ARGS\"}\`"
  echo
  shopt -s nullglob
  "$tmp/hwbench" table "$OUT"/r*-*.json
} | tee "$OUT/table.md"
