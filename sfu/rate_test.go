package sfu

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestRateMeter(t *testing.T) {
	const window = 2 * time.Second
	cases := []struct {
		name      string
		bytesPer  int           // bytes added every step
		step      time.Duration // between adds
		run       time.Duration // how long adds go on
		quiet     time.Duration // then nothing for this long
		want      int           // bits per second
		tolerance float64
	}{
		{"too early to say", 1000, 10 * time.Millisecond, 500 * time.Millisecond, 0, 0, 0},
		{"steady 800 kbit/s", 1000, 10 * time.Millisecond, 5 * time.Second, 0, 800_000, 0.06},
		{"steady 1.5 Mbit/s after half a window", 1875, 10 * time.Millisecond, 1200 * time.Millisecond, 0, 1_500_000, 0.06},
		{"stops: the window empties", 1000, 10 * time.Millisecond, 5 * time.Second, 3 * time.Second, 0, 0},
		{"half a window quiet halves it", 1000, 10 * time.Millisecond, 5 * time.Second, time.Second, 400_000, 0.1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRateMeter(window)
			now := time.Unix(500, 0)
			for end := now.Add(tc.run); now.Before(end); now = now.Add(tc.step) {
				r.add(now, tc.bytesPer)
			}
			now = now.Add(tc.quiet)
			got := r.bitsPerSecond(now)
			if tc.want == 0 {
				assert.Zero(t, got)
				return
			}
			assert.InEpsilon(t, tc.want, got, tc.tolerance)
		})
	}
}
