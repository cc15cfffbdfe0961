package httpflv

import "github.com/headwater-media/headwater/internal/stream"

// account counts a written batch (n bytes of it, werr the write's error)
// on the player's handle, for the API and metrics: its bytes, and, once,
// its first audio or video frame, which ends the player's time to first
// frame. Atomics only; the scan for a frame stops after the first.
func (p *session) account(batch []*stream.Tag, n int64, werr error) {
	if p.player == nil {
		return
	}
	p.player.AddSent(n)
	if p.firstFrame || werr != nil {
		return
	}
	for _, t := range batch {
		if !t.Header {
			p.firstFrame = true
			p.player.FirstFrame()
			return
		}
	}
}
