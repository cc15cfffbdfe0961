package rtmp

import (
	rtmpmsg "github.com/yutopp/go-rtmp/message"
)

// Enhanced RTMP (E-RTMP v1/v2): what the connect _result tells a client
// about the codecs headwater carries. headwater decodes none of them; it
// forwards every one of these to HTTP-FLV and RTMP players, with keyframe
// detection, GOP cache and sequence headers for late joiners.
var (
	// ERTMPVideoFourCCs are the video FourCCs headwater forwards.
	ERTMPVideoFourCCs = []string{"avc1", "hvc1", "av01", "vp09", "vp08"}
	// ERTMPAudioFourCCs are the audio FourCCs headwater forwards.
	ERTMPAudioFourCCs = []string{"mp4a", "Opus", "fLaC", "ac-3", "ec-3", ".mp3"}
)

// E-RTMP v2 capability flags.
const (
	// fourCCCanForward is FourCcInfoMask.CanForward.
	fourCCCanForward = 0x04
	// capsExModEx is CapsExMask.ModEx: ModEx packets are parsed (and
	// forwarded as they are). Multitrack (0x02) is not claimed: a stream
	// keeps one video and one audio sequence header for late joiners, not
	// one per track. Reconnect (0x01) is not implemented.
	capsExModEx = 0x04
)

// OnConnectResult adds E-RTMP's properties to the information object of
// the connect _result (go-rtmp patch 13): fourCcList (v1) and, for v2,
// videoFourCcInfoMap, audioFourCcInfoMap and capsEx.
func (h *handler) OnConnectResult(_ uint32, _ *rtmpmsg.NetConnectionConnect, result *rtmpmsg.NetConnectionConnectResult) {
	result.InformationExtra = ertmpCapabilities()
}

// ertmpCapabilities builds the E-RTMP properties, fresh for each reply.
func ertmpCapabilities() map[string]any {
	video := make(map[string]any, len(ERTMPVideoFourCCs))
	audio := make(map[string]any, len(ERTMPAudioFourCCs))
	list := make([]any, 0, len(ERTMPVideoFourCCs)+len(ERTMPAudioFourCCs))
	for _, f := range ERTMPVideoFourCCs {
		video[f] = fourCCCanForward
		list = append(list, f)
	}
	for _, f := range ERTMPAudioFourCCs {
		audio[f] = fourCCCanForward
		list = append(list, f)
	}
	return map[string]any{
		"fourCcList":         list,
		"videoFourCcInfoMap": video,
		"audioFourCcInfoMap": audio,
		"capsEx":             capsExModEx,
	}
}
