package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/headwater-media/headwater/pkg/flv"
)

// BenchmarkPlayersJoinLiveStream runs the real binary with an ffmpeg
// publisher (640x360 H.264 + AAC), attaches HW_BENCH_PLAYERS players
// (default 500) and reports time to first keyframe and server RSS per
// player. Run: go test -run '^$' -bench PlayersJoin -benchtime 1x ./internal/e2e/
func BenchmarkPlayersJoinLiveStream(b *testing.B) {
	n := 500
	if v, err := strconv.Atoi(os.Getenv("HW_BENCH_PLAYERS")); err == nil && v > 0 {
		n = v
	}
	for i := 0; i < b.N; i++ {
		benchPlayers(b, n)
	}
}

func benchPlayers(b *testing.B, n int) {
	p := startBinary(b)
	pub := ffmpegPublish(b, "rtmp://"+p.rtmp+"/live/bench", "640x360")
	defer pub.kill()
	waitLive(b, "http://"+p.httpAd+"/live/bench.flv")
	time.Sleep(2 * time.Second) // let the GOP cache fill: measure steady-state joins
	base := rssKiB(b, p.cmd.Process.Pid)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tr := &http.Transport{DisableKeepAlives: true, MaxConnsPerHost: 0}
	client := &http.Client{Transport: tr}
	ttff := make([]time.Duration, n)
	var wg, ready sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		ready.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			first := false
			defer func() {
				if !first {
					ready.Done()
				}
			}()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.httpAd+"/live/bench.flv", nil)
			resp, err := client.Do(req)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			r := flv.NewReader(resp.Body)
			if _, err := r.ReadHeader(); err != nil {
				return
			}
			for {
				tag, err := r.ReadTag()
				if err != nil {
					return
				}
				if !first && tag.Type == flv.TagVideo {
					if vi, err := flv.ParseVideo(tag.Data); err == nil && vi.Keyframe && !vi.SequenceHeader && !vi.EndOfSequence {
						ttff[i] = time.Since(start)
						first = true
						ready.Done()
						_, _ = io.Copy(io.Discard, resp.Body)
						return
					}
				}
			}
		}()
	}
	ready.Wait()
	time.Sleep(3 * time.Second) // steady state with every player attached
	rss := rssKiB(b, p.cmd.Process.Pid)
	sort.Slice(ttff, func(i, j int) bool { return ttff[i] < ttff[j] })
	b.ReportMetric(float64(ttff[n/2].Microseconds())/1000, "ttff-p50-ms")
	b.ReportMetric(float64(ttff[n*95/100].Microseconds())/1000, "ttff-p95-ms")
	b.ReportMetric(float64(rss-base)/float64(n), "rss-KiB/player")
	b.ReportMetric(float64(n), "players")
	cancel()
	wg.Wait()
	tr.CloseIdleConnections()
}
