package hid_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/hid"
)

func TestRoundTrip(t *testing.T) {
	long := strings.Repeat("x", hid.MaxTextSize)
	tests := []struct {
		name string
		msg  hid.Message
		wire []byte
	}{
		{"key down", hid.KeyMsg{Usage: hid.UsageA, Down: true}, []byte{0x01, 0x01, 0x00, 0x04}},
		{"key up modifier", hid.KeyMsg{Usage: hid.UsageRightGUI}, []byte{0x01, 0x00, 0x00, 0xE7}},
		{"buttons at position", hid.ButtonsMsg{Buttons: hid.ButtonLeft | hid.ButtonForward, X: 0, Y: hid.AbsMax},
			[]byte{0x02, 0x11, 0x00, 0x00, 0x7F, 0xFF}},
		{"buttons no position", hid.ButtonsMsg{Buttons: hid.ButtonsValid, X: hid.NoPosition, Y: hid.NoPosition},
			[]byte{0x02, 0x1F, 0xFF, 0xFF, 0xFF, 0xFF}},
		{"wheel", hid.WheelMsg{DX: -1, DY: 127}, []byte{0x03, 0xFF, 0x7F}},
		{"wheel min", hid.WheelMsg{DX: -128, DY: -128}, []byte{0x03, 0x80, 0x80}},
		{"keepalive", hid.KeepAliveMsg{}, []byte{0x04}},
		{"release all", hid.ReleaseAllMsg{}, []byte{0x05}},
		{"text one byte", hid.TextMsg{Text: "a"}, []byte{0x06, 'a'}},
		{"text utf8", hid.TextMsg{Text: "é✓\n"}, append([]byte{0x06}, "é✓\n"...)},
		{"text max", hid.TextMsg{Text: long}, append([]byte{0x06}, long...)},
		{"probe", hid.ProbeMsg{ID: 0xDEADBEEF}, []byte{0x07, 0xDE, 0xAD, 0xBE, 0xEF}},
		{"layout", hid.LayoutMsg{Name: "de-DE"}, []byte{0x08, 'd', 'e', '-', 'D', 'E'}},
		{"pointer abs", hid.PointerAbsMsg{Seq: 0xFFFE, Buttons: hid.ButtonsValid, X: hid.AbsMax, Y: 1},
			[]byte{0x10, 0xFF, 0xFE, 0x1F, 0x7F, 0xFF, 0x00, 0x01}},
		{"pointer rel", hid.PointerRelMsg{Buttons: hid.ButtonRight, DX: -32768, DY: 32767},
			[]byte{0x11, 0x02, 0x80, 0x00, 0x7F, 0xFF}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := hid.Encode(tt.msg)
			require.NoError(t, err)
			assert.Equal(t, tt.wire, b)
			m, err := hid.Decode(tt.wire)
			require.NoError(t, err)
			assert.Equal(t, tt.msg, m)
			assert.Equal(t, tt.msg.Type(), hid.MsgType(tt.wire[0]))
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		name string
		wire []byte
		want error
	}{
		{"empty", nil, hid.ErrTooShort},
		{"over 16 KiB", append([]byte{0x06}, strings.Repeat("x", hid.MaxMessageSize)...), hid.ErrTooLarge},
		{"1 MiB of zeros", make([]byte, 1<<20), hid.ErrTooLarge},
		{"type 0x00", []byte{0x00}, hid.ErrUnknownType},
		{"type 0x09", []byte{0x09, 0, 0, 0}, hid.ErrUnknownType},
		{"layout empty", []byte{0x08}, hid.ErrOutOfRange},
		{"layout NUL", []byte{0x08, 'd', 0, 'e'}, hid.ErrOutOfRange},
		{"layout too long", append([]byte{0x08}, strings.Repeat("x", hid.MaxLayoutName+1)...), hid.ErrOutOfRange},
		{"probe short", []byte{0x07, 0, 0, 0}, hid.ErrTooShort},
		{"probe long", []byte{0x07, 0, 0, 0, 0, 0}, hid.ErrBadLength},
		{"type 0x12", []byte{0x12}, hid.ErrUnknownType},
		{"type 0xFF", []byte{0xFF, 1, 2}, hid.ErrUnknownType},

		{"key short", []byte{0x01, 0x01, 0x00}, hid.ErrTooShort},
		{"key long", []byte{0x01, 0x01, 0x00, 0x04, 0x00}, hid.ErrBadLength},
		{"key state 2", []byte{0x01, 0x02, 0x00, 0x04}, hid.ErrOutOfRange},
		{"key usage 0", []byte{0x01, 0x01, 0x00, 0x00}, hid.ErrOutOfRange},
		{"key usage ErrorUndefined", []byte{0x01, 0x01, 0x00, 0x03}, hid.ErrOutOfRange},
		{"key usage reserved 0xA5", []byte{0x01, 0x01, 0x00, 0xA5}, hid.ErrOutOfRange},
		{"key usage reserved 0xDE", []byte{0x01, 0x01, 0x00, 0xDE}, hid.ErrOutOfRange},
		{"key usage above modifiers", []byte{0x01, 0x01, 0x00, 0xE8}, hid.ErrOutOfRange},
		{"key usage 16-bit", []byte{0x01, 0x01, 0x01, 0x04}, hid.ErrOutOfRange},

		{"buttons short", []byte{0x02, 0x01, 0x00, 0x00, 0x00}, hid.ErrTooShort},
		{"buttons long", []byte{0x02, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00}, hid.ErrBadLength},
		{"buttons bit 5", []byte{0x02, 0x20, 0x00, 0x00, 0x00, 0x00}, hid.ErrOutOfRange},
		{"buttons bit 7", []byte{0x02, 0x81, 0x00, 0x00, 0x00, 0x00}, hid.ErrOutOfRange},
		{"buttons x 32768", []byte{0x02, 0x01, 0x80, 0x00, 0x00, 0x00}, hid.ErrOutOfRange},
		{"buttons y 32768", []byte{0x02, 0x01, 0x00, 0x00, 0x80, 0x00}, hid.ErrOutOfRange},
		{"buttons half no-position x", []byte{0x02, 0x01, 0xFF, 0xFF, 0x00, 0x00}, hid.ErrOutOfRange},
		{"buttons half no-position y", []byte{0x02, 0x01, 0x00, 0x00, 0xFF, 0xFF}, hid.ErrOutOfRange},

		{"wheel short", []byte{0x03, 0x01}, hid.ErrTooShort},
		{"wheel long", []byte{0x03, 0x01, 0x01, 0x01}, hid.ErrBadLength},
		{"keepalive long", []byte{0x04, 0x00}, hid.ErrBadLength},
		{"release all long", []byte{0x05, 0x05}, hid.ErrBadLength},

		{"text empty", []byte{0x06}, hid.ErrTooShort},
		{"text invalid byte", []byte{0x06, 'a', 0xFF}, hid.ErrInvalidUTF8},
		{"text truncated rune", []byte{0x06, 0xC3}, hid.ErrInvalidUTF8},
		{"text surrogate", []byte{0x06, 0xED, 0xA0, 0x80}, hid.ErrInvalidUTF8},
		{"text overlong", []byte{0x06, 0xC0, 0xAF}, hid.ErrInvalidUTF8},

		{"pointer abs short", []byte{0x10, 0, 1, 0, 0, 0, 0}, hid.ErrTooShort},
		{"pointer abs long", []byte{0x10, 0, 1, 0, 0, 0, 0, 0, 0}, hid.ErrBadLength},
		{"pointer abs x 32768", []byte{0x10, 0, 1, 0, 0x80, 0x00, 0, 0}, hid.ErrOutOfRange},
		{"pointer abs no-position", []byte{0x10, 0, 1, 0, 0xFF, 0xFF, 0xFF, 0xFF}, hid.ErrOutOfRange},
		{"pointer abs buttons", []byte{0x10, 0, 1, 0x40, 0, 0, 0, 0}, hid.ErrOutOfRange},

		{"pointer rel short", []byte{0x11, 0, 0, 1, 0}, hid.ErrTooShort},
		{"pointer rel long", []byte{0x11, 0, 0, 1, 0, 1, 0}, hid.ErrBadLength},
		{"pointer rel buttons", []byte{0x11, 0xE0, 0, 1, 0, 1}, hid.ErrOutOfRange},
	}
	sentinels := []error{hid.ErrTooShort, hid.ErrBadLength, hid.ErrUnknownType, hid.ErrOutOfRange,
		hid.ErrTooLarge, hid.ErrInvalidUTF8}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := hid.Decode(tt.wire)
			require.ErrorIs(t, err, tt.want)
			assert.Nil(t, m)
			for _, s := range sentinels {
				if s != tt.want {
					assert.NotErrorIs(t, err, s)
				}
			}
		})
	}
}

func TestEncodeRejects(t *testing.T) {
	tests := []struct {
		name string
		msg  hid.Message
		want error
	}{
		{"nil", nil, hid.ErrUnknownType},
		{"usage 0", hid.KeyMsg{Down: true}, hid.ErrOutOfRange},
		{"usage 0x100", hid.KeyMsg{Usage: 0x104}, hid.ErrOutOfRange},
		{"buttons bits", hid.ButtonsMsg{Buttons: 0x20}, hid.ErrOutOfRange},
		{"buttons x only no-position", hid.ButtonsMsg{X: hid.NoPosition}, hid.ErrOutOfRange},
		{"text empty", hid.TextMsg{}, hid.ErrTooShort},
		{"text too long", hid.TextMsg{Text: strings.Repeat("x", hid.MaxTextSize+1)}, hid.ErrTooLarge},
		{"text not utf8", hid.TextMsg{Text: "\xff"}, hid.ErrInvalidUTF8},
		{"pointer abs out of range", hid.PointerAbsMsg{X: hid.AbsMax + 1}, hid.ErrOutOfRange},
		{"pointer rel buttons", hid.PointerRelMsg{Buttons: 0x80}, hid.ErrOutOfRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := hid.Encode(tt.msg)
			require.ErrorIs(t, err, tt.want)
			assert.Empty(t, b)
		})
	}
}

func TestMsgTypeChannel(t *testing.T) {
	for _, typ := range []hid.MsgType{hid.TypeKey, hid.TypeButtons, hid.TypeWheel, hid.TypeKeepAlive,
		hid.TypeReleaseAll, hid.TypeText, hid.TypeProbe, hid.TypeLayout, hid.TypePointerRel} {
		assert.Equal(t, hid.ChannelHID, typ.Channel(), typ.String())
	}
	assert.Equal(t, hid.ChannelPointer, hid.TypePointerAbs.Channel())
	assert.Equal(t, "hid", hid.ChannelHID.Label())
	assert.Equal(t, "pointer", hid.ChannelPointer.Label())
	assert.Equal(t, "type 0x42", hid.MsgType(0x42).String())
}

func TestFrameNote(t *testing.T) {
	n := hid.FrameNote{Probe: 7, RTPTimestamp: 0xFFFFFFFE}
	b := hid.AppendFrameNote(nil, n)
	assert.Equal(t, []byte{0x80, 0, 0, 0, 7, 0xFF, 0xFF, 0xFF, 0xFE}, b)
	got, err := hid.DecodeFrameNote(b)
	require.NoError(t, err)
	assert.Equal(t, n, got)
	_, err = hid.DecodeFrameNote(b[:8])
	require.Error(t, err)
	_, err = hid.Decode(b)
	require.ErrorIs(t, err, hid.ErrUnknownType, "an agent's note is never console input")
}
