package apf

import "encoding/binary"

// MsgType is the first byte of every APF message.
type MsgType byte

// APF message types (the numbers MPS's APFProcessor uses).
const (
	MsgDisconnect              MsgType = 1
	MsgServiceRequest          MsgType = 5
	MsgServiceAccept           MsgType = 6
	MsgUserAuthRequest         MsgType = 50
	MsgUserAuthFailure         MsgType = 51
	MsgUserAuthSuccess         MsgType = 52
	MsgGlobalRequest           MsgType = 80
	MsgRequestSuccess          MsgType = 81
	MsgRequestFailure          MsgType = 82
	MsgChannelOpen             MsgType = 90
	MsgChannelOpenConfirmation MsgType = 91
	MsgChannelOpenFailure      MsgType = 92
	MsgWindowAdjust            MsgType = 93
	MsgChannelData             MsgType = 94
	MsgChannelClose            MsgType = 97
	MsgProtocolVersion         MsgType = 192
	MsgKeepAliveRequest        MsgType = 208
	MsgKeepAliveReply          MsgType = 209
	MsgKeepAliveOptionsRequest MsgType = 210
	MsgKeepAliveOptionsReply   MsgType = 211
)

// Well-known strings of the protocol.
const (
	ServiceAuth        = "auth@amt.intel.com"
	ServicePortForward = "pfwd@amt.intel.com"
	MethodPassword     = "password"
	TCPIPForward       = "tcpip-forward"
	CancelTCPIPForward = "cancel-tcpip-forward"
	ForwardedTCPIP     = "forwarded-tcpip"
)

// Disconnect reason codes (SSH's, as MPS names them).
const (
	DisconnectProtocolError      uint32 = 2
	DisconnectByApplication      uint32 = 11
	DisconnectInvalidCredentials uint32 = 15
)

// CHANNEL_OPEN_FAILURE reason codes.
const (
	OpenAdministrativelyProhibited uint32 = 1
	OpenConnectFailed              uint32 = 2
	OpenUnknownChannelType         uint32 = 3
	OpenResourceShortage           uint32 = 4
)

// Message is one APF message. Marshal appends its wire form (type byte included) to b.
type Message interface {
	Type() MsgType
	Marshal(b []byte) []byte
}

func appendU32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }

func appendStr(b []byte, s string) []byte {
	b = appendU32(b, uint32(len(s)))
	return append(b, s...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}
