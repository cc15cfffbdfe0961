//
// Copyright (c) 2018- yutopp (yutopp@gmail.com)
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at  https://www.boost.org/LICENSE_1_0.txt)
//

package rtmp

import (
	"bytes"
	"context"
	"io"
	"math"
	"sync"
	"time"

	"github.com/pkg/errors"
	"github.com/sirupsen/logrus"

	"github.com/yutopp/go-rtmp/message"
)

const ctrlMsgChunkStreamID = 2

const maxWriterQueueSize = 64

// A reader buffer larger than this is dropped instead of reused when a next message starts
const maxRetainedReaderBufferSize = 64 * 1024

type ChunkMessage struct {
	StreamID uint32
	Message  message.Message
}

type ChunkStreamer struct {
	r *ChunkStreamerReader
	w *ChunkStreamerWriter

	readers map[int]*ChunkStreamReader
	writers map[int]*ChunkStreamWriter
	mu      sync.Mutex

	writerSched *chunkStreamerWriterSched

	msgDec *message.Decoder
	msgEnc *message.Encoder

	selfState *StreamControlState
	peerState *StreamControlState

	err  error
	done chan struct{}

	controlStreamWriter func(chunkStreamID int, timestamp uint32, msg message.Message) error

	// Writer hand-over (headwater patch 12): handOverMu guards the fields
	// below; it is never held while waiting.
	handOverMu  sync.Mutex
	handedOver  bool          // HandOver has succeeded: go-rtmp writes nothing more
	pendingMsgs int           // messages scheduled and not yet completely written
	idleCh      chan struct{} // made by a waiting HandOver, closed when pendingMsgs drops to 0

	partialBytes    uint64             // Total announced length of messages which are not completed yet
	completedReader *ChunkStreamReader // A reader which has completed a message at the last

	cacheBuffer  []byte
	chunkPayload io.LimitedReader // the payload of the chunk being read
	config       *StreamControlStateConfig
	logger       logrus.FieldLogger
}

func NewChunkStreamer(r io.Reader, w io.Writer, config *StreamControlStateConfig) *ChunkStreamer {
	if config == nil {
		config = defaultStreamControlStateConfig
	}

	cs := &ChunkStreamer{
		r: &ChunkStreamerReader{
			reader: r,
		},
		w: &ChunkStreamerWriter{
			writer: w,
		},

		readers: make(map[int]*ChunkStreamReader),
		writers: make(map[int]*ChunkStreamWriter),

		writerSched: &chunkStreamerWriterSched{
			writers: make(chan *ChunkStreamWriter, maxWriterQueueSize),
			stopCh:  make(chan struct{}),
		},

		msgDec: message.NewDecoder(nil),
		msgEnc: message.NewEncoder(nil),

		selfState: NewStreamControlState(config),
		peerState: NewStreamControlState(config),

		done: make(chan struct{}),

		cacheBuffer: make([]byte, 64*1024), // cache 64KB
		config:      config,
		logger:      logrus.StandardLogger(),
	}
	cs.writerSched.streamer = cs
	go cs.schedWriteLoop()

	return cs
}

func (cs *ChunkStreamer) Read(cmsg *ChunkMessage) (int, uint32, error) {
	reader, err := cs.NewChunkReader()
	if err != nil {
		return 0, 0, err
	}

	cs.msgDec.Reset(reader)
	if err := cs.msgDec.Decode(message.TypeID(reader.messageTypeID), &cmsg.Message); err != nil {
		return 0, 0, err
	}

	cmsg.StreamID = reader.messageStreamID

	return reader.basicHeader.chunkStreamID, uint32(reader.timestamp), nil
}

func (cs *ChunkStreamer) Write(
	ctx context.Context, // NOTE: Retire writing when a current chunk is busy
	chunkStreamID int,
	timestamp uint32,
	cmsg *ChunkMessage,
) error {
	writer, err := cs.NewChunkWriter(ctx, chunkStreamID)
	if err != nil {
		return err
	}
	//defer writer.Close()

	cs.msgEnc.Reset(writer)
	if err := cs.msgEnc.Encode(cmsg.Message); err != nil {
		return err
	}
	writer.timestamp = timestamp
	writer.messageLength = uint32(writer.buf.Len())
	writer.messageTypeID = byte(cmsg.Message.TypeID())
	writer.messageStreamID = cmsg.StreamID

	return cs.Sched(writer)
}

func (cs *ChunkStreamer) NewChunkReader() (*ChunkStreamReader, error) {
again:
	reader, err := cs.readChunk()
	if err != nil {
		return nil, err
	}
	if cs.r.FragmentReadBytes() >= uint32(cs.peerState.ackWindowSize/2) { // TODO: fix size
		// After a hand-over, acks are the application's to send: the
		// connection goes on being read. (headwater patch 12)
		if err := cs.sendAck(cs.r.TotalReadBytes()); err != nil && !errors.Is(err, ErrWriterHandedOver) {
			return nil, err
		}
		cs.r.ResetFragmentReadBytes()
	}

	if !reader.completed {
		goto again
	}
	return reader, nil
}

// NewChunkWriter Returns a writer for a chunkStreamID.
// Wait until writing have been finished if the writer is running.
func (cs *ChunkStreamer) NewChunkWriter(ctx context.Context, chunkStreamID int) (*ChunkStreamWriter, error) {
	if cs.isHandedOver() { // headwater patch 12
		return nil, ErrWriterHandedOver
	}
	writer, err := cs.prepareChunkWriter(chunkStreamID)
	if err != nil {
		return nil, errors.Wrapf(err, "Failed to prepare chunk writer")
	}
	if err := writer.Wait(ctx); err != nil {
		return nil, errors.Wrapf(err, "Failed to wait chunk writer")
	}

	return writer, nil
}

func (cs *ChunkStreamer) Sched(writer *ChunkStreamWriter) error {
	if !cs.beginMessage() {
		// Handed over: nothing is written. Release the writer acquired by
		// NewChunkWriter, so that nothing waits for it. (headwater patch 12)
		writer.buf.Reset()
		select {
		case <-writer.doneCh:
		default:
			writer.lastErr = ErrWriterHandedOver
			close(writer.doneCh)
		}
		return ErrWriterHandedOver
	}
	writer.newChunk = true
	return cs.writerSched.Sched(writer)
}

// HandOver Hands the connection's writing over to the application.
// It waits until every message scheduled so far (by Write, Sched, sendAck,
// replies through Stream) is completely written and flushed to the
// underlying writer, then marks the streamer as handed over: from then on
// every write through go-rtmp returns ErrWriterHandedOver and writes
// nothing, while reading goes on (acks go-rtmp would send are skipped).
// It returns ctx.Err() if ctx ends first, and an error if the writer loop
// has ended (failed, or closed) before everything was written; the
// streamer is not handed over then. A call after a successful one returns
// nil at once. Safe to call while the writer loop runs. (headwater patch 12)
func (cs *ChunkStreamer) HandOver(ctx context.Context) error {
	for {
		cs.handOverMu.Lock()
		if cs.handedOver {
			cs.handOverMu.Unlock()
			return nil
		}
		select {
		case <-cs.done:
			cs.handOverMu.Unlock()
			return cs.writerLoopEndedError()
		default:
		}
		if cs.pendingMsgs == 0 {
			// Nothing is queued, nothing being written, and Sched refuses
			// from now on: the writer loop will never write again.
			cs.handedOver = true
			cs.handOverMu.Unlock()
			return nil
		}
		if cs.idleCh == nil {
			cs.idleCh = make(chan struct{})
		}
		idleCh := cs.idleCh
		cs.handOverMu.Unlock()

		select {
		case <-idleCh:
			// Check again: a message may have been scheduled meanwhile
		case <-cs.done:
			return cs.writerLoopEndedError()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// writerLoopEndedError Is called once cs.done is closed (cs.err is set then).
func (cs *ChunkStreamer) writerLoopEndedError() error {
	if cs.err != nil {
		return errors.Wrap(cs.err, "Writer loop has ended")
	}
	return errors.New("Writer loop has ended")
}

func (cs *ChunkStreamer) isHandedOver() bool {
	cs.handOverMu.Lock()
	defer cs.handOverMu.Unlock()

	return cs.handedOver
}

// beginMessage Counts a message to be scheduled, unless the streamer is handed over.
func (cs *ChunkStreamer) beginMessage() bool {
	cs.handOverMu.Lock()
	defer cs.handOverMu.Unlock()

	if cs.handedOver {
		return false
	}
	cs.pendingMsgs++
	return true
}

// endMessage Is called by the writer loop when a message has been completely written.
func (cs *ChunkStreamer) endMessage() {
	cs.handOverMu.Lock()
	defer cs.handOverMu.Unlock()

	cs.pendingMsgs--
	if cs.pendingMsgs == 0 && cs.idleCh != nil {
		close(cs.idleCh)
		cs.idleCh = nil
	}
}

func (cs *ChunkStreamer) SelfState() *StreamControlState {
	return cs.selfState
}

func (cs *ChunkStreamer) PeerState() *StreamControlState {
	return cs.peerState
}

func (cs *ChunkStreamer) Done() <-chan struct{} {
	return cs.done
}

func (cs *ChunkStreamer) Err() error {
	return cs.err
}

func (cs *ChunkStreamer) Close() error {
	return cs.writerSched.Close()
}

// returns nil reader when chunk is fragmented.
func (cs *ChunkStreamer) readChunk() (*ChunkStreamReader, error) {
	// The last completed message has been handled. Do not retain a large buffer for it.
	if r := cs.completedReader; r != nil {
		cs.completedReader = nil
		if r.buf.Cap() > maxRetainedReaderBufferSize {
			r.buf = bytes.Buffer{}
		}
	}

	var bh chunkBasicHeader
	if err := decodeChunkBasicHeader(cs.r, cs.cacheBuffer, &bh); err != nil {
		return nil, err
	}
	//cs.logger.Debugf("(READ) BasicHeader = %+v", bh)

	reader, err := cs.prepareChunkReader(bh.chunkStreamID)
	if err != nil {
		return nil, errors.Wrapf(err, "Failed to prepare chunk reader")
	}

	var mh chunkMessageHeader
	if bh.fmt == 3 {
		// Type 3 chunks have the extended timestamp field when the preceding header has it (5.3.1.3)
		mh.extendedTimestamp = reader.messageHeader.extendedTimestamp
	}
	if err := decodeChunkMessageHeader(cs.r, bh.fmt, cs.cacheBuffer, &mh); err != nil {
		return nil, err
	}
	//cs.logger.Debugf("(READ) MessageHeader = %+v", mh)

	if bh.fmt == 0 || bh.fmt == 1 {
		if limit := cs.config.MaxMessageSize; limit > 0 && mh.messageLength > limit {
			return nil, errors.Wrapf(
				ErrMessageTooLarge,
				"ChunkStreamID = %d, MessageLength = %d, Limit = %d",
				bh.chunkStreamID,
				mh.messageLength,
				limit,
			)
		}
	}

	if reader.completed {
		reader.buf.Reset()
		reader.completed = false
	}

	reader.basicHeader = bh
	reader.messageHeader = mh

	switch bh.fmt {
	case 0:
		reader.timestamp = mh.timestamp
		reader.timestampDelta = 0 // reset
		reader.messageLength = mh.messageLength
		reader.messageTypeID = mh.messageTypeID
		reader.messageStreamID = mh.messageStreamID

	case 1:
		reader.timestampDelta = mh.timestampDelta
		reader.messageLength = mh.messageLength
		reader.messageTypeID = mh.messageTypeID

	case 2:
		reader.timestampDelta = mh.timestampDelta

	case 3:
		// DO NOTHING

	default:
		return nil, errors.Errorf("Unexpected fmt: %d", bh.fmt)
	}

	//cs.logger.Debugf("(READ) MessageLength = %d, Current = %d", reader.messageLength, reader.buf.Len())

	expectLen := int(reader.messageLength) - reader.buf.Len()
	if expectLen < 0 {
		return nil, errors.Errorf(
			"Invalid message length: ChunkStreamID = %d, MessageLength = %d, Received = %d",
			bh.chunkStreamID,
			reader.messageLength,
			reader.buf.Len(),
		)
	}

	if err := cs.accountPartialBytes(reader); err != nil {
		return nil, err
	}

	if uint32(expectLen) > cs.peerState.chunkSize {
		expectLen = int(cs.peerState.chunkSize)
	}
	//cs.logger.Debugf("(READ) Length = %d", expectLen)

	if expectLen > 0 { // A message whose length is 0 has no payload
		// One limited reader for every chunk (patch 8): no allocation per chunk.
		cs.chunkPayload = io.LimitedReader{R: cs.r, N: int64(expectLen)}
		if _, err := io.CopyBuffer(&reader.buf, &cs.chunkPayload, cs.cacheBuffer); err != nil {
			return nil, err
		}
	}
	//cs.logger.Debugf("(READ) Buffer: %+v", reader.buf.Bytes())

	if int(reader.messageLength)-reader.buf.Len() != 0 {
		// fragmented
		return reader, nil
	}

	// read completed, update timestamp
	reader.timestamp += reader.timestampDelta
	reader.completed = true

	cs.releasePartialBytes(reader)
	cs.completedReader = reader

	return reader, nil
}

// accountPartialBytes Accounts the announced length of a message which is being read
func (cs *ChunkStreamer) accountPartialBytes(reader *ChunkStreamReader) error {
	if reader.partialBytes == reader.messageLength {
		return nil
	}

	cs.partialBytes -= uint64(reader.partialBytes)
	cs.partialBytes += uint64(reader.messageLength)
	reader.partialBytes = reader.messageLength

	if limit := cs.config.MaxPartialBytes; limit > 0 && cs.partialBytes > uint64(limit) {
		return errors.Wrapf(
			ErrPartialBytesLimit,
			"ChunkStreamID = %d, PartialBytes = %d, Limit = %d",
			reader.basicHeader.chunkStreamID,
			cs.partialBytes,
			limit,
		)
	}

	return nil
}

func (cs *ChunkStreamer) releasePartialBytes(reader *ChunkStreamReader) {
	cs.partialBytes -= uint64(reader.partialBytes)
	reader.partialBytes = 0
}

func (cs *ChunkStreamer) writeChunk(writer *ChunkStreamWriter) (bool, error) {
	cs.updateWriterHeader(writer)

	//cs.logger.Debugf("(WRITE) Headers: Basic = %+v / Message = %+v", writer.basicHeader, writer.messageHeader)
	//cs.logger.Debugf("(WRITE) Buffer: %+v", writer.buf.Bytes())

	expectLen := writer.buf.Len()
	if uint32(expectLen) > cs.selfState.chunkSize {
		expectLen = int(cs.selfState.chunkSize)
	}

	if err := encodeChunkBasicHeader(cs.w, &writer.basicHeader); err != nil {
		return false, err
	}
	if err := encodeChunkMessageHeader(cs.w, writer.basicHeader.fmt, &writer.messageHeader); err != nil {
		return false, err
	}

	if _, err := io.CopyN(cs.w, writer, int64(expectLen)); err != nil {
		return false, err
	}
	if err := cs.w.Flush(); err != nil {
		return false, err
	}

	if writer.buf.Len() != 0 {
		// fragmented
		return false, nil
	}

	return true, nil
}

func (cs *ChunkStreamer) updateWriterHeader(writer *ChunkStreamWriter) {
	fmt := byte(2) // default: only timestamp delta
	if writer.messageHeader.messageLength != writer.messageLength ||
		writer.messageTypeID != writer.messageHeader.messageTypeID {
		// header or type id is updated, change fmt to 1 to notify difference and update state
		writer.messageHeader.messageLength = writer.messageLength
		writer.messageHeader.messageTypeID = writer.messageTypeID
		fmt = 1
	}
	if writer.timestamp != writer.messageHeader.timestamp || writer.newChunk {
		if writer.timestamp >= writer.messageHeader.timestamp {
			writer.timestampDelta = writer.timestamp - writer.messageHeader.timestamp
		} else {
			// timestamp is reversed, clear timestamp data
			fmt = 0
			writer.timestampDelta = 0
		}
	}
	writer.newChunk = false
	if writer.timestampDelta == writer.messageHeader.timestampDelta && fmt == 2 {
		fmt = 3
	}
	writer.messageHeader.timestampDelta = writer.timestampDelta
	writer.messageHeader.timestamp = writer.timestamp

	if writer.messageHeader.messageStreamID != writer.messageStreamID {
		fmt = 0
		writer.messageHeader.messageStreamID = writer.messageStreamID
	}
	writer.basicHeader.fmt = fmt

	// Type 3 chunks inherit the extended timestamp field of the preceding header (5.3.1.3)
	switch fmt {
	case 0:
		writer.messageHeader.extendedTimestamp = writer.messageHeader.timestamp >= 0xffffff
		writer.messageHeader.extendedTimestampValue = writer.messageHeader.timestamp
	case 1, 2:
		writer.messageHeader.extendedTimestamp = writer.messageHeader.timestampDelta >= 0xffffff
		writer.messageHeader.extendedTimestampValue = writer.messageHeader.timestampDelta
	}
}

func (cs *ChunkStreamer) waitWriters() {
	// After a hand-over everything go-rtmp scheduled has been written, and
	// nothing more can be. (headwater patch 12)
	if cs.isHandedOver() {
		return
	}

	// Snapshot the writers, then wait without holding cs.mu: the writer
	// loop's error path (forceCloseWriters) needs cs.mu to release them.
	// (headwater patch 7)
	cs.mu.Lock()
	writers := make(map[int]*ChunkStreamWriter, len(cs.writers))
	for k, writer := range cs.writers {
		writers[k] = writer
	}
	cs.mu.Unlock()

	// Wait until that writers are finished for 3 seconds. (NOTE: 3s is addhoc value...)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	// Once the writer loop has ended, nothing queued will ever be written:
	// stop waiting then, or a message scheduled after the loop failed (a
	// reply on a new chunk stream) stalls every close for 3 s. (headwater
	// patch 9)
	go func() {
		select {
		case <-cs.done:
			cancel()
		case <-ctx.Done():
		}
	}()

	for k, writer := range writers {
		if err := writer.Wait(ctx); err != nil {
			cs.logger.Warnf("Failed to wait writer: ID = %d", k)
		}
	}
}

func (cs *ChunkStreamer) forceCloseWriters() {
	cs.mu.Lock()
	defer cs.mu.Unlock()

	for _, writer := range cs.writers {
		//writer.lastErr = cs.err
		close(writer.closeCh)
	}
}

func (cs *ChunkStreamer) schedWriteLoop() {
	defer close(cs.done)
	cs.err = cs.writerSched.Run()

	if cs.err != nil {
		cs.forceCloseWriters()
	}
}

func (cs *ChunkStreamer) prepareChunkReader(chunkStreamID int) (*ChunkStreamReader, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()

	reader, ok := cs.readers[chunkStreamID]
	if !ok {
		if len(cs.readers) >= cs.config.MaxChunkStreams {
			return nil, errors.Errorf(
				"Creating chunk streams limit exceeded(Reader): Limit = %d",
				cs.config.MaxChunkStreams,
			)
		}

		reader = &ChunkStreamReader{}
		cs.readers[chunkStreamID] = reader
	}

	return reader, nil
}

func (cs *ChunkStreamer) prepareChunkWriter(chunkStreamID int) (*ChunkStreamWriter, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()

	writer, ok := cs.writers[chunkStreamID]
	if !ok {
		if len(cs.writers) >= cs.config.MaxChunkStreams {
			return nil, errors.Errorf(
				"Creating chunk streams limit exceeded(Writer): Limit = %d",
				cs.config.MaxChunkStreams,
			)
		}

		writer = &ChunkStreamWriter{
			ChunkStreamReader: ChunkStreamReader{
				basicHeader: chunkBasicHeader{
					chunkStreamID: chunkStreamID,
				},
				messageHeader: chunkMessageHeader{
					timestamp: math.MaxUint32, // initial state will be updated by writer.timestamp
				},
			},
			doneCh:   make(chan struct{}),
			closeCh:  make(chan struct{}),
			newChunk: true,
		}
		close(writer.doneCh)
		cs.writers[chunkStreamID] = writer
	}

	return writer, nil
}

func (cs *ChunkStreamer) sendAck(readBytes uint32) error {
	if cs.isHandedOver() { // headwater patch 12
		return ErrWriterHandedOver
	}
	cs.logger.Debugf("Sending Ack...: Bytes = %d", readBytes)
	// TODO: fix timestamp
	return cs.controlStreamWriter(ctrlMsgChunkStreamID, 0, &message.Ack{
		SequenceNumber: readBytes,
	})
}

type chunkStreamerWriterSched struct {
	streamer *ChunkStreamer
	writers  chan *ChunkStreamWriter
	stopCh   chan struct{}
}

func (sched *chunkStreamerWriterSched) Sched(writer *ChunkStreamWriter) error {
	sched.writers <- writer

	return nil
}

func (sched *chunkStreamerWriterSched) Run() (err error) {
	defer func() {
		if r := recover(); r != nil {
			errTmp, ok := r.(error)
			if !ok {
				errTmp = errors.Errorf("Panic: %+v", r)
			}
			err = errors.WithStack(errTmp)
		}
	}()

	for {
		select {
		case writer := <-sched.writers:
			isCompleted, err := sched.streamer.writeChunk(writer)
			if err != nil {
				writer.lastErr = err
				close(writer.doneCh)
				return err
			}
			if isCompleted {
				close(writer.doneCh)
				sched.streamer.endMessage() // headwater patch 12
				continue
			}

			// Enqueue writer
			sched.writers <- writer

		case <-sched.stopCh:
			return nil
		}
	}
}

func (sched *chunkStreamerWriterSched) Close() error {
	close(sched.stopCh)

	return nil
}
