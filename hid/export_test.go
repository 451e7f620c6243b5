package hid

import "context"

// Hooks for the external tests in package hid_test.

// TypeNext types the next queued TEXT in the caller's goroutine; false if none was queued.
func (d *Dispatcher) TypeNext(ctx context.Context) bool {
	select {
	case job := <-d.text:
		d.typeText(ctx, job)
		return true
	default:
		return false
	}
}

// TextQueued is how many TEXT messages wait to be typed.
func (d *Dispatcher) TextQueued() int { return len(d.text) }

// TextQueueCap is the text queue's capacity.
func (d *Dispatcher) TextQueueCap() int { return cap(d.text) }

// Held is what the dispatcher's input path holds (nothing for a seat not in control).
func (d *Dispatcher) Held() ([]Usage, Buttons) { return d.in.held() }

// WalkText exposes walkText.
var WalkText = walkText

// Runes returns every character the layout types, in no particular order.
func (l *Layout) Runes() []rune {
	out := make([]rune, 0, len(l.strokes))
	for r := range l.strokes {
		out = append(out, r)
	}
	return out
}

// Compose returns what the layout's dead key dead then base type.
func (l *Layout) Compose(dead, base uint32) (rune, bool) {
	r, ok := l.compose[[2]uint32{dead, base}]
	return r, ok
}

// KeysymRune exposes keysymRune.
var KeysymRune = keysymRune
