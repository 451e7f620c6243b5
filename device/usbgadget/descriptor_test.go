package usbgadget

import (
	"fmt"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/hid"
	"github.com/kvmrelay/kvmrelay/internal/testenv"
)

// The tests here parse the report descriptors deploy/usb-gadget.sh gives the gadget, the way a
// USB host does, and decode the reports the sink writes with them: the script and the sink
// cannot drift apart.

const script = "../../deploy/usb-gadget.sh"

// field is one main item of a report descriptor.
type field struct {
	output             bool // an output report (the host's LEDs), else input
	constant, variable bool
	page               uint16
	usages             []uint32 // explicit usages, page in the high half
	usageMin, usageMax uint32
	size, count        int
	logMin, logMax     int64
	offset             int // bit offset in its report
}

// parseDescriptor parses a report descriptor without report IDs into its input and output
// fields.
func parseDescriptor(d []byte) ([]field, error) {
	type globals struct {
		page           uint16
		logMin, logMax int64
		size, count    int
	}
	var (
		g          globals
		stack      []globals
		usages     []uint32
		umin, umax uint32
		fields     []field
		offsets    [2]int
		depth      int
	)
	for i := 0; i < len(d); {
		prefix := d[i]
		if prefix == 0xFE {
			return nil, fmt.Errorf("long item at %d", i)
		}
		n := int(prefix & 3)
		if n == 3 {
			n = 4
		}
		if i+1+n > len(d) {
			return nil, fmt.Errorf("item at %d runs past the end", i)
		}
		var u uint32
		for j := n - 1; j >= 0; j-- {
			u = u<<8 | uint32(d[i+1+j])
		}
		s := int64(u) // sign-extended value of the item's data
		switch n {
		case 1:
			s = int64(int8(u))
		case 2:
			s = int64(int16(u))
		case 4:
			s = int64(int32(u))
		}
		typ, tag := (prefix>>2)&3, prefix>>4
		switch typ {
		case 0: // main
			switch tag {
			case 0x8, 0x9: // input, output
				out := tag == 0x9
				f := field{output: out, constant: u&1 != 0, variable: u&2 != 0, page: g.page,
					usages: usages, usageMin: umin, usageMax: umax, size: g.size, count: g.count,
					logMin: g.logMin, logMax: g.logMax}
				if out {
					f.offset = offsets[1]
					offsets[1] += g.size * g.count
				} else {
					f.offset = offsets[0]
					offsets[0] += g.size * g.count
				}
				fields = append(fields, f)
			case 0xA:
				depth++
			case 0xC:
				depth--
			default:
				return nil, fmt.Errorf("main item tag %#x at %d", tag, i)
			}
			usages, umin, umax = nil, 0, 0
		case 1: // global
			switch tag {
			case 0:
				g.page = uint16(u)
			case 1:
				g.logMin = s
			case 2:
				// A logical maximum is read as unsigned when the minimum is not negative.
				g.logMax = s
				if g.logMin >= 0 {
					g.logMax = int64(u)
				}
			case 7:
				g.size = int(u)
			case 9:
				g.count = int(u)
			case 8:
				return nil, fmt.Errorf("report ID at %d: the sink writes reports without one", i)
			case 0xA:
				stack = append(stack, g)
			case 0xB:
				if len(stack) == 0 {
					return nil, fmt.Errorf("pop without push at %d", i)
				}
				g, stack = stack[len(stack)-1], stack[:len(stack)-1]
			}
		case 2: // local
			full := func() uint32 {
				if n == 4 {
					return u
				}
				return uint32(g.page)<<16 | u
			}
			switch tag {
			case 0:
				usages = append(usages, full())
			case 1:
				umin = full()
			case 2:
				umax = full()
			}
		}
		i += 1 + n
	}
	if depth != 0 {
		return nil, fmt.Errorf("%d collections left open", depth)
	}
	return fields, nil
}

// reportBits is the length of the input or output report in bits.
func reportBits(fields []field, output bool) int {
	n := 0
	for _, f := range fields {
		if f.output == output {
			n += f.size * f.count
		}
	}
	return n
}

// decoded is a report as a host reads it: variable fields by usage, array fields as the
// usages they hold.
type decoded struct {
	values  map[uint32]int64
	pressed []uint32
}

func decode(fields []field, output bool, report []byte) decoded {
	d := decoded{values: map[uint32]int64{}}
	bits := func(off, size int, signed bool) int64 {
		var v uint64
		for k := 0; k < size; k++ {
			if report[(off+k)/8]&(1<<((off+k)%8)) != 0 {
				v |= 1 << k
			}
		}
		if signed && v&(1<<(size-1)) != 0 {
			return int64(v) - 1<<size
		}
		return int64(v)
	}
	for _, f := range fields {
		if f.output != output || f.constant {
			continue
		}
		for i := 0; i < f.count; i++ {
			v := bits(f.offset+i*f.size, f.size, f.logMin < 0)
			if f.variable {
				u := f.usageMin + uint32(i)
				if len(f.usages) > 0 {
					u = f.usages[min(i, len(f.usages)-1)]
				}
				d.values[u] = v
			} else if v >= f.logMin && v <= f.logMax && v != 0 {
				d.pressed = append(d.pressed, f.usageMin+uint32(v-f.logMin))
			}
		}
	}
	return d
}

func descriptorOf(t *testing.T, kind string) []field {
	t.Helper()
	out, err := exec.Command(testenv.LookPath(t, "bash", "bash"), script, "descriptor", kind).Output()
	require.NoError(t, err, "%s descriptor", kind)
	fields, err := parseDescriptor(out)
	require.NoError(t, err, "%s descriptor % x", kind, out)
	return fields
}

const (
	pageDesktop  = 0x01 << 16
	pageKeyboard = 0x07 << 16
	pageLEDs     = 0x08 << 16
	pageButton   = 0x09 << 16
	pageConsumer = 0x0C << 16
)

func TestKeyboardDescriptor(t *testing.T) {
	fields := descriptorOf(t, "keyboard")
	require.Equal(t, keyboardReportLen*8, reportBits(fields, false))
	require.Equal(t, 8, reportBits(fields, true), "one byte of LEDs")

	var k keyboard
	for _, u := range []hid.Usage{hid.UsageLeftShift, 0x04, hid.UsageRightAlt, 0x2C} {
		k.set(u, true)
	}
	r := k.report()
	got := decode(fields, false, r[:])
	for u := hid.UsageLeftCtrl; u <= hid.UsageRightGUI; u++ {
		want := int64(0)
		if u == hid.UsageLeftShift || u == hid.UsageRightAlt {
			want = 1
		}
		assert.Equal(t, want, got.values[pageKeyboard|uint32(u)], "modifier %#x", u)
	}
	assert.Equal(t, []uint32{pageKeyboard | 0x04, pageKeyboard | 0x2C}, got.pressed)

	for u := hid.Usage(0x04); u < 0x0B; u++ {
		k.set(u, true)
	}
	r = k.report()
	assert.Equal(t, []uint32{1, 1, 1, 1, 1, 1}, func() (ids []uint32) {
		for _, p := range decode(fields, false, r[:]).pressed {
			ids = append(ids, p&0xFFFF)
		}
		return ids
	}(), "ErrorRollOver (keyboard usage 0x01) in every slot")

	// The LED output report: hid.LEDs bit i is LED usage i+1 (Num Lock 1 … Kana 5).
	for i, led := range []hid.LEDs{hid.LEDNumLock, hid.LEDCapsLock, hid.LEDScrollLock, hid.LEDCompose, hid.LEDKana} {
		got := decode(fields, true, []byte{byte(led)})
		for id := uint32(1); id <= 5; id++ {
			want := int64(0)
			if id == uint32(i+1) {
				want = 1
			}
			assert.Equal(t, want, got.values[pageLEDs|id], "%v: LED usage %d", led, id)
		}
	}
}

func TestAbsoluteDescriptor(t *testing.T) {
	fields := descriptorOf(t, "absolute")
	require.Equal(t, absoluteReportLen*8, reportBits(fields, false))
	reports := absoluteReports(hid.ButtonRight|hid.ButtonBack, 32767, 1234, 5, 2)
	require.Len(t, reports, 1)
	got := decode(fields, false, reports[0][:])
	assert.Equal(t, map[uint32]int64{
		pageButton | 1: 0, pageButton | 2: 1, pageButton | 3: 0, pageButton | 4: 1, pageButton | 5: 0,
		pageDesktop | 0x30: 32767, pageDesktop | 0x31: 1234,
		pageDesktop | 0x38:   -2, // two steps down
		pageConsumer | 0x238: 5,
	}, got.values)
	for _, f := range fields {
		if f.page == 0x01 && f.size == 16 {
			assert.Equal(t, [2]int64{0, hid.AbsMax}, [2]int64{f.logMin, f.logMax}, "X and Y range")
		}
	}
}

func TestRelativeDescriptor(t *testing.T) {
	fields := descriptorOf(t, "relative")
	require.Equal(t, relativeReportLen*8, reportBits(fields, false))
	reports := relativeReports(hid.ButtonLeft|hid.ButtonForward, -3, 100, -1, 1)
	require.Len(t, reports, 1)
	got := decode(fields, false, reports[0][:])
	assert.Equal(t, map[uint32]int64{
		pageButton | 1: 1, pageButton | 2: 0, pageButton | 3: 0, pageButton | 4: 0, pageButton | 5: 1,
		pageDesktop | 0x30: -3, pageDesktop | 0x31: 100, pageDesktop | 0x38: -1, pageConsumer | 0x238: -1,
	}, got.values)

	// A BIOS in boot protocol reads buttons 1–3 in bits 0–2, then X and Y as signed bytes.
	r := reports[0]
	assert.Equal(t, byte(0x01), r[0]&0x07)
	assert.Equal(t, int8(-3), int8(r[1]))
	assert.Equal(t, int8(100), int8(r[2]))
}

func TestParseDescriptorErrors(t *testing.T) {
	for _, d := range [][]byte{
		{0xA1, 0x01},       // collection left open
		{0x26, 0xFF},       // runs past the end
		{0x85, 0x01},       // report ID
		{0xFE, 0x00, 0x00}, // long item
		{0xB4},             // pop without push
	} {
		_, err := parseDescriptor(d)
		assert.Error(t, err, "% x", d)
	}
	// Two-byte items are little endian and signed when the minimum is negative.
	f, err := parseDescriptor([]byte{0x16, 0x00, 0x80, 0x26, 0xFF, 0x7F, 0x75, 0x10, 0x95, 0x01, 0x81, 0x02})
	require.NoError(t, err)
	assert.Equal(t, [2]int64{-32768, 32767}, [2]int64{f[0].logMin, f[0].logMax})
}

func TestScriptShellcheck(t *testing.T) {
	sc := testenv.LookPath(t, "shellcheck", "shellcheck")
	out, err := exec.Command(sc, script).CombinedOutput()
	require.NoError(t, err, "%s", out)
}

func TestScriptRefusesUnknownDescriptor(t *testing.T) {
	out, err := exec.Command(testenv.LookPath(t, "bash", "bash"), script, "descriptor", "joystick").CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "keyboard, absolute or relative")
}
