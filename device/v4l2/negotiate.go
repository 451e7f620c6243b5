package v4l2

import (
	"fmt"
	"slices"
	"strings"
)

// interval is a frame period in seconds, as a fraction (1/30, 1001/30000).
type interval struct{ num, den uint32 }

func (i interval) fps() float64 {
	if i.num == 0 {
		return 0
	}
	return float64(i.den) / float64(i.num)
}

// mode is one way a device can capture: a pixel format at a size, with the frame periods it
// offers there. periods is empty when the device does not say.
type mode struct {
	fcc     fourcc
	w, h    int
	periods []interval
}

// choice is the mode picked and the frame period to ask for (zero: leave the device's).
type choice struct {
	mode
	period interval
	rate   float64 // period's rate, 0 when unknown
}

// want is what the spec asks for, with defaults applied.
type want struct {
	format        Format
	width, height int // exact size, or 0
	maxW, maxH    int
	fps           int
}

func wantOf(c Config) want {
	return want{format: c.Format, width: c.Width, height: c.Height, maxW: c.MaxWidth, maxH: c.MaxHeight, fps: c.FPS}
}

// minSmoothFPS is the rate below which a console feels broken: a larger picture is not worth
// going under it (YUYV 1080p at 5 fps on USB 2 dongles, where MJPEG does 30).
const minSmoothFPS = 15

// choose picks the mode to capture in. Explicit format and size are demands; otherwise, in
// order: a smooth frame rate, the largest picture within the bound, the highest rate up to
// the one asked for, the format that costs least CPU.
func choose(modes []mode, w want) (choice, error) {
	var cands []choice
	for _, m := range modes {
		f := formatOf(m.fcc)
		if f == FormatAuto || (w.format == FormatAuto && f == FormatH264) || (w.format != FormatAuto && f != w.format) {
			continue
		}
		p := pickPeriod(m.periods, w.fps)
		cands = append(cands, choice{mode: m, period: p, rate: p.fps()})
	}
	if len(cands) == 0 {
		return choice{}, noFormatError(modes, w.format)
	}
	if w.width > 0 {
		exact := slices.DeleteFunc(slices.Clone(cands), func(c choice) bool { return c.w != w.width || c.h != w.height })
		if len(exact) == 0 {
			return choice{}, fmt.Errorf("v4l2: the device does not capture %dx%d%s; it offers %s", w.width, w.height, formatSuffix(w.format), sizeList(cands))
		}
		cands = exact
	} else {
		within := slices.DeleteFunc(slices.Clone(cands), func(c choice) bool { return c.w > w.maxW || c.h > w.maxH })
		if len(within) > 0 {
			cands = within
		} else { // everything is larger than the bound: the smallest then
			smallest := slices.MinFunc(cands, func(a, b choice) int { return a.w*a.h - b.w*b.h })
			cands = slices.DeleteFunc(cands, func(c choice) bool { return c.w*c.h != smallest.w*smallest.h })
		}
	}
	return slices.MaxFunc(cands, func(a, b choice) int { return better(a, b, w.fps) }), nil
}

// better compares two candidates: positive when a is better.
func better(a, b choice, target int) int {
	smooth := func(c choice) bool { return c.rate == 0 || c.rate >= min(float64(target), minSmoothFPS) }
	capped := func(c choice) float64 {
		if c.rate == 0 {
			return float64(target) // unknown: assume the device keeps up
		}
		return min(c.rate, float64(target))
	}
	switch {
	case smooth(a) != smooth(b):
		if smooth(a) {
			return 1
		}
		return -1
	case a.w*a.h != b.w*b.h:
		return a.w*a.h - b.w*b.h
	case capped(a) != capped(b):
		if capped(a) > capped(b) {
			return 1
		}
		return -1
	}
	// Lower cost wins; on a tie the first listed (the driver's preference) stays.
	return cost(formatOf(b.fcc)) - cost(formatOf(a.fcc))
}

// pickPeriod returns the period of the highest rate up to target, or of the lowest rate
// above it when all are (frames the pipeline drops cost CPU), or zero when there are none.
func pickPeriod(periods []interval, target int) interval {
	var best, lowest interval
	for _, p := range periods {
		r := p.fps()
		if r <= 0 {
			continue
		}
		if r <= float64(target)+0.01 && r > best.fps() {
			best = p
		}
		if lowest.num == 0 || r < lowest.fps() {
			lowest = p
		}
	}
	if best.num == 0 {
		return lowest
	}
	return best
}

func formatSuffix(f Format) string {
	if f == FormatAuto {
		return ""
	}
	return " as " + string(f)
}

func sizeList(cands []choice) string {
	var sizes []string
	for _, c := range cands {
		s := fmt.Sprintf("%dx%d", c.w, c.h)
		if !slices.Contains(sizes, s) {
			sizes = append(sizes, s)
		}
	}
	return strings.Join(sizes, ", ")
}

func noFormatError(modes []mode, f Format) error {
	var have []string
	for _, m := range modes {
		s := m.fcc.String()
		if g := formatOf(m.fcc); g != FormatAuto {
			s = string(g)
		}
		if !slices.Contains(have, s) {
			have = append(have, s)
		}
	}
	offers := "nothing"
	if len(have) > 0 {
		offers = strings.Join(have, ", ")
	}
	if f == FormatAuto && slices.Contains(have, string(FormatH264)) {
		return fmt.Errorf("v4l2: the device offers only %s: add format=h264 to the spec to pass its H.264 through", offers)
	}
	if f == FormatAuto {
		return fmt.Errorf("v4l2: unsupported pixel format: the device offers %s; kvmrelay reads %s", offers, formatList())
	}
	return fmt.Errorf("v4l2: the device does not capture format=%s; it offers %s", f, offers)
}
