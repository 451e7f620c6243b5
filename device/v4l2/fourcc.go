package v4l2

import "fmt"

// fourcc is a V4L2 pixel format code.
type fourcc uint32

func fcc(s string) fourcc {
	return fourcc(uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24)
}

// Pixel formats kvmrelay reads.
var (
	fccYUYV  = fcc("YUYV")
	fccUYVY  = fcc("UYVY")
	fccNV12  = fcc("NV12")
	fccNV12M = fcc("NM12") // NV12 in two planes (multi-planar API)
	fccYU12  = fcc("YU12") // I420
	fccMJPG  = fcc("MJPG")
	fccJPEG  = fcc("JPEG")
	fccH264  = fcc("H264")
)

func (f fourcc) String() string {
	b := []byte{byte(f), byte(f >> 8), byte(f >> 16), byte(f >> 24)}
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return fmt.Sprintf("0x%08x", uint32(f))
		}
	}
	return string(b)
}

// formatOf maps a device's pixel format to the spec name that selects it ("" for formats
// kvmrelay cannot read).
func formatOf(f fourcc) Format {
	switch f {
	case fccYUYV:
		return FormatYUYV
	case fccUYVY:
		return FormatUYVY
	case fccNV12, fccNV12M:
		return FormatNV12
	case fccYU12:
		return FormatI420
	case fccMJPG, fccJPEG:
		return FormatMJPEG
	case fccH264:
		return FormatH264
	}
	return FormatAuto
}

// cost ranks formats by the CPU a frame takes to become I420: a copy, a shuffle, a JPEG
// decode. H.264 is never picked unless asked for: it skips the encoder but must be declared
// before the first connection.
func cost(f Format) int {
	switch f {
	case FormatI420:
		return 0
	case FormatNV12:
		return 1
	case FormatYUYV, FormatUYVY:
		return 2
	case FormatMJPEG:
		return 10
	}
	return 100
}
