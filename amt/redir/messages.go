package redir

import (
	"encoding/binary"
	"fmt"
)

// Message types: the first byte of every redirection-layer message.
const (
	TypeStartRedirectionSession      byte = 0x10
	TypeStartRedirectionSessionReply byte = 0x11
	TypeEndRedirectionSession        byte = 0x12
	TypeAuthenticateSession          byte = 0x13
	TypeAuthenticateSessionReply     byte = 0x14
	// TypeKVMStart is what a KVM client sends once authenticated (MeshCentral's amt-redir-ws);
	// amtterm names 0x40 START_IDER_REDIRECTION, but in a KVM session it is 8 bytes long.
	TypeKVMStart byte = 0x40
	// TypeKVMStartReply is AMT's 8-byte answer to TypeKVMStart; RFB follows it.
	TypeKVMStartReply byte = 0x41
)

// Session protocols named in StartRedirectionSession (bytes 4–7).
var (
	ProtocolKVM  = [4]byte{'K', 'V', 'M', 'R'}
	ProtocolSOL  = [4]byte{'S', 'O', 'L', ' '}
	ProtocolIDER = [4]byte{'I', 'D', 'E', 'R'}
)

// StartRedirectionSessionReply status codes (byte 1).
const (
	StatusSuccess     byte = 0
	StatusTypeUnknown byte = 1
	StatusBusy        byte = 2
	StatusUnsupported byte = 3
	StatusError       byte = 0xFF
)

// AuthType is byte 4 of AuthenticateSession and its reply.
type AuthType byte

// Authentication types. The numbers are AMT's; digest without qop is RFC 2069, digest is
// RFC 2617 with qop.
const (
	AuthQuery        AuthType = 0
	AuthUserPassword AuthType = 1
	AuthKerberos     AuthType = 2
	AuthDigestNoQOP  AuthType = 3
	AuthDigest       AuthType = 4
)

func (t AuthType) String() string {
	switch t {
	case AuthQuery:
		return "query"
	case AuthUserPassword:
		return "user/password"
	case AuthKerberos:
		return "Kerberos"
	case AuthDigestNoQOP:
		return "digest without qop"
	case AuthDigest:
		return "digest"
	}
	return fmt.Sprintf("auth type %d", byte(t))
}

// AuthenticateSessionReply status codes (byte 1).
const (
	AuthStatusSuccess      byte = 0
	AuthStatusFailure      byte = 1
	AuthStatusNotSupported byte = 2
)

// Size limits. A digest message has at most eight 1-byte-length fields, so no legitimate
// authentication payload exceeds MaxAuthDataLen.
const (
	MaxAuthDataLen = 8 * 256
	authHeaderLen  = 9
	startReplyLen  = 13
	endLen         = 4
)

// Message is one redirection-layer message; AppendBinary appends its wire form.
type Message interface {
	AppendBinary(b []byte) ([]byte, error)
}

// StartRedirectionSession opens a session: `10 P 00 00` + the 4-byte protocol.
type StartRedirectionSession struct {
	// Param is byte 1: MeshCentral sends 1 for KVM and 0 for SOL and IDER; its meaning is
	// not documented publicly.
	Param    byte
	Protocol [4]byte
}

// StartKVM is the StartRedirectionSession a KVM client sends: `10 01 00 00 'KVMR'`.
var StartKVM = StartRedirectionSession{Param: 1, Protocol: ProtocolKVM}

// AppendBinary implements Message.
func (m StartRedirectionSession) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, TypeStartRedirectionSession, m.Param, 0, 0)
	return append(b, m.Protocol[:]...), nil
}

// StartRedirectionSessionReply answers StartRedirectionSession. With a status other than
// StatusSuccess only the first 4 bytes are read (MeshCentral does the same): what follows a
// refusal is not relied upon.
type StartRedirectionSessionReply struct {
	Status          byte
	ProtocolVersion uint16
	FirmwareVersion uint16
	OEMIANA         uint32
	OEMData         []byte // at most 255 bytes
}

// AppendBinary implements Message. The full 13+n bytes are written whatever the status, so
// clients that always read 13 (amtterm) stay in step.
func (m StartRedirectionSessionReply) AppendBinary(b []byte) ([]byte, error) {
	if len(m.OEMData) > 255 {
		return b, fmt.Errorf("redirection start reply: OEM data of %d bytes exceeds 255", len(m.OEMData))
	}
	b = append(b, TypeStartRedirectionSessionReply, m.Status, 0, 0)
	b = binary.LittleEndian.AppendUint16(b, m.ProtocolVersion)
	b = binary.LittleEndian.AppendUint16(b, m.FirmwareVersion)
	b = binary.LittleEndian.AppendUint32(b, m.OEMIANA)
	b = append(b, byte(len(m.OEMData)))
	return append(b, m.OEMData...), nil
}

// EndRedirectionSession ends a session: `12 00 00 00`.
type EndRedirectionSession struct{}

// AppendBinary implements Message.
func (EndRedirectionSession) AppendBinary(b []byte) ([]byte, error) {
	return append(b, TypeEndRedirectionSession, 0, 0, 0), nil
}

// AuthenticateSession is `13 00 00 00 type len(u32 LE) data`.
type AuthenticateSession struct {
	Type AuthType
	Data []byte // at most MaxAuthDataLen bytes
}

// AppendBinary implements Message.
func (m AuthenticateSession) AppendBinary(b []byte) ([]byte, error) {
	return appendAuth(b, TypeAuthenticateSession, 0, m.Type, m.Data)
}

// AuthenticateSessionReply is `14 status 00 00 type len(u32 LE) data`. To a query the data
// lists the supported types, one byte each; to an initial digest it is a Challenge.
type AuthenticateSessionReply struct {
	Status byte
	Type   AuthType
	Data   []byte // at most MaxAuthDataLen bytes
}

// AppendBinary implements Message.
func (m AuthenticateSessionReply) AppendBinary(b []byte) ([]byte, error) {
	return appendAuth(b, TypeAuthenticateSessionReply, m.Status, m.Type, m.Data)
}

func appendAuth(b []byte, typ, status byte, at AuthType, data []byte) ([]byte, error) {
	if len(data) > MaxAuthDataLen {
		return b, fmt.Errorf("authentication message: %d data bytes exceed %d", len(data), MaxAuthDataLen)
	}
	b = append(b, typ, status, 0, 0, byte(at))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	return append(b, data...), nil
}

// KVMStart is the 8-byte message a KVM client sends after authentication: `40` + 7 bytes
// (zeros from MeshCentral).
type KVMStart struct {
	Payload [7]byte
}

// AppendBinary implements Message.
func (m KVMStart) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, TypeKVMStart)
	return append(b, m.Payload[:]...), nil
}

// KVMStartReply is AMT's 8-byte answer to KVMStart. The payload is kept but not
// interpreted: its meaning is unconfirmed.
type KVMStartReply struct {
	Payload [7]byte
}

// AppendBinary implements Message.
func (m KVMStartReply) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, TypeKVMStartReply)
	return append(b, m.Payload[:]...), nil
}

// Encode returns the wire form of m.
func Encode(m Message) ([]byte, error) {
	return m.AppendBinary(nil)
}
