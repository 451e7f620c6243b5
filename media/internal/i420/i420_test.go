package i420

import (
	"image"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCheck(t *testing.T) {
	good := image.NewYCbCr(image.Rect(0, 0, 64, 32), image.YCbCrSubsampleRatio420)
	short := image.NewYCbCr(image.Rect(0, 0, 64, 32), image.YCbCrSubsampleRatio420)
	short.Cr = short.Cr[:len(short.Cr)-1]
	lying := image.NewYCbCr(image.Rect(0, 0, 64, 32), image.YCbCrSubsampleRatio420)
	lying.YStride = 128
	sub := good.SubImage(image.Rect(2, 2, 34, 18)).(*image.YCbCr)

	tests := []struct {
		name string
		img  *image.YCbCr
		w, h int
		ok   bool
	}{
		{"good", good, 64, 32, true},
		{"sub image", sub, 32, 16, true},
		{"nil", nil, 64, 32, false},
		{"wrong size", good, 32, 32, false},
		{"444", image.NewYCbCr(image.Rect(0, 0, 64, 32), image.YCbCrSubsampleRatio444), 64, 32, false},
		{"short plane", short, 64, 32, false},
		{"stride lies", lying, 64, 32, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(tt.img, tt.w, tt.h)
			if tt.ok {
				assert.NoError(t, err)
			} else {
				assert.Error(t, err)
			}
		})
	}
}
