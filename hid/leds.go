package hid

import "strings"

// LEDs is the keyboard indicator state the machine sets: the HID boot keyboard's output
// report, one bit per LED.
type LEDs uint8

// LED bits, in the boot keyboard output report's order (HID 1.11 Appendix B.1).
const (
	LEDNumLock LEDs = 1 << iota
	LEDCapsLock
	LEDScrollLock
	LEDCompose
	LEDKana

	// LEDsValid masks the bits the boot report defines.
	LEDsValid = LEDNumLock | LEDCapsLock | LEDScrollLock | LEDCompose | LEDKana
)

// String lists the lit LEDs: "num+caps", or "none".
func (l LEDs) String() string {
	var on []string
	for i, name := range [...]string{"num", "caps", "scroll", "compose", "kana"} {
		if l&(1<<i) != 0 {
			on = append(on, name)
		}
	}
	if len(on) == 0 {
		return "none"
	}
	return strings.Join(on, "+")
}

// LEDReporter is implemented by a Sink that learns the machine's keyboard LEDs (a USB gadget
// reads the host's output reports). A console can show Caps Lock and Num Lock from it:
//
//	for {
//		leds, changed := r.LEDs()
//		show(leds)
//		select {
//		case <-changed:
//		case <-ctx.Done():
//			return
//		}
//	}
type LEDReporter interface {
	// LEDs returns the current state and a channel closed at the next change.
	LEDs() (LEDs, <-chan struct{})
}
