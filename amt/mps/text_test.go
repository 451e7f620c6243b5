package mps

import (
	"bytes"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecodeText(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want []byte
	}{
		{"empty", []byte{}, []byte{}},
		{"ascii", []byte("RFB 003.008\n"), []byte("RFB 003.008\n")},
		{"nul and del", []byte{0x00, 0x7F}, []byte{0x00, 0x7F}},
		{"U+0080", []byte{0xC2, 0x80}, []byte{0x80}},
		{"U+00BF", []byte{0xC2, 0xBF}, []byte{0xBF}},
		{"U+00C0", []byte{0xC3, 0x80}, []byte{0xC0}},
		{"U+00FF", []byte{0xC3, 0xBF}, []byte{0xFF}},
		// The redirection reply 0x11 0x00 0x00 0x00 … with an OEM byte 0xE9 (é).
		{"mixed", []byte{0x11, 0x00, 0xC3, 0xA9, 0x41, 0xC2, 0x90}, []byte{0x11, 0x00, 0xE9, 0x41, 0x90}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeText(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestDecodeTextRejects(t *testing.T) {
	for name, in := range map[string][]byte{
		"U+0100":             {0xC4, 0x80},
		"three-byte rune":    {0xE2, 0x82, 0xAC},
		"overlong C0":        {0xC0, 0x80},
		"overlong C1":        {0xC1, 0xBF},
		"lone continuation":  {0x80},
		"lead then ascii":    {0xC3, 0x41},
		"lead at the end":    {0x41, 0xC3},
		"four-byte rune":     {0xF0, 0x9F, 0x98, 0x80},
		"invalid byte 0xFF":  {0xFF},
		"lead then new lead": {0xC2, 0xC3, 0x80},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeText(in)
			require.ErrorIs(t, err, ErrBadText)
		})
	}
}

func TestDecodeTextAllBytesSplit(t *testing.T) {
	// All 256 values as MPS sends them, decoded in two reads split at every point.
	var msg []byte
	for i := range 256 {
		if i < 0x80 {
			msg = append(msg, byte(i))
		} else {
			msg = append(msg, 0xC0|byte(i>>6), 0x80|byte(i&0x3F))
		}
	}
	require.Len(t, msg, 128+2*128)
	for cut := range len(msg) + 1 {
		var d textDecoder
		buf := append([]byte(nil), msg...)
		n1, err := d.decode(buf, buf[:cut])
		require.NoError(t, err)
		out := append([]byte(nil), buf[:n1]...)
		n2, err := d.decode(buf[cut:], buf[cut:])
		require.NoError(t, err)
		out = append(out, buf[cut:cut+n2]...)
		require.NoError(t, d.end())
		for i, b := range out {
			require.Equal(t, byte(i), b, "cut %d", cut)
		}
		require.Len(t, out, 256)
	}
}

// FuzzDecodeText checks DecodeText against Go's UTF-8 decoder and the streaming decoder
// split anywhere against the one-shot one.
func FuzzDecodeText(f *testing.F) {
	f.Add([]byte("RFB 003.008\n"), uint(3))
	f.Add([]byte{0xC3, 0xBF, 0xC2, 0x80, 0x00}, uint(1))
	f.Add([]byte{0xC4, 0x80}, uint(1))
	f.Add([]byte{0xE2, 0x82, 0xAC}, uint(2))
	f.Fuzz(func(t *testing.T, msg []byte, cut uint) {
		got, err := DecodeText(msg)

		// Reference: valid UTF-8 of code points up to U+00FF, one byte each.
		var want []byte
		ok := utf8.Valid(msg)
		for _, r := range string(msg) {
			if r > 0xFF {
				ok = false
				break
			}
			want = append(want, byte(r))
		}
		if ok != (err == nil) {
			t.Fatalf("DecodeText(% x) error %v, reference ok=%v", msg, err, ok)
		}
		if ok && !bytes.Equal(got, want) {
			t.Fatalf("DecodeText(% x) = % x, want % x", msg, got, want)
		}

		// Streaming over two reads agrees with the whole message.
		c := int(cut % uint(len(msg)+1))
		var d textDecoder
		buf := append([]byte(nil), msg...)
		n1, err1 := d.decode(buf, buf[:c])
		out := append([]byte(nil), buf[:n1]...)
		var err2 error
		if err1 == nil {
			var n2 int
			n2, err2 = d.decode(buf[c:], buf[c:])
			out = append(out, buf[c:c+n2]...)
			if err2 == nil {
				err2 = d.end()
			}
		}
		streamOK := err1 == nil && err2 == nil
		if streamOK != ok || (ok && !bytes.Equal(out, want)) {
			t.Fatalf("split at %d: % x (err %v %v), want % x ok=%v", c, out, err1, err2, want, ok)
		}
	})
}

func TestNormGUID(t *testing.T) {
	g, err := normGUID("8C4C4C4C-0000-1111-2222-0123456789AB")
	require.NoError(t, err)
	assert.Equal(t, "8c4c4c4c-0000-1111-2222-0123456789ab", g)
	for _, bad := range []string{"", "8c4c4c4c00001111222201234567890ab", "8c4c4c4c-0000-1111-2222-0123456789ag", "../../../../../../authorize/x"} {
		_, err := normGUID(bad)
		assert.Error(t, err, bad)
	}
}

func TestErrorText(t *testing.T) {
	for body, want := range map[string]string{
		`{"error":"Device not found/connected. Please connect again using CIRA.","errorDescription":"guid : x"}`: "Device not found/connected. Please connect again using CIRA.; guid : x",
		`{"message":"Incorrect Username and/or Password!"}`:                                                      "Incorrect Username and/or Password!",
		`{"errors":[{"msg":"Invalid value","param":"action","location":"body"}]}`:                                "Invalid value",
		`<html>Cannot GET</html>`: "",
	} {
		assert.Equal(t, want, errorText([]byte(body)))
	}
}
