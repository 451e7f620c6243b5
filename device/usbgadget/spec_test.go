package usbgadget

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/device"
)

func TestParseSpec(t *testing.T) {
	tests := []struct {
		spec string
		want Paths
		err  string
	}{
		{"usb-gadget:///dev/hidg0,/dev/hidg1", Paths{Keyboard: "/dev/hidg0", Absolute: "/dev/hidg1"}, ""},
		{"usb-gadget:///dev/hidg0,/dev/hidg1,/dev/hidg2", Paths{"/dev/hidg0", "/dev/hidg1", "/dev/hidg2"}, ""},
		{"usb-gadget:/dev/hidg0,/dev/hidg1", Paths{Keyboard: "/dev/hidg0", Absolute: "/dev/hidg1"}, ""},
		{"usb-gadget:///dev/hidg0,,/dev/hidg2", Paths{Keyboard: "/dev/hidg0", Relative: "/dev/hidg2"}, ""},
		{"usb-gadget:?keyboard=/dev/hidg0&mouse=/dev/hidg1&relative=/dev/hidg2", Paths{"/dev/hidg0", "/dev/hidg1", "/dev/hidg2"}, ""},
		{"usb-gadget:?keyboard=/dev/kvmd-hid-keyboard&relative=/dev/kvmd-hid-mouse-alt", Paths{Keyboard: "/dev/kvmd-hid-keyboard", Relative: "/dev/kvmd-hid-mouse-alt"}, ""},
		{"usb-gadget:///dev/hidg0", Paths{}, "names 1 devices"},
		{"usb-gadget:///a,/b,/c,/d", Paths{}, "names 4 devices"},
		{"usb-gadget://dev/hidg0,/dev/hidg1", Paths{}, "three slashes"},
		{"usb-gadget:dev/hidg0,dev/hidg1", Paths{}, "three slashes"},
		{"usb-gadget:///dev/hidg0,dev/hidg1", Paths{}, "not an absolute path"},
		{"usb-gadget:///dev/hidg0,/dev/hidg0", Paths{}, "named twice"},
		{"usb-gadget:?keyboard=/dev/hidg0", Paths{}, "no mouse"},
		{"usb-gadget:?mouse=/dev/hidg1", Paths{}, "no keyboard"},
		{"usb-gadget:?keyboard=/dev/hidg0&mouse=/dev/hidg1&mice=2", Paths{}, `unknown parameter "mice"`},
		{"usb-gadget:?keyboard=/dev/hidg0&keyboard=/dev/hidg3&mouse=/dev/hidg1", Paths{}, "given 2 times"},
		{"usb-gadget:///dev/hidg0,/dev/hidg1?relative=/dev/hidg2", Paths{}, "both a path and a query"},
		{"usb-gadget", Paths{}, "no keyboard"},
	}
	for _, tt := range tests {
		u, err := device.ParseSpec(tt.spec)
		require.NoError(t, err, tt.spec)
		got, err := ParseSpec(u)
		if tt.err != "" {
			require.ErrorContains(t, err, tt.err, tt.spec)
			continue
		}
		require.NoError(t, err, tt.spec)
		assert.Equal(t, tt.want, got, tt.spec)
	}
}
