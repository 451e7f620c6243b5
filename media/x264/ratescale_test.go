package x264

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestRateScaler(t *testing.T) {
	start := time.Unix(1000, 0)
	tests := []struct {
		name     string
		interval time.Duration
		frames   int
		want     float64 // factor after the run, ±15%
	}{
		{"steady at configured rate", time.Second / 30, 100, 1},
		{"damage burst at 120 fps", time.Second / 120, 100, 0.25},
		{"slow source at 15 fps", time.Second / 15, 100, 2},
		{"idle source clamps", 10 * time.Second, 100, maxFactor},
		{"same timestamps clamp", 0, 100, minFactor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRateScaler(30)
			var f float64
			for i := range tt.frames {
				f = r.observe(start.Add(time.Duration(i) * tt.interval))
			}
			assert.InEpsilon(t, tt.want, f, 0.15)
		})
	}
}

func TestRateScalerHysteresis(t *testing.T) {
	r := newRateScaler(30)
	start := time.Unix(1000, 0)
	// 5% faster than configured: inside the band, x264 is never reconfigured.
	for i := range 200 {
		assert.Equal(t, 1.0, r.observe(start.Add(time.Duration(i)*time.Second*100/3150)))
	}
}
