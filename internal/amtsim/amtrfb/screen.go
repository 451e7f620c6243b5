package amtrfb

import (
	"image"
	"sync"
)

// Screen is the managed machine as the firmware sees it: its picture and its keyboard and
// mouse. Methods are called from Serve's goroutine; several sessions may share one Screen.
type Screen interface {
	// Snapshot copies the current picture into dst when dst has its size, else into a new
	// image, and returns it. The size may change between calls (a resize).
	Snapshot(dst *image.RGBA) *image.RGBA
	// Changed returns a channel closed at the next change of picture or size after the call.
	Changed() <-chan struct{}
	// KeyEvent presses or releases the key with the X11 keysym.
	KeyEvent(keysym uint32, down bool) error
	// PointerEvent moves the pointer to (x, y) with buttons as RFB's mask.
	PointerEvent(mask uint8, x, y int) error
}

// notifier hands out channels closed at the next notify.
type notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

func (n *notifier) Changed() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

func (n *notifier) notify() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
}

// snapshot copies src into dst (reallocated when the size differs).
func snapshot(dst, src *image.RGBA) *image.RGBA {
	if dst == nil || dst.Rect != src.Rect {
		dst = image.NewRGBA(src.Rect)
	}
	copy(dst.Pix, src.Pix)
	return dst
}

// ImageScreen is a Screen whose picture the caller sets: a test's, or the simulator's when
// the machine shows no real one (graphics off, POST). Input goes to OnKey and OnPointer.
type ImageScreen struct {
	notifier
	mu  sync.Mutex
	img *image.RGBA
	// OnKey and OnPointer receive the input; set them before serving. nil drops it.
	OnKey     func(keysym uint32, down bool)
	OnPointer func(mask uint8, x, y int)
}

// NewImageScreen shows a copy of img.
func NewImageScreen(img *image.RGBA) *ImageScreen {
	return &ImageScreen{img: snapshot(nil, img)}
}

// Draw changes the picture in place (or replaces it, with another size, when f returns a
// non-nil image) and tells the sessions.
func (s *ImageScreen) Draw(f func(img *image.RGBA) *image.RGBA) {
	s.mu.Lock()
	if img := f(s.img); img != nil {
		s.img = img
	}
	s.mu.Unlock()
	s.notify()
}

// Snapshot implements Screen.
func (s *ImageScreen) Snapshot(dst *image.RGBA) *image.RGBA {
	s.mu.Lock()
	defer s.mu.Unlock()
	return snapshot(dst, s.img)
}

// KeyEvent implements Screen.
func (s *ImageScreen) KeyEvent(keysym uint32, down bool) error {
	if s.OnKey != nil {
		s.OnKey(keysym, down)
	}
	return nil
}

// PointerEvent implements Screen.
func (s *ImageScreen) PointerEvent(mask uint8, x, y int) error {
	if s.OnPointer != nil {
		s.OnPointer(mask, x, y)
	}
	return nil
}
