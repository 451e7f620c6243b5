package v4l2

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/device"
)

func fps(rates ...uint32) []interval {
	out := make([]interval, len(rates))
	for i, r := range rates {
		out[i] = interval{1, r}
	}
	return out
}

// usb2Dongle is what an MS2109-class USB 2 HDMI dongle enumerates: MJPEG fast at every size,
// YUYV only slow at large sizes (the bus cannot carry more).
var usb2Dongle = []mode{
	{fcc: fccMJPG, w: 1920, h: 1080, periods: fps(60, 30)},
	{fcc: fccMJPG, w: 1280, h: 720, periods: fps(60, 30)},
	{fcc: fccMJPG, w: 640, h: 480, periods: fps(30)},
	{fcc: fccYUYV, w: 1920, h: 1080, periods: fps(5)},
	{fcc: fccYUYV, w: 1280, h: 720, periods: fps(10)},
	{fcc: fccYUYV, w: 640, h: 480, periods: fps(30)},
	{fcc: fcc("RGB3"), w: 640, h: 480, periods: fps(30)},
}

func TestChoose(t *testing.T) {
	def := want{maxW: 1920, maxH: 1080, fps: 30}
	with := func(f func(*want)) want { w := def; f(&w); return w }
	tests := []struct {
		name    string
		modes   []mode
		want    want
		fcc     fourcc
		w, h    int
		rate    float64
		errLike string
	}{
		{name: "1080p dongle takes MJPEG", modes: usb2Dongle, want: def, fcc: fccMJPG, w: 1920, h: 1080, rate: 30},
		{name: "small size takes raw", modes: usb2Dongle, want: with(func(w *want) { w.width, w.height = 640, 480 }), fcc: fccYUYV, w: 640, h: 480, rate: 30},
		{name: "raw asked, smooth size", modes: usb2Dongle, want: with(func(w *want) { w.format = FormatYUYV }), fcc: fccYUYV, w: 640, h: 480, rate: 30},
		{name: "raw asked at a size", modes: usb2Dongle, want: with(func(w *want) { w.format, w.width, w.height = FormatYUYV, 1280, 720 }), fcc: fccYUYV, w: 1280, h: 720, rate: 10},
		{name: "bound to 720p", modes: usb2Dongle, want: with(func(w *want) { w.maxW, w.maxH = 1280, 720 }), fcc: fccMJPG, w: 1280, h: 720, rate: 30},
		{name: "low fps makes raw smooth enough", modes: usb2Dongle, want: with(func(w *want) { w.maxW, w.maxH, w.fps = 1280, 720, 10 }), fcc: fccYUYV, w: 1280, h: 720, rate: 10},
		{name: "fps=60 takes 60", modes: usb2Dongle, want: with(func(w *want) { w.fps = 60 }), fcc: fccMJPG, w: 1920, h: 1080, rate: 60},
		{name: "all larger than the bound: smallest", modes: []mode{{fcc: fccYUYV, w: 3840, h: 2160}, {fcc: fccYUYV, w: 2560, h: 1440}}, want: def, fcc: fccYUYV, w: 2560, h: 1440},
		{name: "NV12 beats YUYV at equal size", modes: []mode{{fcc: fccYUYV, w: 1280, h: 720}, {fcc: fccNV12, w: 1280, h: 720}}, want: def, fcc: fccNV12, w: 1280, h: 720},
		{name: "h264 only when asked", modes: []mode{{fcc: fccH264, w: 1920, h: 1080, periods: fps(30)}, {fcc: fccMJPG, w: 1920, h: 1080, periods: fps(30)}}, want: def, fcc: fccMJPG, w: 1920, h: 1080, rate: 30},
		{name: "h264 asked", modes: []mode{{fcc: fccH264, w: 1920, h: 1080, periods: fps(30)}, {fcc: fccMJPG, w: 1920, h: 1080, periods: fps(30)}}, want: with(func(w *want) { w.format = FormatH264 }), fcc: fccH264, w: 1920, h: 1080, rate: 30},
		{name: "size not offered", modes: usb2Dongle, want: with(func(w *want) { w.width, w.height = 800, 600 }), errLike: "does not capture 800x600; it offers 1920x1080, 1280x720, 640x480"},
		{name: "format not offered", modes: usb2Dongle, want: with(func(w *want) { w.format = FormatNV12 }), errLike: "does not capture format=nv12; it offers mjpeg, yuyv, RGB3"},
		{name: "nothing readable", modes: []mode{{fcc: fcc("RGB3")}, {fcc: fcc("BGR3")}}, want: def, errLike: "unsupported pixel format: the device offers RGB3, BGR3"},
		{name: "only h264 suggests asking for it", modes: []mode{{fcc: fccH264, w: 1920, h: 1080}}, want: def, errLike: "add format=h264"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch, err := choose(tt.modes, tt.want)
			if tt.errLike != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.errLike)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.fcc.String(), ch.fcc.String())
			assert.Equal(t, [2]int{tt.w, tt.h}, [2]int{ch.w, ch.h})
			assert.InDelta(t, tt.rate, ch.rate, 0.01)
		})
	}
}

func TestPickPeriod(t *testing.T) {
	assert.Equal(t, interval{1, 30}, pickPeriod(fps(60, 30, 15), 30))
	assert.Equal(t, interval{1001, 30000}, pickPeriod([]interval{{1, 60}, {1001, 30000}}, 30), "29.97 counts as 30")
	assert.Equal(t, interval{1, 50}, pickPeriod(fps(60, 50), 30), "all too fast: the slowest")
	assert.Equal(t, interval{}, pickPeriod(nil, 30))
	assert.Equal(t, interval{}, pickPeriod([]interval{{0, 30}}, 30), "a zero period is ignored")
}

func TestParseSpec(t *testing.T) {
	opts := device.Options{Width: 1280, Height: 720, FPS: 25}
	tests := []struct {
		spec    string
		want    Config
		errLike string
	}{
		{spec: "v4l2", want: Config{MaxWidth: 1280, MaxHeight: 720, FPS: 25}},
		{spec: "v4l2:///dev/video2", want: Config{Path: "/dev/video2", MaxWidth: 1280, MaxHeight: 720, FPS: 25}},
		{spec: "v4l2:/dev/video2", want: Config{Path: "/dev/video2", MaxWidth: 1280, MaxHeight: 720, FPS: 25}},
		{spec: "v4l2:///dev/v4l/by-id/usb-MACROSILICON_USB_Video-video-index0?size=1920x1080&fps=60&format=MJPEG",
			want: Config{Path: "/dev/v4l/by-id/usb-MACROSILICON_USB_Video-video-index0", Width: 1920, Height: 1080, MaxWidth: 1920, MaxHeight: 1080, FPS: 60, Format: FormatMJPEG}},
		{spec: "v4l2:///dev/video0?format=yu12", want: Config{Path: "/dev/video0", MaxWidth: 1280, MaxHeight: 720, FPS: 25, Format: FormatI420}},
		{spec: "v4l2://dev/video0", errLike: "three slashes"},
		{spec: "v4l2:video0", errLike: "must be absolute"},
		{spec: "v4l2:///dev/video0?size=1920", errLike: "WIDTHxHEIGHT"},
		{spec: "v4l2:///dev/video0?fps=0", errLike: "1 to 240"},
		{spec: "v4l2:///dev/video0?format=rgb", errLike: "mjpeg|yuyv|uyvy|nv12|i420|h264"},
		{spec: "v4l2:///dev/video0?resolution=1080p", errLike: `unknown parameter "resolution"`},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			u, err := device.ParseSpec(tt.spec)
			require.NoError(t, err)
			cfg, err := ParseSpec(u, opts)
			if tt.errLike != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.errLike)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, cfg)
		})
	}
}

func TestConfigString(t *testing.T) {
	u, _ := url.Parse("v4l2:///dev/video0?size=1280x720&format=yuyv&fps=30")
	cfg, err := ParseSpec(u, device.Options{})
	require.NoError(t, err)
	assert.Equal(t, "v4l2:///dev/video0?size=1280x720&format=yuyv", cfg.String())
	assert.Equal(t, "v4l2:///dev/video0", Config{}.withDefaults().String())
}
