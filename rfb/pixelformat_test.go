package rfb_test

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/rfb"
)

func TestPixelFormatValidate(t *testing.T) {
	bad := func(f func(pf *rfb.PixelFormat)) rfb.PixelFormat {
		pf := rfb.PixelFormat32()
		f(&pf)
		return pf
	}
	tests := []struct {
		name string
		pf   rfb.PixelFormat
		ok   bool
	}{
		{"32", rfb.PixelFormat32(), true},
		{"565", rfb.PixelFormatRGB565(), true},
		{"332", rfb.PixelFormatRGB332(), true},
		{"24 bpp", bad(func(pf *rfb.PixelFormat) { pf.BitsPerPixel = 24 }), false},
		{"colour map", bad(func(pf *rfb.PixelFormat) { pf.TrueColour = false }), false},
		{"max not 2^n-1", bad(func(pf *rfb.PixelFormat) { pf.RedMax = 200 }), false},
		{"zero max", bad(func(pf *rfb.PixelFormat) { pf.GreenMax = 0 }), false},
		{"shift past the pixel", bad(func(pf *rfb.PixelFormat) { pf.BlueShift = 30 }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.pf.Validate()
			if tt.ok {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, rfb.ErrPixelFormat)
			}
		})
	}
}

// TestPixelConverter converts one wire pixel of each format to RGBA (R | G<<8 | B<<16 | A<<24).
func TestPixelConverter(t *testing.T) {
	be32 := rfb.PixelFormat{BitsPerPixel: 32, Depth: 24, BigEndian: true, TrueColour: true,
		RedMax: 255, GreenMax: 255, BlueMax: 255, RedShift: 16, GreenShift: 8, BlueShift: 0}
	high := rfb.PixelFormat{BitsPerPixel: 32, Depth: 24, TrueColour: true,
		RedMax: 255, GreenMax: 255, BlueMax: 255, RedShift: 24, GreenShift: 16, BlueShift: 8}
	tests := []struct {
		name   string
		pf     rfb.PixelFormat
		wire   []byte
		n      int // bytes of the pixel (compact pixels are 3)
		cpixel int
		want   uint32
	}{
		{"32 identity", rfb.PixelFormat32(), []byte{10, 20, 30, 0}, 4, 3, 0xFF1E140A},
		{"32 compact", rfb.PixelFormat32(), []byte{10, 20, 30}, 3, 3, 0xFF1E140A},
		{"32 big-endian", be32, []byte{0, 10, 20, 30}, 4, 3, 0xFF1E140A},
		{"32 big-endian compact", be32, []byte{10, 20, 30}, 3, 3, 0xFF1E140A},
		{"32 colour in the high bytes, compact", high, []byte{30, 20, 10}, 3, 3, 0xFF1E140A},
		{"565 red", rfb.PixelFormatRGB565(), binary.LittleEndian.AppendUint16(nil, 0xF800), 2, 2, 0xFF0000FF},
		{"565 mid green", rfb.PixelFormatRGB565(), binary.LittleEndian.AppendUint16(nil, 32<<5), 2, 2, 0xFF008200},
		{"332 blue", rfb.PixelFormatRGB332(), []byte{0x03}, 1, 1, 0xFFFF0000},
		{"332 white", rfb.PixelFormatRGB332(), []byte{0xFF}, 1, 1, 0xFFFFFFFF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := rfb.NewPixelConverter(tt.pf)
			require.NoError(t, err)
			assert.Equal(t, tt.cpixel, c.CPixelSize())
			assert.Equal(t, tt.want, c.Pixel(tt.wire, tt.n))
		})
	}
	_, err := rfb.NewPixelConverter(rfb.PixelFormat{BitsPerPixel: 24})
	assert.ErrorIs(t, err, rfb.ErrPixelFormat)
}

func TestPixelFormatMarshal(t *testing.T) {
	assert.Equal(t, []byte{32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 0, 8, 16, 0, 0, 0}, rfb.PixelFormat32().Marshal())
	assert.Equal(t, []byte{16, 16, 0, 1, 0, 31, 0, 63, 0, 31, 11, 5, 0, 0, 0, 0}, rfb.PixelFormatRGB565().Marshal())
}
