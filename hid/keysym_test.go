package hid_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/kvmrelay/kvmrelay/hid"
)

func TestUsageToKeysym(t *testing.T) {
	tests := []struct {
		u     hid.Usage
		shift bool
		want  uint32
	}{
		{hid.UsageA, false, 'a'},
		{hid.UsageA, true, 'A'},
		{hid.Usage1, true, '!'},
		{hid.Usage0, false, '0'},
		{0x35, true, '~'},
		{hid.UsageEnter, false, 0xFF0D},
		{hid.UsageEnter, true, 0xFF0D},
		{hid.UsageEscape, false, 0xFF1B},
		{hid.UsageBackspace, false, 0xFF08},
		{hid.UsageTab, false, 0xFF09},
		{hid.UsageDelete, false, 0xFFFF},
		{hid.UsageF1, false, 0xFFBE},
		{hid.UsageF12, false, 0xFFC9},
		{hid.UsageF13, false, 0xFFCA},
		{hid.UsageF24, false, 0xFFD5},
		{0x4F, false, 0xFF53}, // Right
		{0x52, false, 0xFF52}, // Up
		{0x4B, false, 0xFF55}, // Page Up
		{0x62, false, 0xFFB0}, // KP_0
		{0x59, false, 0xFFB1}, // KP_1
		{0x61, true, 0xFFB9},  // KP_9
		{0x58, false, 0xFF8D}, // KP_Enter
		{0x64, true, '>'},     // IntlBackslash
		{0x87, true, '_'},     // IntlRo
		{0x7F, false, 0x1008FF12},
		{hid.UsageLeftCtrl, false, 0xFFE3},
		{hid.UsageLeftShift, false, 0xFFE1},
		{hid.UsageLeftAlt, false, 0xFFE9},
		{hid.UsageLeftGUI, false, 0xFFEB},
		{hid.UsageRightCtrl, false, 0xFFE4},
		{hid.UsageRightShift, false, 0xFFE2},
		{hid.UsageRightAlt, false, 0xFFEA},
		{hid.UsageRightGUI, false, 0xFFEC},
		{0, false, 0},
		{0xA5, false, 0},
		{0x1234, false, 0},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, hid.UsageToKeysym(tt.u, tt.shift), "usage %#x shift %t", tt.u, tt.shift)
	}
}
