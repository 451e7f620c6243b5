package media_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/kvmrelay/kvmrelay/media"
)

func TestEncoderConfigDefaults(t *testing.T) {
	tests := []struct {
		name            string
		in              media.EncoderConfig
		start, min, max int
	}{
		{"1080p", media.EncoderConfig{Width: 1920, Height: 1080}, 2_488_320, 150_000, 9_953_280},
		{"720p", media.EncoderConfig{Width: 1280, Height: 720}, 1_105_920, 150_000, 4_423_680},
		{"small picture floor", media.EncoderConfig{Width: 320, Height: 240}, 300_000, 150_000, 1_200_000},
		{"start inside caller max", media.EncoderConfig{Width: 1920, Height: 1080, MaxBitrate: 1_000_000}, 1_000_000, 150_000, 1_000_000},
		{"start inside caller min", media.EncoderConfig{Width: 320, Height: 240, MinBitrate: 500_000}, 500_000, 500_000, 2_000_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.in
			c.Codec = media.CodecH264
			c = c.WithDefaults()
			assert.Equal(t, tt.start, c.StartBitrate)
			assert.Equal(t, tt.min, c.MinBitrate)
			assert.Equal(t, tt.max, c.MaxBitrate)
			assert.Equal(t, media.DefaultFPS, c.FPS)
			assert.Equal(t, media.DefaultKeyframeMinInterval, c.KeyframeMinInterval)
			assert.NotNil(t, c.Clock)
			assert.NoError(t, c.Validate())
		})
	}
}

func TestEncoderConfigValidate(t *testing.T) {
	ok := media.EncoderConfig{Codec: media.CodecVP8, Width: 640, Height: 360}.WithDefaults()
	assert.NoError(t, ok.Validate())
	bad := []func(*media.EncoderConfig){
		func(c *media.EncoderConfig) { c.Codec = "video/AV1" },
		func(c *media.EncoderConfig) { c.Width = 641 },
		func(c *media.EncoderConfig) { c.Height = 0 },
		func(c *media.EncoderConfig) { c.FPS = 1000 },
		func(c *media.EncoderConfig) { c.MinBitrate = c.StartBitrate + 1 },
		func(c *media.EncoderConfig) { c.MaxBitrate = c.StartBitrate - 1 },
		func(c *media.EncoderConfig) { c.Threads = -1 },
	}
	for i, mutate := range bad {
		c := ok
		mutate(&c)
		assert.Error(t, c.Validate(), "case %d", i)
	}
}

func TestClampBitrate(t *testing.T) {
	c := media.EncoderConfig{MinBitrate: 100, MaxBitrate: 1000}
	assert.Equal(t, 100, c.ClampBitrate(10))
	assert.Equal(t, 500, c.ClampBitrate(500))
	assert.Equal(t, 1000, c.ClampBitrate(5000))
}

func TestSystemClock(t *testing.T) {
	var c media.Clock = media.SystemClock{}
	assert.False(t, c.Now().IsZero())
	tm := c.NewTimer(time.Hour)
	assert.True(t, tm.Stop())
	<-c.NewTimer(0).C()
}
