package rfb

import (
	"fmt"
	"image"
)

// EventKind says what a server message was.
type EventKind int

// Server messages as ReadMessage reports them.
const (
	// EventUpdate: a FramebufferUpdate was drawn into the framebuffer.
	EventUpdate EventKind = iota + 1
	// EventBell: the server rang the bell.
	EventBell
	// EventCutText: the server's clipboard changed.
	EventCutText
	// EventColourMap: SetColourMapEntries, which a true-colour client ignores.
	EventColourMap
)

// Event is one server message, already applied to the framebuffer.
type Event struct {
	Kind EventKind
	// Damage lists the framebuffer rectangles an update changed, in order (all of it after a
	// resize). Valid until the next ReadMessage.
	Damage []image.Rectangle
	// Resized: the framebuffer changed size before or during this update.
	Resized bool
	// CursorChanged: the update carried a new cursor shape (Client.Cursor).
	CursorChanged bool
	// Text is the clipboard text of EventCutText, empty when it was longer than MaxCutText:
	// each byte one rune (Latin-1), NULs included, so Intel AMT's extensions (text starting
	// with NUL) arrive whole; CutTextBytes, ParseKvmData and ParseKvmExtCmd read them.
	Text string
}

// Pseudo-encodings (negative numbers carry metadata rather than pixels).
const (
	EncodingCursor              int32 = -239
	EncodingDesktopSize         int32 = -223
	EncodingLastRect            int32 = -224
	EncodingExtendedDesktopSize int32 = -308
)

// maxRects bounds the damage list of one update: an update of more rectangles (LastRect lets
// a server send any number) reports the bounding box instead.
const maxRects = 1024

// ReadMessage reads one server message and applies it. The caller answers updates with the
// next FramebufferUpdateRequest (typically at its start: see OnUpdateStart).
func (c *Client) ReadMessage() (Event, error) {
	return c.readMessage(nil)
}

// ReadMessageFunc is ReadMessage with a hook called when a FramebufferUpdate's header has
// arrived, before its rectangles are decoded: the place to send the next request so the
// server can prepare it while this one is drawn.
func (c *Client) ReadMessageFunc(onUpdateStart func()) (Event, error) {
	return c.readMessage(onUpdateStart)
}

func (c *Client) readMessage(onUpdateStart func()) (Event, error) {
	// A clean EOF here is the server closing between messages: io.EOF, not unexpected.
	t, err := c.r.r.ReadByte()
	if err != nil {
		return Event{}, fmt.Errorf("rfb: read message: %w", err)
	}
	c.r.n++
	switch t {
	case msgFramebufferUpdate:
		if onUpdateStart != nil {
			onUpdateStart()
		}
		return c.readUpdate()
	case msgSetColourMapEntries:
		b, err := c.r.Next(5)
		if err != nil {
			return Event{}, fmt.Errorf("rfb: read colour map: %w", err)
		}
		n := int(b[3])<<8 | int(b[4])
		if err := c.r.Discard(int64(n) * 6); err != nil {
			return Event{}, fmt.Errorf("rfb: read colour map: %w", err)
		}
		return Event{Kind: EventColourMap}, nil
	case msgBell:
		return Event{Kind: EventBell}, nil
	case msgServerCutText:
		if _, err := c.r.Next(3); err != nil {
			return Event{}, fmt.Errorf("rfb: read cut text: %w", err)
		}
		n, err := c.r.U32()
		if err != nil {
			return Event{}, fmt.Errorf("rfb: read cut text: %w", err)
		}
		if int64(n) > int64(c.cfg.MaxCutText) {
			if err := c.r.Discard(int64(n)); err != nil {
				return Event{}, fmt.Errorf("rfb: read cut text: %w", err)
			}
			return Event{Kind: EventCutText}, nil
		}
		b, err := c.r.Next(int(n))
		if err != nil {
			return Event{}, fmt.Errorf("rfb: read cut text: %w", err)
		}
		return Event{Kind: EventCutText, Text: latin1(b)}, nil
	}
	return Event{}, protoErr("unknown message type %d", t)
}

func latin1(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

func (c *Client) readUpdate() (Event, error) {
	b, err := c.r.Next(3)
	if err != nil {
		return Event{}, fmt.Errorf("rfb: read update: %w", err)
	}
	n := int(b[1])<<8 | int(b[2])
	ev := Event{Kind: EventUpdate}
	st := &DecodeState{R: c.r, Pixels: c.px}
	for i := 0; i < n; i++ {
		h, err := c.r.Next(12)
		if err != nil {
			return Event{}, fmt.Errorf("rfb: read rectangle header: %w", err)
		}
		x, y := int(h[0])<<8|int(h[1]), int(h[2])<<8|int(h[3])
		w, hh := int(h[4])<<8|int(h[5]), int(h[6])<<8|int(h[7])
		enc := int32(uint32(h[8])<<24 | uint32(h[9])<<16 | uint32(h[10])<<8 | uint32(h[11]))
		r := image.Rect(x, y, x+w, y+hh)
		switch enc {
		case EncodingLastRect:
			return c.finish(ev), nil
		case EncodingDesktopSize:
			if err := c.serverResize(&ev, w, hh); err != nil {
				return Event{}, err
			}
			continue
		case EncodingExtendedDesktopSize:
			if err := c.extendedDesktopSize(&ev, x, y, w, hh); err != nil {
				return Event{}, err
			}
			continue
		case EncodingCursor:
			if err := c.readCursor(x, y, w, hh); err != nil {
				return Event{}, err
			}
			ev.CursorChanged = true
			continue
		}
		// Checked by coordinates: an empty rectangle is "in" any other for image.Rectangle,
		// yet decoders still walk its rows.
		if x+w > c.fb.Rect.Dx() || y+hh > c.fb.Rect.Dy() {
			return Event{}, protoErr("rectangle %v (encoding %d) outside the %dx%d framebuffer", r, enc, c.fb.Rect.Dx(), c.fb.Rect.Dy())
		}
		d, ok := c.decoders[enc]
		if !ok {
			return Event{}, protoErr("rectangle in encoding %d, which the client did not offer", enc)
		}
		st.FB = c.fb
		if err := d.Decode(st, r); err != nil {
			return Event{}, fmt.Errorf("rfb: decode %s rectangle %v: %w", encodingName(enc), r, err)
		}
		if !r.Empty() {
			ev.Damage = append(ev.Damage, r)
		}
	}
	return c.finish(ev), nil
}

// finish bounds the damage list and makes a resize damage everything.
func (c *Client) finish(ev Event) Event {
	if ev.Resized {
		ev.Damage = append(ev.Damage[:0], c.fb.Rect)
		return ev
	}
	if len(ev.Damage) > maxRects {
		u := ev.Damage[0]
		for _, r := range ev.Damage[1:] {
			u = u.Union(r)
		}
		ev.Damage = append(ev.Damage[:0], u)
	}
	return ev
}

func (c *Client) serverResize(ev *Event, w, h int) error {
	if err := c.checkSize(w, h); err != nil {
		return err
	}
	if w != c.fb.Rect.Dx() || h != c.fb.Rect.Dy() {
		c.resize(w, h)
		ev.Resized = true
	}
	return nil
}

// extendedDesktopSize reads an ExtendedDesktopSize rectangle: x is the reason, y the status
// (non-zero answers a resize request of ours that failed: the size did not change).
func (c *Client) extendedDesktopSize(ev *Event, reason, status, w, h int) error {
	b, err := c.r.Next(4)
	if err != nil {
		return fmt.Errorf("rfb: read screen layout: %w", err)
	}
	if err := c.r.Discard(int64(b[0]) * 16); err != nil {
		return fmt.Errorf("rfb: read screen layout: %w", err)
	}
	_ = reason
	if status != 0 {
		return nil
	}
	return c.serverResize(ev, w, h)
}

func encodingName(enc int32) string {
	switch enc {
	case EncodingRaw:
		return "Raw"
	case EncodingCopyRect:
		return "CopyRect"
	case EncodingHextile:
		return "Hextile"
	case EncodingZRLE:
		return "ZRLE or AMT encoding 16"
	}
	return fmt.Sprintf("encoding %d", enc)
}
