package apf

import "encoding/binary"

// ProtocolVersion is the device's first message: 0xC0, u32 major, u32 minor, u32 trigger,
// the system UUID in GUID byte order, 64 reserved bytes (93 bytes). MPS never sends one.
type ProtocolVersion struct {
	Major, Minor uint32
	// Trigger is why the device connected; the reference CIRA clients send 0.
	Trigger  uint32
	GUID     GUID
	Reserved [64]byte
}

// ServiceRequest asks for a service: auth@amt.intel.com, then pfwd@amt.intel.com.
type ServiceRequest struct{ Service string }

// ServiceAccept grants a ServiceRequest, naming the same service.
type ServiceAccept struct{ Service string }

// UserAuthRequest is a password login: 50, str user, str service, str "password", u8 0,
// str password. Only the password method exists in APF; the boolean (SSH's "change
// password") is always 0.
type UserAuthRequest struct {
	User, Service, Password string
}

// UserAuthFailure rejects a login: 51, str methods ("password"), then two bytes MPS sends as
// zero (SSH has one boolean there; MPS writes a u16).
type UserAuthFailure struct {
	Methods  string
	Reserved uint16
}

// UserAuthSuccess accepts a login.
type UserAuthSuccess struct{}

// GlobalRequest is tcpip-forward or cancel-tcpip-forward: 80, str name, u8 wantReply,
// str address, u32 port. MPS mis-parses any other name, so ReadMessage rejects them.
type GlobalRequest struct {
	Name      string
	WantReply bool
	Addr      string
	Port      uint32
}

// RequestSuccess answers a GlobalRequest: 81, u32 port for tcpip-forward. Bare marshals the
// lone type byte MPS answers cancel-tcpip-forward with; the wire does not tell the two apart,
// so ReadMessage always reads the port form (a device that cancels must expect the bare one).
type RequestSuccess struct {
	Port uint32
	Bare bool
}

// RequestFailure refuses a GlobalRequest.
type RequestFailure struct{}

// KeepAliveOptionsRequest is MPS's 210, u32 interval (seconds), u32 timeout.
type KeepAliveOptionsRequest struct{ Interval, Timeout uint32 }

// KeepAliveOptionsReply is the device's 211, u32 interval, u32 timeout.
type KeepAliveOptionsReply struct{ Interval, Timeout uint32 }

// KeepAliveRequest is 208, u32 cookie; the peer echoes the cookie in a KeepAliveReply.
type KeepAliveRequest struct{ Cookie uint32 }

// KeepAliveReply is 209, u32 cookie.
type KeepAliveReply struct{ Cookie uint32 }

// ChannelOpen opens a channel: 90, str type ("forwarded-tcpip"), u32 sender channel, u32
// initial window, u32 max packet (MPS sends 0xFFFFFFFF), str connected address, u32 port,
// str origin address, u32 origin port.
type ChannelOpen struct {
	ChannelType string
	Sender      uint32
	Window      uint32
	MaxPacket   uint32
	Addr        string
	Port        uint32
	OriginAddr  string
	OriginPort  uint32
}

// ChannelOpenConfirmation accepts a ChannelOpen: 91, u32 recipient, u32 sender, u32 window,
// u32 max packet.
type ChannelOpenConfirmation struct {
	Recipient, Sender, Window, MaxPacket uint32
}

// ChannelOpenFailure refuses a ChannelOpen: 92, u32 recipient, u32 reason, then two u32 that
// MPS sends as 0 (SSH's description and language strings, both empty).
type ChannelOpenFailure struct {
	Recipient, Reason, Reserved1, Reserved2 uint32
}

// WindowAdjust grants the peer more send window: 93, u32 recipient, u32 bytes.
type WindowAdjust struct{ Recipient, Bytes uint32 }

// ChannelData carries channel bytes: 94, u32 recipient, u32 length, data.
type ChannelData struct {
	Recipient uint32
	Data      []byte
}

// ChannelClose closes a channel: 97, u32 recipient. Each side sends one.
type ChannelClose struct{ Recipient uint32 }

// Disconnect ends the link: 1, u32 reason, two reserved bytes.
type Disconnect struct {
	Reason   uint32
	Reserved uint16
}

func (*ProtocolVersion) Type() MsgType         { return MsgProtocolVersion }
func (*ServiceRequest) Type() MsgType          { return MsgServiceRequest }
func (*ServiceAccept) Type() MsgType           { return MsgServiceAccept }
func (*UserAuthRequest) Type() MsgType         { return MsgUserAuthRequest }
func (*UserAuthFailure) Type() MsgType         { return MsgUserAuthFailure }
func (*UserAuthSuccess) Type() MsgType         { return MsgUserAuthSuccess }
func (*GlobalRequest) Type() MsgType           { return MsgGlobalRequest }
func (*RequestSuccess) Type() MsgType          { return MsgRequestSuccess }
func (*RequestFailure) Type() MsgType          { return MsgRequestFailure }
func (*KeepAliveOptionsRequest) Type() MsgType { return MsgKeepAliveOptionsRequest }
func (*KeepAliveOptionsReply) Type() MsgType   { return MsgKeepAliveOptionsReply }
func (*KeepAliveRequest) Type() MsgType        { return MsgKeepAliveRequest }
func (*KeepAliveReply) Type() MsgType          { return MsgKeepAliveReply }
func (*ChannelOpen) Type() MsgType             { return MsgChannelOpen }
func (*ChannelOpenConfirmation) Type() MsgType { return MsgChannelOpenConfirmation }
func (*ChannelOpenFailure) Type() MsgType      { return MsgChannelOpenFailure }
func (*WindowAdjust) Type() MsgType            { return MsgWindowAdjust }
func (*ChannelData) Type() MsgType             { return MsgChannelData }
func (*ChannelClose) Type() MsgType            { return MsgChannelClose }
func (*Disconnect) Type() MsgType              { return MsgDisconnect }

func (m *ProtocolVersion) Marshal(b []byte) []byte {
	b = append(b, byte(MsgProtocolVersion))
	b = appendU32(b, m.Major)
	b = appendU32(b, m.Minor)
	b = appendU32(b, m.Trigger)
	w := m.GUID.wire()
	b = append(b, w[:]...)
	return append(b, m.Reserved[:]...)
}

func (m *ServiceRequest) Marshal(b []byte) []byte {
	return appendStr(append(b, byte(MsgServiceRequest)), m.Service)
}

func (m *ServiceAccept) Marshal(b []byte) []byte {
	return appendStr(append(b, byte(MsgServiceAccept)), m.Service)
}

func (m *UserAuthRequest) Marshal(b []byte) []byte {
	b = append(b, byte(MsgUserAuthRequest))
	b = appendStr(b, m.User)
	b = appendStr(b, m.Service)
	b = appendStr(b, MethodPassword)
	b = append(b, 0)
	return appendStr(b, m.Password)
}

func (m *UserAuthFailure) Marshal(b []byte) []byte {
	b = appendStr(append(b, byte(MsgUserAuthFailure)), m.Methods)
	return binary.BigEndian.AppendUint16(b, m.Reserved)
}

func (*UserAuthSuccess) Marshal(b []byte) []byte { return append(b, byte(MsgUserAuthSuccess)) }

func (m *GlobalRequest) Marshal(b []byte) []byte {
	b = appendStr(append(b, byte(MsgGlobalRequest)), m.Name)
	b = appendBool(b, m.WantReply)
	b = appendStr(b, m.Addr)
	return appendU32(b, m.Port)
}

func (m *RequestSuccess) Marshal(b []byte) []byte {
	b = append(b, byte(MsgRequestSuccess))
	if m.Bare {
		return b
	}
	return appendU32(b, m.Port)
}

func (*RequestFailure) Marshal(b []byte) []byte { return append(b, byte(MsgRequestFailure)) }

func (m *KeepAliveOptionsRequest) Marshal(b []byte) []byte {
	return appendU32(appendU32(append(b, byte(MsgKeepAliveOptionsRequest)), m.Interval), m.Timeout)
}

func (m *KeepAliveOptionsReply) Marshal(b []byte) []byte {
	return appendU32(appendU32(append(b, byte(MsgKeepAliveOptionsReply)), m.Interval), m.Timeout)
}

func (m *KeepAliveRequest) Marshal(b []byte) []byte {
	return appendU32(append(b, byte(MsgKeepAliveRequest)), m.Cookie)
}

func (m *KeepAliveReply) Marshal(b []byte) []byte {
	return appendU32(append(b, byte(MsgKeepAliveReply)), m.Cookie)
}

func (m *ChannelOpen) Marshal(b []byte) []byte {
	b = appendStr(append(b, byte(MsgChannelOpen)), m.ChannelType)
	b = appendU32(b, m.Sender)
	b = appendU32(b, m.Window)
	b = appendU32(b, m.MaxPacket)
	b = appendStr(b, m.Addr)
	b = appendU32(b, m.Port)
	b = appendStr(b, m.OriginAddr)
	return appendU32(b, m.OriginPort)
}

func (m *ChannelOpenConfirmation) Marshal(b []byte) []byte {
	b = append(b, byte(MsgChannelOpenConfirmation))
	b = appendU32(b, m.Recipient)
	b = appendU32(b, m.Sender)
	b = appendU32(b, m.Window)
	return appendU32(b, m.MaxPacket)
}

func (m *ChannelOpenFailure) Marshal(b []byte) []byte {
	b = append(b, byte(MsgChannelOpenFailure))
	b = appendU32(b, m.Recipient)
	b = appendU32(b, m.Reason)
	b = appendU32(b, m.Reserved1)
	return appendU32(b, m.Reserved2)
}

func (m *WindowAdjust) Marshal(b []byte) []byte {
	return appendU32(appendU32(append(b, byte(MsgWindowAdjust)), m.Recipient), m.Bytes)
}

func (m *ChannelData) Marshal(b []byte) []byte {
	b = appendU32(append(b, byte(MsgChannelData)), m.Recipient)
	b = appendU32(b, uint32(len(m.Data)))
	return append(b, m.Data...)
}

func (m *ChannelClose) Marshal(b []byte) []byte {
	return appendU32(append(b, byte(MsgChannelClose)), m.Recipient)
}

func (m *Disconnect) Marshal(b []byte) []byte {
	b = appendU32(append(b, byte(MsgDisconnect)), m.Reason)
	return binary.BigEndian.AppendUint16(b, m.Reserved)
}
