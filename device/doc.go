// Package device is the agent's view of a machine: a video source and an input sink, each named
// by a URL spec (--source vnc://host:5900, --hid usb-gadget:///dev/hidg0,/dev/hidg1) and opened
// by a factory that cmd/ registers by scheme in a Catalog — the agent imports no protocol.
//
// A Supervisor owns one source for the agent's lifetime: it opens it, reopens it with backoff
// and jitter when it fails, shows consoles a "no signal" card meanwhile instead of a frozen
// frame, and reports the source's health.
package device
