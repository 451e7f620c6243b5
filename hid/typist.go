package hid

import (
	"context"
	"errors"
)

// textJob is one TEXT message waiting to be typed; gen is the Dispatcher's cancel generation
// when it arrived.
type textJob struct {
	text string
	gen  uint64
}

// typeText types one TEXT message stroke by stroke, stopping at the first release-all,
// silence, Close, context end or sink error.
func (d *Dispatcher) typeText(ctx context.Context, job textJob) {
	live := func() bool { return d.gen.Load() == job.gen && ctx.Err() == nil }
	if !live() {
		d.stats.TextCanceled.Add(1)
		return
	}
	// Keys the person still holds (the Ctrl of the Ctrl+V that sent this text) would turn the
	// text into shortcuts.
	d.sinkError(d.in.releaseAll())
	var failed error
	typed, skipped, done := walkText(d.layout.Load(), job.text, func(s Stroke) bool {
		if err := d.stroke(live, s); err != nil {
			if !errors.Is(err, errCanceled) && !errors.Is(err, ErrClosed) {
				failed = err
			}
			return false
		}
		return true
	})
	d.stats.TextTyped.Add(uint64(typed))
	d.stats.TextSkipped.Add(uint64(skipped))
	if done {
		return
	}
	d.stats.TextCanceled.Add(1)
	if failed != nil {
		// Give up on this text rather than type it with holes; leave nothing pressed.
		d.sinkError(failed)
		d.sinkError(d.in.releaseAll())
	}
}

// stroke presses and releases one key, with Shift and AltGr (Right Alt) around it as needed.
func (d *Dispatcher) stroke(live func() bool, s Stroke) error {
	type step struct {
		u    Usage
		down bool
	}
	var steps [6]step
	n := 0
	add := func(u Usage, down bool) { steps[n] = step{u, down}; n++ }
	if s.Shift {
		add(UsageLeftShift, true)
	}
	if s.AltGr {
		add(UsageRightAlt, true)
	}
	add(s.Usage, true)
	add(s.Usage, false)
	if s.AltGr {
		add(UsageRightAlt, false)
	}
	if s.Shift {
		add(UsageLeftShift, false)
	}
	for _, st := range steps[:n] {
		if err := d.in.keyIf(live, st.u, st.down); err != nil {
			return err
		}
	}
	return nil
}
