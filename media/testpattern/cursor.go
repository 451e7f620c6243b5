package testpattern

import (
	"image"

	"github.com/kvmrelay/kvmrelay/hid"
)

// cursorHalf is half the side of the pointer mark.
const cursorHalf = 20

func cursorRect(x, y int) image.Rectangle {
	return evenOut(image.Rect(x-cursorHalf, y-cursorHalf, x+cursorHalf, y+cursorHalf))
}

// cursor draws the pointer mark: a white square ring with a black outline and a black centre
// dot, filled with the colour of the lowest pressed button.
func (s *scene) cursor(clip, r image.Rectangle, b hid.Buttons) {
	black, white := yuv{0, 128, 128}, yuv{255, 128, 128}
	s.c.frameRect(r, 2, black, clip)
	s.c.frameRect(r.Inset(2), 4, white, clip)
	if b != 0 {
		inner := r.Inset(6)
		s.c.fill(inner.Intersect(clip), buttonColor(b))
	}
	mid := image.Pt((r.Min.X+r.Max.X)/2, (r.Min.Y+r.Max.Y)/2)
	s.c.fill(image.Rect(mid.X-2, mid.Y-2, mid.X+2, mid.Y+2).Intersect(clip), black)
}

func buttonColor(b hid.Buttons) yuv {
	switch {
	case b&hid.ButtonLeft != 0:
		return yuv{81, 90, 240} // red
	case b&hid.ButtonRight != 0:
		return yuv{145, 54, 34} // green
	case b&hid.ButtonMiddle != 0:
		return yuv{41, 240, 110} // blue
	default:
		return yuv{106, 202, 222} // magenta: back, forward
	}
}
