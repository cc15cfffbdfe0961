//
// Copyright (c) 2018- yutopp (yutopp@gmail.com)
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at  https://www.boost.org/LICENSE_1_0.txt)
//

package rtmp

import (
	"bytes"
	"errors"
	"io"
	"io/ioutil"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/fortytw2/leaktest"
	"github.com/sirupsen/logrus"
	logrustest "github.com/sirupsen/logrus/hooks/test"
	"github.com/stretchr/testify/require"

	"github.com/yutopp/go-rtmp/message"
)

// serveOneConn Accepts one connection on a loopback listener and serves it by ServeConn.
func serveOneConn(t *testing.T, config *ConnConfig) (string, <-chan error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)

	srv := NewServer(&ServerConfig{
		OnConnect: func(conn net.Conn) (io.ReadWriteCloser, *ConnConfig) {
			return conn, config
		},
	})

	errCh := make(chan error, 1)
	go func() {
		conn, err := l.Accept()
		_ = l.Close()
		if err != nil {
			errCh <- err
			return
		}
		errCh <- srv.ServeConn(conn)
	}()

	return l.Addr().String(), errCh
}

func waitServeConn(t *testing.T, errCh <-chan error) error {
	select {
	case err := <-errCh:
		return err
	case <-time.After(10 * time.Second):
		require.FailNow(t, "ServeConn did not return")
		return nil
	}
}

// waitOnStatus Waits for an onStatus received by a client and returns its log message.
// A client does not decode onStatus. It is logged as an unknown command.
func waitOnStatus(t *testing.T, hook *logrustest.Hook) string {
	findOnStatus := func() string {
		for _, entry := range hook.AllEntries() {
			if strings.Contains(entry.Message, "Name = onStatus") {
				return entry.Message
			}
		}
		return ""
	}
	require.Eventually(t, func() bool {
		return findOnStatus() != ""
	}, 5*time.Second, 10*time.Millisecond)

	return findOnStatus()
}

type serveConnHandler struct {
	DefaultHandler
	servedCh chan *Conn
}

func (h *serveConnHandler) OnServe(conn *Conn) {
	h.servedCh <- conn
}

func TestServeConnHandshakeError(t *testing.T) {
	defer leaktest.Check(t)()

	srv := NewServer(&ServerConfig{
		OnConnect: func(conn net.Conn) (io.ReadWriteCloser, *ConnConfig) {
			return conn, &ConnConfig{}
		},
	})

	t.Run("Garbage", func(t *testing.T) {
		serverConn, clientConn := net.Pipe()
		defer clientConn.Close()

		go func() {
			_, _ = io.Copy(ioutil.Discard, clientConn)
		}()
		go func() {
			// C0, C1 and C2 whose random echo is not matched
			_, _ = clientConn.Write(bytes.Repeat([]byte{0xab}, 1+1536+1536))
		}()

		err := srv.ServeConn(serverConn)
		require.Error(t, err)
		require.True(t, errors.Is(err, ErrHandshake), "Unexpected error: %+v", err)

		// The connection is closed
		_, err = clientConn.Write([]byte{0x00})
		require.Equal(t, io.ErrClosedPipe, err)
	})

	t.Run("Closed by peer", func(t *testing.T) {
		serverConn, clientConn := net.Pipe()
		require.NoError(t, clientConn.Close())

		err := srv.ServeConn(serverConn)
		require.Error(t, err)
		require.True(t, errors.Is(err, ErrHandshake), "Unexpected error: %+v", err)
	})
}

func TestServeConnCleanClose(t *testing.T) {
	defer leaktest.Check(t)()

	handler := &serveConnHandler{
		servedCh: make(chan *Conn, 1),
	}
	addr, errCh := serveOneConn(t, &ConnConfig{
		Handler: handler,
	})

	c, err := Dial("rtmp", addr, nil)
	require.NoError(t, err)

	err = c.Connect(nil)
	require.NoError(t, err)

	err = c.Close()
	require.NoError(t, err)

	err = waitServeConn(t, errCh)
	require.NoError(t, err)

	// The writer goroutine has exited when ServeConn returns
	conn := <-handler.servedCh
	select {
	case <-conn.GetChunkStreamer().Done():
	default:
		require.FailNow(t, "Writer loop is still running")
	}
}

type publishStatusErrorHandler struct {
	DefaultHandler
}

func (h *publishStatusErrorHandler) OnPublish(_ *StreamContext, _ uint32, _ *message.NetStreamPublish) error {
	return &StatusError{
		Code:        message.NetStreamOnStatusCodePublishBadName,
		Description: "Stream key is invalid.",
	}
}

func (h *publishStatusErrorHandler) OnPlay(_ *StreamContext, _ uint32, _ *message.NetStreamPlay) error {
	return &StatusError{
		Code:        "NetStream.Play.StreamNotFound",
		Description: "Stream is not found.",
		Err:         io.ErrUnexpectedEOF,
	}
}

// testPlayArgs Arguments of a "play" command (message.NetStreamPlay cannot be encoded)
type testPlayArgs struct {
	streamName string
}

func (a *testPlayArgs) FromArgs(args ...interface{}) error {
	panic("Not implemented")
}

func (a *testPlayArgs) ToArgs(ty message.EncodingType) ([]interface{}, error) {
	return []interface{}{nil, a.streamName}, nil
}

func TestServerStatusError(t *testing.T) {
	type testCase struct {
		name        string
		request     func(s *Stream) error
		code        string
		description string
		cause       error
	}
	tcs := []testCase{
		{
			name: "Publish",
			request: func(s *Stream) error {
				return s.Publish(&message.NetStreamPublish{
					PublishingName: "invalid",
					PublishingType: "live",
				})
			},
			code:        "NetStream.Publish.BadName",
			description: "Stream key is invalid.",
		},
		{
			name: "Play",
			request: func(s *Stream) error {
				return s.writeCommandMessage(3, 0, "play", 0, &testPlayArgs{streamName: "unknown"})
			},
			code:        "NetStream.Play.StreamNotFound",
			description: "Stream is not found.",
			cause:       io.ErrUnexpectedEOF,
		},
	}

	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			defer leaktest.Check(t)()

			addr, errCh := serveOneConn(t, &ConnConfig{
				Handler: &publishStatusErrorHandler{},
			})

			logger, hook := logrustest.NewNullLogger()
			logger.SetLevel(logrus.DebugLevel)

			c, err := Dial("rtmp", addr, &ConnConfig{
				Logger: logger,
			})
			require.NoError(t, err)
			defer c.Close()

			err = c.Connect(nil)
			require.NoError(t, err)

			s, err := c.CreateStream(nil, chunkSize)
			require.NoError(t, err)

			err = tc.request(s)
			require.NoError(t, err)

			// The server closes the connection with an error of the handler
			err = waitServeConn(t, errCh)
			var statusErr *StatusError
			require.True(t, errors.As(err, &statusErr), "Unexpected error: %+v", err)
			require.Equal(t, message.NetStreamOnStatusCode(tc.code), statusErr.Code)
			if tc.cause != nil {
				require.True(t, errors.Is(err, tc.cause))
			}

			onStatus := waitOnStatus(t, hook)
			require.Contains(t, onStatus, "code:"+tc.code)
			require.Contains(t, onStatus, "description:"+tc.description)
			require.Contains(t, onStatus, "level:error")
		})
	}
}

type payloadLenHandler struct {
	DefaultHandler
	lenCh     chan int
	payloadCh chan []byte
}

func (h *payloadLenHandler) OnVideo(_ uint32, payload io.Reader) error {
	l, ok := payload.(interface{ Len() int })
	if !ok {
		return errors.New("Payload does not have Len()")
	}
	n := l.Len()

	buf := make([]byte, n)
	if _, err := io.ReadFull(payload, buf); err != nil {
		return err
	}
	if l.Len() != 0 {
		return errors.New("Payload remains")
	}

	h.lenCh <- n
	h.payloadCh <- buf

	return nil
}

func TestChunkStreamReaderLenInHandler(t *testing.T) {
	defer leaktest.Check(t)()

	handler := &payloadLenHandler{
		lenCh:     make(chan int, 1),
		payloadCh: make(chan []byte, 1),
	}
	addr, errCh := serveOneConn(t, &ConnConfig{
		Handler: handler,
	})

	logger, hook := logrustest.NewNullLogger()
	c, err := Dial("rtmp", addr, &ConnConfig{
		Logger: logger,
	})
	require.NoError(t, err)

	err = c.Connect(nil)
	require.NoError(t, err)

	s, err := c.CreateStream(nil, chunkSize)
	require.NoError(t, err)

	err = s.Publish(&message.NetStreamPublish{
		PublishingName: "test",
		PublishingType: "live",
	})
	require.NoError(t, err)

	videoContent := testPayload(1000, 0) // Larger than a chunk size
	err = s.Write(6, 0, &message.VideoMessage{
		Payload: bytes.NewReader(videoContent),
	})
	require.NoError(t, err)

	select {
	case n := <-handler.lenCh:
		require.Equal(t, len(videoContent), n)
		require.Equal(t, videoContent, <-handler.payloadCh)
	case err := <-errCh:
		require.FailNow(t, "ServeConn returned", "Err = %+v", err)
	case <-time.After(10 * time.Second):
		require.FailNow(t, "OnVideo was not called")
	}

	// Close after receiving all messages from the server not to reset the connection
	require.Contains(t, waitOnStatus(t, hook), "code:NetStream.Publish.Start")

	err = c.Close()
	require.NoError(t, err)

	err = waitServeConn(t, errCh)
	require.NoError(t, err)
}
