//go:build linux && (amd64 || arm64 || arm || 386 || riscv64 || loong64)

package v4l2

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kvmrelay/kvmrelay/internal/testenv"
)

// abiFacts are the Go side of every struct size, field offset and ioctl number the capture
// relies on, named as in videodev2.h.
func abiFacts() map[string]uintptr {
	var (
		cp  v4l2Capability
		fd  v4l2Fmtdesc
		fs  v4l2Frmsizeenum
		fi  v4l2Frmivalenum
		f   v4l2Format
		mp  v4l2PixFormatMplane
		sp  v4l2Streamparm
		cpm v4l2Captureparm
		b   v4l2Buffer
		p   v4l2Plane
		ev  v4l2Event
	)
	return map[string]uintptr{
		"size v4l2_capability":                      unsafe.Sizeof(cp),
		"size v4l2_fmtdesc":                         unsafe.Sizeof(fd),
		"size v4l2_frmsizeenum":                     unsafe.Sizeof(fs),
		"size v4l2_frmivalenum":                     unsafe.Sizeof(fi),
		"size v4l2_format":                          unsafe.Sizeof(f),
		"size v4l2_pix_format":                      unsafe.Sizeof(v4l2PixFormat{}),
		"size v4l2_pix_format_mplane":               unsafe.Sizeof(mp),
		"size v4l2_plane_pix_format":                unsafe.Sizeof(v4l2PlanePixFormat{}),
		"size v4l2_streamparm":                      unsafe.Sizeof(sp),
		"size v4l2_captureparm":                     unsafe.Sizeof(cpm),
		"size v4l2_requestbuffers":                  unsafe.Sizeof(v4l2Requestbuffers{}),
		"size v4l2_buffer":                          unsafe.Sizeof(b),
		"size v4l2_timecode":                        unsafe.Sizeof(v4l2Timecode{}),
		"size v4l2_plane":                           unsafe.Sizeof(p),
		"size v4l2_dv_timings":                      unsafe.Sizeof(v4l2DVTimings{}),
		"size v4l2_event_subscription":              unsafe.Sizeof(v4l2EventSubscription{}),
		"size v4l2_event":                           unsafe.Sizeof(ev),
		"size v4l2_control":                         unsafe.Sizeof(v4l2Control{}),
		"off v4l2_capability.capabilities":          unsafe.Offsetof(cp.Capabilities),
		"off v4l2_capability.device_caps":           unsafe.Offsetof(cp.DeviceCaps),
		"off v4l2_fmtdesc.pixelformat":              unsafe.Offsetof(fd.Pixelformat),
		"off v4l2_frmsizeenum.type":                 unsafe.Offsetof(fs.Type),
		"off v4l2_frmsizeenum.discrete":             unsafe.Offsetof(fs.Union),
		"off v4l2_frmivalenum.type":                 unsafe.Offsetof(fi.Type),
		"off v4l2_frmivalenum.discrete":             unsafe.Offsetof(fi.Union),
		"off v4l2_format.fmt":                       unsafe.Offsetof(f.Fmt),
		"off v4l2_pix_format_mplane.plane_fmt":      unsafe.Offsetof(mp.PlaneFmt),
		"off v4l2_pix_format_mplane.num_planes":     unsafe.Offsetof(mp.NumPlanes),
		"off v4l2_streamparm.parm":                  unsafe.Offsetof(sp.Parm),
		"off v4l2_captureparm.timeperframe":         unsafe.Offsetof(cpm.Timeperframe),
		"off v4l2_buffer.flags":                     unsafe.Offsetof(b.Flags),
		"off v4l2_buffer.timestamp":                 unsafe.Offsetof(b.Timestamp),
		"off v4l2_buffer.sequence":                  unsafe.Offsetof(b.Sequence),
		"off v4l2_buffer.memory":                    unsafe.Offsetof(b.Memory),
		"off v4l2_buffer.m":                         unsafe.Offsetof(b.M),
		"off v4l2_buffer.length":                    unsafe.Offsetof(b.Length),
		"off v4l2_buffer.request_fd":                unsafe.Offsetof(b.RequestFD),
		"off v4l2_plane.m":                          unsafe.Offsetof(p.M),
		"off v4l2_plane.data_offset":                unsafe.Offsetof(p.DataOffset),
		"off v4l2_event.u":                          unsafe.Offsetof(ev.U),
		"off v4l2_event.pending":                    unsafe.Offsetof(ev.Pending),
		"off v4l2_event.timestamp":                  unsafe.Offsetof(ev.Timestamp),
		"off v4l2_event.id":                         unsafe.Offsetof(ev.ID),
		"off v4l2_dv_timings.bt.width":              dvOffWidth,
		"off v4l2_dv_timings.bt.height":             dvOffHeight,
		"off v4l2_dv_timings.bt.interlaced":         dvOffInterlaced,
		"off v4l2_dv_timings.bt.pixelclock":         dvOffPixelclock,
		"off v4l2_dv_timings.bt.hfrontporch":        dvOffHfrontporch,
		"off v4l2_dv_timings.bt.il_vfrontporch":     dvOffIlVfrontporch,
		"ioctl VIDIOC_QUERYCAP":                     vidiocQuerycap,
		"ioctl VIDIOC_ENUM_FMT":                     vidiocEnumFmt,
		"ioctl VIDIOC_G_FMT":                        vidiocGFmt,
		"ioctl VIDIOC_S_FMT":                        vidiocSFmt,
		"ioctl VIDIOC_REQBUFS":                      vidiocReqbufs,
		"ioctl VIDIOC_QUERYBUF":                     vidiocQuerybuf,
		"ioctl VIDIOC_QBUF":                         vidiocQbuf,
		"ioctl VIDIOC_DQBUF":                        vidiocDqbuf,
		"ioctl VIDIOC_STREAMON":                     vidiocStreamon,
		"ioctl VIDIOC_STREAMOFF":                    vidiocStreamoff,
		"ioctl VIDIOC_G_PARM":                       vidiocGParm,
		"ioctl VIDIOC_S_PARM":                       vidiocSParm,
		"ioctl VIDIOC_S_CTRL":                       vidiocSCtrl,
		"ioctl VIDIOC_ENUM_FRAMESIZES":              vidiocEnumFramesizes,
		"ioctl VIDIOC_ENUM_FRAMEINTERVALS":          vidiocEnumFrameintervals,
		"ioctl VIDIOC_S_DV_TIMINGS":                 vidiocSDVTimings,
		"ioctl VIDIOC_G_DV_TIMINGS":                 vidiocGDVTimings,
		"ioctl VIDIOC_QUERY_DV_TIMINGS":             vidiocQueryDVTimings,
		"ioctl VIDIOC_DQEVENT":                      vidiocDqevent,
		"ioctl VIDIOC_SUBSCRIBE_EVENT":              vidiocSubscribeEvent,
		"const V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME": cidMPEGVideoForceKeyFrame,
	}
}

// kernelABI64 is what gcc reports from linux/videodev2.h on x86-64 (the same on arm64,
// riscv64 and loong64: LP64 with the generic ioctl encoding).
var kernelABI64 = map[string]uintptr{
	"size v4l2_capability": 104, "size v4l2_fmtdesc": 64, "size v4l2_frmsizeenum": 44,
	"size v4l2_frmivalenum": 52, "size v4l2_format": 208, "size v4l2_pix_format": 48,
	"size v4l2_pix_format_mplane": 192, "size v4l2_plane_pix_format": 20, "size v4l2_streamparm": 204,
	"size v4l2_captureparm": 40, "size v4l2_requestbuffers": 20, "size v4l2_buffer": 88,
	"size v4l2_timecode": 16, "size v4l2_plane": 64, "size v4l2_dv_timings": 132,
	"size v4l2_event_subscription": 32, "size v4l2_event": 136, "size v4l2_control": 8,
	"off v4l2_capability.capabilities": 84, "off v4l2_capability.device_caps": 88,
	"off v4l2_fmtdesc.pixelformat": 44, "off v4l2_frmsizeenum.type": 8, "off v4l2_frmsizeenum.discrete": 12,
	"off v4l2_frmivalenum.type": 16, "off v4l2_frmivalenum.discrete": 20, "off v4l2_format.fmt": 8,
	"off v4l2_pix_format_mplane.plane_fmt": 20, "off v4l2_pix_format_mplane.num_planes": 180,
	"off v4l2_streamparm.parm": 4, "off v4l2_captureparm.timeperframe": 8,
	"off v4l2_buffer.flags": 12, "off v4l2_buffer.timestamp": 24, "off v4l2_buffer.sequence": 56,
	"off v4l2_buffer.memory": 60, "off v4l2_buffer.m": 64, "off v4l2_buffer.length": 72,
	"off v4l2_buffer.request_fd": 80, "off v4l2_plane.m": 8, "off v4l2_plane.data_offset": 16,
	"off v4l2_event.u": 8, "off v4l2_event.pending": 72, "off v4l2_event.timestamp": 80, "off v4l2_event.id": 96,
	"off v4l2_dv_timings.bt.width": 4, "off v4l2_dv_timings.bt.height": 8, "off v4l2_dv_timings.bt.interlaced": 12,
	"off v4l2_dv_timings.bt.pixelclock": 20, "off v4l2_dv_timings.bt.hfrontporch": 28,
	"off v4l2_dv_timings.bt.il_vfrontporch": 52,
	"ioctl VIDIOC_QUERYCAP":                 0x80685600, "ioctl VIDIOC_ENUM_FMT": 0xc0405602, "ioctl VIDIOC_G_FMT": 0xc0d05604,
	"ioctl VIDIOC_S_FMT": 0xc0d05605, "ioctl VIDIOC_REQBUFS": 0xc0145608, "ioctl VIDIOC_QUERYBUF": 0xc0585609,
	"ioctl VIDIOC_QBUF": 0xc058560f, "ioctl VIDIOC_DQBUF": 0xc0585611, "ioctl VIDIOC_STREAMON": 0x40045612,
	"ioctl VIDIOC_STREAMOFF": 0x40045613, "ioctl VIDIOC_G_PARM": 0xc0cc5615, "ioctl VIDIOC_S_PARM": 0xc0cc5616,
	"ioctl VIDIOC_S_CTRL": 0xc008561c, "ioctl VIDIOC_ENUM_FRAMESIZES": 0xc02c564a,
	"ioctl VIDIOC_ENUM_FRAMEINTERVALS": 0xc034564b, "ioctl VIDIOC_S_DV_TIMINGS": 0xc0845657,
	"ioctl VIDIOC_G_DV_TIMINGS": 0xc0845658, "ioctl VIDIOC_QUERY_DV_TIMINGS": 0x80845663,
	"ioctl VIDIOC_DQEVENT": 0x80885659, "ioctl VIDIOC_SUBSCRIBE_EVENT": 0x4020565a,
	"const V4L2_CID_MPEG_VIDEO_FORCE_KEY_FRAME": 0x009909e5,
}

func TestABIMatchesKernel64(t *testing.T) {
	if ptrSize != 8 {
		t.Skip("the table is the 64-bit ABI; TestABIMatchesKernelHeader checks this architecture")
	}
	facts := abiFacts()
	require.Len(t, facts, len(kernelABI64))
	for name, want := range kernelABI64 {
		got, ok := facts[name]
		require.True(t, ok, name)
		assert.Equal(t, fmt.Sprintf("%#x", want), fmt.Sprintf("%#x", got), name)
	}
}

// TestABIMatchesKernelHeader compiles a program against the system's linux/videodev2.h and
// compares every fact with what the C compiler lays out, on whatever architecture this is.
func TestABIMatchesKernelHeader(t *testing.T) {
	gcc := testenv.LookPath(t, "gcc", "gcc")
	if _, err := os.Stat("/usr/include/linux/videodev2.h"); err != nil {
		testenv.Missing(t, "linux/videodev2.h", "linux-libc-dev")
	}
	var src strings.Builder
	src.WriteString("#include <stdio.h>\n#include <stddef.h>\n#include <linux/videodev2.h>\n#include <linux/v4l2-controls.h>\nint main(void) {\n")
	for name := range abiFacts() {
		kind, what, _ := strings.Cut(name, " ")
		var expr string
		switch kind {
		case "size":
			expr = "sizeof(struct " + what + ")"
		case "off":
			typ, field, _ := strings.Cut(what, ".")
			expr = "offsetof(struct " + typ + ", " + field + ")"
		default:
			expr = what
		}
		fmt.Fprintf(&src, "printf(\"%%s=%%lu\\n\", %q, (unsigned long)(%s));\n", name, expr)
	}
	src.WriteString("return 0; }\n")
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "abi.c"), []byte(src.String()), 0o600))
	bin := filepath.Join(dir, "abi")
	out, err := exec.Command(gcc, "-o", bin, filepath.Join(dir, "abi.c")).CombinedOutput()
	require.NoError(t, err, "%s", out)
	out, err = exec.Command(bin).Output()
	require.NoError(t, err)
	facts := abiFacts()
	seen := 0
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), "=")
		require.True(t, ok, sc.Text())
		want, err := strconv.ParseUint(val, 10, 64)
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("%#x", want), fmt.Sprintf("%#x", facts[name]), name)
		seen++
	}
	assert.Equal(t, len(facts), seen)
}
