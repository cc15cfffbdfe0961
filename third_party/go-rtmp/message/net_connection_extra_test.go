//
// Copyright (c) 2018- yutopp (yutopp@gmail.com)
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at  https://www.boost.org/LICENSE_1_0.txt)
//

package message

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/yutopp/go-amf0"
)

// TestConnectResultInformationExtra: the extra properties follow the four
// standard ones in key order, every time (headwater patch 13), cannot
// replace them, and decode back into InformationExtra.
func TestConnectResultInformationExtra(t *testing.T) {
	result := &NetConnectionConnectResult{
		Properties: NetConnectionConnectResultProperties{FMSVer: "FMS/3,0,1,123", Capabilities: 31, Mode: 1},
		Information: NetConnectionConnectResultInformation{
			Level: "status", Code: NetConnectionConnectCodeSuccess, Description: "Connection succeeded.",
			Data: amf0.ECMAArray{"version": "1"},
		},
		InformationExtra: map[string]interface{}{
			"fourCcList": []interface{}{"hvc1", "av01"},
			"capsEx":     4,
			"level":      "error",
			"absent":     nil,
			`odd "key"`:  true,
		},
	}
	encode := func() []byte {
		var buf bytes.Buffer
		require.NoError(t, EncodeBodyAnyValues(NewAMFEncoder(&buf, EncodingTypeAMF0), result))
		return buf.Bytes()
	}
	b := encode()
	for i := 0; i < 20; i++ {
		require.Equal(t, b, encode(), "the same bytes every time")
	}
	var last int
	for _, key := range []string{"level", "code", "description", "data", "absent", "capsEx", "fourCcList", `odd "key"`} {
		i := bytes.Index(b, append([]byte{0, byte(len(key))}, key...))
		require.Greater(t, i, last, "%s comes after the previous key", key)
		last = i
	}
	require.Equal(t, 1, bytes.Count(b, []byte("\x00\x05level")), "level is not written twice")

	dec := NewAMFDecoder(bytes.NewReader(b), EncodingTypeAMF0)
	var v AMFConvertible
	require.NoError(t, DecodeBodyConnectResult(nil, dec, &v))
	got := v.(*NetConnectionConnectResult)
	require.Equal(t, result.Information, got.Information)
	require.Equal(t, map[string]interface{}{
		"fourCcList": []interface{}{"hvc1", "av01"},
		"capsEx":     4.0,
		"absent":     nil,
		`odd "key"`:  true,
	}, got.InformationExtra)

	// Without extras: the information struct as before, nothing extra decoded.
	result.InformationExtra = nil
	b = encode()
	dec = NewAMFDecoder(bytes.NewReader(b), EncodingTypeAMF0)
	require.NoError(t, DecodeBodyConnectResult(nil, dec, &v))
	require.Nil(t, v.(*NetConnectionConnectResult).InformationExtra)
}
