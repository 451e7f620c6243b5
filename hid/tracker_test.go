package hid_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/hid"
	"github.com/kvmrelay/kvmrelay/hid/hidtest"
)

const (
	usageDelete = hid.UsageDelete
	usageA      = hid.UsageA
	ctrl        = hid.UsageLeftCtrl
	alt         = hid.UsageLeftAlt
	shift       = hid.UsageLeftShift
)

var (
	down = hidtest.Down
	up   = hidtest.Up
)

func abs(x, y int, b hid.Buttons) hidtest.Event {
	return hidtest.Pointer(hid.PointerEvent{Absolute: true, X: x, Y: y, Buttons: b})
}

func TestTrackerIdempotentKeys(t *testing.T) {
	rec := hidtest.NewRecorder()
	tr := hid.NewTracker(rec)
	for _, step := range []struct {
		u    hid.Usage
		down bool
	}{{usageA, true}, {usageA, true}, {usageA, false}, {usageA, false}, {hid.UsageZ, false}} {
		require.NoError(t, tr.Key(step.u, step.down))
	}
	assert.Equal(t, []hidtest.Event{down(usageA), up(usageA)}, rec.Events())
	require.ErrorIs(t, tr.Key(0x100, true), hid.ErrOutOfRange)
}

func TestTrackerReleaseAllModifiersLast(t *testing.T) {
	rec := hidtest.NewRecorder()
	tr := hid.NewTracker(rec)
	for _, u := range []hid.Usage{ctrl, alt, usageDelete, usageA} {
		require.NoError(t, tr.Key(u, true))
	}
	require.NoError(t, tr.SetButtonsAt(hid.ButtonLeft|hid.ButtonRight, 10, 20))
	keys, buttons := tr.Held()
	assert.Equal(t, []hid.Usage{usageA, usageDelete, ctrl, alt}, keys)
	assert.Equal(t, hid.ButtonLeft|hid.ButtonRight, buttons)
	rec.Take()

	require.NoError(t, tr.ReleaseAll())
	assert.Equal(t, []hidtest.Event{up(usageA), up(usageDelete), abs(10, 20, 0), up(ctrl), up(alt)}, rec.Take())
	keys, buttons = tr.Held()
	assert.Empty(t, keys)
	assert.Zero(t, buttons)

	require.NoError(t, tr.ReleaseAll())
	assert.Empty(t, rec.Take(), "nothing held, nothing sent")
}

func TestTrackerSinkErrorsKeepKeysHeld(t *testing.T) {
	rec := hidtest.NewRecorder()
	tr := hid.NewTracker(rec)
	broken := errors.New("gadget gone")

	rec.Fail(broken)
	require.ErrorIs(t, tr.Key(ctrl, true), broken, "a failed down may still have pressed the key")
	require.ErrorIs(t, tr.Key(ctrl, false), broken)
	require.ErrorIs(t, tr.SetButtons(hid.ButtonLeft), broken)
	require.ErrorIs(t, tr.ReleaseAll(), broken)
	keys, buttons := tr.Held()
	assert.Equal(t, []hid.Usage{ctrl}, keys, "a failed up keeps the key for the next release")
	assert.Equal(t, hid.ButtonLeft, buttons)

	rec.Fail(nil)
	rec.Take()
	require.NoError(t, tr.ReleaseAll())
	assert.Equal(t, []hidtest.Event{
		hidtest.Pointer(hid.PointerEvent{}), up(ctrl),
	}, rec.Take())
}

func TestTrackerPositionForEventsWithout(t *testing.T) {
	rec := hidtest.NewRecorder()
	tr := hid.NewTracker(rec)
	require.NoError(t, tr.MoveAbs(100, 200))
	require.NoError(t, tr.SetButtons(hid.ButtonLeft))
	require.NoError(t, tr.Wheel(0, 1))
	require.NoError(t, tr.MoveAbs(300, 400))
	require.NoError(t, tr.MoveRel(hid.ButtonLeft, 5, -3))
	require.NoError(t, tr.Wheel(-1, 0))
	require.NoError(t, tr.SetButtons(0))
	assert.Equal(t, []hidtest.Event{
		abs(100, 200, 0),
		abs(100, 200, hid.ButtonLeft),
		hidtest.Pointer(hid.PointerEvent{Absolute: true, X: 100, Y: 200, Buttons: hid.ButtonLeft, WheelY: 1}),
		abs(300, 400, hid.ButtonLeft), // a move keeps the held buttons: dragging
		hidtest.Pointer(hid.PointerEvent{DX: 5, DY: -3, Buttons: hid.ButtonLeft}),
		hidtest.Pointer(hid.PointerEvent{Buttons: hid.ButtonLeft, WheelX: -1}),
		hidtest.Pointer(hid.PointerEvent{}),
	}, rec.Events())
}

func TestTrackerClose(t *testing.T) {
	rec := hidtest.NewRecorder()
	tr := hid.NewTracker(rec)
	require.NoError(t, tr.Key(ctrl, true))
	require.NoError(t, tr.SetButtonsAt(hid.ButtonMiddle, 1, 2))
	rec.Take()

	require.NoError(t, tr.Close())
	assert.Equal(t, []hidtest.Event{abs(1, 2, 0), up(ctrl)}, rec.Take())

	require.ErrorIs(t, tr.Key(ctrl, true), hid.ErrClosed)
	require.ErrorIs(t, tr.SetButtons(hid.ButtonLeft), hid.ErrClosed)
	require.ErrorIs(t, tr.MoveAbs(5, 5), hid.ErrClosed)
	require.NoError(t, tr.Key(ctrl, false), "an up for a key not held is dropped, closed or not")
	assert.Empty(t, rec.Events())
}
