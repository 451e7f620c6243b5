//go:build linux && (amd64 || arm64 || arm || 386 || riscv64 || loong64)

package v4l2

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The kernel's V4L2 ABI (include/uapi/linux/videodev2.h), field for field. Go lays these out
// as C does on every architecture this file builds for, except where a union's alignment comes
// from a pointer or a 64-bit member: those get explicit padding. abi_test.go checks sizes,
// offsets and ioctl numbers against the values the kernel header gives (and against the header
// itself when gcc is installed).

const ptrSize = unsafe.Sizeof(uintptr(0))

// Capabilities (struct v4l2_capability).
const (
	capVideoCapture       = 0x00000001
	capVideoCaptureMplane = 0x00001000
	capStreaming          = 0x04000000
	capDeviceCaps         = 0x80000000
)

// Buffer types, memory types, fields.
const (
	bufTypeVideoCapture       = 1
	bufTypeVideoCaptureMplane = 9
	memoryMmap                = 1
	fieldAny                  = 0
)

// Buffer flags and enumeration types.
const (
	bufFlagKeyframe           = 0x00000008
	bufFlagError              = 0x00000040
	bufFlagTimestampMask      = 0x0000e000
	bufFlagTimestampMonotonic = 0x00002000
	frmsizeTypeDiscrete       = 1
	frmsizeTypeContinuous     = 2
	frmsizeTypeStepwise       = 3
	frmivalTypeDiscrete       = 1
	captureparmTimePerFrame   = 0x1000 // V4L2_CAP_TIMEPERFRAME
	maxPlanes                 = 8      // VIDEO_MAX_PLANES
)

// Events and controls.
const (
	eventSourceChange         = 5
	eventSrcChResolution      = 1
	cidMPEGVideoForceKeyFrame = 0x00990900 + 229 // V4L2_CID_CODEC_BASE + 229
)

// struct v4l2_dv_timings (packed): type, then struct v4l2_bt_timings.
const (
	dvTimingsSize      = 132
	dvOffWidth         = 4
	dvOffHeight        = 8
	dvOffInterlaced    = 12
	dvOffPixelclock    = 20 // __u64
	dvOffHfrontporch   = 28 // then hsync, hbackporch, vfrontporch, vsync, vbackporch,
	dvOffIlVfrontporch = 52 // il_vfrontporch, il_vsync, il_vbackporch: __u32 each
)

type v4l2Capability struct {
	Driver       [16]byte
	Card         [32]byte
	BusInfo      [32]byte
	Version      uint32
	Capabilities uint32
	DeviceCaps   uint32
	Reserved     [3]uint32
}

type v4l2Fmtdesc struct {
	Index       uint32
	Type        uint32
	Flags       uint32
	Description [32]byte
	Pixelformat uint32
	MbusCode    uint32
	Reserved    [3]uint32
}

type v4l2Fract struct{ Numerator, Denominator uint32 }

type v4l2Frmsizeenum struct {
	Index       uint32
	PixelFormat uint32
	Type        uint32
	// Discrete: width, height. Stepwise: min_width, max_width, step_width, min_height,
	// max_height, step_height.
	Union    [6]uint32
	Reserved [2]uint32
}

type v4l2Frmivalenum struct {
	Index       uint32
	PixelFormat uint32
	Width       uint32
	Height      uint32
	Type        uint32
	// Discrete: one fraction. Stepwise: min, max, step.
	Union    [3]v4l2Fract
	Reserved [2]uint32
}

type v4l2PixFormat struct {
	Width        uint32
	Height       uint32
	Pixelformat  uint32
	Field        uint32
	Bytesperline uint32
	Sizeimage    uint32
	Colorspace   uint32
	Priv         uint32
	Flags        uint32
	YcbcrEnc     uint32
	Quantization uint32
	XferFunc     uint32
}

type v4l2PlanePixFormat struct {
	Sizeimage    uint32
	Bytesperline uint32
	Reserved     [6]uint16
}

// v4l2PixFormatMplane is packed in C; every field falls on its natural alignment anyway.
type v4l2PixFormatMplane struct {
	Width        uint32
	Height       uint32
	Pixelformat  uint32
	Field        uint32
	Colorspace   uint32
	PlaneFmt     [maxPlanes]v4l2PlanePixFormat
	NumPlanes    uint8
	Flags        uint8
	YcbcrEnc     uint8
	Quantization uint8
	XferFunc     uint8
	Reserved     [7]uint8
}

// v4l2Format's union holds struct v4l2_window, whose pointers align it to the pointer size.
type v4l2Format struct {
	Type uint32
	_    [ptrSize - 4]byte
	Fmt  [200]byte
}

func (f *v4l2Format) pix() *v4l2PixFormat { return (*v4l2PixFormat)(unsafe.Pointer(&f.Fmt[0])) }
func (f *v4l2Format) mplane() *v4l2PixFormatMplane {
	return (*v4l2PixFormatMplane)(unsafe.Pointer(&f.Fmt[0]))
}

type v4l2Captureparm struct {
	Capability   uint32
	Capturemode  uint32
	Timeperframe v4l2Fract
	Extendedmode uint32
	Readbuffers  uint32
	Reserved     [4]uint32
}

type v4l2Streamparm struct {
	Type uint32
	Parm [200]byte
}

func (p *v4l2Streamparm) capture() *v4l2Captureparm {
	return (*v4l2Captureparm)(unsafe.Pointer(&p.Parm[0]))
}

type v4l2Requestbuffers struct {
	Count        uint32
	Type         uint32
	Memory       uint32
	Capabilities uint32
	Flags        uint8
	Reserved     [3]uint8
}

type v4l2Timecode struct {
	Type     uint32
	Flags    uint32
	Frames   uint8
	Seconds  uint8
	Minutes  uint8
	Hours    uint8
	Userbits [4]uint8
}

type v4l2Buffer struct {
	Index     uint32
	Type      uint32
	Bytesused uint32
	Flags     uint32
	Field     uint32
	Timestamp unix.Timeval
	Timecode  v4l2Timecode
	Sequence  uint32
	Memory    uint32
	// M is the union m: the mmap offset (single-planar) or a pointer to the v4l2_plane array
	// (multi-planar), as an unsigned long.
	M         uintptr
	Length    uint32
	Reserved2 uint32
	RequestFD int32
}

type v4l2Plane struct {
	Bytesused uint32
	Length    uint32
	// M is the union m: mem_offset for mmap buffers, as an unsigned long.
	M          uintptr
	DataOffset uint32
	Reserved   [11]uint32
}

// v4l2DVTimings is struct v4l2_dv_timings, which is packed with a 64-bit field at an odd
// offset: it is kept as bytes and read field by field.
type v4l2DVTimings [dvTimingsSize]byte

type v4l2EventSubscription struct {
	Type     uint32
	ID       uint32
	Flags    uint32
	Reserved [5]uint32
}

// v4l2Event's union holds 64-bit members: its alignment (and the struct's) differs by
// architecture, see abi_event_*.go.
type v4l2Event struct {
	Type      uint32
	_         [eventUnionPad]byte
	U         [64]byte
	Pending   uint32
	Sequence  uint32
	Timestamp unix.Timespec
	ID        uint32
	// Reserved is [8]__u32 plus the architecture's tail padding: a trailing zero-size field
	// would make Go pad the struct itself.
	Reserved [8 + eventTailPad/4]uint32
}

type v4l2Control struct {
	ID    uint32
	Value int32
}

// ioctl request numbers, encoded as the generic _IOC macro does (x86, arm, riscv, loongarch).
const (
	iocWrite = 1
	iocRead  = 2
)

func ioc(dir, nr, size uintptr) uintptr { return dir<<30 | size<<16 | 'V'<<8 | nr }

var (
	vidiocQuerycap           = ioc(iocRead, 0, unsafe.Sizeof(v4l2Capability{}))
	vidiocEnumFmt            = ioc(iocRead|iocWrite, 2, unsafe.Sizeof(v4l2Fmtdesc{}))
	vidiocGFmt               = ioc(iocRead|iocWrite, 4, unsafe.Sizeof(v4l2Format{}))
	vidiocSFmt               = ioc(iocRead|iocWrite, 5, unsafe.Sizeof(v4l2Format{}))
	vidiocReqbufs            = ioc(iocRead|iocWrite, 8, unsafe.Sizeof(v4l2Requestbuffers{}))
	vidiocQuerybuf           = ioc(iocRead|iocWrite, 9, unsafe.Sizeof(v4l2Buffer{}))
	vidiocQbuf               = ioc(iocRead|iocWrite, 15, unsafe.Sizeof(v4l2Buffer{}))
	vidiocDqbuf              = ioc(iocRead|iocWrite, 17, unsafe.Sizeof(v4l2Buffer{}))
	vidiocStreamon           = ioc(iocWrite, 18, 4)
	vidiocStreamoff          = ioc(iocWrite, 19, 4)
	vidiocGParm              = ioc(iocRead|iocWrite, 21, unsafe.Sizeof(v4l2Streamparm{}))
	vidiocSParm              = ioc(iocRead|iocWrite, 22, unsafe.Sizeof(v4l2Streamparm{}))
	vidiocSCtrl              = ioc(iocRead|iocWrite, 28, unsafe.Sizeof(v4l2Control{}))
	vidiocEnumFramesizes     = ioc(iocRead|iocWrite, 74, unsafe.Sizeof(v4l2Frmsizeenum{}))
	vidiocEnumFrameintervals = ioc(iocRead|iocWrite, 75, unsafe.Sizeof(v4l2Frmivalenum{}))
	vidiocSDVTimings         = ioc(iocRead|iocWrite, 87, dvTimingsSize)
	vidiocGDVTimings         = ioc(iocRead|iocWrite, 88, dvTimingsSize)
	vidiocDqevent            = ioc(iocRead, 89, unsafe.Sizeof(v4l2Event{}))
	vidiocSubscribeEvent     = ioc(iocWrite, 90, unsafe.Sizeof(v4l2EventSubscription{}))
	vidiocQueryDVTimings     = ioc(iocRead, 99, dvTimingsSize)
)
