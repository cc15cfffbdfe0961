//
// Copyright (c) 2018- yutopp (yutopp@gmail.com)
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at  https://www.boost.org/LICENSE_1_0.txt)
//

package rtmp

import (
	"fmt"

	"github.com/pkg/errors"

	"github.com/yutopp/go-rtmp/message"
)

var ErrClosed = errors.New("Server is closed")

// ErrHandshake is matched (by errors.Is) by errors caused by a failure of the handshake.
var ErrHandshake = errors.New("Failed to handshake")

// ErrMessageTooLarge is returned when a peer announces a message larger than StreamControlStateConfig.MaxMessageSize.
var ErrMessageTooLarge = errors.New("Message is too large")

// ErrPartialBytesLimit is returned when a total length of incomplete messages exceeds StreamControlStateConfig.MaxPartialBytes.
var ErrPartialBytesLimit = errors.New("Partial messages limit exceeded")

// ErrMalformedAggregate is wrapped by the error returned when a sub-message of an aggregate message runs past its end.
// (headwater patch 11)
var ErrMalformedAggregate = errors.New("Malformed aggregate message")

// ErrWriterHandedOver is returned by every write through go-rtmp (ChunkStreamer.Write, Sched,
// NewChunkWriter, acks, replies through Stream) once ChunkStreamer.HandOver has succeeded.
// (headwater patch 12)
var ErrWriterHandedOver = errors.New("Writer is handed over to the application")

type handshakeError struct {
	err error
}

func (err *handshakeError) Error() string {
	return fmt.Sprintf("Failed to handshake: %v", err.err)
}

func (err *handshakeError) Unwrap() error {
	return err.err
}

func (err *handshakeError) Is(target error) bool {
	return target == ErrHandshake
}

// StatusError is returned by Handler.OnPublish / OnPlay to choose the onStatus code sent to the peer.
type StatusError struct {
	Code        message.NetStreamOnStatusCode
	Description string
	Err         error
}

func (err *StatusError) Error() string {
	if err.Err == nil {
		return fmt.Sprintf("Status error: Code = %s, Description = %s", err.Code, err.Description)
	}
	return fmt.Sprintf(
		"Status error: Code = %s, Description = %s, Err = %v",
		err.Code,
		err.Description,
		err.Err,
	)
}

func (err *StatusError) Unwrap() error {
	return err.Err
}

type ConnectRejectedError struct {
	TransactionID int64
	Result        *message.NetConnectionConnectResult
}

func (err *ConnectRejectedError) Error() string {
	return fmt.Sprintf(
		"Connect is rejected: TransactionID = %d, Result = %#v",
		err.TransactionID,
		err.Result,
	)
}

type CreateStreamRejectedError struct {
	TransactionID int64
	Result        *message.NetConnectionCreateStreamResult
}

func (err *CreateStreamRejectedError) Error() string {
	return fmt.Sprintf(
		"CreateStream is rejected: TransactionID = %d, Result = %#v",
		err.TransactionID,
		err.Result,
	)
}
