package play

import "github.com/headwater-media/headwater/internal/stream"

// account counts a written batch (n bytes of it, werr the write's error):
// on the server's totals, and on the player's handle for the API and
// metrics its bytes and, once, its first audio or video frame, which ends
// the player's time to first frame. Atomics only; the scan for a frame
// stops after the first.
func (s *Session) account(batch []*stream.Tag, n int64, werr error) {
	s.count(n)
	if s.player == nil || s.firstFrame || werr != nil {
		return
	}
	for _, t := range batch {
		if !t.Header {
			s.firstFrame = true
			s.player.FirstFrame()
			return
		}
	}
}
