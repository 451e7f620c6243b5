package usbgadget

import (
	"encoding/binary"

	"github.com/kvmrelay/kvmrelay/hid"
)

// Report lengths. The mice carry a horizontal pan byte after the boot fields; a gadget whose
// report is shorter (PiKVM without horizontal_wheel) keeps the prefix: the kernel truncates a
// write to the function's report_length.
const (
	keyboardReportLen = 8 // modifiers, reserved, 6 key slots
	absoluteReportLen = 7 // buttons, X u16 LE, Y u16 LE, wheel i8, pan i8
	relativeReportLen = 5 // buttons, dX i8, dY i8, wheel i8, pan i8
)

// errorRollOver fills every key slot when more keys are held than the report has slots (HID
// 1.11 Appendix C: the keyboard reports a phantom state, not a guess).
const errorRollOver = 0x01

// keySlots is how many keys one boot report carries.
const keySlots = 6

// keyboard is the state a boot keyboard reports: the modifier bitmap and the other held keys in
// the order they were pressed.
type keyboard struct {
	mods uint8
	held []hid.Usage // distinct non-modifier usages ≤ 0xFF, so at most 256
}

// set records a press or release. It reports whether the state changed.
func (k *keyboard) set(u hid.Usage, down bool) bool {
	if u.IsModifier() {
		bit := uint8(1) << (u - hid.UsageLeftCtrl)
		was := k.mods
		if down {
			k.mods |= bit
		} else {
			k.mods &^= bit
		}
		return k.mods != was
	}
	for i, h := range k.held {
		if h == u {
			if !down {
				k.held = append(k.held[:i], k.held[i+1:]...)
			}
			return !down
		}
	}
	if down {
		k.held = append(k.held, u)
	}
	return down
}

// report encodes the state as the 8-byte boot keyboard input report.
func (k *keyboard) report() [keyboardReportLen]byte {
	r := [keyboardReportLen]byte{0: k.mods}
	if len(k.held) > keySlots {
		for i := 2; i < keyboardReportLen; i++ {
			r[i] = errorRollOver
		}
		return r
	}
	for i, u := range k.held {
		r[2+i] = byte(u)
	}
	return r
}

// maxDelta bounds the motion and wheel steps of one event, so that one event never becomes more
// than a few hundred reports.
const maxDelta = 1 << 15

// step takes at most ±127 from *rest and returns it: a relative field is one signed byte.
func step(rest *int) int8 {
	s := max(-127, min(127, *rest))
	*rest -= s
	return int8(s)
}

func clampDelta(v int) int { return max(-maxDelta, min(maxDelta, v)) }

// absoluteReports encodes an absolute pointer state as reports, more than one when the wheel
// moves more than one report can carry. HID wheels count up as positive; ours scroll down.
func absoluteReports(b hid.Buttons, x, y, wheelX, wheelY int) [][absoluteReportLen]byte {
	x, y = max(0, min(hid.AbsMax, x)), max(0, min(hid.AbsMax, y))
	wx, wy := clampDelta(wheelX), -clampDelta(wheelY)
	var out [][absoluteReportLen]byte
	for first := true; first || wx != 0 || wy != 0; first = false {
		var r [absoluteReportLen]byte
		r[0] = byte(b & hid.ButtonsValid)
		binary.LittleEndian.PutUint16(r[1:], uint16(x))
		binary.LittleEndian.PutUint16(r[3:], uint16(y))
		r[5] = byte(step(&wy))
		r[6] = byte(step(&wx))
		out = append(out, r)
	}
	return out
}

// relativeReports encodes relative motion as reports of at most ±127 per field.
func relativeReports(b hid.Buttons, dx, dy, wheelX, wheelY int) [][relativeReportLen]byte {
	dx, dy = clampDelta(dx), clampDelta(dy)
	wx, wy := clampDelta(wheelX), -clampDelta(wheelY)
	var out [][relativeReportLen]byte
	for first := true; first || dx != 0 || dy != 0 || wx != 0 || wy != 0; first = false {
		out = append(out, [relativeReportLen]byte{
			byte(b & hid.ButtonsValid), byte(step(&dx)), byte(step(&dy)), byte(step(&wy)), byte(step(&wx)),
		})
	}
	return out
}
