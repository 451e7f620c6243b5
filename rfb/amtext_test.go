package rfb_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/rfb"
)

func TestAMTClientCutText(t *testing.T) {
	c, p := connect(t, hello(4, 4), rfb.Config{})
	p.sent.Reset()
	require.NoError(t, c.SendKvmData(nil))
	require.NoError(t, c.SendKvmData([]byte("hi")))
	require.NoError(t, c.SendKvmExtCmd(rfb.KvmExtSetZlib, 0))
	require.NoError(t, c.SendKvmExtCmd(rfb.KvmExtGetDecimation))
	require.NoError(t, c.CutTextBytes([]byte{0xFF, 0x00}))
	assert.Equal(t, cat(
		[]byte{6, 0, 0, 0, 0, 0, 0, 16}, []byte("\x00KvmDataChannel\x00"),
		[]byte{6, 0, 0, 0, 0, 0, 0, 18}, []byte("\x00KvmDataChannel\x00hi"),
		[]byte{6, 0, 0, 0, 0, 0, 0, 13}, []byte("\x00KvmExtCmd\x00\x04\x00"),
		[]byte{6, 0, 0, 0, 0, 0, 0, 12}, []byte("\x00KvmExtCmd\x00\x01"),
		[]byte{6, 0, 0, 0, 0, 0, 0, 2, 0xFF, 0x00},
	), p.sent.Bytes())
}

func TestAMTServerCutText(t *testing.T) {
	s := hello(4, 4)
	for _, text := range []string{
		"\x00KvmDataChannel\x00",
		"\x00KvmDataChannel\x01",
		"\x00KvmDataChannel\x00\xC3\x00x",
		"\x00KvmExtCmd\x00\x01\x02\x00",
		"\x00KvmExtCmd\x00\x04\x01",
		"clip",
	} {
		s.u8(3, 0, 0, 0).str(text)
	}
	c, _ := connect(t, s, rfb.Config{})
	type parsed struct {
		data    string
		ack, ok bool
		cmd     rfb.KvmExtCmd
		vals    string
		isCmd   bool
	}
	for _, want := range []parsed{
		{data: "", ok: true},
		{data: "", ack: true, ok: true},
		{data: "\xC3\x00x", ok: true},
		{cmd: rfb.KvmExtGetDecimation, vals: "\x02\x00", isCmd: true},
		{cmd: rfb.KvmExtSetZlib, vals: "\x01", isCmd: true},
		{},
	} {
		ev, err := c.ReadMessage()
		require.NoError(t, err)
		require.Equal(t, rfb.EventCutText, ev.Kind)
		var got parsed
		b := ev.CutTextBytes()
		var data, vals []byte
		data, got.ack, got.ok = rfb.ParseKvmData(b)
		got.cmd, vals, got.isCmd = rfb.ParseKvmExtCmd(b)
		got.data, got.vals = string(data), string(vals)
		assert.Equal(t, want, got, "%q", b)
	}
}

func TestParseKvmShort(t *testing.T) {
	for _, b := range []string{"", "\x00", "\x00KvmDataChanne", "\x00KvmExtCmd\x00", "KvmDataChannel\x00\x00", "\x00KvmDataChannel"} {
		_, _, ok := rfb.ParseKvmData([]byte(b))
		_, _, isCmd := rfb.ParseKvmExtCmd([]byte(b))
		assert.False(t, ok || isCmd, "%q", b)
	}
	assert.Equal(t, []byte("\x00KvmDataChannel\x00ab"), rfb.KvmData([]byte("ab")))
	assert.Equal(t, []byte("\x00KvmExtCmd\x00\x02\x03"), rfb.KvmExtCmdText(rfb.KvmExtSetDecimation, 3))
}
