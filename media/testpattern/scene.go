package testpattern

import (
	"image"
	"strconv"
	"time"

	"github.com/kvmrelay/kvmrelay/hid"
)

// scene draws frames into one persistent I420 buffer and, after the first frame, repaints
// only the rectangles whose content changed. repaint composes a rectangle from scratch
// (background, panels, bar, cursor) and never touches the strip, which is drawn last and on
// its own.
type scene struct {
	c      *canvas
	l      layout
	bg     *background
	motion Motion
	text   *glyphs // bright text
	dim    *glyphs // the previous typed line

	header string
	frame  uint64
	inSeq  uint64 // input change the texts below were made for
	keys   string
	ptr    string
	line   string
	drawn  drawnState // what the buffer shows now
	dirty  []image.Rectangle
	buf    []byte // scratch for the counter text
	panel  yuv
	band   yuv
	bar    yuv
}

// drawnState is what the picture currently shows; comparing it with the next input finds
// the damage.
type drawnState struct {
	valid                        bool
	strip                        uint16
	counter, keys, pointer, prev string
	line                         string
	bar                          image.Rectangle
	cursor                       image.Rectangle // empty: no cursor
	buttons                      hid.Buttons
}

const cursorHalf = 20

func newScene(w, h, fps, maxFPS int, motion Motion) (*scene, error) {
	header := "kvmrelay test pattern " + strconv.Itoa(w) + "x" + strconv.Itoa(h) + " " +
		strconv.Itoa(fps) + "/" + strconv.Itoa(maxFPS) + " fps"
	l, err := newLayout(w, h, header)
	if err != nil {
		return nil, err
	}
	const panelY, textY, dimY = 16, 235, 140
	return &scene{
		c:      newCanvas(w, h),
		l:      l,
		bg:     newBackground(w, h, l, motion == MotionFull),
		motion: motion,
		text:   newGlyphs(l.scale, textY, panelY),
		dim:    newGlyphs(l.scale, dimY, panelY),
		header: header,
		panel:  yuv{panelY, 128, 128},
		band:   yuv{72, 128, 128},
		bar:    yuv{210, 16, 146},
	}, nil
}

// render brings the picture up to date with in, as frame number n+1 shown at now.
func (s *scene) render(in *inputState, now time.Time) *image.YCbCr {
	s.frame++
	if s.frame == 1 || in.seq != s.inSeq {
		s.inSeq = in.seq
		s.keys, s.ptr, s.line = keysText(in), pointerText(in), "> "+in.line+"_"
	}
	next := drawnState{
		valid:   true,
		strip:   uint16(in.keyDowns),
		counter: s.counterText(now),
		keys:    s.keys,
		pointer: s.ptr,
		prev:    in.prev,
		line:    s.line,
		buttons: in.buttons,
	}
	if s.motion != MotionNone {
		next.bar = s.l.barRect(s.frame)
	} else {
		next.bar = s.l.barRect(0)
	}
	if in.pointerSet {
		next.cursor = evenOut(image.Rect(in.x-cursorHalf, in.y-cursorHalf, in.x+cursorHalf, in.y+cursorHalf))
	}

	old := s.drawn
	s.drawn = next // repaint draws from s.drawn
	s.dirty = s.dirty[:0]
	full := !old.valid || s.motion == MotionFull
	if full {
		s.bg.advance(s.frame)
		s.dirty = append(s.dirty, s.c.bounds())
	} else {
		s.damage(old.counter != next.counter, s.l.counter)
		s.damage(old.keys != next.keys, s.l.keys)
		s.damage(old.pointer != next.pointer, s.l.pointer)
		s.damage(old.prev != next.prev, s.l.prev)
		s.damage(old.line != next.line, s.l.line)
		s.damage(old.bar != next.bar, old.bar, next.bar)
		s.damage(old.cursor != next.cursor || old.buttons != next.buttons, old.cursor, next.cursor)
	}
	for _, r := range s.dirty {
		s.repaint(r)
	}
	drawStrip(s.c, old.strip, next.strip, full)
	return s.c.img
}

func (s *scene) damage(changed bool, rs ...image.Rectangle) {
	if !changed {
		return
	}
	for _, r := range rs {
		if !r.Empty() {
			s.dirty = append(s.dirty, r)
		}
	}
}

// repaint composes r from scratch, except the strip.
func (s *scene) repaint(r image.Rectangle) {
	r = evenOut(r).Intersect(s.c.bounds())
	strip := StripRect()
	if !r.Overlaps(strip) {
		s.compose(r)
		return
	}
	// r minus the strip (which sits in the top-left corner): below it, and right of it.
	s.compose(r.Intersect(image.Rect(0, strip.Max.Y, s.c.w, s.c.h)))
	s.compose(r.Intersect(image.Rect(strip.Max.X, 0, s.c.w, strip.Max.Y)))
}

func (s *scene) compose(r image.Rectangle) {
	if r.Empty() {
		return
	}
	s.bg.paint(s.c, r)
	d := &s.drawn
	s.textPanel(r, s.l.header, s.text, s.header)
	s.textPanel(r, s.l.counter, s.text, d.counter)
	s.textPanel(r, s.l.keys, s.text, d.keys)
	s.textPanel(r, s.l.pointer, s.text, d.pointer)
	s.textPanel(r, s.l.prev, s.dim, d.prev)
	s.textPanel(r, s.l.line, s.text, d.line)
	if r.Overlaps(s.l.band) {
		s.c.fill(r.Intersect(s.l.band), s.band)
		s.c.fill(r.Intersect(d.bar), s.bar)
	}
	if !d.cursor.Empty() && r.Overlaps(d.cursor) {
		s.cursor(r, d.cursor, d.buttons)
	}
}

func (s *scene) textPanel(clip, panel image.Rectangle, g *glyphs, text string) {
	vis := clip.Intersect(panel)
	if vis.Empty() {
		return
	}
	s.c.fill(vis, s.panel)
	g.draw(s.c, panel.Min.Add(image.Pt(s.l.pad, s.l.pad)), text, vis)
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

// counterText is "frame NNNNNNNN  HH:MM:SS.mmm", built without allocating but for the
// string itself.
func (s *scene) counterText(now time.Time) string {
	b := append(s.buf[:0], "frame "...)
	b = appendPadded(b, s.frame%100_000_000, 8)
	b = append(b, "  "...)
	b = now.AppendFormat(b, "15:04:05.000")
	s.buf = b
	return string(b)
}

func keysText(in *inputState) string {
	b := make([]byte, 0, keysChars)
	b = append(b, "keys "...)
	b = appendPadded(b, in.keyDowns%100_000, 5)
	b = append(b, "  mods "...)
	for i, c := range []byte("CSAG") {
		// Left or right modifier of the kind: bits i and i+4.
		if in.mods&(1<<i|1<<(i+4)) != 0 {
			b = append(b, c)
		} else {
			b = append(b, '-')
		}
	}
	b = append(b, "  buttons "...)
	for i, c := range []byte("LRMBF") {
		if in.buttons&(1<<i) != 0 {
			b = append(b, c)
		} else {
			b = append(b, '-')
		}
	}
	return string(b)
}

func pointerText(in *inputState) string {
	b := make([]byte, 0, pointerChars)
	b = append(b, "pointer "...)
	if in.pointerSet {
		b = strconv.AppendInt(b, int64(in.x), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(in.y), 10)
	} else {
		b = append(b, "-,-"...)
	}
	b = append(b, "  wheel "...)
	b = strconv.AppendInt(b, int64(in.wheelX), 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(in.wheelY), 10)
	return string(b)
}

func appendPadded(b []byte, v uint64, width int) []byte {
	var digits [20]byte
	d := strconv.AppendUint(digits[:0], v, 10)
	for range width - len(d) {
		b = append(b, '0')
	}
	return append(b, d...)
}
