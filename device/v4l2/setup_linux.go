//go:build linux && (amd64 || arm64 || arm || 386 || riscv64 || loong64)

package v4l2

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Bounds on what a driver's enumerations may make the capture loop over.
const (
	maxFormats   = 64
	maxSizes     = 64
	maxIntervals = 64
)

// ErrNoSignal is returned when the capture device's input delivers nothing: the HDMI cable is
// out, the machine is off or asleep, or its picture is between modes.
var ErrNoSignal = errors.New("v4l2: no signal on the capture device's HDMI input (machine off or asleep, or cable out)")

// ErrBusy is returned when another program holds the device (ustreamer, a second agent).
var ErrBusy = errors.New("v4l2: the capture device is busy: another program is capturing from it; stop that program")

func isErrno(err error, errnos ...unix.Errno) bool {
	for _, e := range errnos {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// queryCap checks that the node captures video with streaming I/O and picks the single- or
// multi-planar API (UVC dongles and the Pi's unicam are single-planar; some SoC receivers are
// multi-planar only).
func (c *capture) queryCap() error {
	var cp v4l2Capability
	if err := c.dev.ioctl(vidiocQuerycap, unsafe.Pointer(&cp)); err != nil {
		if isErrno(err, unix.ENOTTY, unix.EINVAL) {
			return fmt.Errorf("v4l2: %s is not a V4L2 device; name a /dev/video* capture node", c.cfg.Path)
		}
		return fmt.Errorf("v4l2: VIDIOC_QUERYCAP: %w", err)
	}
	caps := cp.Capabilities
	if caps&capDeviceCaps != 0 {
		caps = cp.DeviceCaps // this node's own, not the whole device's
	}
	switch {
	case caps&capVideoCapture != 0:
		c.bufType = bufTypeVideoCapture
	case caps&capVideoCaptureMplane != 0:
		c.bufType = bufTypeVideoCaptureMplane
	default:
		return fmt.Errorf("v4l2: %s (%s) is not a video capture node; USB dongles also create a metadata node: try the other /dev/video* of the same device", c.cfg.Path, cString(cp.Card[:]))
	}
	if caps&capStreaming == 0 {
		return fmt.Errorf("v4l2: %s (%s) does not support streaming I/O", c.cfg.Path, cString(cp.Card[:]))
	}
	c.card = cString(cp.Card[:])
	c.driver = cString(cp.Driver[:])
	return nil
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// dvTimings is what an HDMI bridge reports about its input.
type dvTimings struct {
	w, h int
	fps  float64
}

// setupDV asks an HDMI bridge (TC358743) for the timings of its input and sets them: the
// capture size follows the machine's resolution. ok is false for devices without DV timings
// (USB dongles scale on their own).
func (c *capture) setupDV() (t dvTimings, ok bool, err error) {
	var raw v4l2DVTimings
	err = c.dev.ioctl(vidiocQueryDVTimings, unsafe.Pointer(&raw))
	switch {
	case err == nil:
	case isErrno(err, unix.ENOTTY, unix.EINVAL, unix.ENODATA):
		return dvTimings{}, false, nil
	case isErrno(err, unix.ENOLINK, unix.ENOLCK):
		return dvTimings{}, true, ErrNoSignal
	case isErrno(err, unix.ERANGE):
		return dvTimings{}, true, errors.New("v4l2: the HDMI input's timings are beyond what the capture device takes: lower the machine's resolution or refresh rate")
	default:
		return dvTimings{}, true, fmt.Errorf("v4l2: VIDIOC_QUERY_DV_TIMINGS: %w", err)
	}
	t = parseDVTimings(&raw)
	if t.w <= 0 || t.h <= 0 || t.w > maxSide || t.h > maxSide {
		return dvTimings{}, true, fmt.Errorf("v4l2: the HDMI input reports an implausible %dx%d picture", t.w, t.h)
	}
	if err := c.dev.ioctl(vidiocSDVTimings, unsafe.Pointer(&raw)); err != nil {
		if isErrno(err, unix.EBUSY) {
			return dvTimings{}, true, ErrBusy
		}
		return dvTimings{}, true, fmt.Errorf("v4l2: VIDIOC_S_DV_TIMINGS %dx%d: %w", t.w, t.h, err)
	}
	return t, true, nil
}

func parseDVTimings(raw *v4l2DVTimings) dvTimings {
	u32 := func(off int) uint64 { return uint64(binary.NativeEndian.Uint32(raw[off:])) }
	t := dvTimings{w: int(u32(dvOffWidth)), h: int(u32(dvOffHeight))}
	clock := binary.NativeEndian.Uint64(raw[dvOffPixelclock:])
	hf, hs, hb := u32(dvOffHfrontporch), u32(dvOffHfrontporch+4), u32(dvOffHfrontporch+8)
	vf, vs, vb := u32(dvOffHfrontporch+12), u32(dvOffHfrontporch+16), u32(dvOffHfrontporch+20)
	totalW := u32(dvOffWidth) + hf + hs + hb
	totalH := u32(dvOffHeight) + vf + vs + vb
	if u32(dvOffInterlaced) != 0 {
		totalH += u32(dvOffIlVfrontporch) + u32(dvOffIlVfrontporch+4) + u32(dvOffIlVfrontporch+8)
	}
	if totalW > 0 && totalH > 0 && totalW < 1<<20 && totalH < 1<<20 {
		t.fps = float64(clock) / float64(totalW*totalH)
	}
	return t
}

// subscribeSourceChange asks for V4L2_EVENT_SOURCE_CHANGE, which HDMI bridges raise when
// the input's resolution changes; devices without it keep their size.
func (c *capture) subscribeSourceChange() bool {
	sub := v4l2EventSubscription{Type: eventSourceChange}
	return c.dev.ioctl(vidiocSubscribeEvent, unsafe.Pointer(&sub)) == nil
}

// enumerate lists the modes the device offers in formats kvmrelay reads (and, for the error
// message, the formats it does not, without sizes). On an HDMI bridge the size is the input's.
func (c *capture) enumerate(w want, dv *dvTimings) ([]mode, error) {
	var modes []mode
	for i := range uint32(maxFormats) {
		d := v4l2Fmtdesc{Index: i, Type: c.bufType}
		if err := c.dev.ioctl(vidiocEnumFmt, unsafe.Pointer(&d)); err != nil {
			if isErrno(err, unix.EINVAL) {
				break
			}
			return nil, fmt.Errorf("v4l2: VIDIOC_ENUM_FMT: %w", err)
		}
		f := fourcc(d.Pixelformat)
		switch {
		case formatOf(f) == FormatAuto:
			modes = append(modes, mode{fcc: f})
		case dv != nil:
			m := mode{fcc: f, w: dv.w, h: dv.h}
			if dv.fps > 0 {
				m.periods = []interval{{num: 1000, den: uint32(dv.fps*1000 + 0.5)}}
			}
			modes = append(modes, m)
		default:
			sizes, err := c.enumSizes(f, w)
			if err != nil {
				return nil, err
			}
			modes = append(modes, sizes...)
		}
	}
	return modes, nil
}

func (c *capture) enumSizes(f fourcc, w want) ([]mode, error) {
	var modes []mode
	for i := range uint32(maxSizes) {
		s := v4l2Frmsizeenum{Index: i, PixelFormat: uint32(f)}
		if err := c.dev.ioctl(vidiocEnumFramesizes, unsafe.Pointer(&s)); err != nil {
			if i == 0 && isErrno(err, unix.EINVAL, unix.ENOTTY) {
				// The driver does not say: ask for the size wanted and take what S_FMT gives.
				ww, wh := w.width, w.height
				if ww == 0 {
					ww, wh = w.maxW, w.maxH
				}
				return []mode{{fcc: f, w: ww, h: wh}}, nil
			}
			if isErrno(err, unix.EINVAL) {
				break
			}
			return nil, fmt.Errorf("v4l2: VIDIOC_ENUM_FRAMESIZES %s: %w", f, err)
		}
		var sw, sh int
		switch s.Type {
		case frmsizeTypeDiscrete:
			sw, sh = int(s.Union[0]), int(s.Union[1])
		case frmsizeTypeStepwise, frmsizeTypeContinuous:
			sw, sh = stepwiseSize(s.Union, w)
		default:
			continue
		}
		if sw <= 0 || sh <= 0 || sw > maxSide || sh > maxSide {
			continue
		}
		periods, err := c.enumIntervals(f, sw, sh)
		if err != nil {
			return nil, err
		}
		modes = append(modes, mode{fcc: f, w: sw, h: sh, periods: periods})
		if s.Type != frmsizeTypeDiscrete {
			break // one range describes every size
		}
	}
	return modes, nil
}

// stepwiseSize picks a size inside a range: the one asked for, else the largest within the
// bound, on the range's steps.
func stepwiseSize(u [6]uint32, w want) (int, int) {
	pick := func(lo, hi, step uint32, target int) int {
		if step == 0 {
			step = 1
		}
		t := uint32(min(max(target, 0), maxSide))
		t = min(max(t, lo), hi)
		return int(lo + (t-lo)/step*step)
	}
	tw, th := w.width, w.height
	if tw == 0 {
		tw, th = w.maxW, w.maxH
	}
	if u[0] > u[1] || u[3] > u[4] {
		return 0, 0
	}
	return pick(u[0], u[1], u[2], tw), pick(u[3], u[4], u[5], th)
}

func (c *capture) enumIntervals(f fourcc, w, h int) ([]interval, error) {
	var periods []interval
	for i := range uint32(maxIntervals) {
		e := v4l2Frmivalenum{Index: i, PixelFormat: uint32(f), Width: uint32(w), Height: uint32(h)}
		if err := c.dev.ioctl(vidiocEnumFrameintervals, unsafe.Pointer(&e)); err != nil {
			if isErrno(err, unix.EINVAL, unix.ENOTTY) {
				break
			}
			return nil, fmt.Errorf("v4l2: VIDIOC_ENUM_FRAMEINTERVALS: %w", err)
		}
		if e.Type == frmivalTypeDiscrete {
			periods = append(periods, interval{e.Union[0].Numerator, e.Union[0].Denominator})
			continue
		}
		// A range: its two ends (fastest and slowest); pickPeriod takes what fits.
		periods = append(periods, interval{e.Union[0].Numerator, e.Union[0].Denominator},
			interval{e.Union[1].Numerator, e.Union[1].Denominator})
		break
	}
	return periods, nil
}

// setFormat sets the chosen mode and reads back what the driver made of it.
func (c *capture) setFormat(ch choice) error {
	var f v4l2Format
	f.Type = c.bufType
	if c.bufType == bufTypeVideoCaptureMplane {
		mp := f.mplane()
		mp.Width, mp.Height, mp.Pixelformat, mp.Field = uint32(ch.w), uint32(ch.h), uint32(ch.fcc), fieldAny
	} else {
		p := f.pix()
		p.Width, p.Height, p.Pixelformat, p.Field = uint32(ch.w), uint32(ch.h), uint32(ch.fcc), fieldAny
	}
	if err := c.dev.ioctl(vidiocSFmt, unsafe.Pointer(&f)); err != nil {
		if isErrno(err, unix.EBUSY) {
			return ErrBusy
		}
		return fmt.Errorf("v4l2: the device refused %s %dx%d: %w", ch.fcc, ch.w, ch.h, err)
	}
	var l layout
	if c.bufType == bufTypeVideoCaptureMplane {
		mp := f.mplane()
		l = layout{fcc: fourcc(mp.Pixelformat), w: int(mp.Width), h: int(mp.Height), planes: int(mp.NumPlanes)}
		if l.planes < 1 || l.planes > 3 {
			return fmt.Errorf("v4l2: the driver reports %d planes for %s", l.planes, l.fcc)
		}
		for i := range l.planes {
			l.stride[i] = int(mp.PlaneFmt[i].Bytesperline)
		}
	} else {
		p := f.pix()
		l = layout{fcc: fourcc(p.Pixelformat), w: int(p.Width), h: int(p.Height), planes: 1}
		l.stride[0] = int(p.Bytesperline)
	}
	if l.fcc != ch.fcc {
		return fmt.Errorf("v4l2: asked for %s, the device set %s", ch.fcc, l.fcc)
	}
	if err := l.check(); err != nil {
		return err
	}
	c.layout = l
	c.logger().Info("capture format", "format", l.fcc.String(), "width", l.w, "height", l.h, "planes", l.planes, "stride", l.stride[0])
	return nil
}

// setPeriod asks for the chosen frame period where the driver lets it be set.
func (c *capture) setPeriod(p interval) {
	if p.num == 0 || p.den == 0 {
		return
	}
	parm := v4l2Streamparm{Type: c.bufType}
	if err := c.dev.ioctl(vidiocGParm, unsafe.Pointer(&parm)); err != nil || parm.capture().Capability&captureparmTimePerFrame == 0 {
		return
	}
	parm.capture().Timeperframe = v4l2Fract{Numerator: p.num, Denominator: p.den}
	if err := c.dev.ioctl(vidiocSParm, unsafe.Pointer(&parm)); err != nil {
		c.logger().Warn("cannot set the capture frame rate", "fps", p.fps(), "err", err)
		return
	}
	got := interval{parm.capture().Timeperframe.Numerator, parm.capture().Timeperframe.Denominator}
	c.logger().Info("capture frame rate", "fps", got.fps())
}
