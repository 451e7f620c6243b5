package apf_test

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/amt/apf"
)

// h decodes hex written with spaces for readability; parts that are not hex are taken as
// literal text, so wire strings read as themselves: h("05 00000012", "auth@amt.intel.com").
func h(parts ...string) []byte {
	var out []byte
	for i, p := range parts {
		if i%2 == 1 {
			out = append(out, p...)
			continue
		}
		b, err := hex.DecodeString(strings.ReplaceAll(p, " ", ""))
		if err != nil {
			panic(err)
		}
		out = append(out, b...)
	}
	return out
}

var testGUID = apf.GUID{0x4c, 0x4c, 0x45, 0x44, 0x00, 0x4b, 0x42, 0x10, 0x80, 0x33, 0xb6, 0xc0, 0x4f, 0x50, 0x46, 0x33}

// wireCases are every message with its wire form written out from AMT.md section 7 (and, for
// the GUID order, MPS's own test: wire 44454C4C4B0010428033B6C04F504633 is
// 4C4C4544-004B-4210-8033-B6C04F504633).
var wireCases = []struct {
	name string
	msg  apf.Message
	wire []byte
}{
	{"protocol version", &apf.ProtocolVersion{Major: 1, Minor: 0, Trigger: 0, GUID: testGUID},
		h("c0 00000001 00000000 00000000 44454c4c 4b00 1042 8033 b6c04f504633" + strings.Repeat("00", 64))},
	{"protocol version trigger", &apf.ProtocolVersion{Major: 1, Minor: 1, Trigger: 4, GUID: testGUID, Reserved: [64]byte{63: 9}},
		h("c0 00000001 00000001 00000004 44454c4c 4b00 1042 8033 b6c04f504633" + strings.Repeat("00", 63) + "09")},
	{"service request auth", &apf.ServiceRequest{Service: "auth@amt.intel.com"}, h("05 00000012", "auth@amt.intel.com")},
	{"service request pfwd", &apf.ServiceRequest{Service: "pfwd@amt.intel.com"}, h("05 00000012", "pfwd@amt.intel.com")},
	{"service accept", &apf.ServiceAccept{Service: "auth@amt.intel.com"}, h("06 00000012", "auth@amt.intel.com")},
	{"userauth request", &apf.UserAuthRequest{User: "admin", Service: "pfwd@amt.intel.com", Password: "P@ssw0rd"},
		h("32 00000005", "admin", "00000012", "pfwd@amt.intel.com", "00000008", "password", "00 00000008", "P@ssw0rd")},
	{"userauth request empty", &apf.UserAuthRequest{},
		h("32 00000000 00000000 00000008", "password", "00 00000000")},
	{"userauth failure", &apf.UserAuthFailure{Methods: "password"}, h("33 00000008", "password", "0000")},
	{"userauth success", &apf.UserAuthSuccess{}, h("34")},
	{"tcpip-forward", &apf.GlobalRequest{Name: "tcpip-forward", WantReply: true, Addr: "", Port: 16994},
		h("50 0000000d", "tcpip-forward", "01 00000000 00004262")},
	{"tcpip-forward addr", &apf.GlobalRequest{Name: "tcpip-forward", Addr: "amt.local", Port: 5900},
		h("50 0000000d", "tcpip-forward", "00 00000009", "amt.local", "0000170c")},
	{"cancel-tcpip-forward", &apf.GlobalRequest{Name: "cancel-tcpip-forward", WantReply: true, Port: 16992},
		h("50 00000014", "cancel-tcpip-forward", "01 00000000 00004260")},
	{"request success", &apf.RequestSuccess{Port: 16993}, h("51 00004261")},
	{"request failure", &apf.RequestFailure{}, h("52")},
	{"keepalive options request", &apf.KeepAliveOptionsRequest{Interval: 30, Timeout: 0}, h("d2 0000001e 00000000")},
	{"keepalive options reply", &apf.KeepAliveOptionsReply{Interval: 30, Timeout: 5}, h("d3 0000001e 00000005")},
	{"keepalive request", &apf.KeepAliveRequest{Cookie: 0xdeadbeef}, h("d0 deadbeef")},
	{"keepalive reply", &apf.KeepAliveReply{Cookie: 255}, h("d1 000000ff")},
	{"channel open", &apf.ChannelOpen{ChannelType: "forwarded-tcpip", Sender: 4, Window: 81920, MaxPacket: 0xffffffff,
		Addr: "", Port: 16994, OriginAddr: "1.2.3.4", OriginPort: 1024},
		h("5a 0000000f", "forwarded-tcpip", "00000004 00014000 ffffffff 00000000 00004262 00000007", "1.2.3.4", "00000400")},
	{"channel open confirmation", &apf.ChannelOpenConfirmation{Recipient: 4, Sender: 7, Window: 32768, MaxPacket: 0xffffffff},
		h("5b 00000004 00000007 00008000 ffffffff")},
	{"channel open failure", &apf.ChannelOpenFailure{Recipient: 4, Reason: 3}, h("5c 00000004 00000003 00000000 00000000")},
	{"window adjust", &apf.WindowAdjust{Recipient: 7, Bytes: 40961}, h("5d 00000007 0000a001")},
	{"channel data", &apf.ChannelData{Recipient: 7, Data: []byte("\x10\x01\x00\x00KVMR")}, h("5e 00000007 00000008 10010000", "KVMR")},
	{"channel data empty", &apf.ChannelData{Recipient: 1}, h("5e 00000001 00000000")},
	{"channel close", &apf.ChannelClose{Recipient: 7}, h("61 00000007")},
	{"disconnect", &apf.Disconnect{Reason: 11}, h("01 0000000b 0000")},
}

func TestMarshal(t *testing.T) {
	for _, tc := range wireCases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.wire, tc.msg.Marshal(nil))
			prefix := []byte{0xaa}
			assert.Equal(t, append([]byte{0xaa}, tc.wire...), tc.msg.Marshal(prefix), "appends")
		})
	}
}

func TestReadMessage(t *testing.T) {
	for _, tc := range wireCases {
		t.Run(tc.name, func(t *testing.T) {
			r := bufio.NewReader(bytes.NewReader(append(append([]byte{}, tc.wire...), 0x34)))
			m, err := apf.ReadMessage(r, 0)
			require.NoError(t, err)
			assert.Equal(t, tc.msg.Type(), m.Type())
			assert.Equal(t, tc.wire, m.Marshal(nil))
			next, err := apf.ReadMessage(r, 0)
			require.NoError(t, err, "reads exactly one message")
			assert.Equal(t, &apf.UserAuthSuccess{}, next)
			_, err = apf.ReadMessage(r, 0)
			assert.ErrorIs(t, err, io.EOF)
		})
	}
}

func TestReadMessageFields(t *testing.T) {
	m, err := apf.ReadMessage(bufio.NewReader(bytes.NewReader(h("c0 00000001 00000000 00000000 44454c4c4b0010428033b6c04f504633"+strings.Repeat("00", 64)))), 0)
	require.NoError(t, err)
	pv, ok := m.(*apf.ProtocolVersion)
	require.True(t, ok)
	assert.Equal(t, "4c4c4544-004b-4210-8033-b6c04f504633", pv.GUID.String())
}

func TestRequestSuccessBare(t *testing.T) {
	assert.Equal(t, h("51"), (&apf.RequestSuccess{Port: 16992, Bare: true}).Marshal(nil))
}

func TestReadMessageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		wire []byte
		max  int
		err  error
	}{
		{"unknown type", h("07 00000000"), 0, apf.ErrUnknownMessage},
		{"zero type", h("00"), 0, apf.ErrUnknownMessage},
		{"truncated u32", h("d0 0000"), 0, io.ErrUnexpectedEOF},
		{"truncated protocol version", h("c0 00000001 00000000"), 0, io.ErrUnexpectedEOF},
		{"truncated string", h("05 00000012", "auth@"), 0, io.ErrUnexpectedEOF},
		{"string over limit", h("05 00000801"), 0, apf.ErrTooLong},
		{"huge string", h("05 ffffffff"), 0, apf.ErrTooLong},
		{"data over 1 MiB", h("5e 00000001 00100001"), 0, apf.ErrTooLong},
		{"data over caller limit", h("5e 00000001 00000011"), 16, apf.ErrTooLong},
		{"truncated data", h("5e 00000001 00000004 0102"), 0, io.ErrUnexpectedEOF},
		{"auth method none", h("32 00000000 00000000 00000004", "none", "00 00000000"), 0, apf.ErrMalformed},
		{"password change", h("32 00000000 00000000 00000008", "password", "01 00000000"), 0, apf.ErrMalformed},
		{"unknown global request", h("50 00000019", "udp-send-to@amt.intel.com", "00"), 0, apf.ErrMalformed},
		{"bad boolean", h("50 0000000d", "tcpip-forward", "02 00000000 00004262"), 0, apf.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := apf.ReadMessage(bufio.NewReader(bytes.NewReader(tc.wire)), tc.max)
			assert.ErrorIs(t, err, tc.err)
		})
	}
}

func TestReadMessageDataAtLimit(t *testing.T) {
	data := bytes.Repeat([]byte{0x5a}, apf.MaxChannelData)
	wire := append(h("5e 00000002 00100000"), data...)
	m, err := apf.ReadMessage(bufio.NewReader(bytes.NewReader(wire)), 0)
	require.NoError(t, err)
	assert.Equal(t, &apf.ChannelData{Recipient: 2, Data: data}, m)
}
