// Package playtest measures a play.Framer on the real send path: one
// stream, players each writing to their own loopback TCP connection
// through a play.Session, the far ends discarding. HTTP-FLV's and RTMP
// play's allocation tests and benchmarks share it, so that their figures
// compare.
package playtest

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/headwater-media/headwater/internal/play"
	"github.com/headwater-media/headwater/internal/stream"
	st "github.com/headwater-media/headwater/internal/stream/streamtest"
	"github.com/headwater-media/headwater/pkg/flv"
)

// SendBench is a stream with players.
type SendBench struct {
	S       *stream.Stream
	players []*benchPlayer
	done    sync.WaitGroup
	closers []io.Closer
}

type benchPlayer struct {
	sub     *stream.Subscriber
	s       *play.Session
	batch   []*stream.Tag
	started bool
	framer  play.Framer
}

// NewSendBench starts a stream with an AVC sequence header and a keyframe
// and players players, each with its own framer from newFramer, and
// writes their join batch.
func NewSendBench(tb testing.TB, players int, newFramer func() play.Framer) *SendBench {
	tb.Helper()
	b := &SendBench{S: stream.New(stream.Config{GOPCacheBytes: 1 << 20, QueueBytes: 64 << 20, QueueDuration: 0})}
	if err := b.S.Write(flv.TagVideo, 0, st.AVCSeqHeader()); err != nil {
		tb.Fatal(err)
	}
	if err := b.S.Write(flv.TagVideo, 0, st.AVCFrame(true, 1000)); err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	for range players {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			tb.Fatal(err)
		}
		sc, err := ln.Accept()
		if err != nil {
			tb.Fatal(err)
		}
		b.closers = append(b.closers, c, sc)
		b.done.Add(1)
		go func() { defer b.done.Done(); _, _ = io.Copy(io.Discard, c) }()
		f := newFramer()
		bp := &benchPlayer{sub: b.S.Subscribe(), framer: f,
			s: play.NewSession(sc, f, play.Config{WriteTimeout: time.Minute}, nil, nil)}
		b.players = append(b.players, bp)
		bp.step(tb) // the join batch
	}
	return b
}

// Step is one turn of every player's loop: take everything queued, write it.
func (b *SendBench) Step(tb testing.TB) {
	for _, bp := range b.players {
		bp.step(tb)
	}
}

func (bp *benchPlayer) step(tb testing.TB) {
	var err error
	bp.batch, err = bp.sub.Next(context.Background(), bp.batch[:0])
	if err != nil {
		tb.Fatal(err)
	}
	var first []byte
	if !bp.started {
		first = bp.framer.Start(bp.sub.Tracks())
		bp.started = true
	}
	if _, err := bp.s.WriteTags(context.Background(), time.Now().Add(time.Minute), first, bp.batch); err != nil {
		tb.Fatal(err)
	}
	clear(bp.batch)
}

// Close closes every connection and waits for the discarding ends.
func (b *SendBench) Close() {
	for _, c := range b.closers {
		c.Close()
	}
	b.done.Wait()
}
