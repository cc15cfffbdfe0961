package e2e

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/headwater-media/headwater/internal/config"
	"github.com/headwater-media/headwater/internal/registry"
	"github.com/headwater-media/headwater/internal/server"
	st "github.com/headwater-media/headwater/internal/stream/streamtest"
	"github.com/headwater-media/headwater/pkg/flv"
)

// BenchmarkTimeToFirstFrame: one HTTP-FLV player at a time joins a live
// stream (a cached GOP) and reads to its first keyframe; ns/op is its time
// to first frame. The sub-benchmarks compare no hook with an on_play hook
// on a loopback HTTP server that allows at once: the difference is what
// a hook adds to a player's start. Run:
// go test -run '^$' -bench TimeToFirstFrame -benchtime 2000x ./internal/e2e/
func BenchmarkTimeToFirstFrame(b *testing.B) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer hook.Close()
	for _, bc := range []struct {
		name, onPlay string
	}{{"no-hook", ""}, {"on_play-hook", hook.URL}} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := config.Default()
			cfg.RTMP.Addr, cfg.HTTP.Addr = "127.0.0.1:0", "127.0.0.1:0"
			cfg.Hooks.OnPlay = bc.onPlay
			cfg.Play.MergeMS = 0
			s := server.New(cfg, zerolog.Nop())
			if err := s.Start(); err != nil {
				b.Fatal(err)
			}
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = s.Shutdown(ctx)
			}()
			pub, err := s.Registry().Publish(registry.Key{App: "live", Name: "b"}, registry.PublisherInfo{}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer pub.Release()
			_ = pub.Write(flv.TagVideo, 0, st.AVCSeqHeader())
			_ = pub.Write(flv.TagVideo, 0, st.AVCFrame(true, 20000))
			url := "http://" + s.HTTPAddr().String() + "/live/b.flv"
			client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				resp, err := client.Get(url)
				if err != nil {
					b.Fatal(err)
				}
				r := flv.NewReader(resp.Body)
				if _, err := r.ReadHeader(); err != nil {
					b.Fatal(err)
				}
				for {
					tag, err := r.ReadTag()
					if err != nil {
						b.Fatal(err)
					}
					if tag.Type == flv.TagVideo && tag.Data[0]>>4 == 1 && tag.Data[1] == 1 {
						break
					}
				}
				resp.Body.Close()
			}
		})
	}
}
