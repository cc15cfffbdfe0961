//
// Copyright (c) 2018- yutopp (yutopp@gmail.com)
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at  https://www.boost.org/LICENSE_1_0.txt)
//

package rtmp

import (
	"errors"
	"sync"
	"testing"

	"github.com/fortytw2/leaktest"
	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/require"
	"github.com/yutopp/go-amf0"

	"github.com/yutopp/go-rtmp/message"
)

// connectResultHandler adds enhanced RTMP properties to the connect
// _result and records what it was called with (headwater patch 13).
type connectResultHandler struct {
	DefaultHandler
	refuse bool

	mu    sync.Mutex
	calls int
	app   string
}

func (h *connectResultHandler) OnConnect(_ uint32, _ *message.NetConnectionConnect) error {
	if h.refuse {
		return errors.New("refused")
	}
	return nil
}

func (h *connectResultHandler) OnConnectResult(_ uint32, cmd *message.NetConnectionConnect, result *message.NetConnectionConnectResult) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls++
	h.app = cmd.Command.App
	result.InformationExtra = map[string]interface{}{
		"fourCcList":         []interface{}{"av01", "hvc1", "Opus"},
		"videoFourCcInfoMap": map[string]interface{}{"av01": 4, "hvc1": 4},
		"capsEx":             4,
		"code":               "not replaced",
	}
}

func TestConnectResultHandlerAddsInformationProperties(t *testing.T) {
	defer leaktest.Check(t)()
	h := &connectResultHandler{}
	prepareConnection(t, &ConnConfig{Handler: h, Logger: logrus.StandardLogger()}, func(c *ClientConn) {
		s, err := c.conn.streams.At(ControlStreamID)
		require.NoError(t, err)
		result, err := s.Connect(&message.NetConnectionConnect{Command: message.NetConnectionConnectCommand{App: "live"}})
		require.NoError(t, err)
		require.Equal(t, message.NetConnectionConnectResultInformation{
			Level:       "status",
			Code:        message.NetConnectionConnectCodeSuccess,
			Description: "Connection succeeded.",
			Data:        amf0.ECMAArray{"type": "go-rtmp", "version": "master"},
		}, result.Information, "the standard properties are untouched")
		require.Equal(t, map[string]interface{}{
			"fourCcList":         []interface{}{"av01", "hvc1", "Opus"},
			"videoFourCcInfoMap": map[string]interface{}{"av01": 4.0, "hvc1": 4.0},
			"capsEx":             4.0,
		}, result.InformationExtra)
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	require.Equal(t, 1, h.calls)
	require.Equal(t, "live", h.app, "the handler sees the client's connect command")
}

func TestConnectResultHandlerIsNotCalledOnRefusal(t *testing.T) {
	defer leaktest.Check(t)()
	h := &connectResultHandler{refuse: true}
	prepareConnection(t, &ConnConfig{Handler: h, Logger: logrus.StandardLogger()}, func(c *ClientConn) {
		s, err := c.conn.streams.At(ControlStreamID)
		require.NoError(t, err)
		_, err = s.Connect(nil)
		var rejected *ConnectRejectedError
		require.ErrorAs(t, err, &rejected)
		require.Nil(t, rejected.Result.InformationExtra)
		require.Equal(t, message.NetConnectionConnectCodeFailed, rejected.Result.Information.Code)
	})
	// The server writes its reply after any call to the handler: the
	// client has the reply, so a call would have happened by now.
	h.mu.Lock()
	defer h.mu.Unlock()
	require.Zero(t, h.calls)
}
