// Package hwbench is the engine of cmd/hwbench, a load tool for live
// servers that take RTMP in and serve HTTP-FLV, WebSocket-FLV, RTMP or HLS
// out.
//
// Run starts one publisher per stream (a go-rtmp client replaying an Input
// at real-time pace, looping with continuous timestamps, each H.264 frame
// stamped with its send time in an SEI NAL unit: Stamper), then ramps up
// players: one goroutine and one TCP connection each, either a
// hand-written GET, chunkDecoder and Parser (HTTP-FLV: incremental, no
// allocation per tag), a coder/websocket connection whose messages go
// through the same Parser (a ws:// play URL: no allocation per message),
// an internal/rtmpclient play session (an rtmp:// play URL: no
// allocation per message but rtmpclient's acknowledgements), or a
// gohlslib HLS client with its own connection pool (a play URL ending in
// .m3u8: frames handed over at their presentation time, so their latency
// is how far behind the live edge a viewer is).
// It measures a window: time to first byte and key frame, latency of
// stamped frames, stalls, errors by kind, bytes, and with Config.PID the
// server's CPU and RSS from /proc. Statistics live in sharded atomic
// counters and log-linear Histograms. docs/hwbench.md describes the
// figures.
package hwbench
