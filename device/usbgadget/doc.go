// Package usbgadget is the input device of a Linux USB gadget (a Raspberry Pi, PiKVM or
// TinyPilot plugged into the machine's USB port): a boot-protocol keyboard, an absolute mouse
// and an optional relative mouse, written as HID reports to /dev/hidgN character devices.
//
// The --hid spec names the devices in that order, the relative mouse optional:
//
//	usb-gadget:///dev/hidg0,/dev/hidg1,/dev/hidg2
//	usb-gadget:?keyboard=/dev/hidg0&mouse=/dev/hidg1&relative=/dev/hidg2
//
// deploy/usb-gadget.sh creates such a gadget with report descriptors matching the reports
// written here. PiKVM and TinyPilot configure their own gadget with the same report layouts:
// keyboard /dev/hidg0, absolute mouse /dev/hidg1 and, on PiKVM, relative mouse /dev/hidg2.
//
// Absolute pointer events go to the absolute mouse, relative ones (BIOS screens) to the
// relative mouse. With only one of them, button and wheel changes still go through the one
// there is; motion it cannot express is dropped and counted in Stats (an absolute position
// cannot be turned into relative motion without knowing the screen, nor the reverse).
//
// A host that stops reading reports (cable out, machine off or asleep) must not wedge the
// agent: every write has a deadline, and a write that misses it fails with ErrHostNotReading.
// Until a write succeeds again, later writes wait only briefly.
package usbgadget
