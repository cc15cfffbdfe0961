package rtmp

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	gortmp "github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/handshake"
	rtmpmsg "github.com/yutopp/go-rtmp/message"

	"github.com/headwater-media/headwater/internal/rtmptest"
)

// TestConnectResultAdvertisesEnhancedRTMP: a client's connect gets a
// _result whose information object states the E-RTMP FourCCs headwater
// forwards (fourCcList, v1) and, for v2, the info maps and capsEx.
func TestConnectResultAdvertisesEnhancedRTMP(t *testing.T) {
	ps := startPlayServer(t)
	addr := ps.url[len("rtmp://") : len(ps.url)-len("/live/s")]
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	require.NoError(t, handshake.HandshakeWithServer(c, c, &handshake.Config{}))
	ch := rtmptest.NewChunker()
	ch.Msg(3, rtmptest.TypeCommand, 0, 0, rtmptest.Command("connect", 1, &rtmpmsg.NetConnectionConnect{
		Command: rtmpmsg.NetConnectionConnectCommand{App: "live", TCURL: "rtmp://x/live"},
	}))
	_, err = c.Write(ch.B)
	require.NoError(t, err)

	cs := gortmp.NewChunkStreamer(c, io.Discard, nil)
	defer cs.Close()
	for {
		var cm gortmp.ChunkMessage
		_, _, err := cs.Read(&cm)
		require.NoError(t, err)
		switch m := cm.Message.(type) {
		case *rtmpmsg.SetChunkSize:
			require.NoError(t, cs.PeerState().SetChunkSize(m.ChunkSize))
		case *rtmpmsg.CommandMessage:
			require.Equal(t, "_result", m.CommandName)
			body, err := io.ReadAll(m.Body)
			require.NoError(t, err)
			var v rtmpmsg.AMFConvertible
			require.NoError(t, rtmpmsg.DecodeBodyConnectResult(nil, rtmpmsg.NewAMFDecoder(bytes.NewReader(body), m.Encoding), &v))
			res := v.(*rtmpmsg.NetConnectionConnectResult)
			require.Equal(t, rtmpmsg.NetConnectionConnectCodeSuccess, res.Information.Code)
			extra := res.InformationExtra
			require.Equal(t, []any{"avc1", "hvc1", "av01", "vp09", "vp08", "mp4a", "Opus", "fLaC", "ac-3", "ec-3", ".mp3"}, extra["fourCcList"])
			require.Equal(t, map[string]any{"avc1": 4.0, "hvc1": 4.0, "av01": 4.0, "vp09": 4.0, "vp08": 4.0}, extra["videoFourCcInfoMap"])
			require.Equal(t, map[string]any{"mp4a": 4.0, "Opus": 4.0, "fLaC": 4.0, "ac-3": 4.0, "ec-3": 4.0, ".mp3": 4.0}, extra["audioFourCcInfoMap"])
			require.Equal(t, 4.0, extra["capsEx"], "ModEx")
			return
		}
	}
}
