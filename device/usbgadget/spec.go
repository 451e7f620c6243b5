package usbgadget

import (
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
)

// Scheme is the --hid spec scheme of a USB gadget.
const Scheme = "usb-gadget"

// Paths are the character devices of one gadget; Absolute or Relative may be empty, not both.
type Paths struct {
	Keyboard, Absolute, Relative string
}

// specHelp is the one line that says what a good spec looks like.
const specHelp = "want usb-gadget:///dev/hidg0,/dev/hidg1[,/dev/hidg2] (keyboard, absolute mouse, relative mouse) " +
	"or usb-gadget:?keyboard=/dev/hidg0&mouse=/dev/hidg1&relative=/dev/hidg2"

// ParseSpec reads the device paths from a usb-gadget spec.
func ParseSpec(spec *url.URL) (Paths, error) {
	if spec.Scheme != Scheme {
		return Paths{}, fmt.Errorf("usbgadget: scheme %q is not %s", spec.Scheme, Scheme)
	}
	if spec.Host != "" || spec.User != nil || spec.Opaque != "" {
		return Paths{}, fmt.Errorf("usbgadget: %q: device paths are absolute (three slashes after the colon); %s", spec.Redacted(), specHelp)
	}
	var p Paths
	q := spec.Query()
	switch {
	case spec.Path != "" && len(q) > 0:
		return Paths{}, fmt.Errorf("usbgadget: %q has both a path and a query; %s", spec.Redacted(), specHelp)
	case spec.Path != "":
		parts := strings.Split(spec.Path, ",")
		if len(parts) < 2 || len(parts) > 3 {
			return Paths{}, fmt.Errorf("usbgadget: %q names %d devices; %s", spec.Redacted(), len(parts), specHelp)
		}
		p.Keyboard, p.Absolute = parts[0], parts[1]
		if len(parts) == 3 {
			p.Relative = parts[2]
		}
	default:
		for k, v := range q {
			if !slices.Contains([]string{"keyboard", "mouse", "relative"}, k) {
				return Paths{}, fmt.Errorf("usbgadget: unknown parameter %q; %s", k, specHelp)
			}
			if len(v) != 1 {
				return Paths{}, fmt.Errorf("usbgadget: parameter %q given %d times; %s", k, len(v), specHelp)
			}
		}
		p = Paths{Keyboard: q.Get("keyboard"), Absolute: q.Get("mouse"), Relative: q.Get("relative")}
	}
	if p.Keyboard == "" {
		return Paths{}, fmt.Errorf("usbgadget: no keyboard device; %s", specHelp)
	}
	if p.Absolute == "" && p.Relative == "" {
		return Paths{}, fmt.Errorf("usbgadget: no mouse device; %s", specHelp)
	}
	seen := map[string]bool{}
	for _, path := range []string{p.Keyboard, p.Absolute, p.Relative} {
		switch {
		case path == "":
		case !filepath.IsAbs(path):
			return Paths{}, fmt.Errorf("usbgadget: device %q is not an absolute path; %s", path, specHelp)
		case seen[path]:
			return Paths{}, fmt.Errorf("usbgadget: device %q named twice; each function has its own /dev/hidgN", path)
		}
		seen[path] = true
	}
	return p, nil
}
