//
// Copyright (c) 2018- yutopp (yutopp@gmail.com)
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at  https://www.boost.org/LICENSE_1_0.txt)
//

package rtmp

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"io/ioutil"
	"sync"

	"github.com/hashicorp/go-multierror"
	"github.com/pkg/errors"
	"github.com/sirupsen/logrus"

	"github.com/yutopp/go-rtmp/message"
)

type Conn struct {
	// clientDone is closed when a client connection's message loop has
	// ended; nil on server connections. Client calls waiting for a reply
	// give up then instead of waiting forever. (headwater patch 10)
	clientDone chan struct{}

	rwc      io.ReadWriteCloser
	bufr     *bufio.Reader
	bufw     *bufio.Writer
	streamer *ChunkStreamer
	streams  *streams
	handler  Handler

	config *ConnConfig
	logger logrus.FieldLogger

	ignoredMessages uint32

	m        sync.Mutex
	isClosed bool
}

type ConnConfig struct {
	Handler                   Handler
	SkipHandshakeVerification bool

	IgnoreMessagesOnNotExistStream          bool
	IgnoreMessagesOnNotExistStreamThreshold uint32

	ReaderBufferSize int
	WriterBufferSize int

	ControlState StreamControlStateConfig

	Logger  logrus.FieldLogger
	RPreset ResponsePreset
}

func (cb *ConnConfig) normalize() *ConnConfig {
	c := ConnConfig(*cb)

	if c.Handler == nil {
		c.Handler = &DefaultHandler{}
	}

	if c.ReaderBufferSize == 0 {
		c.ReaderBufferSize = 4 * 1024 // 4KB (Default)
	}

	if c.WriterBufferSize == 0 {
		c.WriterBufferSize = 4 * 1024 // 4KB (Default)
	}

	c.ControlState = *c.ControlState.normalize()

	if c.Logger == nil {
		l := logrus.New()
		l.Out = ioutil.Discard

		c.Logger = l
	}

	return &c
}

func newConn(rwc io.ReadWriteCloser, config *ConnConfig) *Conn {
	if config == nil {
		config = &ConnConfig{}
	}
	config = config.normalize()

	conn := &Conn{
		rwc:     rwc,
		bufr:    bufio.NewReaderSize(rwc, config.ReaderBufferSize),
		bufw:    bufio.NewWriterSize(rwc, config.WriterBufferSize),
		handler: config.Handler,

		config: config,
		logger: config.Logger,
	}

	conn.streamer = NewChunkStreamer(conn.bufr, conn.bufw, &conn.config.ControlState)
	conn.streamer.logger = conn.logger

	conn.streams = newStreams(conn)

	return conn
}

func (c *Conn) GetChunkStreamer() *ChunkStreamer {
	return c.streamer
}

func (c *Conn) Close() error {
	c.m.Lock()
	defer c.m.Unlock()

	if c.isClosed {
		return nil
	}
	c.isClosed = true

	if c.handler != nil {
		c.handler.OnClose()
	}

	var result error
	if c.streamer != nil {
		c.streamer.waitWriters()
		if err := c.streamer.Close(); err != nil {
			result = multierror.Append(result, err)
		}
	}

	if err := c.rwc.Close(); err != nil {
		result = multierror.Append(result, err)
	}

	return result
}

func (c *Conn) Write(ctx context.Context, chunkStreamID int, timestamp uint32, cmsg *ChunkMessage) error {
	return c.streamer.Write(ctx, chunkStreamID, timestamp, cmsg)
}

func (c *Conn) handleMessageLoop() (err error) {
	defer func() {
		if r := recover(); r != nil {
			errTmp, ok := r.(error)
			if !ok {
				errTmp = errors.Errorf("Panic: %+v", r)
			}
			err = errors.WithStack(errTmp)
		}
	}()

	return c.runHandleMessageLoop()
}

func (c *Conn) runHandleMessageLoop() error {
	var cmsg ChunkMessage
	for {
		select {
		case <-c.streamer.Done():
			return c.streamer.Err()

		default:
			chunkStreamID, timestamp, err := c.streamer.Read(&cmsg)
			if err != nil {
				return err
			}

			if err := c.handleMessage(chunkStreamID, timestamp, &cmsg); err != nil {
				return err // Shutdown the connection
			}
		}
	}
}

func (c *Conn) handleMessage(chunkStreamID int, timestamp uint32, cmsg *ChunkMessage) error {
	if msg, ok := cmsg.Message.(*message.UnknownMessage); ok {
		// A message of a type go-rtmp does not decode is the application's,
		// on whatever message stream it comes. (headwater patch 11)
		if c.handler == nil {
			return nil
		}
		return c.handler.OnUnknownMessage(timestamp, msg)
	}

	stream, err := c.streams.At(cmsg.StreamID)
	if err != nil {
		if c.config.IgnoreMessagesOnNotExistStream {
			c.logger.Warnf("Messages are received on not exist streams: StreamID = %d, MessageType = %T",
				cmsg.StreamID,
				cmsg.Message,
			)

			if c.ignoredMessages < c.config.IgnoreMessagesOnNotExistStreamThreshold {
				c.ignoredMessages++
				return nil
			}
		}

		return errors.Errorf("Specified stream is not created yet: StreamID = %d", cmsg.StreamID)
	}

	if msg, ok := cmsg.Message.(*message.AggregateMessage); ok {
		return c.handleAggregateMessage(chunkStreamID, timestamp, cmsg.StreamID, msg)
	}

	if err := stream.handle(chunkStreamID, timestamp, cmsg.Message); err != nil {
		// Unknown commands and data go to the handler, without a warning
		// per message: a peer could send them by the thousand. (headwater
		// patch 11)
		switch e := err.(type) {
		case *message.UnknownCommandBodyDecodeError:
			if c.clientDone != nil {
				// The client does not decode onStatus: callers (headwater's
				// hwbench, TestServerStatusError) read it from this line.
				c.logger.Warnf("Ignored unknown message body: Err = %+v", e)
			}
			if c.handler == nil {
				return nil
			}
			return c.handler.OnUnknownCommandMessage(timestamp, &message.CommandMessage{
				CommandName:   e.Name,
				TransactionID: e.TransactionID,
				Encoding:      message.EncodingTypeAMF0,
				Body:          bytes.NewReader(nil), // consumed by the body decoder
			})

		case *message.UnknownDataBodyDecodeError:
			// handleData passes unknown data messages on itself; this is for
			// a body decoder that still returns the error.
			if c.handler == nil {
				return nil
			}
			return c.handler.OnUnknownDataMessage(timestamp, &message.DataMessage{
				Name:     e.Name,
				Encoding: message.EncodingTypeAMF0,
				Body:     bytes.NewReader(nil),
			})
		}
		return err
	}

	return nil
}

// aggregateSubHeaderSize is the size of a sub-message header in an aggregate
// message: type (1), payload size (3), timestamp (3 + 1 extension byte),
// stream ID (3), as an FLV tag header.
const aggregateSubHeaderSize = 11

// handleAggregateMessage splits an aggregate message (type 22) into its
// sub-messages and handles each as if it had arrived on its own, on the
// aggregate's message stream. Sub-message timestamps are the aggregate's
// plus their offset from the first sub-message's (as FMS and ffmpeg do).
// A sub-message whose size runs past the end is an error that wraps
// ErrMalformedAggregate; bytes too short for a sub-message header, and a
// missing back pointer after the last sub-message, are ignored. A nested
// aggregate goes to OnUnknownMessage. (headwater patch 11)
func (c *Conn) handleAggregateMessage(chunkStreamID int, timestamp uint32, streamID uint32, msg *message.AggregateMessage) error {
	// A decoder of its own: the streamer's decoder reuses its media
	// messages (patch 8), and the aggregate's own reader is drained.
	var payload bytes.Reader
	dec := message.NewDecoder(&payload)
	sub := ChunkMessage{StreamID: streamID}

	data := msg.Data
	var firstTimestamp uint32
	for i := 0; len(data) >= aggregateSubHeaderSize; i++ {
		typeID := message.TypeID(data[0])
		size := int(data[1])<<16 | int(data[2])<<8 | int(data[3])
		subTimestamp := uint32(data[7])<<24 | uint32(data[4])<<16 | uint32(data[5])<<8 | uint32(data[6])
		// data[8:11] is the stream ID: ignored, the aggregate's is used
		data = data[aggregateSubHeaderSize:]

		if size > len(data) {
			return errors.Wrapf(
				ErrMalformedAggregate,
				"Sub-message %d: Type = %d, Size = %d, Remaining = %d",
				i,
				typeID,
				size,
				len(data),
			)
		}
		payload.Reset(data[:size])
		data = data[size:]

		// The back pointer (previous tag size) is not checked; after the
		// last sub-message it may be missing.
		if len(data) >= 4 {
			data = data[4:]
		} else {
			data = nil
		}

		if i == 0 {
			firstTimestamp = subTimestamp
		}
		subTs := timestamp + (subTimestamp - firstTimestamp) // uint32 wrapping arithmetic

		if typeID == message.TypeIDAggregateMessage {
			sub.Message = &message.UnknownMessage{
				Type:    typeID,
				Payload: &payload,
			}
		} else if err := dec.Decode(typeID, &sub.Message); err != nil {
			return err
		}

		if err := c.handleMessage(chunkStreamID, subTs, &sub); err != nil {
			return err
		}
	}

	return nil
}
