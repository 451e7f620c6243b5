package testpattern

import (
	"image"
	"strconv"
	"time"

	"github.com/kvmrelay/kvmrelay/hid"
	"github.com/kvmrelay/kvmrelay/media/internal/glyph"
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
	text   *glyph.Face // bright text
	dim    *glyph.Face // the previous typed line

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
		text:   glyph.New(l.scale, textY, panelY),
		dim:    glyph.New(l.scale, dimY, panelY),
		header: header,
		panel:  yuv{panelY, 128, 128},
		band:   yuv{72, 128, 128},
		bar:    yuv{210, 16, 146},
	}, nil
}

// render brings the picture up to date with in for the next frame, captured at now.
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
		next.cursor = cursorRect(in.x, in.y)
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

func (s *scene) textPanel(clip, panel image.Rectangle, g *glyph.Face, text string) {
	vis := clip.Intersect(panel)
	if vis.Empty() {
		return
	}
	s.c.fill(vis, s.panel)
	g.Draw(s.c.img, panel.Min.Add(image.Pt(s.l.pad, s.l.pad)), text, vis)
}
