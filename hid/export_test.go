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

// Held is the dispatcher's tracker state.
func (d *Dispatcher) Held() ([]Usage, Buttons) { return d.tracker.Held() }

// WalkText exposes walkText.
var WalkText = walkText
