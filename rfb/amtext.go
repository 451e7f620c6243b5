package rfb

import (
	"bytes"
	"encoding/binary"
)

// Intel AMT's extensions ride in Client/ServerCutText messages whose text starts with a NUL:
// the KVM data channel (a byte pipe to software on the managed machine, and a keep-alive)
// and KvmExtCmd (decimation and compression settings).

// EncodingIntelKvmData (1092) tells AMT the client speaks the KVM data channel.
const EncodingIntelKvmData int32 = 1092

// KvmDataChannelPrefix starts every KVM data channel message; alone it is the client's
// keep-alive (Intel's and MeshCentral's clients send one when 5 s passed since the last).
const KvmDataChannelPrefix = "\x00KvmDataChannel\x00"

// kvmExtCmdPrefix starts every KvmExtCmd message.
const kvmExtCmdPrefix = "\x00KvmExtCmd\x00"

// KvmExtCmd is a KvmExtCmd command byte. The client sends a get (with no value) or a set
// (with one); AMT answers a get with the same command and the value, and a set with the
// same command (MeshCentral's client then asks with the matching get).
type KvmExtCmd uint8

// KvmExtCmd commands.
const (
	// KvmExtGetDecimation: AMT answers 1, mode, and (newer firmware) the current state.
	KvmExtGetDecimation KvmExtCmd = 1
	// KvmExtSetDecimation sets the mode: 1 off, 2 automatic, 3 on (0 is "leave it").
	KvmExtSetDecimation KvmExtCmd = 2
	// KvmExtGetZlib: AMT answers 3 and 0 (off) or 1 (on).
	KvmExtGetZlib KvmExtCmd = 3
	// KvmExtSetZlib switches encoding 16's compression: 0 stored blocks, 1 deflate.
	KvmExtSetZlib KvmExtCmd = 4
)

// KvmData builds the cut text of a KVM data channel message: the prefix and the payload
// (none for a keep-alive).
func KvmData(payload []byte) []byte {
	return append([]byte(KvmDataChannelPrefix), payload...)
}

// ParseKvmData reports whether text is a KVM data channel message and returns what follows
// the 16-byte prefix. ack is set when the prefix's last byte is not NUL: AMT's
// acknowledgement of a client message, as Intel's and MeshCentral's clients read it.
func ParseKvmData(text []byte) (payload []byte, ack, ok bool) {
	const n = len(KvmDataChannelPrefix)
	if len(text) < n || !bytes.Equal(text[:n-1], []byte(KvmDataChannelPrefix[:n-1])) {
		return nil, false, false
	}
	return text[n:], text[n-1] != 0, true
}

// KvmExtCmdText builds the cut text of a KvmExtCmd message: prefix, command, value if any.
func KvmExtCmdText(cmd KvmExtCmd, val ...byte) []byte {
	b := append([]byte(kvmExtCmdPrefix), byte(cmd))
	return append(b, val...)
}

// ParseKvmExtCmd reports whether text is a KvmExtCmd message and returns its command and
// the value bytes after it (none for a get; mode and state for a decimation answer).
func ParseKvmExtCmd(text []byte) (cmd KvmExtCmd, vals []byte, ok bool) {
	const n = len(kvmExtCmdPrefix)
	if len(text) <= n || string(text[:n]) != kvmExtCmdPrefix {
		return 0, nil, false
	}
	return KvmExtCmd(text[n]), text[n+1:], true
}

// CutTextBytes sends ClientCutText carrying b as it is: Intel's extensions are binary,
// which CutText's Latin-1 text cannot express.
func (c *Client) CutTextBytes(b []byte) error {
	msg := make([]byte, 8, 8+len(b))
	msg[0] = msgClientCutText
	binary.BigEndian.PutUint32(msg[4:], uint32(len(b)))
	return c.write(append(msg, b...))
}

// SendKvmData sends a KVM data channel message; a nil payload is the keep-alive.
func (c *Client) SendKvmData(payload []byte) error {
	return c.CutTextBytes(KvmData(payload))
}

// SendKvmExtCmd sends a KvmExtCmd: a get without a value, a set with one.
func (c *Client) SendKvmExtCmd(cmd KvmExtCmd, val ...byte) error {
	return c.CutTextBytes(KvmExtCmdText(cmd, val...))
}

// CutTextBytes is the ServerCutText of an EventCutText as bytes (Text holds them as Latin-1
// runes), for ParseKvmData and ParseKvmExtCmd.
func (e Event) CutTextBytes() []byte {
	b := make([]byte, 0, len(e.Text))
	for _, r := range e.Text {
		b = append(b, byte(r))
	}
	return b
}

// AMTConfig is the configuration a bridge to Intel AMT uses: pf (PixelFormatRGB565, or an
// 8-bit format for large screens), encodings 16 (AMTRLE), Raw and DesktopSize, no cursor
// (AMT draws it). Add EncodingIntelKvmData to PseudoEncodings for the KVM data channel.
func AMTConfig(pf PixelFormat) Config {
	return Config{
		PixelFormat:     &pf,
		Decoders:        []Decoder{&AMTRLE{}, Raw{}},
		PseudoEncodings: []int32{EncodingDesktopSize},
		NoCursor:        true,
	}
}
